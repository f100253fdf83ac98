@preconcurrency import Crypto
import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// Provider-side sign-out through the endpoints (no sockets): the provider link a sign-in keeps, the redirect to
/// the provider's end-session endpoint after our logout (browsers only), and back-channel logout tokens ending
/// sessions by `sid` or `sub`, with replays and bad tokens refused.
@Suite("Local endpoints: OpenID Connect RP-initiated and back-channel logout (no sockets)")
struct OIDCLogoutEndpointTests {
    static let issuer = OIDCEndpointTests.issuer
    static let client = OIDCEndpointTests.client
    static let key = OIDCEndpointTests.signingKey

    static func oidc(rpInitiated: Bool = true, endSession: Bool = true, secondClient: String? = nil) -> OIDCSettings {
        let verification = try! KeyLoader.pem(key.publicKey.pemRepresentation, algorithm: nil, kid: "k1")
        var text = #"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/jwks","#
            + #""authorization_endpoint":"https://idp.test/authorize","token_endpoint":"https://idp.test/token""#
        if endSession { text += #","end_session_endpoint":"https://idp.test/logout?ui=1""# }
        text += "}"
        let document = try! ProviderMetadata.parse(Array(text.utf8), expectedIssuer: issuer)
        func provider(_ name: String, _ client: String) -> OIDCSettings.Provider {
            let verifier = TokenVerifier(issuers: [IssuerPolicy(issuer: issuer, audiences: [client], keys: [verification],
                                                                provider: ProviderKeyHook {})], leewaySeconds: 30)
            let logoutVerifier = TokenVerifier(
                issuers: [IssuerPolicy(issuer: issuer, audiences: [client], keys: [verification], requireExpiry: false,
                                       provider: ProviderKeyHook {})], leewaySeconds: 30)
            return OIDCSettings.Provider(
                name: name, title: "Sign in with \(name)", issuer: issuer, clientID: client, clientSecret: "s3cret",
                scopes: ["openid"], redirectURI: "https://gw.test/.gatehouse/oidc/callback/corp",
                userClaim: "preferred_username", emailClaim: "email", groupsClaim: "groups", nameClaim: "name",
                allowedEmailDomains: [], allowedGroups: [], caFile: nil, metadata: document, verifier: verifier,
                algorithms: IDTokenCheck.asymmetric, rpInitiatedLogout: rpInitiated,
                postLogoutRedirectURI: "https://gw.test/.gatehouse/login", logoutVerifier: logoutVerifier)
        }
        // A second client of the same provider (another `providers` entry with the same issuer) comes first.
        let providers = (secondClient.map { [provider("corp2", $0)] } ?? []) + [provider("corp", client)]
        return OIDCSettings(providers: providers, sealer: SignInFlowSealer(secret: Array(repeating: 1, count: 32)),
                            hasUsersFile: false, leewaySeconds: 30)
    }

    static func sign(_ header: String, _ claims: String) -> String {
        let h = Base64URL.encode(Array(header.utf8))
        let c = Base64URL.encode(Array(claims.utf8))
        let signature = try! key.signature(for: Array("\(h).\(c)".utf8)).rawRepresentation
        return "\(h).\(c).\(Base64URL.encode(Array(signature)))"
    }

    static func idToken(nonce: String, sub: String, sid: String?, user: String, now: Int64) -> String {
        let sidMember = sid.map { #","sid":"\#($0)""# } ?? ""
        return sign(#"{"alg":"ES256","kid":"k1"}"#,
                    #"{"iss":"\#(issuer)","aud":"\#(client)","sub":"\#(sub)","preferred_username":"\#(user)","#
                    + #""iat":\#(now),"exp":\#(now + 300),"nonce":"\#(nonce)"\#(sidMember)}"#)
    }

    static func logoutToken(sid: String? = nil, sub: String? = nil, jti: String = "j-1", now: Int64,
                            extra: String = "", aud: String = client) -> String {
        var members = [#""iss":"\#(issuer)""#, #""aud":"\#(aud)""#, #""iat":\#(now)"#, #""jti":"\#(jti)""#,
                       #""events":{"http://schemas.openid.net/event/backchannel-logout":{}}"#]
        if let sid { members.append(#""sid":"\#(sid)""#) }
        if let sub { members.append(#""sub":"\#(sub)""#) }
        return sign(#"{"alg":"ES256","kid":"k1","typ":"logout+jwt"}"#, "{" + members.joined(separator: ",") + extra + "}")
    }

    static func harness(_ oidc: OIDCSettings = oidc()) -> EndpointHarness {
        OIDCEndpointTests.harness(oidc)
    }

    /// A whole provider sign-in (start, callback, token endpoint answered here); the session cookie's value.
    static func signIn(_ harness: EndpointHarness, sub: String, sid: String?, user: String = "dana") throws -> String {
        let start = try harness.one("GET /.gatehouse/oidc/start?provider=corp HTTP/1.1\nHost: gw.test")
        let location = try #require(start.header("Location"))
        let flow = try #require(start.cookieValue("gatehouse_oidc"))
        let state = try #require(OIDCEndpointTests.parameter("state", in: location))
        let nonce = try #require(OIDCEndpointTests.parameter("nonce", in: location))
        let token = idToken(nonce: nonce, sub: sub, sid: sid, user: user, now: harness.now)
        harness.outbound = { _ in
            .success(HTTPSResponse(status: 200, headers: [], body: Array(#"{"id_token":"\#(token)"}"#.utf8)))
        }
        let answer = try harness.one("GET /.gatehouse/oidc/callback/corp?code=c&state=\(state) HTTP/1.1\n"
                                     + "Host: gw.test\nCookie: gatehouse_oidc=\(flow)")
        try #require(answer.status == 303, "\(answer.error ?? "")")
        return try #require(answer.cookieValue("gh_session"))
    }

    static func records(_ harness: EndpointHarness, of user: String = "dana") -> [SessionRecord] {
        var found: [SessionRecord] = []
        harness.store.sessions(of: user, now: harness.now) { if case .success(let r) = $0 { found = r } }
        return found
    }

    static func backchannel(_ harness: EndpointHarness, _ token: String,
                            type: String = "application/x-www-form-urlencoded") throws -> Answer {
        try harness.one("POST /.gatehouse/oidc/backchannel-logout HTTP/1.1\nHost: gw.test\nContent-Type: \(type)",
                        body: "logout_token=" + token)
    }

    // MARK: The provider link

    @Test func aProviderSignInKeepsTheProviderSidSubAndIDToken() throws {
        let harness = Self.harness()
        _ = try Self.signIn(harness, sub: "u-1", sid: "op-session-1")
        let link = try #require(Self.records(harness).first?.provider)
        #expect(link.name == "corp" && link.sid == "op-session-1" && link.subject == "u-1")
        #expect(link.idToken?.hasPrefix("eyJ") == true)
        // An ID token over 8 KiB is not kept (the hint is then left out); the rest of the link is. (The verifier
        // refuses ID tokens over 8 KiB anyway; the bound holds for the store whatever the verifier's limit.)
        let big = try #require(ProviderLink(name: "corp", sid: nil, subject: "u-2",
                                            idToken: String(repeating: "x", count: 8193)))
        #expect(big.idToken == nil && big.sid == nil && big.subject == "u-2")
        #expect(ProviderLink(name: "corp", sid: "s", subject: "u", idToken: String(repeating: "x", count: 8192))?
            .idToken?.utf8.count == 8192)
        #expect(ProviderLink(name: "corp", sid: nil, subject: "", idToken: nil) == nil)
        #expect(ProviderLink(name: "corp", sid: String(repeating: "s", count: 256), subject: "u", idToken: nil) == nil)
    }

    // MARK: RP-initiated logout

    @Test func aBrowserLogoutGoesOnToTheProvidersEndSessionEndpoint() throws {
        let harness = Self.harness()
        let cookie = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        let idToken = try #require(Self.records(harness).first?.provider?.idToken)
        let answer = try harness.one("POST /.gatehouse/logout HTTP/1.1\nHost: gw.test\nCookie: gh_session=\(cookie)\n"
                                     + "Content-Type: application/x-www-form-urlencoded", body: "x=1")
        #expect(answer.status == 303)
        let location = try #require(answer.header("Location"))
        #expect(location.hasPrefix("https://idp.test/logout?ui=1&id_token_hint="))
        #expect(OIDCEndpointTests.parameter("id_token_hint", in: location) == idToken)
        #expect(OIDCEndpointTests.parameter("post_logout_redirect_uri", in: location)
                == "https://gw.test/.gatehouse/login")
        #expect(OIDCEndpointTests.parameter("client_id", in: location) == Self.client)
        #expect(OIDCEndpointTests.parameter("state", in: location)?.utf8.count == 22)
        #expect(answer.response.headers.contains { $0.0 == "Set-Cookie" && $0.1.hasPrefix("gh_session=;") })
        #expect(Self.records(harness).isEmpty, "our session ended first")
    }

    @Test func anAPILogoutStillGets204AndNoRedirect() throws {
        let harness = Self.harness()
        let cookie = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        let answer = try harness.one("POST /.gatehouse/logout HTTP/1.1\nHost: gw.test\nCookie: gh_session=\(cookie)")
        #expect(answer.status == 204)
        #expect(Self.records(harness).isEmpty)
    }

    @Test func withRPInitiatedOffOrNoEndpointTheBrowserLandsOnOurLoginPage() throws {
        for oidc in [Self.oidc(rpInitiated: false), Self.oidc(endSession: false)] {
            let harness = Self.harness(oidc)
            let cookie = try Self.signIn(harness, sub: "u-1", sid: "s-1")
            let answer = try harness.one("POST /.gatehouse/logout HTTP/1.1\nHost: gw.test\n"
                                         + "Cookie: gh_session=\(cookie)\nContent-Type: application/x-www-form-urlencoded",
                                         body: "x=1")
            #expect(answer.status == 303 && answer.header("Location") == "/.gatehouse/login")
        }
    }

    @Test func theAccountPagesSignOutGoesOnToTheProviderToo() throws {
        let harness = Self.harness()
        let cookie = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        let page = try harness.one("GET /.gatehouse/account HTTP/1.1\nHost: gw.test\nCookie: gh_session=\(cookie)")
        #expect(page.status == 200)
        let token = try #require(page.text.split(separator: "name=\"form_token\" value=\"").dropFirst().first?
            .split(separator: "\"").first.map(String.init))
        let answer = try harness.one("POST /.gatehouse/account HTTP/1.1\nHost: gw.test\nCookie: gh_session=\(cookie)\n"
                                     + "Content-Type: application/x-www-form-urlencoded",
                                     body: "action=signout&form_token=\(token)")
        #expect(answer.status == 303)
        #expect(answer.header("Location")?.hasPrefix("https://idp.test/logout?ui=1&id_token_hint=") == true)
        #expect(Self.records(harness).isEmpty)
    }

    // MARK: Back-channel logout

    @Test func aLogoutTokenWithASidEndsThatSessionOnly() throws {
        let harness = Self.harness()
        let first = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        _ = try Self.signIn(harness, sub: "u-1", sid: "s-2")
        #expect(Self.records(harness).count == 2)
        harness.clearEvents()
        let answer = try Self.backchannel(harness, Self.logoutToken(sid: "s-1", now: harness.now))
        #expect(answer.status == 200, "\(answer.error ?? "") \(answer.text)")
        #expect(answer.header("Cache-Control") == "no-store")
        #expect(Self.records(harness).map { $0.provider?.sid } == ["s-2"])
        #expect(harness.events == [.providerLogout(ended: 1)])
        // The ended session's cookie no longer signs anyone in.
        let after = try harness.one("GET /.gatehouse/sessions HTTP/1.1\nHost: gw.test\nCookie: gh_session=\(first)")
        #expect(after.status == 401)
    }

    @Test func aLogoutTokenWithOnlyASubEndsAllOfThatSubjectsSessionsAtThatProvider() throws {
        let harness = Self.harness()
        _ = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        _ = try Self.signIn(harness, sub: "u-1", sid: nil)
        _ = try Self.signIn(harness, sub: "u-9", sid: "s-9", user: "erin")
        let answer = try Self.backchannel(harness, Self.logoutToken(sub: "u-1", now: harness.now))
        #expect(answer.status == 200)
        #expect(Self.records(harness).isEmpty)
        #expect(Self.records(harness, of: "erin").count == 1, "another subject keeps its session")
        // A sid with a sub that does not own it ends nothing (both must match).
        let mismatch = try Self.backchannel(harness, Self.logoutToken(sid: "s-9", sub: "u-1", jti: "j-2",
                                                                      now: harness.now))
        #expect(mismatch.status == 200)
        #expect(Self.records(harness, of: "erin").count == 1)
    }

    @Test func aReplayedLogoutTokenIsRefused() throws {
        let harness = Self.harness()
        _ = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        let token = Self.logoutToken(sub: "u-1", now: harness.now)
        #expect(try Self.backchannel(harness, token).status == 200)
        _ = try Self.signIn(harness, sub: "u-1", sid: "s-3")
        harness.clearEvents()
        let replay = try Self.backchannel(harness, token)
        #expect(replay.status == 400 && replay.error == "oidc-backchannel-replayed-jti")
        #expect(replay.text.contains(#""error":"invalid_request""#))
        #expect(Self.records(harness).count == 1, "the session signed in after the first token survives its replay")
        #expect(harness.events == [.providerLogoutRefused])
    }

    @Test(arguments: [
        ("not-a-form", "oidc-backchannel-not-a-form"), ("no-token", "oidc-backchannel-no-logout-token"),
        ("garbage", "oidc-backchannel-malformed"), ("other-issuer", "oidc-backchannel-wrong-issuer"),
        ("bad-signature", "oidc-backchannel-bad-signature"), ("nonce", "oidc-backchannel-nonce-present"),
        ("too-old", "oidc-backchannel-too-old"), ("neither", "oidc-backchannel-no-sid-or-sub"),
    ])
    func aBadLogoutRequestIsRefusedWithItsReason(_ bad: String, _ reason: String) throws {
        let harness = Self.harness()
        _ = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        let now = harness.now
        var token = Self.logoutToken(sid: "s-1", now: now)
        var type = "application/x-www-form-urlencoded"
        switch bad {
        case "not-a-form": type = "application/json"
        case "no-token": token = ""
        case "garbage": token = "a.b"
        case "other-issuer":
            token = Self.sign(#"{"alg":"ES256","kid":"k1"}"#, #"{"iss":"https://evil.test","aud":"gw-client"}"#)
        case "bad-signature": token = String(token.dropLast(4)) + "AAAA"
        case "nonce": token = Self.logoutToken(sid: "s-1", now: now, extra: #","nonce":"n""#)
        case "too-old": token = Self.logoutToken(sid: "s-1", now: now - 400)
        case "neither": token = Self.logoutToken(now: now)
        default: break
        }
        let answer = try Self.backchannel(harness, token, type: type)
        #expect(answer.status == 400)
        #expect(answer.error == reason)
        #expect(Self.records(harness).count == 1, "nothing ended")
    }

    @Test func withTwoClientsOfOneProviderTheTokensAudiencePicksTheClient() throws {
        let harness = Self.harness(Self.oidc(secondClient: "other-client"))
        _ = try Self.signIn(harness, sub: "u-1", sid: "s-1")
        #expect(Self.records(harness).first?.provider?.name == "corp")
        // Addressed to gw-client: the second entry ("corp") verifies it after the first refused its audience.
        let answer = try Self.backchannel(harness, Self.logoutToken(sid: "s-1", now: harness.now))
        #expect(answer.status == 200, "\(answer.error ?? "")")
        #expect(Self.records(harness).isEmpty)
        // Addressed to neither: the first refusal is reported.
        let neither = try Self.backchannel(harness, Self.logoutToken(sid: "s-1", jti: "j-9", now: harness.now,
                                                                     aud: "nobody"))
        #expect(neither.status == 400 && neither.error == "oidc-backchannel-wrong-audience")
    }

    @Test func theEndpointTakesOnlyPOST() throws {
        let answer = try Self.harness().one("GET /.gatehouse/oidc/backchannel-logout HTTP/1.1\nHost: gw.test")
        #expect(answer.status == 405 && answer.header("Allow") == "POST")
    }
}
