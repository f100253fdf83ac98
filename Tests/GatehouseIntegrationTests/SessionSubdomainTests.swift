import Foundation
import GatehouseTestSupport
import Testing

/// `sessions.cookie.domain` (issue 12 part 6): one sign-in shared by the hosts below a domain, and `rd` on them.
/// Host headers are sent raw to the gateway on loopback (no DNS).
@Suite("Sessions: sign-in shared across subdomains")
struct SessionSubdomainTests {
    static let routes = """
          - name: wiki
            match: { host: wiki.example.com, path_prefix: / }
            upstream: app
            accept: [session]
            unauthenticated: status
          - name: apphost
            match: { host: app.example.com, path_prefix: /home }
            upstream: app
            accept: [session]
            unauthenticated: status
        """

    static func gateway() throws -> SessionGateway {
        try SessionFixture.gateway(sessions: "cookie: { domain: example.com }", extraRoutes: routes)
    }

    static func form(_ fields: [(String, String)]) -> String {
        fields.map { "\($0.0)=\(SessionGateway.formEncode($0.1))" }.joined(separator: "&")
    }

    static func signIn(_ gw: SessionGateway, host: String, rd: String) throws -> RawResponse {
        let body = form([("username", "alice"), ("password", SessionFixture.alicePassword), ("rd", rd)])
        return try gw.send("POST /.gatehouse/login HTTP/1.1\r\nHost: \(host)\r\n"
                           + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
                           + "\r\n" + body)
    }

    @Test("sign in on app.example.com with rd on wiki.example.com: 303 there, cookie with Domain, wiki lets it in")
    func sharedAcrossSubdomains() throws {
        let gw = try Self.gateway()
        let response = try Self.signIn(gw, host: "app.example.com", rd: "https://wiki.example.com/page")
        #expect(response.status == 303, "\(response.status) \(response.bodyText)")
        #expect(response.header("Location") == "https://wiki.example.com/page")
        let setCookie = try #require(response.header("Set-Cookie"))
        #expect(setCookie.hasSuffix("; Domain=example.com"), "\(setCookie)")
        #expect(setCookie.contains("; Path=/; HttpOnly; SameSite=Lax"), "\(setCookie)")
        let cookie = try #require(SessionGateway.cookie(of: response))
        let wiki = try gw.send("GET /page HTTP/1.1\r\nHost: wiki.example.com\r\nCookie: \(cookie)\r\n\r\n")
        #expect(wiki.status == 200, "\(wiki.status) \(wiki.bodyText)")
        let echoed = Dictionary(wiki.echoedHeaders, uniquingKeysWith: { a, _ in a })
        #expect(echoed["Host"] == "wiki.example.com")
        #expect(echoed["X-Auth-User"] == "alice")
        #expect(echoed["X-Auth-Email"] == "alice@example.com")
        #expect(echoed["Cookie"] == nil, "the session cookie is not forwarded")
        // The same cookie on the other host's route; without it, 401.
        let home = try gw.send("GET /home HTTP/1.1\r\nHost: app.example.com\r\nCookie: \(cookie)\r\n\r\n")
        #expect(home.status == 200)
        let anonymous = try gw.send("GET /page HTTP/1.1\r\nHost: wiki.example.com\r\n\r\n")
        #expect(anonymous.status == 401)
    }

    @Test("a login page on another host of the domain: the 302's rd names the original host, and leads back there")
    func centralLoginHost() throws {
        let routes = Self.routes.replacingOccurrences(of: "unauthenticated: status", with: "unauthenticated: login")
        let gw = try SessionFixture.gateway(login: "url: \"http://auth.example.com/.gatehouse/login\"",
                                            sessions: "cookie: { domain: example.com }", extraRoutes: routes)
        let anonymous = try gw.send("GET /page?x=1 HTTP/1.1\r\nHost: wiki.example.com\r\nAccept: text/html\r\n\r\n")
        #expect(anonymous.status == 302)
        let location = try #require(anonymous.header("Location"))
        #expect(location == "http://auth.example.com/.gatehouse/login?rd=http%3A//wiki.example.com/page%3Fx%3D1")
        let rd = try #require(location.components(separatedBy: "rd=").last?.removingPercentEncoding)
        let signedIn = try Self.signIn(gw, host: "auth.example.com", rd: rd)
        #expect(signedIn.header("Location") == "http://wiki.example.com/page?x=1")
        let cookie = try #require(SessionGateway.cookie(of: signedIn))
        let wiki = try gw.send("GET /page?x=1 HTTP/1.1\r\nHost: wiki.example.com\r\nCookie: \(cookie)\r\n\r\n")
        #expect(wiki.status == 200)
        // Behind a trusted TLS terminator the rd says https (trusted_proxies has loopback here).
        let tlsGW = try SessionFixture.gateway(login: "url: \"https://auth.example.com/.gatehouse/login\"",
                                               sessions: "cookie: { domain: example.com }", extraRoutes: routes,
                                               server: "trusted_proxies: [127.0.0.1/32]")
        let viaProxy = try tlsGW.send("GET /page HTTP/1.1\r\nHost: wiki.example.com\r\nAccept: text/html\r\n"
                                      + "X-Forwarded-Proto: https\r\n\r\n")
        #expect(viaProxy.header("Location") == "https://auth.example.com/.gatehouse/login?rd=https%3A//wiki.example.com/page")
        // Without a cookie domain the rd stays a path, as before.
        let plain = try SessionFixture.gateway(login: "url: \"http://auth.example.com/.gatehouse/login\"", extraRoutes: routes)
        let path = try plain.send("GET /page HTTP/1.1\r\nHost: wiki.example.com\r\nAccept: text/html\r\n\r\n")
        #expect(path.header("Location") == "http://auth.example.com/.gatehouse/login?rd=/page")
    }

