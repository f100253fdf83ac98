import Foundation
import GatehouseAuth
import GatehouseIO
import GatehouseTestSupport
@testable import GatehouseSessions
import Glibc
import Synchronization
import XCTest

// The Redis session store against a real redis-server (Debian's, /usr/bin/redis-server) on a free port, driven
// through real event loops on their own threads, as the gateway's workers drive it.

// MARK: - Harness

struct RedisTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// An event loop on its own thread; test code reaches it only through `sync`.
final class TestLoop: @unchecked Sendable {
    let loop: EventLoop
    private let executor: LoopExecutor
    private var thread: LoopThread?

    init() throws {
        loop = try EventLoop()
        executor = try LoopExecutor(loop: loop)
        let loop = self.loop
        thread = try LoopThread(name: "redis-test-loop") { loop.run() }
    }

    /// Runs `body` on the loop and waits (at most `timeout` seconds) for it to call its completion.
    func sync<T>(timeout: Double = 10, _ body: @escaping (@escaping (T) -> Void) -> Void) throws -> T {
        let box = AnswerBox<T>()
        executor.execute { body { box.set($0) } }
        guard let value = box.wait(timeout: timeout) else { throw RedisTestError("no answer within \(timeout) s") }
        return value
    }

    /// Queues `body` on the loop without waiting.
    func post(_ body: @escaping () -> Void) { executor.execute(body) }

    func stop() {
        guard let thread else { return }
        self.thread = nil
        let executor = self.executor
        let loop = self.loop
        executor.execute {
            executor.close()
            loop.stop()
        }
        thread.join()
        // Stores and their timers may be released after this object; their events must never outlive the base,
        // so a stopped test loop is kept for the rest of the process.
        _ = Unmanaged.passRetained(loop)
    }
}

final class AnswerBox<T>: @unchecked Sendable {
    private var value: T?
    private let mutex = Mutex(false)
    private let semaphore = DispatchSemaphore(value: 0)

    func set(_ newValue: T) {
        let first = mutex.withLock { answered in
            defer { answered = true }
            return !answered
        }
        guard first else { return }
        value = newValue
        semaphore.signal()
    }

    func wait(timeout: Double) -> T? {
        guard semaphore.wait(timeout: .now() + timeout) == .success else { return nil }
        return value
    }
}

/// One gateway's view: a backend and one worker loop with its store.
final class TestGateway {
    let loop: TestLoop
    let backend: RedisSessionBackend
    let store: RedisSessionStore
    let revocations: RevocationList

    init(server: RedisServerProcess, settings: RedisSettings? = nil, cacheTTL: Duration = .zero,
         timeout: Duration = .milliseconds(500), revocations: RevocationList = RevocationList(),
         accessTTL: Int64 = 300, waitForConnection: Bool = true) throws {
        loop = try TestLoop()
        self.revocations = revocations
        let settings = settings ?? RedisSettings(host: "127.0.0.1", port: server.port, timeout: timeout,
                                                 cacheTTL: cacheTTL)
        backend = RedisSessionBackend(settings: settings, revocations: revocations, accessTokenTTL: accessTTL)
        let backend = self.backend
        let loop = self.loop
        store = try loop.sync { done in done(backend.redisStore(for: loop.loop)) }
        if waitForConnection { try waitUntilConnected() }
    }

    func waitUntilConnected(seconds: Double = 10) throws {
        let store = self.store
        let deadline = Date() + seconds
        while Date() < deadline {
            if try loop.sync({ $0(store.isConnected && store.isSubscribed && store.isWriterReady) }) { return }
            usleep(10_000)
        }
        throw RedisTestError("store not connected within \(seconds) s")
    }

    private var isShutDown = false

