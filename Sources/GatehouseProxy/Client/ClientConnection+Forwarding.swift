import GatehouseHTTP
import GatehouseIO

/// The half of the executor that talks to the upstream: take a connection from the pool, write the head,
/// stream the request body, read the response, stream it back, and give the connection back. What to do when
/// is the machine's (`ExchangeMachine`); these functions move bytes and report what the parsers saw.
extension ClientConnection {
    // MARK: Connecting

    /// Takes a pooled connection or starts a new one (on another server than `excluded` after a failure).
    func connectUpstream(excluding excluded: Int?) {
        guard let pool else {
            assertionFailure("connectUpstream without a pool")
            return
        }
        let candidate: UpstreamConnection
        do {
            candidate = try pool.acquire(excluding: excluded)
        } catch {
            perform(machine.upstreamUnavailable())
            return
        }
        candidate.owner = self
        upstream = candidate
        perform(machine.upstreamAcquired(server: candidate.serverIndex, connected: candidate.isConnected,
                                         reused: candidate.reused))
    }

    /// The connect completed.
    func upstreamConnected(_ upstream: UpstreamConnection) {
        assert(upstream === self.upstream, "a connect completed for an upstream this client does not use")
        perform(machine.upstreamConnected())
    }

    /// Writes the request head, rewritten for the upstream.
    func writeRequestHead(_ request: ExchangeRequest) {
        guard let upstream, case .route(let routeIndex) = request.target else { return }
        let head = request.head
        let route = snapshot.routes.routes[routeIndex]
        var assertion: [UInt8]? = nil
        if let settings = route.policy.assertion, let identity = request.identity {
            assertion = engine.assertionLine(settings, identity, now: Int64(Clocks.wallClock().seconds))
        }
        engine.scratch.removeAll(keepingCapacity: true)
        head.bytes.withUnsafeBytes { raw in
            let host = UnsafeRawBufferPointer(rebasing: raw[RouteTable.hostRange(of: head) ?? 0..<0])
            HeaderRewrite.writeRequest(head, host: host, peer: peer, snapshot: snapshot,
                                       policy: route.policy,
                                       identity: request.identity, framing: head.framing,
                                       upgrade: request.wantsUpgrade, assertion: assertion,
                                       sharedSecret: snapshot.upstreams[route.upstreamIndex].sharedSecretLine,
                                       into: &engine.scratch)
        }
        upstream.connection.write(engine.scratch)
        tally.bytesIn = Int64(head.bytes.count)
    }

    // MARK: Request body

    /// Parses request body bytes from the client and reports them, until the body ends, the client has sent
    /// nothing more, or the upstream's output is full.
    func pumpRequestBody() {
        while machine.readsRequestBody, let upstream {
            if upstream.connection.outputCount > Self.highWater {
                perform(machine.upstreamOutputFull())
                return
            }
            switch parseRequest() {
            case .failure(let error):
                perform(machine.requestFailed(status: error.status, reason: error.reason))
                return
            case .success(.body(let payload)):
                connection.discardInput(payload.lowerBound)
                perform(machine.requestBody(payload.count))
            case .success(.end(let trailers, let consumed)):
                connection.discardInput(consumed)
                perform(machine.requestEnded(trailers: trailers))
                return
            case .success(.needMore):
                perform(machine.requestNeedsMore())  // every buffered byte was seen: the client must send more
                return
            case .success(.requestHead), .success(.responseHead):
                perform(machine.clientBrokeFraming())
                return
            }
        }
    }

    func moveRequestBody(_ count: Int, chunked: Bool) {
        guard let upstream else { return }
        if chunked {
            moveAsChunk(count, from: connection, to: upstream.connection)
        } else {
            connection.moveInput(count, to: upstream.connection)
        }
        tally.bytesIn += Int64(count)
    }

    func upstreamWritable(_ upstream: UpstreamConnection) {
        // (Called after every flush; only a paused client waits for it.)
        if machine.clientPaused, upstream.connection.outputCount == 0 { perform(machine.upstreamOutputDrained()) }
    }

    // MARK: Response

    func upstreamReadable(_ upstream: UpstreamConnection) {
        perform(machine.upstreamReadable())
    }

