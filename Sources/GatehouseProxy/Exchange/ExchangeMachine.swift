import GatehouseAuth
import GatehouseHTTP
import GatehouseSessions

/// One request as the client sent it: the parsed head and what the gateway decided about it.
///
/// A class: the machine's states, its actions and the access log refer to the same request while it is
/// answered, and a reference moves where a head (several arrays) would be retained field by field. One
/// allocation per request, as the mutable `Exchange` it replaces. Everything that changes while the request
/// is answered lives in the machine's state; the machine writes `target` and `identity` once, at its decision.
final class ExchangeRequest {
    /// Where the request went, for the access log.
    enum Target: Equatable {
        /// Not decided yet (the request waits for routing or for the session store).
        case undecided
        /// No route matched (404).
        case noRoute
        /// A route: index into the snapshot's routes.
        case route(Int)
        /// The gateway's own endpoints (`/.gatehouse/...`, the admin listener).
        case gateway
    }

    let head: RequestHead
    /// Bytes of the head on the wire.
    let headBytes: Int
    /// Monotonic nanoseconds when the head was complete (access-log latency).
    let startedAt: UInt64
    /// The request asks for an upgrade the gateway tunnels (WebSocket); any other is never offered upstream.
    let wantsUpgrade: Bool
    fileprivate(set) var target: Target = .undecided
    /// Who the request is from, when its route authenticated it.
    fileprivate(set) var identity: Identity?

    init(head: RequestHead, headBytes: Int, startedAt: UInt64) {
        self.head = head
        self.headBytes = headBytes
        self.startedAt = startedAt
        wantsUpgrade = head.upgradesToWebSocket
    }

    /// The request has body bytes behind its head.
    var hasBody: Bool {
        switch head.framing {
        case .none, .length(0): return false
        case .length, .chunked, .untilClose: return true
        }
    }

    /// A retry on a fresh upstream connection cannot do harm twice (RFC 9110 9.2.2).
    var isIdempotent: Bool {
        switch head.method {
        case .get, .head, .options, .trace, .put, .delete: return true
        case .post, .patch, .connect, .other: return false
        }
    }
}

/// One client connection's exchanges as a single state machine value: which request is where, and what
/// the connection must do next. It holds no socket, no engine and no clock; `ClientConnection` feeds it
/// events (a head was parsed, the upstream connected, body bytes arrived, a timer fired, ...) and performs
/// the `Action`s each event returns (write this, arm that timer, connect, close). So one request can be
/// followed from `headParsed` to `responseEnded` in this file alone, and every rule is checked by unit tests
/// without sockets.
///
/// One request at a time: pipelined requests wait unread (in the input buffer, then in the kernel), so answers
/// leave in order.
///
///     readingHead ─headParsed─▶ deciding ─decided─┬─▶ connecting ─upstreamConnected─▶ forwarding
///          ▲                          ▲              │                                   │ responseEnded
///          │                          │              │                                   ▼ (101: tunnelling)
///          │                          storeAnswered  ├─▶ authorizing          next head, or closing
///          │                                         ├─▶ answeringLocally ─localAnswered─▶ next head, or closing
///          └──────────── next head ◀── answer ◀──────┘ (refused: 404, 401, 503, ...)
///     closing (flush, half-close, linger) ─▶ closed ◀── from any state: clientClosed, timeouts, failures
///
/// Events that cannot happen in a state fail an assertion in debug builds; events that can legitimately race
/// (a store or endpoint answer after the client left, a writable callback after the last flush) are explicit
/// no-ops with a comment.
struct ExchangeMachine {
    // MARK: Vocabulary

    /// What the client connection's one timer measures.
    enum Timer: Equatable {
        /// Between requests (`timeouts.idle`).
        case idle
        /// A request head (or the TLS handshake) has started and must be complete in `timeouts.header`.
        case header
        /// The client must send more of its body within `timeouts.body`.
        case body
        /// Closing: the answer must be flushed within 5 s.
        case flush
        /// Closing: write side shut, the client has 2 s to read the answer before the reset.
        case linger
        /// A tunnel with no bytes either way for `timeouts.tunnelIdle`.
        case tunnelIdle
    }

    /// What the upstream connection's timer measures.
    enum UpstreamTimer: Equatable {
        case connect
        /// Counted from the last progress (a piece of body taken or sent).
        case response
    }

    /// Counters the gateway exports (`ProxyCounters`).
    enum Counter: Equatable {
        case parseError, headerTimeout, upstreamError, upstreamProtocolError, upstreamConnectTimeout,
             upstreamResponseTimeout, tunnel
    }

    /// Why a request is answered by the gateway instead of forwarded (decided by routing and the auth pipeline).
    enum Refusal {
        case noRoute
        /// 401/400/403; `loginRedirect`: a browser is sent to the login page instead (302).
        case auth(status: Int, reason: String, invalidToken: Bool, loginRedirect: Bool)
        /// The session store cannot answer (503).
        case storeUnavailable(reason: String)
        /// Too many unknown session cookies from this client (429).
        case tooManyRequests(retryAfter: Int64)
        /// Too many failed Basic passwords from this client or against this user (429, like the login form).
        case passwordsThrottled(retryAfter: Int64)

        var status: Int {
            switch self {
            case .noRoute: return 404
            case .auth(let status, _, _, let login): return login ? 302 : status
            case .storeUnavailable: return 503
            case .tooManyRequests, .passwordsThrottled: return 429
            }
        }

        var logError: String? {
            switch self {
            case .noRoute: return nil
            case .auth(_, let reason, _, _), .storeUnavailable(let reason): return reason
            case .tooManyRequests: return "session-unknown-cookie-limit"
            case .passwordsThrottled: return "basic-throttled"
            }
        }
    }

    /// What routing and the auth pipeline decided for a head (`decided`).
    enum Verdict {
        /// Forward on route `route` (`servers`: how many servers its upstream has, for the connect retry).
        case forward(route: Int, identity: Identity?, servers: Int)
        case refuse(Refusal, route: Int?)
        /// One of the gateway's own endpoints; `readsBody`: it takes a body of up to `bodyLimit` bytes.
        case local(readsBody: Bool, bodyLimit: Int)
        /// Ask the session store (`pending.key`), then decide again with its answer.
        case fetchSession(route: Int, PendingSession)
        /// Check a Basic password off the loop (`pendingPassword`), then decide again with the result.
        case verifyPassword(route: Int, PendingPassword)
    }

