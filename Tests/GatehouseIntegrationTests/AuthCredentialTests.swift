import Foundation
import GatehouseTestSupport
import Testing

@Suite("Auth: where credentials come from, and what of them reaches the upstream")
struct AuthCredentialTests {
    static let identity = ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"]

    /// Routes: bearer (`/api`), bearer forwarding Authorization (`/fwd`), token cookie (`/web`), token cookie kept
    /// (`/web-keep`).
    static func gateway() throws -> AuthGateway {
        try authStandardGateway(
            routes: AuthConfig.route("api", prefix: "/api")
                + AuthConfig.route("fwd", prefix: "/fwd", "accept: [bearer]\nforward_authorization: true")
                + AuthConfig.route("web", prefix: "/web", "accept: [\"cookie:access_token\"]")
                + AuthConfig.route("web-keep", prefix: "/web-keep",
                                   "accept: [\"cookie:access_token\"]\nstrip_credential_cookies: false"))
    }

    @Test("the Bearer scheme is case-insensitive: `bearer` and `BEARER` work")
    func schemeCase() throws {
        let gw = try Self.gateway()
        let token = authToken()
        authExpectForwarded(try gw.get("/api/lower", ["Authorization: bearer \(token)"]),
                            ["Host: app.test"] + authForwarded + Self.identity)
        authExpectForwarded(try gw.get("/api/upper", ["Authorization: BEARER \(token)"]),
                            ["Host: app.test"] + authForwarded + Self.identity)
    }

    @Test("two Authorization headers: 400 invalid_request, nothing forwarded")
    func twoAuthorizationHeaders() throws {
        let gw = try Self.gateway()
        let token = authToken()
        let response = try gw.get("/api/two", ["Authorization: Bearer \(token)", "Authorization: Bearer \(token)"])
        authExpectRefusal(response, status: 400, challenge: #"Bearer realm="gatehouse", error="invalid_request""#,
                          error: "invalid_request")
        #expect(try gw.upstreamRequests() == [])
    }

