import Foundation
import GatehouseTestSupport
import Testing

/// The forward-auth decision endpoint (`/.gatehouse/auth`) with a raw client standing in for each proxy's
/// header dialect: nginx `auth_request` (X-Original-URL), Caddy/Traefik (X-Forwarded-*), Envoy ext_authz (the
/// original path appended). The real nginx and Caddy run in Tests/ThirdParty/test_forward_auth.py.
@Suite("Forward auth: the decision endpoint for nginx, Caddy, Traefik and Envoy")
struct ForwardAuthTests {
    static let routes = AuthConfig.route("api", prefix: "/api")
        + AuthConfig.route("ops", prefix: "/ops", "accept: [bearer]\nrequire: { groups_any: [ops] }")
        + AuthConfig.route("web", prefix: "/web", "accept: [bearer]\nunauthenticated: login")
        + AuthConfig.route("public", prefix: "/public", "auth: none")

    /// `trusted`: whether loopback (the test client) is in `trusted_proxies`.
    static func gateway(trusted: Bool = true) throws -> AuthGateway {
        try AuthGateway(AuthConfig.yaml(tokens: authStandardTokens(), routes: routes,
                                        top: "login:\n  url: \"/.gatehouse/login\"",
                                        server: "  trusted_proxies: [\(trusted ? "127.0.0.1" : "10.9.9.9")]"),
                        files: authStandardFiles)
    }

    static let html = "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"

    /// One decision request; `headers` are the dialect's description and the client's passed-on headers.
    static func ask(_ gw: AuthGateway, _ headers: [String], path: String = "/.gatehouse/auth",
                    method: String = "GET", host: String = "auth.internal") throws -> RawResponse? {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for header in headers { text += header + "\r\n" }
        return try gw.send(text + "Connection: close\r\n\r\n")
    }

    static func nginx(_ url: String, method: String = "GET") -> [String] {
        ["X-Original-URL: \(url)", "X-Original-Method: \(method)"]
    }

    static func forwarded(_ uri: String, host: String = "app.test", method: String = "GET") -> [String] {
        ["X-Forwarded-Method: \(method)", "X-Forwarded-Proto: https", "X-Forwarded-Host: \(host)",
         "X-Forwarded-Uri: \(uri)"]
    }

    static func identity(_ response: RawResponse?) -> [String] {
        (response?.headers ?? []).filter { $0.name.hasPrefix("X-Auth-") }.map { "\($0.name): \($0.value)" }
    }

    static let alice = ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"]

    @Test("each dialect: a valid bearer gets 200 with exactly the identity headers the proxy mode injects")
    func allowedInEachDialect() throws {
        let gw = try Self.gateway()
        let bearer = "Authorization: Bearer \(authToken())"
        for (name, response) in [
            ("nginx", try Self.ask(gw, Self.nginx("https://app.test/api/orders?x=1") + [bearer])),
            ("forwarded", try Self.ask(gw, Self.forwarded("/api/orders?x=1") + [bearer])),
            ("envoy", try Self.ask(gw, [bearer], path: "/.gatehouse/auth/api/orders?x=1", host: "app.test")),
        ] {
            #expect(response?.status == 200, "\(name)")
            #expect(Self.identity(response) == Self.alice, "\(name)")
        }
        // A public route: 200 without identity.
        let open = try Self.ask(gw, Self.forwarded("/public/x"))
        #expect(open?.status == 200)
        #expect(Self.identity(open).isEmpty)
    }

    @Test("no credential: 401 with WWW-Authenticate; a bad token: 401 invalid_token; unmet requirement: 403")
    func refusals() throws {
        let gw = try Self.gateway()
        let none = try Self.ask(gw, Self.forwarded("/api/x"))
        #expect(none?.status == 401)
        #expect(none?.header("WWW-Authenticate") == #"Bearer realm="gatehouse""#)
        let bad = try Self.ask(gw, Self.nginx("https://app.test/api/x") + ["Authorization: Bearer not.a.token"])
        #expect(bad?.status == 401)
        #expect(bad?.header("WWW-Authenticate") == #"Bearer realm="gatehouse", error="invalid_token""#)
        let forbidden = try Self.ask(gw, Self.forwarded("/ops/x") + ["Authorization: Bearer \(authToken())"])
        #expect(forbidden?.status == 403)
        #expect(Self.identity(forbidden).isEmpty)
        let ops = try Self.ask(gw, Self.forwarded("/ops/x") + [
            "Authorization: Bearer \(authToken(extra: ",\"groups\":[\"ops\"]"))"])
        #expect(ops?.status == 200)
        // No route for the original request: denied, not passed.
        #expect(try Self.ask(gw, Self.forwarded("/nowhere")).map(\.status) == 403)
        // The method is part of the description: a route's method list sees the original one.
        #expect(try Self.ask(gw, Self.nginx("https://app.test/api/x", method: "DELETE")).map(\.status) == 401)
    }

