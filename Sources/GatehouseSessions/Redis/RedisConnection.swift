package import GatehouseIO
import Logging

/// Why a Redis call got no reply. Each maps to a `StoreError`, so store callers fail closed (503) with a reason.
package struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable {
        /// Not connected (Redis down, refused the handshake, or a reconnect is pending).
        case unreachable
        /// No reply within the call's timeout; the connection was dropped and is being re-made.
        case timeout
        /// The connection broke with the call unanswered.
        case connectionLost = "connection-lost"
        /// The store was closed.
        case closed = "store-closed"
    }

    package let kind: Kind
    /// Details for logs (an errno message, Redis's own error). Never holds a password.
    package let detail: String

    package init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The reason store callers see: `unreachable`, `timeout`, `connection-lost` or `store-closed`.
    package var storeError: StoreError { StoreError(kind.rawValue) }
    package var description: String { "\(kind.rawValue): \(detail)" }
}

/// One connection to Redis on one event loop: connect, `AUTH`, `SELECT`, then commands (or, for a subscriber,
/// `SUBSCRIBE`), with per-call timeouts and reconnection. Pure Swift over GatehouseIO's `RedisClient` (the
/// hiredis wrapper, which owns every C pointer and callback) and `HostResolver`.
///
/// Threading: everything here, including every completion and the message handler, runs on `loop`'s thread.
/// Create the connection on that thread, or before the loop runs (it registers events with the lock-free
/// base, as `LoopExecutor` does).
///
/// Life of a connection:
/// - `start()` resolves the host (a name is resolved off the loop by `HostResolver`, on its worker pool:
///   `getaddrinfo` blocks), makes a `RedisClient` for the address (hiredis attached to the loop), and pipelines
///   the handshake: `AUTH [user] password` when there is a password, `ROLE` when `settings.verifyMaster` (the
///   reply must say `master`), `SELECT db` when the database is not 0, then `PING` (commands) or
///   `SUBSCRIBE channel` (subscriber). The connection is ready when the last handshake reply arrives; an error
///   reply drops it.
/// - Calls made while the very first attempt is in progress (a worker that just started) wait in a Swift queue
///   until ready, so nothing ever runs before `SELECT`. Once a connection has failed or been lost, calls fail at
///   once with `unreachable` until a handshake succeeds again: a store that is down answers 503 without a wait.
/// - Each call has a deadline. When one passes, that call and every other unanswered one fail with `timeout` and
///   the connection is dropped: with a reply missing, the order of the later replies can no longer be trusted.
/// - A lost or dropped connection is re-made after a backoff: 100 ms, doubling to 5 s (±20% jitter), back to
///   100 ms once a handshake succeeds. `onDown` and `onReady` tell the owner.
///
/// A dropped client is closed (`RedisClient.close()`), after which none of its callbacks run; a client that
/// ended by itself calls `clientEnded` once and is spent. Either way the next attempt makes a new client.
package final class RedisConnection {
    /// What the connection is for.
    package enum Role {
        /// Request/reply commands.
        case commands
        /// `SUBSCRIBE channel`; every message's payload goes to `onMessage`.
        case subscriber(channel: [UInt8])
    }

    private enum Phase {
        /// Waiting for `start()`.
        case idle
        /// `HostResolver` is looking up the host name.
        case resolving
        /// TCP connect and handshake in flight.
        case connecting
        case ready
        /// Down; `reconnectTimer` is armed.
        case backoff
        case closed
    }

    /// A call handed to hiredis (or waiting for the connection to be ready).
    private struct Call {
        let deadline: UInt64
        let completion: (Result<RedisReply, RedisError>) -> Void
    }

    private struct Waiting {
        let id: UInt
        let args: [[UInt8]]
        let call: Call
    }

    private unowned let loop: EventLoop
    private let settings: RedisSettings
    private let role: Role
    private let name: String
    private let logger = Logger(label: "gatehouse.sessions.redis")

    private var phase = Phase.idle
    private var client: RedisClient?
    private var sent: [UInt: Call] = [:]
    private var waiting: [Waiting] = []
    private var nextID: UInt = 1
    /// When the attempt in progress (resolve, connect, handshake) must be done.
    private var handshakeDeadline: UInt64 = .max
    /// Failed attempts since the last successful handshake.
    private var failureStreak = 0
    private var lastFailure = "not connected yet"
    private var deadlineTimer: LoopTimer!
    private var armedDeadline: UInt64 = .max
    private var reconnectTimer: LoopTimer!
    /// Brings `HostResolver`'s answers back to the loop (nil when the host is an IP address).
    private let executor: LoopExecutor?
    private var attempt: UInt64 = 0

    /// Messages of a subscriber connection (the payload of each `message` push).
    package var onMessage: (([UInt8]) -> Void)?
    /// The handshake completed (after every (re)connect).
    package var onReady: (() -> Void)?
    /// A ready connection was lost or dropped (after its unanswered calls failed).
    package var onDown: ((RedisError) -> Void)?
    /// Commands handed to Redis on this connection, handshakes excluded (tests count round trips with it).
    package private(set) var commandsSent = 0

    /// Creates a connection; `start()` connects.
    /// - Throws: `StoreError` when the host is a name and no executor can be made for the resolver's answers.
    package init(loop: EventLoop, settings: RedisSettings, role: Role, name: String) throws(StoreError) {
        self.loop = loop
        self.settings = settings
        self.role = role
        self.name = name
        if HostResolver.numericAddress(settings.host) == nil {
            do throws(IOError) {
                executor = try LoopExecutor(loop: loop)
            } catch {
                throw StoreError("redis \(name): \(error)")
            }
        } else {
            executor = nil
        }
        deadlineTimer = LoopTimer(loop: loop) { [unowned self] in checkDeadlines() }
        reconnectTimer = LoopTimer(loop: loop) { [unowned self] in startAttempt() }
    }

    deinit {
        client?.close()
    }

    /// True when the handshake is done and the connection answers calls.
    package var isReady: Bool { if case .ready = phase { true } else { false } }

    /// True when a call made now would be sent or wait for a connection in progress; false when it would fail
    /// at once (down and waiting for the next attempt, or a reconnect after failed attempts).
    package var acceptsCalls: Bool {
        switch phase {
        case .ready: true
        case .idle, .resolving, .connecting: failureStreak == 0
        case .backoff, .closed: false
        }
    }

    /// The reason of the last failure, for `unreachable` errors and logs.
    package var lastError: String { lastFailure }

    /// Starts connecting. Idempotent.
    package func start() {
        guard case .idle = phase else { return }
        startAttempt()
    }

    /// Drops the connection (failing unanswered calls with `connection-lost`) and reconnects after the backoff.
    package func restart(reason: String) {
        switch phase {
        case .ready, .connecting, .resolving:
            lost(RedisError(.connectionLost, reason))
        case .idle, .backoff, .closed:
            break
        }
    }

    /// Closes for good: unanswered calls fail with `store-closed`. Idempotent.
    package func close() {
        guard !isClosed else { return }
        phase = .closed
        deadlineTimer.cancel()
        reconnectTimer.cancel()
        dropClient()
        executor?.close()
        failEverything(RedisError(.closed, "closed"))
    }

    private var isClosed: Bool { if case .closed = phase { true } else { false } }

    /// Sends `args` (command name first) and calls `completion` with the reply (an error reply is a
    /// `.success(.error(...))`) or with why there is none, within `timeout`. May call `completion` before
    /// returning when the connection is down.
    package func command(_ args: [[UInt8]], timeout: Duration,
                         _ completion: @escaping (Result<RedisReply, RedisError>) -> Void) {
        let call = Call(deadline: Self.deadline(after: timeout), completion: completion)
        switch phase {
        case .ready:
            let id = takeID()
            guard send(args, id: id, call: call) else {
                completion(.failure(RedisError(.connectionLost, "hiredis refused the command")))
                return
            }
            commandsSent += 1
        case .closed:
            completion(.failure(RedisError(.closed, "closed")))
        case .idle, .resolving, .connecting, .backoff:
            guard acceptsCalls else {
                completion(.failure(RedisError(.unreachable, lastFailure)))
                return
            }
            waiting.append(Waiting(id: takeID(), args: args, call: call))
            arm(call.deadline)
        }
    }

    // MARK: Connecting

    private func startAttempt() {
        guard !isClosed else { return }
        attempt &+= 1
        handshakeDeadline = Self.deadline(after: settings.connectTimeout)
        arm(handshakeDeadline)
        if let address = HostResolver.numericAddress(settings.host) {
            connect(to: address)
            return
        }
        guard let executor else { return }
        phase = .resolving
        let thisAttempt = attempt
        HostResolver.resolve(settings.host, on: executor) { [weak self] answer in
            self?.resolved(answer, attempt: thisAttempt)
        }
    }

    private func resolved(_ result: HostResolver.Answer, attempt: UInt64) {
        guard case .resolving = phase, attempt == self.attempt else { return }
        switch result {
        case .address(let address): connect(to: address)
        case .failed(let message): attemptFailed("cannot resolve \(settings.host): \(message)")
        }
    }

    private func connect(to address: String) {
        let thisAttempt = attempt
        do throws(RedisClientError) {
            client = try RedisClient(loop: loop, address: address, port: settings.port) { [unowned self] ending in
                clientEnded(ending, attempt: thisAttempt)
            }
        } catch {
            attemptFailed(error.message)
            return
        }
        phase = .connecting
        handshake()
    }

    /// Pipelines AUTH / SELECT / PING (or SUBSCRIBE); ready when the last one answers as expected.
    private func handshake() {
        let deadline = handshakeDeadline
        var steps: [([[UInt8]], (RedisReply) -> Bool)] = []
        if let password = settings.password {
            var auth = [Array("AUTH".utf8)]
            if let user = settings.username { auth.append(Array(user.utf8)) }
            auth.append(Array(password.utf8))
            steps.append((auth, { if case .status = $0 { true } else { false } }))
        }
        if settings.verifyMaster {
            // Sentinel mode: a server that is not (or no longer) the master is refused like a failed AUTH.
            steps.append(([Array("ROLE".utf8)], { RedisRole($0)?.isMaster ?? false }))
        }
        if case .commands = role {
            if settings.db != 0 {
                steps.append(([Array("SELECT".utf8), Array(String(settings.db).utf8)],
                              { if case .status = $0 { true } else { false } }))
            }
            steps.append(([Array("PING".utf8)], { $0 == .status("PONG") }))
        }
        for (index, step) in steps.enumerated() {
            let isLast = index == steps.count - 1 && !isSubscriber
            let what = String(decoding: step.0[0], as: UTF8.self)
            let call = Call(deadline: deadline) { [unowned self] result in
                switch result {
                case .success(let reply) where step.1(reply):
                    if isLast { becomeReady() }
                case .success(let reply):
                    lost(RedisError(.unreachable, "\(what) refused: \(Self.describe(reply))"))
                case .failure:
                    break  // the connection is already down; `lost` has run
                }
            }
            guard send(step.0, id: takeID(), call: call) else {
                lost(RedisError(.unreachable, "hiredis refused \(what)"))
                return
            }
        }
        if case .subscriber(let channel) = role {
            let subscribed = client?.subscribe([Array("SUBSCRIBE".utf8), channel]) { [unowned self] push in
                subscriptionReply(push)
            } ?? false
            guard subscribed else {
                lost(RedisError(.unreachable, "hiredis refused SUBSCRIBE"))
                return
            }
        }
    }

    private var isSubscriber: Bool { if case .subscriber = role { true } else { false } }

    private func becomeReady() {
        guard case .connecting = phase else { return }
        phase = .ready
        handshakeDeadline = .max
        if failureStreak > 0 {
            logger.notice("redis \(name): connected to \(endpoint) after \(failureStreak) failed attempt(s)")
        }
        failureStreak = 0
        let queued = waiting
        waiting.removeAll()
        let now = Clocks.monotonicNanoseconds()
        for entry in queued {
            if entry.call.deadline <= now {
                entry.call.completion(.failure(RedisError(.timeout, "no connection within the timeout")))
            } else if case .ready = phase, send(entry.args, id: entry.id, call: entry.call) {
                commandsSent += 1
            } else {
                entry.call.completion(.failure(RedisError(.connectionLost, "connection lost before sending")))
            }
        }
        onReady?()
        loop.flushPending()
    }

    private func attemptFailed(_ message: String) {
        lost(RedisError(.unreachable, message))
    }

    /// The client ended by itself (hiredis is freeing its context). Only the current attempt's client can
    /// call here: a dropped one is closed first, and a closed client never calls back.
    private func clientEnded(_ ending: RedisClient.Ending, attempt: UInt64) {
        guard attempt == self.attempt, client != nil else { return }
        switch ending {
        case .connectFailed(let message): lost(RedisError(.unreachable, message))
        case .lost(let message): lost(RedisError(.connectionLost, message))
        }
    }

    /// The connection is gone (or must go): drops the client, fails every unanswered call, then schedules the
    /// next attempt.
    private func lost(_ error: RedisError) {
        guard !isClosed else { return }
        let wasReady = isReady
        dropClient()
        failureStreak += 1
        lastFailure = error.detail
        phase = .backoff
        handshakeDeadline = .max
        if wasReady || failureStreak == 1 {
            logger.warning("redis \(name): \(endpoint): \(error); reconnecting")
        }
        reconnectTimer.schedule(after: backoff())
        failEverything(error)
        if wasReady { onDown?(error) }
        loop.flushPending()
    }

    /// Closes the client, so none of its callbacks reach this object again (a no-op for a client that ended
    /// by itself). Inside one of its reply callbacks hiredis defers the free until the callback returns.
    private func dropClient() {
        guard let client else { return }
        self.client = nil
        client.close()
    }

    private func failEverything(_ error: RedisError) {
        let calls = sent
        let queued = waiting
        sent.removeAll()
        waiting.removeAll()
        deadlineTimer.cancel()
        armedDeadline = .max
        for (_, call) in calls.sorted(by: { $0.key < $1.key }) { call.completion(.failure(error)) }
        for entry in queued { entry.call.completion(.failure(error)) }
    }

    private func backoff() -> Duration {
        let base = min(5_000, 100 << min(failureStreak - 1, 6))
        let jitter = Int.random(in: -(base / 5)...(base / 5))
        return .milliseconds(max(50, base + jitter))
    }

    private var endpoint: String {
        settings.host.contains(":") ? "[\(settings.host)]:\(settings.port)" : "\(settings.host):\(settings.port)"
    }

    // MARK: Calls

    private func takeID() -> UInt {
        defer { nextID &+= 1 }
        return nextID
    }

    private func send(_ args: [[UInt8]], id: UInt, call: Call) -> Bool {
        guard let client, client.send(args, onReply: { [unowned self] reply in didReply(id: id, reply) }) else {
            return false
        }
        sent[id] = call
        arm(call.deadline)
        return true
    }

    private func arm(_ deadline: UInt64) {
        guard deadline < armedDeadline || !deadlineTimer.isScheduled else { return }
        armedDeadline = deadline
        let now = Clocks.monotonicNanoseconds()
        deadlineTimer.schedule(after: .nanoseconds(Int64(deadline > now ? deadline - now : 0)))
    }

    private func checkDeadlines() {
        armedDeadline = .max
        // A timer may fire a little early on a coarse clock: treat "within 1 ms" as passed.
        let now = Clocks.monotonicNanoseconds() + 1_000_000
        if handshakeDeadline <= now {
            lost(RedisError(.timeout, "no connection within \(settings.connectTimeout)"))
            return
        }
        if sent.contains(where: { $0.value.deadline <= now }) {
            lost(RedisError(.timeout, "no reply within the call's timeout"))
            return
        }
        if waiting.contains(where: { $0.call.deadline <= now }) {
            let expired = waiting.filter { $0.call.deadline <= now }
            waiting.removeAll { $0.call.deadline <= now }
            for entry in expired {
                entry.call.completion(.failure(RedisError(.timeout, "no connection within the timeout")))
            }
            loop.flushPending()
        }
        var next = handshakeDeadline
        for call in sent.values { next = min(next, call.deadline) }
        for entry in waiting { next = min(next, entry.call.deadline) }
        if next != .max { arm(next) }
    }

    // MARK: Replies (from the client, on the loop)

    private func didReply(id: UInt, _ reply: RedisReply) {
        guard let call = sent.removeValue(forKey: id) else { return }
        call.completion(.success(reply))
        loop.flushPending()
    }

    private func subscriptionReply(_ reply: RedisReply) {
        guard case .array(let parts) = reply, parts.count >= 3, case .bulk(let kind) = parts[0] else { return }
        switch String(decoding: kind, as: UTF8.self) {
        case "subscribe":
            if case .connecting = phase { becomeReady() }
        case "message":
            if case .bulk(let payload) = parts[2] {
                onMessage?(payload)
                loop.flushPending()
            }
        default:
            break
        }
    }

    // MARK: Helpers

    private static func deadline(after timeout: Duration) -> UInt64 {
        let (seconds, attoseconds) = timeout.components
        let nanos = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        return Clocks.monotonicNanoseconds() &+ nanos
    }

    static func describe(_ reply: RedisReply) -> String {
        switch reply {
        case .status(let text), .error(let text): text
        case .integer(let value): String(value)
        case .bulk(let bytes): "a bulk string of \(bytes.count) bytes"
        case .array(let items):
            // `ROLE` answers start with the role: name it ("an array of 5 starting with \"slave\"").
            if case .bulk(let first)? = items.first, first.count <= 16 {
                "an array of \(items.count) starting with \"\(String(decoding: first, as: UTF8.self))\""
            } else {
                "an array of \(items.count)"
            }
        case .null: "nil"
        }
    }

    /// The address itself when `host` is an IPv4 or IPv6 literal (kept for callers of the old name; the check
    /// lives in `HostResolver`).
    static func numericAddress(_ host: String) -> String? {
        HostResolver.numericAddress(host)
    }
}
