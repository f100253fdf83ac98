import Foundation
import GatehouseTestSupport
import Testing

/// Issue 12 part 5: a WebSocket tunnel opened with a session closes when that session ends (logout, device
/// sign-out, admin sign-out-everywhere, user disabled), on every worker and on every gateway sharing the store;
/// another session's tunnel stays open.
@Suite("Tunnels close when their session ends", .serialized)
struct TunnelRevocationTests {
    static let wsRoute = """
          - name: ws
            match: { path_prefix: /__echo/ }
            upstream: app
            accept: [session]
            unauthenticated: status
        """

    static func gateway(redisPort: Int? = nil, keyPrefix: String? = nil) throws -> SessionGateway {
        if let redisPort, let keyPrefix {
            return try SessionFixture.gateway(extraRoutes: wsRoute,
                                              store: SessionFixture.storeLines(redisPort: redisPort, keyPrefix: keyPrefix))
        }
        return try SessionFixture.gateway(extraRoutes: wsRoute, redisPort: redisPort)
    }

    /// Opens a tunnel with `cookie` and checks that bytes go both ways.
    static func openTunnel(_ port: UInt16, cookie: String) throws -> BulkClient {
        let client = try BulkClient(port: port)
        try client.send("GET /__echo/upgrade HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\nConnection: Upgrade\r\n"
                        + "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        + "Sec-WebSocket-Version: 13\r\n\r\n")
        let head = try client.readHead(timeout: 5)
        guard head.status == 101 else { throw TestFailure("no tunnel: \(head.status)") }
        try expectOpen(client)
        return client
    }

    static func expectOpen(_ client: BulkClient, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let probe = Array("ping \(UInt32.random(in: 0...UInt32.max))".utf8)
        try client.send(probe)
        #expect(try client.readBody(length: probe.count, timeout: 5) == probe, sourceLocation: sourceLocation)
    }

    static func logout(_ gw: SessionGateway, cookie: String) throws {
        let response = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\n"
                                   + "Content-Length: 0\r\n\r\n")
        guard response.status == 204 else { throw TestFailure("logout: \(response.status) \(response.bodyText)") }
    }

