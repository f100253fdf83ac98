import Foundation
import GatehouseTestSupport
import Testing

@Suite("Auth: route policies (auth modes, require, unauthenticated)")
struct AuthPolicyTests {
    static let forbiddenChallenge = #"Bearer realm="gatehouse", error="insufficient_scope""#

    /// Every policy of this suite on one gateway, one route per path prefix.
    static func gateway() throws -> AuthGateway {
        let routes = AuthConfig.route("public", prefix: "/public", "auth: none")
            + AuthConfig.route("optional", prefix: "/optional", "auth: optional\naccept: [bearer]")
            + AuthConfig.route("required", prefix: "/required", "auth: required\naccept: [bearer]")
            + AuthConfig.route("claims", prefix: "/claims",
                               "accept: [bearer]\nrequire: { claims: { tenant: acme, roles: [editor, owner] } }")
            + AuthConfig.route("groups-any", prefix: "/groups-any", "accept: [bearer]\nrequire: { groups_any: [ops, admin] }")
            + AuthConfig.route("groups-all", prefix: "/groups-all", "accept: [bearer]\nrequire: { groups_all: [staff, ops] }")
            + AuthConfig.route("scopes", prefix: "/scopes",
                               "accept: [bearer]\nrequire: { scopes: [\"orders:read\", \"orders:write\"] }")
            + AuthConfig.route("methods", prefix: "/methods", "accept: [bearer]\nrequire: { methods: [GET, HEAD] }")
            + AuthConfig.route("tree", prefix: "/tree", """
                accept: [bearer]
                require:
                  groups_any: [staff]
                  any:
                    - { methods: [GET, HEAD] }
                    - all:
                        - { groups_any: [editors] }
                        - { claims: { tenant: [a, b] } }
                """)
            + AuthConfig.route("web", prefix: "/web", "accept: [bearer]\nunauthenticated: login")
        return try authStandardGateway(routes: routes, top: "login:\n  url: \"https://sso.test/login\"")
    }

    /// An ES256 token for alice with `extra` claims members (`,"groups":["ops"]`).
    static func token(_ extra: String = "") -> String {
        TokenMinter.mint(claims: TokenMinter.claims(extra: extra), key: TokenKeys.p256, alg: "ES256")
    }

    static let alice = ["X-Auth-User: alice"]

