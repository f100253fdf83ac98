import Foundation
import GatehouseTestSupport
import Testing

/// The embedded store's promises to a crash and to a failing disk: an answered logout stays answered, a file
/// that takes no writes turns the answer and readiness into 503, and a signed-out token session's access tokens
/// stay refused across a restart.
@Suite("Sessions: durability of the embedded store")
struct SessionDurabilityTests {
    static func logout(_ gw: SessionGateway, cookie: String) throws -> RawResponse {
        try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\n"
                    + "Sec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n\r\n")
    }

    /// SIGKILL (nothing flushed, no drain), then the same config and store file again.
    static func killAndRestart(_ gw: SessionGateway) throws {
        gw.gateway.gateway.signal(SIGKILL)
        _ = gw.gateway.gateway.waitForExit(timeout: 10)
        try gw.restart()
    }

    @Test("kill -9 right after a logout answer never brings the session back (20 trials)")
    func killAfterLogoutNeverResurrects() throws {
        let gw = try SessionFixture.gateway()
        var cookies: [String] = []
        for _ in 0..<20 { cookies.append(try SessionFixture.aliceCookie(gw)) }
        for (trial, cookie) in cookies.enumerated() {
            let answer = try Self.logout(gw, cookie: cookie)
            try Self.killAndRestart(gw)
            #expect(answer.status == 204)
            let after = try gw.get("/app/", headers: "Cookie: \(cookie)\r\n")
            #expect(after.status == 401, "trial \(trial): a logout answered 204 came back after kill -9")
        }
        let kept = try gw.get("/app/", headers: "Cookie: \(cookies.last!)\r\n")
        #expect(kept.status == 401)
    }

    @Test("kill -9 right after a sign-in answer keeps the session (20 trials)")
    func killAfterSignInKeepsTheSession() throws {
        let gw = try SessionFixture.gateway()
        for trial in 0..<20 {
            let cookie = try SessionFixture.aliceCookie(gw)
            try Self.killAndRestart(gw)
            #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200, "trial \(trial)")
        }
    }

    @Test("token mode: kill -9 right after a refresh answer keeps the rotation (10 trials)")
    func killAfterRefreshKeepsTheRotation() throws {
        let gw = try SessionTokenModeTests.gateway()
        var current = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        for trial in 0..<10 {
            let spent = current.refresh
            current = try SessionTokenModeTests.tokens(try SessionTokenModeTests.refresh(gw, spent))
            try Self.killAndRestart(gw)
            let next = try SessionTokenModeTests.refresh(gw, current.refresh)
            #expect(next.status == 200, "trial \(trial): the refresh token the client was given is unknown after kill -9")
            guard next.status == 200 else { return }
            current = try SessionTokenModeTests.tokens(next)
        }
    }

    @Test("a locked store file: logout answers 503, readiness 503, the failure is counted; all recover when unlocked")
    func lockedFileFailsClosed() throws {
        let gw = try SessionFixture.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        let other = try SessionFixture.aliceCookie(gw)
        #expect(try gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n").status == 200)

        let locker = try SQLiteLocker(path: gw.directory + "/sessions.sqlite")
        defer { locker.release() }
        let failed = try Self.logout(gw, cookie: cookie)
        #expect(failed.status == 503, "a logout the file did not take is not answered 204")
        #expect(failed.header("Retry-After") != nil)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 401, "it holds in memory all the same")
        let ready = try gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n")
        #expect(ready.status == 503)
        #expect(ready.bodyText.contains("session store"))
        let metrics = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n").bodyText
        #expect(metrics.contains("gatehouse_session_store_up 0"))
        let failures = metrics.split(separator: "\n").first { $0.hasPrefix("gatehouse_session_store_write_failures_total ") }
        #expect(failures.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } ?? false, "\(metrics)")
        #expect(gw.gateway.gateway.stderr.contains("session store write failed"))
        let signIn = try gw.signIn("alice", SessionFixture.alicePassword)
        #expect(signIn.status == 503, "no new session while the file takes no writes")

        locker.release()
        #expect(eventually(10) { (try? gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n").status) == 200 })
        #expect(try Self.logout(gw, cookie: other).status == 204)
        try Self.killAndRestart(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 401, "the failed logout was written later")
        #expect(try gw.get("/app/", headers: "Cookie: \(other)\r\n").status == 401)
    }

    @Test("token mode: a signed-out session's access tokens stay refused after a restart")
    func revokedAccessTokenStaysRevokedAfterRestart() throws {
        let gw = try SessionTokenModeTests.gateway()
        let laptop = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let phone = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let logout = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\n"
                                 + "Authorization: Bearer \(laptop.access)\r\nContent-Length: 0\r\n\r\n")
        #expect(logout.status == 204)
        #expect(try SessionTokenModeTests.api(gw, laptop.access).status == 401)
        try gw.restart()
        #expect(try SessionTokenModeTests.api(gw, laptop.access).status == 401, "revocation lost in the restart")
        #expect(try SessionTokenModeTests.api(gw, phone.access).status == 200)
        try Self.killAndRestart(gw)
        #expect(try SessionTokenModeTests.api(gw, laptop.access).status == 401, "revocation lost in a kill -9")
    }

    @Test("Redis, token mode: until the revoked set is read after a restart, the gateway's own tokens get 503 and readiness too")
    func redisRevocationsGateOwnTokens() throws {
        // AOF, written before each reply (with everysec, a busy disk can postpone the write past the reply): the
        // revoked set survives the Redis kill below.
        let redis = try RedisServerProcess(extraArguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let keyPEM = try SessionTokenModeTests.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let gw = try SessionFixture.gateway(
            login: "mode: token\nsigning_key: { pem_file: \"@KEYS@/signing.pem\", kid: test-key }\naccess_ttl: 10m",
            extraRoutes: "  - name: api\n    match: { path_prefix: /api }\n    upstream: app\n    accept: [bearer]",
            appAccept: "[bearer]", redisPort: redis.port, top: authStandardTokens(),
            extraFiles: authStandardFiles.merging(["signing.pem": keyPEM]) { $1 })
        let laptop = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let phone = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        #expect(try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\n"
                            + "Authorization: Bearer \(laptop.access)\r\nContent-Length: 0\r\n\r\n").status == 204)
        #expect(try SessionTokenModeTests.api(gw, laptop.access).status == 401)

        redis.stop()
        try gw.restart()
        let early = try SessionTokenModeTests.api(gw, laptop.access)
        #expect(early.status == 503, "a revoked token is not served before the revoked set is read")
        #expect(try SessionTokenModeTests.api(gw, phone.access).status == 503)
        #expect(try SessionTokenModeTests.api(gw, authToken()).status == 200, "another issuer's tokens go on")
        #expect(try gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n").status == 503)

        try redis.start()
        #expect(eventually(10) { (try? SessionTokenModeTests.api(gw, phone.access).status) == 200 })
        let late = try SessionTokenModeTests.api(gw, laptop.access)
        #expect(late.status == 401, "the revocation held: \(late.status) \(late.bodyText) \((try? redis.cli("ZRANGE", "gh-test:revoked", "0", "-1")) ?? "")")
        #expect(eventually(10) { (try? gw.sendAdmin("GET /readyz HTTP/1.1\r\nHost: admin\r\n\r\n").status) == 200 })
    }
}

/// Another process holding the store file's write lock: python's sqlite3 in `BEGIN EXCLUSIVE` until released.
final class SQLiteLocker: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(path: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
            db.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            sys.stdin.read()
            db.execute("ROLLBACK")
            """, path]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line = output.fileHandleForReading.availableData
        guard String(decoding: line, as: UTF8.self).contains("locked") else {
            throw TestFailure("python could not lock \(path)")
        }
    }

    /// Ends the transaction and the process. Idempotent.
    func release() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { release() }
}
