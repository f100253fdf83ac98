import Foundation
import GatehouseTestSupport
import Testing

/// Issue 15: sessions on a Redis that fails over. Real `redis-server` master and replica, three real
/// `redis-sentinel`s (down-after 1 s, so a failover takes a few seconds), two gateways on them; fake sentinels
/// (a tiny RESP server) for the answers a real one never gives.
@Suite("Sessions on Redis Sentinel: failover without a lost or unchecked session", .serialized)
struct SessionSentinelTests {
    /// The `sessions` store lines for `addresses` (extra keys of `sessions.redis` in `extra`).
    static func store(_ addresses: [String], master: String = "ghmaster", sentinelExtra: String = "",
                      extra: String = "") -> String {
        let list = addresses.map { "\"\($0)\"" }.joined(separator: ", ")
        return "store: redis\nredis: { key_prefix: \"gh-test:\", timeout: 300ms, sentinel: { master: \(master), "
            + "addresses: [\(list)]\(sentinelExtra) }\(extra) }"
    }

    /// A gateway with a session route (`/app`), a JWT route (`/api`) and a public one (`/`).
    static func gateway(_ addresses: [String], master: String = "ghmaster", sentinelExtra: String = "",
                        extra: String = "", environment: [String: String] = [:]) throws -> SessionGateway {
        let api = """
              - name: api
                match: { path_prefix: /api }
                upstream: app
                accept: [bearer]
            """
        return try SessionFixture.gateway(extraRoutes: api, top: authStandardTokens(), extraFiles: authStandardFiles,
                                          store: store(addresses, master: master, sentinelExtra: sentinelExtra,
                                                       extra: extra),
                                          environment: environment)
    }

    static func ready(_ gw: SessionGateway) throws -> Int {
        try gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n").status
    }

    static func waitReady(_ gw: SessionGateway, timeout: Double = 15) throws {
        try RedisFailoverSet.poll("readyz 200\n\(gw.auth.diagnostics)", timeout: timeout) { try ready(gw) == 200 }
    }

    /// Signs alice in, retrying a 503 for a few seconds: right after a failover the demoted master may still be
    /// re-syncing as the new master's replica, and a sign-in no replica acknowledged is refused, not reported done.
    static func signInAfterFailover(_ gw: SessionGateway) throws -> String {
        var cookie: String?
        try RedisFailoverSet.poll("a sign-in after the failover\n\(gw.auth.diagnostics)", timeout: 20) {
            let response = try gw.signIn("alice", SessionFixture.alicePassword)
            cookie = SessionGateway.cookie(of: response)
            return response.status == 303 && cookie != nil
        }
        return cookie!
    }

