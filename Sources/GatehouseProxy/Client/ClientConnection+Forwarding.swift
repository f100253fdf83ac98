import GatehouseHTTP
import GatehouseIO

/// The half of a client connection that talks to the upstream: connect, send the head, stream the request
/// body, read the response, stream it back, and hand the upstream connection back to its pool.
extension ClientConnection {
    // MARK: Connecting

    /// Takes a pooled connection or starts a new one (on another server than `excluded` after a failure).
    func connectUpstream(excluding excluded: Int?) {
        guard let exchange else { return }
        let pool = exchange.pool
        let settings = pool.settings
        let candidate: UpstreamConnection
        do {
            candidate = try pool.acquire(excluding: excluded)
        } catch {
            failBeforeResponse(status: 502)
            return
        }
        candidate.owner = self
        upstream = candidate
        if candidate.isConnected {
            upstreamConnected(candidate)
        } else {
            candidate.arm(settings.connectTimeout)
        }
    }

    /// The upstream is ready: send the head, then whatever body has arrived.
    func upstreamConnected(_ upstream: UpstreamConnection) {
        guard state == .connecting, let exchange else { return }
        state = .forwarding
        upstream.arm(exchange.pool.settings.responseTimeout)
        engine.scratch.removeAll(keepingCapacity: true)
        exchange.head.bytes.withUnsafeBytes { raw in
            let host = UnsafeRawBufferPointer(rebasing: raw[exchange.host ?? 0..<0])
            HeaderRewrite.writeRequest(exchange.head, host: host, peer: peer, snapshot: snapshot,
                                       policy: snapshot.routes.routes[exchange.routeIndex].policy,
                                       identity: exchange.identity, framing: exchange.head.framing,
                                       upgrade: exchange.wantsUpgrade, into: &engine.scratch)
        }
        upstream.connection.write(engine.scratch)
        if exchange.head.expectsContinue, !exchange.retried {
            // The gateway accepted the request, so it invites the body itself; Expect is not forwarded.
            connection.write("HTTP/1.1 100 Continue\r\n\r\n")
        }
        exchange.bytesIn = Int64(exchange.head.bytes.count)
        if clientPaused {
            clientPaused = false
            connection.enableReading()
        }
        pumpRequestBody()
    }

    // MARK: Request body

    /// Moves request body bytes from the client to the upstream until the body ends, the client has sent
    /// nothing more, or the upstream's output is full.
    func pumpRequestBody() {
        guard state == .forwarding, let upstream, exchange?.requestComplete == false else { return }
        while true {
            if upstream.connection.outputCount > Self.highWater {
                if !clientPaused {
                    clientPaused = true
                    connection.disableReading()
                }
                // The upstream is the slow side now: its response timeout (re-armed on every piece it took)
                // governs, not the client's body timeout.
                if timerPurpose == .body { timer.cancel() }
                return
            }
            switch parseRequest() {
            case .failure(let error):
                engine.counters.parseErrors += 1
                if exchange?.responseStarted == false {
                    connection.write(ErrorResponses.bytes(status: error.status, close: true))
                    if let exchange { logExchange(exchange, status: error.status) }
                    exchange = nil
                    closeAfterFlush()
                } else {
                    abort()
                }
                return
            case .success(.body(let payload)):
                connection.discardInput(payload.lowerBound)
                if exchange!.head.framing == .chunked {
                    moveAsChunk(payload.count, from: connection, to: upstream.connection)
                } else {
                    connection.moveInput(payload.count, to: upstream.connection)
                }
                exchange!.bytesIn += Int64(payload.count)
                exchange!.bodyBytesSent += Int64(payload.count)
                // The response timeout counts from the end of the request: an upload slower than it is not cut off.
                upstream.arm(exchange!.pool.settings.responseTimeout)
            case .success(.end(let trailers, let consumed)):
                connection.discardInput(consumed)
                if exchange!.head.framing == .chunked {
                    writeLastChunk(trailers, strippedBy: snapshot, to: upstream.connection)
                }
                exchange!.requestComplete = true
                if timerPurpose == .body { timer.cancel() }
                return
            case .success(.needMore):
                startTimer(.body, snapshot.timeouts.body)  // every buffered byte was seen: the client must send more
                return
            case .success(.requestHead), .success(.responseHead):
                abort()
                return
            }
        }
    }