    func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        let store = self.store
        _ = try? loop.sync { done in
            store.close()
            done(true)
        }
        backend.close()
        loop.stop()
    }

    // Store calls, run on the loop.

    @discardableResult
    func create(_ record: SessionRecord, maxPerUser: Int = 0, now: Int64? = nil) throws -> [String] {
        let store = self.store
        return try loop.sync { store.create(record, maxPerUser: maxPerUser, now: now ?? record.createdAt, $0) }.get()
    }

    func createResult(_ record: SessionRecord, maxPerUser: Int = 0) throws -> Result<[String], StoreError> {
        let store = self.store
        return try loop.sync { store.create(record, maxPerUser: maxPerUser, now: record.createdAt, $0) }
    }

    /// The data path's way: `lookup`, then `fetch` when it says so.
    func find(_ key: SessionKey, now: Int64) throws -> SessionLookup {
        let store = self.store
        return try loop.sync { done in
            let answer = store.lookup(key, now: now)
            if case .needsFetch = answer { store.fetch(key, now: now, done) } else { done(answer) }
        }
    }

    func lookup(_ key: SessionKey, now: Int64) throws -> SessionLookup {
        let store = self.store
        return try loop.sync { $0(store.lookup(key, now: now)) }
    }

    func delete(_ key: SessionKey) throws -> Result<Bool, StoreError> {
        let store = self.store
        return try loop.sync { store.delete(key, $0) }
    }

    func delete(handle: String, of user: String) throws -> Result<Bool, StoreError> {
        let store = self.store
        return try loop.sync { store.delete(handle: handle, of: user, $0) }
    }

    func sessions(of user: String, now: Int64) throws -> [SessionRecord] {
        let store = self.store
        return try loop.sync { store.sessions(of: user, now: now, $0) }.get()
    }

    func deleteAll(of user: String) throws -> Int {
        let store = self.store
        return try loop.sync { store.deleteAll(of: user, $0) }.get()
    }

    func rotate(_ presented: SessionKey, next: SessionKey, now: Int64) throws -> RefreshOutcome {
        let store = self.store
        return try loop.sync { store.rotateRefresh(presented, next: next, now: now, $0) }.get()
    }

    func setDisabled(_ user: String, _ disabled: Bool) throws -> Int {
        let store = self.store
        return try loop.sync { store.setDisabled(user, disabled, $0) }.get()
    }

    func isDisabled(_ user: String) throws -> Bool {
        let store = self.store
        return try loop.sync { store.isDisabled(user, $0) }.get()
    }

    func commandsSent() throws -> Int {
        let store = self.store
        return try loop.sync { $0(store.commandsSent) }
    }
}

/// Shared record builders (the embedded tests' shapes, with times near the real clock: Redis TTLs are real).
class RedisStoreTestCase: XCTestCase, SessionRecordMaking {
    var t0: Int64 = 0
    let accessTTL: Int64 = 300
    var gateways: [TestGateway] = []

    override func setUpWithError() throws {
        t0 = Int64(time(nil))
    }

    override func tearDown() {
        for gateway in gateways { gateway.shutdown() }
        gateways.removeAll()
    }

    func gateway(_ server: RedisServerProcess, cacheTTL: Duration = .zero, timeout: Duration = .milliseconds(500),
                 revocations: RevocationList = RevocationList(), settings: RedisSettings? = nil,
                 waitForConnection: Bool = true) throws -> TestGateway {
        let made = try TestGateway(server: server, settings: settings, cacheTTL: cacheTTL, timeout: timeout,
                                   revocations: revocations, accessTTL: accessTTL,
                                   waitForConnection: waitForConnection)
        gateways.append(made)
        made.backend.clock = { [t0] in t0 }
        return made
    }

    func isUnavailable(_ lookup: SessionLookup) -> Bool {
        if case .unavailable = lookup { return true }
        return false
    }

    func waitUntil(seconds: Double = 10, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date() + seconds
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return false
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }
}

// MARK: - Redis's own behaviour (keys and TTLs, the per-worker cache) and sharing between gateways. What every
// backend shares is in SessionStoreConformance.swift.