    /// The value of one unlabelled counter on the admin listener's /metrics.
    static func metric(_ gw: SessionGateway, _ name: String) throws -> Int? {
        let body = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").bodyText
        for line in body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(line.dropFirst(name.count + 1))
        }
        return nil
    }

    static let unknownCookie = "gatehouse_session=" + String(repeating: "C", count: 42) + "A"

    @Test("SENTINEL FAILOVER under load: both gateways follow; sessions survive; a logout just before stays one")
    func plannedFailover() throws {
        let set = try RedisFailoverSet()
        try failoverScenario(set, name: "SENTINEL FAILOVER") {
            try set.sentinels[0].cli("SENTINEL", "FAILOVER", set.name)
        }
    }

    @Test("kill -9 of the master under load, with the cache: cached sessions served through the outage grace")
    func masterKilledCached() throws {
        let set = try RedisFailoverSet()
        let counts = try failoverScenario(set, name: "kill -9, cache on") {
            try set.server(port: set.masterPort()).stop()
            return "killed"
        }
        #expect(counts.liveUnavailable == 0, "the live session was cached when the master died: \(counts)")
    }

    @Test("kill -9 of the master under load, no cache: 503 + Retry-After during the switch, never an unchecked 200")
    func masterKilled() throws {
        let set = try RedisFailoverSet()
        // No cache: every session request asks Redis, so the switch shows as 503s (with the cache, the sessions
        // cached when the master died are served through the outage grace, as in the planned failover).
        let counts = try failoverScenario(set, name: "kill -9, cache_ttl 0",
                                          extra: ", cache_ttl: 0, unknown_cookie_limit: { lookups: 0 }") {
            try set.server(port: set.masterPort()).stop()
            return "killed"
        }
        #expect(counts.liveUnavailable > 0, "the switch took seconds: some lookups must have been refused")
    }

    /// Two gateways, a session made before, a logout just before `fail`, a load loop through it: no request
    /// on a session route may get 200 unless its session is live; the gateways follow; everything works after.
    @discardableResult
    private func failoverScenario(_ set: RedisFailoverSet, name: String, extra: String = "",
                                  fail: () throws -> String) throws -> FailoverLoad.Counts {
        let oldMaster = try set.masterPort()
        let a = try Self.gateway(set.addresses, extra: extra)
        let b = try Self.gateway(set.addresses, extra: extra)
        try Self.waitReady(a)
        try Self.waitReady(b)
        let live = try SessionFixture.aliceCookie(a)
        let ended = try SessionFixture.aliceCookie(b)
        #expect(try b.get("/app/", headers: "Cookie: \(live)\r\n").status == 200)
        #expect(try a.get("/app/", headers: "Cookie: \(ended)\r\n").status == 200, "cached on A now (with a cache)")
        let load = FailoverLoad(gateways: [a, b], live: live, ended: ended, unknown: Self.unknownCookie,
                                token: authToken())
        load.start()
        try RedisFailoverSet.poll("the load loop running", timeout: 5) { load.rounds >= 2 }
        // The logout goes to B; A has the session cached. Answered 204 only once the replica has it (WAIT).
        let logout = try b.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(ended)\r\n"
                                + "Content-Length: 0\r\n\r\n")
        #expect(logout.status == 204)
        load.markEnded()
        // The writes that matter waited for the replica (replica_ack: auto, one replica): two sign-ins, a logout.
        #expect(try set.server(port: oldMaster).calls(of: "wait") >= 3)
        let started = Date()
        #expect(try fail() != "")
        var newMaster = oldMaster
        try RedisFailoverSet.poll("the sentinels to name a new master", timeout: 30) {
            newMaster = (try? set.masterPort()) ?? oldMaster
            return newMaster != oldMaster
        }
        let named = Date().timeIntervalSince(started)
        var followed: [Double] = []
        for gw in [a, b] {
            try RedisFailoverSet.poll("the gateway to follow the failover\n\(gw.auth.diagnostics)", timeout: 20) {
                try gw.get("/app/", headers: "Cookie: \(live)\r\n").status == 200 && Self.ready(gw) == 200
                    && gw.auth.diagnostics.contains("to 127.0.0.1:\(newMaster)")
            }
            followed.append(Date().timeIntervalSince(started))
        }
        for gw in [a, b] {
            #expect(try Self.metric(gw, "gatehouse_session_store_master_changes_total") ?? 0 >= 1,
                    "every worker that followed counts the move")
        }
        // A little more load on the new master, then stop and count.
        let roundsNow = load.rounds
        try RedisFailoverSet.poll("load after the switch", timeout: 5) { load.rounds >= roundsNow + 3 }
        let counts = load.stop()
        print("""
            \(name): sentinels named \(newMaster) after \(String(format: "%.2f", named)) s; gateways served the \
            session again after \(followed.map { String(format: "%.2f", $0) }) s; \(counts)
            """)
        #expect(counts.uncheckedOK == 0, "a session-route 200 for a session that is not live: \(counts)")
        #expect(counts.badLive == 0, "a live session got something other than 200 or 503 + Retry-After: \(counts)")
        #expect(counts.unavailableWithoutRetryAfter == 0, "\(counts)")
        #expect(counts.otherRouteFailures == 0, "JWT and public routes must go on during a failover: \(counts)")
        #expect(counts.liveOK > 0 && counts.requests > 50, "\(counts)")

        for gw in [a, b] {
            #expect(try gw.get("/app/", headers: "Cookie: \(live)\r\n").status == 200, "the session survived")
            #expect(try gw.get("/app/", headers: "Cookie: \(ended)\r\n").status == 401, "the logout stayed a logout")
            let fresh = try Self.signInAfterFailover(gw)
            #expect(try a.get("/app/", headers: "Cookie: \(fresh)\r\n").status == 200)
            #expect(try b.get("/app/", headers: "Cookie: \(fresh)\r\n").status == 200)
        }
        // Invalidations flow on the new master: a logout on B is refused on A (which cached it, with a cache) before
        // the 5 s cache TTL, so A is subscribed there.
        let later = try Self.signInAfterFailover(a)
        #expect(try a.get("/app/", headers: "Cookie: \(later)\r\n").status == 200)
        #expect(try b.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(later)\r\n"
                           + "Content-Length: 0\r\n\r\n").status == 204)
        try RedisFailoverSet.poll("A to refuse a session B signed out after the failover", timeout: 1) {
            try a.get("/app/", headers: "Cookie: \(later)\r\n").status == 401
        }
        #expect(a.gateway.gateway.process.isRunning && b.gateway.gateway.process.isRunning)
        return counts
    }

    @Test("replica_ack: 1 with no replica: a sign-in is not reported done (503 + Retry-After); a replica: it is")
    func replicaAckRequired() throws {
        let redis = try RedisServerProcess()
        let gw = try SessionFixture.gateway(redisPort: redis.port,
                                            redisExtra: "replica_ack: 1, replica_ack_timeout: 1s")
        let refused = try gw.signIn("alice", SessionFixture.alicePassword)
        #expect(refused.status == 503 && refused.header("Retry-After") != nil, "\(refused.status)")
        #expect(SessionGateway.cookie(of: refused) == nil, "no cookie for a session no replica has")
        try RedisFailoverSet.poll("the shortfall logged", timeout: 5) {
            gw.auth.diagnostics.contains("0 of 1 replica(s) acknowledged")
        }
        #expect(try Self.metric(gw, "gatehouse_session_store_replica_ack_failures_total") == 1)
        #expect(try Self.metric(gw, "gatehouse_session_store_master_changes_total") == 0)
        let replica = try RedisServerProcess(extraArguments: ["--replicaof", "127.0.0.1", "\(redis.port)"])
        try RedisFailoverSet.poll("the replica in sync", timeout: 10) {
            try replica.cli("INFO", "replication").contains("master_link_status:up")
        }
        let cookie = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
        #expect(try redis.calls(of: "wait") >= 2)
    }

    @Test("replica_ack: auto with a replica still re-syncing (ROLE does not list it): sign-ins wait, 503 until it is in sync")
    func replicaAckWaitsForResyncingReplica() throws {
        // The master delays the replica's full sync by 4 s (repl-diskless-sync-delay; Redis's default is 5 s, which is
        // what a demoted master goes through right after a failover): the replica is attached but not in ROLE.
        let redis = try RedisServerProcess(extraArguments: ["--repl-diskless-sync", "yes",
                                                            "--repl-diskless-sync-delay", "4"])
        let gw = try SessionFixture.gateway(redisPort: redis.port, redisExtra: "replica_ack_timeout: 200ms")
        let replica = try RedisServerProcess(extraArguments: ["--replicaof", "127.0.0.1", "\(redis.port)"])
        try RedisFailoverSet.poll("the replica attached, not yet in sync", timeout: 5) {
            try redis.cli("INFO", "replication").contains("state=wait_bgsave")
        }
        #expect(try !redis.cli("ROLE").contains("\(replica.port)"), "ROLE lists only replicas in sync")
        Thread.sleep(forTimeInterval: 1.5)  // the gateway's once-a-second ROLE/INFO round
        let early = try gw.signIn("alice", SessionFixture.alicePassword)
        #expect(early.status == 503 && early.header("Retry-After") != nil,
                "a sign-in no replica has is not reported done: \(early.status)")
        #expect(SessionGateway.cookie(of: early) == nil)
        try RedisFailoverSet.poll("the replica in sync", timeout: 15) {
            try replica.cli("INFO", "replication").contains("master_link_status:up")
        }
        // In sync, it acknowledges; the first WAIT may still miss its 200 ms on a loaded machine, hence the retry.
        let cookie = try Self.signInAfterFailover(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
        #expect(try replica.cli("DBSIZE").trimmingCharacters(in: .whitespacesAndNewlines) != "0",
                "the session reached the replica before the sign-in was answered")
    }

    @Test("a sentinel naming a replica as the master: ROLE check refuses it (503, not ready); the real one is used")
    func sentinelNamesReplica() throws {
        let master = try RedisServerProcess()
        let replica = try RedisServerProcess(extraArguments: ["--replicaof", "127.0.0.1", "\(master.port)"])
        let named = NamedPort(replica.port)
        let fake = try FakeSentinel { command in
            switch command.first?.uppercased() {
            case "PING": return "+PONG\r\n"
            case "SUBSCRIBE": return "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
            default: return FakeSentinel.address("127.0.0.1", "\(named.value)")
            }
        }
        let gw = try Self.gateway(["127.0.0.1:\(fake.port)"])
        try RedisFailoverSet.poll("the ROLE refusal logged", timeout: 10) {
            gw.auth.diagnostics.contains("ROLE refused: an array of")
                && gw.auth.diagnostics.contains("\"slave\"")
        }
        #expect(try Self.ready(gw) == 503)
        let refused = try gw.get("/app/", headers: "Cookie: \(Self.unknownCookie)\r\n")
        #expect(refused.status == 503 && refused.header("Retry-After") == "1", "\(refused.status)")
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 503, "nothing is written to a replica")
        #expect(try replica.cli("DBSIZE") == "0")
        #expect(try gw.get("/api/x", headers: "Authorization: Bearer \(authToken())\r\n").status == 200)
        // The sentinel gets it right: the gateway asks again (every second while not connected) and recovers.
        named.value = master.port
        try Self.waitReady(gw)
        // The replica is attached from the start, so a sign-in waits for it: once it is in sync, it acknowledges.
        try RedisFailoverSet.poll("the replica in sync", timeout: 15) {
            try replica.cli("INFO", "replication").contains("master_link_status:up")
        }
        let cookie = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
    }

    @Test("sentinels answering garbage are skipped: the next one is asked; only garbage: not ready, 503")
    func garbageSentinels() throws {
        let master = try RedisServerProcess()
        let status = try FakeSentinel.answering("+hello\r\n")
        let badPort = try FakeSentinel.answering(FakeSentinel.address("127.0.0.1", "notaport"))
        let error = try FakeSentinel.answering("-ERR unknown command\r\n")
        let http = try FakeSentinel { _ in "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" }
        let good = try FakeSentinel.answering(FakeSentinel.address("127.0.0.1", "\(master.port)"))
        let junk = [status, badPort, error, http].map { "127.0.0.1:\($0.port)" }

        let lost = try Self.gateway(junk)
        try RedisFailoverSet.poll("every garbage answer logged\n\(lost.auth.diagnostics)", timeout: 10) {
            let log = lost.auth.diagnostics
            return log.contains("answered hello, not an address")
                && log.contains("answered an address that is not host and port")
                && log.contains("ERR unknown command")
        }
        #expect(try Self.ready(lost) == 503)
        let refused = try lost.get("/app/", headers: "Cookie: \(Self.unknownCookie)\r\n")
        #expect(refused.status == 503 && refused.header("Retry-After") == "1")
        #expect(try lost.get("/hello").status == 200)

        let found = try Self.gateway(junk + ["127.0.0.1:\(good.port)"])
        try Self.waitReady(found)
        let cookie = try SessionFixture.aliceCookie(found)
        #expect(try found.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
    }

    @Test("a master name no sentinel knows: the gateway does not start, and says which key")
    func unknownMasterName() throws {
        let master = try RedisServerProcess()
        let sentinel = try RedisSentinelProcess(directory: master.directory, name: "ghmaster", masterPort: master.port)
        do {
            _ = try Self.gateway(["127.0.0.1:\(sentinel.port)"], master: "nosuchmaster")
            Issue.record("the gateway started with an unknown master name")
        } catch {
            let text = "\(error)"
            #expect(text.contains("sessions.redis.sentinel.master"), "\(text)")
            #expect(text.contains("knows no master named \"nosuchmaster\""), "\(text)")
        }
        let gw = try Self.gateway(["127.0.0.1:\(sentinel.port)"])
        try Self.waitReady(gw)
    }

    @Test("sentinels unreachable at start: the gateway starts, readiness 503, retries with backoff, then works")
    func sentinelsUnreachableAtStart() throws {
        let master = try RedisServerProcess()
        let ports = try (0..<2).map { _ in try freeLoopbackPort() }
        let gw = try Self.gateway(ports.map { "127.0.0.1:\($0)" })
        #expect(try Self.ready(gw) == 503)
        let refused = try gw.get("/app/", headers: "Cookie: \(Self.unknownCookie)\r\n")
        #expect(refused.status == 503 && refused.header("Retry-After") == "1")
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 503)
        #expect(try gw.get("/api/x", headers: "Authorization: Bearer \(authToken())\r\n").status == 200)
        #expect(gw.auth.diagnostics.contains("no sentinel answered yet"))
        // A sentinel comes up on the second address: found without a restart.
        let sentinel = try RedisSentinelProcess(directory: master.directory, name: "ghmaster", masterPort: master.port,
                                                port: ports[1])
        try Self.waitReady(gw)
        let cookie = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
        _ = sentinel
    }

    @Test("sentinel password wrong (Redis password right): a clear start error; both right: it works")
    func sentinelPassword() throws {
        let master = try RedisServerProcess(password: "data-secret")
        let sentinel = try RedisSentinelProcess(directory: master.directory, name: "ghmaster", masterPort: master.port,
                                                dataPassword: "data-secret", password: "sentinel-secret")
        let keys = ", password_env: GH_SENTINEL_PW"
        let extra = ", password_env: GH_REDIS_PW"
        for wrong in ["data-secret", "nope"] {
            do {
                _ = try Self.gateway(["127.0.0.1:\(sentinel.port)"], sentinelExtra: keys, extra: extra,
                                     environment: ["GH_SENTINEL_PW": wrong, "GH_REDIS_PW": "data-secret"])
                Issue.record("the gateway started with a wrong sentinel password (\(wrong))")
            } catch {
                let text = "\(error)"
                #expect(text.contains("sessions.redis.sentinel.password_env"), "\(text)")
                #expect(text.contains("refused the password"), "\(text)")
                #expect(!text.contains(wrong), "no password in the message")
            }
        }
        let gw = try Self.gateway(["127.0.0.1:\(sentinel.port)"], sentinelExtra: keys, extra: extra,
                                  environment: ["GH_SENTINEL_PW": "sentinel-secret", "GH_REDIS_PW": "data-secret"])
        try Self.waitReady(gw)
        let cookie = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
    }
}

