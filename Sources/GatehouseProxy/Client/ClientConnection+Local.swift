import GatehouseHTTP
import GatehouseIO

/// Requests the gateway answers itself: read the (small) body, run the endpoint, write the answer. The
/// connection sits in `.answering` meanwhile; pipelined requests wait unread, as they do behind a forwarded one.
extension ClientConnection {
    /// Starts answering `head` locally (`/.gatehouse/...` or the admin listener).
    func beginLocal(_ head: RequestHead, headBytes: Int, endpoint: OwnEndpoint) {
        let request = LocalRequest(head: head, headBytes: headBytes, startedAt: Clocks.monotonicNanoseconds(),
                                   endpoint: endpoint)
        local = request
        state = .answering
        switch head.framing {
        case .none, .length(0):
            request.bodyComplete = true
            _ = parseRequest()  // the (empty) end of the message: the parser is ready for the next request
            runLocal(request)
        case .length(let length) where length > LocalRequest.bodyLimit || !endpoint.readsBody:
            // Refused unread, so the connection must close after the answer.
            let status = endpoint.readsBody ? 413 : 400
            finishLocal(request, response: .error(status, status == 413 ? "too_large" : "invalid_request",
                                                  description: status == 413 ? nil : "this endpoint takes no body"),
                        error: "local-body-refused", forceClose: true)
        default:
            guard endpoint.readsBody else {
                finishLocal(request, response: .error(400, "invalid_request", description: "this endpoint takes no body"),
                            error: "local-body-refused", forceClose: true)
                return
            }
            if head.expectsContinue { connection.write("HTTP/1.1 100 Continue\r\n\r\n") }
            collectLocalBody()
        }
    }

    /// Reads body bytes of the local request until it ends, more must arrive, or it is too large.
    func collectLocalBody() {
        guard state == .answering, let request = local, !request.bodyComplete else { return }
        while true {
            switch parseRequest() {
            case .failure(let error):
                local = nil
                refuse(error)
                return
            case .success(.body(let payload)):
                connection.withUnsafeInputBytes { raw in request.body.append(contentsOf: raw[payload]) }
                connection.discardInput(payload.upperBound)
                if request.body.count > LocalRequest.bodyLimit {
                    finishLocal(request, response: .error(413, "too_large"), error: "local-body-too-large",
                                forceClose: true)
                    return
                }
            case .success(.end(_, let consumed)):
                connection.discardInput(consumed)
                request.bodyComplete = true
                if timerPurpose == .body { timer.cancel() }
                runLocal(request)
                return
            case .success(.needMore):
                startTimer(.body, snapshot.timeouts.body)
                return
            case .success(.requestHead), .success(.responseHead):
                abort()
                return
            }
        }
    }

    /// Hands the complete request to the gateway's own endpoints (`LocalResponder`); their answer, however late,
    /// comes back through `finishLocal`. Strong `self`: a store or hash completion may run after the client
    /// left; `finishLocal` then sees it no longer waits and answers nothing.
    private func runLocal(_ request: LocalRequest) {
        let context = LocalContext(peer: peer.address, trusted: peer.trusted, tls: peer.tls)
        engine.localResponder(for: role, snapshot: snapshot).respond(to: request, context: context) { [self] response, error in
            finishLocal(request, response: response, error: error)
        }
    }

    /// Writes the answer to `request` if the connection still waits for it (the client may have left while a
    /// hash or a store call ran), then goes on with the next request or closes.
    func finishLocal(_ request: LocalRequest, response: LocalResponse, error: String? = nil, forceClose: Bool = false) {
        guard local === request, state == .answering else { return }
        local = nil
        let close = forceClose || response.close || !request.bodyComplete || !request.head.keepAlive || engine.draining
        let bytes = response.serialize(close: close, headOnly: request.head.method == .head)
        connection.write(bytes)
        engine.log(head: request.head, peer: peer, status: response.status, bytesIn: Int64(request.headBytes + request.body.count),
                   bytesOut: Int64(bytes.count), startedAt: request.startedAt,
                   route: role == .admin ? "admin" : "gatehouse", upstream: nil, error: error)
        if close {
            closeAfterFlush()
        } else {
            awaitNextRequest()
        }
    }
}
