import Foundation
import GatehouseTestSupport
import Testing

/// The documented binary upgrade on the embedded store: two gateway processes on one port (SO_REUSEPORT) and
/// one session file. Each also listens on a port of its own, so the test can ask a chosen process.
@Suite("Sessions: two processes on one port share the embedded store (binary upgrade)")
struct SessionHandoverTests {
    static func freePort() throws -> UInt16 {
        let (probe, port) = try LoopbackSocket.bind(listening: nil, name: "handover port")
        close(probe)
        return port
    }

    static func send(_ port: UInt16, _ request: String) throws -> RawResponse {
        let client = try RawClient(port: port)
        try client.send(request)
        guard let response = client.readResponse(timeout: 10) else { throw TestFailure("no answer on \(port)") }
        return response
    }

    static func app(_ port: UInt16, cookie: String) -> Int {
        (try? send(port, "GET /app/ HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\nConnection: close\r\n\r\n"))?.status ?? 0
    }

    static func signIn(_ port: UInt16) throws -> String {
        let body = "username=alice&password=" + SessionGateway.formEncode(SessionFixture.alicePassword)
        let response = try send(port, "POST /.gatehouse/login HTTP/1.1\r\nHost: gw.test\r\n"
                                + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                                + body)
        guard response.status == 303, let cookie = SessionGateway.cookie(of: response) else {
            throw TestFailure("sign-in on \(port): \(response.status)")
        }
        return cookie
    }

    @Test("a logout or a sign-in on the new process holds on the old one during the overlap, and after the old one drains")
    func overlapSeesBothWays() throws {
        let shared = try Self.freePort()
        let oldOwn = try Self.freePort()
        let newOwn = try Self.freePort()
        let listen = "listen: [\"127.0.0.1:0\"]"
        let config = SessionFixture.config()
        #expect(config.contains(listen))
        let old = try SessionGateway(config.replacingOccurrences(of: listen, with: "listen: [\"127.0.0.1:\(shared)\", \"127.0.0.1:\(oldOwn)\"]"),
                                     files: ["users.yaml": try SessionFixture.usersFile()])
        let before = try Self.signIn(oldOwn)
        let text = try String(contentsOfFile: old.gateway.configPath, encoding: .utf8)
        let newConfig = old.directory + "/new.yaml"
        try text.replacingOccurrences(of: "127.0.0.1:\(oldOwn)", with: "127.0.0.1:\(newOwn)")
            .write(toFile: newConfig, atomically: true, encoding: .utf8)
        let new = try GatehouseProcess(["run", "--config", newConfig])
        defer { new.terminate() }
        #expect(Self.app(newOwn, cookie: before) == 200, "the new process loaded the file")

        // Signed out on the new process: refused by the old one too, within its poll of the file.
        let logout = try Self.send(newOwn, "POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(before)\r\n"
                                   + "Sec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n\r\n")
        #expect(logout.status == 204)
        #expect(eventually(5) { Self.app(oldOwn, cookie: before) == 401 }, "the old process still accepts the cookie")

        // Signed in on the new process: accepted by the old one (no second sign-in for half the connections).
        let during = try Self.signIn(newOwn)
        #expect(eventually(5) { Self.app(oldOwn, cookie: during) == 200 })
        let statuses = (0..<20).map { _ in (Self.app(shared, cookie: before), Self.app(shared, cookie: during)) }
        #expect(statuses.allSatisfy { $0 == (401, 200) }, "on the shared port: \(statuses)")

        // The old process drains and exits; the new one serves alone.
        #expect(old.gateway.gateway.waitForSignalHandler(SIGTERM))
        old.gateway.gateway.signal(SIGTERM)
        #expect(old.gateway.gateway.waitForExit(timeout: 10) == 0)
        #expect(Self.app(shared, cookie: during) == 200)
        #expect(Self.app(shared, cookie: before) == 401)
    }
}
