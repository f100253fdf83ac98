import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The admin listener's endpoints through `LocalResponder` over the in-memory store (no sockets): session
/// administration and the access rules (Host, cross-site, bearer secret).
@Suite("Local endpoints: admin listener (no sockets)")
struct AdminEndpointTests {
    static let host = "\nHost: 127.0.0.1:9901"

    func admin(_ h: EndpointHarness, _ head: String) throws -> Answer {
        try h.one(head + Self.host, peer: "127.0.0.1:40000", admin: true)
    }

    @Test("list a user's sessions, sign them out everywhere; other users keep theirs")
    func listAndRevoke() throws {
        let h = EndpointHarness()
        _ = try h.signIn()
        _ = try h.signIn()
        _ = try h.signIn("bob")
        let listed = try admin(h, "GET /admin/users/alice/sessions HTTP/1.1")
        #expect(listed.status == 200)
        #expect(listed.text.occurrences(of: #""user":"alice""#) == 2)
        #expect(!listed.text.contains("current"), "no current session on the admin listener")

        let revoked = try admin(h, "DELETE /admin/users/alice/sessions HTTP/1.1")
        #expect(revoked.status == 200)
        #expect(revoked.text == "{\"signed_out\":2}\n")
        #expect(try admin(h, "GET /admin/users/alice/sessions HTTP/1.1").text == "{\"sessions\":[]}\n")
        #expect(h.store.sessionCount == 1, "bob's session stays")
    }

    @Test("disable ends the user's sessions and refuses their sign-in until enabled again")
    func disableAndEnable() throws {
        let h = EndpointHarness()
        _ = try h.signIn()
        let disabled = try admin(h, "POST /admin/users/alice/disable HTTP/1.1")
        #expect(disabled.status == 200)
        #expect(disabled.text == "{\"user\":\"alice\",\"disabled\":true,\"signed_out\":1}\n")
        let refused = try h.one(SignInEndpointTests.login + SignInEndpointTests.json,
                                body: SignInEndpointTests.credentials("alice", EndpointHarness.password))
        #expect(refused.status == 401)
        #expect(refused.error == "login-user-disabled")
        #expect(try admin(h, "POST /admin/users/alice/enable HTTP/1.1").status == 200)
        #expect(try h.signIn().count == 43)
    }

    @Test("a user name is percent-decoded from the path; wrong methods are 405 with Allow")
    func pathsAndMethods() throws {
        let h = EndpointHarness()
        #expect(try admin(h, "GET /admin/users/al%69ce/sessions HTTP/1.1").status == 200)
        let wrong = try admin(h, "PUT /admin/users/alice/sessions HTTP/1.1")
        #expect(wrong.status == 405)
        #expect(wrong.header("Allow") == "GET, HEAD, DELETE")
        #expect(try admin(h, "GET /admin/users/alice/unknown HTTP/1.1").status == 404)
        #expect(try admin(h, "GET /healthz HTTP/1.1").text == "ok\n")
        #expect(try admin(h, "GET /readyz HTTP/1.1").status == 404, "no GatewayControl: no readiness to report")
    }

    @Test("a store that cannot answer: 503, never a guess")
    func storeDown() throws {
        let h = EndpointHarness()
        h.store.failure = StoreError("timeout")
        let answer = try admin(h, "DELETE /admin/users/alice/sessions HTTP/1.1")
        #expect(answer.status == 503)
        #expect(answer.error == "session-store-timeout")
    }

    @Test("without sign-in the session paths are 404; health still answers")
    func noSessions() throws {
        let h = EndpointHarness()
        h.signsIn = false
        #expect(try admin(h, "GET /admin/users/alice/sessions HTTP/1.1").status == 404)
        #expect(try admin(h, "GET /healthz HTTP/1.1").status == 200)
    }

