import GatehouseAuth
import GatehouseHTTP
import GatehouseIO
import GatehouseSessions

/// The client's address, pre-rendered once per connection for X-Forwarded-For and access logs.
struct PeerInfo {
    let address: SocketAddress
    let hostBytes: [UInt8]
    /// Whether the peer is in `trusted_proxies` of the snapshot the connection uses now: recomputed when it
    /// picks up a reloaded one (`ClientConnection.begin`), so removing a proxy applies to open connections too.
    private(set) var trusted: Bool
    /// The connection arrived on a TLS listener (`X-Forwarded-Proto: https`, `Secure` cookies).
    let tls: Bool

    init(address: SocketAddress, hostBytes: [UInt8], trusted: Bool, tls: Bool = false) {
        self.address = address
        self.hostBytes = hostBytes
        self.trusted = trusted
        self.tls = tls
    }

    /// The peer as `snapshot` sees it (trusted or not).
    init(_ address: SocketAddress, under snapshot: ProxySnapshot, tls: Bool = false) {
        self.init(address: address, hostBytes: Array(address.host.utf8), trusted: snapshot.isTrusted(address), tls: tls)
    }

    /// Re-decides `trusted` under a newer snapshot (once per reload per connection, not per request).
    mutating func adopt(_ snapshot: ProxySnapshot) {
        trusted = snapshot.isTrusted(address)
    }
}

/// Which listener a connection came in on.
package enum ListenerRole: Sendable {
    /// A public listener: requests are routed and forwarded (but `/.gatehouse/...`).
    case proxy
    /// The admin listener: health and session administration, never forwarded.
    case admin
}

/// One request/response pair on a client connection (HAProxy's "stream"): what was asked, where it went,
/// and how far each direction has got.
///
/// A class, not a struct: it is read and updated from many callbacks, and every copy of a struct holding a
/// parsed head retains each of the head's arrays; one allocation per request is cheaper than that traffic.
final class Exchange {
    let head: RequestHead
    let routeIndex: Int
    /// The pool of the snapshot this request started with (a reload does not move it).
    let pool: UpstreamPool
    let startedAt: UInt64
    /// Where the Host value forwarded upstream is in `head.bytes` (absolute-form authority, else Host).
    let host: Range<Int>?
    /// The whole request (head and body) has been read from the client.
    var requestComplete = false
    /// Some of the response has been written to the client, so an error can no longer become a clean 502.
    var responseStarted = false
    /// The framing the client sees for the response body (`.chunked`: the gateway frames every piece itself).
    var clientFraming: BodyFraming = .none
    /// The final response head, decided but not yet written to the client (see `forwardResponseHead`).
    var pendingHead: ResponseHead?
    /// Close the client connection once the response is written.
    var closeAfterResponse = false
    /// The upstream allows another request on its connection.
    var upstreamKeepAlive = false
    var status = 0
    var bytesIn: Int64 = 0
    var bytesOut: Int64 = 0
    /// Request body bytes already sent upstream (a retry on a fresh connection is only safe before any).
    var bodyBytesSent: Int64 = 0
    var retried = false
    /// Who the request is from, when the route authenticated it.
    var identity: Identity?
    /// The request asks for an upgrade the gateway tunnels (WebSocket); any other is never offered upstream.
    let wantsUpgrade: Bool

    init(head: RequestHead, routeIndex: Int, pool: UpstreamPool, startedAt: UInt64, host: Range<Int>?) {
        self.head = head
        self.routeIndex = routeIndex
        self.pool = pool
        self.startedAt = startedAt
        self.host = host
        wantsUpgrade = head.upgradesToWebSocket
    }
}

/// A request head waiting for the session store before its auth decision.
final class PendingAuth {
    let head: RequestHead
    let headBytes: Int
    let routeIndex: Int

    init(head: RequestHead, headBytes: Int, routeIndex: Int) {
        self.head = head
        self.headBytes = headBytes
        self.routeIndex = routeIndex
    }
}