    func upstreamWritable(_ upstream: UpstreamConnection) {
        if clientPaused, state == .forwarding || state == .tunnelling, upstream.connection.outputCount == 0 {
            clientPaused = false
            connection.enableReading()
            if state == .tunnelling { tunnelClientToUpstream() } else { pumpRequestBody() }
        }
    }

    // MARK: Response

    func upstreamReadable(_ upstream: UpstreamConnection) {
        switch state {
        case .forwarding: readResponse()
        case .tunnelling: tunnelUpstreamToClient()
        case .awaitingHead, .connecting, .answering, .authorizing, .closing, .closed: break
        }
    }

    /// Parses what the upstream sent and streams it to the client.
    func readResponse() {
        guard let upstream, exchange != nil else { return }
        upstream.arm(exchange!.pool.settings.responseTimeout)  // the timeout counts from the last progress
        while state == .forwarding {
            if connection.outputCount > Self.highWater {
                writePendingHead()
                if !upstreamPaused {
                    upstreamPaused = true
                    upstream.connection.disableReading()
                }
                return
            }
            let method = exchange!.head.method
            let step = MessageReader.next(from: upstream.connection) { bytes throws(HTTPParseError) in
                try upstream.parser.next(bytes, requestMethod: method)
            }
            switch step {
            case .failure(let error):
                engine.counters.upstreamProtocolErrors += 1
                failBeforeResponse(status: 502, reason: error.reason)
                return
            case .success(.responseHead(let head, let consumed)):
                upstream.connection.discardInput(consumed)
                if !forwardResponseHead(head) { return }
            case .success(.body(let payload)):
                upstream.connection.discardInput(payload.lowerBound)
                writePendingHead()
                if exchange!.clientFraming == .chunked {
                    // Every payload piece becomes one chunk as it arrives (no waiting for more: event streams),
                    // framed by the gateway: upstream bytes are never framing for the client.
                    moveAsChunk(payload.count, from: upstream.connection, to: connection)
                } else {
                    upstream.connection.moveInput(payload.count, to: connection)
                }
                exchange!.bytesOut += Int64(payload.count)
            case .success(.end(let trailers, let consumed)):
                upstream.connection.discardInput(consumed)
                if exchange!.clientFraming == .none, upstream.connection.inputCount > 0 {
                    // Bytes behind a response that has no body (to HEAD, a 204 or 304): the upstream thinks it
                    // sends a body the client must never see. Only one request is ever outstanding upstream, so
                    // they cannot be the next response either.
                    engine.counters.upstreamProtocolErrors += 1
                    failBeforeResponse(status: 502, reason: "upstream-body-on-bodiless-response")
                    return
                }
                endResponseBody(trailers)
                finishExchange(upstreamReusable: upstream.connection.inputCount == 0)
                return
            case .success(.needMore):
                writePendingHead()
                return
            case .success(.requestHead):
                failBeforeResponse(status: 502, reason: "parser-state")
                return
            }
        }
    }

