import Foundation
import GatehouseTestSupport
import Testing

/// The admin listener refuses what reaching its socket would otherwise allow: a page in the operator's browser
/// posting to it (cross-site), a DNS-rebound name reading it, and, with `admin.token_file`, anyone without the
/// secret. Raw bytes, as a browser or an attacker would send them.
@Suite("Admin listener: Host, cross-site and bearer checks")
struct AdminAccessTests {
    /// True when alice can still sign in (a refused disable must have changed nothing).
    private static func aliceCanSignIn(_ gw: SessionGateway) throws -> Bool {
        try gw.signIn("alice", SessionFixture.alicePassword).status == 303
    }

    @Test("a foreign Host (DNS rebinding) is refused on every admin path; its own address, localhost and allowed names work")
    func foreignHostRefused() throws {
        let gw = try SessionFixture.gateway()
        let port = try #require(gw.adminPort)
        for request in ["GET /metrics HTTP/1.1\r\nHost: evil.example:\(port)\r\n\r\n",
                        "GET /admin/users/alice/sessions HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                        "POST /reload HTTP/1.1\r\nHost: rebind.attacker.test:\(port)\r\nContent-Length: 0\r\n\r\n",
                        "POST /admin/users/alice/disable HTTP/1.1\r\nHost: EVIL.example.\r\nContent-Length: 0\r\n\r\n",
                        "GET /readyz HTTP/1.1\r\nHost: 10.1.2.3:\(port)\r\n\r\n",
                        "GET http://evil.example/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"] {
            let response = try gw.sendAdmin(request)
            #expect(response.status == 403, "\(request.debugDescription): \(response.status) \(response.bodyText)")
            #expect(!response.bodyText.contains("gatehouse_"), "no metrics leak")
        }
        #expect(try Self.aliceCanSignIn(gw), "the refused disable changed nothing")
        for host in ["127.0.0.1:\(port)", "127.0.0.1", "localhost:\(port)", "LocalHost", "admin", "admin:\(port)",
                     "127.0.0.2:8080", "[::1]:\(port)"] {
            let response = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            #expect(response.status == 200, "Host: \(host): \(response.status)")
        }
        // HTTP/1.0 without Host is not a browser.
        #expect(try gw.sendAdmin("GET /healthz HTTP/1.0\r\n\r\n").status == 200)
    }