/// A client's TCP connection: reads requests one at a time (pipelined ones wait in the buffer, so answers
/// leave in order), forwards each through an upstream connection, streams both bodies with backpressure.
///
/// States, each with what the loop is waiting for:
final class ClientConnection: ConnectionDelegate {
    enum State {
        /// Waiting for (the rest of) a request head.
        case awaitingHead
        /// A request head was accepted; waiting for an upstream connection.
        case connecting
        /// The request is going upstream and/or the response is coming back.
        case forwarding
        /// After a 101: bytes flow both ways untouched.
        case tunnelling
        /// The gateway answers this request itself (its own endpoints): reading its body, or waiting for a
        /// password hash or a store call.
        case answering
        /// Waiting for the session store to answer for this request's cookie (a remote store's cache missed).
        case authorizing
        /// The last answer is being flushed; then the socket closes.
        case closing
        /// Done; the engine has forgotten this connection.
        case closed
    }

    /// What the single client timer currently measures.
    enum TimerPurpose {
        case idle, header, body, linger
        /// A WebSocket tunnel with no bytes either way.
        case tunnel
    }

    let connection: Connection
    private(set) var peer: PeerInfo
    let role: ListenerRole
    unowned let engine: ProxyEngine
    var snapshot: ProxySnapshot
    var parser: RequestParser
    /// The snapshot whose limits `parser` enforces (held, so identity comparison is sound).
    var parserSnapshot: ProxySnapshot
    var state: State = .awaitingHead
    var exchange: Exchange?
    /// The request being answered locally (state `.answering`).
    var local: LocalRequest?
    /// The request waiting for the session store (state `.authorizing`).
    var pendingAuth: PendingAuth?
    /// Requests answered on this connection so far (a drain closes idle ones that served at least one).
    var requestsServed = 0
    var upstream: UpstreamConnection?
    /// Client reads are paused because the upstream's output is full (or the reverse).
    var clientPaused = false
    var upstreamPaused = false
    var timer: LoopTimer!
    var timerPurpose: TimerPurpose = .idle
    /// Backpressure threshold: stop reading a side when the other side has this much unsent.
    static let highWater = 256 * 1024

    /// Takes over an accepted socket; `tls` is the certificate set of a TLS listener (nil for plain HTTP).
    init(fd: Int32, peer: PeerInfo, role: ListenerRole, engine: ProxyEngine, tls: TLSServerContext? = nil) {
        if let tls {
            connection = Connection(loop: engine.loop, fd: fd, tls: tls)
        } else {
            connection = Connection(loop: engine.loop, fd: fd)
        }
        self.peer = peer
        self.role = role
        self.engine = engine
        snapshot = engine.snapshot
        parser = RequestParser(limits: engine.snapshot.limits)
        parserSnapshot = engine.snapshot
        timer = LoopTimer(loop: engine.loop) { [unowned self] in didTimeOut() }
        connection.delegate = self
        connection.enableReading()
        // A TLS handshake is part of getting the first request: it runs under the header timeout (a client
        // that opens connections and stalls the handshake is a slowloris too).
        if connection.isTLS {
            startTimer(.header, snapshot.timeouts.header)
        } else {
            startTimer(.idle, snapshot.timeouts.idle)
        }
    }

    // MARK: ConnectionDelegate

    func connectionReadable(_ connection: Connection) {
        switch state {
        case .awaitingHead: readHead()
        case .connecting: pauseClientIfFlooding()
        case .forwarding: if !(exchange?.requestComplete ?? true) { pumpRequestBody() } else { pauseClientIfFlooding() }
        case .tunnelling: tunnelClientToUpstream()
        case .answering: if local?.bodyComplete == false { collectLocalBody() } else { pauseClientIfFlooding() }
        case .authorizing: pauseClientIfFlooding()
        case .closing: connection.discardInput(connection.inputCount)
        case .closed: break
        }
    }

    func connectionWritable(_ connection: Connection) {
        switch state {
        case .closing:
            if connection.outputCount == 0 { linger() }
        case .forwarding, .tunnelling:
            if upstreamPaused, connection.outputCount == 0, let upstream {
                upstreamPaused = false
                upstream.connection.enableReading()
                if state == .tunnelling { tunnelUpstreamToClient() } else { readResponse() }
            }
        case .awaitingHead, .connecting, .answering, .authorizing, .closed:
            break
        }
    }

    func connectionConnected(_ connection: Connection) {}

    func connectionClosed(_ connection: Connection, eof: Bool) {
        if state == .tunnelling, let upstream {
            // Flush what the client sent last, then let the upstream see the end too.
            tunnelClientToUpstream()
            upstream.close()
        }
        abort()
    }