    /// An answer the gateway writes itself.
    enum Answer {
        /// A plain error page (`ErrorResponses`) for `status`.
        case error(Int)
        /// A refusal of `request` (a 401 names the route's schemes, a browser may be sent to the login page).
        case refusal(Refusal, ExchangeRequest)
        case local(LocalResponse)
    }

    /// What the executor does. Plain values (no references, no strings), so that returning a list of them per
    /// event costs a few stores; the few that need more (an answer, a log line's request and error, trailers, a
    /// response head) leave it in a slot of the machine the executor takes when it performs them.
    /// Actions that read on (`readNextHead`, `readRequestBody`, `readLocalBody`,
    /// `readResponse`, `connectUpstream`, `runLocal`, `tunnel*`, `shutdownWhenFlushed`) come last in a list:
    /// performing them feeds the machine further events.
    enum Action {
        case armTimer(Timer)
        case cancelTimer
        case pauseClientReads, resumeClientReads
        case pauseUpstreamReads, resumeUpstreamReads
        /// Route and authorise `currentRequest`, or (after `storeAnswered`) finish its decision with the store's
        /// answer (`takeResumption`).
        case decide
        /// Ask the session store for `pendingSessionKey`; answer with `storeAnswered(ticket:answer:)`.
        case fetchSession(ticket: UInt64)
        /// Check `pendingPassword`; answer with `passwordChecked(ticket:check:)`.
        case verifyPassword(ticket: UInt64)
        /// Take a pooled connection or connect (to another server than `excluding`); answer with
        /// `upstreamAcquired` or `upstreamUnavailable`.
        case connectUpstream(excluding: Int?)
        case armUpstreamTimer(UpstreamTimer)
        case disarmUpstreamTimer
        /// Write the rewritten request head (of `currentRequest`) upstream.
        case writeRequestHead
        /// `HTTP/1.1 100 Continue` to the client: the gateway invites the body itself.
        case writeContinue
        /// Parse request body bytes and report them (`requestBody`, `requestEnded`, `requestNeedsMore`, ...).
        case readRequestBody
        /// Move `count` body bytes from the client to the upstream (`chunked`: framed by the gateway).
        case moveRequestBody(Int, chunked: Bool)
        /// The last chunk with the trailers (`takeTrailers`) that may cross, to the upstream (chunked requests).
        case endRequestBody
        /// Parse what the upstream sent and report it (`upstreamResponseHead`, `responseBody`, ...).
        case readResponse
        /// An interim response (103 Early Hints) to the client (`takeHeldResponseHead`).
        case writeInterimHead
        /// The final response head the machine held back (`takeHeldResponseHead`), framed as `framing`.
        case writeResponseHead(framing: BodyFraming, close: Bool)
        /// A `101 Switching Protocols` to the client (`takeHeldResponseHead`).
        case writeUpgradeHead
        /// Move `count` body bytes from the upstream to the client (`chunked`: one chunk framed by the gateway).
        case moveResponseBody(Int, chunked: Bool)
        /// The last chunk with the upstream's trailers (`takeTrailers`; chunked client framing only).
        case endResponseBody
        /// Give the upstream connection back to its pool (`reuse`) or close it; `serverFailed`: skip its
        /// server for `fail_timeout`.
        case releaseUpstream(reuse: Bool, serverFailed: Bool)
        /// Copy what is buffered from one side to the other (and report `tunnelMoved`, backpressure).
        case tunnelToUpstream, tunnelToClient
        /// The tunnel ends: copy what is buffered, nothing more.
        case flushToUpstream, flushToClient
        /// Parse the empty end of a bodiless request, so the parser stands between messages.
        case consumeEmptyBody
        /// Collect the body of a request the gateway answers (`localBody`, `requestEnded`, ...).
        case readLocalBody
        /// Run the gateway's endpoint for the request; it answers through `localAnswered`.
        case runLocal
        /// Write an answer (`takeAnswer`); `close`: with `Connection: close`; `headOnly`: the request was HEAD.
        case answer(close: Bool, headOnly: Bool)
        /// One access-log line for a request (`takeLogNote`: which, and the error if any).
        case log(status: Int)
        /// An access-log line for input that never became a request (a framing error; `takeLogNote`: why).
        case logRefusal(status: Int)
        case count(Counter)
        /// Use the newest configuration (and parser limits) for the next request.
        case prepareForNextRequest
        /// Parse a pipelined head if bytes are buffered (`headParsed`, `headStarted`, `headFailed`).
        case readNextHead
        /// Drop what the client sends from now on.
        case discardClientInput
        /// If all output is written, report `clientOutputDrained` now.
        case shutdownWhenFlushed
        /// Half-close: the answer is out.
        case shutdownWrite
        /// Close both sides now and forget the connection.
        case close
    }

    /// The answer a decision waited for: the session store's, or a Basic password check's.
    struct Resumption {
        enum Answer {
            case session(PendingSession, SessionLookup)
            case password(PasswordCheck)
        }

        let answer: Answer
        let route: Int
    }

    // MARK: States

    /// A forwarded request's progress. `request` and `route` stay; the rest moves as the exchange does.
    struct Forwarding {
        let request: ExchangeRequest
        /// Servers of the route's upstream (a refused connect is retried on another when there are several).
        let servers: Int
        /// The server of the upstream connection in use (or being connected).
        var server = 0
        /// That connection served an exchange before (the server may have closed it meanwhile).
        var upstreamReused = false
        /// The one retry (connect refused, or a reused connection closed before answering) was used.
        var retried = false
        /// The whole request (head and body) has been read from the client.
        var requestComplete = false
        /// Some request body went upstream (a retry is only safe before any).
        var bodySent = false
        var response = ResponseProgress.awaitingHead
    }

    /// How far the response to a forwarded request has got.
    enum ResponseProgress {
        case awaitingHead
        /// A final head arrived and is held back until its first body bytes or its end, so a fault right behind
        /// it (a bad first chunk, bytes after a 204) still becomes a clean 502.
        case headHeld(FinalResponse)
        /// The head was written: an error can no longer become a clean answer.
        case streaming(FinalResponse)

