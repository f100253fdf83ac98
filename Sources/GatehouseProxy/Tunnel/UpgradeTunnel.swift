import GatehouseHTTP
import GatehouseIO

/// After a 101 Switching Protocols (WebSocket), the client connection stops speaking HTTP and copies bytes
/// both ways, with the same backpressure as bodies (the machine's `.tunnelling` state decides; these move the
/// bytes). The request was routed (and, with auth, authorised) before the upgrade was forwarded, so the tunnel
/// itself needs no further checks.
///
/// WebSocket is the only protocol tunnelled: any other `Upgrade` (`h2c` above all, which would open an
/// HTTP/2 connection to the upstream on which the client could reach any path past every route's policy)
/// is removed and the request goes on as plain HTTP/1.1. A tunnel with no bytes either way for
/// `server.limits.tunnel_idle_timeout` is closed.
extension ClientConnection {
    func tunnelClientToUpstream() {
        guard let upstream else { return }
        if connection.inputCount > 0 { perform(machine.tunnelMoved()) }
        connection.moveAllInput(to: upstream.connection)
        if upstream.connection.outputCount > Self.highWater { perform(machine.upstreamOutputFull()) }
    }

    /// Moves the upstream's bytes to the client whole frames at a time as far as they have arrived, noting where
    /// frames end (`WebSocketFrames`): only the headers are read, payloads move without a copy.
    func tunnelUpstreamToClient() {
        guard let upstream else { return }
        let source = upstream.connection
        var available = source.inputCount
        if available > 0 { perform(machine.tunnelMoved()) }
        while available > 0 {
            if tunnelFrames.atBoundary {
                source.makeInputContiguous(min(available, 14))
                guard let size = source.withUnsafeInputBytes({ WebSocketFrames.frameSize($0) }) else { break }
                tunnelFrames.remaining = size
            }
            let count = Int(min(UInt64(available), tunnelFrames.remaining))
            source.moveInput(count, to: connection)
            tunnelFrames.remaining -= UInt64(count)
            available -= count
        }
        if connection.outputCount > Self.highWater { perform(machine.clientOutputFull()) }
    }
}

extension RequestHead {
    /// The request asks to upgrade (HTTP/1.1, `Connection: upgrade`) to WebSocket and to nothing else.
    var upgradesToWebSocket: Bool { wantsUpgrade && HeaderRewrite.upgradesToWebSocket(headers) }
}
