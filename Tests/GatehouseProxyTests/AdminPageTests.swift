import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The admin page (`/admin/` on the admin listener) over the in-memory store, no sockets: the user list, one
/// user's sessions, the admin cookie, form tokens, escaping.
@Suite("Admin page: user list, sessions, admin cookie and form tokens (no sockets)")
struct AdminPageTests {
    static let host = "Host: 127.0.0.1:9901"
    static let post = "POST /admin/ HTTP/1.1\n\(host)\nContent-Type: application/x-www-form-urlencoded"

    /// A browser on the admin page: its cookie and the form token the page rendered for it.
    struct Browser {
        let cookie: String
        let token: String
        var header: String { "\nCookie: \(AdminPageCall.cookieName)=\(cookie)" }
    }

    /// Opens `/admin/` with no cookie (no token file: the page issues one) and reads the form token.
    static func open(_ h: EndpointHarness) throws -> Browser {
        let answer = try h.one("GET /admin/ HTTP/1.1\n\(host)", admin: true)
        try #require(answer.status == 200, "\(answer.status) \(answer.text)")
        let cookie = try #require(answer.cookieValue(AdminPageCall.cookieName))
        return Browser(cookie: cookie, token: try formToken(answer.text))
    }

    static func formToken(_ html: String) throws -> String {
        let marker = "name=\"form_token\" value=\""
        let start = try #require(html.firstRange(of: marker)).upperBound
        return String(html[start...].prefix { $0 != "\"" })
    }

    static func record(_ user: String, agent: String, at now: Int64, address: String = "198.51.100.7") -> SessionRecord {
        let secret = Secrets.newSecret()
        return SessionRecord(key: secret.key, handle: Secrets.newHandle(), kind: .cookie, user: user, email: nil,
                             groups: ["<g>"], displayName: nil, createdAt: now - 600, lastSeenAt: now - 180,
                             expiresAt: now + 3600, idleTimeout: 0, userAgent: agent, clientAddress: address)
    }

    static func create(_ h: EndpointHarness, _ record: SessionRecord) {
        h.store.create(record, maxPerUser: 0, now: h.now) { _ in }
    }

    static func count(_ h: EndpointHarness, _ user: String) -> Int {
        var n = -1
        h.store.sessions(of: user, now: h.now) { if case .success(let r) = $0 { n = r.count } }
        return n
    }

    @Test("the list: users-file users and provider users with session counts, last activity, disabled state; CSP")
    func listsUsers() throws {
        let h = EndpointHarness()
        _ = try h.signIn("alice")
        _ = try h.signIn("alice")
        Self.create(h, Self.record("dave@idp", agent: "curl/8.5", at: h.now))
        let answer = try h.one("GET /admin/ HTTP/1.1\n\(Self.host)", admin: true)
        #expect(answer.status == 200)
        #expect(answer.header("Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
        #expect(answer.header("X-Frame-Options") == "DENY")
        let cookie = try #require(answer.header("Set-Cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/admin/"))
        let text = answer.text
        #expect(!text.contains("<script"))
        #expect(text.contains(">alice</a></div>\n<div class=\"meta\">2 sessions · last active <span title=\""))
        #expect(text.contains(">bob</a></div>\n<div class=\"meta\">0 sessions</div>"))
        #expect(text.contains(">carol</a><span class=\"tag off\">disabled</span>"))
        #expect(text.contains(">dave@idp</a><span class=\"tag source\">provider</span>"))
        #expect(text.contains("href=\"/admin/user?name=dave%40idp\""))
        #expect(text.contains("3 minutes ago</span>"))
        #expect(text.contains("4 users · 3 live sessions"))
        // carol is disabled by the users file: no enable button can lift that.
        let carol = try #require(text.firstRange(of: ">carol</a>")).upperBound
        let carolEnd = try #require(text[carol...].firstRange(of: "</li>")).lowerBound
        let carolRow = text[carol..<carolEnd]
        #expect(!carolRow.contains("value=\"enable\"") && !carolRow.contains("value=\"disable\""))
    }

