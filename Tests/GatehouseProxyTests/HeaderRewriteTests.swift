import GatehouseHTTP
import GatehouseIO
@testable import GatehouseProxy
import Testing

@Suite("Header rewrite (what crosses the gateway)")
struct HeaderRewriteTests {
    func parse(_ text: String) throws -> RequestHead {
        var parser = RequestParser(limits: HTTPLimits())
        let bytes = Array(text.utf8)
        let event = try bytes.withUnsafeBytes { try parser.next($0) }
        guard case .requestHead(let head, _) = event else { throw TestError() }
        return head
    }

    struct TestError: Error {}

    /// The proxies trusted in the tests that need some: 10.0.0.0/8, fd00::/8 and the test peer 192.0.2.7.
    static let proxies = [
        IPNetwork(address: [10, 0, 0, 0], prefixLength: 8),
        IPNetwork(address: [0xfd] + Array(repeating: 0, count: 15), prefixLength: 8),
        IPNetwork(address: [192, 0, 2, 7], prefixLength: 32),
    ]

    func rewrite(_ text: String, trusted: Bool = false, tls: Bool = false, forwardUnderscores: Bool = false)
        throws -> String
    {
        let head = try parse(text)
        var out: [UInt8] = []
        let host = Array("app.test".utf8)
        let peer = PeerInfo(address: try .init(parsing: "192.0.2.7:5555"), hostBytes: Array("192.0.2.7".utf8),
                            trusted: trusted, tls: tls)
        let snapshot = ProxySnapshot(
            limits: HTTPLimits(), timeouts: ClientTimeouts(header: .seconds(1), idle: .seconds(1), body: .seconds(1)),
            trustedProxies: trusted ? Self.proxies : [], upstreams: [], routes: RouteTable([]), accessLogEnabled: false,
            forwardsUnderscoreHeaders: forwardUnderscores)
        host.withUnsafeBytes { h in
            HeaderRewrite.writeRequest(head, host: h, peer: peer, snapshot: snapshot, policy: .open, identity: nil,
                                       framing: head.framing, upgrade: head.wantsUpgrade, into: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test("hop-by-hop and Connection-named fields are dropped; forwarding fields are the gateway's")
    func hopByHop() throws {
        let out = try rewrite(
            "GET /a HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
                + "X-Secret: 1\r\nProxy-Authorization: Basic x\r\nX-Forwarded-For: 6.6.6.6\r\nAccept: */*\r\n\r\n")
        #expect(out == "GET /a HTTP/1.1\r\nHost: app.test\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.7\r\n"
                + "X-Forwarded-Proto: http\r\nX-Forwarded-Host: app.test\r\nX-Real-IP: 192.0.2.7\r\n\r\n")
    }

    @Test("on a TLS connection X-Forwarded-Proto is https; an untrusted client's own value never survives")
    func forwardedProtoOverTLS() throws {
        let out = try rewrite("GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Proto: http\r\n\r\n", tls: true)
        #expect(out == "GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 192.0.2.7\r\n"
                + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: app.test\r\nX-Real-IP: 192.0.2.7\r\n\r\n")
        let plain = try rewrite("GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Proto: https\r\n\r\n")
        #expect(plain.contains("X-Forwarded-Proto: http\r\n"))
    }

    @Test("a trusted proxy's X-Forwarded-* are kept, and the peer is appended")
    func trustedForwarding() throws {
        let out = try rewrite(
            "GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n\r\n",
            trusted: true)
        #expect(out.contains("X-Forwarded-For: 203.0.113.9, 192.0.2.7\r\n"))
        #expect(out.contains("X-Forwarded-Proto: https\r\n"))
    }

    @Test("identity headers are stripped in every spelling")
    func identityPrefix() throws {
        let out = try rewrite(
            "GET / HTTP/1.1\r\nHost: app.test\r\nX-Auth-User: admin\r\nx-auth-groups: ops\r\nX_Auth_Email: a@b\r\n"
                + "X-Authority: keep\r\n\r\n")
        #expect(!out.lowercased().contains("admin"))
        #expect(!out.contains("ops"))
        #expect(!out.contains("a@b"))
        #expect(out.contains("X-Authority: keep\r\n"))
    }

    @Test("the normalised path is what the upstream receives, with the query as sent")
    func normalisedPath() throws {
        let out = try rewrite("GET /a/./b/../c//d?x=%2e%2e HTTP/1.1\r\nHost: app.test\r\n\r\n")
        #expect(out.hasPrefix("GET /a/c/d?x=%2e%2e HTTP/1.1\r\n"))
    }

    /// Every client-IP and original-URL claim, in the usual and the `_` spelling.
    static let claims = [
        "X-Real-IP: 6.6.6.6", "X_Real_IP: 6.6.6.6", "X-Forwarded-Uri: /claimed", "X-Original-URL: /admin",
        "X-Original-URI: /admin", "X-Rewrite-URL: /admin", "X-Original-Method: DELETE", "Forwarded: for=6.6.6.6",
        "True-Client-IP: 6.6.6.6", "X-Client-IP: 6.6.6.6", "CF-Connecting-IP: 6.6.6.6", "cf_connecting_ip: 6.6.6.6",
        "Fastly-Client-IP: 6.6.6.6", "X-Cluster-Client-IP: 6.6.6.6", "X-Forwarded-Port: 1", "X-Forwarded-Ssl: on",
        "X-Forwarded-Prefix: /p", "X-Forwarded-Server: s", "X-Forwarded-Scheme: https", "X-Url-Scheme: https",
        "Front-End-Https: on", "X-Forwarded-Method: PUT", "X_Forwarded_For: 6.6.6.6", "x_forwarded_proto: https",
    ]

    @Test("from an untrusted peer, no client-IP or original-URL claim survives; X-Real-IP is the peer")
    func untrustedClaimsRemoved() throws {
        for underscores in [false, true] {
            let out = try rewrite("GET / HTTP/1.1\r\nHost: app.test\r\n" + Self.claims.joined(separator: "\r\n")
                                  + "\r\nX-Kept: 1\r\n\r\n", forwardUnderscores: underscores)
            #expect(out == "GET / HTTP/1.1\r\nHost: app.test\r\nX-Kept: 1\r\nX-Forwarded-For: 192.0.2.7\r\n"
                    + "X-Forwarded-Proto: http\r\nX-Forwarded-Host: app.test\r\nX-Real-IP: 192.0.2.7\r\n\r\n")
        }
    }

    @Test("from a trusted proxy, its client-IP claims are kept, URL overrides and _ spellings never are")
    func trustedClaims() throws {
        let out = try rewrite("GET / HTTP/1.1\r\nHost: app.test\r\n" + Self.claims.joined(separator: "\r\n")
                              + "\r\n\r\n", trusted: true, forwardUnderscores: true)
        let kept = Self.claims.filter { claim in
            !claim.contains("_") && !claim.hasPrefix("X-Real-IP") && !claim.hasPrefix("X-Original")
                && !claim.hasPrefix("X-Rewrite")
        }
        #expect(out == "GET / HTTP/1.1\r\nHost: app.test\r\n" + kept.joined(separator: "\r\n")
                + "\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: app.test\r\n"
                + "X-Real-IP: 192.0.2.7\r\n\r\n")
    }

