import GatehouseIO
import Logging
import Synchronization

/// Whether one worker's store has its command connection up, readable from any thread (readiness, metrics).
final class StoreReachability: Sendable {
    private let up = Atomic<Bool>(false)
    var isUp: Bool { up.load(ordering: .relaxed) }
    func set(_ value: Bool) { up.store(value, ordering: .relaxed) }
}

/// One worker's face on the Redis session backend. Confined to that worker's loop: every call and every
/// completion happens on its thread (the `SessionStore` contract), so the cache needs no lock.
///
/// Two connections: `commands` (every store call, one Lua script or one plain command each) and `subscriber`
/// (the `P events` channel, see `RedisKeys`). Semantics are the embedded store's, call for call.
///
/// The lookup cache: `lookup` answers from a bounded per-worker cache of sessions fetched within `cacheTTL`
/// (and still live at `now`); everything else is `.needsFetch`, and `fetch` costs exactly one Redis command
/// (the `fetch` script, which also slides the idle expiry when due). Entries are made only while both
/// connections are up: an ended session's message drops its entry on every worker, and a fetch that overlapped
/// an invalidation (or a reconnect) is answered but not cached, since its reply may predate the change.
///
/// Unknown IDs are remembered too (the negative cache, as long and as many as the positive one), so a client
/// replaying one unknown cookie costs one Redis command per `cacheTTL`, not one per request. That is safe
/// because a session ID is 256 random bits, minted by the gateway and handed out only once its session is
/// stored: an ID that was unknown when looked up can only become a session if someone guessed it first. (A
/// session created by this worker drops its key from the negative cache all the same.)
///
/// An outage (either connection lost: a Redis stall past `timeout`, a restart) does not empty the cache at once:
/// for `outageGrace` after it began, entries that were fresh when it began are still served, so one stall does
/// not turn every signed-in user's requests into 503s. The price, and the bound: a session ended during the
/// outage elsewhere (another gateway or worker: its message cannot reach this one) may be accepted here until
/// the grace is over. When both connections are back, the cache starts over (messages may have been missed).
///
/// Failing closed: past the outage grace and the two caches, `lookup` answers `.unavailable(StoreError(
/// "unreachable"))` while the command connection is down (after a failed attempt; the worker's very first
/// connection attempt is waited for, within `timeout`);
/// every call fails with `unreachable`, `timeout`, `connection-lost` or `store-closed` within `timeout`.
package final class RedisSessionStore: SessionStore, ProviderSessionStore {
    /// How far a session's stored `last seen` may lag before a fetch moves it (the embedded store's interval),
    /// at most: a session with an idle timeout is written every quarter of it when that is shorter (the `fetch`
    /// script applies the same rule), so `idle_ttl: 10s` slides for a session in continuous use.
    package static let lastSeenWriteInterval: Int64 = EmbeddedSessionStore.lastSeenWriteInterval

    /// The write interval of a session with `idleTimeout` (0: none): min(60 s, idle / 4).
    package static func lastSeenWriteInterval(idleTimeout: Int64) -> Int64 {
        idleTimeout > 0 ? min(lastSeenWriteInterval, idleTimeout / 4) : lastSeenWriteInterval
    }

    private unowned let loop: EventLoop
    private let settings: RedisSettings
    let keys: RedisKeys
    let prefix: [UInt8]
    private let revocations: RevocationList
    private let accessTokenTTL: Int64
    private let clock: @Sendable () -> Int64
    private let logger = Logger(label: "gatehouse.sessions.redis")
    /// The three connections to the master; replaced together when the master moves (Sentinel), nil before
    /// the sentinels have named one. `writer` carries the writes that matter and their `WAIT` (nil when no
    /// write waits for replicas): a `WAIT` holds up the connection it is sent on, and lookups must not queue
    /// behind it.
    private var commands: RedisConnection?
    private var subscriber: RedisConnection?
    private var writer: RedisConnection?
    private var setupError: StoreError?
    /// Where the connections go (the URL's host, or the master the sentinels named last).
    package private(set) var master: RedisEndpoint?
    /// Asks the sentinels (with `settings.sentinel`).
    private var monitor: SentinelMonitor?
    /// Connections closed by a move, kept until the next turn of the loop (one may be calling back right now).
    private var retired: [RedisConnection] = []
    private var reaper: LoopTimer!
    /// Every second: asks the sentinels again while the master cannot be reached, re-reads `ROLE` (replicas
    /// for `replica_ack: auto`; a demoted master in Sentinel mode).
    private var roleTimer: LoopTimer!
    /// Replicas the master listed in its last `ROLE` answer.
    private var knownReplicas = 0
    /// Times the master moved (tests, metrics).
    package private(set) var masterChanges = 0
    /// Writes answered 503 because too few replicas acknowledged them in time (metrics).
    package private(set) var replicaAckFailures = 0

    private struct Cached {
        let active: ActiveSession
        let expiresAt: Int64
        let lastSeenAt: Int64
        let idleTimeout: Int64
        let storedAt: UInt64

        func isLive(at now: Int64) -> Bool {
            if now >= expiresAt { return false }
            if idleTimeout > 0, now - lastSeenAt >= idleTimeout { return false }
            return true
        }

        /// A cache hit does not move the stored last-seen: past the write interval the next request must reach
        /// Redis (the fetch slides it), or a short idle timeout would end a session in continuous use.
        func needsTouch(at now: Int64) -> Bool {
            idleTimeout > 0 && now - lastSeenAt >= RedisSessionStore.lastSeenWriteInterval(idleTimeout: idleTimeout)
        }
    }

    private var cache: [SessionKey: Cached] = [:]
    /// Unknown IDs, by when they were looked up (monotonic).
    private var unknown: [SessionKey: UInt64] = [:]
    private let cacheTTLNanoseconds: UInt64
    private let outageGraceNanoseconds: UInt64
    /// When the current outage began (monotonic); nil while both connections are up.
    private var outageSince: UInt64?
    /// Lookups answered `.absent` from the negative cache (metrics).
    package private(set) var negativeHits = 0
    /// Lookups answered from the cache during an outage's grace (metrics).
    package private(set) var outageHits = 0
    /// Bumped by every invalidation and every change of connection state: a fetch caches its answer only when
    /// the epoch did not move while it was in flight.
    private var epoch: UInt64 = 0
    private var closed = false

    /// Called after an invalidation message was applied (tests measure propagation with it).
    package var onInvalidation: ((SessionKey) -> Void)?
    /// Called when the subscription is (re)established and the revoked set has been read (tests wait for it).
    package var onSubscribed: (() -> Void)?

    /// Made by `RedisSessionBackend.store(for:)`, on `loop`'s thread or before it runs.
    /// Published for other threads (the backend's `isReachable`).
    let reachability = StoreReachability()

    init(loop: EventLoop, settings: RedisSettings, revocations: RevocationList, accessTokenTTL: Int64,
         clock: @escaping @Sendable () -> Int64) {
        self.loop = loop
        self.settings = settings
        keys = RedisKeys(prefix: settings.keyPrefix)
        prefix = Array(settings.keyPrefix.utf8)
        self.revocations = revocations
        self.accessTokenTTL = accessTokenTTL
        self.clock = clock
        cacheTTLNanoseconds = settings.cacheSize > 0 ? settings.cacheTTL.wholeNanoseconds : 0
        outageGraceNanoseconds = settings.outageGrace.wholeNanoseconds
        reaper = LoopTimer(loop: loop) { [unowned self] in retired.removeAll() }
        roleTimer = LoopTimer(loop: loop) { [unowned self] in checkRole() }
        if let sentinel = settings.sentinel {
            let monitor = SentinelMonitor(loop: loop, sentinel: sentinel, timeout: settings.timeout,
                                          connectTimeout: settings.connectTimeout)
            monitor.onMaster = { [unowned self] endpoint in useMaster(endpoint) }
            self.monitor = monitor
        } else {
            makeConnections(to: RedisEndpoint(host: settings.host, port: settings.port))
        }
    }

    deinit {
        closeConnections()
        monitor?.close()
    }

    func start() {
        commands?.start()
        subscriber?.start()
        writer?.start()
        monitor?.start()
        roleTimer.schedule(after: .seconds(1))
    }

    // MARK: The master's connections

    private func makeConnections(to endpoint: RedisEndpoint) {
        var target = settings
        target.host = endpoint.host
        target.port = endpoint.port
        master = endpoint
        do throws(StoreError) {
            let commands = try RedisConnection(loop: loop, settings: target, role: .commands, name: "commands")
            let subscriber = try RedisConnection(loop: loop, settings: target,
                                                 role: .subscriber(channel: keys.events), name: "subscriber")
            let writer = settings.replicaAck == .replicas(0)
                ? nil : try RedisConnection(loop: loop, settings: target, role: .commands, name: "writer")
            commands.onReady = { [unowned self] in connectionsChanged(loadRevoked: true) }
            commands.onDown = { [unowned self, unowned subscriber] _ in
                connectionsChanged(loadRevoked: false)
                // The subscriber may be as dead as this connection without knowing it yet (a silent network):
                // re-subscribe, so no invalidation is missed while the cache is in use again.
                subscriber.restart(reason: "the command connection was lost")
                // A lost master may have failed over: the sentinels may already know where it went.
                monitor?.refresh()
            }
            subscriber.onReady = { [unowned self] in connectionsChanged(loadRevoked: true) }
            subscriber.onDown = { [unowned self] _ in connectionsChanged(loadRevoked: false) }
            subscriber.onMessage = { [unowned self] payload in invalidation(payload) }
            writer?.onReady = { [unowned self] in checkRole() }
            self.commands = commands
            self.subscriber = subscriber
            self.writer = writer
            setupError = nil
        } catch {
            logger.error("redis session store: \(error)")
            setupError = error
        }
    }

    private func closeConnections() {
        for connection in [commands, subscriber, writer].compactMap({ $0 }) {
            connection.close()
            retired.append(connection)
        }
        commands = nil
        subscriber = nil
        writer = nil
        if !retired.isEmpty, !closed { reaper.schedule(after: .zero) }
    }

    /// The sentinels named `endpoint`. A new master: the old connections go (their unanswered calls fail, so
    /// those requests get 503), the cache starts over (it holds the old master's view), new connections are
    /// made (each checks `ROLE` first), and once both are up the subscription is back and the `revoked` set is
    /// read again.
    private func useMaster(_ endpoint: RedisEndpoint) {
        guard !closed else { return }
        if endpoint == master, commands != nil { return }
        if let old = master {
            logger.notice("redis session store: the master moved from \(old) to \(endpoint)")
            masterChanges += 1
        }
        closeConnections()
        cache.removeAll()
        unknown.removeAll()
        knownReplicas = 0
        makeConnections(to: endpoint)
        connectionsChanged(loadRevoked: false)
        commands?.start()
        subscriber?.start()
        writer?.start()
    }

    /// The timer's round: the sentinels again while the command connection is not up; `ROLE` on the master.
    private func checkRole() {
        guard !closed else { return }
        roleTimer.schedule(after: .seconds(1))
        if let monitor, !(commands?.isReady ?? false) { monitor.refresh() }
        guard let connection = writer ?? (settings.verifyMaster ? commands : nil), connection.isReady else { return }
        connection.command([Array("ROLE".utf8)], timeout: settings.timeout) { [weak self] result in
            guard let self, case .success(let reply) = result, let role = RedisRole(reply) else { return }
            if role.isMaster {
                // ROLE omits a replica that is re-syncing; INFO counts it (see RedisReplicationInfo). An ACL
                // that refuses INFO leaves ROLE's count.
                connection.command([Array("INFO".utf8), Array("replication".utf8)], timeout: settings.timeout) {
                    [weak self] result in
                    guard let self else { return }
                    var attached: Int?
                    if case .success(.bulk(let text)) = result { attached = RedisReplicationInfo.attachedReplicas(text) }
                    knownReplicas = max(role.replicas, attached ?? 0)
                }
            } else if settings.verifyMaster, connection === commands || connection === writer {
                // Demoted under us (a failover whose +switch-master did not reach this worker yet): drop the
                // connections (each reconnect checks ROLE again) and ask the sentinels.
                logger.warning("redis session store: \(master.map { "\($0)" } ?? "the master") is now a \(role.name)")
                for connection in [commands, subscriber, writer].compactMap({ $0 }) {
                    connection.restart(reason: "no longer the master")
                }
                monitor?.refresh()
            }
        }
    }

    /// Replicas a write that matters waits for now.
    private var requiredAcks: Int {
        switch settings.replicaAck {
        case .replicas(let n): n
        case .auto: min(1, knownReplicas)
        }
    }

    /// Closes both connections; unanswered calls fail with `store-closed`, later ones too. Idempotent. Call on
    /// the loop's thread, or after the loop has stopped.
    package func close() {
        guard !closed else { return }
        closed = true
        cache.removeAll()
        unknown.removeAll()
        roleTimer.cancel()
        reaper.cancel()
        monitor?.close()
        closeConnections()
        retired.removeAll()
    }

    /// True when the command connection is up.
    package var isConnected: Bool { commands?.isReady ?? false }
    /// True when the connection for writes that wait for replicas is up (or there is none: they go on `commands`).
    package var isWriterReady: Bool { writer?.isReady ?? true }
    /// True when invalidations are being received (the cache is in use only then).
    package var isSubscribed: Bool { subscriber?.isReady ?? false }
    /// Commands sent on the command connection so far (one per store call, two after a `NOSCRIPT`).
    package var commandsSent: Int { commands?.commandsSent ?? 0 }
    /// Sessions in this worker's cache.
    package var cachedSessionCount: Int { cache.count }

    // MARK: SessionStore

    package func lookup(_ key: SessionKey, now: Int64) -> SessionLookup {
        guard !closed else { return .unavailable(Self.closedError) }
        if cacheTTLNanoseconds > 0 {
            let clock = Clocks.monotonicNanoseconds()
            if let entry = cache[key] {
                if serves(storedAt: entry.storedAt, at: clock), entry.isLive(at: now), !entry.needsTouch(at: now) {
                    if outageSince != nil { outageHits += 1 }
                    return .active(entry.active)
                }
                cache.removeValue(forKey: key)
            }
            if let storedAt = unknown[key] {
                if clock &- storedAt < cacheTTLNanoseconds {
                    negativeHits += 1
                    return .absent
                }
                unknown.removeValue(forKey: key)
            }
        }
        guard let commands, commands.acceptsCalls else {
            return .unavailable(setupError ?? Self.downError(master: master))
        }
        return .needsFetch
    }

    /// Whether an entry read at `storedAt` may answer at `clock`: within `cacheTTL` while both connections are
    /// up; during an outage, while the grace lasts and only if it was fresh when the outage began.
    private func serves(storedAt: UInt64, at clock: UInt64) -> Bool {
        if cacheUsable { return clock &- storedAt < cacheTTLNanoseconds }
        guard let since = outageSince, clock &- since < outageGraceNanoseconds else { return false }
        return since <= storedAt || since - storedAt < cacheTTLNanoseconds
    }

    package func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void) {
        let startEpoch = epoch
        let startedAt = Clocks.monotonicNanoseconds()
        run(.fetch, key: keys.session(key),
            args: [prefix, digits(now), digits(Self.lastSeenWriteInterval), Array(key.hex.utf8)]) { [weak self] result in
            switch result {
            case .failure(let error):
                done(.unavailable(error))
            case .success(.null):
                self?.rememberUnknown(key, storedAt: startedAt)
                done(.absent)
            case .success(let reply):
                guard let record = RedisSessionFields.decode(reply, key: key)?.record, record.kind == .cookie,
                      record.isLive(at: now)
                else {
                    // Ended sessions do not come back: remembered like IDs that never existed.
                    self?.rememberUnknown(key, storedAt: startedAt)
                    done(.absent)
                    return
                }
                let active = ActiveSession(record)
                if let self, self.epoch == startEpoch { self.remember(key, record, active, storedAt: startedAt) }
                done(.active(active))
            }
        }
    }

    package func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                        _ done: @escaping (Result<[String], StoreError>) -> Void) {
        // A newline would split one group into several when read back: a privilege change.
        guard record.groups.allSatisfy(SessionGroups.isStorable) else {
            done(.failure(StoreError("group-name-contains-newline")))
            return
        }
        unknown.removeValue(forKey: record.key)
        let until = now + accessTokenTTL
        var args = [prefix, digits(now), digits(Int64(max(0, maxPerUser))), digits(until), Array(record.key.hex.utf8)]
        args += RedisSessionFields.encode(record)
        run(.create, key: keys.session(record.key), args: args, durable: true) { [weak self] result in
            switch Self.outcome(result) {
            case .failure(let error):
                done(.failure(error))
            case .success(let items):
                let ended = self?.applyEnded(items.dropFirst(), until: until) ?? []
                done(.success(ended.map(\.handle)))
            }
        }
    }

    package func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let until = now + accessTokenTTL
        run(.deleteKey, key: keys.session(key), args: [prefix, digits(now), digits(until), Array(key.hex.utf8)],
            durable: true) {
            [weak self] result in
            done(Self.outcome(result).map { items in
                guard items.first == .integer(1) else { return false }
                _ = self?.applyEnded(items.dropFirst(), until: until)
                return true
            })
        }
    }

    package func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let now = clock()
        let until = now + accessTokenTTL
        run(.deleteHandle, key: keys.handle(handle), args: [prefix, digits(now), digits(until), Array(user.utf8)],
            durable: true) {
            [weak self] result in
            done(Self.outcome(result).map { items in
                guard items.first == .integer(1) else { return false }
                _ = self?.applyEnded(items.dropFirst(), until: until)
                return true
            })
        }
    }

    package func sessions(of user: String, now: Int64,
                          _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void) {
        run(.list, key: keys.user(user), args: [prefix]) { result in
            done(Self.outcome(result).map { items in
                var found: [(record: SessionRecord, sequence: Int64)] = []
                var index = 0
                while index + 1 < items.count {
                    if case .bulk(let id) = items[index], let key = SessionKey(hex: String(decoding: id, as: UTF8.self)),
                       let decoded = RedisSessionFields.decode(items[index + 1], key: key),
                       decoded.record.user == user, decoded.record.isLive(at: now)
                    {
                        found.append(decoded)
                    }
                    index += 2
                }
                return found.sorted {
                    ($0.record.createdAt, $0.sequence) > ($1.record.createdAt, $1.sequence)
                }.map(\.record)
            })
        }
    }

    package func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        endAll(of: user, mode: "all", done)
    }

    package func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                               _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        let until = now + accessTokenTTL
        run(.rotate, key: keys.refresh(presented),
            args: [prefix, digits(now), digits(until), Array(presented.hex.utf8), Array(next.hex.utf8)],
            durable: true) {
            [weak self] result in
            done(Self.outcome(result).flatMap { items -> Result<RefreshOutcome, StoreError> in
                switch Self.text(items.first) {
                case "rotated":
                    guard items.count == 3, let key = Self.text(items[1]).flatMap({ SessionKey(hex: $0) }),
                          let record = RedisSessionFields.decode(items[2], key: key)?.record
                    else { return .failure(StoreError("redis-bad-reply")) }
                    return .success(.rotated(record))
                case "reused":
                    guard items.count == 5, let handle = Self.text(items[3]), let user = Self.text(items[4]) else {
                        return .failure(StoreError("redis-bad-reply"))
                    }
                    _ = self?.applyEnded(items[1...3], until: until)
                    return .success(.reused(handle: handle, user: user))
                case "invalid":
                    return .success(.invalid)
                default:
                    return .failure(StoreError("redis-bad-reply"))
                }
            })
        }
    }

    package func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        endAll(of: user, mode: disabled ? "disable" : "enable", done)
    }

    package func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        guard let commands, !closed else {
            done(.failure(closed ? Self.closedError : setupError ?? Self.downError(master: master)))
            return
        }
        commands.command([Array("SISMEMBER".utf8), keys.disabled, Array(user.utf8)], timeout: settings.timeout) {
            result in
            switch result {
            case .success(.integer(let n)): done(.success(n == 1))
            case .success(let other): done(.failure(Self.replyError(other)))
            case .failure(let error): done(.failure(error.storeError))
            }
        }
    }

    // The admin page's user list (issue 14): SCAN over the per-user sets, never KEYS (which blocks Redis for
    // the whole keyspace); one `summarize` script per batch, then the disabled set.

    package func signedInUsers(now: Int64, limit: Int,
                               _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        scanUsers(cursor: Array("0".utf8), now: now, limit: max(0, limit), found: [:], done)
    }

    /// Why no command can be sent now (closed, not set up, no master, connection down).
    private var refusal: StoreError { closed ? Self.closedError : setupError ?? Self.downError(master: master) }

    /// Users seen per `SCAN` step: a hint to Redis (it may return more or fewer keys).
    static let scanBatch = 256

    /// One `SCAN` step over `P u:*` and the `summarize` run of the users it named; recurses until the cursor
    /// is back at 0 or more than `limit` users were found.
    private func scanUsers(cursor: [UInt8], now: Int64, limit: Int, found: [String: SignedInUsers.User],
                           _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        guard let commands, !closed else {
            return done(.failure(refusal))
        }
        let userPrefix = keys.user("")
        let pattern = Self.globEscaped(userPrefix) + Array("*".utf8)
        commands.command([Array("SCAN".utf8), cursor, Array("MATCH".utf8), pattern, Array("COUNT".utf8),
                          digits(Int64(Self.scanBatch))], timeout: settings.timeout) { [weak self] result in
            guard let self else { return done(.failure(Self.closedError)) }
            guard case .success(.array(let parts)) = result, parts.count == 2, case .bulk(let next) = parts[0],
                  case .array(let items) = parts[1]
            else {
                if case .failure(let error) = result { return done(.failure(error.storeError)) }
                return done(.failure(StoreError("redis-bad-reply")))
            }
            let users: [[UInt8]] = items.compactMap { item in
                guard case .bulk(let key) = item, key.starts(with: userPrefix) else { return nil }
                return Array(key.dropFirst(userPrefix.count))
            }
            summarize(users, now: now) { [weak self] summary in
                guard let self else { return done(.failure(Self.closedError)) }
                switch summary {
                case .failure(let error): done(.failure(error))
                case .success(let batch):
                    var found = found
                    for user in batch { found[user.name] = user }
                    let finished = next.elementsEqual("0".utf8)
                    if finished || found.count > limit {
                        finishUsers(found, limit: limit, truncated: found.count > limit, done)
                    } else {
                        scanUsers(cursor: next, now: now, limit: limit, found: found, done)
                    }
                }
            }
        }
    }

    private func summarize(_ users: [[UInt8]], now: Int64,
                           _ done: @escaping (Result<[SignedInUsers.User], StoreError>) -> Void) {
        guard let first = users.first else { return done(.success([])) }
        run(.summarize, key: prefix + Array("u:".utf8) + first, args: [prefix, digits(now)] + users) { result in
            done(Self.outcome(result).map { items in
                var out: [SignedInUsers.User] = []
                var index = 0
                while index + 2 < items.count {
                    if let name = Self.text(items[index]), case .integer(let count) = items[index + 1],
                       case .integer(let last) = items[index + 2] {
                        out.append(SignedInUsers.User(name: name, sessions: Int(count), lastSeenAt: last))
                    }
                    index += 3
                }
                return out
            })
        }
    }

    private func finishUsers(_ found: [String: SignedInUsers.User], limit: Int, truncated: Bool,
                             _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        guard let commands, !closed else {
            return done(.failure(refusal))
        }
        commands.command([Array("SMEMBERS".utf8), keys.disabled], timeout: settings.timeout) { result in
            switch result {
            case .success(.array(let items)):
                let listed = found.values.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }.prefix(limit)
                done(.success(SignedInUsers(users: Array(listed), disabled: items.compactMap { Self.text($0) },
                                            truncated: truncated)))
            case .success(let other): done(.failure(Self.replyError(other)))
            case .failure(let error): done(.failure(error.storeError))
            }
        }
    }

    /// `bytes` with Redis glob characters escaped, for a `MATCH` pattern (a key prefix may hold `*` or `[`).
    static func globEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            if byte == UInt8(ascii: "*") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "[")
                || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "\\") {
                out.append(UInt8(ascii: "\\"))
            }
            out.append(byte)
        }
        return out
    }

    /// One run of the `throttle` script (the key names are bounded like the local throttle's: 256 bytes).
    func throttle(_ mode: String, address: String, user: String, maxFailures: Int, window: Int64, now: Int64,
                  _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        run(.throttle, key: keys.throttleAddress(String(decoding: address.utf8.prefix(256), as: UTF8.self)),
            args: [prefix, digits(now), Array(mode.utf8), digits(Int64(max(1, maxFailures))), digits(max(1, window)),
                   Array(user.utf8.prefix(256))], done)
    }

    // MARK: Provider-side sign-out (ProviderSessionStore)

    /// One `end-provider` script: takes the logout token (`SET NX`, shared by every gateway on this Redis), then
    /// ends the sessions on the provider + `sid` index (or provider + `sub` without a `sid`), each as a device
    /// sign-out does (the `events` message reaches every gateway's workers).
    package func endProviderSessions(_ match: ProviderSessionMatch, logoutToken: String, until replayUntil: Int64,
                                     now: Int64, _ done: @escaping (Result<ProviderLogoutOutcome, StoreError>) -> Void) {
        let until = now + accessTokenTTL
        let index = match.sid.map { keys.providerSID(match.provider, $0) }
            ?? keys.providerSubject(match.provider, match.subject ?? "")
        run(.endProvider, key: index,
            args: [prefix, digits(now), digits(until), Array(match.provider.utf8), Array((match.sid ?? "").utf8),
                   Array((match.subject ?? "").utf8), keys.logoutToken(logoutToken), digits(replayUntil)],
            durable: true) { [weak self] result in
            done(Self.outcome(result).flatMap { items in
                switch items.first {
                case .integer(let count)?:
                    _ = self?.applyEnded(items.dropFirst(), until: until)
                    return .success(.ended(Int(count)))
                case .bulk(let word)? where word.elementsEqual("replayed".utf8):
                    return .success(.replayed)
                default:
                    return .failure(StoreError("redis-bad-reply"))
                }
            })
        }
    }

    // MARK: Ending sessions

    private func endAll(of user: String, mode: String, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let now = clock()
        let until = now + accessTokenTTL
        run(.endAll, key: keys.user(user), args: [prefix, digits(now), digits(until), Array(user.utf8),
                                                  Array(mode.utf8)], durable: true) { [weak self] result in
            done(Self.outcome(result).flatMap { items in
                guard case .integer(let count)? = items.first else { return .failure(StoreError("redis-bad-reply")) }
                _ = self?.applyEnded(items.dropFirst(), until: until)
                return .success(Int(count))
            })
        }
    }

    /// Applies (kind, id, handle) triples of sessions a script ended: this worker forgets them and refuses a
    /// token session's access tokens at once, without waiting for its own copy of the published message.
    private func applyEnded(_ items: ArraySlice<RedisReply>, until: Int64) -> [(kind: String, handle: String)] {
        var ended: [(kind: String, handle: String)] = []
        var index = items.startIndex
        while index + 3 <= items.endIndex {
            let kind = Self.text(items[index]) ?? ""
            let id = Self.text(items[index + 1]) ?? ""
            let handle = Self.text(items[index + 2]) ?? ""
            end(kind: kind, id: id, handle: handle, until: until)
            ended.append((kind, handle))
            index += 3
        }
        return ended
    }

    private func end(kind: String, id: String, handle: String, until: Int64) {
        epoch &+= 1
        if let key = SessionKey(hex: id) { cache.removeValue(forKey: key) }
        if kind == SessionRecord.Kind.token.rawValue, !handle.isEmpty {
            revocations.revoke(handle, until: until)
        }
        // Every worker of every gateway gets the published message on its own subscriber, on its own loop:
        // each closes its own tunnels of that session (the ending worker also here, at once, from the reply).
        if !handle.isEmpty { sessionsEnded?([handle]) }
    }

    /// This worker's handler for ended sessions (`SessionStore.onSessionsEnded`).
    private var sessionsEnded: (([String]) -> Void)?

    package func onSessionsEnded(_ handler: @escaping ([String]) -> Void) {
        sessionsEnded = handler
    }

    /// A message on the events channel: "end <kind> <id> <until> <handle> <user>".
    private func invalidation(_ payload: [UInt8]) {
        let parts = payload.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].elementsEqual("end".utf8) else {
            logger.warning("redis session store: unknown message on the events channel (\(payload.count) bytes)")
            return
        }
        let kind = String(decoding: parts[1], as: UTF8.self)
        let id = String(decoding: parts[2], as: UTF8.self)
        let published = Int64(String(decoding: parts[3], as: UTF8.self)) ?? 0
        // The revoking gateway's deadline, or this gateway's own when its access tokens live longer.
        let until = max(published, clock() + accessTokenTTL)
        end(kind: kind, id: id, handle: String(decoding: parts[4], as: UTF8.self), until: until)
        if let key = SessionKey(hex: id) { onInvalidation?(key) }
    }

    // MARK: Connection state

    private var cacheUsable: Bool {
        cacheTTLNanoseconds > 0 && (commands?.isReady ?? false) && (subscriber?.isReady ?? false)
    }

    /// Either connection came up or went down: the cache starts over. Once both are up (again), reads the
    /// `revoked` set, so token sessions ended while this worker was not listening are refused too.
    private func connectionsChanged(loadRevoked: Bool) {
        reachability.set(commands?.isReady ?? false)
        epoch &+= 1
        if commands?.isReady ?? false, subscriber?.isReady ?? false {
            // Both (back) up: entries may predate invalidations missed while a connection was down.
            cache.removeAll()
            outageSince = nil
        } else if outageSince == nil {
            outageSince = Clocks.monotonicNanoseconds()
        }
        guard loadRevoked, let commands, commands.isReady, subscriber?.isReady ?? false else { return }
        let now = clock()
        commands.command([Array("ZRANGEBYSCORE".utf8), keys.revoked, Array("(\(now)".utf8), Array("+inf".utf8),
                          Array("WITHSCORES".utf8)], timeout: settings.timeout) { [weak self] result in
            guard let self else { return }
            if case .success(.array(let items)) = result {
                var index = 0
                while index + 1 < items.count {
                    if let handle = Self.text(items[index]), let score = Self.text(items[index + 1]),
                       let until = Int64(score.split(separator: ".").first ?? "")
                    {
                        revocations.revoke(handle, until: until)
                    }
                    index += 2
                }
                // From now on the gateway's own access tokens are checked (503 until then: fail closed).
                revocations.markLoaded()
                onSubscribed?()
            } else {
                logger.warning("redis session store: cannot read the revoked set: \(result)")
            }
        }
    }

    /// Remembers that `key` names no live session (bounded like the positive cache).
    private func rememberUnknown(_ key: SessionKey, storedAt: UInt64) {
        guard cacheTTLNanoseconds > 0 else { return }
        if unknown.count >= settings.cacheSize {
            let now = Clocks.monotonicNanoseconds()
            unknown = unknown.filter { now &- $0.value < cacheTTLNanoseconds }
            if unknown.count >= settings.cacheSize { unknown.remove(at: unknown.startIndex) }
        }
        unknown[key] = storedAt
    }

    private func remember(_ key: SessionKey, _ record: SessionRecord, _ active: ActiveSession, storedAt: UInt64) {
        guard cacheUsable else { return }
        if cache.count >= settings.cacheSize {
            let now = Clocks.monotonicNanoseconds()
            cache = cache.filter { now &- $0.value.storedAt < cacheTTLNanoseconds }
            // Still full of fresh entries: drop an arbitrary one (a dictionary's first is as good as random).
            if cache.count >= settings.cacheSize { cache.remove(at: cache.startIndex) }
        }
        cache[key] = Cached(active: active, expiresAt: record.expiresAt, lastSeenAt: record.lastSeenAt,
                            idleTimeout: record.idleTimeout, storedAt: storedAt)
    }

    // MARK: Scripts

    /// Runs `script` with one key: `EVALSHA`, and `EVAL` when Redis does not know the script (`NOSCRIPT`: a
    /// restarted or flushed Redis). Error replies become `StoreError("redis-error")` (Redis's text is logged).
    ///
    /// `durable`: a write that matters (sign-in, logout, revocation, refresh rotation, user disable). It goes on
    /// the writer connection and, when replicas must acknowledge (`requiredAcks`), is followed there by
    /// `WAIT n timeout`: the answer waits until that many replicas have the write, so a failover right after it
    /// cannot bring an ended session back or lose a new one. Too few in time: `replica-ack-timeout` (503; the
    /// write is on the master, and may or may not survive a failover that follows).
    func run(_ script: RedisScript, key: [UInt8], args: [[UInt8]], durable: Bool = false,
                     _ done: @escaping (Result<RedisReply, StoreError>) -> Void) {
        guard let commands = durable ? (writer ?? self.commands) : self.commands, !closed else {
            done(.failure(closed ? Self.closedError : setupError ?? Self.downError(master: master)))
            return
        }
        var argv = [Array("EVALSHA".utf8), script.sha, Array("1".utf8), key]
        argv += args
        let timeout = settings.timeout
        let logger = self.logger
        let acks = durable ? requiredAcks : 0
        let finish: (Result<RedisReply, RedisError>) -> Void = { [weak self] result in
            let outcome = Self.scriptResult(result, script: script, logger: logger)
            guard acks > 0, case .success = outcome, let self else {
                done(outcome)
                return
            }
            waitForReplicas(acks, on: commands, script: script) { error in
                done(error.map { .failure($0) } ?? outcome)
            }
        }
        commands.command(argv, timeout: timeout) { result in
            switch result {
            case .success(.error(let message)) where message.hasPrefix("NOSCRIPT"):
                argv[0] = Array("EVAL".utf8)
                argv[1] = script.source
                commands.command(argv, timeout: timeout, finish)
            default:
                finish(result)
            }
        }
    }

    /// `WAIT acks timeout` on `connection` (the one the write went on: WAIT counts that connection's writes).
    private func waitForReplicas(_ acks: Int, on connection: RedisConnection, script: RedisScript,
                                 _ done: @escaping (StoreError?) -> Void) {
        let ackTimeout = settings.replicaAckTimeout
        let milliseconds = max(1, ackTimeout.components.seconds * 1000
                               + ackTimeout.components.attoseconds / 1_000_000_000_000_000)
        connection.command([Array("WAIT".utf8), digits(Int64(acks)), digits(milliseconds)],
                           timeout: ackTimeout + settings.timeout) { [weak self] result in
            switch result {
            case .success(.integer(let n)) where n >= acks:
                done(nil)
            case .success(let reply):
                self?.replicaAckFailures += 1
                let got = RedisConnection.describe(reply)
                self?.logger.warning("redis session store: \(script.name): \(got) of \(acks) replica(s) acknowledged within \(ackTimeout); answered 503")
                done(StoreError("replica-ack-timeout"))
            case .failure(let error):
                done(error.storeError)
            }
        }
    }

    /// Why a call cannot be made: no master named yet (Sentinel), or the connection is down.
    private static func downError(master: RedisEndpoint?) -> StoreError {
        master == nil ? StoreError("no-master") : StoreError("unreachable")
    }

    private static func scriptResult(_ result: Result<RedisReply, RedisError>, script: RedisScript,
                                     logger: Logger) -> Result<RedisReply, StoreError> {
        switch result {
        case .failure(let error):
            return .failure(error.storeError)
        case .success(.error(let message)):
            logger.error("redis session store: script \(script.name) failed: \(message)")
            return .failure(StoreError("redis-error"))
        case .success(let reply):
            return .success(reply)
        }
    }

    /// A script's array result, with `{'err', reason}` turned into `StoreError(reason)`.
    private static func outcome(_ result: Result<RedisReply, StoreError>) -> Result<[RedisReply], StoreError> {
        result.flatMap { reply in
            guard case .array(let items) = reply else { return .failure(replyError(reply)) }
            if text(items.first) == "err" {
                return .failure(StoreError(items.count > 1 ? text(items[1]) ?? "redis-error" : "redis-error"))
            }
            return .success(items)
        }
    }

    private static func replyError(_ reply: RedisReply) -> StoreError {
        if case .error = reply { return StoreError("redis-error") }
        return StoreError("redis-bad-reply")
    }

    private static func text(_ reply: RedisReply?) -> String? {
        switch reply {
        case .bulk(let bytes)?: String(decoding: bytes, as: UTF8.self)
        case .status(let text)?: text
        case .integer(let n)?: String(n)
        default: nil
        }
    }

    private func digits(_ value: Int64) -> [UInt8] { Array(String(value).utf8) }

    private static let closedError = StoreError("store-closed")
}