        var started: Bool {
            if case .streaming = self { return true }
            return false
        }
    }

    /// What the machine decided about a final response.
    struct FinalResponse {
        let status: Int
        /// The framing the client sees (`.chunked`: the gateway frames every piece itself).
        let framing: BodyFraming
        /// Close the client connection once the response is written.
        let close: Bool
        /// The upstream allows another request on its connection.
        let upstreamKeepAlive: Bool
    }

    /// A request waiting for the session store or a password check. A class: only a cache miss pays for it, and
    /// the other states stay small (a pending decision holds an identity).
    final class Authorizing {
        /// What the decision waits for.
        enum Wait {
            case session(PendingSession)
            case password(PendingPassword)
        }

        let request: ExchangeRequest
        let route: Int
        let wait: Wait
        /// Which lookup this is (an answer for an older one is not this request's).
        let ticket: UInt64

        init(request: ExchangeRequest, route: Int, wait: Wait, ticket: UInt64) {
            self.request = request
            self.route = route
            self.wait = wait
            self.ticket = ticket
        }
    }

    /// A request the gateway answers itself.
    struct Local {
        let request: ExchangeRequest
        let bodyLimit: Int
        var bodyComplete = false
    }

    enum State {
        /// Waiting for (the rest of) a request head (`served` requests were answered before).
        case readingHead
        /// A head is complete; the executor routes and authorises it (`decided`).
        case deciding(ExchangeRequest)
        /// Waiting for the session store (a remote store's cache missed) or a Basic password hash.
        case authorizing(Authorizing)
        /// Waiting for an upstream connection.
        case connecting(Forwarding)
        /// The request is going upstream and/or the response is coming back.
        case forwarding(Forwarding)
        /// The gateway answers: reading the (small) body, or waiting for its endpoint.
        case answeringLocally(Local)
        /// After a 101: bytes flow both ways untouched.
        case tunnelling(ExchangeRequest)
        /// The last answer is being flushed (`flushed`: it was, the write side is shut); then the socket closes.
        case closing(flushed: Bool)
        case closed
    }

    private(set) var state: State
    /// What the client timer measures now (nil: not armed).
    private(set) var timer: Timer?
    /// Client reads are paused (upstream output full, or pipelined bytes beyond one head's worth).
    private(set) var clientPaused = false
    /// Upstream reads are paused (client output full).
    private(set) var upstreamPaused = false
    /// Requests answered on this connection (a drain closes idle ones that served at least one).
    private(set) var served = 0
    /// A graceful drain started: every answer from now on closes the connection.
    private(set) var draining: Bool
    /// An upstream connection is taken for the current request (acquired, not yet released).
    private(set) var upstreamInUse = false
    /// The final response head held back (`ResponseProgress.headHeld`), taken by `writeResponseHead`.
    private var heldHead: ResponseHead?
    private var nextTicket: UInt64 = 0
    /// The store's answer for the decision a `.decide` finishes (`takeResumption`).
    private var resumption: Resumption?
    /// What the `.answer`, `.log`/`.logRefusal` and `.end*Body` of the last event's list carry.
    private var answer: Answer?
    private var logNote: LogNote?
    private var trailers: HeaderFields?

    /// The request and error of a `.log` (request nil for `.logRefusal`).
    struct LogNote {
        let request: ExchangeRequest?
        let error: String?
    }

    /// A new connection: the first request head (after a TLS handshake, which counts as part of it) is awaited.
    init(tls: Bool, draining: Bool = false) {
        state = .readingHead
        self.draining = draining
        timer = tls ? .header : .idle
    }

    /// The actions a new connection starts with.
    var initialActions: Actions { Actions(.armTimer(timer ?? .idle)) }

    // MARK: Questions the executor asks

    /// The session store's answer for the `.decide` being performed (nil: a first decision).
    mutating func takeResumption() -> Resumption? { resumption.take() }

    mutating func takeAnswer() -> Answer {
        guard let answer = answer.take() else { preconditionFailure("answer without an answer") }
        return answer
    }

    mutating func takeLogNote() -> LogNote {
        guard let note = logNote.take() else { preconditionFailure("log without a log note") }
        return note
    }

    mutating func takeTrailers() -> HeaderFields { trailers.take() ?? HeaderFields() }

    /// The session the store is asked for (state `.authorizing`).
    var pendingSessionKey: SessionKey? {
        if case .authorizing(let waiting) = state, case .session(let pending) = waiting.wait { return pending.key }
        return nil
    }

    /// The Basic credential whose password is checked (state `.authorizing`).
    var pendingPassword: PendingPassword? {
        if case .authorizing(let waiting) = state, case .password(let pending) = waiting.wait { return pending }
        return nil
    }

    /// Request body bytes are wanted now (a forwarded body being sent, or a local one being collected).
    var readsRequestBody: Bool {
        switch state {
        case .forwarding(let forwarding): return !forwarding.requestComplete
        case .answeringLocally(let local): return !local.bodyComplete
        default: return false
        }
    }

    /// A forwarded request's response is being read.
    var isForwarding: Bool {
        if case .forwarding = state { return true }
        return false
    }

    /// The request now being answered, if any.
    var currentRequest: ExchangeRequest? {
        switch state {
        case .deciding(let request), .tunnelling(let request): return request
        case .authorizing(let waiting): return waiting.request
        case .connecting(let forwarding), .forwarding(let forwarding): return forwarding.request
        case .answeringLocally(let local): return local.request
        case .readingHead, .closing, .closed: return nil
        }
    }

    // MARK: Reading a head

    /// Part of a head is buffered: from now on the header timeout runs (once per head, not per read).
    mutating func headStarted() -> Actions {
        guard case .readingHead = state else { return unexpected("headStarted") }
        guard timer == .idle else { return Actions() }
        return Actions(arm(.header))
    }

    /// A request head is complete: route and authorise it.
    mutating func headParsed(_ request: ExchangeRequest) -> Actions {
        guard case .readingHead = state else { return unexpected("headParsed") }
        state = .deciding(request)
        return Actions(cancelTimer(), .decide)
    }

    /// The client's bytes are not HTTP (or not one the gateway accepts): answer and close; after a framing error
    /// nothing more on this connection can be trusted.
    mutating func headFailed(status: Int, reason: String) -> Actions {
        guard case .readingHead = state else { return unexpected("headFailed") }
        var actions = Actions(.count(.parseError), answering(.error(status), close: true, headOnly: false),
                              noteRefusal(status: status, reason: reason))
        close(after: &actions)
        return actions
    }