    static func metric(_ gw: SessionGateway, _ name: String) throws -> Int? {
        let text = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n").bodyText
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test("logout closes the session's tunnels within 1 s; another session's tunnel stays open")
    func logoutClosesTunnel() throws {
        let gw = try Self.gateway()
        let alice = try SessionFixture.aliceCookie(gw)
        let bob = try #require(SessionGateway.cookie(of: try gw.signIn("bob", SessionFixture.bobPassword)))
        // Several tunnels of one session: with 2 workers they land on either; all must close.
        let aliceTunnels = try (0..<4).map { _ in try Self.openTunnel(gw.port, cookie: alice) }
        let bobTunnel = try Self.openTunnel(gw.port, cookie: bob)
        try Self.logout(gw, cookie: alice)
        let answered = Date()
        for tunnel in aliceTunnels { #expect(tunnel.waitForClose(timeout: 1), "the tunnel is still open") }
        print("tunnels: 4 closed \(String(format: "%.2f", Date().timeIntervalSince(answered) * 1000)) ms after the logout's answer (embedded)")
        try Self.expectOpen(bobTunnel)
        #expect(try Self.metric(gw, "gatehouse_tunnels_revoked_total") == 4)
        #expect(gw.auth.accessLogLine(path: "/__echo/upgrade")?.isEmpty == false)
    }

    @Test("at a frame boundary the client first gets a WebSocket close frame: 1008 \"session ended\"")
    func closeFrameAtABoundary() throws {
        let gw = try Self.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        let framed = try Self.openTunnel(gw.port, cookie: cookie)  // the probe leaves the upstream mid-"frame"
        let clean = try BulkClient(port: gw.port)
        try clean.send("GET /__echo/upgrade HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\nConnection: Upgrade\r\n"
                       + "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       + "Sec-WebSocket-Version: 13\r\n\r\n")
        #expect(try clean.readHead(timeout: 5).status == 101)
        // The echo upstream sends back whole frames: a text frame "hi" in two pieces, then a 300-byte binary one.
        let text: [UInt8] = [0x81, 0x02] + Array("hi".utf8)
        try clean.send(Array(text[..<1]))
        usleep(50_000)
        try clean.send(Array(text[1...]))
        #expect(try clean.readBody(length: text.count, timeout: 5) == text)
        let binary: [UInt8] = [0x82, 126, 0x01, 0x2c] + (0..<300).map { UInt8($0 % 251) }
        try clean.send(binary)
        #expect(try clean.readBody(length: binary.count, timeout: 5) == binary)
        try Self.logout(gw, cookie: cookie)
        let close: [UInt8] = [0x88, 15, 0x03, 0xF0] + Array("session ended".utf8)
        #expect(try clean.readBody(length: close.count, timeout: 1) == close)
        #expect(clean.waitForClose(timeout: 1))
        #expect(framed.waitForClose(timeout: 1), "mid-frame: closed without a frame")
    }

    @Test("a device sign-out, admin sign-out-everywhere and disabling the user close tunnels too")
    func otherEndingsCloseTunnels() throws {
        let gw = try Self.gateway()
        // Device sign-out from another device of the same user.
        let phone = try SessionFixture.aliceCookie(gw, userAgent: "phone")
        let laptop = try SessionFixture.aliceCookie(gw, userAgent: "laptop")
        let phoneTunnel = try Self.openTunnel(gw.port, cookie: phone)
        let laptopTunnel = try Self.openTunnel(gw.port, cookie: laptop)
        let list = try SessionFixture.sessions(gw, cookie: laptop)
        let phoneHandle = try #require(list.first { ($0["current"] as? Bool) == false }?["handle"] as? String)
        let revoke = try gw.send("DELETE /.gatehouse/sessions/\(phoneHandle) HTTP/1.1\r\nHost: gw.test\r\n"
                                 + "Cookie: \(laptop)\r\n\r\n")
        #expect(revoke.status == 204, "\(revoke.status) \(revoke.bodyText)")
        #expect(phoneTunnel.waitForClose(timeout: 1))
        try Self.expectOpen(laptopTunnel)
        // Admin: sign out everywhere.
        let everywhere = try gw.sendAdmin("DELETE /admin/users/alice/sessions HTTP/1.1\r\nHost: admin\r\n\r\n")
        #expect(everywhere.status == 200 || everywhere.status == 204, "\(everywhere.status)")
        #expect(laptopTunnel.waitForClose(timeout: 1))
        // Admin: disable bob.
        let bob = try #require(SessionGateway.cookie(of: try gw.signIn("bob", SessionFixture.bobPassword)))
        let bobTunnel = try Self.openTunnel(gw.port, cookie: bob)
        let disable = try gw.sendAdmin("POST /admin/users/bob/disable HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect((200...204).contains(disable.status), "\(disable.status) \(disable.bodyText)")
        #expect(bobTunnel.waitForClose(timeout: 1))
    }

    @Test("max_per_user: the evicted session's tunnel closes")
    func evictionClosesTunnel() throws {
        let gw = try SessionFixture.gateway(sessions: "max_per_user: 1", extraRoutes: Self.wsRoute)
        let first = try SessionFixture.aliceCookie(gw)
        let tunnel = try Self.openTunnel(gw.port, cookie: first)
        let second = try SessionFixture.aliceCookie(gw)
        #expect(tunnel.waitForClose(timeout: 1))
        try Self.expectOpen(try Self.openTunnel(gw.port, cookie: second))
    }

    @Test("token mode: a tunnel opened with the gateway's own access token closes when its session is signed out")
    func tokenModeTunnel() throws {
        let keyPEM = try SessionTokenModeTests.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let route = Self.wsRoute.replacingOccurrences(of: "accept: [session]", with: "accept: [bearer]")
        let gw = try SessionFixture.gateway(
            login: "mode: token\nsigning_key: { pem_file: \"@KEYS@/signing.pem\", kid: test-key }",
            extraRoutes: route, appAccept: "[bearer]", extraFiles: ["signing.pem": keyPEM])
        let mine = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        let other = try SessionTokenModeTests.tokens(try gw.signInJSON("alice", SessionFixture.alicePassword))
        func open(_ access: String) throws -> BulkClient {
            let client = try BulkClient(port: gw.port)
            try client.send("GET /__echo/upgrade HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer \(access)\r\n"
                            + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            + "Sec-WebSocket-Version: 13\r\n\r\n")
            #expect(try client.readHead(timeout: 5).status == 101)
            return client
        }
        let tunnel = try open(mine.access)
        let kept = try open(other.access)
        let logout = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer \(mine.access)"
                                 + "\r\nContent-Length: 0\r\n\r\n")
        #expect(logout.status == 204, "\(logout.status) \(logout.bodyText)")
        #expect(tunnel.waitForClose(timeout: 1))
        try Self.expectOpen(kept)
    }

    @Test("two gateways on one Redis: a logout on B closes the tunnel on A")
    func revocationReachesOtherGateway() throws {
        let redis = try RedisServerProcess()
        let prefix = "gh-tunnel-\(UInt32.random(in: 0...UInt32.max)):"
        let a = try Self.gateway(redisPort: redis.port, keyPrefix: prefix)
        let b = try Self.gateway(redisPort: redis.port, keyPrefix: prefix)
        let cookie = try SessionFixture.aliceCookie(a)
        let other = try SessionFixture.aliceCookie(a)
        let tunnel = try Self.openTunnel(a.port, cookie: cookie)
        let kept = try Self.openTunnel(a.port, cookie: other)
        try Self.logout(b, cookie: cookie)
        let answered = Date()
        #expect(tunnel.waitForClose(timeout: 1))
        print("tunnels: closed on gateway A \(String(format: "%.2f", Date().timeIntervalSince(answered) * 1000)) ms after B's logout answer (redis)")
        try Self.expectOpen(kept)
        #expect(try Self.metric(a, "gatehouse_tunnels_revoked_total") == 1)
        // And the admin of B signing alice out everywhere closes A's other tunnel.
        _ = try b.sendAdmin("DELETE /admin/users/alice/sessions HTTP/1.1\r\nHost: admin\r\n\r\n")
        #expect(kept.waitForClose(timeout: 1))
    }
}
