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

    func rewrite(_ text: String, trusted: Bool = false, tls: Bool = false) throws -> String {
        let head = try parse(text)
        var out: [UInt8] = []
        let host = Array("app.test".utf8)
        let peer = PeerInfo(address: try .init(parsing: "192.0.2.7:5555"), hostBytes: Array("192.0.2.7".utf8),
                            trusted: trusted, tls: tls)
        let snapshot = ProxySnapshot(
            limits: HTTPLimits(), timeouts: ClientTimeouts(header: .seconds(1), idle: .seconds(1), body: .seconds(1)),
            trustedProxies: [], upstreams: [], routes: RouteTable([]), accessLogEnabled: false)
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
                + "X-Forwarded-Proto: http\r\nX-Forwarded-Host: app.test\r\n\r\n")
    }

    @Test("on a TLS connection X-Forwarded-Proto is https; an untrusted client's own value never survives")
    func forwardedProtoOverTLS() throws {
        let out = try rewrite("GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Proto: http\r\n\r\n", tls: true)
        #expect(out == "GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 192.0.2.7\r\n"
                + "X-Forwarded-Proto: https\r\nX-Forwarded-Host: app.test\r\n\r\n")
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

    @Test("decimal and hex helpers")
    func numbers() {
        var out: [UInt8] = []
        HeaderRewrite.appendDecimal(0, to: &out)
        HeaderRewrite.append(" ", to: &out)
        HeaderRewrite.appendDecimal(9_223_372_036_854_775_807, to: &out)
        HeaderRewrite.append(" ", to: &out)
        HeaderRewrite.appendHex(0, to: &out)
        HeaderRewrite.append(" ", to: &out)
        HeaderRewrite.appendHex(0x1a2b, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "0 9223372036854775807 0 1a2b")
    }
}
