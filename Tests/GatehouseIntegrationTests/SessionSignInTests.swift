import Foundation
import GatehouseTestSupport
import Testing

@Suite("Sessions: sign-in, cookies, logout, devices (embedded store)")
struct SessionSignInTests {
    @Test("a form sign-in sets a hardened cookie with a fresh 256-bit ID and follows a safe rd")
    func signInSetsHardenedCookie() throws {
        let gw = try SessionFixture.gateway()
        let response = try gw.signIn("alice", SessionFixture.alicePassword, rd: "/app/page?x=1")
        #expect(response.status == 303, "\(response.status) \(response.bodyText)")
        #expect(response.header("Location") == "/app/page?x=1")
        let setCookie = try #require(response.header("Set-Cookie"))
        let parts = setCookie.components(separatedBy: "; ")
        let value = try #require(parts.first?.split(separator: "=", maxSplits: 1).last)
        #expect(parts.first?.hasPrefix("gatehouse_session=") == true)
        #expect(value.count == 43, "256 bits in unpadded base64url are 43 characters, got \(value)")
        #expect(parts.contains("Path=/"))
        #expect(parts.contains("HttpOnly"))
        #expect(parts.contains("SameSite=Lax"))
        #expect(parts.contains("Max-Age=43200"), "absolute_ttl 12h by default: \(setCookie)")
        #expect(!parts.contains("Secure"), "plain HTTP with secure: auto: \(setCookie)")
        #expect(response.header("Cache-Control") == "no-store")
        // A second sign-in gets another ID.
        let second = try #require(SessionGateway.cookie(of: try gw.signIn("alice", SessionFixture.alicePassword)))
        #expect(second != parts.first)
    }

    @Test("__Host- cookie, secure: true and SameSite=Strict are honoured")
    func hostPrefixedSecureCookie() throws {
        let gw = try SessionFixture.gateway(sessions: "cookie: { name: __Host-gh, secure: true, same_site: strict }")
        let response = try gw.signIn("alice", SessionFixture.alicePassword)
        let setCookie = try #require(response.header("Set-Cookie"))
        #expect(setCookie.hasPrefix("__Host-gh="))
        #expect(setCookie.contains("; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age="), "\(setCookie)")
        #expect(!setCookie.contains("Domain"))
        let cookie = try #require(SessionGateway.cookie(of: response, name: "__Host-gh"))
        let app = try gw.get("/app/x", headers: "Cookie: \(cookie)\r\n")
        #expect(app.status == 200)
    }