    // MARK: Deciding

    /// Routing and the auth pipeline have decided (`.decide`).
    mutating func decided(_ verdict: Verdict) -> Actions {
        guard case .deciding(let request) = state else { return unexpected("decided") }
        var actions = Actions()
        switch verdict {
        case .forward(let route, let identity, let servers):
            request.target = .route(route)
            request.identity = identity
            state = .connecting(Forwarding(request: request, servers: servers))
            actions.append(.connectUpstream(excluding: nil))
        case .refuse(let refusal, let route):
            request.target = route.map { .route($0) } ?? .noRoute
            answerHere(request, .refusal(refusal, request), status: refusal.status, error: refusal.logError, close: nil,
                       into: &actions)
        case .fetchSession(let route, let pending):
            request.target = .route(route)
            nextTicket &+= 1
            state = .authorizing(Authorizing(request: request, route: route, wait: .session(pending),
                                             ticket: nextTicket))
            actions.append(.fetchSession(ticket: nextTicket))
        case .verifyPassword(let route, let pending):
            request.target = .route(route)
            nextTicket &+= 1
            state = .authorizing(Authorizing(request: request, route: route, wait: .password(pending),
                                             ticket: nextTicket))
            actions.append(.verifyPassword(ticket: nextTicket))
        case .local(let readsBody, let limit):
            request.target = .gateway
            var local = Local(request: request, bodyLimit: limit)
            switch request.head.framing {
            case .none, .length(0):
                local.bodyComplete = true
                state = .answeringLocally(local)
                actions.append(.consumeEmptyBody)
                actions.append(.runLocal)
            case .length(let length) where length > Int64(limit) || !readsBody:
                // Refused unread, so the connection closes after the answer.
                state = .answeringLocally(local)
                let response = readsBody ? LocalResponse.error(413, "too_large")
                    : LocalResponse.error(400, "invalid_request", description: "this endpoint takes no body")
                return localAnswered(response, error: "local-body-refused", forceClose: true)
            default:
                state = .answeringLocally(local)
                guard readsBody else {
                    return localAnswered(.error(400, "invalid_request", description: "this endpoint takes no body"),
                                         error: "local-body-refused", forceClose: true)
                }
                if request.head.expectsContinue { actions.append(.writeContinue) }
                actions.append(.readLocalBody)
            }
        }
        return actions
    }

    /// The session store answered the lookup `ticket` asked for.
    mutating func storeAnswered(ticket: UInt64, answer: SessionLookup) -> Actions {
        guard case .authorizing(let waiting) = state, waiting.ticket == ticket,
              case .session(let pending) = waiting.wait
        else {
            // A race, not a fault: the client left (or its connection was closed by a timeout or a drain) while
            // the store was asked; nobody waits for this answer any more.
            return Actions()
        }
        state = .deciding(waiting.request)
        resumption = Resumption(answer: .session(pending, answer), route: waiting.route)
        return Actions(.decide)
    }

    /// The password check `ticket` asked for is done.
    mutating func passwordChecked(ticket: UInt64, check: PasswordCheck) -> Actions {
        guard case .authorizing(let waiting) = state, waiting.ticket == ticket, case .password = waiting.wait else {
            // A race, not a fault: the client left while the password was hashed.
            return Actions()
        }
        state = .deciding(waiting.request)
        resumption = Resumption(answer: .password(check), route: waiting.route)
        return Actions(.decide)
    }

    // MARK: Local answers

    /// Body bytes of a local request were collected; `total` so far.
    mutating func localBody(total: Int) -> Actions {
        guard case .answeringLocally(let local) = state, !local.bodyComplete else { return unexpected("localBody") }
        guard total > local.bodyLimit else { return Actions() }
        return localAnswered(.error(413, "too_large"), error: "local-body-too-large", forceClose: true)
    }

    /// A gateway endpoint answered (or the machine refused its body).
    mutating func localAnswered(_ response: LocalResponse, error: String?, forceClose: Bool) -> Actions {
        guard case .answeringLocally(let local) = state else {
            // A race, not a fault: the client left while a password hash or a store call ran.
            return Actions()
        }
        let close = forceClose || response.close || !local.bodyComplete || !local.request.head.keepAlive || draining
        var actions = Actions()
        answerHere(local.request, .local(response), status: response.status, error: error, close: close,
                   into: &actions, bodyConsumed: true)
        return actions
    }

    // MARK: Request body (forwarded or local)

    /// The executor's read of the client found body bytes of a forwarded request (already parsed).
    mutating func requestBody(_ count: Int) -> Actions {
        guard case .forwarding(var forwarding) = state, !forwarding.requestComplete else {
            return unexpected("requestBody")
        }
        state = .closed  // placeholder while `forwarding` is changed, so its storage is not shared
        forwarding.bodySent = true
        let chunked = forwarding.request.head.framing == .chunked
        state = .forwarding(forwarding)
        // The response timeout counts from the end of the request: an upload slower than it is not cut off.
        return Actions(.moveRequestBody(count, chunked: chunked), .armUpstreamTimer(.response))
    }

    /// The request body ended (`trailers`: a chunked body's).
    mutating func requestEnded(trailers: HeaderFields) -> Actions {
        var actions = Actions()
        if timer == .body { actions.append(cancelTimer()) }
        switch state {
        case .forwarding(var forwarding) where !forwarding.requestComplete:
            state = .closed  // placeholder, see requestBody
            forwarding.requestComplete = true
            let chunked = forwarding.request.head.framing == .chunked
            state = .forwarding(forwarding)
            if chunked { actions.append(ending(.endRequestBody, trailers)) }
        case .answeringLocally(var local) where !local.bodyComplete:
            local.bodyComplete = true
            state = .answeringLocally(local)
            actions.append(.runLocal)
        default:
            return unexpected("requestEnded")
        }
        return actions
    }

    /// Every buffered body byte was seen: the client must send more within the body timeout.
    mutating func requestNeedsMore() -> Actions {
        switch state {
        case .forwarding(let forwarding) where !forwarding.requestComplete: break
        case .answeringLocally(let local) where !local.bodyComplete: break
        default: return unexpected("requestNeedsMore")
        }
        return Actions(arm(.body))
    }

