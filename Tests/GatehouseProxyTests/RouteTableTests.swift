import GatehouseHTTP
@testable import GatehouseProxy
import Testing

@Suite("Route table")
struct RouteTableTests {
    func route(_ name: String, host: HostMatch? = nil, prefix: String, methods: [String]? = nil) -> Route {
        Route(name: name, host: host, pathPrefix: Array(prefix.utf8), methods: methods.map { $0.map { Array($0.utf8) } },
              upstreamIndex: 0)
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
