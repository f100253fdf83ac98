@preconcurrency import Crypto
import Testing
import _CryptoExtras

@testable import GatehouseAuth

/// PKCE and the ID-token checks of an OpenID Connect sign-in: each bad claim refused with its own reason.
@Suite struct IDTokenCheckTests {
    static let client = "gatehouse-app"
    static let nonce = "n-0S6_WzA2Mj"
    static let (signing, key) = TestKeys.pair(.RS256, kid: "op-1")
    static let verifier = TokenVerifier(
        issuers: [IssuerPolicy(issuer: Fixture.issuer, audiences: [client], keys: [key],
                               provider: ProviderKeyHook {})], leewaySeconds: 30)

    static func claims(iss: String = Fixture.issuer, aud: String = #""gatehouse-app""#, exp: Int64 = Fixture.now + 300,
                       iat: String? = "\(Fixture.now - 5)", nonce: String? = IDTokenCheckTests.nonce,
                       sub: String? = "248289761001", extra: String = "") -> String {
        var members = [#""iss":"\#(iss)""#, #""aud":\#(aud)"#, #""exp":\#(exp)"#]
        if let iat { members.append(#""iat":\#(iat)"#) }
        if let sub { members.append(#""sub":"\#(sub)""#) }
        if let nonce { members.append(#""nonce":"\#(nonce)""#) }
        return "{" + members.joined(separator: ",") + extra + "}"
    }

    static func check(_ token: String, nonce: String = IDTokenCheckTests.nonce) -> String {
        switch IDTokenCheck.verify(Array(token.utf8), verifier: verifier, clientID: client, nonce: nonce,
                                   now: Fixture.now) {
        case .success: return "ok"
        case .failure(let failure): return failure.reason
        }
    }

    static func mint(_ claims: String) -> String {
        TokenMinter.mint(claims: claims, key: signing, algorithm: .RS256, kid: "op-1")
    }

    @Test func pkceS256MatchesAnIndependentImplementation() {
        // Python: base64url(bytes(range(32))), then base64url(sha256(verifier)), unpadded.
        let verifier = PKCE.verifier(random: Array(0..<32))
        #expect(verifier == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
        #expect(PKCE.challenge(for: verifier) == "6oZqdX5MOLq_qBJ8vppAnT4fk6AP8UiP9zX8-Rev_9A")
        #expect(verifier.utf8.count == 43)
    }

    @Test func aGoodIDTokenPasses() {
        #expect(Self.check(Self.mint(Self.claims())) == "ok")
        #expect(Self.check(Self.mint(Self.claims(aud: #"["gatehouse-app","other"]"#,
                                                 extra: #","azp":"gatehouse-app""#))) == "ok")
    }

    @Test(arguments: [
        (claims(iss: "https://evil.example"), "id-token-wrong-issuer"),
        (claims(aud: #""someone-else""#), "id-token-wrong-audience"),
        (claims(aud: #"["gatehouse-app","other"]"#), "id-token-no-azp"),
        (claims(extra: #","azp":"other""#), "id-token-wrong-azp"),
        (claims(exp: Fixture.now - 31), "id-token-expired"),
        (claims(iat: "\(Fixture.now + 3600)"), "id-token-issued-in-future"),
        (claims(extra: #","nbf":\#(Fixture.now + 3600)"#), "id-token-not-yet-valid"),
        (claims(iat: nil), "id-token-no-iat"),
        (claims(sub: nil), "id-token-no-sub"),
        (claims(nonce: nil), "id-token-wrong-nonce"),
        (claims(nonce: "n-0S6_WzA2Mk"), "id-token-wrong-nonce"),
    ])
    func eachBadClaimIsRefused(_ claims: String, _ reason: String) {
        #expect(Self.check(Self.mint(claims)) == reason)
    }

    @Test func aNonceFromAnotherSignInIsRefused() {
        #expect(Self.check(Self.mint(Self.claims()), nonce: "another-browsers-nonce") == "id-token-wrong-nonce")
    }

    @Test func algNoneAndHMACWithTheClientSecretOrThePublicKeyAreRefused() {
        let none = TokenMinter.raw(TokenMinter.base64url(Array(#"{"alg":"none"}"#.utf8)),
                                   TokenMinter.base64url(Array(Self.claims().utf8)), "")
        #expect(Self.check(none) == "id-token-alg-none")
        let withSecret = TokenMinter.mint(claims: Self.claims(), key: .hmac(Array("client-secret-0123456789abcdef-xyz".utf8)),
                                          algorithm: .HS256, kid: "op-1")
        #expect(Self.check(withSecret) == "id-token-alg-not-allowed")
        let withPublicKey = TokenMinter.mint(claims: Self.claims(),
                                             key: .hmac(Array(TestKeys.rsa.publicKey.pemRepresentation.utf8)),
                                             algorithm: .HS256, kid: "op-1")
        #expect(Self.check(withPublicKey) == "id-token-alg-not-allowed")
    }

    @Test func aTokenOfAnotherKeyOrKidIsRefused() {
        let other = TokenMinter.mint(claims: Self.claims(), key: .rsa(TestKeys.rsaOther), algorithm: .RS256, kid: "op-1")
        #expect(Self.check(other) == "id-token-bad-signature")
        let unknown = TokenMinter.mint(claims: Self.claims(), key: Self.signing, algorithm: .RS256, kid: "op-2")
        #expect(Self.check(unknown) == "id-token-unknown-kid")
        #expect(Self.check("garbage") == "id-token-malformed")
    }

    @Test func theAllowListNarrowsTheAlgorithms() {
        let result = IDTokenCheck.verify(Array(Self.mint(Self.claims()).utf8), verifier: Self.verifier,
                                         clientID: Self.client, nonce: Self.nonce, allowed: [.ES256], now: Fixture.now)
        #expect(result == .failure(IDTokenFailure("id-token-alg-not-allowed")))
    }
}

extension Result where Success == VerifiedToken, Failure == IDTokenFailure {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.failure(let a), .failure(let b)): return a == b
        default: return false
        }
    }
}