    /// The request body's framing is broken (`status`: what the parser answers).
    mutating func requestFailed(status: Int, reason: String) -> Actions {
        switch state {
        case .forwarding(let forwarding) where !forwarding.response.started:
            var actions = Actions(.count(.parseError), answering(.error(status), close: true, headOnly: false),
                                  note(forwarding.request, status: status, error: nil))
            close(after: &actions)
            return actions
        case .forwarding:
            return abort(Actions(.count(.parseError)))
        case .answeringLocally:
            var actions = Actions(.count(.parseError), answering(.error(status), close: true, headOnly: false),
                                  noteRefusal(status: status, reason: reason))
            close(after: &actions)
            return actions
        default:
            return unexpected("requestFailed")
        }
    }

    // MARK: Upstream connection

    /// The pool gave a connection to `server` (`connected`: an open pooled one, else a connect is under way).
    mutating func upstreamAcquired(server: Int, connected: Bool, reused: Bool) -> Actions {
        guard case .connecting(var forwarding) = state else { return unexpected("upstreamAcquired") }
        state = .closed  // placeholder, see requestBody
        forwarding.server = server
        forwarding.upstreamReused = reused
        upstreamInUse = true
        state = .connecting(forwarding)
        if connected { return upstreamConnected() }
        return Actions(.armUpstreamTimer(.connect))
    }

    /// No connection could even be started (no socket left): 502.
    mutating func upstreamUnavailable() -> Actions {
        guard case .connecting = state else { return unexpected("upstreamUnavailable") }
        return fail(status: 502, reason: nil)
    }

    /// The upstream connection is ready: send the head, then whatever body has arrived.
    mutating func upstreamConnected() -> Actions {
        guard case .connecting(let forwarding) = state else { return unexpected("upstreamConnected") }
        state = .forwarding(forwarding)
        var actions = Actions(.armUpstreamTimer(.response), .writeRequestHead)
        if forwarding.request.head.expectsContinue, !forwarding.retried {
            // The gateway accepted the request, so it invites the body itself; Expect is not forwarded.
            actions.append(.writeContinue)
        }
        if clientPaused {
            clientPaused = false
            actions.append(.resumeClientReads)
        }
        if !forwarding.requestComplete { actions.append(.readRequestBody) }
        return actions
    }

    // MARK: Response

    /// The upstream has bytes (or, tunnelling, bytes to copy).
    mutating func upstreamReadable() -> Actions {
        switch state {
        case .forwarding: return Actions(.armUpstreamTimer(.response), .readResponse)  // from the last progress
        case .tunnelling: return Actions(.tunnelToClient)
        default: return unexpected("upstreamReadable")
        }
    }

