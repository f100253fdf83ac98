import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// `sessions.cookie.domain` at the endpoints (no sockets): the OpenID callback follows an `rd` on the domain, the
/// users-file sign-in and logout too, and every session cookie they set or clear carries `Domain`.
@Suite("Local endpoints: sign-in shared across subdomains (no sockets)")
struct SubdomainEndpointTests {
    static func withDomain(_ harness: EndpointHarness, oidc: OIDCSettings? = nil) -> EndpointHarness {
        let base = harness.snapshot
        var signIn = base.signIn!
        signIn.cookieDomain = "example.com"
        harness.snapshot = ProxySnapshot(
            limits: base.limits, timeouts: base.timeouts, trustedProxies: base.trustedProxies, upstreams: [],
            routes: base.routes, accessLogEnabled: false, signIn: signIn, oidc: oidc ?? base.oidc)
        return harness
    }

    /// The OpenID flow from start (on app.example.com with `rd`) to the callback's answer.
    static func oidcSignIn(rd: String) throws -> Answer {
        let harness = withDomain(OIDCEndpointTests.harness(), oidc: OIDCEndpointTests.oidc())
        let (location, cookie) = try OIDCEndpointTests.start(harness, rd: rd)
        let state = try #require(OIDCEndpointTests.parameter("state", in: location))
        let nonce = try #require(OIDCEndpointTests.parameter("nonce", in: location))
        harness.outbound = { _ in
            .success(HTTPSResponse(status: 200, headers: [], body: Array(
                #"{"token_type":"Bearer","id_token":"\#(OIDCEndpointTests.idToken(nonce: nonce, now: harness.now))"}"#.utf8)))
        }
        return try harness.one("GET /.gatehouse/oidc/callback/corp?code=c0de&state=\(state) HTTP/1.1\n"
                               + "Host: app.example.com\nCookie: gatehouse_oidc=\(cookie)")
    }

    @Test func theOpenIDCallbackFollowsAnRdOnTheDomainWithADomainCookie() throws {
        let answer = try Self.oidcSignIn(rd: "https%3A%2F%2Fwiki.example.com%2Fpage")
        #expect(answer.status == 303, "\(answer.error ?? "")")
        #expect(answer.header("Location") == "https://wiki.example.com/page")
        let cookies = answer.response.headers.filter { $0.0 == "Set-Cookie" }.map(\.1)
        #expect(cookies.contains { $0.hasPrefix("gh_session=") && $0.hasSuffix("; Domain=example.com") }, "\(cookies)")
        // The flow cookie stays host-only: only this host's callback reads it.
        #expect(cookies.contains { $0.hasPrefix("gatehouse_oidc=;") && !$0.contains("Domain") }, "\(cookies)")
    }

    @Test(arguments: ["https%3A%2F%2Fevil.com%2F", "https%3A%2F%2Fexample.com.evil.com%2F", "%2F%2Fevil.com",
                      "https%3A%2F%2Fuser%40evil.com%2F", "https%3A%2F%2Fwiki.example.com%2Fx%0D%0ASet-Cookie%3A%20a"])
    func theOpenIDCallbackIgnoresAnOffDomainRd(_ rd: String) throws {
        let answer = try Self.oidcSignIn(rd: rd)
        #expect(answer.status == 303)
        #expect(answer.header("Location") == "/")
    }

    @Test func usersFileSignInAndLogoutUseTheDomain() throws {
        let harness = Self.withDomain(EndpointHarness())
        let form = "POST /.gatehouse/login HTTP/1.1\nHost: app.example.com\nContent-Type: application/x-www-form-urlencoded"
        let signedIn = try harness.one(form, body: "username=alice&password=correct%20horse&rd=https%3A%2F%2Fwiki.example.com%2F")
        #expect(signedIn.status == 303, "\(signedIn.error ?? "")")
        #expect(signedIn.header("Location") == "https://wiki.example.com/")
        #expect(signedIn.header("Set-Cookie")?.hasSuffix("; Domain=example.com") == true)
        let cookie = try #require(signedIn.cookieValue("gh_session"))
        let logout = try harness.one("POST /.gatehouse/logout HTTP/1.1\nHost: wiki.example.com\nCookie: gh_session=\(cookie)"
                                     + "\nContent-Type: application/x-www-form-urlencoded",
                                     body: "rd=https%3A%2F%2Fexample.com%2Fbye")
        #expect(logout.status == 303)
        #expect(logout.header("Location") == "https://example.com/bye")
        #expect(logout.header("Set-Cookie")?.hasSuffix("Max-Age=0; Domain=example.com") == true)
    }

    @Test func theAccountPagesSignOutFollowsAnRdOnTheDomainAndClearsTheDomainCookie() throws {
        let harness = Self.withDomain(EndpointHarness())
        for (rd, expected) in [("https%3A%2F%2Fwiki.example.com%2Fbye", "https://wiki.example.com/bye"),
                               ("https%3A%2F%2Fevil.com%2F", "/.gatehouse/login")] {
            let cookie = try harness.signIn()
            let token = try AccountPageTests.token(harness, cookie)
            let out = try harness.one(AccountPageTests.post + AccountPageTests.cookie(cookie),
                                      body: "action=signout&form_token=\(token)&rd=\(rd)")
            #expect(out.status == 303)
            #expect(out.header("Location") == expected)
            #expect(out.header("Set-Cookie")?.hasSuffix("Max-Age=0; Domain=example.com") == true)
        }
    }
}