    @Test("a browser: Caddy/Traefik/Envoy get a 302 to the login page with rd; nginx gets 401 + X-Gatehouse-Login")
    func browserNavigation() throws {
        let gw = try Self.gateway()
        let forwarded = try Self.ask(gw, Self.forwarded("/web/orders/7?tab=items") + [Self.html])
        #expect(forwarded?.status == 302)
        #expect(forwarded?.header("Location") == "/.gatehouse/login?rd=/web/orders/7%3Ftab%3Ditems")
        let envoy = try Self.ask(gw, [Self.html], path: "/.gatehouse/auth/web/a", host: "app.test")
        #expect(envoy?.status == 302)
        #expect(envoy?.header("Location") == "/.gatehouse/login?rd=/web/a")
        let nginx = try Self.ask(gw, Self.nginx("https://app.test/web/orders/7?tab=items") + [Self.html])
        #expect(nginx?.status == 401)
        #expect(nginx?.header("X-Gatehouse-Login") == "/.gatehouse/login?rd=/web/orders/7%3Ftab%3Ditems")
        // An API client on the same route: 401, no login header.
        let api = try Self.ask(gw, Self.nginx("https://app.test/web/orders/7") + ["Accept: application/json"])
        #expect(api?.status == 401)
        #expect(api?.header("X-Gatehouse-Login") == nil)
    }

    @Test("a peer outside trusted_proxies describing a request: 400, never a decision")
    func untrustedPeer() throws {
        let gw = try Self.gateway(trusted: false)
        let response = try Self.ask(gw, Self.forwarded("/api/x") + ["Authorization: Bearer \(authToken())"])
        #expect(response?.status == 400)
        #expect(Self.identity(response).isEmpty)
        #expect(gw.accessLogLine(path: "/.gatehouse/auth")?.contains("forward-auth-untrusted-peer") == true)
    }

    @Test("bad descriptions: missing, garbage, not absolute, duplicated, traversal, encoded slash: 400")
    func badDescriptions() throws {
        let gw = try Self.gateway()
        let bearer = "Authorization: Bearer \(authToken())"
        let cases: [(String, [String])] = [
            ("missing", [bearer]),
            ("garbage X-Original-URL", ["X-Original-URL: ::::", bearer]),
            ("relative X-Original-URL", ["X-Original-URL: /api/x", bearer]),
            ("userinfo in X-Original-URL", ["X-Original-URL: https://evil@app.test/api/x", bearer]),
            ("duplicated X-Forwarded-Uri", Self.forwarded("/api/x") + ["X-Forwarded-Uri: /public/x", bearer]),
            ("both dialects (one forged)", Self.nginx("https://app.test/public/x") + Self.forwarded("/api/x")),
            ("X-Forwarded-Uri without host", ["X-Forwarded-Uri: /api/x", bearer]),
            ("X-Forwarded-Uri not a path", Self.forwarded("api/x") + [bearer]),
            ("traversal above the root", Self.forwarded("/../../etc/passwd") + [bearer]),
            ("encoded slash", Self.forwarded("/public/..%2fapi/x") + [bearer]),
            ("space in the method", ["X-Forwarded-Method: GE T"] + Self.forwarded("/api/x").dropFirst() + [bearer]),
        ]
        for (name, headers) in cases {
            let response = try Self.ask(gw, headers)
            #expect(response?.status == 400, "\(name): \(response?.status ?? 0) \(response?.bodyText ?? "")")
            #expect(Self.identity(response).isEmpty, "\(name)")
        }
        // `..` inside the path is normalised as the proxy mode does: /public/../api is /api, which needs a token.
        #expect(try Self.ask(gw, Self.forwarded("/public/../api/x")).map(\.status) == 401)
        // Another host in an absolute URL matches that host's routes (these have none: any host), never trusts it.
        #expect(try Self.ask(gw, Self.nginx("https://other.test/api/x")).map(\.status) == 401)
    }

    @Test("Envoy without path normalisation: a check path climbing out of /.gatehouse/ is 400, never routed")
    func checkPathLeavingThePrefix() throws {
        let gw = try Self.gateway()
        // Envoy appends the original path to its path_prefix; `..` in it would land on the public route, whose
        // upstream's 200 Envoy would read as "allowed".
        // Out of the prefix: 400. Still inside it (`/.gatehouse/public/x`): the gateway's own 404. Never routed.
        let cases = [("/.gatehouse/auth/../../public/x", 400), ("/.GATEHOUSE/auth/../public/x", 400),
                     ("/.gatehouse/../public/x", 400), ("/.gatehouse/auth/%2e%2e/%2e%2e/public/x", 400),
                     ("/.gatehouse/auth/../public/x", 404), ("/.gatehouse/auth/%2e%2e/public/x", 404)]
        for (path, status) in cases {
            let response = try Self.ask(gw, ["Authorization: Bearer \(authToken())"], path: path)
            #expect(response?.status == status, "\(path): \(response?.status ?? 0)")
            #expect(try gw.upstreamRequests().filter { $0.contains("/public/x") }.isEmpty, "\(path) reached the upstream")
        }
        // The route itself is still reachable by its own path, and the endpoint by a clean check path.
        #expect(try Self.ask(gw, [], path: "/public/x")?.status == 200)
        #expect(try Self.ask(gw, ["Authorization: Bearer \(authToken())"], path: "/.gatehouse/auth/api/x")?.status == 200)
    }

    @Test("CR/LF smuggled into a description is refused by the parser; a huge X-Forwarded-Uri is refused too")
    func crlfAndHuge() throws {
        let gw = try Self.gateway()
        let smuggled = try gw.send("GET /.gatehouse/auth HTTP/1.1\r\nHost: a\r\nX-Forwarded-Host: app.test\r\n"
                                   + "X-Forwarded-Uri: /public/x\rAuthorization: Bearer x\r\n\r\n")
        #expect(smuggled?.status == 400)
        let huge = try Self.ask(gw, Self.forwarded("/api/" + String(repeating: "a", count: 70_000)))
        #expect(huge.map { $0.status >= 400 && $0.status != 401 } ?? true)
    }
}