    /// A response head (interim or final) arrived.
    mutating func upstreamResponseHead(_ head: ResponseHead) -> Actions {
        guard case .forwarding(var forwarding) = state, case .awaitingHead = forwarding.response else {
            return unexpected("upstreamResponseHead")
        }
        let request = forwarding.request
        if head.status < 200 {
            if head.status == 101 {
                // Only an upgrade the gateway forwarded (WebSocket) may be accepted, and only to that protocol.
                guard request.wantsUpgrade, HeaderRewrite.upgradesToWebSocket(head.headers) else {
                    return upstreamBrokeProtocol(reason: "unrequested-upgrade")
                }
                state = .tunnelling(request)
                heldHead = head
                return Actions(.writeUpgradeHead, .disarmUpstreamTimer, .count(.tunnel), arm(.tunnelIdle),
                               .tunnelToUpstream, .tunnelToClient)
            }
            // 100 Continue was already sent by the gateway; other 1xx (103 Early Hints) pass through.
            if head.status != 100, request.head.version == .http11 {
                heldHead = head
                return Actions(.writeInterimHead)
            }
            return Actions()
        }
        let framing = Self.clientFraming(of: head.framing, clientVersion: request.head.version)
        let keepAlive = request.head.keepAlive && !draining
        state = .closed  // placeholder, see requestBody
        forwarding.response = .headHeld(FinalResponse(status: head.status, framing: framing,
                                                      close: !keepAlive || framing == .untilClose,
                                                      upstreamKeepAlive: head.keepAlive))
        state = .forwarding(forwarding)
        heldHead = head
        return Actions()
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

    /// The head a `writeResponseHead`, `writeInterimHead` or `writeUpgradeHead` writes (taken: the machine keeps
    /// no second copy; actions stay small, so returning a list of them copies little).
    mutating func takeHeldResponseHead() -> ResponseHead {
        guard let head = heldHead.take() else { preconditionFailure("writeResponseHead without a held head") }
        return head
    }

    /// Response body bytes arrived (parsed; not yet moved).
    mutating func responseBody(_ count: Int) -> Actions {
        var actions = Actions()
        guard let final = startResponse(&actions) else { return unexpected("responseBody") }
        actions.append(.moveResponseBody(count, chunked: final.framing == .chunked))
        return actions
    }

    /// Every buffered response byte was seen: the head goes out now if it still waits.
    mutating func responseNeedsMore() -> Actions {
        guard case .forwarding(let forwarding) = state else { return unexpected("responseNeedsMore") }
        var actions = Actions()
        if case .headHeld = forwarding.response { _ = startResponse(&actions) }
        return actions
    }

    /// The response is complete. `bytesBehind`: the upstream sent more after it; `upstreamEnded`: its end was
    /// the upstream closing (so the connection cannot be reused).
    mutating func responseEnded(trailers: HeaderFields, bytesBehind: Bool, upstreamEnded: Bool) -> Actions {
        guard case .forwarding(let forwarding) = state else { return unexpected("responseEnded") }
        if bytesBehind, case .headHeld(let final) = forwarding.response, final.framing == .none {
            // Bytes behind a response that has no body (to HEAD, a 204 or 304): the upstream thinks it sends a
            // body the client must never see. Only one request is ever outstanding upstream, so they cannot be
            // the next response either.
            return upstreamBrokeProtocol(reason: "upstream-body-on-bodiless-response")
        }
        var actions = Actions()
        guard let final = startResponse(&actions) else { return unexpected("responseEnded") }
        // RFC 9112 7.1.2: the trailers cross (minus hop-by-hop fields) to a chunked client; other framings have
        // no place for them.
        if final.framing == .chunked { actions.append(ending(.endResponseBody, trailers)) }
        actions.append(note(forwarding.request, status: final.status, error: nil))
        let reuse = !bytesBehind && !upstreamEnded && forwarding.requestComplete && final.upstreamKeepAlive
        release(reuse: reuse, serverFailed: false, into: &actions)
        if final.close || !forwarding.requestComplete {
            // An early answer (the body is still arriving) ends the connection: leftover body bytes must never
            // be parsed as a request.
            close(after: &actions)
        } else {
            nextRequest(after: &actions)
        }
        return actions
    }

    /// The upstream's response is not HTTP the gateway forwards (`reason` for the log).
    mutating func upstreamBrokeProtocol(reason: String) -> Actions {
        guard case .forwarding = state else { return unexpected("upstreamBrokeProtocol") }
        return fail(status: 502, reason: reason, counting: .upstreamProtocolError)
    }

    /// The upstream closed its connection (or the connect was refused: `connected` false). When connected, the
    /// executor first lets the parser see the end (`responseEnded(... upstreamEnded: true)` for a body that
    /// runs until close); this event means the response is cut.
    mutating func upstreamClosed() -> Actions {
        switch state {
        case .connecting(var forwarding):
            // The connect was refused: skip this server for a while and try another one once.
            var actions = Actions()
            release(reuse: false, serverFailed: true, into: &actions)
            guard !forwarding.retried, forwarding.servers > 1 else {
                actions.append(contentsOf: fail(status: 502, reason: nil))
                return actions
            }
            state = .closed  // placeholder, see requestBody
            forwarding.retried = true
            state = .connecting(forwarding)
            actions.append(.connectUpstream(excluding: forwarding.server))
            return actions
        case .forwarding(var forwarding):
            // A kept-alive connection the server closed before answering: retry once on a fresh one when safe.
            let request = forwarding.request
            if forwarding.upstreamReused, !forwarding.response.started, !forwarding.retried, !forwarding.bodySent,
                request.head.framing == .none, request.isIdempotent
            {
                state = .closed  // placeholder, see requestBody
                forwarding.retried = true
                forwarding.response = .awaitingHead
                heldHead = nil
                state = .connecting(forwarding)
                var actions = Actions()
                release(reuse: false, serverFailed: false, into: &actions)
                actions.append(.connectUpstream(excluding: nil))
                return actions
            }
            return fail(status: 502, reason: "upstream-truncated")
        case .tunnelling(let request):
            // The upstream ended the tunnel: what it sent last goes to the client, then the client's side closes.
            var actions = Actions(.flushToClient, note(request, status: 101, error: nil))
            close(after: &actions)
            return actions
        default:
            return unexpected("upstreamClosed")
        }
    }

    /// The upstream connection's timer fired.
    mutating func upstreamTimerFired() -> Actions {
        switch state {
        case .connecting:
            return fail(status: 502, reason: "upstream-connect-timeout", counting: .upstreamConnectTimeout,
                        serverFailed: true)
        case .forwarding(let forwarding):
            if !forwarding.requestComplete, !clientPaused, timer == .body {
                // The gateway is waiting for the client's body, not for the upstream (which may well wait for that
                // body before it answers): the client's body timeout decides, with a 408, not a 504.
                return Actions(.armUpstreamTimer(.response))
            }
            return fail(status: 504, reason: "upstream-response-timeout", counting: .upstreamResponseTimeout)
        default:
            return unexpected("upstreamTimerFired")
        }
    }

    // MARK: Backpressure

    /// The client sent bytes.
    mutating func clientReadable(flooding: Bool) -> Actions {
        switch state {
        case .readingHead:
            return Actions(.readNextHead)
        case .forwarding(let forwarding) where !forwarding.requestComplete:
            return Actions(.readRequestBody)
        case .answeringLocally(let local) where !local.bodyComplete:
            return Actions(.readLocalBody)
        case .tunnelling:
            return Actions(.tunnelToUpstream)
        case .closing:
            return Actions(.discardClientInput)
        case .closed:
            // A race, not a fault: the read callback was already due when the connection closed.
            return Actions()
        case .deciding, .authorizing, .connecting, .forwarding, .answeringLocally:
            // Pipelined requests beyond one head's worth wait unread in the kernel rather than in our memory.
            guard flooding, !clientPaused else { return Actions() }
            clientPaused = true
            return Actions(.pauseClientReads)
        }
    }

    /// The upstream has more than the high-water mark unsent: stop reading the client.
    mutating func upstreamOutputFull() -> Actions {
        switch state {
        case .forwarding, .tunnelling: break
        default: return unexpected("upstreamOutputFull")
        }
        var actions = Actions()
        if !clientPaused {
            clientPaused = true
            actions.append(.pauseClientReads)
        }
        // The upstream is the slow side now: its response timeout (re-armed on every piece it took) governs,
        // not the client's body timeout.
        if timer == .body { actions.append(cancelTimer()) }
        return actions
    }

    /// The upstream took everything it was sent.
    mutating func upstreamOutputDrained() -> Actions {
        guard clientPaused else { return Actions() }
        switch state {
        case .forwarding(let forwarding):
            clientPaused = false
            return forwarding.requestComplete ? Actions(.resumeClientReads)
                : Actions(.resumeClientReads, .readRequestBody)
        case .tunnelling:
            clientPaused = false
            return Actions(.resumeClientReads, .tunnelToUpstream)
        default:
            // The client was paused for flooding behind a request that is no longer forwarded: it stays paused
            // until the next head is awaited.
            return Actions()
        }
    }

    /// The client has more than the high-water mark unsent: stop reading the upstream (the held head goes first).
    mutating func clientOutputFull() -> Actions {
        var actions = Actions()
        switch state {
        case .forwarding(let forwarding):
            if case .headHeld = forwarding.response { _ = startResponse(&actions) }
        case .tunnelling: break
        default: return unexpected("clientOutputFull")
        }
        if !upstreamPaused {
            upstreamPaused = true
            actions.append(.pauseUpstreamReads)
        }
        return actions
    }

    /// Everything written to the client went out.
    mutating func clientOutputDrained() -> Actions {
        switch state {
        case .closing(flushed: false):
            state = .closing(flushed: true)
            return Actions(.shutdownWrite, arm(.linger))
        case .forwarding where upstreamPaused:
            upstreamPaused = false
            return Actions(.resumeUpstreamReads, .armUpstreamTimer(.response), .readResponse)
        case .tunnelling where upstreamPaused:
            upstreamPaused = false
            return Actions(.resumeUpstreamReads, .tunnelToClient)
        default:
            // Nothing waits for the client to read (a writable callback after an answer, or after the last flush).
            return Actions()
        }
    }

    // MARK: Tunnel

    /// Bytes moved through the tunnel: it is not idle.
    mutating func tunnelMoved() -> Actions {
        guard case .tunnelling = state else { return unexpected("tunnelMoved") }
        return Actions(arm(.tunnelIdle))
    }

    // MARK: Timers, the client leaving, draining

    /// The client timer fired (the executor arms it for `timer`'s duration).
    mutating func timerFired() -> Actions {
        guard let purpose = timer else { return unexpected("timerFired without a timer") }
        timer = nil
        switch purpose {
        case .idle, .flush, .linger:
            return abort()
        case .header:
            var actions = Actions(.count(.headerTimeout), answering(.error(408), close: true, headOnly: false))
            close(after: &actions)
            return actions
        case .body:
            // The client stopped sending its body. If nothing was answered yet, say so; either way, close.
            switch state {
            case .answeringLocally:
                return localAnswered(.error(408, "request_timeout"), error: "body-timeout", forceClose: true)
            case .forwarding(let forwarding) where !forwarding.response.started:
                var actions = Actions(answering(.error(408), close: true, headOnly: false),
                                      note(forwarding.request, status: 408, error: nil))
                close(after: &actions)
                return actions
            default:
                return abort()
            }
        case .tunnelIdle:
            guard case .tunnelling(let request) = state else { return unexpected("tunnel timer outside a tunnel") }
            return abort(Actions(note(request, status: 101, error: "tunnel-idle-timeout")))
        }
    }

    /// The session the tunnel was opened with ended (logout, revocation). `closeFrameWritten`: the client was just
    /// sent a WebSocket close frame, so the upstream goes at once and the client's side closes once that is
    /// flushed (bounded by the flush timer); otherwise both sides close at once. Outside a tunnel nothing happens
    /// (each request is checked on its own anyway).
    mutating func sessionEnded(closeFrameWritten: Bool) -> Actions {
        guard case .tunnelling(let request) = state else { return Actions() }
        let logged = note(request, status: 101, error: "tunnel-session-revoked")
        guard closeFrameWritten else { return abort(Actions(logged)) }
        var actions = Actions(logged)
        close(after: &actions)
        return actions
    }

    /// A 101 was relayed and bytes are tunnelled.
    var isTunnelling: Bool {
        if case .tunnelling = state { return true }
        return false
    }

    /// The client closed its connection (or it failed).
    mutating func clientClosed() -> Actions {
        switch state {
        case .tunnelling:
            // Flush what the client sent last, then let the upstream see the end too.
            return abort(Actions(.flushToUpstream))
        case .closed:
            // A race, not a fault: the close was already under way.
            return Actions()
        default:
            return abort()
        }
    }

    /// The client's bytes broke HTTP framing in a way no answer fits (a head where a body was parsed): close.
    mutating func clientBrokeFraming() -> Actions { abort() }

    /// A graceful drain starts: idle connections close now, busy ones after their answer. `idle`: nothing of a
    /// next request is buffered.
    ///
    /// A connection that has not yet sent a whole request is left alone: it was just accepted and its request may
    /// be in the kernel, unread; closing now would answer it with a reset. It gets its answer (with
    /// `Connection: close`) or its header timeout.
    mutating func drain(idle: Bool) -> Actions {
        draining = true
        if case .readingHead = state, served > 0, idle { return abort() }
        return Actions()
    }

    // MARK: Steps shared by the events

    private mutating func note(_ request: ExchangeRequest, status: Int, error: String?) -> Action {
        logNote = LogNote(request: request, error: error)
        return .log(status: status)
    }

    private mutating func noteRefusal(status: Int, reason: String) -> Action {
        logNote = LogNote(request: nil, error: reason)
        return .logRefusal(status: status)
    }

    private mutating func answering(_ answer: Answer, close: Bool, headOnly: Bool) -> Action {
        self.answer = answer
        return .answer(close: close, headOnly: headOnly)
    }

    private mutating func ending(_ action: Action, _ trailers: HeaderFields) -> Action {
        self.trailers = trailers
        return action
    }

    private mutating func arm(_ purpose: Timer) -> Action {
        timer = purpose
        return .armTimer(purpose)
    }

    private mutating func cancelTimer() -> Action {
        timer = nil
        return .cancelTimer
    }

    /// Writes the held head if it waits and returns the response's framing decision (nil unless the state is
    /// `.forwarding` with a final head, held or written).
    private mutating func startResponse(_ actions: inout Actions) -> FinalResponse? {
        guard case .forwarding(var forwarding) = state else { return nil }
        switch forwarding.response {
        case .awaitingHead:
            return nil
        case .streaming(let final):
            return final
        case .headHeld(let final):
            state = .closed  // placeholder, see requestBody
            forwarding.response = .streaming(final)
            state = .forwarding(forwarding)
            actions.append(.writeResponseHead(framing: final.framing, close: final.close))
            return final
        }
    }

    /// An answer written here (no upstream): a refusal or a local endpoint's. `close` nil: decided here — the
    /// connection ends when a request body would otherwise be left unread (it must never be parsed as a
    /// request), and of course when the client or a drain asks for it.
    private mutating func answerHere(_ request: ExchangeRequest, _ answer: Answer, status: Int, error: String?,
                                     close: Bool?, into actions: inout Actions, bodyConsumed: Bool = false) {
        let close = close ?? (request.hasBody || !request.head.keepAlive || draining)
        actions.append(answering(answer, close: close, headOnly: request.head.method == .head))
        actions.append(note(request, status: status, error: error))
        if close {
            self.close(after: &actions)
        } else {
            // The (empty) end of the message is consumed so the parser is ready for the next request.
            if !bodyConsumed { actions.append(.consumeEmptyBody) }
            nextRequest(after: &actions)
        }
    }

    /// Something failed upstream (`reason` says what, for the log). Before the client saw any of the response:
    /// a clean error answer; after: close the client, so a truncated response can never look complete, and log
    /// the failure as such (never as the status the head carried).
    private mutating func fail(status: Int, reason: String?, counting counter: Counter? = nil,
                               serverFailed: Bool = false) -> Actions {
        let forwarding: Forwarding
        switch state {
        case .connecting(let f), .forwarding(let f): forwarding = f
        default: return unexpected("upstream failure")
        }
        var actions = Actions()
        if let counter { actions.append(.count(counter)) }
        actions.append(.count(.upstreamError))
        let request = forwarding.request
        if forwarding.response.started {
            actions.append(note(request, status: status,
                                error: "\(reason ?? "upstream-failed"); response cut after the head"))
            return abort(actions)
        }
        heldHead = nil
        actions.append(note(request, status: status, error: reason))
        release(reuse: false, serverFailed: serverFailed, into: &actions)
        let close = !forwarding.requestComplete || !request.head.keepAlive || draining
        actions.append(answering(.error(status), close: close, headOnly: request.head.method == .head))
        if close { self.close(after: &actions) } else { nextRequest(after: &actions) }
        return actions
    }

    private mutating func release(reuse: Bool, serverFailed: Bool, into actions: inout Actions) {
        guard upstreamInUse else { return }
        upstreamInUse = false
        if upstreamPaused {
            upstreamPaused = false
            actions.append(.resumeUpstreamReads)
        }
        actions.append(.releaseUpstream(reuse: reuse, serverFailed: serverFailed))
    }

    /// Ready for the next request on a kept-alive connection; a pipelined one is read at once.
    private mutating func nextRequest(after actions: inout Actions) {
        served += 1
        state = .readingHead
        actions.append(.prepareForNextRequest)
        if clientPaused {
            clientPaused = false
            actions.append(.resumeClientReads)
        }
        actions.append(arm(.idle))
        if draining {
            close(after: &actions)
        } else {
            actions.append(.readNextHead)
        }
    }

    /// Stops reading requests, lets the output drain, then closes (lingering briefly so the peer reads the
    /// answer instead of a reset).
    private mutating func close(after actions: inout Actions) {
        switch state {
        case .closing, .closed: return
        default: break
        }
        state = .closing(flushed: false)  // (a held head may still be written by an action of this list)
        release(reuse: false, serverFailed: false, into: &actions)
        // Bounded: a client that never reads its answer does not keep the connection forever.
        actions.append(.discardClientInput)
        actions.append(arm(.flush))
        actions.append(.shutdownWhenFlushed)
    }

    /// Closes both sides at once (errors, timeouts, the client went away); logs a forwarded request that got
    /// no complete answer (499: the client left first).
    private mutating func abort(_ prefix: Actions = Actions()) -> Actions {
        var actions = prefix
        switch state {
        case .forwarding(let forwarding):
            if !actions.logs {
                if case .headHeld(let final) = forwarding.response {
                    actions.append(note(forwarding.request, status: final.status, error: nil))
                } else if case .streaming(let final) = forwarding.response {
                    actions.append(note(forwarding.request, status: final.status, error: nil))
                } else {
                    actions.append(note(forwarding.request, status: 499, error: nil))
                }
            }
        case .tunnelling(let request):
            if !actions.logs { actions.append(note(request, status: 101, error: nil)) }
        case .closed:
            return Actions()
        default:
            break
        }
        state = .closed
        heldHead = nil
        release(reuse: false, serverFailed: false, into: &actions)
        if timer != nil { actions.append(cancelTimer()) }
        actions.append(.close)
        return actions
    }

    /// An event that cannot happen in the current state: a bug in the executor or the machine. Fails in debug
    /// builds (and the unit tests); a release build closes the connection rather than the worker.
    private mutating func unexpected(_ event: StaticString) -> Actions {
        assertionFailure("ExchangeMachine: \(event) in state \(state)")
        return abort()
    }
}

/// The actions one event returns, in order: a small inline list (no allocation per event).
struct ExchangeMachineActions: Sequence {
    typealias Action = ExchangeMachine.Action
    private var a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11: Action?
    private(set) var count = 0