    @Test("Authorization: Basic on a bearer route: 401 with a bare Bearer challenge (no error code)")
    func basicOnBearerRoute() throws {
        let gw = try Self.gateway()
        let response = try gw.get("/api/basic", ["Authorization: Basic YWxpY2U6c2VjcmV0"])
        authExpectRefusal(response, status: 401, challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
        #expect(try gw.upstreamRequests() == [])
    }

    @Test("a token cookie authenticates; the cookie is removed from Cookie upstream, other cookies kept")
    func tokenCookie() throws {
        let gw = try Self.gateway()
        let token = authToken()
        authExpectForwarded(try gw.get("/web/a", ["Cookie: theme=dark; access_token=\(token); lang=en"]),
                            ["Host: app.test", "Cookie: theme=dark; lang=en"] + authForwarded + Self.identity)
        // Only the token cookie: the Cookie header disappears.
        authExpectForwarded(try gw.get("/web/b", ["Cookie: access_token=\(token)"]),
                            ["Host: app.test"] + authForwarded + Self.identity)
        // Two Cookie headers, the token in the second.
        authExpectForwarded(try gw.get("/web/c", ["Cookie: theme=dark", "Cookie: access_token=\(token); lang=en"]),
                            ["Host: app.test", "Cookie: theme=dark", "Cookie: lang=en"] + authForwarded + Self.identity)
        // strip_credential_cookies: false keeps it.
        authExpectForwarded(try gw.get("/web-keep/d", ["Cookie: theme=dark; access_token=\(token)"]),
                            ["Host: app.test", "Cookie: theme=dark; access_token=\(token)"] + authForwarded + Self.identity)
        // No cookie at all on a cookie route: 401.
        authExpectRefusal(try gw.get("/web/none", ["Cookie: theme=dark"]), status: 401,
                          challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
    }

    @Test("the token cookie sent twice (one header or two) counts as no credential: 401")
    func repeatedCookie() throws {
        let gw = try Self.gateway()
        let token = authToken()
        let forged = TokenMinter.mint(claims: TokenMinter.claims(sub: "admin"), key: TokenKeys.p256Other, alg: "ES256")
        for (index, cookies) in [["Cookie: access_token=\(token); access_token=\(token)"],
                                 ["Cookie: access_token=\(forged)", "Cookie: access_token=\(token)"],
                                 ["Cookie: access_token=\(token)", "Cookie: x=1; access_token=\(forged)"]].enumerated() {
            let path = "/web/twice-\(index)"
            authExpectInvalidToken(gw, try gw.get(path, cookies), token: token, path: path, reason: "repeated-cookie")
        }
        #expect(try gw.upstreamRequests() == [])
    }

    @Test("forward_authorization: false (default) drops Authorization upstream; true keeps it in place")
    func forwardAuthorization() throws {
        let gw = try Self.gateway()
        let token = authToken()
        authExpectForwarded(try gw.get("/api/x", ["X-Before: 1", "Authorization: Bearer \(token)", "X-After: 2"]),
                            ["Host: app.test", "X-Before: 1", "X-After: 2"] + authForwarded + Self.identity)
        authExpectForwarded(try gw.get("/fwd/x", ["X-Before: 1", "Authorization: Bearer \(token)", "X-After: 2"]),
                            ["Host: app.test", "X-Before: 1", "Authorization: Bearer \(token)", "X-After: 2"]
                                + authForwarded + Self.identity)
    }

    @Test("Expect: 100-continue without a credential: the client gets 401, never 100, and the upstream nothing")
    func expectContinueWithoutCredential() throws {
        let gw = try Self.gateway()
        let forged = TokenMinter.mint(claims: TokenMinter.claims(), key: TokenKeys.p256Other, alg: "ES256")
        for (index, credential) in ["", "Authorization: Bearer \(forged)\r\n"].enumerated() {
            let client = try RawClient(port: gw.port)
            try client.send("POST /api/upload-\(index) HTTP/1.1\r\nHost: app.test\r\n\(credential)"
                            + "Content-Type: text/plain\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
            let response = client.readResponse(timeout: 5)
            #expect(response?.status == 401, "got \(response.map { "\($0.status)" } ?? "nothing")")
            #expect(response?.header("WWW-Authenticate")
                    == (index == 0 ? #"Bearer realm="gatehouse""# : authInvalidTokenChallenge))
            // The client sends its body anyway (as curl does after a timeout): it must never be read as a request.
            try? client.send("hello world")
            #expect(client.waitForClose(timeout: 5), "the gateway kept the connection open with a body pending")
        }
        #expect(try gw.upstreamRequests() == [])
    }

    @Test("a refused request's body is never read as a request: 401, the connection closes, nothing forwarded")
    func refusedBodyNotParsed() throws {
        let gw = try Self.gateway()
        let smuggled = "GET /api/smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"
        let requests = [
            "POST /api/upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n\(smuggled)",
            "POST /api/upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                + String(smuggled.utf8.count, radix: 16) + "\r\n\(smuggled)\r\n0\r\n\r\n",
        ]
        for request in requests {
            let client = try RawClient(port: gw.port)
            try client.send(request)
            authExpectRefusal(client.readResponse(timeout: 5), status: 401, challenge: #"Bearer realm="gatehouse""#,
                              error: "unauthorized")
            #expect(client.readResponse(timeout: 1) == nil, "a second answer came back")
            #expect(client.waitForClose(timeout: 5))
        }
        #expect(try gw.upstreamRequests() == [])
    }

    @Test("pipelined requests on one connection are each authenticated on their own, answered in order")
    func pipelinedRequests() throws {
        let gw = try Self.gateway()
        let token = authToken()
        let client = try RawClient(port: gw.port)
        try client.send("GET /api/1 HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n\r\n"
                        + "GET /api/2 HTTP/1.1\r\nHost: app.test\r\nX-Auth-User: alice\r\n\r\n"
                        + "GET /api/3 HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let first = client.readResponse()
        authExpectForwarded(first, ["Host: app.test"] + authForwarded + Self.identity)
        #expect(first?.json?["target"] as? String == "/api/1")
        authExpectRefusal(client.readResponse(), status: 401, challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
        let third = client.readResponse()
        authExpectForwarded(third, ["Host: app.test"] + authForwarded + Self.identity)
        #expect(third?.json?["target"] as? String == "/api/3")
        #expect(try gw.upstreamRequests() == ["GET /api/1", "GET /api/3"])
    }
}