    @Test("cross-site requests (Sec-Fetch-Site, Origin) are refused: a page cannot disable a user or reload")
    func crossSiteRefused() throws {
        let gw = try SessionFixture.gateway()
        let port = try #require(gw.adminPort)
        let host = "Host: 127.0.0.1:\(port)\r\n"
        for extra in ["Sec-Fetch-Site: cross-site\r\n", "Sec-Fetch-Site: same-site\r\n",
                      "Origin: https://evil.example\r\n", "Origin: null\r\n",
                      "Origin: http://127.0.0.1:\(port)\r\nSec-Fetch-Site: cross-site\r\n"] {
            let disable = try gw.sendAdmin("POST /admin/users/alice/disable HTTP/1.1\r\n\(host)\(extra)"
                                           + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n")
            #expect(disable.status == 403, "\(extra.debugDescription): \(disable.status)")
            let reload = try gw.sendAdmin("POST /reload HTTP/1.1\r\n\(host)\(extra)Content-Length: 0\r\n\r\n")
            #expect(reload.status == 403, "\(extra.debugDescription): \(reload.status)")
        }
        #expect(try Self.aliceCanSignIn(gw), "no cross-site disable went through")
        // Typed by the operator (Sec-Fetch-Site: none), same-origin, or no browser at all: allowed.
        for extra in ["Sec-Fetch-Site: none\r\n", "Origin: http://127.0.0.1:\(port)\r\n", ""] {
            let list = try gw.sendAdmin("GET /admin/users/alice/sessions HTTP/1.1\r\n\(host)\(extra)\r\n")
            #expect(list.status == 200, "\(extra.debugDescription): \(list.status)")
        }
    }

    @Test("admin.token_file: every path but /healthz and /readyz needs Authorization: Bearer <secret>")
    func bearerSecret() throws {
        let secret = "s3cret-admin-token-0123456789abcdef"
        let gw = try SessionFixture.gateway(admin: "token_file: \"@KEYS@/admin.token\"",
                                            extraFiles: ["admin.token": secret + "\n"])
        let port = try #require(gw.adminPort)
        let host = "Host: 127.0.0.1:\(port)\r\n"
        for auth in ["", "Authorization: Bearer wrong\r\n", "Authorization: Bearer \(secret)x\r\n",
                     "Authorization: Basic \(Data("admin:\(secret)".utf8).base64EncodedString())\r\n",
                     "Authorization: Bearer \(secret.dropLast())\r\n"] {
            let metrics = try gw.sendAdmin("GET /metrics HTTP/1.1\r\n\(host)\(auth)\r\n")
            #expect(metrics.status == 401, "\(auth.debugDescription): \(metrics.status)")
            #expect(metrics.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let disable = try gw.sendAdmin("POST /admin/users/alice/disable HTTP/1.1\r\n\(host)\(auth)Content-Length: 0\r\n\r\n")
            #expect(disable.status == 401)
        }
        #expect(try Self.aliceCanSignIn(gw))
        #expect(try gw.sendAdmin("GET /healthz HTTP/1.1\r\n\(host)\r\n").status == 200)
        #expect(try gw.sendAdmin("GET /readyz HTTP/1.1\r\n\(host)\r\n").status == 200)
        let ok = try gw.sendAdmin("GET /metrics HTTP/1.1\r\n\(host)Authorization: Bearer \(secret)\r\n\r\n")
        #expect(ok.status == 200)
        #expect(ok.bodyText.contains("gatehouse_"))
        let disable = try gw.sendAdmin("POST /admin/users/alice/disable HTTP/1.1\r\n\(host)"
                                       + "Authorization: bearer \(secret)\r\nContent-Length: 0\r\n\r\n")
        #expect(disable.status == 200)
        #expect(try !Self.aliceCanSignIn(gw))
    }

    @Test("admin config: allowed_hosts must be names, token_file must hold a real secret (file:line)")
    func configRefusals() throws {
        let bad = SessionFixture.config(admin: "allowed_hosts: [\"evil:80\"]")
        let checked = try Self.checkConfig(bad, files: [:])
        #expect(checked.status == 1)
        #expect(checked.stderr.contains(".yaml:\(Self.line(of: "allowed_hosts", in: bad)): admin.allowed_hosts[0]"),
                "\(checked.stderr)")
        let shortYAML = SessionFixture.config(admin: "token_file: \"@KEYS@/t\"")
        let short = try Self.checkConfig(shortYAML, files: ["t": "short\n"])
        #expect(short.status == 1)
        #expect(short.stderr.contains(".yaml:\(Self.line(of: "token_file", in: shortYAML)): admin.token_file"),
                "\(short.stderr)")
        #expect(!short.stderr.contains("short\n"))
        let good = try Self.checkConfig(SessionFixture.config(admin: "token_file: \"@KEYS@/t\"\nallowed_hosts: [gw-admin.internal]"),
                                        files: ["t": String(repeating: "k", count: 32)])
        #expect(good.status == 0, "\(good.stderr)")
    }

    /// The 1-based line of `yaml` that mentions `text`.
    private static func line(of text: String, in yaml: String) -> Int {
        (yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(text) } ?? -1) + 1
    }

    /// `gatehouse check-config` on `yaml` (with the users file and `files` beside it).
    private static func checkConfig(_ yaml: String, files: [String: String]) throws -> AuthCommandResult {
        let keys = try AuthKeyDirectory()
        _ = try keys.write("users.yaml", try SessionFixture.usersFile())
        for (name, text) in files { _ = try keys.write(name, text) }
        let path = try keys.write("gatehouse.yaml", yaml.replacingOccurrences(of: "@UPSTREAM@", with: "127.0.0.1:9")
                                                      .replacingOccurrences(of: "@KEYS@", with: keys.path))
        return try AuthCommandResult.run(["check-config", "--config", path])
    }
}