    @Test("a foreign Host (DNS rebinding) is refused; the listener's address, localhost and loopback pass")
    func hostRule() throws {
        let h = EndpointHarness()
        let foreign = try h.one("GET /admin/users/alice/sessions HTTP/1.1\nHost: evil.test:9901",
                                peer: "127.0.0.1:1", admin: true)
        #expect(foreign.status == 403)
        #expect(foreign.string("error") == "forbidden_host")
        #expect(foreign.error == "admin-host")
        #expect(try h.one("GET /healthz HTTP/1.1\nHost: evil.test", admin: true).status == 403, "probes too")
        for host in ["127.0.0.1:9901", "localhost:9901", "LOCALHOST.", "127.0.0.2", "[::1]:9901"] {
            #expect(try h.one("GET /healthz HTTP/1.1\nHost: \(host)", admin: true).status == 200, "\(host)")
        }
        #expect(try h.one("GET /healthz HTTP/1.1\nHost: 192.0.2.1", admin: true).status == 403,
                "another address of the machine, not the bound one")
    }

    @Test("cross-site requests are refused on every admin path")
    func crossSite() throws {
        let h = EndpointHarness()
        _ = try h.signIn()
        for header in ["Sec-Fetch-Site: cross-site", "Origin: https://evil.test"] {
            let answer = try h.one("POST /admin/users/alice/disable HTTP/1.1" + Self.host + "\n" + header, admin: true)
            #expect(answer.status == 403, "\(header)")
            #expect(answer.error == "admin-cross-site")
        }
        #expect(h.store.sessionCount == 1, "nothing was disabled")
    }

    @Test("admin.token_file: every path but the probes needs the bearer secret")
    func bearerSecret() throws {
        let h = EndpointHarness(admin: AdminAccess(token: Array("s3cret-admin-token".utf8)))
        let missing = try admin(h, "GET /admin/users/alice/sessions HTTP/1.1")
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate") == "Bearer realm=\"gatehouse-admin\"")
        #expect(missing.error == "admin-token")
        #expect(try admin(h, "GET /admin/users/alice/sessions HTTP/1.1\nAuthorization: Bearer wrong").status == 401)
        #expect(try admin(h, "GET /admin/users/alice/sessions HTTP/1.1\nAuthorization: Bearer s3cret-admin-token")
            .status == 200)
        #expect(try admin(h, "GET /healthz HTTP/1.1").status == 200, "probes need no token")
    }

    // MARK: Readiness and metrics

    @Test("readiness: 503 with every reason (workers starting, draining, store unreachable)")
    func readinessProblems() throws {
        let h = EndpointHarness()
        let reachable = ReachableFlag()
        h.admin.control = GatewayControl(expectedWorkers: 2, reload: { _ in }, storeReachable: { reachable.value })
        h.admin.draining = true
        reachable.value = false
        let answer = try admin(h, "GET /readyz HTTP/1.1")
        #expect(answer.status == 503)
        #expect(answer.text == "{\"ready\":false,\"problems\":[\"workers starting (0/2)\",\"draining\","
                + "\"session store unreachable\"]}\n")
    }

    @Test("metrics: Prometheus text with the session store's state, behind the bearer secret")
    func metrics() throws {
        let loop = try EventLoop()
        defer { _ = Unmanaged.passRetained(loop) }  // the executor's event must not outlive the base
        let h = EndpointHarness(admin: AdminAccess(token: Array("s3cret-admin-token".utf8)))
        h.admin.executor = try LoopExecutor(loop: loop)
        h.admin.control = GatewayControl(expectedWorkers: 1, reload: { _ in }, storeReachable: { true },
                                         storeWriteFailures: { 3 })
        #expect(try admin(h, "GET /metrics HTTP/1.1").status == 401)
        let answer = try admin(h, "GET /metrics HTTP/1.1\nAuthorization: Bearer s3cret-admin-token")
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(answer.text.contains("gatehouse_session_store_up 1"))
        #expect(answer.text.contains("gatehouse_sign_ins_total 0"))
    }
}

/// A flag the readiness closure reads (the closure must be `@Sendable`).
final class ReachableFlag: @unchecked Sendable {
    var value = true
}