/// A port a fake sentinel names, changed by the test while the fake answers on its own threads.
final class NamedPort: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int
    init(_ port: Int) { self.port = port }
    var value: Int {
        get { lock.withLock { port } }
        set { lock.withLock { port = newValue } }
    }
}

/// Requests in a loop on a thread of their own, through a failover: a live session, an ended one, an unknown
/// cookie, a JWT route and a public route on each gateway; counts what a failover must never produce.
final class FailoverLoad: @unchecked Sendable {
    struct Counts: CustomStringConvertible {
        var requests = 0
        var liveOK = 0
        var liveUnavailable = 0
        /// A live session answered neither 200 nor 503 (a lost session would be 302/401).
        var badLive = 0
        /// 200 on a session route for the ended session or the unknown cookie.
        var uncheckedOK = 0
        var unavailableWithoutRetryAfter = 0
        var otherRouteFailures = 0
        var notes: [String] = []

        var description: String {
            "\(requests) requests: live session 200 \(liveOK), 503 \(liveUnavailable), other \(badLive); "
                + "unchecked 200 \(uncheckedOK); 503 without Retry-After \(unavailableWithoutRetryAfter); "
                + "JWT/public failures \(otherRouteFailures) \(notes.prefix(5))"
        }
    }

    private let gateways: [SessionGateway]
    private let live: String
    private let ended: String
    private let unknown: String
    private let token: String
    private let lock = NSLock()
    private var counts = Counts()
    private var running = true
    /// Set once the logout of `ended` was answered: from then on a 200 for it is an unchecked one.
    private var endedIsOut = false
    private var finishedRounds = 0
    private let done = DispatchSemaphore(value: 0)

