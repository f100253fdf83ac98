import Foundation
import GatehouseTestSupport
import Testing

/// Route selection, seen from outside: each route goes to its own echo upstream, and the test asks which
/// echo logged the request (and with which target).
@Suite("Routing through the real binary")
struct RoutingTests {
    /// A gateway with three echo upstreams `a`, `b`, `c` (echo 0, 1, 2) and the given routes (YAML list items
    /// indented two spaces; `auth: none` is added to each route by the caller).
    static func gateway(routes: String, server: String = "") throws -> TestGateway {
        let yaml = """
            server:
              listen: ["127.0.0.1:0"]
              workers: 2
            \(server)
            access_log:
              path: off
            upstreams:
              a:
                servers: ["@UPSTREAM@"]
              b:
                servers: ["@UPSTREAM2@"]
              c:
                servers: ["@UPSTREAM3@"]
            routes:
            \(routes)
            """
        return try TestGateway(configYAML: yaml, extraUpstreams: 2)
    }

    /// Sends `method target` with `host` on a fresh connection; returns (status, index of the echo that
    /// logged `expectedTarget`, or nil).
    static func route(_ gw: TestGateway, method: String = "GET", _ target: String, host: String = "a",
                      expectedTarget: String? = nil) throws -> (status: Int?, echo: Int?) {
        let marker = "id=\(UUID().uuidString)"
        let separator = target.contains("?") ? "&" : "?"
        let sent = target + separator + marker
        let body = method == "POST" || method == "PUT" ? "Content-Length: 0\r\n" : ""
        let response = try gw.exchange("\(method) \(sent) HTTP/1.1\r\nHost: \(host)\r\n\(body)\r\n")
        guard let response, response.status == 200 else { return (response?.status, nil) }
        let target = (expectedTarget ?? target) + separator + marker
        #expect(response.json?["target"] as? String == target)
        return (200, gw.answeringEcho("\(method) \(target)"))
    }

    static let hostRoutes = """
          - name: exact
            match: { host: app.example.com }
            upstream: a
            auth: none
          - name: wildcard
            match: { host: "*.example.com" }
            upstream: b
            auth: none
          - name: default
            upstream: c
            auth: none
        """

    @Test("an exact host route matches case-insensitively and without the port")
    func exactHost() throws {
        let gw = try Self.gateway(routes: Self.hostRoutes)
        #expect(try Self.route(gw, "/x", host: "app.example.com").echo == 0)
        #expect(try Self.route(gw, "/x", host: "APP.Example.COM:8443").echo == 0)
        #expect(try Self.route(gw, "/x", host: "app.example.com.").echo == 0)
        #expect(try Self.route(gw, "/x", host: "other.test").echo == 2)
    }

    @Test("*.example.com matches a.example.com, not example.com, not a.b.example.com")
    func wildcardHost() throws {
        let gw = try Self.gateway(routes: Self.hostRoutes)
        #expect(try Self.route(gw, "/x", host: "a.example.com").echo == 1)
        #expect(try Self.route(gw, "/x", host: "Tenant-7.EXAMPLE.com:80").echo == 1)
        #expect(try Self.route(gw, "/x", host: "example.com").echo == 2)
        #expect(try Self.route(gw, "/x", host: "a.b.example.com").echo == 2)
        #expect(try Self.route(gw, "/x", host: "aexample.com").echo == 2)
    }