    @Test("X-Real-IP behind trusted proxies: the rightmost address of X-Forwarded-For that is not one of them",
          arguments: [
              ("203.0.113.9", "203.0.113.9"),
              ("203.0.113.9, 10.0.0.5", "203.0.113.9"),
              ("6.6.6.6, 203.0.113.9,10.1.2.3 ,  10.0.0.5", "203.0.113.9"),
              ("10.0.0.1, 10.0.0.2", "10.0.0.1"),
              ("6.6.6.6, unknown, 10.0.0.2", "10.0.0.2"),
              ("6.6.6.6, 203.0.113.9:4711", "192.0.2.7"),
              ("2001:db8::1, fd00::17", "2001:db8::1"),
              ("::ffff:10.0.0.9", "::ffff:10.0.0.9"),
              ("6.6.6.6, ::ffff:203.0.113.9, ::ffff:10.0.0.9", "::ffff:203.0.113.9"),
              ("", "192.0.2.7"),
              ("010.0.0.1", "192.0.2.7"),
          ])
    func realIPResolved(_ forwardedFor: String, _ client: String) throws {
        let out = try rewrite("GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: \(forwardedFor)\r\n\r\n",
                              trusted: true)
        #expect(out.hasSuffix("\r\nX-Real-IP: \(client)\r\n\r\n"))
    }

