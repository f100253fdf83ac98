import CHiredis
package import GatehouseIO
import Glibc
import Logging

/// One reply from Redis, as hiredis 0.14 reads RESP2. Copied out of hiredis's reply object before the callback
/// returns (hiredis frees it then).
package enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case array([RedisReply])
    /// A null bulk string or a null array (hiredis does not tell them apart).
    case null
}

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

/// One hiredis async connection to Redis on one event loop: connect, `AUTH`, `SELECT`, then commands (or, for a
/// subscriber, `SUBSCRIBE`), with per-call timeouts and reconnection.
///
/// This file is the only one that imports hiredis. Threading: everything here, including every completion and
/// the message handler, runs on `loop`'s thread. Create the connection on that thread, or before the loop runs
/// (it registers events with the lock-free base, as `LoopExecutor` does).
///
/// Life of a connection:
/// - `start()` resolves the host (a name is resolved on a short-lived thread, never on the loop: `getaddrinfo`
///   blocks), calls `redisAsyncConnect` with the address, attaches the context to the loop's `event_base` with
///   hiredis's libevent adapter (`redisLibeventAttach`), and pipelines the handshake: `AUTH [user] password` when
///   there is a password, `ROLE` when `settings.verifyMaster` (the reply must say `master`), `SELECT db` when
///   the database is not 0, then `PING` (commands) or `SUBSCRIBE channel` (subscriber). The connection is ready when the last handshake reply arrives; an error reply drops it.
/// - Calls made while the very first attempt is in progress (a worker that just started) wait in a Swift queue
///   until ready, so nothing ever runs before `SELECT`. Once a connection has failed or been lost, calls fail at
///   once with `unreachable` until a handshake succeeds again: a store that is down answers 503 without a wait.
/// - Each call has a deadline. When one passes, that call and every other unanswered one fail with `timeout` and
///   the connection is dropped: with a reply missing, the order of the later replies can no longer be trusted.
/// - A lost or dropped connection is re-made after a backoff: 100 ms, doubling to 5 s (±20% jitter), back to
///   100 ms once a handshake succeeds. `onDown` and `onReady` tell the owner.
///
/// C callbacks: hiredis gets plain `@convention(c)` trampolines (below). The context's `data` field holds this
/// object, unretained; the owner keeps the connection alive, and `close()`/`deinit` clear `data` before freeing
/// the context, so a callback that hiredis runs while freeing it (each unanswered call gets a NULL reply, then
/// the disconnect callback) finds `data == nil` and does nothing. A callback's `privdata` is the call's id (a
/// counter, never reused), not a pointer: a late or repeated callback can only miss in the table of sent calls.
/// hiredis also calls back from inside its own teardown when the server closes the socket; those callbacks clear
/// `data` first and never free the context (hiredis is already freeing it), and a context is never freed from
/// inside hiredis's connect callback (hiredis goes on using it after that callback returns).
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
        /// A resolver thread is looking up the host name.
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
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var sent: [UInt: Call] = [:]
    private var waiting: [Waiting] = []
    private var nextID: UInt = 1
    /// The id of the subscription's callback (hiredis keeps calling it, once per message); 0 when none.
    private var subscriptionID: UInt = 0
    /// When the attempt in progress (resolve, connect, handshake) must be done.
    private var handshakeDeadline: UInt64 = .max
    /// Failed attempts since the last successful handshake.
    private var failureStreak = 0
    private var lastFailure = "not connected yet"
    private var deadlineTimer: LoopTimer!
    private var armedDeadline: UInt64 = .max
    private var reconnectTimer: LoopTimer!
    /// Resolves host names off the loop (nil when the host is an IP address).
    private let executor: LoopExecutor?
    private var resolver: LoopThread?
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
        if Self.numericAddress(settings.host) == nil {
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
        if let context {
            context.pointee.data = nil
            redisAsyncFree(context)
        }
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
            lost(RedisError(.connectionLost, reason), dropContext: true)
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
        freeContext()
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
        if let address = Self.numericAddress(settings.host) {
            connect(to: address)
            return
        }
        guard let executor else { return }
        phase = .resolving
        let host = settings.host
        let thisAttempt = attempt
        let answer = executor.callback { [weak self] (result: ResolvedHost) in
            self?.resolved(result, attempt: thisAttempt)
        }
        do throws(IOError) {
            resolver = try LoopThread(name: "gh-redis-dns") { answer(Self.resolve(host)) }
        } catch {
            attemptFailed("cannot start the resolver thread: \(error)")
        }
    }

    private func resolved(_ result: ResolvedHost, attempt: UInt64) {
        resolver?.join()
        resolver = nil
        guard case .resolving = phase, attempt == self.attempt else { return }
        switch result {
        case .address(let address): connect(to: address)
        case .failed(let message): attemptFailed("cannot resolve \(settings.host): \(message)")
        }
    }

    private func connect(to address: String) {
        guard let ac = redisAsyncConnect(address, Int32(settings.port)) else {
            attemptFailed("redisAsyncConnect failed")
            return
        }
        if ac.pointee.err != 0 {
            let message = Self.errorString(ac)
            redisAsyncFree(ac)
            attemptFailed(message)
            return
        }
        ac.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        _ = withUnsafeMutablePointer(to: &ac.pointee.c) { redisEnableKeepAlive($0) }
        guard redisLibeventAttach(ac, loop.unsafeBase) == REDIS_OK else {
            ac.pointee.data = nil
            redisAsyncFree(ac)
            attemptFailed("cannot attach to the event loop")
            return
        }
        redisAsyncSetConnectCallback(ac, redisConnectTrampoline)
        redisAsyncSetDisconnectCallback(ac, redisDisconnectTrampoline)
        context = ac
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
                    lost(RedisError(.unreachable, "\(what) refused: \(Self.describe(reply))"), dropContext: true)
                case .failure:
                    break  // the connection is already down; `lost` has run
                }
            }
            guard send(step.0, id: takeID(), call: call) else {
                lost(RedisError(.unreachable, "hiredis refused \(what)"), dropContext: true)
                return
            }
        }
        if case .subscriber(let channel) = role {
            subscriptionID = takeID()
            guard issue([Array("SUBSCRIBE".utf8), channel], id: subscriptionID) else {
                lost(RedisError(.unreachable, "hiredis refused SUBSCRIBE"), dropContext: true)
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
        context = nil
        lost(RedisError(.unreachable, message), dropContext: false)
    }

    /// The connection is gone (or must go): fails every unanswered call, then schedules the next attempt.
    /// `dropContext`: free the hiredis context ourselves (false when hiredis is already freeing it).
    private func lost(_ error: RedisError, dropContext: Bool) {
        guard !isClosed else { return }
        let wasReady = isReady
        if dropContext {
            freeContext()
        } else if let context {
            context.pointee.data = nil
            self.context = nil
        }
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

    /// Frees the context without any of its callbacks reaching this object.
    private func freeContext() {
        guard let ac = context else { return }
        context = nil
        ac.pointee.data = nil
        // Inside one of this context's reply callbacks hiredis defers the free until the callback returns.
        redisAsyncFree(ac)
    }

    private func failEverything(_ error: RedisError) {
        let calls = sent
        let queued = waiting
        sent.removeAll()
        waiting.removeAll()
        subscriptionID = 0
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
        guard issue(args, id: id) else { return false }
        sent[id] = call
        arm(call.deadline)
        return true
    }

    /// `redisAsyncCommandArgv`: hiredis copies the arguments into its output buffer before returning.
    private func issue(_ args: [[UInt8]], id: UInt) -> Bool {
        guard let ac = context else { return false }
        var flat: [UInt8] = []
        var lengths: [Int] = []
        lengths.reserveCapacity(args.count)
        for arg in args {
            flat.append(contentsOf: arg)
            lengths.append(arg.count)
        }
        flat.append(0)  // never an empty buffer, so there is always a base address
        return flat.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                var pointers: [UnsafePointer<CChar>?] = []
                pointers.reserveCapacity(args.count)
                var offset = 0
                for length in lengths {
                    pointers.append(chars.baseAddress! + offset)
                    offset += length
                }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { argvlen in
                        redisAsyncCommandArgv(ac, redisReplyTrampoline, UnsafeMutableRawPointer(bitPattern: id),
                                              Int32(args.count), argv.baseAddress, argvlen.baseAddress) == REDIS_OK
                    }
                }
            }
        }
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
            lost(RedisError(.timeout, "no connection within \(settings.connectTimeout)"), dropContext: true)
            return
        }
        if sent.contains(where: { $0.value.deadline <= now }) {
            lost(RedisError(.timeout, "no reply within the call's timeout"), dropContext: true)
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

    // MARK: hiredis callbacks (via the trampolines)

    fileprivate func didReply(_ ac: UnsafeMutablePointer<redisAsyncContext>, id: UInt,
                              reply: UnsafeMutablePointer<redisReply>?) {
        guard ac == context else { return }
        guard let reply else {
            // hiredis is tearing the context down (the server closed the socket, or a read failed).
            lost(RedisError(.connectionLost, Self.errorString(ac)), dropContext: false)
            return
        }
        let value = Self.convert(reply)
        if id == subscriptionID && subscriptionID != 0 {
            subscriptionReply(value)
            return
        }
        guard let call = sent.removeValue(forKey: id) else { return }
        call.completion(.success(value))
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

    fileprivate func didConnect(_ ac: UnsafeMutablePointer<redisAsyncContext>, ok: Bool) {
        guard ac == context, !ok else { return }
        // hiredis frees the context right after this callback: only forget it here.
        lost(RedisError(.unreachable, Self.errorString(ac)), dropContext: false)
    }

    fileprivate func didDisconnect(_ ac: UnsafeMutablePointer<redisAsyncContext>) {
        guard ac == context else { return }
        lost(RedisError(.connectionLost, ac.pointee.err != 0 ? Self.errorString(ac) : "disconnected"),
             dropContext: false)
    }

    // MARK: Helpers

    private static func deadline(after timeout: Duration) -> UInt64 {
        let (seconds, attoseconds) = timeout.components
        let nanos = UInt64(max(0, seconds)) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        return Clocks.monotonicNanoseconds() &+ nanos
    }

    private static func errorString(_ ac: UnsafeMutablePointer<redisAsyncContext>) -> String {
        if let errstr = ac.pointee.errstr { return String(cString: errstr) }
        return "error \(ac.pointee.err)"
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str, r.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: r.len))
        }
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<r.elements).map { index in
                elements[index].map(convert) ?? .null
            })
        default: return .null
        }
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

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address itself when `host` is an IPv4 or IPv6 literal.
    static func numericAddress(_ host: String) -> String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 { return host }
        return nil
    }

    private enum ResolvedHost: Sendable {
        case address(String)
        case failed(String)
    }

    /// `getaddrinfo` on the resolver thread; the first IPv4 address, else the first IPv6 one.
    private static func resolve(_ host: String) -> ResolvedHost {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let list else { return .failed(String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        var candidates: [(Int32, String)] = []
        var node: UnsafeMutablePointer<addrinfo>? = list
        while let entry = node {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if entry.pointee.ai_family == AF_INET, let sa = entry.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                }
                candidates.append((AF_INET, Self.string(text)))
            } else if entry.pointee.ai_family == AF_INET6, let sa = entry.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                }
                candidates.append((AF_INET6, Self.string(text)))
            }
            node = entry.pointee.ai_next
        }
        if let v4 = candidates.first(where: { $0.0 == AF_INET }) { return .address(v4.1) }
        if let v6 = candidates.first { return .address(v6.1) }
        return .failed("no address")
    }
}

// The trampolines hiredis calls. Each finds its `RedisConnection` in the context's `data` (unretained; nil once the
// connection has let go of the context) and forwards on the loop thread it was called on.

private let redisReplyTrampoline: @convention(c) (UnsafeMutablePointer<redisAsyncContext>?, UnsafeMutableRawPointer?,
                                                  UnsafeMutableRawPointer?) -> Void = { ac, reply, privdata in
    guard let ac, let data = ac.pointee.data else { return }
    Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
        .didReply(ac, id: UInt(bitPattern: privdata), reply: reply?.assumingMemoryBound(to: redisReply.self))
}

private let redisConnectTrampoline: @convention(c) (UnsafePointer<redisAsyncContext>?, Int32) -> Void = { ac, status in
    guard let ac, let data = ac.pointee.data else { return }
    Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
        .didConnect(UnsafeMutablePointer(mutating: ac), ok: status == REDIS_OK)
}

private let redisDisconnectTrampoline: @convention(c) (UnsafePointer<redisAsyncContext>?, Int32) -> Void = { ac, _ in
    guard let ac, let data = ac.pointee.data else { return }
    Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue().didDisconnect(UnsafeMutablePointer(mutating: ac))
}
