import Foundation
import GatehouseTestSupport
import Testing

/// The signed identity assertion (issue 13 part 2) and the shared-secret header, through the real gateway: what
/// the upstream received, checked against the JWKS the gateway publishes, with swift-crypto (not the gateway's
/// own JOSE code).
@Suite("Assertion: the signed identity the upstream receives, and the shared secret")
struct AssertionTests {
    static let secret = "s3cret-for-the-app-0123456789abcdef"

    /// One worker (so one cache: "the same assertion again" is deterministic), bearer tokens from the standard
    /// issuer, an Ed25519 assertion key, a shared secret on the upstream.
    static func gateway(upstream: String = "@UPSTREAM@") throws -> AuthGateway {
        let key = try SessionTokenModeTests.openssl(["genpkey", "-algorithm", "ed25519"])
        return try AuthGateway(config(upstream: upstream), files: authStandardFiles.merging(["assert.pem": key]) { $1 },
                               environment: ["APP_SECRET": secret])
    }

    static func config(upstream: String = "@UPSTREAM@", audience: String = "legacy-app") -> String {
        """
            server:
              listen: ["127.0.0.1:0"]
              workers: 1
            admin:
              listen: "127.0.0.1:0"
            access_log:
              path: stdout
            upstreams:
              app:
                servers: ["\(upstream)"]
                shared_secret_header: { secret_env: APP_SECRET }
            \(authStandardTokens())
            assertion:
              audience: \(audience)
              signing_key: { pem_file: "@KEYS@/assert.pem", kid: assert-1 }
            routes:
              - { name: probe, match: { path_prefix: /__probe }, upstream: app, auth: none }
              - { name: public, match: { path_prefix: /public }, upstream: app, auth: none }
              - { name: plain, match: { path_prefix: /plain }, upstream: app, accept: [bearer], assertion: false }
              - name: short
                match: { path_prefix: /short }
                upstream: app
                accept: [bearer]
                assertion: { ttl: 2s, header: X-Short-Assertion, audience: short-app }
              - { name: api, match: { path_prefix: /api }, upstream: app, accept: [bearer] }
            """
    }