    /// Parses what the upstream sent and reports it, until the response ends, the upstream must send more, or
    /// the client's output is full.
    func readResponse() {
        guard let upstream, let request = machine.currentRequest else { return }
        let method = request.head.method
        while machine.isForwarding, upstream === self.upstream {
            if connection.outputCount > Self.highWater {
                perform(machine.clientOutputFull())
                return
            }
            let step = MessageReader.next(from: upstream.connection) { bytes throws(HTTPParseError) in
                try upstream.parser.next(bytes, requestMethod: method)
            }
            switch step {
            case .failure(let error):
                perform(machine.upstreamBrokeProtocol(reason: error.reason))
                return
            case .success(.responseHead(let head, let consumed)):
                upstream.connection.discardInput(consumed)
                perform(machine.upstreamResponseHead(head))
            case .success(.body(let payload)):
                upstream.connection.discardInput(payload.lowerBound)
                perform(machine.responseBody(payload.count))
            case .success(.end(let trailers, let consumed)):
                upstream.connection.discardInput(consumed)
                perform(machine.responseEnded(trailers: trailers, bytesBehind: upstream.connection.inputCount > 0,
                                              upstreamEnded: false))
                return
            case .success(.needMore):
                perform(machine.responseNeedsMore())
                return
            case .success(.requestHead):
                perform(machine.upstreamBrokeProtocol(reason: "parser-state"))
                return
            }
        }
    }

    func writeResponseHead(_ head: ResponseHead, framing: BodyFraming, close: Bool, upgrade: Bool) {
        engine.scratch.removeAll(keepingCapacity: true)
        HeaderRewrite.writeResponse(head, clientFraming: framing, close: close, upgrade: upgrade, into: &engine.scratch)
        connection.write(engine.scratch)
        if head.status >= 200 || upgrade { tally.bytesOut = Int64(engine.scratch.count) }
    }

    func moveResponseBody(_ count: Int, chunked: Bool) {
        guard let upstream else { return }
        if chunked {
            // Every payload piece becomes one chunk as it arrives (no waiting for more: event streams), framed
            // by the gateway: upstream bytes are never framing for the client.
            moveAsChunk(count, from: upstream.connection, to: connection)
        } else {
            upstream.connection.moveInput(count, to: connection)
        }
        tally.bytesOut += Int64(count)
    }

    // MARK: Chunk framing

    /// Moves `count` payload bytes from `source`'s input to `destination` as one chunk the gateway frames: the
    /// size line from the scratch buffer, the data without a copy, then its CRLF.
    func moveAsChunk(_ count: Int, from source: Connection, to destination: Connection) {
        engine.scratch.removeAll(keepingCapacity: true)
        ChunkEncoder.appendHeader(size: count, to: &engine.scratch)
        destination.write(engine.scratch)
        source.moveInput(count, to: destination)
        destination.write(ChunkEncoder.dataEnd)
    }

    /// Writes the last chunk with the trailers that may cross (see `HeaderRewrite.forwardsTrailer`; `snapshot`
    /// for request trailers) to `destination`.
    func writeLastChunk(_ trailers: HeaderFields, strippedBy snapshot: ProxySnapshot?, to destination: Connection) {
        engine.scratch.removeAll(keepingCapacity: true)
        ChunkEncoder.appendLastChunk(trailers: trailers, keeping: { fields, index in
            HeaderRewrite.forwardsTrailer(fields, index, strippedBy: snapshot)
        }, to: &engine.scratch)
        destination.write(engine.scratch)
    }

    // MARK: Giving the upstream back, upstream failures

    /// Gives the upstream connection back (or closes it) and forgets it.
    func releaseUpstream(reuse: Bool, serverFailed: Bool) {
        guard let upstream else { return }
        self.upstream = nil
        if serverFailed { upstream.pool.markFailed(server: upstream.serverIndex) }
        upstream.disarm()
        upstream.owner = nil
        if reuse { upstream.pool.release(upstream) } else { upstream.close() }
    }

    func upstreamClosed(_ upstream: UpstreamConnection) {
        if machine.isForwarding, upstream.isConnected {
            // Let the parser see the end: it completes a close-delimited body or reports truncation.
            readResponse()
            guard machine.isForwarding, self.upstream === upstream else { return }
            let step: Result<ParseEvent, HTTPParseError>
            do throws(HTTPParseError) { step = .success(try upstream.parser.inputClosed()) } catch { step = .failure(error) }
            if case .success(.end(let trailers, _)) = step {
                perform(machine.responseEnded(trailers: trailers, bytesBehind: false, upstreamEnded: true))
                return
            }
        }
        perform(machine.upstreamClosed())
    }

    func upstreamTimedOut(_ upstream: UpstreamConnection) {
        perform(machine.upstreamTimerFired())
    }
}