    @Test("HTML in user names, groups and user agents is escaped; a long user agent is cut")
    func escapes() throws {
        let h = EndpointHarness()
        let evil = "<img src=x onerror=alert(1)>\"'&"
        let agent = "<script>alert('ua')</script>\u{1b}[31m\u{85}\u{7f}" + String(repeating: "A", count: 10_000)
        Self.create(h, Self.record(evil, agent: agent, at: h.now, address: "<b>addr</b>"))
        let list = try h.one("GET /admin/ HTTP/1.1\n\(Self.host)", admin: true).text
        #expect(!list.contains("<img"))
        #expect(list.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"))
        let page = try h.one("GET /admin/user?name=\(AdminPage.percentEncoded(evil)) HTTP/1.1\n\(Self.host)",
                             admin: true)
        #expect(page.status == 200, "\(page.text)")
        let text = page.text
        #expect(!text.contains("<script>") && !text.contains("<img") && !text.contains("<b>addr"))
        #expect(text.contains("&lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;[31mAAA"), "control characters dropped")
        #expect(text.contains("&lt;b&gt;addr&lt;/b&gt;"))
        #expect(text.contains("&lt;g&gt;"))
        #expect(!text.contains(String(repeating: "A", count: AdminPage.userAgentShown)), "cut")
        #expect(text.contains("A…</div>"))
        #expect(text.utf8.count < 8_000, "the 10 KB agent is not on the page: \(text.utf8.count)")
    }

    @Test("one user's page lists each session; signing one out ends that one only; another user's handle is 404")
    func userPageAndSessionSignOut() throws {
        let h = EndpointHarness()
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
        _ = try h.signIn("alice", extraHeaders: "\nUser-Agent: \(firefox)")
        _ = try h.signIn("alice")
        _ = try h.signIn("bob")
        let browser = try Self.open(h)
        let page = try h.one("GET /admin/user?name=alice HTTP/1.1\n\(Self.host)\(browser.header)", admin: true)
        #expect(page.status == 200)
        #expect(page.text.contains("Firefox on Windows"))
        #expect(page.text.contains("alice@example.com"))
        #expect(page.text.occurrences(of: "Sign out this session") == 2)
        var bobHandle = ""
        h.store.sessions(of: "bob", now: h.now) { if case .success(let r) = $0 { bobHandle = r[0].handle } }
        let foreign = try h.one(Self.post + browser.header, body: "action=session&user=alice&handle=\(bobHandle)"
                                + "&form_token=\(browser.token)&back=user", admin: true)
        #expect(foreign.status == 404)
        #expect(Self.count(h, "bob") == 1)
        var aliceHandle = ""
        h.store.sessions(of: "alice", now: h.now) { if case .success(let r) = $0 { aliceHandle = r[0].handle } }
        let one = try h.one(Self.post + browser.header, body: "action=session&user=alice&handle=\(aliceHandle)"
                            + "&form_token=\(browser.token)&back=user", admin: true)
        #expect(one.status == 303)
        #expect(one.header("Location") == "/admin/user?name=alice&done=session")
        #expect(Self.count(h, "alice") == 1)
        let after = try h.one("GET /admin/user?name=alice&done=session HTTP/1.1\n\(Self.host)\(browser.header)",
                              admin: true)
        #expect(after.text.contains("That session was signed out."))
    }

