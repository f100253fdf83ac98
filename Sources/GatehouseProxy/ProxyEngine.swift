import GatehouseAuth
import GatehouseHTTP
package import GatehouseIO
import GatehouseSessions

/// One worker's data path: its client connections, its upstream pools, its scratch buffers and its batch
/// of access-log lines. Lives on, and is only touched from, one event loop.
package final class ProxyEngine {
    package let loop: EventLoop
    package private(set) var snapshot: ProxySnapshot
    /// One pool per upstream of the current snapshot (same order).
    private(set) var pools: [UpstreamPool]
    private var clients: [ObjectIdentifier: ClientConnection] = [:]
    /// Open tunnels by the session they were opened with (closed when it ends).
    var tunnelRegistry = TunnelRegistry()
    /// Reused for every head the gateway writes (HAProxy's trash chunk): no allocation per request.
    var scratch: [UInt8] = []
    package var counters = ProxyCounters()
    /// Requests and latency by route name ("-" for requests no route took: local answers, 404s), one slot per
    /// name this worker has seen (names outlive reloads). A request finds its slot without hashing the name:
    /// the last route's slot is tried first, and its name is the same `String` instance (the snapshot's) on
    /// every request of that route, so `==` decides on identity; the dictionary is read only on a change.
    private var routeSlots: [String: Int] = [:]
    private var routeNames: [String] = []
    private var routeStatsBySlot: [RouteStats] = []
    private var lastRoute = ""
    private var lastRouteSlot = -1
    /// Auth refusals by reason (`expired`, `bad-signature`, `no-credential`, `requirement-not-met`, ...).
    var authRefusals: [String: Int] = [:]
    /// Session-store lookups by this worker's pipeline.
    let sessionCalls = SessionCallCount()
    /// Verified JWTs of this worker (keys change with a reload, so the cache is replaced with the snapshot).
    private(set) var tokenCache: VerifiedTokenCache?
    /// Signed identity assertions of this worker (IdentityAssertion.swift); replaced with the snapshot.
    private var assertionCache: AssertionCache?
    private var assertionSignaturesRetired = 0
    private var assertionHitsRetired = 0
    /// Hits and misses of caches replaced by reloads (counters never go back).
    private var tokenCacheHitsRetired = 0
    private var tokenCacheMissesRetired = 0
    package private(set) var draining = false
    private var onDrained: (() -> Void)?
    /// Stops accepting at `snapshot.maxConnections` and when the kernel refuses accepts.
    private var acceptGate: AcceptGate!
    /// Open connections from the proxy's listeners (what `maxConnections` limits; admin ones are not counted).
    private var proxyConnections = 0
    private let accessLog: AccessLogBatch?
    /// Sign-in and sessions, shared with the other workers; nil when the gateway signs nobody in.
    package let services: SessionServices?
    /// This worker's handle on the session backend.
    private(set) var sessionStore: (any SessionStore)?
    /// What the auth pipeline needs for session cookies and the gateway's own tokens (per snapshot).
    private(set) var sessionContext: SessionContext?
    /// Runs completions from other threads (password hashes, metrics scrapes) on this loop.
    package private(set) var executor: LoopExecutor!
    /// Every worker and the process-level actions, for the admin listener.
    package let control: GatewayControl?
    /// The admin listener's bound address (worker 0), which `Host` may name.
    package var adminAddress: SocketAddress?
    /// Unknown session cookies looked up per client address (a remote store only).
    let unknownCookies: UnknownCookieLimiter
    /// `Authorization: Basic` passwords: this worker's cache of verified pairs and its way to the hashing threads
    /// (nil when the gateway has no users file).
    private(set) var basicVerifier: BasicVerifier?

    /// Creates the engine of one worker.
    /// - Parameter logSink: where access-log batches go; nil when access logging is off.
    package init(loop: EventLoop, snapshot: ProxySnapshot, logSink: LogSink?,
                 services: SessionServices? = nil, control: GatewayControl? = nil) throws(IOError) {
        self.loop = loop
        self.snapshot = snapshot
        self.services = services
        self.control = control
        pools = snapshot.upstreams.map { UpstreamPool(settings: $0, loop: loop) }
        tokenCache = Self.makeCache(snapshot)
        assertionCache = Self.makeAssertionCache(snapshot)
        scratch.reserveCapacity(4096)
        accessLog = logSink.map { AccessLogBatch(sink: $0, loop: loop) }
        executor = try LoopExecutor(loop: loop)
        acceptGate = AcceptGate(loop: loop)
        if let services { sessionStore = services.backend.store(for: loop) }
        let redis = (services?.backend as? RedisSessionBackend)?.settings
        unknownCookies = UnknownCookieLimiter(limit: redis?.unknownCookieLookups ?? 0,
                                              window: redis?.unknownCookieWindow ?? .seconds(10))
        sessionContext = makeSessionContext(snapshot)
        if let services {
            basicVerifier = BasicVerifier(services: services, store: sessionStore,
                                          passwords: PasswordChecker(pool: services.hashing, executor: executor))
        }
        // Sessions ended anywhere (this worker, another, another gateway on the same store): their tunnels close.
        endedSessions.engine = self
        sessionStore?.onSessionsEnded { [endedSessions] handles in
            guard let engine = endedSessions.engine else { return }
            for handle in handles { engine.closeTunnels(ofSession: handle) }
        }
    }

    deinit { endedSessions.engine = nil }

    /// What the store's ended-sessions handler holds instead of the engine. Not `[weak self]`: a weak reference
    /// gives the engine a side table, and every retain and release of it then takes the runtime's slow path
    /// (callgrind: about 1,750 instructions more per request on every route). Touched on the loop only; the
    /// engine disarms it in `deinit`.
    private final class EndedSessionsRelay {
        unowned(unsafe) var engine: ProxyEngine?
    }
    private let endedSessions = EndedSessionsRelay()

    private func makeSessionContext(_ snapshot: ProxySnapshot) -> SessionContext? {
        guard let services, let store = sessionStore, let signIn = snapshot.signIn else { return nil }
        return SessionContext(store: store, cookieName: signIn.cookieName, revocations: services.revocations,
                              ownIssuer: signIn.ownIssuer, calls: sessionCalls)
    }

    /// The number of open client connections.
    package var connectionCount: Int { clients.count }

    /// Takes over an accepted socket; `tls`: it came from a TLS listener, so it is served with the current
    /// snapshot's certificates.
    package func accept(fd: Int32, peer address: SocketAddress, role: ListenerRole = .proxy, tls: Bool = false) {
        counters.connectionsAccepted += 1
        var context: TLSServerContext? = nil
        if tls {
            // The gateway refuses a reload that drops the certificates of running TLS listeners, so this
            // holds; never serve plain HTTP on a TLS port.
            guard let certificates = snapshot.tls else {
                FileSystem.closeDescriptor(fd)
                return
            }
            context = certificates
        }
        let peer = PeerInfo(address, under: snapshot, tls: tls)
        let client = ClientConnection(fd: fd, peer: peer, role: role, engine: self, tls: context)
        clients[ObjectIdentifier(client)] = client
        guard role == .proxy else { return }
        proxyConnections += 1
        if acceptGate.accepted(open: proxyConnections, limit: snapshot.maxConnections) { counters.acceptLimitPauses += 1 }
    }

    /// Accepts on `listener` go through the connection limit (`limited`) and the backoff on failed accepts.
    package func attach(_ listener: Listener, limited: Bool) {
        acceptGate.attach(listener, limited: limited, engine: self)
    }

    /// Forgets a listener the worker closed.
    package func detach(_ listener: Listener) {
        acceptGate.detach(listener)
    }

    /// A listener's accept failed (out of descriptors, most likely) and it backed off.
    func acceptFailed(errno code: Int32) {
        counters.acceptFailures += 1
        acceptGate.failed(errno: code)
    }

    /// Uses `snapshot` for every request that starts from now on. Exchanges in flight keep the pool they
    /// started with; idle pooled connections of the old snapshot are closed.
    package func install(_ snapshot: ProxySnapshot) {
        let old = pools
        self.snapshot = snapshot
        pools = snapshot.upstreams.map { UpstreamPool(settings: $0, loop: loop) }
        tokenCacheHitsRetired += tokenCache?.hits ?? 0
        tokenCacheMissesRetired += tokenCache?.misses ?? 0
        assertionSignaturesRetired += assertionCache?.signatures ?? 0
        assertionHitsRetired += assertionCache?.hits ?? 0
        tokenCache = Self.makeCache(snapshot)
        assertionCache = Self.makeAssertionCache(snapshot)
        sessionContext = makeSessionContext(snapshot)
        for pool in old { pool.retire() }
        // A reload may raise the limit: accept again now rather than when the next connection closes.
        acceptGate.closed(open: proxyConnections, limit: snapshot.maxConnections)
    }

    private static func makeAssertionCache(_ snapshot: ProxySnapshot) -> AssertionCache? {
        guard let settings = snapshot.routes.routes.lazy.compactMap(\.policy.assertion).first else { return nil }
        return AssertionCache(capacity: settings.cacheSize)
    }

    /// `Name: <jwt>\r\n`, the signed assertion of `identity` for a route with `settings` (cached per identity).
    func assertionLine(_ settings: AssertionSettings, _ identity: Identity, now: Int64) -> [UInt8] {
        guard let cache = assertionCache else {
            // Only a snapshot with no assertion has no cache, and its routes ask for none.
            return settings.signedLine(AssertionClaims(identity, issuer: settings.issuer), now: now,
                                       expiresAt: now + settings.ttlSeconds)
        }
        return cache.line(settings, identity, now: now)
    }

    private static func makeCache(_ snapshot: ProxySnapshot) -> VerifiedTokenCache? {
        guard let tokens = snapshot.tokens, tokens.cacheSize > 0 else { return nil }
        return VerifiedTokenCache(capacity: tokens.cacheSize)
    }

    /// Starts a graceful drain: idle connections close now, busy ones after their current answer.
    /// `done` runs once no client connection is left.
    package func drain(done: @escaping () -> Void) {
        draining = true
        onDrained = done
        for client in Array(clients.values) { client.drain() }
        checkDrained()
    }

    /// Closes every connection at once (drain timeout passed).
    package func closeAll() {
        for client in Array(clients.values) { client.abort() }
        for pool in pools { pool.retire() }
        accessLog?.flush()
        executor?.close()
    }

    func forget(_ client: ClientConnection) {
        clients.removeValue(forKey: ObjectIdentifier(client))
        if client.role == .proxy { proxyConnections -= 1 }
        acceptGate.closed(open: proxyConnections, limit: snapshot.maxConnections)
        if draining { checkDrained() }
    }

    private func checkDrained() {
        guard draining, clients.isEmpty, let done = onDrained else { return }
        onDrained = nil
        for pool in pools { pool.retire() }
        accessLog?.flush()
        executor?.close()
        done()
    }

    // MARK: Access log

    /// Records one finished request.
    func log(head: RequestHead, peer: PeerInfo, status: Int, bytesIn: Int64, bytesOut: Int64, startedAt: UInt64,
             route: String?, upstream: String?, error: String? = nil) {
        counters.requests += 1
        let duration = Clocks.monotonicNanoseconds() &- startedAt
        routeStatsBySlot[routeSlot(route ?? "-")].record(status: status, nanoseconds: duration)
        guard snapshot.accessLogEnabled, let accessLog else { return }
        accessLog.append(head: head, peer: peer, status: status, bytesIn: bytesIn, bytesOut: bytesOut,
                         durationNanoseconds: duration, route: route, upstream: upstream, error: error)
    }

    /// The stats slot of the route named `name` (made on first sight).
    private func routeSlot(_ name: String) -> Int {
        if lastRouteSlot >= 0, name == lastRoute { return lastRouteSlot }
        let slot: Int
        if let known = routeSlots[name] {
            slot = known
        } else {
            slot = routeStatsBySlot.count
            routeSlots[name] = slot
            routeNames.append(name)
            routeStatsBySlot.append(RouteStats())
        }
        lastRoute = name
        lastRouteSlot = slot
        return slot
    }

    /// This worker's metrics now (called on its loop).
    package func metricsSnapshot() -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        snapshot.counters = counters
        snapshot.counters.sessionLookups = sessionCalls.lookups
        snapshot.counters.accessLogLinesDropped = accessLog?.droppedLines ?? 0
        snapshot.counters.sessionUnknownCookiesRefused = unknownCookies.refused
        if let basic = basicVerifier {
            snapshot.counters.basicPasswordChecks = basic.hashes
            snapshot.counters.basicCacheHits = basic.cache.hits
            snapshot.counters.basicThrottled = basic.throttled
            snapshot.counters.basicFailures = basic.failures
        }
        if let redis = sessionStore as? RedisSessionStore {
            snapshot.counters.sessionNegativeHits = redis.negativeHits
            snapshot.counters.sessionOutageHits = redis.outageHits
            snapshot.counters.sessionStoreMasterChanges = redis.masterChanges
            snapshot.counters.sessionStoreReplicaAckFailures = redis.replicaAckFailures
        }
        for (slot, name) in routeNames.enumerated() { snapshot.routes[name] = routeStatsBySlot[slot] }
        snapshot.authRefusals = authRefusals
        snapshot.activeConnections = clients.count
        snapshot.tokenCacheHits = tokenCacheHitsRetired + (tokenCache?.hits ?? 0)
        snapshot.tokenCacheMisses = tokenCacheMissesRetired + (tokenCache?.misses ?? 0)
        snapshot.assertionSignatures = assertionSignaturesRetired + (assertionCache?.signatures ?? 0)
        snapshot.assertionCacheHits = assertionHitsRetired + (assertionCache?.hits ?? 0)
        return snapshot
    }

    /// Records a request refused before it had a head (framing errors, timeouts).
    func logRefusal(peer: PeerInfo, status: Int, reason: String) {
        counters.requests += 1
        guard snapshot.accessLogEnabled, let accessLog else { return }
        accessLog.appendRefusal(peer: peer, status: status, reason: reason)
    }
}