    /// Writes a response head to the client. Returns false when the exchange left the forwarding state.
    func forwardResponseHead(_ head: ResponseHead) -> Bool {
        guard let exchange else { return false }
        if head.status < 200 {
            if head.status == 101 {
                // Only an upgrade the gateway forwarded (WebSocket) may be accepted, and only to that protocol.
                guard exchange.wantsUpgrade, HeaderRewrite.upgradesToWebSocket(head.headers) else {
                    engine.counters.upstreamProtocolErrors += 1
                    failBeforeResponse(status: 502, reason: "unrequested-upgrade")
                    return false
                }
                engine.scratch.removeAll(keepingCapacity: true)
                HeaderRewrite.writeResponse(head, clientFraming: .none, close: false, upgrade: true,
                                            into: &engine.scratch)
                connection.write(engine.scratch)
                exchange.status = 101
                exchange.responseStarted = true
                startTunnel()
                return false
            }
            // 100 Continue was already sent by the gateway; other 1xx (103 Early Hints) pass through.
            if head.status != 100, exchange.head.version == .http11 {
                engine.scratch.removeAll(keepingCapacity: true)
                HeaderRewrite.writeResponse(head, clientFraming: .none, close: false, upgrade: false,
                                            into: &engine.scratch)
                connection.write(engine.scratch)
            }
            return true
        }
        let clientKeepsAlive = exchange.head.keepAlive && !engine.draining
        let framing = Self.clientFraming(of: head.framing, clientVersion: exchange.head.version)
        exchange.clientFraming = framing
        exchange.closeAfterResponse = !clientKeepsAlive || framing == .untilClose
        exchange.status = head.status
        exchange.upstreamKeepAlive = head.keepAlive
        // Held back until the first body bytes or the end (in this same read at the latest): a fault found
        // right behind the head (a bad first chunk, bytes after a 204) still becomes a clean 502.
        exchange.pendingHead = head
        return true
    }

    /// The framing the client sees for an upstream body, decided here and only here. An HTTP/1.1 client gets
    /// a chunked or close-delimited upstream body as chunks the gateway frames itself (the upstream's chunk
    /// framing is never passed on as bytes); an HTTP/1.0 client cannot read chunked (RFC 9112 6.1), so it gets
    /// the body delimited by closing the connection.
    static func clientFraming(of upstream: BodyFraming, clientVersion: HTTPVersion) -> BodyFraming {
        switch upstream {
        case .none, .length: return upstream
        case .chunked, .untilClose: return clientVersion == .http11 ? .chunked : .untilClose
        }
    }

    /// Writes the final response head held back by `forwardResponseHead`, if it is still waiting.
    func writePendingHead() {
        guard let exchange, let head = exchange.pendingHead.take() else { return }  // moved out, not copied
        engine.scratch.removeAll(keepingCapacity: true)
        HeaderRewrite.writeResponse(head, clientFraming: exchange.clientFraming, close: exchange.closeAfterResponse,
                                    upgrade: false, into: &engine.scratch)
        connection.write(engine.scratch)
        exchange.responseStarted = true
        exchange.bytesOut = Int64(engine.scratch.count)
    }