    @Test("an rd off the domain (or hostile) is ignored: the account page, as without a domain")
    func offDomainIgnored() throws {
        let gw = try Self.gateway()
        for rd in ["https://evil.com/", "https://example.com.evil.com/", "https://evilexample.com/", "//evil.com",
                   "https://user@evil.com/", "https://wiki.example.com@evil.com/", "https:\\\\evil.com",
                   "/\\evil.com", "https://wiki.example.com/x\r\nSet-Cookie: a=b", "https://wiki.example.com:9/x"] {
            let response = try Self.signIn(gw, host: "app.example.com", rd: rd)
            #expect(response.status == 303, "\(rd.debugDescription): \(response.status)")
            #expect(response.header("Location") == "/.gatehouse/account", "\(rd.debugDescription)")
        }
        // http:// is allowed only while the cookie is not Secure: over plain HTTP with secure: auto it is not.
        let plain = try Self.signIn(gw, host: "app.example.com", rd: "http://wiki.example.com/p")
        #expect(plain.header("Location") == "http://wiki.example.com/p")
        // Behind a trusted TLS terminator the cookie is Secure: http:// is refused.
    }

    @Test("http:// rd is refused when the cookie is Secure (secure: true)")
    func secureRefusesHTTP() throws {
        let gw = try SessionFixture.gateway(sessions: "cookie: { domain: example.com, secure: true }",
                                            extraRoutes: Self.routes)
        let refused = try Self.signIn(gw, host: "app.example.com", rd: "http://wiki.example.com/p")
        #expect(refused.header("Location") == "/.gatehouse/account")
        let allowed = try Self.signIn(gw, host: "app.example.com", rd: "https://wiki.example.com/p")
        #expect(allowed.header("Location") == "https://wiki.example.com/p")
        #expect(allowed.header("Set-Cookie")?.contains("; Secure; ") == true)
    }

    @Test("logout on wiki.example.com clears the Domain cookie and follows an rd on the domain")
    func logoutAcrossSubdomains() throws {
        let gw = try Self.gateway()
        let cookie = try #require(SessionGateway.cookie(of: try Self.signIn(gw, host: "app.example.com", rd: "/")))
        let body = Self.form([("rd", "https://app.example.com/bye")])
        let logout = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: wiki.example.com\r\nCookie: \(cookie)\r\n"
                                 + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)"
                                 + "\r\n\r\n" + body)
        #expect(logout.status == 303, "\(logout.status) \(logout.bodyText)")
        #expect(logout.header("Location") == "https://app.example.com/bye")
        let clear = try #require(logout.header("Set-Cookie"))
        #expect(clear.hasPrefix("gatehouse_session=;") && clear.contains("Max-Age=0"), "\(clear)")
        #expect(clear.hasSuffix("; Domain=example.com"), "a cleared cookie must name the same Domain: \(clear)")
        let after = try gw.send("GET /home HTTP/1.1\r\nHost: app.example.com\r\nCookie: \(cookie)\r\n\r\n")
        #expect(after.status == 401)
        // An off-site rd on logout: the login page, as before.
        let cookie2 = try #require(SessionGateway.cookie(of: try Self.signIn(gw, host: "app.example.com", rd: "/")))
        let evil = Self.form([("rd", "https://evil.com/")])
        let second = try gw.send("POST /.gatehouse/logout HTTP/1.1\r\nHost: wiki.example.com\r\nCookie: \(cookie2)\r\n"
                                 + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(evil.utf8.count)"
                                 + "\r\n\r\n" + evil)
        #expect(second.header("Location") == "/.gatehouse/login")
    }
}
