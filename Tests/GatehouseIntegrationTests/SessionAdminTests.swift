import Foundation
import GatehouseTestSupport
import Testing

@Suite("Sessions: admin listener and users-file reload")
struct SessionAdminTests {
    @Test("admin lists a user's sessions, signs them out everywhere, disables and re-enables the user")
    func adminActions() throws {
        let gw = try SessionFixture.gateway()
        let one = try SessionFixture.aliceCookie(gw)
        let two = try SessionFixture.aliceCookie(gw)
        let list = try gw.sendAdmin("GET /admin/users/alice/sessions HTTP/1.1\r\nHost: admin\r\n\r\n")
        #expect(list.status == 200)
        #expect((list.json?["sessions"] as? [[String: Any]])?.count == 2)
        // The public port does not serve admin paths (they go to the public route, which has no such page).
        #expect(try gw.get("/admin/users/alice/sessions").echoedHeaders.isEmpty == false)

        let everywhere = try gw.sendAdmin("DELETE /admin/users/alice/sessions HTTP/1.1\r\nHost: admin\r\n\r\n")
        #expect(everywhere.status == 200)
        #expect(everywhere.json?["signed_out"] as? Int == 2)
        #expect(try gw.get("/app/", headers: "Cookie: \(one)\r\n").status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(two)\r\n").status == 401)

        let three = try SessionFixture.aliceCookie(gw)
        let disable = try gw.sendAdmin("POST /admin/users/alice/disable HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect(disable.status == 200)
        #expect(disable.json?["signed_out"] as? Int == 1)
        #expect(try gw.get("/app/", headers: "Cookie: \(three)\r\n").status == 401)
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 401, "a disabled user cannot sign in")
        let enable = try gw.sendAdmin("POST /admin/users/alice/enable HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n")
        #expect(enable.status == 200)
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 303)
        #expect(try gw.sendAdmin("GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n").status == 200)
        #expect(try gw.sendAdmin("GET /admin/users/alice/nothing HTTP/1.1\r\nHost: admin\r\n\r\n").status == 404)
    }

    @Test("a changed users file is picked up without a restart; a changed password ends that user's sessions")
    func usersFileReload() throws {
        let gw = try SessionFixture.gateway()
        let alice = try SessionFixture.aliceCookie(gw)
        let bob = try #require(SessionGateway.cookie(of: try gw.signIn("bob", SessionFixture.bobPassword)))
        let newPassword = "a brand new passphrase"
        let users = "users:\n"
            + SessionGateway.user("alice", hash: try IndependentHash.bcrypt(newPassword), email: "alice@example.com")
            + SessionGateway.user("bob", hash: try IndependentHash.yescrypt(SessionFixture.bobPassword), groups: ["staff"])
        // Same bob password, new hash text: bob is re-keyed too, by design (any hash change ends sessions).
        try users.write(toFile: gw.directory + "/users.yaml", atomically: true, encoding: .utf8)
        let deadline = Date().addingTimeInterval(10)
        var signedIn = 0
        while Date() < deadline {
            signedIn = try gw.signIn("alice", newPassword).status
            if signedIn == 303 { break }
            usleep(200_000)
        }
        #expect(signedIn == 303, "the new password must work after the reload\n\(gw.auth.diagnostics)")
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(alice)\r\n").status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(bob)\r\n").status == 401)
        // A broken users file keeps the previous users.
        try "users:\n  alice: [not, a, mapping]\n".write(toFile: gw.directory + "/users.yaml", atomically: true,
                                                          encoding: .utf8)
        let refused = gw.gateway.gateway.waitForStderr(timeout: 10) { $0.contains("users file refused") }
        #expect(refused.contains("users.yaml:2"), "\(refused)")
        #expect(try gw.signIn("alice", newPassword).status == 303)
    }

    @Test("gatehouse hash-password prints a hash the system's crypt verifies")
    func hashPasswordCommand() throws {
        let made = try runTool(GatehouseProcess.binaryPath, ["hash-password", "--cost", "5"],
                               input: Array("s3cret pass\n".utf8))
        #expect(made.status == 0)
        let hash = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$2b$05$") && hash.count == 60, "\(hash)")
        // Checked by htpasswd itself (independent bcrypt): -v verifies a password against a file entry.
        let file = NSTemporaryDirectory() + "/gh-htpasswd-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "user:\(hash)\n".write(toFile: file, atomically: true, encoding: .utf8)
        for (password, expected) in [("s3cret pass", Int32(0)), ("wrong", Int32(3))] {
            let check = try runTool("/usr/bin/htpasswd", ["-vb", file, "user", password])
            #expect(check.status == expected, "htpasswd -v with \(password)")
        }
    }
}
