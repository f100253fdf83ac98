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
            ["X-Real-IP", "127.0.0.1"],
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
            ["X-Real-IP", "127.0.0.1"],
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
            ["X-Real-IP", "127.0.0.1"],
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
            ["X-Forwarded-Host", "public.example.com"], ["X-Real-IP", "10.0.0.1"],
        ])
    }

    @Test("from a trusted proxy without X-Forwarded-For, the peer alone is sent")
    func trustedWithoutForwardedFor() throws {
        let gw = try TestGateway.simple(server: "  trusted_proxies: [\"127.0.0.0/8\"]")
        let response = try #require(try gw.exchange("GET /xff HTTP/1.1\r\nHost: app.test\r\n\r\n"))
        #expect(Self.fields(response) == [
            ["Host", "app.test"],
            ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
            ["X-Real-IP", "127.0.0.1"],
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
            ["X-Real-IP", "127.0.0.1"],
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
            ["X-Real-IP", "127.0.0.1"],
        ])
    }

    /// The gateway's own forwarding fields as the echo sees them from a direct, untrusted client.
    static let gatewayFields: Fields = [
        ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "app.test"],
        ["X-Real-IP", "127.0.0.1"],
    ]

    @Test("client-IP and original-URL claims from an untrusted peer never reach the upstream; X-Real-IP is the peer")
    func untrustedClientClaimsRemoved() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /claims HTTP/1.1\r\nHost: app.test\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Uri: /admin\r\n"
            + "X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX-Original-Method: DELETE\r\n"
            + "Forwarded: for=6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\n"
            + "CF-Connecting-IP: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nx-real-ip: 6.6.6.7\r\nX-Kept: 1\r\n\r\n"))
        #expect(response.status == 200)
        #expect(Self.fields(response) == [["Host", "app.test"], ["X-Kept", "1"]] + Self.gatewayFields)
    }

    @Test("behind a trusted proxy, X-Real-IP is the first untrusted address of X-Forwarded-For from the right")
    func trustedRealIP() throws {
        let gw = try TestGateway.simple(server: "  trusted_proxies: [\"127.0.0.1\", \"10.0.0.0/8\"]")
        let response = try #require(try gw.exchange(
            "GET /real HTTP/1.1\r\nHost: app.test\r\nX-Real-IP: 6.6.6.6\r\nTrue-Client-IP: 203.0.113.9\r\n"
            + "X-Original-URL: /admin\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.0.0.7\r\n\r\n"))
        #expect(Self.fields(response) == [
            ["Host", "app.test"], ["True-Client-IP", "203.0.113.9"],
            ["X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.7, 127.0.0.1"], ["X-Forwarded-Proto", "http"],
            ["X-Forwarded-Host", "app.test"], ["X-Real-IP", "203.0.113.9"],
        ])
    }

    @Test("Transfer_Encoding and Content_Length (CGI reads them as framing): 400, nothing forwarded")
    func framingSpelledWithUnderscoresRefused() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /te HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\n"
                              + "0\r\n\r\n", status: 400)
        try expectRefused(gw, "POST /cl HTTP/1.1\r\nHost: a\r\nCONTENT_LENGTH: 40\r\nContent-Length: 0\r\n\r\n",
                          status: 400)
        try expectRefused(gw, "POST /tr HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "0\r\nContent_Length: 5\r\n\r\n", status: 400)
    }

    @Test("names with _ are dropped by default (nginx's underscores_in_headers off)")
    func underscoreNamesDropped() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "GET /u HTTP/1.1\r\nHost: app.test\r\nX_Custom: 1\r\nX-Custom: 2\r\nHost_Name: evil\r\n\r\n"))
        #expect(Self.fields(response) == [["Host", "app.test"], ["X-Custom", "2"]] + Self.gatewayFields)
    }

    @Test("underscores_in_headers: forward keeps them, but never a spelling of a hop-by-hop or forwarding field")
    func underscoreNamesForwarded() throws {
        let gw = try TestGateway.simple(server: "  underscores_in_headers: forward")
        let response = try #require(try gw.exchange(
            "GET /u HTTP/1.1\r\nHost: app.test\r\nX_Custom: 1\r\nProxy_Authorization: Basic eDp5\r\n"
            + "X_Forwarded_For: 6.6.6.6\r\nX_Real_IP: 6.6.6.6\r\nX_Auth_User: admin\r\nKeep_Alive: 1\r\n\r\n"))
        #expect(Self.fields(response) == [["Host", "app.test"], ["X_Custom", "1"]] + Self.gatewayFields)
    }

    @Test("removing a proxy from trusted_proxies by reload applies to its open keep-alive connection")
    func reloadRevokesTrust() throws {
        let gw = try TestGateway(configYAML: TestGateway.simpleConfig(server: "  trusted_proxies: [\"127.0.0.1\"]"))
        let client = try RawClient(port: gw.port)
        let request = "GET /trust HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n"
        try client.send(request)
        let before = try #require(client.readResponse())
        #expect(Self.fields(before).contains(["X-Forwarded-For", "203.0.113.9, 127.0.0.1"]))

        try gw.rewriteConfig(TestGateway.simpleConfig())
        gw.gateway.signal(SIGHUP)
        #expect(eventually { gw.gateway.stderr.contains("reloaded") })

        try client.send(request)
        let after = try #require(client.readResponse())
        #expect(Self.fields(after) == [["Host", "app.test"]] + Self.gatewayFields)
    }
}
