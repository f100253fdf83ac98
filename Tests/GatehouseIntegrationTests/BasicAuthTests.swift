import Foundation
import GatehouseTestSupport
import Testing

/// HTTP Basic in both directions against the real gateway: `accept: [basic]` with users-file users (hashes from
/// htpasswd/mkpasswd), the verified-pair cache, the sign-in throttle, hostile `Authorization: Basic` values sent
/// raw, `inject_basic` toward the upstream, and Basic through the forward-auth endpoint.
@Suite("Basic auth: accept: [basic], the verified-password cache, throttling, inject_basic, forward auth")
struct BasicAuthTests {
    static let secret = "upstream-s3cret"

    static let routes = """
          - name: legacy
            match: { path_prefix: /legacy }
            upstream: app
            accept: [basic]
            basic: { realm: "Legacy app", cache_ttl: 5m }
          - name: nocache
            match: { path_prefix: /nocache }
            upstream: app
            accept: [basic]
            basic: { cache_ttl: "off" }
          - name: inject
            match: { path_prefix: /inject }
            upstream: app
            accept: [session, basic]
            inject_basic: { username: "{sub}", password_env: GH_LEGACY_SECRET }
          - name: inject-public
            match: { path_prefix: /inject-public }
            upstream: app
            auth: none
            inject_basic: { username: "{sub}", password_env: GH_LEGACY_SECRET }
          - name: admins
            match: { path_prefix: /admins }
            upstream: app
            accept: [basic]
            require: { groups_any: [admins] }
            identity_headers: { X-Remote-User: "{sub}", X-Remote-Name: "{email} ({groups})" }
          - name: fwd
            match: { path_prefix: /fwd }
            upstream: app
            accept: [basic, session]
            basic: { realm: "Forwarded" }
        """

    /// One worker, so every request meets the same per-worker cache.
    static func gateway(login: String = "") throws -> SessionGateway {
        var files: [String: String] = [:]
        files["users.yaml"] = try SessionFixture.usersFile()
        let yaml = SessionFixture.config(login: login, extraRoutes: routes, server: "trusted_proxies: [127.0.0.1]")
            .replacingOccurrences(of: "workers: 2", with: "workers: 1")
        return try SessionGateway(yaml, files: files, environment: ["GH_LEGACY_SECRET": secret])
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Authorization: Basic \(Data("\(user):\(password)".utf8).base64EncodedString())\r\n"
    }

    static func basic(bytes: [UInt8]) -> String {
        "Authorization: Basic \(Data(bytes).base64EncodedString())\r\n"
    }

