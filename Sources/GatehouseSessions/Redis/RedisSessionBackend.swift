package import GatehouseIO
import Synchronization

/// How the Redis session store connects and caches (`sessions.redis` in the config).
package struct RedisSettings: Sendable, Equatable {
    package var host: String
    package var port: Int
    package var db: Int
    /// ACL user for `AUTH user password`; nil: `AUTH password` (the `default` user), when there is a password.
    package var username: String?
    package var password: String?
    /// Prepended to every key and to the pub/sub channel (`RedisKeys`).
    package var keyPrefix: String
    /// The longest wait for one reply. Past it the call fails (503) and the connection is re-made.
    package var timeout: Duration
    /// The longest wait for a connection (resolve, connect, AUTH, SELECT) before the attempt counts as failed.
    package var connectTimeout: Duration
    /// How long a worker may answer a session lookup from its own cache; zero turns the cache off (every request
    /// then costs one Redis command). Revocations reach the caches at once through pub/sub; the TTL bounds what a
    /// lost message could cost.
    package var cacheTTL: Duration
    /// Entries per worker's cache (and as many remembered unknown IDs).
    package var cacheSize: Int
    /// While a connection is being re-made (a Redis stall past `timeout`, a restart), cached sessions that were
    /// fresh when it went down are still served for this long; zero: 503 at once. The price: a session ended
    /// during that time (elsewhere, unseen) may be accepted by this worker until the grace is over.
    package var outageGrace: Duration = .seconds(5)
    /// Unknown session cookies one client address may make a worker look up per `unknownCookieWindow`; past
    /// it, 429 without a lookup. Zero: no limit.
    package var unknownCookieLookups: Int = 20
    package var unknownCookieWindow: Duration = .seconds(10)

    /// Where the master is, when Sentinel says (`sessions.redis.sentinel`); nil: `host`:`port` is the server.
    /// With it, `host`/`port` are only a starting value: each worker asks the sentinels and follows failovers.
    package var sentinel: SentinelSettings?
    /// How many replicas must acknowledge a write that matters (sign-in, logout, revocation, refresh rotation,
    /// user disable) before it is answered (`WAIT n timeout`).
    package var replicaAck: ReplicaAck = .auto
    /// How long such a write waits for the acknowledgements; past it the write is answered 503.
    package var replicaAckTimeout: Duration = .milliseconds(250)
    /// Each connection's handshake checks `ROLE` is `master` before it counts as ready (set with `sentinel`:
    /// a sentinel's answer may be stale, and a demoted master must never serve as one).
    package var verifyMaster: Bool { sentinel != nil }

    package static let defaultTimeout: Duration = .milliseconds(500)

    package init(host: String, port: Int = 6379, db: Int = 0, username: String? = nil, password: String? = nil,
                 keyPrefix: String = "gatehouse:", timeout: Duration = RedisSettings.defaultTimeout,
                 connectTimeout: Duration = .seconds(2), cacheTTL: Duration = .seconds(5), cacheSize: Int = 10_000) {
        self.host = host
        self.port = port
        self.db = db
        self.username = username
        self.password = password
        self.keyPrefix = keyPrefix
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.cacheTTL = cacheTTL
        self.cacheSize = cacheSize
    }

    /// Settings for `url`; a `password` given separately (from an environment variable) overrides the URL's.
    package init(url: RedisURL, password: String? = nil, keyPrefix: String = "gatehouse:",
                 timeout: Duration = RedisSettings.defaultTimeout, connectTimeout: Duration = .seconds(2),
                 cacheTTL: Duration = .seconds(5), cacheSize: Int = 10_000) {
        self.init(host: url.host, port: url.port, db: url.db, username: url.username,
                  password: password ?? url.password, keyPrefix: keyPrefix, timeout: timeout,
                  connectTimeout: connectTimeout, cacheTTL: cacheTTL, cacheSize: cacheSize)
    }
}