    init() {}

    // Fixed arities, not a variadic (which would allocate an array per event).
    init(_ a: Action) { append(a) }
    init(_ a: Action, _ b: Action) { append(a); append(b) }
    init(_ a: Action, _ b: Action, _ c: Action) { append(a); append(b); append(c) }
    init(_ a: Action, _ b: Action, _ c: Action, _ d: Action, _ e: Action, _ f: Action) {
        append(a); append(b); append(c); append(d); append(e); append(f)
    }

    mutating func append(_ action: Action) {
        switch count {
        case 0: a0 = action
        case 1: a1 = action
        case 2: a2 = action
        case 3: a3 = action
        case 4: a4 = action
        case 5: a5 = action
        case 6: a6 = action
        case 7: a7 = action
        case 8: a8 = action
        case 9: a9 = action
        case 10: a10 = action
        case 11: a11 = action
        default: preconditionFailure("ExchangeMachineActions: more than 12 actions")
        }
        count += 1
    }

    mutating func append(contentsOf other: ExchangeMachineActions) {
        for index in 0..<other.count { append(other[index]) }
    }

    subscript(index: Int) -> Action {
        precondition(index < count)
        switch index {
        case 0: return a0!
        case 1: return a1!
        case 2: return a2!
        case 3: return a3!
        case 4: return a4!
        case 5: return a5!
        case 6: return a6!
        case 7: return a7!
        case 8: return a8!
        case 9: return a9!
        case 10: return a10!
        default: return a11!
        }
    }

    /// A log line is among them (an abort after a logged failure does not log again).
    var logs: Bool {
        for index in 0..<count { if case .log = self[index] { return true } }
        return false
    }

    struct Iterator: IteratorProtocol {
        let actions: ExchangeMachineActions
        var index = 0
        mutating func next() -> Action? {
            guard index < actions.count else { return nil }
            defer { index += 1 }
            return actions[index]
        }
    }

    func makeIterator() -> Iterator { Iterator(actions: self) }
}

extension ExchangeMachine {
    typealias Actions = ExchangeMachineActions
}