final class RedisSessionStoreTests: RedisStoreTestCase {
    nonisolated(unsafe) private static var sharedServer: RedisServerProcess?
    private var server: RedisServerProcess { Self.sharedServer! }
    private var g: TestGateway!

    override class func setUp() {
        super.setUp()
        sharedServer = try? RedisServerProcess()
    }

    override class func tearDown() {
        sharedServer?.stop()
        sharedServer = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard Self.sharedServer != nil else { throw RedisTestError("redis-server did not start") }
        try server.cli("FLUSHALL")
        g = try gateway(server)
    }

    private func prefixKey(_ suffix: String) -> String { "gatehouse:" + suffix }

    // MARK: Lookup, expiry and keys

    func testWithTheCacheOffALookupAsksForAFetch() throws {
        try g.create(record("a"))
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0 + 1)), "h-a")
        guard case .needsFetch = try g.lookup(key("a"), now: t0 + 2) else {
            return XCTFail("with the cache off, lookup must ask for a fetch")
        }
    }

    func testAnExpiredSessionFoundByALookupIsDropped() throws {
        try g.create(record("a", ttl: 100))
        XCTAssertTrue(isAbsent(try g.find(key("a"), now: t0 + 100)))
        XCTAssertEqual(try server.cli("EXISTS", prefixKey("s:" + key("a").hex)), "0")
        XCTAssertEqual(try server.cli("ZCARD", prefixKey("u:alice")), "0")
        XCTAssertEqual(try server.cli("EXISTS", prefixKey("h:h-a")), "0")
    }

    func testLastSeenIsWrittenAtMostOncePerMinute() throws {
        try g.create(record("a", idle: 3600))
        let field = { try self.server.cli("HGET", self.prefixKey("s:" + self.key("a").hex), "l") }
        for offset: Int64 in [1, 10, 30, 59] { _ = try g.find(key("a"), now: t0 + offset) }
        XCTAssertEqual(try field(), "\(t0)", "lookups within a minute write nothing")
        _ = try g.find(key("a"), now: t0 + 60)
        XCTAssertEqual(try field(), "\(t0 + 60)")
        _ = try g.find(key("a"), now: t0 + 100)
        XCTAssertEqual(try field(), "\(t0 + 60)", "40 s after the last write: nothing")
        _ = try g.find(key("a"), now: t0 + 121)
        XCTAssertEqual(try field(), "\(t0 + 121)")
        let ttl = Int64(try server.cli("TTL", prefixKey("s:" + key("a").hex))) ?? -1
        XCTAssertGreaterThan(ttl, 3590, "the TTL slid with last seen: idle timeout from the (fake) now")
        XCTAssertLessThanOrEqual(ttl, 3600)
    }

    func testEndingSessionsLeavesNoPointerKeys() throws {
        try g.create(record("a"))
        try g.create(record("b"))
        XCTAssertEqual(try g.delete(key("a")).get(), true)
        XCTAssertEqual(try g.delete(handle: "h-b", of: "alice").get(), true)
        XCTAssertEqual(try server.cli("KEYS", prefixKey("s:*")), "")
        XCTAssertEqual(try server.cli("KEYS", prefixKey("h:*")), "")
        XCTAssertEqual(try server.cli("EXISTS", prefixKey("u:alice")), "0")
    }

    // MARK: Refresh tokens

    func testConcurrentRefreshesOfOneTokenFromTwoGatewaysRotateOnce() throws {
        let a = try gateway(server)
        let b = try gateway(server)
        for round in 0..<50 {
            try a.create(record("t\(round)", kind: .token, refresh: "r\(round)"))
            let outcomes = Mutex<[RefreshOutcome]>([])
            let started = Atomic<Int>(0)
            let finished = DispatchSemaphore(value: 0)
            for (index, side) in [a, b].enumerated() {
                let store = side.store
                let presented = key("r\(round)")
                let next = key("r\(round)-next\(index)")
                let now = t0 + 1
                side.loop.post {
                    // Both loops spin until both are running, so the two calls leave at the same moment.
                    started.add(1, ordering: .acquiringAndReleasing)
                    while started.load(ordering: .acquiring) < 2 {}
                    store.rotateRefresh(presented, next: next, now: now) { result in
                        if case .success(let outcome) = result { outcomes.withLock { $0.append(outcome) } }
                        finished.signal()
                    }
                }
            }
            XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
            XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
            let results = outcomes.withLock { $0 }
            XCTAssertEqual(results.count, 2)
            XCTAssertEqual(results.filter { if case .rotated = $0 { true } else { false } }.count, 1, "round \(round)")
            XCTAssertEqual(results.filter { $0 == .reused(handle: "h-t\(round)", user: "alice") }.count, 1)
        }
    }

    // MARK: TTLs

    func testEverythingCarriesATTLSoNothingNeedsPurging() throws {
        try g.create(record("short", ttl: 100))
        try g.create(record("idle", idle: 50))
        try g.create(record("t", kind: .token, ttl: 100, refresh: "r1"))
        _ = try g.rotate(key("r1"), next: key("r2"), now: t0 + 1)
        XCTAssertEqual(g.backend.purgeExpired(now: t0 + 1000), 0)
        let names = try server.cli("KEYS", "gatehouse:*").split(whereSeparator: \.isNewline).map(String.init)
        XCTAssertTrue(names.contains(prefixKey("rs:" + key("r1").hex)))
        XCTAssertTrue(names.contains(prefixKey("rt:" + key("r2").hex)))
        for name in names where name != prefixKey("seq") {
            let ttl = Int(try server.cli("TTL", name)) ?? -1
            XCTAssertGreaterThan(ttl, 0, "\(name) has no TTL")
            XCTAssertLessThanOrEqual(ttl, 86_400, name)
        }
        let ttl = { (suffix: String) in Int(try self.server.cli("TTL", self.prefixKey(suffix))) ?? -1 }
        XCTAssertLessThanOrEqual(try ttl("s:" + key("short").hex), 100, "a session lives until its hard end")
        XCTAssertLessThanOrEqual(try ttl("s:" + key("idle").hex), 50, "or its idle end")
        XCTAssertGreaterThan(try ttl("h:h-idle"), 50, "pointers live until the hard end")
        XCTAssertLessThanOrEqual(try ttl("rs:" + key("r1").hex), 100, "spent refresh keys until the session's end")
    }

    // MARK: Cost and cache

    func testOneRedisCommandPerFetch() throws {
        try g.create(record("a", idle: 3600))
        _ = try g.find(key("a"), now: t0 + 1)  // the script is known to Redis from here on
        let evalshaBefore = try server.calls(of: "evalsha")
        let evalBefore = try server.calls(of: "eval")
        let sentBefore = try g.commandsSent()
        let fetches = 50
        for i in 0..<fetches { XCTAssertEqual(handle(of: try g.find(key("a"), now: t0 + 2 + Int64(i) * 10)), "h-a") }
        let perFetch = Double(try g.commandsSent() - sentBefore) / Double(fetches)
        let evalsha = try server.calls(of: "evalsha") - evalshaBefore
        print("redis store: \(perFetch) command(s) sent per fetch (cache off); Redis counted \(evalsha) EVALSHA for "
              + "\(fetches) fetches, slides of last_seen included")
        XCTAssertEqual(perFetch, 1)
        XCTAssertEqual(evalsha, fetches)
        XCTAssertEqual(try server.calls(of: "eval") - evalBefore, 0)
    }

    func testCacheAnswersRepeatLookupsUntilItsTTL() throws {
        let g = try gateway(server, cacheTTL: .milliseconds(300))
        try g.create(record("a"))
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        let sent = try g.commandsSent()
        for _ in 0..<10 { XCTAssertEqual(handle(of: try g.lookup(key("a"), now: t0 + 1)), "h-a", "from the cache") }
        XCTAssertEqual(try g.commandsSent(), sent, "cache hits cost no command")
        guard case .needsFetch = try g.lookup(key("a"), now: t0 + 86_400) else {
            return XCTFail("a cached session past its expiry must not be served")
        }
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        usleep(400_000)
        guard case .needsFetch = try g.lookup(key("a"), now: t0 + 1) else { return XCTFail("entry older than the TTL") }
        XCTAssertTrue(isAbsent(try g.find(key("unknown"), now: t0)))
        let sentBeforeUnknown = try g.commandsSent()
        for _ in 0..<10 {
            XCTAssertTrue(isAbsent(try g.lookup(key("unknown"), now: t0)), "an unknown ID is remembered (negative cache)")
        }
        XCTAssertEqual(try g.commandsSent(), sentBeforeUnknown, "negative hits cost no command")
        usleep(400_000)
        guard case .needsFetch = try g.lookup(key("unknown"), now: t0) else { return XCTFail("negative entry past the TTL") }
    }

    func testNegativeEntryIsDroppedWhenThisWorkerCreatesThatSession() throws {
        let g = try gateway(server, cacheTTL: .seconds(60))
        XCTAssertTrue(isAbsent(try g.find(key("late"), now: t0)))
        XCTAssertTrue(isAbsent(try g.lookup(key("late"), now: t0)), "remembered as unknown")
        try g.create(record("late"))
        guard case .needsFetch = try g.lookup(key("late"), now: t0) else {
            return XCTFail("a session created here must not be hidden by its negative entry")
        }
        XCTAssertEqual(handle(of: try g.find(key("late"), now: t0)), "h-late")
    }

    func testCacheIsBounded() throws {
        var settings = RedisSettings(host: "127.0.0.1", port: server.port, cacheTTL: .seconds(60))
        settings.cacheSize = 5
        let g = try gateway(server, settings: settings)
        for i in 0..<12 {
            try g.create(record("s\(i)"))
            _ = try g.find(key("s\(i)"), now: t0)
        }
        let store = g.store
        XCTAssertLessThanOrEqual(try g.loop.sync { $0(store.cachedSessionCount) }, 5)
    }

    // MARK: Two gateways on one Redis

    func testSessionCreatedOnOneGatewayIsFoundOnAnother() throws {
        let a = try gateway(server, cacheTTL: .seconds(5))
        let b = try gateway(server, cacheTTL: .seconds(5))
        try a.create(record("shared"))
        XCTAssertEqual(handle(of: try b.find(key("shared"), now: t0 + 1)), "h-shared")
        XCTAssertEqual(try b.delete(handle: "h-shared", of: "alice").get(), true)
        XCTAssertTrue(try waitUntil(seconds: 1) { self.isAbsent(try a.find(self.key("shared"), now: self.t0 + 2)) })
    }

    func testRevocationOnOneGatewayReachesTheOthersCacheQuickly() throws {
        let a = try gateway(server, cacheTTL: .seconds(30))
        let b = try gateway(server, cacheTTL: .seconds(30))
        var latencies: [Double] = []
        for i in 0..<200 {
            let name = "p\(i)"
            try b.create(record(name))
            XCTAssertEqual(handle(of: try a.find(key(name), now: t0)), "h-\(name)")
            XCTAssertEqual(handle(of: try a.lookup(key(name), now: t0)), "h-\(name)", "cached on A")
            let target = key(name)
            let seen = AnswerBox<UInt64>()
            let aStore = a.store
            _ = try a.loop.sync { done in
                aStore.onInvalidation = { key in if key == target { seen.set(Clocks.monotonicNanoseconds()) } }
                done(true)
            }
            let bStore = b.store
            let started = try b.loop.sync { done in
                let start = Clocks.monotonicNanoseconds()
                bStore.delete(target) { _ in done(start) }
            }
            guard let arrived = seen.wait(timeout: 2) else { return XCTFail("revocation \(i) never reached A") }
            latencies.append(Double(arrived - started) / 1_000_000)
            guard case .needsFetch = try a.lookup(target, now: t0) else { return XCTFail("A still serves \(name)") }
            XCTAssertTrue(isAbsent(try a.find(target, now: t0)))
        }
        latencies.sort()
        let p50 = Self.percentile(latencies, 0.5)
        let p99 = Self.percentile(latencies, 0.99)
        print(String(format: "redis store: revocation on B -> A's cache entry gone: p50 %.2f ms, p99 %.2f ms, max %.2f ms "
                     + "(%d revocations)", p50, p99, latencies.last ?? 0, latencies.count))
        XCTAssertLessThan(p99, 100, "revocation propagation p99")
    }

    func testTokenRevocationReachesEveryGatewayAndLateStarters() throws {
        let aRevocations = RevocationList()
        let a = try gateway(server, revocations: aRevocations)
        let b = try gateway(server)
        try a.create(record("t", kind: .token, refresh: "r"))
        XCTAssertEqual(try b.delete(handle: "h-t", of: "alice").get(), true)
        XCTAssertTrue(try waitUntil(seconds: 1) { aRevocations.isRevoked("h-t", now: self.t0 + 1) },
                      "A refuses the access tokens of a session ended on B")
        let lateRevocations = RevocationList()
        _ = try gateway(server, revocations: lateRevocations)
        XCTAssertTrue(try waitUntil(seconds: 2) { lateRevocations.isRevoked("h-t", now: self.t0 + 1) },
                      "a gateway started later reads the revoked set")
        XCTAssertFalse(lateRevocations.isRevoked("h-t", now: t0 + accessTTL))
    }

    func testConcurrentSignInsWithMaxOneFromTwoGatewaysLeaveOneSession() throws {
        let a = try gateway(server)
        let b = try gateway(server)
        for round in 0..<30 {
            let user = "racer\(round)"
            let ended = Mutex<[String]>([])
            let started = Atomic<Int>(0)
            let finished = DispatchSemaphore(value: 0)
            for (index, side) in [a, b].enumerated() {
                let store = side.store
                let made = record("race\(round)-\(index)", user: user)
                side.loop.post {
                    started.add(1, ordering: .acquiringAndReleasing)
                    while started.load(ordering: .acquiring) < 2 {}
                    store.create(made, maxPerUser: 1, now: made.createdAt) { result in
                        if case .success(let handles) = result { ended.withLock { $0 += handles } }
                        finished.signal()
                    }
                }
            }
            XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
            XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
            XCTAssertEqual(try a.sessions(of: user, now: t0).count, 1, "round \(round)")
            XCTAssertEqual(ended.withLock { $0.count }, 1, "the second sign-in ended the first")
        }
    }

    // MARK: URLs

    func testRedisURLParsing() throws {
        XCTAssertEqual(try RedisURL(parsing: "redis://127.0.0.1"), RedisURL(host: "127.0.0.1"))
        XCTAssertEqual(try RedisURL(parsing: "redis://cache.internal:6380/2"),
                       RedisURL(host: "cache.internal", port: 6380, db: 2))
        XCTAssertEqual(try RedisURL(parsing: "redis://gw:p%40ss%3Aw%2Frd@10.0.0.5:7000/1"),
                       RedisURL(host: "10.0.0.5", port: 7000, db: 1, username: "gw", password: "p@ss:w/rd"))
        XCTAssertEqual(try RedisURL(parsing: "redis://:secret@[::1]:6379/0"),
                       RedisURL(host: "::1", username: nil, password: "secret"))
        XCTAssertEqual(try RedisURL(parsing: "REDIS://h/"), RedisURL(host: "h"))
        let tls = XCTAssertThrowsErrorMessage(try RedisURL(parsing: "rediss://h:6379"))
        XCTAssertTrue(tls.contains("TLS to Redis is not supported"), tls)
        XCTAssertTrue(XCTAssertThrowsErrorMessage(try RedisURL(parsing: "http://h")).contains("unsupported scheme"))
        for bad in ["h:6379", "redis://", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/x",
                    "redis://h/-1", "redis://h?db=1", "redis://u:%zz@h", "redis://[::1"] {
            XCTAssertThrowsError(try RedisURL(parsing: bad), bad)
        }
        let url = try RedisURL(parsing: "redis://gw:topsecret@h:1/3")
        XCTAssertFalse(url.description.contains("topsecret"))
        XCTAssertEqual(RedisSettings(url: url, password: "fromenv").password, "fromenv")
    }
}

