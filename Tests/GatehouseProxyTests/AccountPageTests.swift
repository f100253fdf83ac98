import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The account page and its forms (`/.gatehouse/account`) over the in-memory store, no sockets.
@Suite("Account page: devices, sign-out forms, form tokens (no sockets)")
struct AccountPageTests {
    static let page = "GET /.gatehouse/account HTTP/1.1\nHost: app.test"
    static let post = "POST /.gatehouse/account HTTP/1.1\nHost: app.test\nContent-Type: application/x-www-form-urlencoded"

    static func cookie(_ value: String) -> String { "\nCookie: gh_session=\(value)" }

    /// The form token the page rendered for `cookie`.
    static func token(_ h: EndpointHarness, _ cookie: String) throws -> String {
        let answer = try h.one(page + Self.cookie(cookie))
        let text = answer.text
        let marker = "name=\"form_token\" value=\""
        let start = try #require(text.firstRange(of: marker)).upperBound
        return String(text[start...].prefix { $0 != "\"" })
    }

    static func handles(_ h: EndpointHarness, _ user: String = "alice") -> [String] {
        var out: [String] = []
        h.store.sessions(of: user, now: h.now) { if case .success(let r) = $0 { out = r.map(\.handle) } }
        return out
    }

    @Test("the page: who I am, this device marked, the others with browser and OS in words, CSP, no script")
    func pageShowsDevices() throws {
        let h = EndpointHarness()
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
        let mine = try h.signIn(extraHeaders: "\nUser-Agent: \(firefox)")
        h.now += 180
        _ = try h.signIn(extraHeaders: "\nUser-Agent: \(iphone)")
        h.now += 60
        let answer = try h.one(Self.page + Self.cookie(mine))
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type") == "text/html; charset=utf-8")
        #expect(answer.header("Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
        let text = answer.text
        #expect(text.contains("alice@example.com"))
        #expect(text.contains("staff"))
        #expect(text.contains("Firefox on Windows <span class=\"this\">(this device)</span>"))
        #expect(text.contains("Safari on iPhone"))
        #expect(text.contains("last active 1 minute ago"))
        #expect(text.contains("Sign out everywhere else"))
        #expect(text.occurrences(of: "Sign out this device") == 1)
        #expect(!text.contains("<script"))
    }

    @Test("no cookie or an ended session: 303 to the login page, coming back here")
    func anonymousGoesToLogin() throws {
        let h = EndpointHarness()
        let none = try h.one(Self.page)
        #expect(none.status == 303)
        #expect(none.header("Location") == "/.gatehouse/login?rd=/.gatehouse/account")
        let ended = try h.one(Self.page + Self.cookie(Secrets.newSecret().text))
        #expect(ended.status == 303)
    }

    @Test("sign out another device: 303 back with a confirmation, that session gone, this one kept")
    func signOutOtherDevice() throws {
        let h = EndpointHarness()
        let mine = try h.signIn()
        _ = try h.signIn()
        let token = try Self.token(h, mine)
        let handlesBefore = Self.handles(h)
        #expect(handlesBefore.count == 2)
        let page = try h.one(Self.page + Self.cookie(mine)).text
        let other = try #require(handlesBefore.first { page.contains("name=\"handle\" value=\"\($0)\"") })
        h.clearEvents()
        let answer = try h.one(Self.post + Self.cookie(mine), body: "action=device&handle=\(other)&form_token=\(token)")
        #expect(answer.status == 303)
        #expect(answer.header("Location") == "/.gatehouse/account?done=device")
        #expect(Self.handles(h) == handlesBefore.filter { $0 != other })
        #expect(h.events == [.signOut])
        let after = try h.one(Self.page + Self.cookie(mine) + "", body: "")
        #expect(after.status == 200)
        let confirmed = try h.one("GET /.gatehouse/account?done=device HTTP/1.1\nHost: app.test" + Self.cookie(mine))
        #expect(confirmed.text.contains("That device was signed out."))
    }

    @Test("sign out everywhere else keeps only this device; sign out ends this one and clears the cookie")
    func signOutOthersAndSelf() throws {
        let h = EndpointHarness()
        let mine = try h.signIn()
        for _ in 0..<3 { _ = try h.signIn() }
        let token = try Self.token(h, mine)
        let answer = try h.one(Self.post + Self.cookie(mine), body: "action=others&form_token=\(token)")
        #expect(answer.header("Location") == "/.gatehouse/account?done=others")
        #expect(Self.handles(h).count == 1)
        let again = try h.one(Self.post + Self.cookie(mine), body: "action=others&form_token=\(token)")
        #expect(again.header("Location") == "/.gatehouse/account?done=none")
        let out = try h.one(Self.post + Self.cookie(mine), body: "action=signout&form_token=\(token)")
        #expect(out.status == 303)
        #expect(out.header("Location") == "/.gatehouse/login")
        #expect(out.header("Set-Cookie")?.contains("Max-Age=0") == true)
        #expect(Self.handles(h).isEmpty)
    }