/// The Redis session backend (`sessions.store: redis`): sessions live in one Redis shared by every gateway; each
/// worker talks to it through its own `RedisSessionStore` (two hiredis connections on that worker's loop: one
/// for commands, one subscribed to the invalidation channel).
///
/// `store(for:)` makes a loop's store on the first call and hands back the same one afterwards. Call it on that
/// loop's thread, or before the loop runs (as the server does when it builds a worker): the store registers
/// events with the lock-free base and starts connecting at once, so the first requests find it ready or wait
/// (bounded by `timeout`) for the first handshake.
///
/// `close()` closes every store it made; call it once the loops have stopped (the server calls it after
/// joining its workers), or close each store on its own loop first.
package final class RedisSessionBackend: SessionBackend {
    package let settings: RedisSettings
    private let revocations: RevocationList
    private let accessTokenTTL: Int64
    private let state = Mutex(BackendState())
    private let clockSource = ClockSource()

    private struct BackendState {
        var stores: [ObjectIdentifier: StoreBox] = [:]
        var closed = false
    }

    /// A store and its loop (weak: a store of a loop that is gone is never handed out again).
    /// `@unchecked Sendable`: the store is only used on its loop's thread; the backend merely keeps the reference
    /// (and calls `close()` after the loops have stopped).
    private final class StoreBox: @unchecked Sendable {
        weak var loop: EventLoop?
        let store: RedisSessionStore
        let reachability: StoreReachability
        init(loop: EventLoop, store: RedisSessionStore) {
            self.loop = loop
            self.store = store
            reachability = store.reachability
        }
    }

    /// True when every worker's store has its command connection up (false before the first connection).
    package var isReachable: Bool {
        state.withLock { s in !s.stores.isEmpty && s.stores.values.allSatisfy { $0.reachability.isUp } }
    }

    /// - Parameter accessTokenTTL: how long the gateway's access tokens live: a revoked token session's handle is
    ///   refused that long (on every gateway, through the `revoked` set and pub/sub).
    package init(settings: RedisSettings, revocations: RevocationList, accessTokenTTL: Int64) {
        self.settings = settings
        self.revocations = revocations
        self.accessTokenTTL = accessTokenTTL
    }

    /// The time used by calls that take no `now` (revocation deadlines of `delete`, `deleteAll`, `setDisabled`).
    /// Unix wall-clock seconds unless a test sets it.
    package var clock: @Sendable () -> Int64 {
        get { clockSource.current }
        set { clockSource.current = newValue }
    }

    package func store(for loop: EventLoop) -> any SessionStore { redisStore(for: loop) }

    /// The concrete store of `loop` (metrics, tests).
    package func redisStore(for loop: EventLoop) -> RedisSessionStore {
        let id = ObjectIdentifier(loop)
        if let box = state.withLock({ $0.stores[id] }), box.loop === loop { return box.store }
        let clockSource = self.clockSource
        let store = RedisSessionStore(loop: loop, settings: settings, revocations: revocations,
                                      accessTokenTTL: accessTokenTTL, clock: { clockSource.current() })
        let closed = state.withLock { s in
            s.stores[id] = StoreBox(loop: loop, store: store)
            return s.closed
        }
        if closed { store.close() } else { store.start() }
        return store
    }

    /// Redis expires sessions, refresh keys and index entries itself (TTLs): nothing to purge. Returns 0.
    package func purgeExpired(now: Int64) -> Int { 0 }

    /// Closes every store made so far; later ones answer `store-closed`. Idempotent.
    package func close() {
        let boxes = state.withLock { s -> [StoreBox] in
            s.closed = true
            return Array(s.stores.values)
        }
        for box in boxes { box.store.close() }
    }
}

/// The backend's clock, shared with its stores (a test may replace it while they run).
private final class ClockSource: Sendable {
    private let clock = Mutex<@Sendable () -> Int64>({ Clocks.wallSeconds() })

    var current: @Sendable () -> Int64 {
        get { clock.withLock { $0 } }
        set { clock.withLock { $0 = newValue } }
    }
}