// MARK: - Faults: each test has its own redis-server to stop, slow down, flush or restart

final class RedisSessionStoreFaultTests: RedisStoreTestCase {
    /// `outage_grace` serves cached sessions for a bounded time after the connection is lost, then fails closed.
    func testCachedSessionsAreServedForTheOutageGraceOnly() throws {
        let server = try RedisServerProcess()
        var settings = RedisSettings(host: "127.0.0.1", port: server.port, timeout: .milliseconds(300),
                                     cacheTTL: .seconds(30))
        settings.outageGrace = .seconds(1)
        let g = try gateway(server, settings: settings)
        try g.create(record("a"))
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        server.stop()
        XCTAssertTrue(try waitUntil(seconds: 2) { !g.backend.isReachable }, "the lost connection is noticed")
        XCTAssertEqual(handle(of: try g.lookup(key("a"), now: t0)), "h-a", "cached: served within the grace")
        XCTAssertTrue(isUnavailable(try g.find(key("b"), now: t0)), "uncached: 503 at once")
        XCTAssertTrue(try waitUntil(seconds: 3) { self.isUnavailable(try g.lookup(self.key("a"), now: self.t0)) },
                      "after the grace a cached session is no longer served while Redis is down")
    }

    func testRedisDownFailsClosedThenTheStoreReconnects() throws {
        let server = try RedisServerProcess()
        var settings = RedisSettings(host: "127.0.0.1", port: server.port, timeout: .milliseconds(300),
                                     cacheTTL: .seconds(5))
        settings.outageGrace = .zero  // no grace: fail closed at once
        let g = try gateway(server, settings: settings)
        try g.create(record("a"))
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        server.stop()
        XCTAssertTrue(try waitUntil(seconds: 2) { self.isUnavailable(try g.lookup(self.key("a"), now: self.t0)) },
                      "a cached session is not served while Redis is down")
        let started = Date()
        XCTAssertTrue(isUnavailable(try g.find(key("a"), now: t0)))
        XCTAssertEqual(try g.createResult(record("b")).failureReason, "unreachable")
        XCTAssertThrowsError(try g.deleteAll(of: "alice"))
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.3, "calls fail at once, not after a wait")

