import Foundation
import GatehouseTestSupport
import Testing

/// The admin page (`/admin/` on the admin listener) through the real gateway: the user list from the users file
/// and the store, sign-out-everywhere and disable/enable buttons whose effect the signed-in user's next request
/// feels, the admin cookie and form tokens, on the embedded store and on Redis. Raw bytes throughout.
@Suite("Admin page in a browser: users, sessions, sign out everywhere, disable")
struct AdminPageIntegrationTests {
    /// A browser on the admin page: the cookie the listener set and the latest page's form token.
    struct AdminBrowser {
        let gw: SessionGateway
        let host: String
        var cookie = ""
        var formToken = ""

        init(_ gw: SessionGateway) throws {
            self.gw = gw
            host = "127.0.0.1:\(try #require(gw.adminPort))"
        }

        /// GET `path` as a browser would (the cookie, `Sec-Fetch-Site: same-origin`); keeps a new cookie and the
        /// page's form token.
        mutating func get(_ path: String) throws -> RawResponse {
            let cookieLine = cookie.isEmpty ? "" : "Cookie: gatehouse_admin=\(cookie)\r\n"
            let response = try gw.sendAdmin("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nSec-Fetch-Site: same-origin\r\n"
                                            + cookieLine + "\r\n")
            if let set = SessionGateway.cookie(of: response, name: "gatehouse_admin") {
                cookie = String(set.dropFirst("gatehouse_admin=".count))
            }
            if let range = response.bodyText.firstRange(of: "name=\"form_token\" value=\"") {
                formToken = String(response.bodyText[range.upperBound...].prefix { $0 != "\"" })
            }
            return response
        }

        /// POSTs the form `fields` (the form token added unless `token` says otherwise).
        func post(_ fields: String, token: String? = nil, extraHeaders: String = "Sec-Fetch-Site: same-origin\r\n",
                  withCookie: Bool = true) throws -> RawResponse {
            let body = fields + "&form_token=\(token ?? formToken)"
            let cookieLine = withCookie && !cookie.isEmpty ? "Cookie: gatehouse_admin=\(cookie)\r\n" : ""
            return try gw.sendAdmin("POST /admin/ HTTP/1.1\r\nHost: \(host)\r\n\(extraHeaders)\(cookieLine)"
                                    + "Content-Type: application/x-www-form-urlencoded\r\n"
                                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        }
    }

    static let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

    /// The list, sign out everywhere (the next request of each device is bounced), disable then enable.
    static func listSignOutDisable(_ gw: SessionGateway) throws {
        let laptop = try SessionFixture.aliceCookie(gw, userAgent: firefox)
        let phone = try SessionFixture.aliceCookie(gw, userAgent: "<script>alert(1)</script>")
        let bob = try #require(SessionGateway.cookie(of: try gw.signIn("bob", SessionFixture.bobPassword)))
        var admin = try AdminBrowser(gw)
        let list = try admin.get("/admin/")
        #expect(list.status == 200, "\(list.status) \(list.bodyText)\n\(gw.auth.diagnostics)")
        #expect(list.header("Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
        #expect(!admin.cookie.isEmpty && !admin.formToken.isEmpty)
        let text = list.bodyText
        #expect(text.contains(">alice</a></div>\n<div class=\"meta\">2 sessions · last active <span title=\""), "\(text)")
        #expect(text.contains(">bob</a></div>\n<div class=\"meta\">1 session · last active"))
        #expect(text.contains(">carol</a><span class=\"tag off\">disabled</span>"))
        #expect(text.contains("3 users · 3 live sessions"))
        #expect(text.contains("just now</span>"))

        let detail = try admin.get("/admin/user?name=alice")
        #expect(detail.status == 200)
        #expect(detail.bodyText.contains("Firefox on Linux"))
        #expect(detail.bodyText.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!detail.bodyText.contains("<script>"))
        #expect(try admin.get("/admin/user?name=nobody").status == 404)

        let everywhere = try admin.post("action=everywhere&user=alice")
        #expect(everywhere.status == 303, "\(everywhere.bodyText)")
        #expect(everywhere.header("location") == "/admin/?done=everywhere")
        for cookie in [laptop, phone] {
            let bounced = try gw.get("/app/", headers: "Cookie: \(cookie)\r\nAccept: text/html\r\n")
            #expect(bounced.status == 302, "signed out: \(bounced.status)")
            #expect(bounced.header("location")?.hasPrefix("/.gatehouse/login") == true)
        }
        #expect(try gw.get("/app/", headers: "Cookie: \(bob)\r\n").status == 200, "bob is untouched")
        let after = try admin.get("/admin/?done=everywhere")
        #expect(after.bodyText.contains("The user was signed out everywhere."))
        #expect(after.bodyText.contains(">alice</a></div>\n<div class=\"meta\">0 sessions</div>"))

        let disable = try admin.post("action=disable&user=bob&back=user")
        #expect(disable.status == 303)
        #expect(disable.header("location") == "/admin/user?name=bob&done=disabled")
        #expect(try gw.get("/app/", headers: "Cookie: \(bob)\r\n").status == 401)
        #expect(try gw.signIn("bob", SessionFixture.bobPassword).status == 401, "a disabled user cannot sign in")
        let bobPage = try admin.get("/admin/user?name=bob&done=disabled")
        #expect(bobPage.bodyText.contains("disabled by the admin"))
        #expect(bobPage.bodyText.contains("name=\"action\" value=\"enable\""))
        let enable = try admin.post("action=enable&user=bob")
        #expect(enable.status == 303)
        #expect(try gw.signIn("bob", SessionFixture.bobPassword).status == 303)
    }

