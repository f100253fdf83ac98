import Foundation
import GatehouseTestSupport
import Testing

/// What the upstream receives: hop-by-hop fields removed, fields named by Connection removed, forwarding
/// fields set by the gateway. Every test asserts the exact field list the echo upstream reported, in order.
@Suite("Forwarded request headers through the real binary")
struct ForwardingHeaderTests {
    typealias Fields = [[String]]

    static func fields(_ response: RawResponse) -> Fields { response.echoedHeaders.map { [$0.0, $0.1] } }

    @Test("hop-by-hop fields are removed: Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-*")
    func hopByHopRemoved() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /hop HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=10\r\n"
            + "TE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\n"
            + "Proxy-Authorization: Basic dXNlcjpwYXNz\r\nX-Kept: 1\r\nAccept: */*\r\n\r\n"))
        #expect(response.status == 200)
        #expect(Self.fields(response) == [
            ["Host", "app.test"], ["X-Kept", "1"], ["Accept", "*/*"],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
        ])
    }

    @Test("a field named in Connection is removed (any case), the others stay")
    func connectionNamedFieldRemoved() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /named HTTP/1.1\r\nHost: app.test\r\nConnection: x-foo, X-Bar\r\nX-Foo: secret\r\nx-bar: 2\r\n"
            + "X-FOO: again\r\nX-Foobar: kept\r\nX-Baz: kept\r\n\r\n"))
        #expect(response.status == 200)
        #expect(Self.fields(response) == [
            ["Host", "app.test"], ["X-Foobar", "kept"], ["X-Baz", "kept"],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
        ])
    }

    @Test("Connection naming Content-Length: 400, closed, nothing forwarded")
    func connectionNamesContentLength() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /conn-cl HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello",
                          status: 400)
    }

    @Test("Connection naming Transfer-Encoding or Host: 400 each")
    func connectionNamesOtherFramingFields() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /conn-te HTTP/1.1\r\nHost: a\r\nConnection: Transfer-Encoding\r\n"
                              + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /conn-host HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, host\r\n\r\n", status: 400)
    }

    @Test("X-Forwarded-* from an untrusted peer are replaced by the gateway's own")
    func untrustedForwardedReplaced() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /xff HTTP/1.1\r\nHost: app.test:8080\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
            + "X-Forwarded-Host: evil.test\r\nForwarded: for=203.0.113.9\r\nx-forwarded-for: 198.51.100.1\r\n"
            + "X-Other: 1\r\n\r\n"))
        #expect(response.status == 200)
        #expect(Self.fields(response) == [
            ["Host", "app.test:8080"], ["X-Other", "1"],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test:8080"],
        ])
    }

    @Test("from a trusted proxy, X-Forwarded-For is kept and the peer appended")
    func trustedForwardedExtended() throws {
        let gw = try TestGateway.simple(server: "  trusted_proxies: [\"127.0.0.1\"]")
        let response = try #require(try gw.exchange(
            "GET /xff HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.1\r\n"
            + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example.com\r\nX-Other: 1\r\n\r\n"))
        #expect(response.status == 200)
        #expect(Self.fields(response) == [
            ["Host", "app.test"], ["X-Other", "1"],
            ["X-Forwarded-For", "203.0.113.9, 10.0.0.1, 127.0.0.1"], ["X-Forwarded-Proto", "https"],
            ["X-Forwarded-Host", "public.example.com"],
        ])
    }

    @Test("from a trusted proxy without X-Forwarded-For, the peer alone is sent")
    func trustedWithoutForwardedFor() throws {
        let gw = try TestGateway.simple(server: "  trusted_proxies: [\"127.0.0.0/8\"]")
        let response = try #require(try gw.exchange("GET /xff HTTP/1.1\r\nHost: app.test\r\n\r\n"))
        #expect(Self.fields(response) == [
            ["Host", "app.test"],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
        ])
    }

    @Test("client-sent identity headers (X-Auth-*, any case, _ for -) never reach the upstream")
    func identityHeadersStripped() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /id HTTP/1.1\r\nHost: app.test\r\nX-Auth-User: admin\r\nx-auth-groups: admins\r\n"
            + "X_Auth_User: admin\r\nX-Authority: kept\r\n\r\n"))
        #expect(response.status == 200)
        #expect(Self.fields(response) == [
            ["Host", "app.test"], ["X-Authority", "kept"],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
        ])
    }

    @Test("end-to-end fields keep their order, case and values, duplicates included")
    func endToEndFieldsPreserved() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /order HTTP/1.1\r\nhost: app.test\r\naccept: text/html\r\nX-Dup: 1\r\nCookie: a=1\r\nX-Dup: 2\r\n"
            + "User-Agent: raw/1.0\r\nX-Empty:\r\n\r\n"))
        #expect(Self.fields(response) == [
            ["Host", "app.test"], ["accept", "text/html"], ["X-Dup", "1"], ["Cookie", "a=1"], ["X-Dup", "2"],
            ["User-Agent", "raw/1.0"], ["X-Empty", ""],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
        ])
    }
}
