@preconcurrency import Crypto
import Testing
import _CryptoExtras

@testable import GatehouseAuth

/// Back-Channel Logout 1.0 §2.6 on logout tokens: a good one passes; each rule broken once is refused with its own
/// reason (replay of `jti` is the store's check, tested with the stores and the endpoint).
@Suite struct LogoutTokenCheckTests {
    static let client = "gatehouse-app"
    static let (signing, key) = TestKeys.pair(.RS256, kid: "op-1")
    static let clientSecret = Array("client-secret-0123456789abcdef-xyz".utf8)
    /// The provider's RSA key, and (as a deployment might also have) an HMAC key of the client secret: HMAC logout
    /// tokens are refused even so.
    static let verifier = TokenVerifier(
        issuers: [IssuerPolicy(issuer: Fixture.issuer, audiences: [client],
                               keys: [key, try! KeyLoader.hmac(secret: clientSecret, algorithm: .HS256, kid: "op-1")],
                               requireExpiry: false, provider: ProviderKeyHook {})],
        leewaySeconds: 30)
    static let event = #""events":{"http://schemas.openid.net/event/backchannel-logout":{}}"#

    static func claims(iss: String = Fixture.issuer, aud: String = #""gatehouse-app""#,
                       iat: String? = "\(Fixture.now - 5)", jti: String? = "bWJq", sid: String? = "08a5019c-17e1",
                       sub: String? = "248289761001", events: String? = event, extra: String = "") -> String {
        var members = [#""iss":"\#(iss)""#, #""aud":\#(aud)"#]
        if let iat { members.append(#""iat":\#(iat)"#) }
        if let jti { members.append(#""jti":"\#(jti)""#) }
        if let sid { members.append(#""sid":"\#(sid)""#) }
        if let sub { members.append(#""sub":"\#(sub)""#) }
        if let events { members.append(events) }
        return "{" + members.joined(separator: ",") + extra + "}"
    }

    static func check(_ token: String) -> String {
        switch LogoutTokenCheck.verify(Array(token.utf8), verifier: verifier, allowed: IDTokenCheck.asymmetric,
                                       now: Fixture.now) {
        case .success: return "ok"
        case .failure(let failure): return failure.reason
        }
    }

    static func mint(_ claims: String) -> String {
        TokenMinter.mint(claims: claims, key: signing, algorithm: .RS256, kid: "op-1")
    }

    @Test func aGoodLogoutTokenPassesWithSidOrSubOrBoth() throws {
        #expect(Self.check(Self.mint(Self.claims())) == "ok")
        #expect(Self.check(Self.mint(Self.claims(sid: nil))) == "ok")
        #expect(Self.check(Self.mint(Self.claims(sub: nil))) == "ok")
        #expect(Self.check(Self.mint(Self.claims(extra: #","exp":\#(Fixture.now + 120)"#))) == "ok")
        #expect(Self.check(Self.mint(Self.claims(aud: #"["other","gatehouse-app"]"#))) == "ok")
        let token = try LogoutTokenCheck.verify(Array(Self.mint(Self.claims()).utf8), verifier: Self.verifier,
                                                allowed: IDTokenCheck.asymmetric, now: Fixture.now).get()
        #expect(token == LogoutToken(issuer: Fixture.issuer, sid: "08a5019c-17e1", subject: "248289761001",
                                     jti: "bWJq", issuedAt: Fixture.now - 5))
        #expect(token.replayKey == Fixture.issuer + " bWJq")
        #expect(LogoutTokenCheck.unverifiedIssuer(Array(Self.mint(Self.claims()).utf8)) == Fixture.issuer)
    }

    @Test(arguments: [
        (claims(iss: "https://evil.example"), "wrong-issuer"),
        (claims(aud: #""someone-else""#), "wrong-audience"),
        (claims(events: nil), "no-events"),
        (claims(events: #""events":"http://schemas.openid.net/event/backchannel-logout""#), "no-events"),
        (claims(events: #""events":{"http://schemas.openid.net/event/backchannel-logout":"yes"}"#), "no-logout-event"),
        (claims(events: #""events":{"http://schemas.openid.net/event/other":{}}"#), "no-logout-event"),
        (claims(extra: #","nonce":"n-0S6_WzA2Mj""#), "nonce-present"),
        (claims(sid: nil, sub: nil), "no-sid-or-sub"),
        (claims(sid: nil, sub: ""), "no-sid-or-sub"),
        (claims(sid: nil, extra: #","sid":7"#), "bad-sid"),
        (claims(jti: nil), "no-jti"),
        (claims(iat: nil), "no-iat"),
        (claims(iat: "\(Fixture.now - 331)"), "too-old"),
        (claims(iat: "\(Fixture.now + 3600)"), "issued-in-future"),
        (claims(extra: #","exp":\#(Fixture.now - 31)"#), "expired"),
    ])
    func eachBrokenRuleIsRefused(_ claims: String, _ reason: String) {
        #expect(Self.check(Self.mint(claims)) == reason)
    }

    @Test func aTokenJustWithinTheAgeAndLeewayPasses() {
        #expect(Self.check(Self.mint(Self.claims(iat: "\(Fixture.now - 330)"))) == "ok")
    }

    @Test func aBadSignatureIsRefused() {
        let other = TokenMinter.mint(claims: Self.claims(), key: .rsa(TestKeys.rsaOther), algorithm: .RS256,
                                     kid: "op-1")
        #expect(Self.check(other) == "bad-signature")
        let unknown = TokenMinter.mint(claims: Self.claims(), key: Self.signing, algorithm: .RS256, kid: "op-2")
        #expect(Self.check(unknown) == "unknown-kid")
        #expect(Self.check("garbage") == "malformed")
    }

    @Test func algNoneIsRefused() {
        let none = TokenMinter.raw(TokenMinter.base64url(Array(#"{"alg":"none"}"#.utf8)),
                                   TokenMinter.base64url(Array(Self.claims().utf8)), "")
        #expect(Self.check(none) == "alg-none")
    }

    @Test func hmacWithTheClientSecretOrThePublicKeyIsRefused() {
        let withSecret = TokenMinter.mint(claims: Self.claims(), key: .hmac(Self.clientSecret), algorithm: .HS256,
                                          kid: "op-1")
        #expect(Self.check(withSecret) == "alg-not-allowed")
        let withPublicKey = TokenMinter.mint(claims: Self.claims(),
                                             key: .hmac(Array(TestKeys.rsa.publicKey.pemRepresentation.utf8)),
                                             algorithm: .HS256, kid: "op-1")
        #expect(Self.check(withPublicKey) == "alg-not-allowed")
    }

    @Test func anIDTokenIsNeverALogoutToken() {
        // An ID token of the same provider and client: no events, and a nonce.
        let idToken = Self.mint(#"{"iss":"\#(Fixture.issuer)","aud":"gatehouse-app","sub":"1","iat":\#(Fixture.now),"#
                                + #""exp":\#(Fixture.now + 300),"nonce":"abc","jti":"x"}"#)
        #expect(Self.check(idToken) == "no-events")
    }
}