    @Test("embedded store: the list with counts, sign out everywhere bounces every device, disable then enable")
    func embedded() throws {
        try Self.listSignOutDisable(try SessionFixture.gateway())
    }

    @Test("Redis store: the same, users found by SCAN under a prefix with glob characters, other prefixes ignored")
    func redis() throws {
        let redis = try RedisServerProcess()
        // Another deployment's user set in the same Redis: not listed.
        _ = try redis.cli("ZADD", "other:u:mallory", "1", "deadbeef")
        let gw = try SessionFixture.gateway(store: SessionFixture.storeLines(redisPort: redis.port,
                                                                             keyPrefix: "gh*[t]:"))
        try Self.listSignOutDisable(gw)
        var admin = try AdminBrowser(gw)
        #expect(try !admin.get("/admin/").bodyText.contains("mallory"))
    }

    @Test("a 10 KB user agent full of HTML, sent raw at sign-in: escaped and cut on the admin page")
    func hostileUserAgent() throws {
        let gw = try SessionFixture.gateway()
        let agent = "<img src=x onerror=alert(1)>" + String(repeating: "<b>x</b>", count: 1280)
        #expect(agent.utf8.count > 10_000)
        _ = try SessionFixture.aliceCookie(gw, userAgent: agent)
        var admin = try AdminBrowser(gw)
        let page = try admin.get("/admin/user?name=alice")
        #expect(page.status == 200)
        let text = page.bodyText
        #expect(!text.contains("<img") && !text.contains("<b>x"))
        #expect(text.contains("&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;x&lt;/b&gt;"))
        #expect(text.contains("…</div>"), "cut")
        #expect(text.utf8.count < 8_000, "\(text.utf8.count) bytes")
        // A user name with HTML and a query's special characters, looked up by the page's own link.
        #expect(try admin.get("/admin/user?name=%3Cscript%3E%26x%3D1").status == 404)
    }

    @Test("form posts without the cookie, without or with a foreign form token, or cross-site: 403 and nothing ends")
    func csrfRefused() throws {
        let gw = try SessionFixture.gateway()
        let alice = try SessionFixture.aliceCookie(gw)
        var admin = try AdminBrowser(gw)
        _ = try admin.get("/admin/")
        var other = try AdminBrowser(gw)
        _ = try other.get("/admin/")
        #expect(admin.formToken != other.formToken)
        let refusals: [RawResponse] = [
            try admin.post("action=everywhere&user=alice", withCookie: false),
            try admin.post("action=everywhere&user=alice", token: ""),
            try admin.post("action=everywhere&user=alice", token: other.formToken),
            try admin.post("action=disable&user=alice", token: "%3Cscript%3E"),
            try admin.post("action=everywhere&user=alice", extraHeaders: "Sec-Fetch-Site: cross-site\r\n"),
            try admin.post("action=disable&user=alice", extraHeaders: "Origin: https://evil.example\r\n"),
            try admin.post("action=disable&user=alice", extraHeaders: "Origin: null\r\n"),
        ]
        for (index, refused) in refusals.enumerated() {
            #expect(refused.status == 403, "refusal \(index): \(refused.status) \(refused.bodyText)")
        }
        #expect(try gw.get("/app/", headers: "Cookie: \(alice)\r\n").status == 200, "alice is still signed in")
        #expect(try gw.signIn("alice", SessionFixture.alicePassword).status == 303, "and not disabled")
        #expect(try admin.post("action=disable&user=nobody").status == 404)
        // A foreign Host (DNS rebinding) cannot read the page.
        let rebound = try gw.sendAdmin("GET /admin/ HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        #expect(rebound.status == 403)
        #expect(!rebound.bodyText.contains("alice"))
    }

    @Test("with admin.token_file: the page asks for the token once and keeps an HttpOnly SameSite=Strict cookie")
    func tokenSignIn() throws {
        let secret = "s3cret-admin-token-0123456789abcdef"
        let gw = try SessionFixture.gateway(admin: "token_file: \"@KEYS@/admin.token\"",
                                            extraFiles: ["admin.token": secret + "\n"])
        _ = try SessionFixture.aliceCookie(gw)
        var admin = try AdminBrowser(gw)
        let form = try admin.get("/admin/")
        #expect(form.status == 401)
        #expect(form.bodyText.contains("Admin token"))
        #expect(!form.bodyText.contains("alice"))
        #expect(try admin.post("action=signin&token=wrong-guess").status == 401)
        let signIn = try admin.post("action=signin&token=\(secret)")
        #expect(signIn.status == 303)
        let set = try #require(signIn.header("set-cookie"))
        #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/admin/"))
        admin.cookie = String(try #require(SessionGateway.cookie(of: signIn, name: "gatehouse_admin"))
                                .dropFirst("gatehouse_admin=".count))
        let page = try admin.get("/admin/?done=signedin")
        #expect(page.status == 200)
        #expect(page.bodyText.contains("Signed in to the admin page."))
        #expect(page.bodyText.contains(">alice</a></div>\n<div class=\"meta\">1 session"))
        // The JSON API is unchanged: the cookie is not a bearer.
        let json = try gw.sendAdmin("GET /admin/users/alice/sessions HTTP/1.1\r\nHost: \(admin.host)\r\n"
                                    + "Cookie: gatehouse_admin=\(admin.cookie)\r\n\r\n")
        #expect(json.status == 401)
        let bearer = try gw.sendAdmin("GET /admin/users/alice/sessions HTTP/1.1\r\nHost: \(admin.host)\r\n"
                                      + "Authorization: Bearer \(secret)\r\n\r\n")
        #expect(bearer.status == 200)
        let out = try admin.post("action=signout")
        #expect(out.status == 303)
        #expect(out.header("set-cookie")?.contains("Max-Age=0") == true)
    }
}
