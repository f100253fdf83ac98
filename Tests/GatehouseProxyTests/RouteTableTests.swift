import GatehouseHTTP
@testable import GatehouseProxy
import Testing

@Suite("Route table")
struct RouteTableTests {
    func route(_ name: String, host: HostMatch? = nil, prefix: String, methods: [String]? = nil,
               caseInsensitive: Bool = false) -> Route {
        Route(name: name, host: host, pathPrefix: Array(prefix.utf8), methods: methods.map { $0.map { Array($0.utf8) } },
              upstreamIndex: 0, caseInsensitive: caseInsensitive)
    }

    func match(_ table: RouteTable, host: String = "", path: String, method: String = "GET") -> String? {
        let h = Array(host.utf8), p = Array(path.utf8), m = Array(method.utf8)
        let index = h.withUnsafeBytes { hb in
            p.withUnsafeBytes { pb in m.withUnsafeBytes { mb in table.match(host: hb, path: pb, method: mb) } }
        }
        return index.map { table.routes[$0].name }
    }

    @Test("the longest prefix wins, whatever the file order")
    func longestPrefix() {
        let table = RouteTable([route("root", prefix: "/"), route("api", prefix: "/api"), route("v1", prefix: "/api/v1/")])
        #expect(match(table, path: "/") == "root")
        #expect(match(table, path: "/api") == "api")
        #expect(match(table, path: "/api/x") == "api")
        #expect(match(table, path: "/api/v1/users") == "v1")
        #expect(match(table, path: "/api/v1") == "api")
    }

    @Test("prefixes match whole segments")
    func segmentAware() {
        let table = RouteTable([route("api", prefix: "/api")])
        #expect(match(table, path: "/apiary") == nil)
        #expect(match(table, path: "/api/") == "api")
        #expect(match(table, path: "/ap") == nil)
    }

    @Test("exact host beats wildcard beats no host")
    func hostPrecedence() {
        let table = RouteTable([
            route("any", prefix: "/"),
            route("wild", host: .suffix(Array(".example.com".utf8)), prefix: "/"),
            route("exact", host: .exact(Array("app.example.com".utf8)), prefix: "/"),
        ])
        #expect(match(table, host: "app.example.com", path: "/x") == "exact")
        #expect(match(table, host: "other.example.com", path: "/x") == "wild")
        #expect(match(table, host: "example.com", path: "/x") == "any")
        #expect(match(table, host: "a.b.example.com", path: "/x") == "any")
        #expect(match(table, host: "evil-example.com", path: "/x") == "any")
    }

    @Test("a route with methods only takes those methods")
    func methods() {
        let table = RouteTable([route("read", prefix: "/", methods: ["GET", "HEAD"]), route("write", prefix: "/")])
        #expect(match(table, path: "/", method: "GET") == "read")
        #expect(match(table, path: "/", method: "POST") == "write")
        #expect(match(table, path: "/", method: "get") == "write")
    }

    @Test("a case-insensitive route matches its prefix in any ASCII case, segment by segment")
    func caseInsensitive() {
        let table = RouteTable([route("root", prefix: "/"), route("private", prefix: "/Private", caseInsensitive: true),
                                route("exact", prefix: "/Exact")])
        for path in ["/private", "/PRIVATE/x", "/pRiVaTe/", "/Private"] { #expect(match(table, path: path) == "private") }
        #expect(match(table, path: "/PRIVATEER") == "root")
        #expect(match(table, path: "/Exact/x") == "exact")
        #expect(match(table, path: "/EXACT/x") == "root")
    }

    @Test("case-insensitive matching folds the non-ASCII letters that fold to ASCII (ı İ ſ K), as IIS and .NET do")
    func caseInsensitiveUnicodeFolding() {
        let table = RouteTable([route("root", prefix: "/"), route("risk", prefix: "/Risk", caseInsensitive: true),
                                route("sensitive", prefix: "/skip")])
        for path in ["/r%C4%B1sk", "/R%C4%B0SK/x", "/ri%C5%BFk", "/ris%E2%84%AA", "/R%C4%B1%C5%BF%E2%84%AA/"] {
            #expect(match(table, path: path) == "risk", "\(path)")
        }
        #expect(match(table, path: "/r%C4%B1skier") == "root")
        #expect(match(table, path: "/%C5%BFkip") == "root")  // a case-sensitive route folds nothing
        #expect(match(table, path: "/ri%C5") == "root")
    }

    func parse(_ text: String, parameters: PathParameters) throws -> RequestHead? {
        var limits = HTTPLimits()
        limits.pathParameters = parameters
        var parser = RequestParser(limits: limits)
        let bytes = Array(text.utf8)
        guard case .requestHead(let head, _) = try bytes.withUnsafeBytes({ try parser.next($0) }) else { return nil }
        return head
    }

    @Test("with servlet path parameters, routes see the segments without them; the upstream gets them")
    func servletParameters() throws {
        let table = RouteTable([route("public", prefix: "/"), route("private", prefix: "/private")])
        let head = try #require(try parse("GET /private;jsessionid=1/x HTTP/1.1\r\nHost: a\r\n\r\n", parameters: .servlet))
        #expect(String(decoding: head.normalizedPath, as: UTF8.self) == "/private;jsessionid=1/x")
        #expect(String(decoding: head.routingPath, as: UTF8.self) == "/private/x")
        #expect(table.match(head).map { table.routes[$0].name } == "private")
        #expect(throws: HTTPParseError(status: 400, reason: "path-parameter")) {
            try parse("GET /private;jsessionid=1/x HTTP/1.1\r\nHost: a\r\n\r\n", parameters: .refuse)
        }
    }

    @Test("no route: nil")
    func noMatch() {
        let table = RouteTable([route("app", host: .exact(Array("a.test".utf8)), prefix: "/app")])
        #expect(match(table, host: "a.test", path: "/other") == nil)
        #expect(match(table, host: "b.test", path: "/app") == nil)
    }
}

@Suite("Trusted proxy networks")
struct IPNetworkTests {
    @Test func ipv4() {
        let net = IPNetwork(address: [10, 0, 0, 0], prefixLength: 8)
        #expect(net.contains([10, 1, 2, 3]))
        #expect(!net.contains([11, 0, 0, 1]))
        // IPv4-mapped IPv6 peers count as IPv4.
        #expect(net.contains([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9, 9, 9]))
    }

    @Test func ipv6AndOddPrefix() {
        let net = IPNetwork(address: [0xfd] + Array(repeating: 0, count: 15), prefixLength: 7)
        #expect(net.contains([0xfc] + Array(repeating: 1, count: 15)))
        #expect(!net.contains([0xfe] + Array(repeating: 0, count: 15)))
        #expect(!net.contains([10, 0, 0, 1]))
    }
}
