import Foundation
import GatehouseTestSupport
import Testing

/// Issue 14 part 2: TOTP as the second step of the users-file sign-in, through the real gateway: the two steps,
/// `amr` on the session (identity header, route requirement, device list), replayed and foreign codes, guessing
/// throttled, the pending state forged, expired, reused or carried elsewhere, the same code on two gateways on one
/// Redis, the admin reset, and the global requirement.
@Suite("Second factor: TOTP after the password")
struct SecondFactorTests {
    static let alicePassword = SessionFixture.alicePassword
    /// dave's TOTP secret (another user's codes must not work for alice).
    static let daveSecretBase32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    static let daveSecret: [UInt8] = [0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x21, 0xde, 0xad, 0xbe, 0xef,
                                      0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x21, 0xde, 0xad, 0xbe, 0xef]

    /// Users and hashes of one gateway: alice (TOTP: the RFC 6238 seed), dave (TOTP, another secret), bob
    /// (password only).
    struct Users {
        let file: String
        let aliceHash: String
    }

    static func users() throws -> Users {
        let aliceHash = try IndependentHash.bcrypt(alicePassword)
        // dave's secret comes from a file (`totp_secret_file`), written where the users file can name it.
        let secretFile = NSTemporaryDirectory() + "gatehouse-dave-\(UUID().uuidString).totp"
        try "\(daveSecretBase32)\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let file = "users:\n"
            + SessionGateway.user("alice", hash: aliceHash, email: "alice@example.com", groups: ["staff"])
            + "    totp_secret: \"\(TestTOTP.rfcSecretBase32.lowercased())\"\n"
            + SessionGateway.user("dave", hash: try IndependentHash.bcrypt("dave-pass"))
            + "    totp_secret_file: \"\(secretFile)\"\n"
            + SessionGateway.user("bob", hash: try IndependentHash.yescrypt(SessionFixture.bobPassword))
        return Users(file: file, aliceHash: aliceHash)
    }

    static let routes = """
          - name: otp-only
            match: { path_prefix: /otp }
            upstream: app
            accept: [session]
            require_second_factor: true
        """

    static let headers = """
        identity_headers:
          X-Auth-User: "{sub}"
          X-Auth-AMR: "{amr}"
        """

    static func gateway(_ users: Users, login: String = "", redisPort: Int? = nil) throws -> SessionGateway {
        try SessionFixture.gateway(login: login, extraRoutes: routes, redisPort: redisPort, top: headers,
                                   extraFiles: ["users.yaml": users.file])
    }

    /// The password step: 303 to the code page with the pending cookie (`name=value`).
    static func password(_ gw: SessionGateway, _ user: String, _ password: String, rd: String? = nil) throws -> String {
        let response = try gw.signIn(user, password, rd: rd)
        guard response.status == 303, response.header("location") == "/.gatehouse/login/second-factor",
              let pending = SessionGateway.cookie(of: response, name: "gatehouse_2fa")
        else { throw TestFailure("password step: \(response.status) \(response.headers) \(response.bodyText)") }
        #expect(SessionGateway.cookie(of: response) == nil, "no session before the code")
        return pending
    }

    /// Whether the access log recorded `reason` (it is written a moment after the answer).
    static func logged(_ gw: SessionGateway, _ reason: String) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        repeat {
            if gw.gateway.gateway.stdout.contains(reason) { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }

    /// The code step, as the page's form posts it.
    static func code(_ gw: SessionGateway, _ code: String, pending: String, extra: String = "") throws -> RawResponse {
        let body = "code=\(SessionGateway.formEncode(code))"
        return try gw.send("POST /.gatehouse/login/second-factor HTTP/1.1\r\nHost: gw.test\r\nCookie: \(pending)\r\n"
                           + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
                           + extra + "\r\n" + body)
    }

    @Test("password then code: a session with amr pwd,otp (header, route, device list); rd kept through both steps")
    func passwordThenCode() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users)
        TestTOTP.awaitFreshStep()
        let pending = try Self.password(gw, "alice", Self.alicePassword, rd: "/otp/report?x=1")
        let page = try gw.get("/.gatehouse/login/second-factor", headers: "Cookie: \(pending)\r\n")
        #expect(page.status == 200)
        #expect(page.bodyText.contains("autocomplete=\"one-time-code\""))
        #expect(page.bodyText.contains("inputmode=\"numeric\""))
        #expect(page.header("content-security-policy")?.contains("default-src 'none'") == true)
        #expect(!page.bodyText.contains("<script"))
        // Without the pending cookie the code page sends the person back to the password.
        #expect(try gw.get("/.gatehouse/login/second-factor").header("location") == "/.gatehouse/login")