    init(gateways: [SessionGateway], live: String, ended: String, unknown: String, token: String) {
        self.gateways = gateways
        self.live = live
        self.ended = ended
        self.unknown = unknown
        self.token = token
    }

    var rounds: Int { lock.withLock { finishedRounds } }

    func markEnded() { lock.withLock { endedIsOut = true } }

    func start() {
        Thread { [self] in
            while lock.withLock({ running }) {
                for gw in gateways { round(gw) }
                lock.withLock { finishedRounds += 1 }
            }
            done.signal()
        }.start()
    }

    func stop() -> Counts {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { counts }
    }

    private func round(_ gw: SessionGateway) {
        let liveAnswer = try? gw.get("/app/", headers: "Cookie: \(live)\r\n")
        let endedCounts = lock.withLock { endedIsOut }
        let endedAnswer = try? gw.get("/app/", headers: "Cookie: \(ended)\r\n")
        let unknownAnswer = try? gw.get("/app/", headers: "Cookie: \(unknown)\r\n")
        let jwt = try? gw.get("/api/x", headers: "Authorization: Bearer \(token)\r\n")
        let open = try? gw.get("/hello")
        lock.withLock {
            counts.requests += 5
            for answer in [liveAnswer, endedAnswer, unknownAnswer] where answer?.status == 503 {
                if answer?.header("Retry-After") == nil { counts.unavailableWithoutRetryAfter += 1 }
            }
            switch liveAnswer?.status {
            case 200?: counts.liveOK += 1
            case 503?: counts.liveUnavailable += 1
            case let other:
                counts.badLive += 1
                counts.notes.append("live \(other.map(String.init) ?? "no answer")")
            }
            for answer in [endedCounts ? endedAnswer : nil, unknownAnswer] where answer?.status == 200 {
                counts.uncheckedOK += 1
            }
            for answer in [jwt, open] where answer?.status != 200 {
                counts.otherRouteFailures += 1
                counts.notes.append("jwt/public \(answer.map { String($0.status) } ?? "no answer")")
            }
        }
    }
}