    /// The upstream's body is complete: the head if it still waits, then the last chunk with the upstream's
    /// trailers for a chunked client (RFC 9112 7.1.2: minus hop-by-hop fields; a close-delimited or
    /// length-delimited client framing has no place for them, so they are dropped).
    func endResponseBody(_ trailers: HeaderFields) {
        writePendingHead()
        guard exchange?.clientFraming == .chunked else { return }
        writeLastChunk(trailers, strippedBy: nil, to: connection)
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

    // MARK: Ending an exchange

    /// The response is complete: log, return the upstream to its pool if clean, and go on with the client.
    func finishExchange(upstreamReusable: Bool) {
        guard let exchange else { return }
        logExchange(exchange, status: exchange.status)
        let reuse = upstreamReusable && exchange.requestComplete && exchange.upstreamKeepAlive
        releaseUpstream(reuse: reuse)
        if exchange.closeAfterResponse || !exchange.requestComplete {
            // An early answer (the body is still arriving) ends the connection: leftover body bytes must
            // never be parsed as a request.
            self.exchange = nil
            closeAfterFlush()
        } else {
            awaitNextRequest()
        }
    }

    /// Gives the upstream connection back (or closes it) and forgets it.
    func releaseUpstream(reuse: Bool) {
        guard let upstream else { return }
        self.upstream = nil
        upstream.disarm()
        upstream.owner = nil
        if upstreamPaused {
            upstreamPaused = false
            upstream.connection.enableReading()
        }
        if reuse { upstream.pool.release(upstream) } else { upstream.close() }
    }

    /// Something failed upstream (`reason` says what, for the log). Before the client saw any of the response:
    /// a clean error answer; after: close the client, so a truncated response can never look complete, and log
    /// the failure as such (never as the status the head carried).
    func failBeforeResponse(status: Int, reason: String? = nil) {
        guard let exchange else {
            abort()
            return
        }
        engine.counters.upstreamErrors += 1
        if exchange.responseStarted {
            logExchange(exchange, status: status, error: "\(reason ?? "upstream-failed"); response cut after the head")
            self.exchange = nil
            abort()
            return
        }
        logExchange(exchange, status: status, error: reason)
        releaseUpstream(reuse: false)
        let close = !exchange.requestComplete || !exchange.head.keepAlive || engine.draining
        connection.write(exchange.head.method == .head ? ErrorResponses.headOnly(status: status, close: close)
                                                       : ErrorResponses.bytes(status: status, close: close))
        self.exchange = nil
        if close { closeAfterFlush() } else { awaitNextRequest() }
    }

    func upstreamClosed(_ upstream: UpstreamConnection) {
        guard let exchange else {
            abort()
            return
        }
        if state == .tunnelling {
            tunnelUpstreamToClient()
            logExchange(exchange, status: 101)
            self.exchange = nil
            closeAfterFlush()
            return
        }
        if !upstream.isConnected {
            // The connect was refused: skip this server for a while and try another one once.
            upstream.pool.markFailed(server: upstream.serverIndex)
            releaseUpstream(reuse: false)
            if !exchange.retried, upstream.pool.serverCount > 1 {
                self.exchange!.retried = true
                state = .connecting
                connectUpstream(excluding: upstream.serverIndex)
            } else {
                failBeforeResponse(status: 502)
            }
            return
        }
        // Let the parser see the end: it completes a close-delimited body or reports truncation.
        readResponse()
        guard state == .forwarding, self.upstream === upstream, let exchange = self.exchange else { return }
        let step: Result<ParseEvent, HTTPParseError>
        do throws(HTTPParseError) { step = .success(try upstream.parser.inputClosed()) } catch { step = .failure(error) }
        if case .success(.end(let trailers, _)) = step {
            endResponseBody(trailers)
            finishExchange(upstreamReusable: false)
            return
        }
        // A kept-alive connection the server closed before answering: retry once on a fresh one when safe.
        if upstream.reused, !exchange.responseStarted, !exchange.retried, exchange.bodyBytesSent == 0,
            exchange.head.framing == .none, isIdempotent(exchange.head.method)
        {
            exchange.retried = true
            releaseUpstream(reuse: false)
            state = .connecting
            connectUpstream(excluding: nil)
            return
        }
        failBeforeResponse(status: 502, reason: "upstream-truncated")
    }

    func upstreamTimedOut(_ upstream: UpstreamConnection) {
        if !upstream.isConnected {
            engine.counters.upstreamConnectTimeouts += 1
            upstream.pool.markFailed(server: upstream.serverIndex)
            failBeforeResponse(status: 502, reason: "upstream-connect-timeout")
        } else if state == .forwarding, exchange?.requestComplete == false, !clientPaused, timerPurpose == .body {
            // The gateway is waiting for the client's body, not for the upstream (which may well wait for that
            // body before it answers): the client's body timeout decides, with a 408, not a 504.
            upstream.arm(exchange!.pool.settings.responseTimeout)
        } else {
            engine.counters.upstreamResponseTimeouts += 1
            failBeforeResponse(status: 504, reason: "upstream-response-timeout")
        }
    }

    func isIdempotent(_ method: KnownMethod) -> Bool {
        switch method {
        case .get, .head, .options, .trace, .put, .delete: return true
        case .post, .patch, .connect, .other: return false
        }
    }

    func logExchange(_ exchange: Exchange, status: Int, error: String? = nil) {
        let server = upstream.map { exchange.pool.settings.serverNames[$0.serverIndex] }
        engine.log(head: exchange.head, peer: peer, status: status, bytesIn: exchange.bytesIn,
                   bytesOut: exchange.bytesOut, startedAt: exchange.startedAt,
                   route: snapshot.routes.routes[exchange.routeIndex].name, upstream: server, error: error)
    }
}