        try server.start()
        XCTAssertTrue(try waitUntil(seconds: 10) { !self.isUnavailable(try g.lookup(self.key("a"), now: self.t0)) },
                      "the store reconnects by itself")
        try g.waitUntilConnected()
        XCTAssertTrue(isAbsent(try g.find(key("a"), now: t0)), "sessions lost with an unpersisted Redis")
        try g.create(record("c"))
        XCTAssertEqual(handle(of: try g.find(key("c"), now: t0)), "h-c")
        server.stop()
    }

    func testNothingListeningFailsFast() throws {
        let server = try RedisServerProcess()
        server.stop()
        let g = try gateway(server, timeout: .milliseconds(300), waitForConnection: false)
        XCTAssertTrue(try waitUntil(seconds: 2) { self.isUnavailable(try g.lookup(self.key("a"), now: self.t0)) })
        let started = Date()
        XCTAssertEqual(try g.createResult(record("a")).failureReason, "unreachable")
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.2)
    }

    func testSlowRedisHitsTheTimeoutAndTheStoreRecovers() throws {
        let server = try RedisServerProcess()
        let g = try gateway(server, timeout: .milliseconds(200))
        try g.create(record("a"))
        let sleeper = try server.cliInBackground("DEBUG", "SLEEP", "1")
        usleep(100_000)
        let started = Date()
        let answer = try g.find(key("a"), now: t0)
        let elapsed = Date().timeIntervalSince(started)
        guard case .unavailable(let error) = answer else { return XCTFail("expected a timeout, got \(answer)") }
        XCTAssertEqual(error, StoreError("timeout"))
        print(String(format: "redis store: a call with timeout 200 ms against a sleeping Redis failed after %.0f ms",
                     elapsed * 1000))
        XCTAssertGreaterThan(elapsed, 0.15)
        XCTAssertLessThan(elapsed, 0.5)
        sleeper.waitUntilExit()
        try g.waitUntilConnected()
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a", "recovered")
        server.stop()
    }

    func testFlushedRedisMeansSignedOutNotACrash() throws {
        let server = try RedisServerProcess()
        let g = try gateway(server, cacheTTL: .seconds(5))
        try g.create(record("a"))
        try g.create(record("t", kind: .token, refresh: "r1"))
        try server.cli("FLUSHALL")
        try server.cli("SCRIPT", "FLUSH")
        XCTAssertTrue(isAbsent(try g.find(key("b"), now: t0)))
        XCTAssertEqual(try g.rotate(key("r1"), next: key("r2"), now: t0), .invalid)
        XCTAssertEqual(try g.sessions(of: "alice", now: t0), [])
        try g.create(record("c"))
        XCTAssertEqual(handle(of: try g.find(key("c"), now: t0)), "h-c", "scripts reloaded after NOSCRIPT")
        server.stop()
    }

    func testRestartedRedisThatKeptItsDataKeepsTheSessions() throws {
        let server = try RedisServerProcess()
        let g = try gateway(server)
        try g.create(record("a"))
        try server.cli("SAVE")
        server.stop()
        try server.start()
        try g.waitUntilConnected()
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        server.stop()
    }

    func testPasswordAndDatabaseFromTheURL() throws {
        let server = try RedisServerProcess(password: "s3cret/@")
        let url = try RedisURL(parsing: "redis://:s3cret%2F%40@127.0.0.1:\(server.port)/3")
        let g = try gateway(server, settings: RedisSettings(url: url, keyPrefix: "gh:"))
        try g.create(record("a"))
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        XCTAssertEqual(try server.cli(["EXISTS", "gh:s:" + key("a").hex], db: 3), "1")
        XCTAssertEqual(try server.cli(["DBSIZE"], db: 0), "0")

        let wrong = try gateway(server, settings: RedisSettings(host: "127.0.0.1", port: server.port,
                                                                password: "wrong"), waitForConnection: false)
        XCTAssertTrue(try waitUntil(seconds: 2) { self.isUnavailable(try wrong.lookup(self.key("a"), now: self.t0)) })
        XCTAssertEqual(try wrong.createResult(record("b")).failureReason, "unreachable")
        server.stop()
    }

    func testHostNameIsResolvedOffTheLoop() throws {
        let server = try RedisServerProcess()
        let g = try gateway(server, settings: RedisSettings(host: "localhost", port: server.port))
        try g.create(record("a"))
        XCTAssertEqual(handle(of: try g.find(key("a"), now: t0)), "h-a")
        server.stop()
    }
}

extension Result where Failure == StoreError {
    var failureReason: String? {
        if case .failure(let error) = self { return error.reason }
        return nil
    }
}

/// The message of the error `expression` throws ("" when it throws none, which also fails the test).
func XCTAssertThrowsErrorMessage<T>(_ expression: @autoclosure () throws -> T, file: StaticString = #filePath,
                                    line: UInt = #line) -> String {
    do {
        _ = try expression()
        XCTFail("no error thrown", file: file, line: line)
        return ""
    } catch {
        return "\(error)"
    }
}