    // MARK: Reading a request head

    /// Runs the parser over buffered bytes until a head is complete, more bytes are needed, or it refuses.
    func readHead() {
        guard state == .awaitingHead, connection.inputCount > 0 else { return }
        switch parseRequest() {
        case .failure(let error):
            refuse(error)
        case .success(.needMore):
            if timerPurpose == .idle, !parser.isBetweenMessages { startTimer(.header, snapshot.timeouts.header) }
        case .success(.requestHead(let head, let consumed)):
            connection.discardInput(consumed)
            begin(head, headBytes: consumed)
        case .success(.body), .success(.end), .success(.responseHead):
            refuse(HTTPParseError(status: 500, reason: "parser-state"))
        }
    }

    /// The request parser's next event from the client's input (a `.needMore` means every buffered byte was seen;
    /// see `MessageReader`).
    func parseRequest() -> Result<ParseEvent, HTTPParseError> {
        MessageReader.next(from: connection) { bytes throws(HTTPParseError) in try parser.next(bytes) }
    }

    /// Routes a complete head and starts its exchange, or answers it locally.
    func begin(_ head: RequestHead, headBytes: Int) {
        timer.cancel()
        useNewestSnapshot()  // each request uses the newest config; this one keeps it to the end
        if role == .admin {
            beginLocal(head, headBytes: headBytes, endpoint: OwnEndpoint.adminEndpoint(head))
            return
        }
        if OwnEndpoint.isReserved(head.routingPath) {
            // The gateway's own prefix is answered here on every host and never forwarded.
            beginLocal(head, headBytes: headBytes, endpoint: OwnEndpoint.publicEndpoint(head))
            return
        }
        guard let routeIndex = snapshot.routes.match(head) else {
            answerLocally(head, status: 404, headBytes: headBytes)
            return
        }
        authorize(head, headBytes: headBytes, routeIndex: routeIndex, fetched: nil)
    }

    /// Decides and acts: forward, refuse, or (a remote store's cache missed) wait for the store and decide again.
    func authorize(_ head: RequestHead, headBytes: Int, routeIndex: Int, fetched: FetchedSession?) {
        let route = snapshot.routes.routes[routeIndex]
        var trace: DecisionTrace? = nil
        let now = route.policy.mode == .none ? 0 : Int64(Clocks.wallClock().seconds)  // public routes need no clock
        let decision = RequestPipeline.decide(head, policy: route.policy, tokens: snapshot.tokens,
                                              cache: engine.tokenCache, sessions: engine.sessionContext,
                                              fetched: fetched, now: now, trace: &trace)
        let identity: Identity?
        switch decision {
        case .forward(let verified):
            identity = verified
            if verified != nil { engine.counters.authAccepted += 1 }
        case .unauthenticated(let reason, let invalidToken):
            if invalidToken { engine.counters.authInvalid += 1 } else { engine.counters.authNoCredential += 1 }
            refuseAuth(head, route: route, headBytes: headBytes, reason: reason, status: 401, invalidToken: invalidToken)
            return
        case .badRequest(let reason):
            engine.counters.authBadRequest += 1
            refuseAuth(head, route: route, headBytes: headBytes, reason: reason, status: 400, invalidToken: false)
            return
        case .forbidden(let reason):
            engine.counters.authForbidden += 1
            refuseAuth(head, route: route, headBytes: headBytes, reason: reason, status: 403, invalidToken: false)
            return
        case .unavailable(let reason):
            engine.counters.sessionStoreErrors += 1
            engine.authRefusals[reason, default: 0] += 1
            let close = mustCloseAfterLocalAnswer(head)
            let response = LocalResponse.storeUnavailable.serialize(close: close, headOnly: head.method == .head)
            finishLocalAnswer(head, response: response, status: 503, headBytes: headBytes, route: route.name,
                              error: reason, close: close)
            return
        case .fetchSession(let key):
            guard let store = engine.sessionContext?.store else { return }
            let client = ClientAddress.throttleKey(ClientAddress.resolve(peer: peer.address, trusted: peer.trusted,
                                                                         head: head, snapshot: snapshot))
            if let wait = engine.unknownCookies.refusal(client) {
                let close = mustCloseAfterLocalAnswer(head)
                let response = LocalResponse.error(429, "too_many_requests", headers: [("Retry-After", String(wait))])
                    .serialize(close: close, headOnly: head.method == .head)
                finishLocalAnswer(head, response: response, status: 429, headBytes: headBytes, route: route.name,
                                  error: "session-unknown-cookie-limit", close: close)
                return
            }
            engine.counters.sessionFetches += 1
            let pending = PendingAuth(head: head, headBytes: headBytes, routeIndex: routeIndex)
            pendingAuth = pending
            state = .authorizing
            let unknownCookies = engine.unknownCookies
            store.fetch(key, now: now) { [weak self] answer in
                if case .absent = answer { unknownCookies.noteUnknown(client) }
                // The client may have gone, or (never twice) the answer may be for an older request.
                guard let self, self.state == .authorizing, self.pendingAuth === pending else { return }
                self.pendingAuth = nil
                self.state = .awaitingHead
                self.authorize(pending.head, headBytes: pending.headBytes, routeIndex: pending.routeIndex,
                               fetched: FetchedSession(key: key, answer: answer))
            }
            return
        }
        let exchange = Exchange(head: head, routeIndex: routeIndex, pool: engine.pools[route.upstreamIndex],
                                startedAt: Clocks.monotonicNanoseconds(), host: RouteTable.hostRange(of: head))
        exchange.bytesIn = Int64(headBytes)
        exchange.identity = identity
        self.exchange = exchange
        state = .connecting
        connectUpstream(excluding: nil)
    }