        // Blanks as authenticator apps show them ("123 456") are fine.
        var typed = TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now)
        typed.insert(" ", at: typed.index(typed.startIndex, offsetBy: 3))
        let done = try Self.code(gw, typed, pending: pending)
        #expect(done.status == 303, "\(done.status) \(done.bodyText)\n\(gw.auth.diagnostics)")
        #expect(done.header("location") == "/otp/report?x=1")
        let session = try #require(SessionGateway.cookie(of: done))
        #expect(done.headers.contains { $0.name.lowercased() == "set-cookie" && $0.value.hasPrefix("gatehouse_2fa=;") })

        let app = try gw.get("/otp/report", headers: "Cookie: \(session)\r\n")
        #expect(app.status == 200, "\(app.status) \(app.bodyText)")
        #expect(app.echoedHeaders.contains { $0 == ("X-Auth-User", "alice") })
        #expect(app.echoedHeaders.contains { $0 == ("X-Auth-AMR", "pwd,otp") })
        let list = try SessionFixture.sessions(gw, cookie: session)
        #expect(list.first?["amr"] as? [String] == ["pwd", "otp"])
        let account = try gw.get("/.gatehouse/account", headers: "Cookie: \(session)\r\n")
        #expect(account.bodyText.contains("with password and code"))

        // bob has no second factor: password only, amr pwd, and the route that requires otp refuses him.
        let bob = try gw.signIn("bob", SessionFixture.bobPassword)
        #expect(bob.status == 303 && bob.header("location") == "/.gatehouse/account")
        let bobCookie = try #require(SessionGateway.cookie(of: bob))
        let bobApp = try gw.get("/app/x", headers: "Cookie: \(bobCookie)\r\n")
        #expect(bobApp.echoedHeaders.contains { $0 == ("X-Auth-AMR", "pwd") })
        #expect(try gw.get("/otp/x", headers: "Cookie: \(bobCookie)\r\n").status == 403)
        #expect(try SessionFixture.sessions(gw, cookie: bobCookie).first?["amr"] as? [String] == ["pwd"])
    }

    @Test("a code is not reusable: the same code again, and a code of the previous window after a later one, are refused")
    func replayRefused() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users)
        TestTOTP.awaitFreshStep()
        let now = TestTOTP.now
        let previous = TestTOTP.code(TestTOTP.rfcSecret, at: now - 30)
        let current = TestTOTP.code(TestTOTP.rfcSecret, at: now)
        // The previous window's code is accepted once (one step of drift)...
        let first = try Self.code(gw, previous, pending: try Self.password(gw, "alice", Self.alicePassword))
        #expect(first.status == 303, "\(first.status) \(first.bodyText)")
        // ...and never again, on a fresh password step.
        let again = try Self.code(gw, previous, pending: try Self.password(gw, "alice", Self.alicePassword))
        #expect(again.status == 401)
        #expect(again.bodyText.contains("already used"))
        #expect(SessionGateway.cookie(of: again) == nil)
        // The current one is later: accepted; then the previous one is older than the last accepted: refused.
        #expect(try Self.code(gw, current, pending: try Self.password(gw, "alice", Self.alicePassword)).status == 303)
        #expect(try Self.code(gw, current, pending: try Self.password(gw, "alice", Self.alicePassword)).status == 401)
        // The refusal survives a restart (the embedded store keeps the last step in its file).
        try gw.restart()
        #expect(try Self.code(gw, current, pending: try Self.password(gw, "alice", Self.alicePassword)).status == 401)
        #expect(Self.logged(gw, "second-factor-replayed"))
    }

    @Test("another user's code, a wrong code, a malformed code: refused; the pending sign-in still works after")
    func foreignAndMalformedCodes() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users)
        TestTOTP.awaitFreshStep()
        let pending = try Self.password(gw, "alice", Self.alicePassword)
        let now = TestTOTP.now
        let daves = TestTOTP.code(Self.daveSecret, at: now)
        let alices = TestTOTP.code(TestTOTP.rfcSecret, at: now)
        if daves != alices {
            let foreign = try Self.code(gw, daves, pending: pending)
            #expect(foreign.status == 401)
            #expect(foreign.bodyText.contains("Wrong code"))
        }
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "123456\u{0}", String(repeating: "9", count: 5000),
                    "<script>alert(1)</script>"] {
            let refused = try Self.code(gw, bad, pending: pending)
            #expect(refused.status == 401, "\(bad.prefix(20)): \(refused.status)")
            #expect(!refused.bodyText.contains("<script>alert"))
        }
        // dave's own code works for dave (secret read from totp_secret_file).
        let davePending = try Self.password(gw, "dave", "dave-pass")
        #expect(try Self.code(gw, daves, pending: davePending).status == 303)
        // And alice's right code still signs her in on the same pending cookie.
        #expect(try Self.code(gw, alices, pending: pending).status == 303)
    }

    @Test("pending state forged, tampered, expired, reused, from another client, or absent: refused")
    func pendingStateRefusals() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users, login: "rate_limit: { failures: 1000, window: 1m }\n")
        TestTOTP.awaitFreshStep(margin: 10)
        let now = TestTOTP.now
        let code = TestTOTP.code(TestTOTP.rfcSecret, at: now)
        func refused(_ cookie: String, _ reason: String) throws {
            let response = try Self.code(gw, code, pending: cookie)
            #expect(response.status == 401, "\(reason): \(response.status)")
            #expect(SessionGateway.cookie(of: response) == nil, "\(reason)")
            #expect(response.bodyText.contains("Enter your password again"), "\(reason)")
        }
        // Control bytes in the cookie never reach the endpoint: the parser refuses the header.
        let controlBytes = try Self.code(gw, code, pending: "gatehouse_2fa=\u{7f}\u{1}.x")
        #expect(controlBytes.status == 400)
        let genuine = try Self.password(gw, "alice", Self.alicePassword)
        let value = String(genuine.dropFirst("gatehouse_2fa=".count))
        let parts = value.split(separator: ".").map(String.init)
        // Tampered: the payload says bob / dave, or another rd; the tag no longer matches.
        let forgedPayload = TestTOTP.base64url(Array("{\"u\":\"dave\",\"c\":\"127.0.0.1\",\"e\":\(now + 300),\"n\":\"x\"}".utf8))
        try refused("gatehouse_2fa=\(forgedPayload).\(parts[1])", "payload swapped")
        try refused("gatehouse_2fa=\(parts[0]).\(TestTOTP.base64url([UInt8](repeating: 0, count: 32)))", "zero tag")
        try refused("gatehouse_2fa=garbage", "malformed")
        try refused("gatehouse_2fa=\(String(repeating: "A", count: 5000)).x", "huge")
        // Authentic (sealed with alice's real key) but expired, or issued to another client address.
        let expired = TestTOTP.sealPending(user: "alice", client: "127.0.0.1", expiresAt: now - 1, nonce: "n1",
                                           secret: TestTOTP.rfcSecret, passwordHash: users.aliceHash)
        try refused("gatehouse_2fa=\(expired)", "expired")
        let elsewhere = TestTOTP.sealPending(user: "alice", client: "203.0.113.9", expiresAt: now + 300, nonce: "n2",
                                             secret: TestTOTP.rfcSecret, passwordHash: users.aliceHash)
        try refused("gatehouse_2fa=\(elsewhere)", "other client")
        // Missing altogether.
        let none = try gw.send("POST /.gatehouse/login/second-factor HTTP/1.1\r\nHost: gw.test\r\n"
                               + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\ncode=\(code)")
        #expect(none.status == 401)
        // Cross-site post of the code: refused before anything.
        let crossSite = try Self.code(gw, code, pending: genuine, extra: "Sec-Fetch-Site: cross-site\r\n")
        #expect(crossSite.status == 403)
        // The genuine one works once...
        #expect(try Self.code(gw, code, pending: genuine).status == 303)
        // ...and is spent: the same code again is a replay; with the next window's code (no replay) the pending
        // sign-in itself is refused as spent.
        let sameAgain = try Self.code(gw, code, pending: genuine)
        #expect(sameAgain.status == 401 && SessionGateway.cookie(of: sameAgain) == nil)
        let next = try Self.code(gw, TestTOTP.code(TestTOTP.rfcSecret, at: now + 30), pending: genuine)
        #expect(next.status == 401)
        #expect(next.bodyText.contains("Enter your password again"))
        #expect(SessionGateway.cookie(of: next) == nil)
        #expect(Self.logged(gw, "second-factor-state-reused"))
        #expect(Self.logged(gw, "second-factor-state-tampered"))
        #expect(Self.logged(gw, "second-factor-state-expired"))
        #expect(Self.logged(gw, "second-factor-state-other-client"))
    }

    @Test("six digits guessed in a loop: 429 with Retry-After, and a right password does not reset the count")
    func guessingThrottled() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users, login: "rate_limit: { failures: 5, window: 1m }\n")
        TestTOTP.awaitFreshStep()
        let right = TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now)
        var statuses: [Int] = []
        var retryAfter: String?
        var guess = 0
        for _ in 0..<4 {
            // A fresh password step each time: the password being right must not wipe the wrong codes.
            let pending = try Self.password(gw, "alice", Self.alicePassword)
            for _ in 0..<2 {
                guess += 1
                var candidate = String(format: "%06d", guess)
                if candidate == right { candidate = "999999" }
                let response = try Self.code(gw, candidate, pending: pending)
                statuses.append(response.status)
                if response.status == 429 { retryAfter = response.header("retry-after") }
            }
            if statuses.contains(429) { break }
        }
        #expect(statuses.prefix(5).allSatisfy { $0 == 401 }, "\(statuses)")
        #expect(statuses.contains(429), "\(statuses)")
        let seconds = try #require(retryAfter.flatMap { Int($0) })
        #expect(seconds >= 1 && seconds <= 60)
        #expect(Self.logged(gw, "second-factor-throttled"))
    }

    @Test("two gateways on one Redis: a code accepted on one is refused on the other")
    func replayAcrossGateways() throws {
        let redis = try RedisServerProcess()
        let users = try Self.users()
        let a = try Self.gateway(users, redisPort: redis.port)
        let b = try Self.gateway(users, redisPort: redis.port)
        TestTOTP.awaitFreshStep()
        let code = TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now)
        let pendingA = try Self.password(a, "alice", Self.alicePassword)
        let pendingB = try Self.password(b, "alice", Self.alicePassword)
        let onA = try Self.code(a, code, pending: pendingA)
        #expect(onA.status == 303, "\(onA.status) \(onA.bodyText)\n\(a.auth.diagnostics)")
        let onB = try Self.code(b, code, pending: pendingB)
        #expect(onB.status == 401, "\(onB.status) \(onB.bodyText)")
        #expect(onB.bodyText.contains("already used"))
        // The session made on A carries amr on B too (the Redis hash field).
        let session = try #require(SessionGateway.cookie(of: onA))
        let onBApp = try b.get("/otp/x", headers: "Cookie: \(session)\r\n")
        #expect(onBApp.status == 200)
        #expect(onBApp.echoedHeaders.contains { $0 == ("X-Auth-AMR", "pwd,otp") })
        let keys = try redis.cli("KEYS", "gh-test:tf2:*")
        #expect(keys.contains("gh-test:tf2:alice"))
        // A pending cookie made on A opens on B (no shared key to configure): with the next code it signs in.
        let pendingAgain = try Self.password(a, "alice", Self.alicePassword)
        let next = try Self.code(b, TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now + 30), pending: pendingAgain)
        #expect(next.status == 303, "\(next.status) \(next.bodyText)")
    }

    @Test("guesses spread over two gateways on one Redis share one count: 429 after rate_limit.failures in all")
    func guessingThrottledAcrossGateways() throws {
        let redis = try RedisServerProcess()
        let users = try Self.users()
        let login = "rate_limit: { failures: 4, window: 1m }\n"
        let a = try Self.gateway(users, login: login, redisPort: redis.port)
        let b = try Self.gateway(users, login: login, redisPort: redis.port)
        TestTOTP.awaitFreshStep()
        let right = TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now)
        let pending = try Self.password(a, "alice", Self.alicePassword)
        var statuses: [Int] = []
        for guess in 1...6 {
            var candidate = String(format: "%06d", guess)
            if candidate == right { candidate = "999999" }
            // The pending cookie made on A is presented on A and B in turn.
            statuses.append(try Self.code(guess % 2 == 0 ? a : b, candidate, pending: pending).status)
        }
        #expect(statuses.prefix(4).allSatisfy { $0 == 401 }, "\(statuses)")
        #expect(statuses.suffix(2).allSatisfy { $0 == 429 }, "\(statuses)")
    }

    @Test("admin reset: ends the user's sessions and clears the used-code record")
    func adminReset() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users)
        TestTOTP.awaitFreshStep()
        let code = TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now)
        let done = try Self.code(gw, code, pending: try Self.password(gw, "alice", Self.alicePassword))
        let session = try #require(SessionGateway.cookie(of: done))
        #expect(try gw.get("/otp/x", headers: "Cookie: \(session)\r\n").status == 200)
        #expect(try gw.sendAdmin("GET /admin/users/alice/second-factor/reset HTTP/1.1\r\nHost: admin\r\n\r\n").status == 405)
        let reset = try gw.sendAdmin("POST /admin/users/alice/second-factor/reset HTTP/1.1\r\nHost: admin\r\n"
                                     + "Content-Length: 0\r\n\r\n")
        #expect(reset.status == 200, "\(reset.status) \(reset.bodyText)")
        #expect(reset.json?["signed_out"] as? Int == 1)
        #expect(reset.json?["second_factor_reset"] as? Bool == true)
        #expect(try gw.get("/otp/x", headers: "Cookie: \(session)\r\n").status != 200)
        // The record of used codes is gone: the same code is accepted once more (as the first code of a new secret
        // would be).
        #expect(try Self.code(gw, code, pending: try Self.password(gw, "alice", Self.alicePassword)).status == 303)
    }

    @Test("login.require_second_factor: a user without totp_secret cannot sign in; one with it still can")
    func requiredGlobally() throws {
        let users = try Self.users()
        let gw = try Self.gateway(users, login: "require_second_factor: true\n")
        let bob = try gw.signIn("bob", SessionFixture.bobPassword)
        #expect(bob.status == 403)
        #expect(bob.bodyText.contains("no second factor"))
        #expect(SessionGateway.cookie(of: bob) == nil)
        let json = try gw.signInJSON("bob", SessionFixture.bobPassword)
        #expect(json.status == 403)
        #expect(json.json?["error"] as? String == "second_factor_not_enrolled")
        #expect(Self.logged(gw, "login-second-factor-not-enrolled"))
        TestTOTP.awaitFreshStep()
        let code = TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now)
        #expect(try Self.code(gw, code, pending: try Self.password(gw, "alice", Self.alicePassword)).status == 303)
    }

    @Test("an API client: JSON password, 401 second_factor_required with the cookie, JSON code; token mode: amr in the JWT")
    func jsonAndTokenMode() throws {
        let users = try Self.users()
        let keyPEM = try SessionTokenModeTests.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let routes = """
              - name: api
                match: { path_prefix: /api }
                upstream: app
                accept: [bearer]
                require_second_factor: true
                identity_headers: { X-Auth-User: "{sub}", X-Auth-AMR: "{amr}" }
            """
        let gw = try SessionFixture.gateway(
            login: "mode: token\nsigning_key: { pem_file: \"@KEYS@/signing.pem\", kid: test-key }",
            extraRoutes: routes, appAccept: "[bearer]", extraFiles: ["signing.pem": keyPEM, "users.yaml": users.file])
        TestTOTP.awaitFreshStep()
        let first = try gw.signInJSON("alice", Self.alicePassword)
        #expect(first.status == 401)
        #expect(first.json?["error"] as? String == "second_factor_required")
        #expect(first.json?["access_token"] == nil)
        let pending = try #require(SessionGateway.cookie(of: first, name: "gatehouse_2fa"))
        let body = "{\"code\":\"\(TestTOTP.code(TestTOTP.rfcSecret, at: TestTOTP.now))\"}"
        let second = try gw.send("POST /.gatehouse/login/second-factor HTTP/1.1\r\nHost: gw.test\r\nCookie: \(pending)\r\n"
                                 + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let tokens = try SessionTokenModeTests.tokens(second)
        // The access token says how the session signed in, and a route requiring the second factor takes it.
        let payload = try #require(tokens.access.split(separator: ".").dropFirst().first)
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        let claims = try #require(Data(base64Encoded: base64).flatMap {
            try JSONSerialization.jsonObject(with: $0) as? [String: Any]
        })
        #expect(claims["amr"] as? [String] == ["pwd", "otp"])
        let api = try gw.send("GET /api/x HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer \(tokens.access)\r\n\r\n")
        #expect(api.status == 200, "\(api.status) \(api.bodyText)")
        #expect(api.echoedHeaders.contains { $0 == ("X-Auth-AMR", "pwd,otp") })
        // bob's password-only token is refused there.
        let bob = try SessionTokenModeTests.tokens(try gw.signInJSON("bob", SessionFixture.bobPassword))
        let refused = try gw.send("GET /api/x HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer \(bob.access)\r\n\r\n")
        #expect(refused.status == 403)
        // A refresh keeps amr (it is on the stored session).
        let refreshBody = "refresh_token=\(tokens.refresh)"
        let refreshed = try SessionTokenModeTests.tokens(try gw.send(
            "POST /.gatehouse/token/refresh HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                + "Content-Length: \(refreshBody.utf8.count)\r\n\r\n" + refreshBody))
        let again = try gw.send("GET /api/x HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer \(refreshed.access)\r\n\r\n")
        #expect(again.status == 200)
    }
}