    @Test("the cookie authenticates: identity headers reach the upstream, the session cookie does not")
    func cookieInjectsIdentity() throws {
        let gw = try SessionFixture.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        let response = try gw.get("/app/data", headers: "Cookie: theme=dark; \(cookie); lang=en\r\nX-Auth-User: mallory\r\n")
        #expect(response.status == 200, "\(response.status) \(response.bodyText)")
        let echoed = response.echoedHeaders.map { "\($0.0): \($0.1)" }
        #expect(echoed == [
            "Host: gw.test", "Cookie: theme=dark; lang=en", "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http",
            "X-Forwarded-Host: gw.test", "X-Real-IP: 127.0.0.1", "X-Auth-User: alice",
            "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff,admins",
        ])
    }

    @Test("yescrypt hashes from mkpasswd sign in too")
    func yescryptUser() throws {
        let gw = try SessionFixture.gateway()
        let response = try gw.signIn("bob", SessionFixture.bobPassword)
        #expect(response.status == 303)
        let cookie = try #require(SessionGateway.cookie(of: response))
        let app = try gw.get("/app/", headers: "Cookie: \(cookie)\r\n")
        #expect(app.echoedHeaders.contains { $0 == ("X-Auth-User", "bob") })
    }

    @Test("a wrong password, an unknown user and a disabled user get 401 and no cookie")
    func wrongCredentials() throws {
        let gw = try SessionFixture.gateway()
        for (user, password) in [("alice", "wrong"), ("nobody", "whatever"), ("carol", "carol-pass")] {
            let form = try gw.signIn(user, password)
            #expect(form.status == 401, "\(user): \(form.status)")
            #expect(form.header("Set-Cookie") == nil)
            #expect(form.bodyText.contains("Wrong user name or password."))
            #expect(!form.bodyText.contains(password), "the page must not echo the password")
            let json = try gw.signInJSON(user, password)
            #expect(json.status == 401)
            #expect(json.header("Set-Cookie") == nil)
            #expect(json.bodyText.contains("\"error\":\"invalid_credentials\""))
        }
        #expect(!gw.gateway.gateway.stdout.contains(SessionFixture.alicePassword))
    }

    @Test("a 72-byte bcrypt password signs in; the same 72 bytes plus anything do not")
    func bcryptPrefixDoesNotSignIn() throws {
        let password = String(repeating: "0123456789ab", count: 6)  // 72 bytes: all that bcrypt reads
        let users = try SessionFixture.usersFile() + SessionGateway.user("dave", hash: try IndependentHash.bcrypt(password))
        let gw = try SessionFixture.gateway(extraFiles: ["users.yaml": users])
        for extra in ["x", "-and-a-longer-tail"] {
            let refused = try gw.signIn("dave", password + extra)
            #expect(refused.status == 401, "\(extra): \(refused.status)")
            #expect(refused.header("Set-Cookie") == nil)
        }
        #expect(try gw.signIn("dave", password).status == 303)
    }

    @Test("logout deletes the session and clears the cookie; the old cookie is then useless")
    func logout() throws {
        let gw = try SessionFixture.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200)
        let response = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\n"
                                   + "Sec-Fetch-Site: same-origin\r\nContent-Length: 0\r\n\r\n")
        #expect(response.status == 204)
        let cleared = try #require(response.header("Set-Cookie"))
        #expect(cleared.hasPrefix("gatehouse_session=;") && cleared.contains("Max-Age=0"))
        let after = try gw.get("/app/", headers: "Cookie: \(cookie)\r\n")
        #expect(after.status == 401)
        let browser = try gw.get("/app/x?y=1", headers: "Cookie: \(cookie)\r\nAccept: text/html\r\n")
        #expect(browser.status == 302)
        #expect(browser.header("Location") == "/.gatehouse/login?rd=/app/x%3Fy%3D1")
    }

    @Test("a cross-site logout or device revocation is refused and the session stays")
    func crossSiteRefused() throws {
        let gw = try SessionFixture.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        for header in ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Site: same-site", "Origin: http://evil.example",
                       "Origin: null"] {
            let response = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\n"
                                       + "\(header)\r\nContent-Length: 0\r\n\r\n")
            #expect(response.status == 403, "\(header): \(response.status)")
            #expect(response.header("Set-Cookie") == nil)
        }
        let handle = try #require(try SessionFixture.sessions(gw, cookie: cookie).first?["handle"] as? String)
        let revoke = try gw.send("DELETE /.gatehouse/sessions/\(handle) HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\n"
                                 + "Origin: https://evil.example\r\n\r\n")
        #expect(revoke.status == 403)
        #expect(try gw.get("/app/", headers: "Cookie: \(cookie)\r\n").status == 200, "the session must survive")
        // Same origin passes.
        let same = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(cookie)\r\n"
                               + "Origin: http://gw.test\r\nContent-Length: 0\r\n\r\n")
        #expect(same.status == 204)
    }

    @Test("two sign-ins are two devices; revoking one leaves the other")
    func devices() throws {
        let gw = try SessionFixture.gateway()
        let laptop = try SessionFixture.aliceCookie(gw, userAgent: "laptop-browser")
        let phone = try SessionFixture.aliceCookie(gw, userAgent: "phone-browser")
        let list = try SessionFixture.sessions(gw, cookie: phone)
        #expect(list.count == 2)
        #expect(Set(list.compactMap { $0["user_agent"] as? String }) == ["laptop-browser", "phone-browser"])
        #expect(list.filter { $0["current"] as? Bool == true }.count == 1)
        let current = try #require(list.first { $0["current"] as? Bool == true })
        #expect(current["user_agent"] as? String == "phone-browser")
        #expect(list.allSatisfy { ($0["handle"] as? String)?.count == 22 && $0["address"] as? String == "127.0.0.1" })
        for secret in [laptop, phone] {
            let value = String(secret.split(separator: "=")[1])
            #expect(!(try gw.get("/.gatehouse/sessions", headers: "Cookie: \(phone)\r\n").bodyText.contains(value)),
                    "the list must not contain a session ID")
        }
        let laptopHandle = try #require(list.first { $0["current"] as? Bool == false }?["handle"] as? String)
        let revoke = try gw.send("DELETE /.gatehouse/sessions/\(laptopHandle) HTTP/1.1\r\nHost: gw.test\r\n"
                                 + "Cookie: \(phone)\r\n\r\n")
        #expect(revoke.status == 204)
        #expect(try gw.get("/app/", headers: "Cookie: \(laptop)\r\n").status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(phone)\r\n").status == 200)
        #expect(try SessionFixture.sessions(gw, cookie: phone).count == 1)
        // Someone else's handle, or a made-up one, is not found.
        let bob = try #require(SessionGateway.cookie(of: try gw.signIn("bob", SessionFixture.bobPassword)))
        let bobHandle = try #require(try SessionFixture.sessions(gw, cookie: bob).first?["handle"] as? String)
        let foreign = try gw.send("DELETE /.gatehouse/sessions/\(bobHandle) HTTP/1.1\r\nHost: gw.test\r\n"
                                  + "Cookie: \(phone)\r\n\r\n")
        #expect(foreign.status == 404)
        #expect(try gw.get("/app/", headers: "Cookie: \(bob)\r\n").status == 200)
    }

    @Test("max_per_user signs the oldest session out")
    func maxPerUser() throws {
        let gw = try SessionFixture.gateway(sessions: "max_per_user: 2")
        let first = try SessionFixture.aliceCookie(gw)
        let second = try SessionFixture.aliceCookie(gw)
        let third = try SessionFixture.aliceCookie(gw)
        #expect(try gw.get("/app/", headers: "Cookie: \(first)\r\n").status == 401)
        #expect(try gw.get("/app/", headers: "Cookie: \(second)\r\n").status == 200)
        #expect(try gw.get("/app/", headers: "Cookie: \(third)\r\n").status == 200)
        #expect(try SessionFixture.sessions(gw, cookie: third).count == 2)
    }

    @Test("sessions survive a restart of the gateway")
    func surviveRestart() throws {
        let gw = try SessionFixture.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        let revoked = try SessionFixture.aliceCookie(gw)
        _ = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: gw.test\r\nCookie: \(revoked)\r\nContent-Length: 0\r\n\r\n")
        try gw.restart()
        let response = try gw.get("/app/", headers: "Cookie: \(cookie)\r\n")
        #expect(response.status == 200, "\(response.status)\n\(gw.auth.diagnostics)")
        #expect(response.echoedHeaders.contains { $0 == ("X-Auth-User", "alice") })
        #expect(try gw.get("/app/", headers: "Cookie: \(revoked)\r\n").status == 401)
    }

    @Test("failed sign-ins are throttled per address and per user: 429 with Retry-After")
    func rateLimit() throws {
        let gw = try SessionFixture.gateway(login: "rate_limit: { failures: 3, window: 1m }")
        for _ in 0..<3 { #expect(try gw.signIn("alice", "wrong").status == 401) }
        let blocked = try gw.signIn("alice", SessionFixture.alicePassword)
        #expect(blocked.status == 429, "even the right password waits: \(blocked.status)")
        let retry = try #require(blocked.header("Retry-After").flatMap { Int($0) })
        #expect(retry >= 1 && retry <= 60)
        #expect(blocked.header("Set-Cookie") == nil)
        // A person at the form sees the login page again, saying why and how long (not a JSON document).
        #expect(blocked.header("Content-Type")?.hasPrefix("text/html") == true)
        #expect(blocked.bodyText.contains("Too many failed sign-ins. Try again in "))
        #expect(blocked.bodyText.contains("<form"))
        // The address is blocked too, for any user; an API client gets the JSON error with the same Retry-After.
        #expect(try gw.signIn("bob", SessionFixture.bobPassword).status == 429)
        let api = try gw.signInJSON("bob", SessionFixture.bobPassword)
        #expect(api.status == 429)
        #expect(api.json?["error"] as? String == "too_many_attempts")
        #expect(api.header("Retry-After") != nil)
    }

    @Test("rd is followed only to a path on this site (no open redirect)")
    func openRedirectRefused() throws {
        let gw = try SessionFixture.gateway()
        // An unusable rd lands on the account page (issue 14).
        let home = "/.gatehouse/account"
        for (rd, expected) in [
            ("//evil.example/x", home), ("https://evil.example/", home), ("/\\evil.example", home),
            ("javascript:alert(1)", home), ("/app/ok?x=1#y", "/app/ok?x=1#y"),
            ("/%2F%2Fevil.example", "/%2F%2Fevil.example"), ("\t//evil.example", home),
        ] {
            let response = try gw.signIn("alice", SessionFixture.alicePassword, rd: rd)
            #expect(response.status == 303)
            #expect(response.header("Location") == expected, "rd \(rd) -> \(response.header("Location") ?? "-")")
        }
    }

    @Test("two session cookies with the gateway's name are unauthenticated")
    func duplicateCookie() throws {
        let gw = try SessionFixture.gateway()
        let cookie = try SessionFixture.aliceCookie(gw)
        let response = try gw.get("/app/", headers: "Cookie: \(cookie)\r\nCookie: gatehouse_session=AAAA\r\n")
        #expect(response.status == 401)
        #expect(gw.auth.accessLogLine(path: "/app/")?.contains("session-repeated-cookie") == true)
    }

    @Test("the login page is self-contained, framing-proof and escapes rd")
    func loginPage() throws {
        let gw = try SessionFixture.gateway()
        let response = try gw.get("/.gatehouse/login?rd=%2Fapp%2F%22%3E%3Cscript%3E")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/html; charset=utf-8")
        #expect(response.header("X-Frame-Options") == "DENY")
        let csp = try #require(response.header("Content-Security-Policy"))
        #expect(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"))
        let page = response.bodyText
        #expect(page.contains("<form method=\"post\" action=\"/.gatehouse/login\">"))
        #expect(page.contains("value=\"/app/&quot;&gt;&lt;script&gt;\""))
        #expect(!page.contains("<script"), "no script, and rd cannot inject one")
        #expect(!page.contains("src=") && !page.contains("href="), "no external assets")
    }

    @Test("the reserved prefix is never forwarded")
    func reservedPrefix() throws {
        let gw = try SessionFixture.gateway()
        #expect(try gw.get("/.gatehouse/nothing").status == 404)
        #expect(try gw.get("/.gatehouse/jwks.json").status == 404, "session mode has no signing key")
        #expect(try gw.get("/.gatehouse/../.gatehouse/x").status == 404)
        #expect(try gw.send("PUT /.gatehouse/login HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 0\r\n\r\n").status == 405)
        #expect(gw.gateway.echo.stderr.isEmpty || !gw.gateway.echo.stderr.contains(".gatehouse"))
    }
}
