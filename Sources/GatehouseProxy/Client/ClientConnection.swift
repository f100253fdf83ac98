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

/// A client's TCP connection: the executor of its `ExchangeMachine`. Every decision about the exchange (what
/// to answer, when to connect, retry, pause, time out or close) is the machine's; this class does the I/O the
/// machine's actions ask for (parse with `MessageReader`, write, pause and resume reads, arm timers, take and
/// give back upstream connections, log) and reports what happened as the machine's events.
final class ClientConnection: ConnectionDelegate {
    let connection: Connection
    private(set) var peer: PeerInfo
    let role: ListenerRole
    unowned let engine: ProxyEngine
    var snapshot: ProxySnapshot
    var parser: RequestParser
    /// The snapshot whose limits `parser` enforces (held, so identity comparison is sound).
    var parserSnapshot: ProxySnapshot
    /// The exchange's state: every rule lives there. `@exclusivity(unchecked)`: every access is one event call or
    /// one take, and none overlaps another (an event returns its actions before they are performed), so the
    /// runtime's dynamic check of each access (several per request) would buy nothing.
    @exclusivity(unchecked) var machine: ExchangeMachine
    /// The upstream connection of the forwarded request (the machine says when to take and release it).
    var upstream: UpstreamConnection?
    /// The pool of the snapshot the forwarded request started with (a reload does not move it).
    var pool: UpstreamPool?
    /// The request a gateway endpoint answers: its body, collected here, and the endpoint's completion.
    var local: LocalRequest?
    /// The session this connection's tunnel was opened with (`TunnelRegistry`), while it is open.
    var tunnelSession: String?
    /// Where the upstream's frames end in the tunnel's upstream-to-client half.
    var tunnelFrames = WebSocketFrames()
    /// Bytes in and out of the current request, for the access log.
    var tally = Tally()
    var timer: LoopTimer!
    /// Backpressure threshold: stop reading a side when the other side has this much unsent.
    static let highWater = 256 * 1024