    @Test("sign out everywhere, disable and enable answer 303 with a confirmation; unknown users are 404")
    func actions() throws {
        let h = EndpointHarness()
        _ = try h.signIn("alice")
        _ = try h.signIn("alice")
        let browser = try Self.open(h)
        let everywhere = try h.one(Self.post + browser.header,
                                   body: "action=everywhere&user=alice&form_token=\(browser.token)", admin: true)
        #expect(everywhere.status == 303)
        #expect(everywhere.header("Location") == "/admin/?done=everywhere")
        #expect(Self.count(h, "alice") == 0)
        let disable = try h.one(Self.post + browser.header,
                                body: "action=disable&user=bob&form_token=\(browser.token)&back=user", admin: true)
        #expect(disable.header("Location") == "/admin/user?name=bob&done=disabled")
        var disabled = false
        h.store.isDisabled("bob") { if case .success(let d) = $0 { disabled = d } }
        #expect(disabled)
        let list = try h.one("GET /admin/?done=disabled HTTP/1.1\n\(Self.host)\(browser.header)", admin: true).text
        #expect(list.contains("The user was disabled and signed out everywhere."))
        #expect(list.contains(">bob</a><span class=\"tag off\">disabled</span>"))
        #expect(list.contains("name=\"action\" value=\"enable\""))
        let enable = try h.one(Self.post + browser.header,
                               body: "action=enable&user=bob&form_token=\(browser.token)", admin: true)
        #expect(enable.status == 303)
        h.store.isDisabled("bob") { if case .success(let d) = $0 { disabled = d } }
        #expect(!disabled)
        for body in ["action=disable&user=nobody", "action=everywhere&user=nobody", "action=session&user=nobody&handle=x"] {
            let unknown = try h.one(Self.post + browser.header, body: body + "&form_token=\(browser.token)", admin: true)
            #expect(unknown.status == 404, "\(body)")
        }
        var stillOn = true
        h.store.isDisabled("nobody") { if case .success(let d) = $0 { stillOn = !d } }
        #expect(stillOn, "nothing was disabled for an unknown user")
        #expect(try h.one("GET /admin/user?name=nobody HTTP/1.1\n\(Self.host)", admin: true).status == 404)
        #expect(try h.one("GET /admin/user HTTP/1.1\n\(Self.host)", admin: true).status == 404)
        #expect(try h.one("GET /admin HTTP/1.1\n\(Self.host)", admin: true).header("Location") == "/admin/")
        #expect(try h.one("DELETE /admin/ HTTP/1.1\n\(Self.host)", admin: true).status == 405)
    }

    @Test("a POST without the cookie, without the form token, with another browser's token or cross-site: 403, nothing changes")
    func csrfRefusals() throws {
        let h = EndpointHarness()
        _ = try h.signIn("alice")
        let browser = try Self.open(h)
        let other = try Self.open(h)
        #expect(browser.token != other.token)
        let refused: [(String, String)] = [
            ("", "action=everywhere&user=alice&form_token=\(browser.token)"),
            (browser.header, "action=everywhere&user=alice"),
            (browser.header, "action=everywhere&user=alice&form_token="),
            (browser.header, "action=everywhere&user=alice&form_token=\(other.token)"),
            (browser.header, "action=disable&user=alice&form_token=\(String(repeating: "A", count: 43))"),
            ("\nCookie: \(AdminPageCall.cookieName)=forged", "action=everywhere&user=alice&form_token=\(browser.token)"),
            (browser.header + "\nSec-Fetch-Site: cross-site", "action=everywhere&user=alice&form_token=\(browser.token)"),
            (browser.header + "\nOrigin: https://evil.example", "action=disable&user=alice&form_token=\(browser.token)"),
        ]
        for (headers, body) in refused {
            let answer = try h.one(Self.post + headers, body: body, admin: true)
            #expect(answer.status == 403, "\(headers) \(body): \(answer.status)")
        }
        #expect(Self.count(h, "alice") == 1)
        var disabled = true
        h.store.isDisabled("alice") { if case .success(let d) = $0 { disabled = d } }
        #expect(!disabled)
        // Two admin cookies (cookie tossing): no credential.
        let tossed = try h.one(Self.post + browser.header + "; \(AdminPageCall.cookieName)=\(other.cookie)",
                               body: "action=everywhere&user=alice&form_token=\(browser.token)", admin: true)
        #expect(tossed.status == 403)
    }