    @Test("a post without a form token, or with another session's token: 403, nothing ended")
    func formTokenRequired() throws {
        let h = EndpointHarness()
        let mine = try h.signIn()
        let theirs = try h.signIn("bob")
        let foreign = try Self.token(h, theirs)
        for body in ["action=others", "action=others&form_token=\(foreign)", "action=signout&form_token=",
                     "action=signout&form_token=\(String(repeating: "A", count: 43))"] {
            _ = try h.signIn()
            let before = Self.handles(h)
            let answer = try h.one(Self.post + Self.cookie(mine), body: body)
            #expect(answer.status == 403, "\(body)")
            #expect(answer.error == "account-bad-form-token")
            #expect(Self.handles(h) == before)
        }
    }

    @Test("a cross-site post is refused before anything else, even with the right token")
    func crossSiteRefused() throws {
        let h = EndpointHarness()
        let mine = try h.signIn()
        _ = try h.signIn()
        let token = try Self.token(h, mine)
        for header in ["\nSec-Fetch-Site: cross-site", "\nOrigin: https://evil.test"] {
            let answer = try h.one(Self.post + Self.cookie(mine) + header, body: "action=others&form_token=\(token)")
            #expect(answer.status == 403)
            #expect(answer.error == "cross-site-account")
            #expect(Self.handles(h).count == 2)
        }
    }

    @Test("the handle of another user's session: 404, nothing ended")
    func otherUsersHandle() throws {
        let h = EndpointHarness()
        let mine = try h.signIn()
        _ = try h.signIn("bob")
        let bobs = try #require(Self.handles(h, "bob").first)
        let token = try Self.token(h, mine)
        let answer = try h.one(Self.post + Self.cookie(mine), body: "action=device&handle=\(bobs)&form_token=\(token)")
        #expect(answer.status == 404)
        #expect(answer.error == "no-such-session")
        #expect(Self.handles(h, "bob") == [bobs])
    }

    @Test("a 10 KB user agent with control characters and HTML: truncated and escaped in the page")
    func hostileUserAgent() throws {
        let h = EndpointHarness()
        // The parser refuses control characters other than HTAB in a header (400 before any endpoint)...
        #expect(throws: (any Error).self) { try EndpointHarness.request(Self.page + "\nUser-Agent: a\u{1}b") }
        // ...and the page drops the tab it lets through.
        let hostile = "<script>alert(1)</script>\t\"'" + String(repeating: "x", count: 10_000)
        let mine = try h.signIn(extraHeaders: "\nUser-Agent: \(hostile)")
        let text = try h.one(Self.page + Self.cookie(mine)).text
        #expect(!text.contains("<script>"))
        #expect(!text.contains("\t"))
        #expect(LoginPage.escape("a\u{1}\u{7f}\tb<") == "ab&lt;")
        #expect(text.utf8.count < 8_000, "the stored agent is cut to 256 bytes")
        #expect(text.contains("Unknown browser on unknown system"))
    }

    @Test("HTML in user-controlled fields (a query's done code, an address) never reaches the page raw")
    func escapesFields() throws {
        let h = EndpointHarness()
        let mine = try h.signIn()
        let answer = try h.one("GET /.gatehouse/account?done=%3Cb%3Ehi HTTP/1.1\nHost: app.test" + Self.cookie(mine))
        #expect(!answer.text.contains("<b>hi"))
        #expect(!answer.text.contains("role=\"status\""), "unknown codes show nothing")
        let page = AccountPage.render(user: "<i>u</i>", email: "\"a\"@x", groups: ["<g>"], sessions: [], current: "",
                                      token: "t\"", notice: nil, now: 0)
        #expect(!page.contains("<i>") && !page.contains("<g>") && !page.contains("\"a\""))
        #expect(page.contains("&lt;i&gt;u&lt;/i&gt;") && page.contains("t&quot;"))
    }

    @Test("form tokens: stable per session, different across sessions, malformed ones refused")
    func formTokens() {
        let a = Secrets.newSecret().key, b = Secrets.newSecret().key
        let token = FormToken.make(for: a)
        #expect(token.utf8.count == 43)
        #expect(FormToken.make(for: a) == token)
        #expect(FormToken.isValid(token, for: a))
        #expect(!FormToken.isValid(token, for: b))
        #expect(!FormToken.isValid(nil, for: a))
        #expect(!FormToken.isValid(String(token.dropLast()), for: a))
        #expect(!FormToken.isValid(token + "A", for: a))
    }

    @Test("user agents of the common browsers and systems, in words")
    func userAgentSummaries() {
        let cases: [(String, String)] = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
            ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Windows"),
            ("Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome on iPad"),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
            ("curl/8.11.0", "curl on unknown system"),
            ("", "Unknown browser on unknown system"),
        ]
        for (agent, words) in cases { #expect(UserAgentSummary.describe(agent) == words, "\(agent)") }
    }

    @Test("times in words and as UTC dates")
    func times() {
        #expect(HumanTime.ago(5) == "just now")
        #expect(HumanTime.ago(180) == "3 minutes ago")
        #expect(HumanTime.ago(7200) == "2 hours ago")
        #expect(HumanTime.within(86_400 * 3) == "in 3 days")
        #expect(HumanTime.utc(0) == "1970-01-01 00:00 UTC")
        #expect(HumanTime.utc(1_700_000_000) == "2023-11-14 22:13 UTC")
        #expect(HumanTime.utc(951_782_400) == "2000-02-29 00:00 UTC")
    }
}