    // MARK: Local answers

    /// Answers a request without an upstream (no route). Keeps the connection when the request had no
    /// body; otherwise closes after the answer, since unread body bytes must never parse as a request.
    func answerLocally(_ head: RequestHead, status: Int, headBytes: Int) {
        let close = mustCloseAfterLocalAnswer(head)
        let response = head.method == .head ? ErrorResponses.headOnly(status: status, close: close)
                                            : ErrorResponses.bytes(status: status, close: close)
        finishLocalAnswer(head, response: response, status: status, headBytes: headBytes, route: nil, error: nil,
                          close: close)
    }

    /// A local answer ends the connection when a request body would otherwise be left unread (it must never be
    /// parsed as a request), and of course when the client or a drain asks for it.
    func mustCloseAfterLocalAnswer(_ head: RequestHead) -> Bool {
        let hasBody: Bool
        switch head.framing {
        case .none, .length(0): hasBody = false
        case .length, .chunked, .untilClose: hasBody = true
        }
        return hasBody || !head.keepAlive || engine.draining
    }

    /// Answers 401 (or a login redirect for browsers), 400 or 403 for the route's auth decision.
    /// `Expect: 100-continue` gets this answer, never a 100: the body is not invited.
    func refuseAuth(_ head: RequestHead, route: Route, headBytes: Int, reason: String, status: Int,
                    invalidToken: Bool) {
        engine.authRefusals[reason, default: 0] += 1
        let close = mustCloseAfterLocalAnswer(head)
        let browser = AuthResponses.isBrowserNavigation(head)
        let login = status == 401 && route.policy.redirectsBrowsersToLogin && browser ? snapshot.loginURL : nil
        var response: [UInt8]
        if let login {
            response = AuthResponses.loginRedirect(head, loginURL: login, close: close)
        } else {
            response = AuthResponses.refusal(status: status, bearer: route.policy.acceptsBearer,
                                             invalidToken: invalidToken, html: browser, close: close)
        }
        if head.method == .head { response = ErrorResponses.withoutBody(response) }
        finishLocalAnswer(head, response: response, status: login == nil ? status : 302, headBytes: headBytes,
                          route: route.name, error: reason, close: close)
    }

    private func finishLocalAnswer(_ head: RequestHead, response: [UInt8], status: Int, headBytes: Int,
                                   route: String?, error: String?, close: Bool) {
        connection.write(response)
        engine.log(head: head, peer: peer, status: status, bytesIn: Int64(headBytes),
                   bytesOut: Int64(response.count), startedAt: Clocks.monotonicNanoseconds(),
                   route: route, upstream: nil, error: error)
        if close {
            closeAfterFlush()
            return
        }
        // Consume the (empty) end of the message so the parser is ready for the next request.
        _ = parseRequest()
        awaitNextRequest()
    }