    struct Tally {
        var bytesIn: Int64 = 0
        var bytesOut: Int64 = 0
    }

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
        // A TLS handshake is part of getting the first request: it runs under the header timeout (a client
        // that opens connections and stalls the handshake is a slowloris too).
        machine = ExchangeMachine(tls: connection.isTLS, draining: engine.draining)
        timer = LoopTimer(loop: engine.loop) { [unowned self] in perform(machine.timerFired()) }
        connection.delegate = self
        connection.enableReading()
        perform(machine.initialActions)
    }

    // MARK: ConnectionDelegate

    func connectionReadable(_ connection: Connection) {
        perform(machine.clientReadable(flooding: connection.inputCount > snapshot.limits.maxHead))
    }

    func connectionWritable(_ connection: Connection) {
        if connection.outputCount == 0 { perform(machine.clientOutputDrained()) }
    }

    func connectionConnected(_ connection: Connection) {}

    func connectionClosed(_ connection: Connection, eof: Bool) {
        perform(machine.clientClosed())
    }

    /// The session of this connection's tunnel ended: the tunnel closes (`ProxyEngine.closeTunnels`).
    /// At a frame boundary the client first gets a close frame (1008) and the connection closes once it is
    /// flushed; in the middle of an upstream frame both sides close at once (a frame of ours would be payload).
    func sessionEnded() {
        tunnelSession = nil  // already taken off the registry
        let closeFrame = machine.isTunnelling && tunnelFrames.atBoundary
        if closeFrame { connection.write(WebSocketFrames.sessionEndedClose) }
        perform(machine.sessionEnded(closeFrameWritten: closeFrame))
    }

    /// Closes at once (the engine's drain timed out).
    func abort() {
        perform(machine.clientClosed())
    }

    /// A graceful drain started (see `ExchangeMachine.drain`).
    func drain() {
        perform(machine.drain(idle: parser.isBetweenMessages && connection.inputCount == 0))
    }

    // MARK: Performing the machine's actions

    func perform(_ actions: ExchangeMachine.Actions) {
        for index in 0..<actions.count { perform(actions[index]) }
    }

    private func perform(_ action: ExchangeMachine.Action) {
        switch action {
        case .armTimer(let purpose): timer.schedule(after: duration(of: purpose))
        case .cancelTimer: timer.cancel()
        case .pauseClientReads: connection.disableReading()
        case .resumeClientReads: connection.enableReading()
        case .pauseUpstreamReads: upstream?.connection.disableReading()
        case .resumeUpstreamReads: upstream?.connection.enableReading()
        case .decide:
            guard let request = machine.currentRequest else { return }
            decide(request, resuming: machine.takeResumption())
        case .fetchSession(let ticket): fetchSession(ticket: ticket)
        case .verifyPassword(let ticket): verifyPassword(ticket: ticket)
        case .connectUpstream(let excluded): connectUpstream(excluding: excluded)
        case .armUpstreamTimer(let purpose):
            guard let upstream, let pool else { return }
            upstream.arm(purpose == .connect ? pool.settings.connectTimeout : pool.settings.responseTimeout)
        case .disarmUpstreamTimer: upstream?.disarm()
        case .writeRequestHead: if let request = machine.currentRequest { writeRequestHead(request) }
        case .writeContinue: connection.write("HTTP/1.1 100 Continue\r\n\r\n")
        case .readRequestBody: pumpRequestBody()
        case .moveRequestBody(let count, let chunked): moveRequestBody(count, chunked: chunked)
        case .endRequestBody:
            let trailers = machine.takeTrailers()
            if let upstream { writeLastChunk(trailers, strippedBy: snapshot, to: upstream.connection) }
        case .readResponse: readResponse()
        case .writeInterimHead:
            writeResponseHead(machine.takeHeldResponseHead(), framing: .none, close: false, upgrade: false)
        case .writeResponseHead(let framing, let close):
            writeResponseHead(machine.takeHeldResponseHead(), framing: framing, close: close, upgrade: false)
        case .writeUpgradeHead:
            writeResponseHead(machine.takeHeldResponseHead(), framing: .none, close: false, upgrade: true)
            tunnelFrames = WebSocketFrames()
            if let session = TunnelRegistry.session(of: machine.currentRequest?.identity,
                                                    ownIssuer: snapshot.signIn?.ownIssuer) {
                tunnelSession = session
                engine.tunnelRegistry.add(self, session: session)
            }
        case .moveResponseBody(let count, let chunked): moveResponseBody(count, chunked: chunked)
        case .endResponseBody: writeLastChunk(machine.takeTrailers(), strippedBy: nil, to: connection)
        case .releaseUpstream(let reuse, let serverFailed): releaseUpstream(reuse: reuse, serverFailed: serverFailed)
        case .tunnelToUpstream: tunnelClientToUpstream()
        case .tunnelToClient: tunnelUpstreamToClient()
        case .flushToUpstream: if let upstream { connection.moveAllInput(to: upstream.connection) }
        case .flushToClient: upstream?.connection.moveAllInput(to: connection)
        case .consumeEmptyBody: _ = parseRequest()
        case .readLocalBody: collectLocalBody()
        case .runLocal: if let local { runLocal(local) }
        case .answer(let close, let headOnly): write(machine.takeAnswer(), close: close, headOnly: headOnly)
        case .log(let status):
            let note = machine.takeLogNote()
            if let request = note.request { log(request, status: status, error: note.error) }
        case .logRefusal(let status):
            engine.logRefusal(peer: peer, status: status, reason: machine.takeLogNote().error ?? "-")
        case .count(let counter): count(counter)
        case .prepareForNextRequest: prepareForNextRequest()
        case .readNextHead: readHead()
        case .discardClientInput: connection.discardInput(connection.inputCount)
        case .shutdownWhenFlushed: if connection.outputCount == 0 { perform(machine.clientOutputDrained()) }
        case .shutdownWrite: connection.shutdownWrite()
        case .close:
            local = nil
            if let session = tunnelSession {
                tunnelSession = nil
                engine.tunnelRegistry.remove(self, session: session)
            }
            connection.close()
            engine.forget(self)
        }
    }

    private func duration(of purpose: ExchangeMachine.Timer) -> Duration {
        switch purpose {
        case .idle: return snapshot.timeouts.idle
        case .header: return snapshot.timeouts.header
        case .body: return snapshot.timeouts.body
        case .flush: return .seconds(5)
        case .linger: return .seconds(2)
        case .tunnelIdle: return snapshot.timeouts.tunnelIdle
        }
    }

    private func count(_ counter: ExchangeMachine.Counter) {
        switch counter {
        case .parseError: engine.counters.parseErrors += 1
        case .headerTimeout: engine.counters.headerTimeouts += 1
        case .upstreamError: engine.counters.upstreamErrors += 1
        case .upstreamProtocolError: engine.counters.upstreamProtocolErrors += 1
        case .upstreamConnectTimeout: engine.counters.upstreamConnectTimeouts += 1
        case .upstreamResponseTimeout: engine.counters.upstreamResponseTimeouts += 1
        case .tunnel: engine.counters.tunnels += 1
        }
    }

    // MARK: Reading a request head

    /// Runs the parser over buffered bytes until a head is complete, more bytes are needed, or it refuses.
    func readHead() {
        guard connection.inputCount > 0 else { return }
        switch parseRequest() {
        case .failure(let error):
            perform(machine.headFailed(status: error.status, reason: error.reason))
        case .success(.needMore):
            if !parser.isBetweenMessages { perform(machine.headStarted()) }
        case .success(.requestHead(let head, let consumed)):
            connection.discardInput(consumed)
            tally = Tally(bytesIn: Int64(consumed), bytesOut: 0)
            perform(machine.headParsed(ExchangeRequest(head: head, headBytes: consumed,
                                                       startedAt: Clocks.monotonicNanoseconds())))
        case .success(.body), .success(.end), .success(.responseHead):
            perform(machine.headFailed(status: 500, reason: "parser-state"))
        }
    }

    /// The request parser's next event from the client's input (a `.needMore` means every buffered byte was seen;
    /// see `MessageReader`).
    func parseRequest() -> Result<ParseEvent, HTTPParseError> {
        MessageReader.next(from: connection) { bytes throws(HTTPParseError) in try parser.next(bytes) }
    }

    // MARK: Deciding (routing and auth)

    /// Routes and authorises `request` (or, `resuming`, finishes its decision with the session store's answer)
    /// and tells the machine the verdict.
    func decide(_ request: ExchangeRequest, resuming: ExchangeMachine.Resumption?) {
        let head = request.head
        let routeIndex: Int
        if let resuming {
            routeIndex = resuming.route
        } else {
            useNewestSnapshot()  // each request uses the newest config; this one keeps it to the end
            if role == .admin {
                perform(decideLocal(request, endpoint: OwnEndpoint.adminEndpoint(head)))
                return
            }
            if OwnEndpoint.isReserved(head.routingPath) {
                // The gateway's own prefix is answered here on every host and never forwarded.
                perform(decideLocal(request, endpoint: OwnEndpoint.publicEndpoint(head)))
                return
            }
            if OwnEndpoint.leavesReservedPrefix(head) {
                perform(machine.decided(.refuse(.auth(status: 400, reason: "path-leaves-gatehouse-prefix", invalidToken: false,
                                                      loginRedirect: false), route: nil)))
                return
            }
            guard let matched = snapshot.routes.match(head) else {
                perform(machine.decided(.refuse(.noRoute, route: nil)))
                return
            }
            routeIndex = matched
        }
        let route = snapshot.routes.routes[routeIndex]
        var trace: DecisionTrace? = nil
        let now = route.policy.mode == .none ? 0 : Int64(Clocks.wallClock().seconds)  // public routes need no clock
        let decision: AuthDecision
        switch resuming?.answer {
        case .session(let pending, let answer)?:
            decision = RequestPipeline.resume(pending, answer: answer, head: head, policy: route.policy,
                                              trace: &trace)
        case .password(let check)?:
            switch check {
            case .verified(let identity):
                decision = RequestPipeline.decide(head, policy: route.policy, tokens: snapshot.tokens,
                                                  cache: engine.tokenCache, sessions: engine.sessionContext,
                                                  basic: engine.basicVerifier?.context, verifiedBasic: identity,
                                                  now: now, trace: &trace)
            case .wrong:
                decision = .unauthenticated(reason: "basic-wrong-credentials", invalidToken: true)
            case .throttled(let wait):
                engine.authRefusals["basic-throttled", default: 0] += 1
                perform(machine.decided(.refuse(.passwordsThrottled(retryAfter: wait), route: routeIndex)))
                return
            case .busy:
                decision = .unavailable(reason: "basic-hashing-busy")
            }
        case nil:
            decision = RequestPipeline.decide(head, policy: route.policy, tokens: snapshot.tokens,
                                              cache: engine.tokenCache, sessions: engine.sessionContext,
                                              basic: engine.basicVerifier?.context, now: now, trace: &trace)
        }
        perform(machine.decided(verdict(decision, request: request, routeIndex: routeIndex, route: route)))
    }

    /// The machine's verdict for the pipeline's decision, counted for the metrics.
    private func verdict(_ decision: AuthDecision, request: ExchangeRequest, routeIndex: Int,
                         route: Route) -> ExchangeMachine.Verdict {
        switch decision {
        case .forward(let identity):
            if identity != nil { engine.counters.authAccepted += 1 }
            let pool = engine.pools[route.upstreamIndex]
            self.pool = pool
            return .forward(route: routeIndex, identity: identity, servers: pool.serverCount)
        case .unauthenticated(let reason, let invalidToken):
            if invalidToken { engine.counters.authInvalid += 1 } else { engine.counters.authNoCredential += 1 }
            return refuseAuth(request.head, route: route, index: routeIndex, reason: reason, status: 401,
                              invalidToken: invalidToken)
        case .badRequest(let reason):
            engine.counters.authBadRequest += 1
            return refuseAuth(request.head, route: route, index: routeIndex, reason: reason, status: 400,
                              invalidToken: false)
        case .forbidden(let reason):
            engine.counters.authForbidden += 1
            return refuseAuth(request.head, route: route, index: routeIndex, reason: reason, status: 403,
                              invalidToken: false)
        case .unavailable(let reason):
            engine.counters.sessionStoreErrors += 1
            engine.authRefusals[reason, default: 0] += 1
            return .refuse(.storeUnavailable(reason: reason), route: routeIndex)
        case .fetchSession(let pending):
            if let wait = engine.unknownCookies.refusal(throttleKey(request.head)) {
                return .refuse(.tooManyRequests(retryAfter: wait), route: routeIndex)
            }
            return .fetchSession(route: routeIndex, pending)
        case .verifyPassword(let pending):
            return .verifyPassword(route: routeIndex, pending)
        }
    }

    /// 401 (or a login redirect for browsers), 400 or 403 for the route's auth decision. `Expect: 100-continue`
    /// gets this answer, never a 100: the body is not invited.
    private func refuseAuth(_ head: RequestHead, route: Route, index: Int, reason: String, status: Int,
                            invalidToken: Bool) -> ExchangeMachine.Verdict {
        engine.authRefusals[reason, default: 0] += 1
        let login = status == 401 && route.policy.redirectsBrowsersToLogin && snapshot.loginURL != nil
            && AuthResponses.isBrowserNavigation(head)
        return .refuse(.auth(status: status, reason: reason, invalidToken: invalidToken, loginRedirect: login),
                       route: index)
    }

    /// Where unknown session cookies are counted (the client's address as the gateway resolves it).
    private func throttleKey(_ head: RequestHead) -> String {
        ClientAddress.throttleKey(ClientAddress.resolve(peer: peer.address, trusted: peer.trusted, head: head,
                                                        snapshot: snapshot))
    }

    /// Asks the session store; its answer (on this loop) goes to the machine, which ignores it if the client left.
    private func fetchSession(ticket: UInt64) {
        guard let store = engine.sessionContext?.store, let key = machine.pendingSessionKey,
              let request = machine.currentRequest else { return }
        engine.counters.sessionFetches += 1
        let client = throttleKey(request.head)
        let unknownCookies = engine.unknownCookies
        store.fetch(key, now: Int64(Clocks.wallClock().seconds)) { [weak self] answer in
            if case .absent = answer { unknownCookies.noteUnknown(client) }
            guard let self else { return }
            self.perform(self.machine.storeAnswered(ticket: ticket, answer: answer))
        }
    }

    /// Checks a Basic password off the loop (throttled like sign-ins); the machine ignores the answer if the client
    /// left meanwhile.
    private func verifyPassword(ticket: UInt64) {
        guard let pending = machine.pendingPassword, let request = machine.currentRequest else { return }
        guard let verifier = engine.basicVerifier else {
            perform(machine.passwordChecked(ticket: ticket, check: .busy(retryAfter: 1)))
            return
        }
        verifier.check(pending, address: throttleKey(request.head), now: Int64(Clocks.wallClock().seconds)) {
            [weak self] check in
            guard let self else { return }
            self.perform(self.machine.passwordChecked(ticket: ticket, check: check))
        }
    }

    // MARK: Answers written here

    private func write(_ answer: ExchangeMachine.Answer, close: Bool, headOnly: Bool) {
        var bytes: [UInt8]
        switch answer {
        case .error(let status):
            bytes = headOnly ? ErrorResponses.headOnly(status: status, close: close)
                             : ErrorResponses.bytes(status: status, close: close)
        case .local(let response):
            bytes = response.serialize(close: close, headOnly: headOnly)
        case .refusal(.noRoute, _):
            bytes = headOnly ? ErrorResponses.headOnly(status: 404, close: close)
                             : ErrorResponses.bytes(status: 404, close: close)
        case .refusal(.storeUnavailable, _):
            bytes = LocalResponse.storeUnavailable.serialize(close: close, headOnly: headOnly)
        case .refusal(.tooManyRequests(let wait), _):
            bytes = LocalResponse.error(429, "too_many_requests", headers: [("Retry-After", String(wait))])
                .serialize(close: close, headOnly: headOnly)
        case .refusal(.passwordsThrottled(let wait), _):
            bytes = LocalResponse.error(429, "too_many_attempts", description: "too many failed sign-ins; try again later",
                                        headers: [("Retry-After", String(wait))])
                .serialize(close: close, headOnly: headOnly)
        case .refusal(.auth(let status, _, let invalidToken, let loginRedirect), let request):
            let head = request.head
            if loginRedirect, let login = snapshot.loginURL {
                // A login page on another host of a shared cookie's domain: rd names this host too.
                var origin: [UInt8]? = nil
                if let signIn = snapshot.signIn, signIn.cookieDomain != nil, AuthResponses.isAbsolute(login) {
                    let secure = signIn.secureCookie == .always
                        || AuthResponses.cameSecurely(head, tls: peer.tls, trusted: peer.trusted)
                    origin = AuthResponses.origin(of: head, secure: secure)
                }
                bytes = AuthResponses.loginRedirect(head, loginURL: login, origin: origin, close: close)
            } else {
                var bearer = false
                var basic: String? = nil
                if case .route(let index) = request.target {
                    bearer = snapshot.routes.routes[index].policy.acceptsBearer
                    basic = snapshot.routes.routes[index].policy.basic?.challenge
                }
                bytes = AuthResponses.refusal(status: status, bearer: bearer, invalidToken: invalidToken,
                                              html: AuthResponses.isBrowserNavigation(head), close: close,
                                              basicChallenge: basic)
            }
            if headOnly { bytes = ErrorResponses.withoutBody(bytes) }
        }
        connection.write(bytes)
        tally.bytesOut += Int64(bytes.count)
    }

    /// One access-log line; a forwarded request names the upstream server it used.
    private func log(_ request: ExchangeRequest, status: Int, error: String?) {
        let route: String?
        var server: String? = nil
        switch request.target {
        case .undecided, .noRoute:
            route = nil
        case .gateway:
            route = role == .admin ? "admin" : "gatehouse"
        case .route(let index):
            route = snapshot.routes.routes[index].name
            if let upstream, let pool { server = pool.settings.serverNames[upstream.serverIndex] }
        }
        engine.log(head: request.head, peer: peer, status: status, bytesIn: tally.bytesIn, bytesOut: tally.bytesOut,
                   startedAt: request.startedAt, route: route, upstream: server, error: error)
    }

    // MARK: Between requests

    /// Moves to the engine's newest snapshot; whether the peer is a trusted proxy is decided again under it.
    func useNewestSnapshot() {
        guard snapshot !== engine.snapshot else { return }
        snapshot = engine.snapshot
        peer.adopt(snapshot)
    }

    /// A reload happened: the next request is parsed with the new limits (the parser sits between messages
    /// here, so nothing of a request is lost).
    private func prepareForNextRequest() {
        guard parserSnapshot !== engine.snapshot else { return }
        useNewestSnapshot()
        parser = RequestParser(limits: snapshot.limits)
        parserSnapshot = snapshot
    }
}