    @Test("underscore names are dropped by default, as nginx does; forward keeps all but gateway-owned spellings")
    func underscoreNames() throws {
        let request = "GET / HTTP/1.1\r\nHost: app.test\r\nX_Custom: 1\r\nProxy_Authorization: Basic x\r\n"
            + "Keep_Alive: 5\r\nX_Auth_User: admin\r\nX-Dash: 2\r\n\r\n"
        let dropped = try rewrite(request)
        #expect(dropped.hasPrefix("GET / HTTP/1.1\r\nHost: app.test\r\nX-Dash: 2\r\nX-Forwarded-For: "))
        let forwarded = try rewrite(request, forwardUnderscores: true)
        #expect(forwarded.hasPrefix("GET / HTTP/1.1\r\nHost: app.test\r\nX_Custom: 1\r\nX-Dash: 2\r\nX-Forwarded-For: "))
    }

    static let zeros: [UInt8] = Array(repeating: 0, count: 16)
    static let addressCases: [(String, [UInt8])] = [
        ("1.2.3.4", [1, 2, 3, 4]),
        ("0.0.0.0", [0, 0, 0, 0]),
        ("255.255.255.255", [255, 255, 255, 255]),
        ("::", zeros),
        ("::1", Array(zeros[..<15]) + [1]),
        ("1::", [0, 1] + Array(zeros[..<14])),
        ("2001:db8::ff00:42:8329", [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0x42, 0x83, 0x29]),
        ("1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
        ("::ffff:192.0.2.1", Array(zeros[..<10]) + [0xff, 0xff, 192, 0, 2, 1]),
        ("1.2.3", []), ("1.2.3.4.5", []), ("256.1.1.1", []), ("01.2.3.4", []), ("1.2.3.", []), ("", []),
        (":::", []), ("1::2::3", []), ("1:2:3:4:5:6:7:8:9", []), ("1:2:3:4:5:6:7", []), ("1:", []), ("12345::", []),
        ("fe80::1%eth0", []), ("[::1]", []), ("::g", []), ("1:2:3:4:5:6:7::8", []), ("::1.2.3.4:5", []),
    ]

    @Test("addresses parse as inet_pton does, without leading zeros or zones", arguments: addressCases)
    func addressParsing(_ text: String, _ expected: [UInt8]) {
        let bytes = Array(text.utf8)
        let parsed = bytes.withUnsafeBytes { raw in
            withUnsafeTemporaryAllocation(byteCount: 16, alignment: 1) { out in
                Array(out[..<ClientAddress.parse(raw, into: out)])
            }
        }
        #expect(parsed == expected)
    }

    @Test("every field leaves as `Name: value` CRLF, whatever whitespace it arrived with")
    func fieldSpellings() throws {
        let out = try rewrite("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB:2\r\nC:   3  \r\nD: \r\nE:\r\nF: x y\t\r\n\r\n")
        #expect(out.contains("\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: \r\nE: \r\nF: x y\r\n"))
    }

    @Test("the status line is always HTTP/1.1 with the upstream's code and reason",
          arguments: [("HTTP/1.1 200 OK", "HTTP/1.1 200 OK"), ("HTTP/1.0 404 Not Found", "HTTP/1.1 404 Not Found"),
                      ("HTTP/1.1 201", "HTTP/1.1 201 "), ("HTTP/1.1 200 ", "HTTP/1.1 200 "),
                      ("HTTP/1.1 503 Slow  Down\t", "HTTP/1.1 503 Slow  Down\t")])
    func statusLine(received: String, sent: String) throws {
        var parser = ResponseParser(limits: HTTPLimits())
        let bytes = Array((received + "\r\nContent-Length: 0\r\n\r\n").utf8)
        let event = try bytes.withUnsafeBytes { try parser.next($0, requestMethod: .get) }
        guard case .responseHead(let head, _) = event else { throw TestError() }
        var out: [UInt8] = []
        HeaderRewrite.writeResponse(head, clientFraming: head.framing, close: false, upgrade: false, into: &out)
        #expect(String(decoding: out, as: UTF8.self).hasPrefix(sent + "\r\nContent-Length: 0\r\n"))
    }

    @Test("decimal helper")
    func numbers() {
        var out: [UInt8] = []
        HeaderRewrite.appendDecimal(0, to: &out)
        HeaderRewrite.append(" ", to: &out)
        HeaderRewrite.appendDecimal(9_223_372_036_854_775_807, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "0 9223372036854775807")
    }
}