    /// Answers a parse failure and closes: after a framing error nothing more on this connection can be trusted.
    func refuse(_ error: HTTPParseError) {
        engine.counters.parseErrors += 1
        connection.write(ErrorResponses.bytes(status: error.status, close: true))
        engine.logRefusal(peer: peer, status: error.status, reason: error.reason)
        closeAfterFlush()
    }

    // MARK: Between requests and closing

    /// Moves to the engine's newest snapshot; whether the peer is a trusted proxy is decided again under it.
    func useNewestSnapshot() {
        guard snapshot !== engine.snapshot else { return }
        snapshot = engine.snapshot
        peer.adopt(snapshot)
    }

    /// Ready for the next request on a kept-alive connection; handles a pipelined one at once.
    func awaitNextRequest() {
        requestsServed += 1
        exchange = nil
        state = .awaitingHead
        if parserSnapshot !== engine.snapshot {
            // A reload happened: the next request is parsed with the new limits (the parser sits between
            // messages here, so nothing of a request is lost).
            useNewestSnapshot()
            parser = RequestParser(limits: snapshot.limits)
            parserSnapshot = snapshot
        }
        if clientPaused {
            clientPaused = false
            connection.enableReading()
        }
        startTimer(.idle, snapshot.timeouts.idle)
        if engine.draining {
            closeAfterFlush()
            return
        }
        if connection.inputCount > 0 { readHead() }
    }

    /// Stops reading requests, lets the output drain, then closes (lingering briefly so the peer reads the
    /// answer instead of a reset).
    func closeAfterFlush() {
        guard state != .closing, state != .closed else { return }
        state = .closing
        local = nil
        pendingAuth = nil
        releaseUpstream(reuse: false)
        connection.discardInput(connection.inputCount)
        // Bounded: a client that never reads its answer does not keep the connection forever.
        startTimer(.linger, .seconds(5))
        if connection.outputCount == 0 { linger() }
    }

    /// Output is flushed: half-close our side and give the client a moment to read it.
    func linger() {
        connection.shutdownWrite()
        startTimer(.linger, .seconds(2))
    }

    /// Closes both sides at once (errors, timeouts, the client went away).
    func abort() {
        guard state != .closed else { return }
        if let exchange, exchange.status != 0 || state == .forwarding {
            logExchange(exchange, status: exchange.status == 0 ? 499 : exchange.status)
        }
        releaseUpstream(reuse: false)
        state = .closed
        exchange = nil
        local = nil
        pendingAuth = nil
        timer.cancel()
        connection.close()
        engine.forget(self)
    }

    /// Used by the engine when a graceful drain starts: idle connections close now, busy ones after their answer.
    ///
    /// A connection that has not yet sent a whole request is left alone: it was just accepted and its request may
    /// be in the kernel, unread; closing now would answer it with a reset. It gets its answer (with
    /// `Connection: close`) or its header timeout.
    func drain() {
        if state == .awaitingHead, requestsServed > 0, parser.isBetweenMessages, connection.inputCount == 0 { abort() }
    }

    // MARK: Timers

    func startTimer(_ purpose: TimerPurpose, _ after: Duration) {
        timerPurpose = purpose
        timer.schedule(after: after)
    }

    func didTimeOut() {
        switch timerPurpose {
        case .idle:
            abort()
        case .header:
            engine.counters.headerTimeouts += 1
            connection.write(ErrorResponses.bytes(status: 408, close: true))
            closeAfterFlush()
        case .body:
            // The client stopped sending its body. If nothing was answered yet, say so; either way, close.
            if let local {
                finishLocal(local, response: .error(408, "request_timeout"), error: "body-timeout", forceClose: true)
            } else if let exchange, !exchange.responseStarted {
                connection.write(ErrorResponses.bytes(status: 408, close: true))
                logExchange(exchange, status: 408)
                self.exchange = nil
                closeAfterFlush()
            } else {
                abort()
            }
        case .linger:
            abort()
        case .tunnel:
            if let exchange { logExchange(exchange, status: 101, error: "tunnel-idle-timeout") }
            exchange = nil
            abort()
        }
    }

    /// Pipelined requests beyond one head's worth wait unread in the kernel rather than in our memory.
    func pauseClientIfFlooding() {
        if connection.inputCount > snapshot.limits.maxHead, !clientPaused {
            clientPaused = true
            connection.disableReading()
        }
    }
}