    static func metric(_ gw: SessionGateway, _ series: String) throws -> Double {
        let text = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n").bodyText
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? -1
        }
        return 0
    }

    @Test("a right pair is forwarded with exactly the identity headers, and neither the password nor Authorization")
    func forwardsIdentity() throws {
        let gw = try Self.gateway()
        let response = try gw.get("/legacy/x", headers: Self.basic("alice", SessionFixture.alicePassword)
                                  + "X-Auth-User: mallory\r\n")
        #expect(response.status == 200, "\(response.status) \(response.bodyText)\n\(gw.auth.diagnostics)")
        #expect(response.echoedHeaders.map { "\($0.0): \($0.1)" } == [
            "Host: gw.test", "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: gw.test",
            "X-Real-IP: 127.0.0.1", "X-Auth-User: alice", "X-Auth-Email: alice@example.com",
            "X-Auth-Groups: staff,admins",
        ])
        // yescrypt (mkpasswd) users too; the scheme name is case-insensitive (RFC 7235 2.1).
        let bob = try gw.get("/legacy/y", headers: Self.basic("bob", SessionFixture.bobPassword)
                             .replacingOccurrences(of: "Basic", with: "bAsIc"))
        #expect(bob.status == 200)
        #expect(bob.echoedHeaders.contains { $0 == ("X-Auth-User", "bob") })
        #expect(!gw.gateway.gateway.stdout.contains(SessionFixture.alicePassword))
    }

    @Test("the Basic identity meets the route's require and fills its own identity_headers")
    func policyAndTemplates() throws {
        let gw = try Self.gateway()
        let alice = try gw.get("/admins/x", headers: Self.basic("alice", SessionFixture.alicePassword))
        #expect(alice.status == 200)
        #expect(alice.echoedHeaders.filter { $0.0.hasPrefix("X-Remote-") }.map { "\($0.0): \($0.1)" }
                == ["X-Remote-User: alice", "X-Remote-Name: alice@example.com (staff,admins)"])
        let bob = try gw.get("/admins/x", headers: Self.basic("bob", SessionFixture.bobPassword))
        #expect(bob.status == 403, "bob is not in admins")
        #expect(bob.echoedHeaders.isEmpty)
    }

    @Test("wrong password, unknown user, disabled user, no credential: 401 with the route's Basic challenge")
    func refusals() throws {
        let gw = try Self.gateway()
        for (user, password) in [("alice", "wrong"), ("nobody", "whatever"), ("carol", "carol-pass")] {
            let response = try gw.get("/legacy/x", headers: Self.basic(user, password))
            #expect(response.status == 401, "\(user): \(response.status)")
            #expect(response.header("WWW-Authenticate") == #"Basic realm="Legacy app", charset="UTF-8""#, "\(user)")
            #expect(response.echoedHeaders.isEmpty)
        }
        let none = try gw.get("/legacy/x")
        #expect(none.status == 401)
        #expect(none.header("WWW-Authenticate") == #"Basic realm="Legacy app", charset="UTF-8""#)
        // A route that takes session cookies too: the Basic challenge alone (a browser can answer it).
        let mixed = try gw.get("/fwd/x")
        #expect(mixed.status == 401)
        let challenges = mixed.headers.filter { $0.name.lowercased() == "www-authenticate" }.map(\.value)
        #expect(challenges == [#"Basic realm="Forwarded", charset="UTF-8""#])
    }

    @Test("a cached pair is not hashed again; cache_ttl off hashes every time")
    func cacheSavesHashes() throws {
        let gw = try Self.gateway()
        let checks0 = try Self.metric(gw, "gatehouse_basic_password_checks_total")
        for _ in 0..<5 {
            #expect(try gw.get("/legacy/x", headers: Self.basic("alice", SessionFixture.alicePassword)).status == 200)
        }
        #expect(try Self.metric(gw, "gatehouse_basic_password_checks_total") - checks0 == 1)
        #expect(try Self.metric(gw, "gatehouse_basic_cache_hits_total") == 4)
        // Another password of the same user is its own pair: hashed (and wrong).
        #expect(try gw.get("/legacy/x", headers: Self.basic("alice", "wrong")).status == 401)
        #expect(try Self.metric(gw, "gatehouse_basic_password_checks_total") - checks0 == 2)
        for _ in 0..<3 {
            #expect(try gw.get("/nocache/x", headers: Self.basic("alice", SessionFixture.alicePassword)).status == 200)
        }
        #expect(try Self.metric(gw, "gatehouse_basic_password_checks_total") - checks0 == 5)
    }

    @Test("failures are throttled like sign-ins: 429 with Retry-After, the right password included")
    func throttled() throws {
        let gw = try Self.gateway(login: "rate_limit: { failures: 3, window: 1m }")
        for _ in 0..<3 {
            #expect(try gw.get("/legacy/x", headers: Self.basic("alice", "guess")).status == 401)
        }
        let limited = try gw.get("/legacy/x", headers: Self.basic("alice", "guess"))
        #expect(limited.status == 429, "\(limited.status) \(limited.bodyText)")
        let wait = Int(limited.header("Retry-After") ?? "") ?? 0
        #expect(wait >= 1 && wait <= 60, "\(limited.headers)")
        let right = try gw.get("/legacy/x", headers: Self.basic("alice", SessionFixture.alicePassword))
        #expect(right.status == 429, "the user's count holds for the right password too")
        // The same counters as the login form: it is throttled now as well.
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 429)
        #expect(try Self.metric(gw, "gatehouse_basic_throttled_total") == 2)
    }

    @Test("on Redis the throttle is shared: Basic failures on gateway A refuse the user on gateway B")
    func throttleSharedOnRedis() throws {
        let redis = try RedisServerProcess()
        let legacy = "  - name: legacy\n    match: { path_prefix: /legacy }\n    upstream: app\n    accept: [basic]"
        func gateway() throws -> SessionGateway {
            try SessionFixture.gateway(login: "rate_limit: { failures: 3, window: 1m }", extraRoutes: legacy,
                                       redisPort: redis.port)
        }
        let a = try gateway()
        let b = try gateway()
        #expect(try a.get("/legacy/x", headers: Self.basic("bob", "w1")).status == 401)
        #expect(try b.get("/legacy/x", headers: Self.basic("bob", "w2")).status == 401)
        #expect(try a.get("/legacy/x", headers: Self.basic("bob", "w3")).status == 401)
        let limited = try b.get("/legacy/x", headers: Self.basic("bob", SessionFixture.bobPassword))
        #expect(limited.status == 429, "B counts A's failures: \(limited.status)\n\(b.auth.diagnostics)")
        #expect(Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
        let keys = try redis.cli("KEYS", "gh-test:tf:*")
        #expect(!keys.contains(SessionFixture.bobPassword))
    }

    @Test("a user disabled (or re-passworded) by a users-file reload is refused at once, though cached")
    func disabledUserNotServedFromCache() throws {
        let gw = try Self.gateway()
        let alice = Self.basic("alice", SessionFixture.alicePassword)
        #expect(try gw.get("/legacy/x", headers: alice).status == 200)
        #expect(try gw.get("/legacy/x", headers: alice).status == 200)
        #expect(try Self.metric(gw, "gatehouse_basic_cache_hits_total") == 1)
        let users = "users:\n"
            + SessionGateway.user("alice", hash: try IndependentHash.bcrypt(SessionFixture.alicePassword),
                                  email: "alice@example.com", disabled: true)
            + SessionGateway.user("bob", hash: try IndependentHash.yescrypt(SessionFixture.bobPassword))
        try users.write(toFile: gw.directory + "/users.yaml", atomically: true, encoding: .utf8)
        let deadline = Date().addingTimeInterval(10)
        var status = 0
        while Date() < deadline {
            status = try gw.get("/legacy/x", headers: alice).status
            if status == 401 { break }
            usleep(100_000)
        }
        #expect(status == 401, "\(gw.auth.diagnostics)")
        #expect(try gw.get("/legacy/x", headers: Self.basic("bob", SessionFixture.bobPassword)).status == 200)
    }

    @Test("a user an administrator disables is refused at once, though cached; enabled again, passes")
    func adminDisableEmptiesTheCache() throws {
        let gw = try Self.gateway()
        let alice = Self.basic("alice", SessionFixture.alicePassword)
        #expect(try gw.get("/legacy/x", headers: alice).status == 200)
        #expect(try gw.get("/legacy/x", headers: alice).status == 200)
        #expect(try Self.metric(gw, "gatehouse_basic_cache_hits_total") == 1)
        let disable = try gw.sendAdmin("POST /admin/users/alice/disable HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect(disable.status == 200, "\(disable.status) \(disable.bodyText)")
        #expect(try gw.get("/legacy/x", headers: alice).status == 401, "the cached pair is gone, the store says disabled")
        let enable = try gw.sendAdmin("POST /admin/users/alice/enable HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect(enable.status == 200)
        #expect(try gw.get("/legacy/x", headers: alice).status == 200)
    }

    @Test("hostile Authorization: Basic values, sent raw: 400 for bad syntax, never a hash, never a crash")
    func malformed() throws {
        let gw = try Self.gateway()
        let checks0 = try Self.metric(gw, "gatehouse_basic_password_checks_total")
        let hostile: [(String, String)] = [
            ("no credentials", "Authorization: Basic\r\n"),
            ("only spaces", "Authorization: Basic    \r\n"),
            ("not base64", "Authorization: Basic !!!!\r\n"),
            ("base64url alphabet", "Authorization: Basic YWxpY2U6cH-_\r\n"),
            ("bad padding", "Authorization: Basic YWxpY2U6cHc===\r\n"),
            ("padding inside", "Authorization: Basic YW=xpY2U6cHc\r\n"),
            ("a lone sextet", "Authorization: Basic YWxpY\r\n"),
            ("non-canonical bits", "Authorization: Basic YWxpY2U6cHd=\r\n"),
            ("no colon", Self.basic(bytes: Array("alicepassword".utf8))),
            ("NUL in user", Self.basic(bytes: Array("al".utf8) + [0] + Array("ice:pw".utf8))),
            ("CR LF in password", Self.basic(bytes: Array("alice:p".utf8) + [13, 10] + Array("w".utf8))),
            ("DEL in password", Self.basic(bytes: Array("alice:p".utf8) + [0x7f])),
            ("tab in user", Self.basic(bytes: Array("ali\tce:pw".utf8))),
            ("invalid UTF-8 user", Self.basic(bytes: [0xff, 0xfe] + Array(":pw".utf8))),
            ("user over 128 bytes", Self.basic(String(repeating: "u", count: 129), "pw")),
            ("huge", "Authorization: Basic " + String(repeating: "QUFB", count: 400) + "\r\n"),
            ("two Authorization fields", Self.basic("alice", SessionFixture.alicePassword)
                + Self.basic("alice", SessionFixture.alicePassword)),
        ]
        for (name, header) in hostile {
            let response = try gw.get("/legacy/x", headers: header)
            #expect(response.status == 400, "\(name): \(response.status) \(response.bodyText)")
            #expect(response.echoedHeaders.isEmpty, "\(name)")
        }
        #expect(try Self.metric(gw, "gatehouse_basic_password_checks_total") == checks0, "nothing was hashed")
        // An empty user name is a wrong pair (401), unhashed; a password over libcrypt's limit is just wrong.
        let empty = try gw.get("/legacy/x", headers: Self.basic("", "pw"))
        #expect(empty.status == 401)
        #expect(empty.header("WWW-Authenticate")?.hasPrefix("Basic realm=") == true)
        #expect(try gw.get("/legacy/x", headers: Self.basic("alice", String(repeating: "p", count: 600))).status == 401,
                "over libcrypt's 511 bytes: wrong, never truncated")
        #expect(try gw.get("/legacy/x", headers: Self.basic("alice", String(repeating: "p", count: 800))).status == 400,
                "over the 1024-character credential limit")
        // Another scheme on a basic-only route is no credential: 401 with the challenge.
        let bearer = try gw.get("/legacy/x", headers: "Authorization: Bearer abc.def.ghi\r\n")
        #expect(bearer.status == 401)
        // The gateway still serves.
        #expect(try gw.get("/legacy/x", headers: Self.basic("alice", SessionFixture.alicePassword)).status == 200)
    }

    @Test("inject_basic: the upstream gets Authorization: Basic user:secret, never the client's Authorization")
    func injectsUpstreamBasic() throws {
        let gw = try Self.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        let expected = "Basic " + Data("alice:\(Self.secret)".utf8).base64EncodedString()
        let bySession = try gw.get("/inject/x", headers: "Cookie: \(cookie)\r\nAuthorization: Bearer client-junk\r\n")
        #expect(bySession.status == 200, "\(bySession.status) \(bySession.bodyText)")
        let auth = bySession.echoedHeaders.filter { $0.0.lowercased() == "authorization" }.map(\.1)
        #expect(auth == [expected])
        // Basic in, Basic out: the user's password is replaced by the upstream's secret.
        let byBasic = try gw.get("/inject/x", headers: Self.basic("bob", SessionFixture.bobPassword))
        #expect(byBasic.status == 200)
        #expect(byBasic.echoedHeaders.filter { $0.0.lowercased() == "authorization" }.map(\.1)
                == ["Basic " + Data("bob:\(Self.secret)".utf8).base64EncodedString()])
        #expect(!byBasic.bodyText.contains(Data("bob:\(SessionFixture.bobPassword)".utf8).base64EncodedString()))
        #expect(!byBasic.bodyText.contains(SessionFixture.bobPassword))
        // A public route with inject_basic: no identity, nothing injected, and the client's own is removed too.
        let open = try gw.get("/inject-public/x", headers: "Authorization: Basic YWRtaW46Z3Vlc3M=\r\n")
        #expect(open.status == 200)
        #expect(!open.echoedHeaders.contains { $0.0.lowercased() == "authorization" })
    }

    @Test("forward auth: Basic through /.gatehouse/auth answers 200 with identity, 401 with the Basic challenge")
    func forwardAuthBasic() throws {
        let gw = try Self.gateway()
        func ask(_ headers: String) throws -> RawResponse {
            try gw.send("GET /.gatehouse/auth HTTP/1.1\r\nHost: auth.internal\r\nX-Forwarded-Method: GET\r\n"
                        + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: app.test\r\nX-Forwarded-Uri: /fwd/page\r\n"
                        + headers + "\r\n")
        }
        let ok = try ask(Self.basic("alice", SessionFixture.alicePassword))
        #expect(ok.status == 200, "\(ok.status) \(ok.bodyText)")
        #expect(ok.headers.filter { $0.name.hasPrefix("X-Auth-") }.map { "\($0.name): \($0.value)" }
                == ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff,admins"])
        let again = try ask(Self.basic("alice", SessionFixture.alicePassword))
        #expect(again.status == 200)
        #expect(try Self.metric(gw, "gatehouse_basic_cache_hits_total") == 1, "the second decision is a cache hit")
        let wrong = try ask(Self.basic("alice", "nope"))
        #expect(wrong.status == 401)
        let challenges = wrong.headers.filter { $0.name.lowercased() == "www-authenticate" }.map(\.value)
        #expect(challenges.contains(#"Basic realm="Forwarded", charset="UTF-8""#), "\(wrong.headers)")
        let bad = try ask("Authorization: Basic %%%\r\n")
        #expect(bad.status == 400)
        // Envoy's ext_authz shape (the original path after path_prefix, Authorization allowed through).
        let envoy = try gw.send("GET /.gatehouse/auth/fwd/page HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n"
                                + Self.basic("bob", SessionFixture.bobPassword) + "\r\n")
        #expect(envoy.status == 200, "\(envoy.status) \(envoy.bodyText)")
        #expect(envoy.header("X-Auth-User") == "bob")
        let envoyWrong = try gw.send("GET /.gatehouse/auth/fwd/page HTTP/1.1\r\nHost: app.test\r\n"
                                     + "Content-Length: 0\r\n" + Self.basic("bob", "x") + "\r\n")
        #expect(envoyWrong.status == 401)
        #expect(envoyWrong.header("WWW-Authenticate") == #"Basic realm="Forwarded", charset="UTF-8""#)
    }

    @Test("check-config: inject_basic's password must exist: an unset variable or a missing file names the key")
    func injectSecretMissing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gh-basic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (line, expected) in [
            ("inject_basic: { password_env: GH_SURELY_UNSET_VARIABLE }",
             ": upstreams.app.inject_basic: password_env: environment variable GH_SURELY_UNSET_VARIABLE is not set"),
            ("inject_basic: { password_file: \"\(directory.path)/missing.pw\" }",
             ": upstreams.app.inject_basic: password_file: \(directory.path)/missing.pw: cannot read"),
        ] {
            let path = directory.appendingPathComponent("gatehouse.yaml").path
            try """
                server:
                  listen: ["127.0.0.1:0"]
                upstreams:
                  app:
                    servers: ["127.0.0.1:9000"]
                    \(line)
                routes:
                  - name: all
                    upstream: app
                    auth: none
                """.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try runGatehouse(["check-config", "--config", path])
            #expect(result.status != 0)
            #expect((result.stderr + result.stdout).contains(expected), "\(result.stderr) \(result.stdout)")
        }
    }
}