    @Test("an absolute-form target's authority is what routing uses (and what is forwarded as Host)")
    func absoluteFormAuthority() throws {
        let gw = try Self.gateway(routes: Self.hostRoutes)
        let response = try #require(try gw.exchange(
            "GET http://app.example.com/abs?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n"))
        #expect(response.status == 200)
        #expect(response.json?["target"] as? String == "/abs?x=1")
        #expect(echoed(response, "Host") == "app.example.com")
        #expect(gw.answeringEcho("GET /abs?x=1") == 0)
    }

    static let prefixRoutes = """
          - name: api
            match: { path_prefix: /api }
            upstream: a
            auth: none
          - name: api-v2
            match: { path_prefix: /api/v2 }
            upstream: b
            auth: none
          - name: default
            match: { path_prefix: / }
            upstream: c
            auth: none
        """

    @Test("the longest path prefix wins, whatever the file order")
    func longestPrefix() throws {
        let gw = try Self.gateway(routes: Self.prefixRoutes)
        #expect(try Self.route(gw, "/api/v2/users").echo == 1)
        #expect(try Self.route(gw, "/api/v2").echo == 1)
        #expect(try Self.route(gw, "/api/v1/users").echo == 0)
        #expect(try Self.route(gw, "/api").echo == 0)
        #expect(try Self.route(gw, "/other").echo == 2)
    }

    @Test("prefixes follow path segments: /api does not match /apiary or /api-v2")
    func segmentAwarePrefix() throws {
        let gw = try Self.gateway(routes: Self.prefixRoutes)
        #expect(try Self.route(gw, "/apiary").echo == 2)
        #expect(try Self.route(gw, "/api-v2/x").echo == 2)
        #expect(try Self.route(gw, "/api/v2x").echo == 0)
        #expect(try Self.route(gw, "/api/").echo == 0)
    }

    @Test("a methods filter: listed methods go to that route, others fall through")
    func methodsFilter() throws {
        let gw = try Self.gateway(routes: """
              - name: writes
                match: { path_prefix: /m, methods: [POST, PUT] }
                upstream: a
                auth: none
              - name: reads
                match: { path_prefix: /m }
                upstream: b
                auth: none
              - name: get-only
                match: { path_prefix: /g, methods: [GET] }
                upstream: c
                auth: none
            """)
        #expect(try Self.route(gw, method: "POST", "/m/x").echo == 0)
        #expect(try Self.route(gw, method: "PUT", "/m/x").echo == 0)
        #expect(try Self.route(gw, method: "GET", "/m/x").echo == 1)
        #expect(try Self.route(gw, method: "GET", "/g").echo == 2)
        // Methods are case-sensitive, and a method no route accepts is not found.
        #expect(try Self.route(gw, method: "POST", "/g").status == 404)
        #expect(try Self.route(gw, method: "get", "/g").status == 404)
    }

    @Test("no matching route: 404 from the gateway; a bodiless request keeps the connection")
    func noMatch() throws {
        let gw = try Self.gateway(routes: """
              - name: only-app
                match: { host: app.example.com, path_prefix: /app }
                upstream: a
                auth: none
            """)
        let client = try RawClient(port: gw.port)
        try client.send("GET /app HTTP/1.1\r\nHost: other.example.com\r\n\r\n")
        let first = try #require(client.readResponse())
        #expect(first.status == 404)
        #expect(first.json?["error"] as? String == "not_found")
        try client.send("GET /nothing HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
        #expect(client.readResponse()?.status == 404)
        try client.send("GET /app/x HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        #expect(try gw.upstreamRequestLines(under: "/app", host: "app.example.com") == ["GET /app/x"])
    }

    @Test("a 404 for a request with a body closes the connection (the body is never read as a request)")
    func noMatchWithBody() throws {
        let gw = try Self.gateway(routes: """
              - name: only-app
                match: { path_prefix: /app }
                upstream: a
                auth: none
            """)
        let client = try RawClient(port: gw.port)
        let smuggled = "GET /app/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        try client.send("POST /nowhere HTTP/1.1\r\nHost: a\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n" + smuggled)
        #expect(client.readResponse()?.status == 404)
        #expect(client.waitForClose(timeout: 5))
        #expect(gw.answeringEcho("GET /app/smuggled", timeout: 0.5) == nil)
    }

    static let publicAdminRoutes = """
          - name: public
            match: { path_prefix: /public }
            upstream: a
            auth: none
          - name: admin
            match: { path_prefix: /admin }
            upstream: b
            auth: none
        """

    @Test("/public/../admin is routed as /admin and the upstream receives /admin, never the public route")
    func dotDotIsNormalisedBeforeRouting() throws {
        let gw = try Self.gateway(routes: Self.publicAdminRoutes)
        #expect(try Self.route(gw, "/public/../admin/secret", expectedTarget: "/admin/secret").echo == 1)
        #expect(try Self.route(gw, "/public/%2e%2e/admin/secret", expectedTarget: "/admin/secret").echo == 1)
        #expect(try Self.route(gw, "/public/%2E%2E/admin/secret", expectedTarget: "/admin/secret").echo == 1)
        #expect(try Self.route(gw, "/public/./x/../../admin/s", expectedTarget: "/admin/s").echo == 1)
        // The public upstream never saw an admin path in any spelling.
        let publicLog = gw.echo.stdoutLines
        #expect(!publicLog.contains { $0.contains("admin") }, "public upstream received \(publicLog)")
    }

    @Test("// and /./ are collapsed before routing; the upstream receives the same path routing used")
    func emptyAndDotSegments() throws {
        let gw = try Self.gateway(routes: Self.publicAdminRoutes)
        #expect(try Self.route(gw, "//admin/x", expectedTarget: "/admin/x").echo == 1)
        #expect(try Self.route(gw, "/./admin//x", expectedTarget: "/admin/x").echo == 1)
        #expect(try Self.route(gw, "/public//x", expectedTarget: "/public/x").echo == 0)
        #expect(try Self.route(gw, "/%70ublic/x", expectedTarget: "/public/x").echo == 0)
        // Not a route at all once normalised: 404, and nothing forwarded.
        #expect(try Self.route(gw, "/public/../other").status == 404)
    }

    /// `/private` goes to echo 1, everything else to echo 0 (the public catch-all).
    static let privateRoutes = """
          - name: public
            upstream: a
            auth: none
          - name: private
            match: { path_prefix: /private }
            upstream: b
            auth: none
        """

    @Test("a path parameter is refused by default: /private;jsessionid=1/x never reaches the public route")
    func pathParameterRefused() throws {
        let gw = try Self.gateway(routes: Self.privateRoutes)
        for target in ["/private;jsessionid=1/x", "/private;/x", "/x/..;/private/x", "/private%3Bjsessionid=1/x",
                       "/public;x"] {
            try expectRefused(gw, "GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        }
        #expect(try Self.route(gw, "/private%3A/x").echo == 0)  // other escapes are still path bytes
    }

    @Test("path_parameters: servlet routes on the segments without parameters and forwards them as sent")
    func servletPathParameters() throws {
        let gw = try Self.gateway(routes: Self.privateRoutes, server: "  path_parameters: servlet")
        // Dot and empty segments with parameters: servlet containers would resolve them after removing those.
        try expectRefused(gw, "GET /x/..;/private/x HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /x/;p/../private/x HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        #expect(try Self.route(gw, "/private;jsessionid=1/x").echo == 1)
        #expect(try Self.route(gw, "/private;a=1;b=2").echo == 1)
        #expect(try Self.route(gw, "/cars;color=red/x").echo == 0)
    }

    @Test("a case_insensitive route takes /PRIVATE/x; without it, path matching is case-sensitive")
    func caseInsensitiveRoute() throws {
        let ci = try Self.gateway(routes: Self.privateRoutes.replacingOccurrences(
            of: "match: { path_prefix: /private }", with: "match: { path_prefix: /private, case_insensitive: true }"))
        #expect(try Self.route(ci, "/PRIVATE/x").echo == 1)
        #expect(try Self.route(ci, "/pRiVaTe").echo == 1)
        #expect(try Self.route(ci, "/PR%C4%B1VATE/x").echo == 1)  // dotless ı: IIS and .NET read it as I
        #expect(try Self.route(ci, "/privateer").echo == 0)
        let exact = try Self.gateway(routes: Self.privateRoutes)
        #expect(try Self.route(exact, "/PRIVATE/x").echo == 0)
    }

    @Test("server.case_insensitive_paths makes every route case-insensitive unless the route says false")
    func caseInsensitiveByDefault() throws {
        let routes = Self.privateRoutes + """

              - name: exact
                match: { path_prefix: /Exact, case_insensitive: false }
                upstream: c
                auth: none
            """
        let gw = try Self.gateway(routes: routes, server: "  case_insensitive_paths: true")
        #expect(try Self.route(gw, "/PRIVATE/x").echo == 1)
        #expect(try Self.route(gw, "/Exact/x").echo == 2)
        #expect(try Self.route(gw, "/EXACT/x").echo == 0)
    }
}
