import GatehouseHTTP
import GatehouseIO

/// Requests the gateway answers itself: collect the (small) body, run the endpoint, hand its answer to the
/// machine. The machine sits in `.answeringLocally` meanwhile; pipelined requests wait unread, as they do
/// behind a forwarded one.
extension ClientConnection {
    /// The verdict for one of the gateway's own endpoints; `local` holds the request for the endpoint.
    func decideLocal(_ request: ExchangeRequest, endpoint: OwnEndpoint) -> ExchangeMachine.Actions {
        local = LocalRequest(head: request.head, headBytes: request.headBytes, startedAt: request.startedAt,
                             endpoint: endpoint)
        return machine.decided(.local(readsBody: endpoint.readsBody, bodyLimit: LocalRequest.bodyLimit))
    }

    /// Reads body bytes of the local request until it ends, more must arrive, or the machine refuses it.
    func collectLocalBody() {
        while machine.readsRequestBody, let request = local {
            switch parseRequest() {
            case .failure(let error):
                perform(machine.requestFailed(status: error.status, reason: error.reason))
                return
            case .success(.body(let payload)):
                connection.withUnsafeInputBytes { raw in request.body.append(contentsOf: raw[payload]) }
                connection.discardInput(payload.upperBound)
                tally.bytesIn += Int64(payload.count)
                perform(machine.localBody(total: request.body.count))
            case .success(.end(let trailers, let consumed)):
                connection.discardInput(consumed)
                request.bodyComplete = true
                perform(machine.requestEnded(trailers: trailers))
                return
            case .success(.needMore):
                perform(machine.requestNeedsMore())
                return
            case .success(.requestHead), .success(.responseHead):
                perform(machine.clientBrokeFraming())
                return
            }
        }
    }

    /// Hands the complete request to the gateway's own endpoints (`LocalResponder`); their answer, however late,
    /// comes back through `finishLocal`. Strong `self`: a store or hash completion may run after the client
    /// left; `finishLocal` then sees it no longer waits (and the machine ignores it) and answers nothing.
    func runLocal(_ request: LocalRequest) {
        let context = LocalContext(peer: peer.address, trusted: peer.trusted, tls: peer.tls)
        let responder = engine.localResponder(for: role, snapshot: snapshot)
        responder.respond(to: request, context: context) { [self] response, error in
            finishLocal(request, response: response, error: error)
        }
    }

    /// The endpoint's answer to `request`: written if the connection still waits for it (the client may have
    /// left while a hash or a store call ran; the machine then ignores it), then the next request or the close.
    func finishLocal(_ request: LocalRequest, response: LocalResponse, error: String? = nil, forceClose: Bool = false) {
        guard local === request else { return }
        local = nil
        perform(machine.localAnswered(response, error: error, forceClose: forceClose))
    }
}
