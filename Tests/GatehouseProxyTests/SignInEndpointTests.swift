import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The public endpoints (`/.gatehouse/...`) called through `LocalResponder` over the in-memory store: each test
/// asserts the `LocalResponse` the completion got, the access log's reason and the counters moved.
@Suite("Local endpoints: sign-in, logout, devices, refresh, JWKS (no sockets)")
struct SignInEndpointTests {
    static let json = "\nContent-Type: application/json"
    static let form = "\nContent-Type: application/x-www-form-urlencoded"
    static let login = "POST /.gatehouse/login HTTP/1.1\nHost: app.test"

    static func credentials(_ user: String, _ password: String) -> String {
        #"{"username":"\#(user)","password":"\#(password)"}"#
    }

    // MARK: Login

    @Test("a JSON sign-in with the right password: 200, an HttpOnly cookie, a session in the store")
    func loginOK() throws {
        let h = EndpointHarness()
        let answer = try h.one(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password))
        #expect(answer.status == 200)
        #expect(answer.error == nil)
        #expect(answer.string("user") == "alice")
        let cookie = try #require(answer.header("Set-Cookie"))
        #expect(cookie.hasPrefix("gh_session="))
        #expect(cookie.contains("; HttpOnly; SameSite=Lax"))
        #expect(!cookie.contains("Secure"), "plain HTTP from an untrusted peer")
        #expect(cookie.hasSuffix("; Max-Age=86400"))
        let value = try #require(answer.cookieValue("gh_session"))
        let key = try #require(Secrets.key(ofPresented: Array(value.utf8)[...]))
        guard case .active(let session) = h.store.lookup(key, now: h.now) else {
            Issue.record("the cookie names no session")
            return
        }
        #expect(session.user == "alice")
        #expect(session.handle == answer.string("session"))
        #expect(h.events == [.signIn])
    }

    @Test("a form sign-in redirects (303) to a safe rd, and to the account page for an unsafe one")
    func loginFormRedirects() throws {
        let h = EndpointHarness()
        let ok = try h.one(Self.login + Self.form, body: "username=alice&password=correct+horse&rd=%2Fapp%3Fx%3D1")
        #expect(ok.status == 303)
        #expect(ok.header("Location") == "/app?x=1")
        #expect(ok.cookieValue("gh_session") != nil)
        for unsafe in ["%2F%2Fevil.test", "https%3A%2F%2Fevil.test", "%2F%5Cevil.test"] {
            let answer = try h.one(Self.login + Self.form, body: "username=alice&password=correct+horse&rd=\(unsafe)")
            #expect(answer.header("Location") == AccountPage.path, "rd \(unsafe)")
        }
    }

    @Test("a wrong password or an unknown user: 401, no session, a failure counted")
    func loginWrongPassword() throws {
        let h = EndpointHarness(maxFailures: 10)
        for body in [Self.credentials("alice", "wrong"), Self.credentials("nobody", EndpointHarness.password),
                     Self.credentials("carol", EndpointHarness.password)] {
            let answer = try h.one(Self.login + Self.json, body: body)
            #expect(answer.status == 401, "\(body)")
            #expect(answer.string("error") == "invalid_credentials")
            #expect(answer.error == "login-wrong-credentials")
            #expect(answer.header("Set-Cookie") == nil)
        }
        #expect(h.store.sessionCount == 0)
        #expect(h.events == [.signInFailure, .signInFailure, .signInFailure])

        let page = try h.one(Self.login + Self.form, body: "username=alice&password=nope")
        #expect(page.status == 401)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.text.contains("Wrong user name or password."))
        #expect(page.text.contains(#"value="alice""#), "the name is filled in again")
    }

    @Test("missing fields, a broken JSON body and another media type are refused before any hash")
    func loginBadBodies() throws {
        let h = EndpointHarness()
        h.hashing = .full  // a hash attempt would answer 503
        let missing = try h.one(Self.login + Self.json, body: #"{"username":"alice"}"#)
        #expect(missing.status == 400)
        #expect(missing.error == "login-missing-fields")
        let broken = try h.one(Self.login + Self.json, body: "{not json")
        #expect(broken.status == 400)
        #expect(broken.error == "login-bad-body")
        let xml = try h.one(Self.login + "\nContent-Type: text/xml", body: "<a/>")
        #expect(xml.status == 415)
        #expect(xml.error == "login-media-type")
        #expect(h.events.isEmpty)
    }

    @Test("after max_failures the next sign-in is throttled (429 Retry-After), even with the right password")
    func loginThrottled() throws {
        let h = EndpointHarness(maxFailures: 3)
        for _ in 0..<3 { _ = try h.one(Self.login + Self.json, body: Self.credentials("alice", "wrong")) }
        let answer = try h.one(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password))
        #expect(answer.status == 429)
        #expect(answer.string("error") == "too_many_attempts")
        #expect(answer.error == "login-throttled")
        let wait = try #require(answer.header("Retry-After").flatMap { Int($0) })
        #expect(wait > 0 && wait <= 60)
        #expect(h.events.last == .signInThrottled)
        #expect(h.store.sessionCount == 0)

        // Another address may still sign in as bob; once the window has passed alice may again.
        #expect(try h.one(Self.login + Self.json, body: Self.credentials("bob", EndpointHarness.password),
                          peer: "198.51.100.1:1").status == 200)
        h.now += 61
        #expect(try h.one(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password),
                          peer: "198.51.100.1:1").status == 200)
    }

    @Test("the throttle counts the client behind a trusted proxy, not the proxy")
    func throttleCountsTheRealClient() throws {
        let h = EndpointHarness(maxFailures: 2)
        let viaProxy = { (client: String) in
            Self.login + Self.json + "\nX-Forwarded-For: \(client)"
        }
        for _ in 0..<2 {
            _ = try h.one(viaProxy("203.0.113.5"), body: Self.credentials("alice", "wrong"), peer: "10.1.2.3:4000",
                          trusted: true)
        }
        #expect(try h.one(viaProxy("203.0.113.5"), body: Self.credentials("bob", "x"), peer: "10.1.2.3:4000",
                          trusted: true).status == 429, "that client is over its limit")
        #expect(try h.one(viaProxy("203.0.113.6"), body: Self.credentials("bob", EndpointHarness.password),
                          peer: "10.1.2.3:4000", trusted: true).status == 200, "another client behind the same proxy")
        // An untrusted peer's X-Forwarded-For is ignored: it is counted itself.
        #expect(try h.one(viaProxy("203.0.113.9"), body: Self.credentials("bob", EndpointHarness.password),
                          peer: "203.0.113.5:1").status == 429)
    }

    @Test("a full hashing queue answers 503 Retry-After 1; a check that waited too long answers 503 too")
    func loginHashingBusy() throws {
        let h = EndpointHarness()
        h.hashing = .full
        let full = try h.one(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password))
        #expect(full.status == 503)
        #expect(full.header("Retry-After") == "1")
        #expect(full.error == "login-pool-full")
        h.hashing = .expired
        let expired = try h.one(Self.login + Self.form, body: "username=alice&password=correct+horse")
        #expect(expired.status == 503)
        #expect(expired.header("Retry-After") == "7", "the pool's queue wait")
        #expect(expired.error == "login-queue-timeout")
        #expect(expired.text.contains(SignInEndpoints.busyMessage), "a person gets the page back")
        #expect(h.store.sessionCount == 0)
    }

    @Test("the answer comes when the hash does, exactly once")
    func loginAnswersWhenTheHashIsDone() throws {
        let h = EndpointHarness()
        h.hashing = .held
        let now = try h.send(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password))
        #expect(now.isEmpty, "nothing before the hash")
        #expect(h.heldChecks.count == 1)
        h.runHeldChecks()
        #expect(h.lastAnswers.all.count == 1)
        #expect(h.lastAnswers.all.first?.status == 200)
    }

    @Test("a sign-in presenting a session cookie ends that session first (no fixation)")
    func loginEndsThePresentedSession() throws {
        let h = EndpointHarness()
        let old = try h.signIn("bob")
        let oldKey = try #require(Secrets.key(ofPresented: Array(old.utf8)[...]))
        h.clearEvents()
        let new = try h.signIn("alice", extraHeaders: "\nCookie: gh_session=\(old)")
        #expect(new != old)
        guard case .absent = h.store.lookup(oldKey, now: h.now) else {
            Issue.record("the presented session outlived the sign-in")
            return
        }
        #expect(h.events == [.signOut, .signIn])
    }

    @Test("cross-site sign-ins are refused (Sec-Fetch-Site, a foreign Origin); same-origin ones pass")
    func loginCrossSite() throws {
        let h = EndpointHarness()
        let body = Self.credentials("alice", EndpointHarness.password)
        for header in ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site", "Origin: https://evil.test",
                       "Origin: null"] {
            let answer = try h.one(Self.login + Self.json + "\n" + header, body: body)
            #expect(answer.status == 403, "\(header)")
            #expect(answer.string("error") == "cross_site_request")
            #expect(answer.error == "cross-site-login")
        }
        #expect(h.store.sessionCount == 0)
        for header in ["Sec-Fetch-Site: same-origin", "Sec-Fetch-Site: none", "Origin: http://app.test"] {
            #expect(try h.one(Self.login + Self.json + "\n" + header, body: body).status == 200, "\(header)")
        }
    }

    @Test("Secure on the cookie: over TLS, or when a trusted proxy says https; never on an untrusted peer's word")
    func secureCookie() throws {
        let h = EndpointHarness()
        let body = Self.credentials("alice", EndpointHarness.password)
        let tls = try h.one(Self.login + Self.json, body: body, tls: true)
        #expect(tls.header("Set-Cookie")?.contains("; Secure") == true)
        let proxied = try h.one(Self.login + Self.json + "\nX-Forwarded-Proto: https", body: body, peer: "10.0.0.1:1",
                                trusted: true)
        #expect(proxied.header("Set-Cookie")?.contains("; Secure") == true)
        let claimed = try h.one(Self.login + Self.json + "\nX-Forwarded-Proto: https", body: body)
        #expect(claimed.header("Set-Cookie")?.contains("; Secure") == false)
    }

    @Test("max_per_user: a sign-in past the limit ends the oldest session")
    func maxPerUser() throws {
        let h = EndpointHarness(maxPerUser: 2)
        let first = try h.signIn()
        h.now += 1
        _ = try h.signIn()
        h.now += 1
        _ = try h.signIn()
        let key = try #require(Secrets.key(ofPresented: Array(first.utf8)[...]))
        guard case .absent = h.store.lookup(key, now: h.now) else {
            Issue.record("the oldest session survived")
            return
        }
        var listed: [SessionRecord] = []
        h.store.sessions(of: "alice", now: h.now) { listed = (try? $0.get()) ?? [] }
        #expect(listed.count == 2)
    }

    @Test("the login page: HTML under a strict CSP, rd kept only when it is a local path")
    func loginPage() throws {
        let h = EndpointHarness()
        let page = try h.one("GET /.gatehouse/login?rd=%2Fdocs HTTP/1.1\nHost: app.test")
        #expect(page.status == 200)
        #expect(page.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
        #expect(page.header("X-Frame-Options") == "DENY")
        #expect(page.text.contains(#"name="rd" value="/docs""#))
        let evil = try h.one("GET /.gatehouse/login?rd=%2F%2Fevil.test HTTP/1.1\nHost: app.test")
        #expect(!evil.text.contains("evil.test"))
        let wrongMethod = try h.one("PUT /.gatehouse/login HTTP/1.1\nHost: app.test")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.header("Allow") == "GET, HEAD, POST")
    }

    @Test("without login.users_file every endpoint under the prefix is 404, never forwarded")
    func notConfigured() throws {
        let h = EndpointHarness()
        h.signsIn = false
        for head in ["GET /.gatehouse/login HTTP/1.1", "POST /.gatehouse/logout HTTP/1.1",
                     "GET /.gatehouse/anything HTTP/1.1"] {
            let answer = try h.one(head + "\nHost: app.test")
            #expect(answer.status == 404, "\(head)")
            #expect(answer.error == "sign-in-not-configured")
        }
        // The JWKS is published whenever the gateway signs (an assertion key needs no sign-in); here it signs nothing.
        let jwks = try h.one("GET /.gatehouse/jwks.json HTTP/1.1\nHost: app.test")
        #expect(jwks.status == 404)
        #expect(jwks.error == "no-signing-key")
    }

    // MARK: Logout

    @Test("logout ends the session and clears the cookie (204; a form gets 303 to the login page)")
    func logout() throws {
        let h = EndpointHarness()
        let cookie = try h.signIn()
        let key = try #require(Secrets.key(ofPresented: Array(cookie.utf8)[...]))
        h.clearEvents()
        let answer = try h.one("POST /.gatehouse/logout HTTP/1.1\nHost: app.test\nCookie: gh_session=\(cookie)")
        #expect(answer.status == 204)
        #expect(answer.header("Set-Cookie")?.hasPrefix("gh_session=;") == true)
        #expect(answer.header("Set-Cookie")?.hasSuffix("Max-Age=0") == true)
        guard case .absent = h.store.lookup(key, now: h.now) else {
            Issue.record("the session outlived its logout")
            return
        }
        #expect(h.events == [.signOut])

        let again = try h.one("POST /.gatehouse/logout HTTP/1.1\nHost: app.test\nCookie: gh_session=\(cookie)" + Self.form)
        #expect(again.status == 303)
        #expect(again.header("Location") == "/.gatehouse/login")
        #expect(h.events == [.signOut], "an unknown session is no sign-out")
    }

    @Test("a cross-site logout is refused and the session lives on")
    func logoutCrossSite() throws {
        let h = EndpointHarness()
        let cookie = try h.signIn()
        let answer = try h.one("POST /.gatehouse/logout HTTP/1.1\nHost: app.test\nCookie: gh_session=\(cookie)"
                               + "\nSec-Fetch-Site: cross-site")
        #expect(answer.status == 403)
        #expect(answer.error == "cross-site-logout")
        #expect(h.store.sessionCount == 1)
    }

    @Test("a store that cannot answer: logout is 503 and never clears the cookie")
    func logoutStoreDown() throws {
        let h = EndpointHarness()
        let cookie = try h.signIn()
        h.store.failure = StoreError("unreachable")
        let answer = try h.one("POST /.gatehouse/logout HTTP/1.1\nHost: app.test\nCookie: gh_session=\(cookie)")
        #expect(answer.status == 503)
        #expect(answer.header("Retry-After") == "1")
        #expect(answer.header("Set-Cookie") == nil)
        #expect(answer.error == "session-store-unreachable")
    }

    @Test("a store that answers later (a remote one): the logout is answered then, once")
    func logoutAnswersWhenTheStoreDoes() throws {
        let h = EndpointHarness()
        let cookie = try h.signIn()
        h.store.deliversLater = true
        let now = try h.send("POST /.gatehouse/logout HTTP/1.1\nHost: app.test\nCookie: gh_session=\(cookie)")
        #expect(now.isEmpty)
        #expect(h.store.runPending() == 1)
        #expect(h.lastAnswers.all.map(\.status) == [204])
    }

    // MARK: Devices

    @Test("my sessions: the caller's live sessions, the current one marked; none without a cookie")
    func mySessions() throws {
        let h = EndpointHarness()
        let other = try h.signIn()
        h.now += 5
        let mine = try h.signIn()
        _ = try h.signIn("bob")
        let answer = try h.one("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test\nCookie: gh_session=\(mine)")
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type") == "application/json")
        #expect(!answer.text.contains(mine) && !answer.text.contains(other), "never a secret")
        let sessions = try #require(answer.json["sessions"])
        guard case .array(let list) = sessions else {
            Issue.record("sessions is not an array: \(answer.text)")
            return
        }
        #expect(list.count == 2, "alice's only")
        #expect(answer.text.occurrences(of: #""current":true"#) == 1, "exactly one is current")

        let anonymous = try h.one("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test")
        #expect(anonymous.status == 401)
        #expect(anonymous.error == "no-credential")
        let unknown = try h.one("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test\nCookie: gh_session=\(String(repeating: "A", count: 43))")
        #expect(unknown.status == 401)
    }

    @Test("deleting a device: another one's handle ends it (204); my own also clears my cookie; unknown: 404")
    func deleteMySession() throws {
        let h = EndpointHarness()
        let first = try h.signIn()
        let second = try h.signIn()
        var listed: [SessionRecord] = []
        h.store.sessions(of: "alice", now: h.now) { listed = (try? $0.get()) ?? [] }
        let firstKey = try #require(Secrets.key(ofPresented: Array(first.utf8)[...]))
        let firstHandle = try #require(listed.first { $0.key == firstKey }?.handle)
        let secondHandle = try #require(listed.first { $0.key != firstKey }?.handle)
        let head = { (handle: String, cookie: String) in
            "DELETE /.gatehouse/sessions/\(handle) HTTP/1.1\nHost: app.test\nCookie: gh_session=\(cookie)"
        }
        let crossSite = try h.one(head(firstHandle, second) + "\nSec-Fetch-Site: cross-site")
        #expect(crossSite.status == 403)
        #expect(crossSite.error == "cross-site-revoke")
        h.clearEvents()

        let other = try h.one(head(firstHandle, second))
        #expect(other.status == 204)
        #expect(other.header("Set-Cookie") == nil)
        #expect(h.events == [.signOut])
        #expect(try h.one(head(firstHandle, second)).status == 404, "already gone")

        let bobs = try h.signIn("bob")
        #expect(try h.one(head(secondHandle, bobs)).status == 404, "bob cannot end alice's session")

        let own = try h.one(head(secondHandle, second))
        #expect(own.status == 204)
        #expect(own.header("Set-Cookie")?.contains("Max-Age=0") == true)
        #expect(try h.one("DELETE /.gatehouse/sessions/not-a-handle HTTP/1.1\nHost: app.test").status == 404)
    }

    @Test("with a remote store's unknown-cookie limit reached: 429 without a lookup")
    func unknownCookieLimit() throws {
        let h = EndpointHarness()
        h.unknownCookies = UnknownCookieLimiter(limit: 2, window: .seconds(60))
        h.store.deliversLater = true  // lookups go to the (remote) store
        for i in 0..<2 {
            _ = try h.send("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test\nCookie: gh_session=\(String(repeating: "B", count: 42))\(["A", "Q"][i])")
            h.store.runPending()
            #expect(h.lastAnswers.all.map(\.status) == [401])
        }
        let limited = try h.one("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test\nCookie: gh_session=\(String(repeating: "C", count: 42))A")
        #expect(limited.status == 429)
        #expect(limited.error == "session-unknown-cookie-limit")
        #expect(h.store.pendingCount == 0, "no lookup was made")
    }

    // MARK: Token mode

    static func refresh(_ token: String) -> String { #"{"refresh_token":"\#(token)"}"# }
    static let refreshHead = "POST /.gatehouse/token/refresh HTTP/1.1\nHost: app.test" + json

    @Test("token mode: sign-in gives an access JWT and a refresh token; refresh rotates; reuse revokes the session")
    func refreshRotationAndReuse() throws {
        let h = EndpointHarness(mode: .token)
        let signedIn = try h.one(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password))
        #expect(signedIn.status == 200)
        #expect(signedIn.header("Set-Cookie") == nil)
        #expect(signedIn.string("token_type") == "Bearer")
        let access = try #require(signedIn.string("access_token"))
        let first = try #require(signedIn.string("refresh_token"))
        #expect(access.split(separator: ".").count == 3)

        let rotated = try h.one(Self.refreshHead, body: Self.refresh(first))
        #expect(rotated.status == 200)
        let second = try #require(rotated.string("refresh_token"))
        #expect(second != first)
        #expect(rotated.string("access_token") != nil)

        h.clearEvents()
        let replay = try h.one(Self.refreshHead, body: Self.refresh(first))
        #expect(replay.status == 401)
        #expect(replay.string("error") == "invalid_grant")
        #expect(replay.error == "refresh-reused")
        #expect(h.events == [.refreshReuse])
        let afterReuse = try h.one(Self.refreshHead, body: Self.refresh(second))
        #expect(afterReuse.status == 401, "the whole session went")
        #expect(afterReuse.error == "refresh-unknown")

        // Its access token is revoked with it: the device list no longer knows the caller.
        let devices = try h.one("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test\nAuthorization: Bearer \(access)")
        #expect(devices.status == 401)
        #expect(devices.header("WWW-Authenticate") == "Bearer realm=\"gatehouse\"")
    }

    @Test("token mode: the access token names the caller for the device list and logout")
    func tokenModeCaller() throws {
        let h = EndpointHarness(mode: .token)
        let signedIn = try h.one(Self.login + Self.json, body: Self.credentials("alice", EndpointHarness.password))
        let access = try #require(signedIn.string("access_token"))
        let bearer = "\nAuthorization: Bearer \(access)"
        let devices = try h.one("GET /.gatehouse/sessions HTTP/1.1\nHost: app.test" + bearer)
        #expect(devices.status == 200)
        #expect(devices.text.contains(#""kind":"token""#))
        let logout = try h.one("POST /.gatehouse/logout HTTP/1.1\nHost: app.test" + bearer)
        #expect(logout.status == 204)
        #expect(logout.header("Set-Cookie") == nil, "no cookie in token mode")
        #expect(h.store.sessionCount == 0)
        #expect(try h.one("POST /.gatehouse/logout HTTP/1.1\nHost: app.test").status == 401)
    }

    @Test("refresh: a missing, malformed or unknown token is refused; session mode has no refresh")
    func refreshRefusals() throws {
        let h = EndpointHarness(mode: .token)
        #expect(try h.one(Self.refreshHead, body: "{}").error == "refresh-no-token")
        #expect(try h.one(Self.refreshHead, body: Self.refresh("short")).error == "refresh-malformed")
        let unknown = try h.one(Self.refreshHead, body: Self.refresh(String(repeating: "A", count: 43)))
        #expect(unknown.status == 401)
        #expect(unknown.error == "refresh-unknown")

        let sessions = EndpointHarness()
        #expect(try sessions.one(Self.refreshHead, body: Self.refresh("x")).error == "refresh-in-session-mode")
    }

    @Test("JWKS: the signing key's public half, cacheable; 404 without a signing key")
    func jwks() throws {
        let h = EndpointHarness(mode: .token)
        let answer = try h.one("GET /.gatehouse/jwks.json HTTP/1.1\nHost: app.test")
        #expect(answer.status == 200)
        #expect(answer.header("Cache-Control") == "public, max-age=300")
        #expect(answer.text.contains(#""kid":"test-key""#))
        #expect(answer.text.contains(#""kty":"EC""#))
        #expect(!answer.text.contains(#""d":"#), "never the private key")
        let none = try EndpointHarness().one("GET /.gatehouse/jwks.json HTTP/1.1\nHost: app.test")
        #expect(none.status == 404)
        #expect(none.error == "no-signing-key")
    }
}