    @Test("auth: none needs no token; client identity headers are stripped and none injected")
    func authNone() throws {
        let gw = try Self.gateway()
        authExpectForwarded(try gw.get("/public/a", ["X-Auth-User: mallory", "X-Auth-Groups: admin", "X-App: 1"]),
                            ["Host: app.test", "X-App: 1"] + authForwarded)
        // A valid token changes nothing: no identity on a public route (its Authorization is not the gateway's).
        let token = Self.token(#","email":"alice@example.com""#)
        authExpectForwarded(try gw.get("/public/b", ["Authorization: Bearer \(token)", "X-Auth-User: mallory"]),
                            ["Host: app.test", "Authorization: Bearer \(token)"] + authForwarded)
    }

    @Test("auth: optional: anonymous without a token, identity with a valid one, 401 for a bad one")
    func authOptional() throws {
        let gw = try Self.gateway()
        authExpectForwarded(try gw.get("/optional/anonymous", ["X-Auth-User: mallory"]), ["Host: app.test"] + authForwarded)
        // Another scheme is no bearer credential: still anonymous, and the header does not travel on.
        authExpectForwarded(try gw.get("/optional/basic", ["Authorization: Basic YWxpY2U6c2VjcmV0"]),
                            ["Host: app.test"] + authForwarded)
        let token = Self.token(#","email":"alice@example.com","groups":["staff"]"#)
        authExpectForwarded(try gw.get("/optional/valid", bearer: token, ["X-Auth-User: mallory"]),
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"])
        let forged = TokenMinter.mint(claims: TokenMinter.claims(), key: TokenKeys.p256Other, alg: "ES256")
        authExpectInvalidToken(gw, try gw.get("/optional/forged", bearer: forged), token: forged,
                               path: "/optional/forged", reason: "bad-signature")
        let expired = TokenMinter.mint(claims: TokenMinter.claims(exp: -3600, iat: -7200), key: TokenKeys.p256, alg: "ES256")
        authExpectInvalidToken(gw, try gw.get("/optional/expired", bearer: expired), token: expired,
                               path: "/optional/expired", reason: "expired")
        #expect(try gw.upstreamRequests() == ["GET /optional/anonymous", "GET /optional/basic", "GET /optional/valid"])
    }

    @Test("auth: required: 401 without a token, forwarded with one")
    func authRequired() throws {
        let gw = try Self.gateway()
        authExpectRefusal(try gw.get("/required/x"), status: 401, challenge: #"Bearer realm="gatehouse""#,
                          error: "unauthorized")
        authExpectForwarded(try gw.get("/required/y", bearer: Self.token()), ["Host: app.test"] + authForwarded + Self.alice)
    }

    @Test("require.claims: a string claim must equal, an array claim must contain one of the values; else 403")
    func requireClaims() throws {
        let gw = try Self.gateway()
        authExpectForwarded(try gw.get("/claims/1", bearer: Self.token(#","tenant":"acme","roles":["viewer","editor"]"#)),
                            ["Host: app.test"] + authForwarded + Self.alice)
        authExpectForwarded(try gw.get("/claims/2", bearer: Self.token(#","tenant":"acme","roles":"owner""#)),
                            ["Host: app.test"] + authForwarded + Self.alice)
        for (index, extra) in [#","tenant":"acme","roles":["viewer"]"#, #","tenant":"other","roles":["editor"]"#,
                               #","roles":["editor"]"#, #","tenant":["acme"]"#, #","tenant":"ACME","roles":["editor"]"#]
            .enumerated() {
            authExpectRefusal(try gw.get("/claims/no-\(index)", bearer: Self.token(extra)), status: 403,
                              challenge: Self.forbiddenChallenge, error: "insufficient_scope")
        }
        #expect(try gw.upstreamRequests() == ["GET /claims/1", "GET /claims/2"])
    }

    @Test("groups_any and groups_all: 403 insufficient_scope when unmet")
    func requireGroups() throws {
        let gw = try Self.gateway()
        authExpectForwarded(try gw.get("/groups-any/1", bearer: Self.token(#","groups":["ops"]"#)),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: alice", "X-Auth-Groups: ops"])
        authExpectForwarded(try gw.get("/groups-any/2", bearer: Self.token(#","groups":["x","admin"]"#)),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: alice", "X-Auth-Groups: x,admin"])
        for (index, extra) in [#","groups":["staff"]"#, "", #","groups":["Ops"]"#, #","groups":["admin,ops"]"#]
            .enumerated() {
            authExpectRefusal(try gw.get("/groups-any/no-\(index)", bearer: Self.token(extra)), status: 403,
                              challenge: Self.forbiddenChallenge, error: "insufficient_scope")
        }
        authExpectForwarded(try gw.get("/groups-all/1", bearer: Self.token(#","groups":["ops","x","staff"]"#)),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: alice", "X-Auth-Groups: ops,x,staff"])
        for (index, extra) in [#","groups":["staff"]"#, #","groups":["ops"]"#, ""].enumerated() {
            authExpectRefusal(try gw.get("/groups-all/no-\(index)", bearer: Self.token(extra)), status: 403,
                              challenge: Self.forbiddenChallenge, error: "insufficient_scope")
        }
        #expect(try gw.upstreamRequests() == ["GET /groups-any/1", "GET /groups-any/2", "GET /groups-all/1"])
    }

    @Test("scopes: every required scope in the space-separated scope claim (or the scp list); else 403")
    func requireScopes() throws {
        let gw = try Self.gateway()
        authExpectForwarded(try gw.get("/scopes/1", bearer: Self.token(#","scope":"profile orders:write orders:read""#)),
                            ["Host: app.test"] + authForwarded + Self.alice)
        authExpectForwarded(try gw.get("/scopes/2", bearer: Self.token(#","scp":["orders:read","orders:write"]"#)),
                            ["Host: app.test"] + authForwarded + Self.alice)
        for (index, extra) in [#","scope":"orders:read""#, #","scope":"orders:read,orders:write""#,
                               #","scope":"orders:readorders:write""#, ""].enumerated() {
            authExpectRefusal(try gw.get("/scopes/no-\(index)", bearer: Self.token(extra)), status: 403,
                              challenge: Self.forbiddenChallenge, error: "insufficient_scope")
        }
    }

    @Test("require.methods: other methods get 403 insufficient_scope")
    func requireMethods() throws {
        let gw = try Self.gateway()
        let token = Self.token()
        authExpectForwarded(try gw.get("/methods/get", bearer: token), ["Host: app.test"] + authForwarded + Self.alice)
        let head = try gw.send("HEAD /methods/head HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n"
                               + "Connection: close\r\n\r\n", headRequest: true)
        #expect(head?.status == 200)
        for method in ["POST", "DELETE", "PUT"] {
            let response = try gw.send("\(method) /methods/\(method) HTTP/1.1\r\nHost: app.test\r\n"
                                       + "Authorization: Bearer \(token)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            authExpectRefusal(response, status: 403, challenge: Self.forbiddenChallenge, error: "insufficient_scope")
        }
        #expect(try gw.upstreamRequests() == ["GET /methods/get", "HEAD /methods/head"])
    }

    @Test("any/all trees: staff may read; staff editors of tenant a or b may also write")
    func requireTree() throws {
        let gw = try Self.gateway()
        func send(_ method: String, _ path: String, _ extra: String) throws -> RawResponse? {
            try gw.send("\(method) \(path) HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(Self.token(extra))\r\n"
                        + "Content-Length: 0\r\nConnection: close\r\n\r\n")
        }
        authExpectForwarded(try send("GET", "/tree/read", #","groups":["staff"]"#),
                            ["Host: app.test", "Content-Length: 0"] + authForwarded + ["X-Auth-User: alice", "X-Auth-Groups: staff"])
        authExpectForwarded(try send("POST", "/tree/write-a", #","groups":["staff","editors"],"tenant":"a""#),
                            ["Host: app.test", "Content-Length: 0"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Groups: staff,editors"])
        authExpectForwarded(try send("PUT", "/tree/write-b", #","groups":["editors","staff"],"tenant":["x","b"]"#),
                            ["Host: app.test", "Content-Length: 0"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Groups: editors,staff"])
        for (index, (method, extra)) in [("POST", #","groups":["staff","editors"],"tenant":"c""#),
                                         ("POST", #","groups":["staff"],"tenant":"a""#),
                                         ("GET", #","groups":["editors"],"tenant":"a""#),
                                         ("POST", #","groups":["editors"],"tenant":"a""#)].enumerated() {
            authExpectRefusal(try send(method, "/tree/no-\(index)", extra), status: 403,
                              challenge: Self.forbiddenChallenge, error: "insufficient_scope")
        }
        #expect(try gw.upstreamRequests() == ["GET /tree/read", "POST /tree/write-a", "PUT /tree/write-b"])
    }

    @Test("unauthenticated: login sends browsers (GET, Accept text/html) to login.url with rd=; API clients get 401")
    func loginRedirect() throws {
        let gw = try Self.gateway()
        let html = "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
        let browser = try gw.get("/web/orders/7?tab=items&q=a%20b", [html])
        #expect(browser?.status == 302)
        #expect(browser?.header("Location") == "https://sso.test/login?rd=/web/orders/7%3Ftab%3Ditems%26q%3Da%2520b")
        #expect(browser?.header("Cache-Control") == "no-store")
        #expect(browser?.header("Content-Length") == "0")
        // A browser with an expired token is sent to sign in again too.
        let expired = TokenMinter.mint(claims: TokenMinter.claims(exp: -3600, iat: -7200), key: TokenKeys.p256, alg: "ES256")
        let again = try gw.get("/web/", ["Authorization: Bearer \(expired)", html])
        #expect(again?.status == 302)
        #expect(again?.header("Location") == "https://sso.test/login?rd=/web/")
        // The same request from an API client: 401 JSON.
        authExpectRefusal(try gw.get("/web/orders/7?tab=items", ["Accept: application/json"]), status: 401,
                          challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
        authExpectRefusal(try gw.get("/web/orders/7"), status: 401, challenge: #"Bearer realm="gatehouse""#,
                          error: "unauthorized")
        // A POST is no navigation, even from a browser.
        let post = try gw.send("POST /web/form HTTP/1.1\r\nHost: app.test\r\n\(html)\r\nContent-Length: 0\r\n"
                               + "Connection: close\r\n\r\n")
        #expect(post?.status == 401)
        // With a valid token the browser gets the page.
        authExpectForwarded(try gw.get("/web/ok", bearer: Self.token(), [html]),
                            ["Host: app.test", html] + authForwarded + Self.alice)
        #expect(try gw.upstreamRequests() == ["GET /web/ok"])
    }

    @Test("the policy judges the path and authority the router and the upstream use: no way round it")
    func pathAndAuthorityTricks() throws {
        let hostRoutes = """
              - name: admin-host
                match: { host: admin.test }
                upstream: app
                accept: [bearer]
              - name: public-host
                match: { host: public.test }
                upstream: app
                auth: none

            """
        let gw = try authStandardGateway(
            routes: AuthConfig.route("public", prefix: "/public", "auth: none")
                + AuthConfig.route("required", prefix: "/required", "accept: [bearer]") + hostRoutes)
        func send(_ target: String, host: String = "app.test") throws -> RawResponse? {
            try gw.send("GET \(target) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
        }
        // Resolved to /required/x: the protected route's 401.
        for target in ["/public/../required/x", "/public/%2e%2e/required/x", "/public/%2E%2E/required/x",
                       "/public//../required/x", "/public/./../required/x", "/%70ublic/../required/x"] {
            authExpectRefusal(try send(target), status: 401, challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
        }
        // Ambiguous: refused outright.
        for target in ["/public/..;/required/x", "/public%2F..%2Frequired/x", "/public/%2e%2e%2frequired/x",
                       "/public\\..\\required/x"] {
            #expect(try send(target)?.status == 400, "\(target)")
        }
        // An absolute-form target names the authority; Host cannot route it to a public route.
        authExpectRefusal(try send("http://admin.test/x", host: "public.test"), status: 401,
                          challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
        authExpectForwarded(try send("http://public.test/x", host: "admin.test"),
                            ["Host: public.test", "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http",
                             "X-Forwarded-Host: public.test", "X-Real-IP: 127.0.0.1"])
        #expect(try gw.upstreamRequests() == ["GET /x"])
    }
}
