import GatehouseIO

/// After a 101 Switching Protocols (WebSocket), the client connection stops speaking HTTP and copies bytes
/// both ways, with the same backpressure as bodies. The request was routed (and, with auth, authorised)
/// before the upgrade was forwarded, so the tunnel itself needs no further checks.
extension ClientConnection {
    func startTunnel() {
        state = .tunnelling
        timer.cancel()
        upstream?.disarm()
        engine.counters.tunnels += 1
        tunnelClientToUpstream()
        tunnelUpstreamToClient()
    }

    func tunnelClientToUpstream() {
        guard let upstream else { return }
        connection.moveAllInput(to: upstream.connection)
        if upstream.connection.outputCount > Self.highWater, !clientPaused {
            clientPaused = true
            connection.disableReading()
        }
    }

    func tunnelUpstreamToClient() {
        guard let upstream else { return }
        upstream.connection.moveAllInput(to: connection)
        if connection.outputCount > Self.highWater, !upstreamPaused {
            upstreamPaused = true
            upstream.connection.disableReading()
        }
    }
}
