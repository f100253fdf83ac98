import Foundation
import GatehouseTestSupport
import Testing

/// Sign-in as the client presents itself: the session cookie it already holds (ended at sign-in, on both
/// stores) and the address the throttle counts (behind trusted proxies, IPv6 by /64).
@Suite("Sign-in: the presented session ends, the throttle counts the real client")
struct SessionSignInClientTests {
    /// Signs in as `user` presenting `cookie`; the new cookie.
    private static func signIn(_ gw: SessionGateway, _ user: String, _ password: String, presenting cookie: String) throws -> String {
        let response = try gw.signIn(user, password, extraHeaders: "Cookie: \(cookie)\r\n")
        guard response.status == 303, let fresh = SessionGateway.cookie(of: response) else {
            throw TestFailure("sign-in: \(response.status) \(response.bodyText)")
        }
        return fresh
    }

    private static func presentedSessionEnds(_ gw: SessionGateway) throws {
        let old = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(old)\r\n").status == 200)
        let fresh = try signIn(gw, "alice", SessionFixture.alicePassword, presenting: old)
        #expect(fresh != old, "a new ID at every sign-in")
        #expect(try gw.get("/app/", headers: "Cookie: \(old)\r\n").status == 401, "the presented session ended")
        #expect(try gw.get("/app/", headers: "Cookie: \(fresh)\r\n").status == 200)
        let listed = try SessionFixture.sessions(gw, cookie: fresh)
        #expect(listed.count == 1, "one device, not two: \(listed)")
        // Another user signing in on the same browser ends the previous user's session too.
        let bobs = try signIn(gw, "bob", SessionFixture.bobPassword, presenting: fresh)
        #expect(try gw.get("/app/", headers: "Cookie: \(fresh)\r\n").status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(bobs)\r\n").status == 200)
        // A failed sign-in ends nothing.
        #expect(try gw.signIn("bob", "wrong", extraHeaders: "Cookie: \(bobs)\r\n").status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(bobs)\r\n").status == 200)
        // An unknown cookie is no obstacle.
        let unknown = "gatehouse_session=" + String(repeating: "C", count: 42) + "A"
        #expect(try gw.signIn("alice", SessionFixture.alicePassword, extraHeaders: "Cookie: \(unknown)\r\n").status == 303)
    }

    @Test("a sign-in presenting a live session cookie ends that session (embedded store)")
    func presentedSessionEndsEmbedded() throws {
        try Self.presentedSessionEnds(try SessionFixture.gateway())
    }

    @Test("a sign-in presenting a live session cookie ends that session (Redis store, seen by a second gateway)")
    func presentedSessionEndsRedis() throws {
        let redis = try RedisServerProcess()
        let a = try SessionRedisTests.gateway(redis)
        try Self.presentedSessionEnds(a)
        let b = try SessionRedisTests.gateway(redis)
        let old = try SessionFixture.aliceCookie(b)
        #expect(try a.get("/app/", headers: "Cookie: \(old)\r\n").status == 200, "cached on A")
        _ = try Self.signIn(b, "alice", SessionFixture.alicePassword, presenting: old)
        let deadline = Date().addingTimeInterval(2)
        var status = 0
        repeat { status = try a.get("/app/", headers: "Cookie: \(old)\r\n").status } while status != 401 && Date() < deadline
        #expect(status == 401, "ended on every gateway")
    }

    /// A wrong sign-in for a throwaway user name, as a trusted proxy forwards it for `forwardedFor`.
    private static func fail(_ gw: SessionGateway, user: String, forwardedFor: String) throws -> Int {
        try gw.signIn(user, "wrong", extraHeaders: "X-Forwarded-For: \(forwardedFor)\r\n").status
    }

    @Test("behind a trusted proxy the throttle counts the X-Forwarded-For client, not the proxy; IPv6 by /64")
    func throttleCountsForwardedClient() throws {
        let gw = try SessionFixture.gateway(login: "rate_limit: { failures: 3, window: 1m }",
                                            server: "trusted_proxies: [\"127.0.0.1/32\"]")
        for i in 0..<3 { #expect(try Self.fail(gw, user: "nobody\(i)", forwardedFor: "203.0.113.5") == 401) }
        let blocked = try gw.signIn("alice", SessionFixture.alicePassword, extraHeaders: "X-Forwarded-For: 203.0.113.5\r\n")
        #expect(blocked.status == 429, "the guessing client is throttled: \(blocked.status)")
        // The client can only prepend entries: the proxy's own (rightmost) one is the client.
        #expect(try gw.signIn("alice", SessionFixture.alicePassword,
                              extraHeaders: "X-Forwarded-For: 198.51.100.77, 203.0.113.5\r\n").status == 429)
        // Everyone else behind the same proxy still signs in (old: the proxy's address was locked out).
        #expect(try gw.signIn("alice", SessionFixture.alicePassword, extraHeaders: "X-Forwarded-For: 203.0.113.6\r\n").status == 303)
        #expect(try gw.signIn("alice", SessionFixture.alicePassword,
                              extraHeaders: "X-Forwarded-For: 203.0.113.5, 127.0.0.1\r\n").status == 429,
                "a trusted hop is skipped")

        // IPv6: one host owns a /64; rotating addresses inside it does not reset the count.
        for (i, address) in ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c"].enumerated() {
            #expect(try Self.fail(gw, user: "v6nobody\(i)", forwardedFor: address) == 401)
        }
        #expect(try gw.signIn("alice", SessionFixture.alicePassword,
                              extraHeaders: "X-Forwarded-For: 2001:db8:1:2:1234:5678:9abc:def0\r\n").status == 429)
        #expect(try gw.signIn("alice", SessionFixture.alicePassword,
                              extraHeaders: "X-Forwarded-For: 2001:db8:1:3::1\r\n").status == 303, "another /64")
        // An entry that is not a plain address (a port, brackets) ends the walk, as for X-Real-IP: the proxy is
        // counted, never an address the client could vary at will.
        #expect(try Self.fail(gw, user: "bracketed", forwardedFor: "[2001:db8:1:4::c]:4711") == 401)
    }

    @Test("from a peer that is not a trusted proxy, X-Forwarded-For does not change who is counted")
    func throttleIgnoresUntrustedForwardedFor() throws {
        let gw = try SessionFixture.gateway(login: "rate_limit: { failures: 3, window: 1m }")
        for i in 0..<3 { #expect(try Self.fail(gw, user: "nobody\(i)", forwardedFor: "203.0.113.\(i)") == 401) }
        let blocked = try gw.signIn("alice", SessionFixture.alicePassword, extraHeaders: "X-Forwarded-For: 192.0.2.99\r\n")
        #expect(blocked.status == 429, "\(blocked.status)")
    }
}