    @Test("with admin.token_file: the sign-in form, a wrong token refused, the right one sets the cookie; the JSON API still wants the bearer")
    func tokenSignIn() throws {
        let secret = Array("s3cret-admin-token-0123456789abcdef".utf8)
        let h = EndpointHarness(admin: AdminAccess(token: secret))
        _ = try h.signIn("alice")
        let form = try h.one("GET /admin/ HTTP/1.1\n\(Self.host)", admin: true)
        #expect(form.status == 401)
        #expect(form.text.contains("name=\"token\" type=\"password\""))
        #expect(form.header("Set-Cookie") == nil)
        let wrong = try h.one(Self.post, body: "action=signin&token=guess", admin: true)
        #expect(wrong.status == 401)
        #expect(wrong.header("Set-Cookie") == nil)
        let right = try h.one(Self.post, body: "action=signin&token=s3cret-admin-token-0123456789abcdef", admin: true)
        #expect(right.status == 303)
        let cookie = try #require(right.cookieValue(AdminPageCall.cookieName))
        let header = "\nCookie: \(AdminPageCall.cookieName)=\(cookie)"
        let page = try h.one("GET /admin/?done=signedin HTTP/1.1\n\(Self.host)\(header)", admin: true)
        #expect(page.status == 200)
        #expect(page.text.contains("Sign out of the admin page"))
        let token = try Self.formToken(page.text)
        // The cookie is no bearer: the JSON API answers 401 as before.
        #expect(try h.one("GET /admin/users/alice/sessions HTTP/1.1\n\(Self.host)\(header)", admin: true).status == 401)
        // A cookie made with another token (or without one) is refused.
        let foreign = AdminCredential(token: Array("another-admin-token-0123456789".utf8)).cookie(issuedAt: h.now)
        let refused = try h.one("GET /admin/ HTTP/1.1\n\(Self.host)\nCookie: \(AdminPageCall.cookieName)=\(foreign)",
                                admin: true)
        #expect(refused.status == 401)
        // Expired: past the lifetime the form comes back.
        h.now += AdminCredential.lifetime
        #expect(try h.one("GET /admin/ HTTP/1.1\n\(Self.host)\(header)", admin: true).status == 401)
        h.now -= AdminCredential.lifetime
        let signOut = try h.one(Self.post + header, body: "action=signout&form_token=\(token)", admin: true)
        #expect(signOut.status == 303)
        #expect(signOut.header("Set-Cookie")?.contains("Max-Age=0") == true)
    }

    @Test("the admin cookie: issued time and MAC checked, bounded, constant-size form tokens")
    func credential() {
        let credential = AdminCredential(token: Array("s3cret-admin-token-0123456789abcdef".utf8))
        let cookie = credential.cookie(issuedAt: 1_700_000_000)
        #expect(credential.accepts(cookie: cookie, now: 1_700_000_000))
        #expect(credential.accepts(cookie: cookie, now: 1_700_000_000 + AdminCredential.lifetime - 1))
        #expect(!credential.accepts(cookie: cookie, now: 1_700_000_000 + AdminCredential.lifetime))
        #expect(!credential.accepts(cookie: cookie, now: 1_700_000_000 - 120), "issued in the future")
        #expect(!credential.accepts(cookie: nil, now: 1_700_000_000))
        #expect(!credential.accepts(cookie: String(repeating: "A", count: 4096), now: 1_700_000_000))
        var flipped = Array(cookie.utf8)
        flipped[20] = flipped[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(!credential.accepts(cookie: String(decoding: flipped, as: UTF8.self), now: 1_700_000_000))
        let token = credential.formToken(for: cookie)
        #expect(token.utf8.count == 43)
        #expect(credential.acceptsFormToken(token, for: cookie))
        #expect(!credential.acceptsFormToken(token, for: credential.cookie(issuedAt: 1_700_000_001)))
        #expect(!credential.acceptsFormToken(nil, for: cookie))
    }
}
