@preconcurrency import Crypto
import Testing
import _CryptoExtras

@testable import GatehouseAuth

/// Happy paths and key selection.
@Suite struct TokenVerifierTests {
    @Test(arguments: JWSAlgorithm.allCases)
    func verifiesEveryAlgorithm(_ algorithm: JWSAlgorithm) throws {
        let (signing, key) = TestKeys.pair(algorithm)
        let verifier = Fixture.verifier([key])
        let token = TokenMinter.mint(
            claims: Fixture.claims(extra: #","roles":["a","b"]"#), key: signing, algorithm: algorithm)
        let verified = try verifier.verify(token.tokenBytes, now: Fixture.now).get()
        #expect(verified.issuer == Fixture.issuer)
        #expect(verified.subject == "alice")
        #expect(verified.expiresAt == 1_750_003_600)
        #expect(verified.claim("roles") == .array([.string("a"), .string("b")]))
        #expect(verified.claims.map(\.0) == ["iss", "sub", "aud", "exp", "iat", "roles"])

        // One flipped bit anywhere in the signed part breaks the signature.
        var bytes = Array(token.utf8)
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))!
        bytes[dot + 3] = bytes[dot + 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(Fixture.outcome(verifier, String(decoding: bytes, as: UTF8.self)) != "ok")
    }

    @Test(arguments: [JWSAlgorithm.RS256, .PS256, .ES256, .ES384, .ES512, .EdDSA])
    func verifiesWithKeysLoadedFromJWKS(_ algorithm: JWSAlgorithm) throws {
        let jwk: String
        let signing: TokenMinter.SigningKey
        switch algorithm {
        case .ES256:
            (jwk, signing) = (
                TestKeys.ecJWK(curve: "P-256", x963: TestKeys.p256.publicKey.x963Representation), .p256(TestKeys.p256)
            )
        case .ES384:
            (jwk, signing) = (
                TestKeys.ecJWK(curve: "P-384", x963: TestKeys.p384.publicKey.x963Representation), .p384(TestKeys.p384)
            )
        case .ES512:
            (jwk, signing) = (
                TestKeys.ecJWK(curve: "P-521", x963: TestKeys.p521.publicKey.x963Representation), .p521(TestKeys.p521)
            )
        case .EdDSA: (jwk, signing) = (TestKeys.ed25519JWK(TestKeys.ed25519.publicKey), .ed25519(TestKeys.ed25519))
        default:
            (jwk, signing) = (
                TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","alg":"\#(algorithm.rawValue)""#), .rsa(TestKeys.rsa)
            )
        }
        let keys = try KeyLoader.jwks(#"{"keys":[\#(jwk)]}"#)
        let token = TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: algorithm)
        #expect(Fixture.outcome(Fixture.verifier(keys), token) == "ok")
    }

    @Test func kidSelectsExactlyOneKey() throws {
        let (_, first) = TestKeys.pair(.ES256, kid: "k1")
        let second = try KeyLoader.pem(TestKeys.p256Other.publicKey.pemRepresentation, algorithm: nil, kid: "k2")
        let verifier = Fixture.verifier([first, second])
        let byOther = TokenMinter.mint(
            claims: Fixture.claims(), key: .p256(TestKeys.p256Other), algorithm: .ES256, kid: "k2")
        #expect(Fixture.outcome(verifier, byOther) == "ok")
        // Naming the wrong key fails even though another configured key would verify.
        let misnamed = TokenMinter.mint(
            claims: Fixture.claims(), key: .p256(TestKeys.p256Other), algorithm: .ES256, kid: "k1")
        #expect(Fixture.outcome(verifier, misnamed) == "bad-signature")
        let unknown = TokenMinter.mint(
            claims: Fixture.claims(), key: .p256(TestKeys.p256Other), algorithm: .ES256, kid: "k3")
        #expect(Fixture.outcome(verifier, unknown) == "unknown-kid")
        // kid is exact: no case folding, no prefix match.
        let folded = TokenMinter.mint(
            claims: Fixture.claims(), key: .p256(TestKeys.p256Other), algorithm: .ES256, kid: "K2")
        #expect(Fixture.outcome(verifier, folded) == "unknown-kid")
        // Without a kid, every key of the algorithm is tried.
        let anonymous = TokenMinter.mint(claims: Fixture.claims(), key: .p256(TestKeys.p256Other), algorithm: .ES256)
        #expect(Fixture.outcome(verifier, anonymous) == "ok")
    }

    @Test func kidMustMatchAKeyOfTheTokensAlgorithm() throws {
        let rs = try KeyLoader.pem(TestKeys.rsa.publicKey.pemRepresentation, algorithm: .RS256, kid: "rsa")
        let verifier = Fixture.verifier([
            rs, try KeyLoader.pem(TestKeys.rsa.publicKey.pemRepresentation, algorithm: .PS256, kid: "pss"),
        ])
        let token = TokenMinter.mint(claims: Fixture.claims(), key: .rsa(TestKeys.rsa), algorithm: .PS256, kid: "rsa")
        #expect(Fixture.outcome(verifier, token) == "unknown-kid")
        let right = TokenMinter.mint(claims: Fixture.claims(), key: .rsa(TestKeys.rsa), algorithm: .PS256, kid: "pss")
        #expect(Fixture.outcome(verifier, right) == "ok")
    }

    @Test func rsaKeysOfDifferentSizesShareAnAlgorithm() throws {
        let small = try KeyLoader.pem(TestKeys.rsa.publicKey.pemRepresentation, algorithm: .RS256, kid: nil)
        let large = try KeyLoader.pem(TestKeys.rsa3072.publicKey.pemRepresentation, algorithm: .RS256, kid: nil)
        let verifier = Fixture.verifier([small, large])
        let token = TokenMinter.mint(claims: Fixture.claims(), key: .rsa(TestKeys.rsa3072), algorithm: .RS256)
        #expect(Fixture.outcome(verifier, token) == "ok")
    }

    @Test func keysBelongToTheirIssuer() throws {
        let (signingA, keyA) = TestKeys.pair(.ES256)
        let keyB = try KeyLoader.pem(TestKeys.p256Other.publicKey.pemRepresentation, algorithm: nil, kid: nil)
        let verifier = TokenVerifier(
            issuers: [
                IssuerPolicy(issuer: "https://a.example", audiences: ["gatehouse"], keys: [keyA]),
                IssuerPolicy(issuer: "https://b.example", audiences: ["gatehouse"], keys: [keyB]),
            ], leewaySeconds: 0)
        let asA = TokenMinter.mint(claims: Fixture.claims(iss: "https://a.example"), key: signingA, algorithm: .ES256)
        #expect(Fixture.outcome(verifier, asA) == "ok")
        // Signed with A's key but claiming to be B: B's keys do not verify it.
        let asB = TokenMinter.mint(claims: Fixture.claims(iss: "https://b.example"), key: signingA, algorithm: .ES256)
        #expect(Fixture.outcome(verifier, asB) == "bad-signature")
    }

    @Test func algorithmMustBeAllowedForTheTokensIssuer() throws {
        let (signingHMAC, hmacKey) = TestKeys.pair(.HS256)
        let (_, ecKey) = TestKeys.pair(.ES256)
        let verifier = TokenVerifier(
            issuers: [
                IssuerPolicy(issuer: "https://mac.example", audiences: [], keys: [hmacKey]),
                IssuerPolicy(issuer: Fixture.issuer, audiences: [], keys: [ecKey]),
            ], leewaySeconds: 0)
        let token = TokenMinter.mint(claims: Fixture.claims(), key: signingHMAC, algorithm: .HS256)
        #expect(Fixture.outcome(verifier, token) == "alg-not-allowed")
    }

    @Test func issuerWithoutKeysFailsNoKey() {
        let (signing, key) = TestKeys.pair(.ES256)
        let verifier = TokenVerifier(
            issuers: [
                IssuerPolicy(issuer: "https://other.example", audiences: [], keys: [key]),
                IssuerPolicy(issuer: Fixture.issuer, audiences: [], keys: []),
            ], leewaySeconds: 0)
        #expect(
            Fixture.outcome(verifier, TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: .ES256))
                == "no-key")
    }

    @Test func nestedClaimLookup() throws {
        let (signing, key) = TestKeys.pair(.HS256)
        let claims = Fixture.claims(
            extra:
                #","realm":{"access":{"roles":["admin"]},"n":1},"https://x.example/groups":["ops"],"a.b":2,"a":{"b":3}"#
        )
        let verified = try Fixture.verifier([key]).verify(
            TokenMinter.mint(claims: claims, key: signing, algorithm: .HS256).tokenBytes, now: Fixture.now
        ).get()
        #expect(verified.claim("realm.access.roles") == .array([.string("admin")]))
        #expect(verified.claim("realm.n") == .integer(1))
        #expect(verified.claim("realm.missing") == nil)
        #expect(verified.claim("realm.n.deeper") == nil)
        #expect(verified.claim("https://x.example/groups") == .array([.string("ops")]))
        #expect(verified.claim("a.b") == .integer(2))  // an exact top-level name wins
        #expect(verified.claim("sub") == .string("alice"))
        #expect(verified.claim("") == nil)
    }

    @Test func failuresAreStableReasonsMappedToInvalidToken() {
        // 22: issuer-keys-unavailable, a provider issuer whose keys have not arrived.
        #expect(AuthFailure.allReasons.count == 22)
        #expect(Set(AuthFailure.allReasons).count == 22)
        #expect(AuthFailure.badSignature.reason == "bad-signature")
        #expect(AuthFailure.badSignature.description == "bad-signature")
        #expect(AuthFailure.expired.bearerError == "invalid_token")
        #expect(AuthFailure.expired != AuthFailure.notYetValid)
    }
}
