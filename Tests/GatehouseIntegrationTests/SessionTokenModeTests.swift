import Foundation
import GatehouseTestSupport
import Testing

@Suite("Sessions: token mode (access JWT + rotating refresh token)")
struct SessionTokenModeTests {
    /// A token-mode gateway whose signing key openssl made for this test (`algorithm`: EC or ED25519).
    static func gateway(algorithm: String = "EC", accessTTL: String = "10m") throws -> SessionGateway {
        let keyPEM = try openssl(algorithm == "EC"
            ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
            : ["genpkey", "-algorithm", "ED25519"])
        let routes = """
              - name: api
                match: { path_prefix: /api }
                upstream: app
                accept: [bearer]
            """
        return try SessionFixture.gateway(
            login: "mode: token\nsigning_key: { pem_file: \"@KEYS@/signing.pem\", kid: test-key }\naccess_ttl: \(accessTTL)",
            extraRoutes: routes, appAccept: "[bearer]", extraFiles: ["signing.pem": keyPEM])
    }

    static func openssl(_ arguments: [String]) throws -> String {
        let result = try runTool("/usr/bin/openssl", arguments)
        guard result.status == 0 else { throw TestFailure("openssl \(arguments) failed") }
        return result.output
    }

    struct Tokens {
        let access: String
        let refresh: String
        let expiresIn: Int
    }

    static func tokens(_ response: RawResponse) throws -> Tokens {
        guard response.status == 200, let json = response.json, let access = json["access_token"] as? String,
            let refresh = json["refresh_token"] as? String, let expires = json["expires_in"] as? Int,
            json["token_type"] as? String == "Bearer"
        else { throw TestFailure("no tokens: \(response.status) \(response.bodyText)") }
        #expect(response.header("Cache-Control") == "no-store")
        return Tokens(access: access, refresh: refresh, expiresIn: expires)
    }

    static func refresh(_ gw: SessionGateway, _ token: String) throws -> RawResponse {
        let body = "{\"refresh_token\":\"\(token)\"}"
        return try gw.send("POST /.gatehouse/token/refresh HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\n"
                           + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
    }

    static func api(_ gw: SessionGateway, _ access: String) throws -> RawResponse {
        try gw.get("/api/orders", headers: "Authorization: Bearer \(access)\r\n")
    }

    /// The token's claims as joserfc reads them with the published JWKS (nil when it refuses the token).
    static func independentlyVerified(_ gw: SessionGateway, _ token: String) throws -> [String: Any]? {
        let jwks = try gw.get("/.gatehouse/jwks.json")
        #expect(jwks.status == 200)
        let file = gw.directory + "/published-jwks.json"
        try Data(jwks.body).write(to: URL(fileURLWithPath: file))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/verify_gateway_token.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, file, token, "gatehouse"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["claims"] as? [String: Any]
    }

    @Test("sign-in answers an access JWT that an independent JOSE library verifies with the published JWKS",
          arguments: ["EC", "ED25519"])
    func signInIssuesVerifiableTokens(algorithm: String) throws {
        let gw = try Self.gateway(algorithm: algorithm)
        let tokens = try Self.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        #expect(tokens.expiresIn == 600)
        #expect(tokens.refresh.count == 43)
        let claims = try #require(try Self.independentlyVerified(gw, tokens.access))
        #expect(claims["sub"] as? String == "alice")
        #expect(claims["email"] as? String == "alice@example.com")
        #expect(claims["groups"] as? [String] == ["staff", "admins"])
        #expect((claims["sid"] as? String)?.count == 22)
        #expect((claims["jti"] as? String)?.isEmpty == false)
        let exp = try #require(claims["exp"] as? Int)
        let iat = try #require(claims["iat"] as? Int)
        #expect(exp - iat == 600)
        // The gateway accepts its own token with no tokens: section at all.
        let response = try Self.api(gw, tokens.access)
        #expect(response.status == 200, "\(response.status) \(response.bodyText)")
        #expect(response.echoedHeaders.contains { $0 == ("X-Auth-User", "alice") })
        #expect(response.echoedHeaders.contains { $0 == ("X-Auth-Groups", "staff,admins") })
        #expect(!response.echoedHeaders.contains { $0.0 == "Authorization" })
        // A tampered token is refused.
        var tampered = Array(tokens.access)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
        #expect(try Self.api(gw, String(tampered)).status == 401)
    }

    @Test("refresh rotates: the old refresh token stops working; reusing it revokes the session")
    func refreshRotationAndReuse() throws {
        let gw = try Self.gateway()
        let first = try Self.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let second = try Self.tokens(try Self.refresh(gw, first.refresh))
        #expect(second.refresh != first.refresh)
        #expect(second.access != first.access)
        #expect(try Self.api(gw, second.access).status == 200)
        // Presenting the spent token again: refused, and the whole session is revoked.
        let reuse = try Self.refresh(gw, first.refresh)
        #expect(reuse.status == 401)
        #expect(reuse.bodyText.contains("invalid_grant"))
        #expect(try Self.refresh(gw, second.refresh).status == 401, "the session's newest refresh token is dead too")
        // Its access tokens are refused at once, long before they expire.
        let api = try Self.api(gw, second.access)
        #expect(api.status == 401)
        let log = gw.gateway.gateway.waitForStdout { $0.contains("\"error\":\"revoked\"") }
        #expect(log.contains("\"path\":\"/api/orders\""), "the refusal is logged as revoked")
        #expect(try Self.refresh(gw, "not-a-token").status == 401)
    }

    @Test("logout and device revocation refuse the session's access tokens at once")
    func revokedAccessTokenRefused() throws {
        let gw = try Self.gateway()
        let laptop = try Self.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let phone = try Self.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        // Warm the verified-token cache: the revocation must beat it.
        #expect(try Self.api(gw, laptop.access).status == 200)
        let list = try gw.get("/.gatehouse/sessions", headers: "Authorization: Bearer \(phone.access)\r\n")
        let sessions = try #require(list.json?["sessions"] as? [[String: Any]])
        #expect(sessions.count == 2)
        let laptopHandle = try #require(sessions.first { $0["current"] as? Bool == false }?["handle"] as? String)
        let revoke = try gw.send("DELETE /.gatehouse/sessions/\(laptopHandle) HTTP/1.1\r\nHost: gw.test\r\n"
                                 + "Authorization: Bearer \(phone.access)\r\n\r\n")
        #expect(revoke.status == 204)
        #expect(try Self.api(gw, laptop.access).status == 401)
        #expect(try Self.refresh(gw, laptop.refresh).status == 401)
        #expect(try Self.api(gw, phone.access).status == 200)
        let logout = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer \(phone.access)\r\n"
                                 + "Content-Length: 0\r\n\r\n")
        #expect(logout.status == 204)
        #expect(try Self.api(gw, phone.access).status == 401)
    }

    @Test("two concurrent refreshes of one token give at most one new pair")
    func concurrentRefresh() throws {
        let gw = try Self.gateway()
        let tokens = try Self.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let results = ConcurrentResults()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            results.add((try? Self.refresh(gw, tokens.refresh))?.status ?? 0)
        }
        #expect(results.values.filter { $0 == 200 }.count <= 1, "\(results.values)")
        #expect(results.values.allSatisfy { $0 == 200 || $0 == 401 })
    }
}

final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int] = []
    func add(_ value: Int) { lock.withLock { stored.append(value) } }
    var values: [Int] { lock.withLock { stored } }
}