    /// The values of `name` the upstream received (any case).
    static func received(_ response: RawResponse?, _ name: String) -> [String] {
        (response?.echoedHeaders ?? []).filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    static func jwks(_ gw: AuthGateway) throws -> [UInt8] {
        let response = try #require(try gw.get("/.gatehouse/jwks.json"))
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        return response.body
    }

    static func verified(_ jwt: String?, _ jwks: [UInt8],
                         sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let jwt = try #require(jwt, sourceLocation: sourceLocation)
        switch JWKSCheck.verify(jwt, jwks: jwks) {
        case .success(let verified):
            #expect(verified.header["alg"] as? String == "EdDSA", sourceLocation: sourceLocation)
            #expect(verified.header["kid"] as? String == "assert-1", sourceLocation: sourceLocation)
            return verified.claims
        case .failure(let failure):
            throw failure
        }
    }

    @Test("the upstream gets one assertion that verifies with the published JWKS and says who, for whom, how long")
    func assertionVerifies() throws {
        let gw = try Self.gateway()
        let jwks = try Self.jwks(gw)
        let response = try gw.get("/api/x", bearer: authToken())
        #expect(response?.status == 200)
        let values = Self.received(response, "X-Gatehouse-Assertion")
        #expect(values.count == 1)
        let claims = try Self.verified(values.first, jwks)
        #expect(claims["iss"] as? String == "gatehouse")
        #expect(claims["aud"] as? String == "legacy-app")
        #expect(claims["sub"] as? String == "alice")
        #expect(claims["email"] as? String == "alice@example.com")
        #expect(claims["groups"] as? [String] == ["staff"])
        #expect(claims["sid"] == nil, "an outside issuer's token is not a gateway session")
        #expect(claims["jti"] == nil)
        let iat = try #require(claims["iat"] as? Int)
        let exp = try #require(claims["exp"] as? Int)
        #expect(exp - iat == 60)
        #expect(abs(iat - Int(Date().timeIntervalSince1970)) <= 5)
        // The identity headers are still there, and the upstream's shared secret.
        #expect(Self.received(response, "X-Auth-User") == ["alice"])
        #expect(Self.received(response, "X-Gatehouse-Secret") == [Self.secret])
        // The admin listener publishes the same keys (no token needed: they are public).
        let port = try #require(gw.gateway.gateway.adminPort)
        let client = try RawClient(port: port)
        try client.send("GET /jwks.json HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        let admin = try #require(client.readResponse(timeout: 10))
        #expect(admin.status == 200)
        #expect(admin.body == jwks)
    }

    @Test("cached per identity: the same assertion for the same identity, a different one for another")
    func cachedPerIdentity() throws {
        let gw = try Self.gateway()
        let jwks = try Self.jwks(gw)
        let token = authToken()
        let first = Self.received(try gw.get("/api/1", bearer: token), "X-Gatehouse-Assertion")
        let second = Self.received(try gw.get("/api/2", bearer: token), "X-Gatehouse-Assertion")
        #expect(first.count == 1 && first == second, "one signature per identity per TTL")
        let bob = Self.received(try gw.get("/api/3", bearer: authToken(sub: "bob", extra: ",\"groups\":[\"ops\"]")),
                                "X-Gatehouse-Assertion")
        #expect(bob.count == 1 && bob != first)
        let claims = try Self.verified(bob.first, jwks)
        #expect(claims["sub"] as? String == "bob")
        #expect(claims["groups"] as? [String] == ["ops"])
        #expect(claims["email"] == nil)
        // Same user, other groups: another assertion (the cache compares everything it says, never the user alone).
        let other = Self.received(try gw.get("/api/4", bearer: authToken(extra: ",\"groups\":[\"admins\"]")),
                                  "X-Gatehouse-Assertion")
        #expect(other.count == 1 && other != first)
        #expect(try Self.verified(other.first, jwks)["groups"] as? [String] == ["admins"])
        // The admin listener's counters say the same: 3 signatures for 4 requests, 1 reused.
        let port = try #require(gw.gateway.gateway.adminPort)
        let client = try RawClient(port: port)
        try client.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        let metrics = try #require(client.readResponse(timeout: 10)).bodyText
        #expect(metrics.contains("\ngatehouse_assertion_signatures_total 3\n"), "\(metrics)")
        #expect(metrics.contains("\ngatehouse_assertion_cache_hits_total 1\n"))
    }

    @Test("a route's own header, audience and short ttl: reused within it, re-signed once it runs out")
    func refreshedAfterTTL() throws {
        let gw = try Self.gateway()
        let jwks = try Self.jwks(gw)
        let token = authToken()
        let first = try #require(Self.received(try gw.get("/short/1", bearer: token), "X-Short-Assertion").first)
        let again = Self.received(try gw.get("/short/2", bearer: token), "X-Short-Assertion")
        let firstClaims = try Self.verified(first, jwks)
        #expect(firstClaims["aud"] as? String == "short-app")
        let iat = try #require(firstClaims["iat"] as? Int)
        #expect(firstClaims["exp"] as? Int == iat + 2)
        // Within the same second it is reused; a request a second later may already be past refresh (ttl 2s,
        // refresh when less than ttl/4 = 0s is left, i.e. at exp).
        if Int(Date().timeIntervalSince1970) < iat + 2 { #expect(again == [first]) }
        Thread.sleep(forTimeInterval: 2.2)
        let later = try #require(Self.received(try gw.get("/short/3", bearer: token), "X-Short-Assertion").first)
        #expect(later != first)
        let laterClaims = try Self.verified(later, jwks)
        #expect((laterClaims["iat"] as? Int ?? 0) >= iat + 2)
        // The default header is not sent on this route.
        #expect(Self.received(try gw.get("/short/4", bearer: token), "X-Gatehouse-Assertion").isEmpty)
    }

    @Test("client-sent assertion and secret headers are stripped on every route, in every spelling")
    func clientCopiesStripped() throws {
        let gw = try Self.gateway()
        let forged = ["X-Gatehouse-Assertion: forged.jwt.value", "x-gatehouse-assertion: forged2",
                      "X_Gatehouse_Assertion: forged3", "X-Short-Assertion: forged4", "X-Gatehouse-Secret: guess",
                      "X_GATEHOUSE_SECRET: guess2"]
        let token = authToken()
        for path in ["/public/x", "/plain/x", "/api/x", "/short/x"] {
            let response = try gw.get(path, bearer: token, forged)
            #expect(response?.status == 200, "\(path)")
            let all = (response?.echoedHeaders ?? []).map(\.1)
            #expect(!all.contains { $0.hasPrefix("forged") || $0.hasPrefix("guess") }, "\(path): \(all)")
            #expect(Self.received(response, "X-Gatehouse-Secret") == [Self.secret], "\(path)")
            let expected = path.hasPrefix("/api") ? 1 : 0
            #expect(Self.received(response, "X-Gatehouse-Assertion").count == expected, "\(path)")
            #expect(!(response?.echoedHeaders ?? []).contains { $0.0.contains("_") }, "\(path)")
        }
        // No credential on a public route: no assertion, the secret still goes.
        let anonymous = try gw.get("/public/y", ["X-Gatehouse-Assertion: forged"])
        #expect(Self.received(anonymous, "X-Gatehouse-Assertion").isEmpty)
        #expect(Self.received(anonymous, "X-Gatehouse-Secret") == [Self.secret])
    }

    @Test("sessions (login key, ES256): sid is the session's handle; forward auth answers the assertion too")
    func sessionAndForwardAuth() throws {
        let key = try SessionTokenModeTests.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let gw = try SessionFixture.gateway(
            login: "signing_key: { pem_file: \"@KEYS@/signing.pem\", kid: login-key }",
            top: "assertion: { audience: legacy-app }", server: "trusted_proxies: [127.0.0.1]",
            extraFiles: ["signing.pem": key])
        let cookie = try SessionFixture.aliceCookie(gw)
        let handle = try #require(try SessionFixture.sessions(gw, cookie: cookie).first?["handle"] as? String)
        let jwks = try gw.get("/.gatehouse/jwks.json").body
        let proxied = try gw.get("/app/x", headers: "Cookie: \(cookie)\r\n")
        #expect(proxied.status == 200)
        let value = try #require(Self.received(proxied, "X-Gatehouse-Assertion").first)
        guard case .success(let verified) = JWKSCheck.verify(value, jwks: jwks) else {
            Issue.record("the assertion does not verify: \(value)")
            return
        }
        #expect(verified.header["alg"] as? String == "ES256")
        #expect(verified.header["kid"] as? String == "login-key")
        #expect(verified.claims["sub"] as? String == "alice")
        #expect(verified.claims["sid"] as? String == handle)
        #expect(verified.claims["groups"] as? [String] == ["staff", "admins"])
        // Forward-auth mode: the 200 carries it for the proxy to copy.
        let decision = try gw.send("GET /.gatehouse/auth HTTP/1.1\r\nHost: gw.test\r\n"
                                   + "X-Original-URL: http://gw.test/app/y\r\nCookie: \(cookie)\r\n\r\n")
        #expect(decision.status == 200)
        let answered = try #require(decision.header("X-Gatehouse-Assertion"))
        guard case .success(let fromDecision) = JWKSCheck.verify(answered, jwks: jwks) else {
            Issue.record("the decision's assertion does not verify: \(answered)")
            return
        }
        #expect(fromDecision.claims["sub"] as? String == "alice")
        #expect(fromDecision.claims["aud"] as? String == "legacy-app")
        #expect(fromDecision.claims["sid"] as? String == handle)
        // Not signed in: no assertion, just the 401.
        let refused = try gw.send("GET /.gatehouse/auth HTTP/1.1\r\nHost: gw.test\r\nX-Original-URL: http://gw.test/app/y\r\n\r\n")
        #expect(refused.status == 401)
        #expect(refused.header("X-Gatehouse-Assertion") == nil)
    }

    @Test("explain shows the signed assertion the upstream would get, and names the shared secret without printing it")
    func explainShowsThem() throws {
        let keys = try AuthKeyDirectory()
        try keys.write("p256.pem", TokenKeys.p256.publicKeyPEM)
        try keys.write("assert.pem", try SessionTokenModeTests.openssl(["genpkey", "-algorithm", "ed25519"]))
        try keys.write("secret", Self.secret + "\n")
        let config = try keys.write("gatehouse.yaml", """
            upstreams:
              app:
                servers: ["127.0.0.1:9"]
                shared_secret_header: { name: X-App-Key, secret_file: "\(keys.path)/secret" }
            \(authStandardTokens().replacingOccurrences(of: "@KEYS@", with: keys.path))
            assertion:
              audience: legacy-app
              signing_key: { pem_file: "\(keys.path)/assert.pem", kid: assert-1 }
            routes:
              - { name: api, match: { path_prefix: /api }, upstream: app, accept: [bearer] }
            """)
        let result = try AuthCommandResult.run(["explain", "--config", config, "--request", "GET https://app.test/api/x",
                                                "-H", "Authorization: Bearer \(authToken())"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("  X-App-Key: <shared secret>\n"))
        #expect(!result.stdout.contains(Self.secret))
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("  X-Gatehouse-Assertion: ") })
        let jwt = String(line.dropFirst("  X-Gatehouse-Assertion: ".count))
        let payload = try #require(JWKSCheck.decode(jwt.split(separator: ".")[1]))
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
        #expect(claims["sub"] as? String == "alice")
        #expect(claims["aud"] as? String == "legacy-app")
    }

    @Test("raw bytes: forged copies in headers and trailers never cross; the upstream's head is exactly this")
    func rawBytesToTheUpstream() throws {
        let upstream = try AuthCaptureUpstream()
        let gw = try Self.gateway(upstream: upstream.address)
        let token = authToken()
        let response = try gw.send(
            "POST /api/upload HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n"
                + "X-Gatehouse-Assertion: forged\r\nX-GATEHOUSE-SECRET: guess\r\n"
                + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n"
                + "X-Gatehouse-Assertion: forged-trailer\r\nx_gatehouse_secret: guess\r\nX-Checksum: abc\r\n\r\n")
        #expect(response?.status == 200)
        let received = try #require(upstream.waitForRequests(1).first)
        let prefix: String = "POST /api/upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n"
            + "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: app.test\r\n"
            + "X-Real-IP: 127.0.0.1\r\n"
            + "X-Auth-User: alice\r\nX-Auth-Email: alice@example.com\r\nX-Auth-Groups: staff\r\n"
            + "X-Gatehouse-Assertion: "
        let suffix = "\r\nX-Gatehouse-Secret: \(Self.secret)\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"
        #expect(received.hasPrefix(prefix) && received.hasSuffix(suffix), "\(received)")
        guard received.hasPrefix(prefix), received.hasSuffix(suffix) else { return }
        let jwt = String(received.dropFirst(prefix.count).dropLast(suffix.count))
        #expect(try Self.verified(jwt, try Self.jwks(gw))["sub"] as? String == "alice")
    }

    @Test("a reload with another audience: the next request's assertion says it (the cache goes with the snapshot)")
    func reloadChangesTheAssertion() throws {
        let gw = try Self.gateway()
        let jwks = try Self.jwks(gw)
        let token = authToken()
        let before = try #require(Self.received(try gw.get("/api/1", bearer: token), "X-Gatehouse-Assertion").first)
        #expect(try Self.verified(before, jwks)["aud"] as? String == "legacy-app")
        try gw.reload(Self.config(audience: "billing"))
        var after: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(5)
        repeat {
            let value = try #require(Self.received(try gw.get("/api/2", bearer: token), "X-Gatehouse-Assertion").first)
            after = try Self.verified(value, jwks)
            if after["aud"] as? String == "billing" { break }
            usleep(50_000)
        } while Date() < deadline
        #expect(after["aud"] as? String == "billing")
    }
}
