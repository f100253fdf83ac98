@preconcurrency import Crypto
import Synchronization
import Testing
import _CryptoExtras

@testable import GatehouseAuth

/// The pure parts of keys fetched from a provider: discovery documents, refresh timing, the unknown-kid gate,
/// lenient JWKS parsing, and how the verifier treats a provider issuer.
@Suite struct ProviderKeysTests {
    static let issuer = "https://idp.example/realms/main"

    static func discovery(_ members: String) -> [UInt8] {
        Array("{\(members)}".utf8)
    }

    @Test func parsesADiscoveryDocument() throws {
        let doc = Self.discovery(#""issuer":"\#(Self.issuer)","jwks_uri":"https://idp.example/certs","#
            + #""authorization_endpoint":"https://idp.example/auth","token_endpoint":"https://idp.example/token","#
            + #""end_session_endpoint":"https://idp.example/logout","#
            + #""id_token_signing_alg_values_supported":["RS256","ES256"],"code_challenge_methods_supported":["S256"]"#)
        let metadata = try ProviderMetadata.parse(doc, expectedIssuer: Self.issuer)
        #expect(metadata.jwksURI == "https://idp.example/certs")
        #expect(metadata.tokenEndpoint == "https://idp.example/token")
        #expect(metadata.endSessionEndpoint == "https://idp.example/logout")
        #expect(metadata.idTokenAlgorithms == ["RS256", "ES256"])
        #expect(metadata.codeChallengeMethods == ["S256"])
        #expect(ProviderMetadata.discoveryURL(for: Self.issuer + "/")
                == "https://idp.example/realms/main/.well-known/openid-configuration")
    }

    @Test(arguments: [
        (#""issuer":"https://evil.example","jwks_uri":"https://idp.example/certs""#, "names issuer"),
        (#""issuer":"https://idp.example/realms/main/","jwks_uri":"https://idp.example/certs""#, "names issuer"),
        (#""jwks_uri":"https://idp.example/certs""#, "no 'issuer'"),
        (#""issuer":"https://idp.example/realms/main""#, "no 'jwks_uri'"),
        (#""issuer":"https://idp.example/realms/main","jwks_uri":"http://idp.example/certs""#, "not an https"),
        (#""issuer":"https://idp.example/realms/main","jwks_uri":17"#, "must be a string"),
        (#""issuer":"https://idp.example/realms/main","jwks_uri":"https://a/c","token_endpoint":"http://a/t""#,
         "token_endpoint"),
        (#""issuer":"x","issuer":"y""#, "not strict JSON"),
    ])
    func refusesABadDiscoveryDocument(_ members: String, _ expected: String) {
        #expect(throws: KeyError.self) { try ProviderMetadata.parse(Self.discovery(members), expectedIssuer: Self.issuer) }
        do {
            _ = try ProviderMetadata.parse(Self.discovery(members), expectedIssuer: Self.issuer)
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test func refusesAGarbageOrOversizedDiscoveryDocument() {
        #expect(throws: KeyError.self) { try ProviderMetadata.parse(Array("<html>".utf8), expectedIssuer: Self.issuer) }
        let big = Array(#"{"issuer":""#.utf8) + [UInt8](repeating: 0x61, count: 300 << 10) + Array(#""}"#.utf8)
        #expect(throws: KeyError.self) { try ProviderMetadata.parse(big, expectedIssuer: Self.issuer) }
    }

    @Test func maxAgeIsHonouredWithinBounds() {
        let schedule = RefreshSchedule(interval: .seconds(3600))
        #expect(schedule.afterSuccess(cacheControl: nil) == .seconds(3600))
        #expect(schedule.afterSuccess(cacheControl: "public, max-age=7200") == .seconds(7200))
        #expect(schedule.afterSuccess(cacheControl: "max-age=5") == .seconds(300))  // lower bound
        #expect(schedule.afterSuccess(cacheControl: "max-age=604800") == .seconds(86400))  // upper bound
        #expect(schedule.afterSuccess(cacheControl: "no-cache, max-age=7200") == .seconds(300))
        #expect(schedule.afterSuccess(cacheControl: "no-store") == .seconds(300))
        #expect(schedule.afterSuccess(cacheControl: "max-age=abc") == .seconds(3600))
        #expect(schedule.afterSuccess(cacheControl: "max-age=-1") == .seconds(3600))
        #expect(schedule.afterSuccess(cacheControl: "max-age=60, max-age=7200") == .seconds(3600))  // duplicated
        #expect(schedule.afterSuccess(cacheControl: "max-age=99999999999999999999") == .seconds(3600))
        #expect(schedule.afterSuccess(cacheControl: #"max-age="1800""#) == .seconds(1800))
    }

    @Test func failuresBackOffUpToFiveMinutes() {
        let schedule = RefreshSchedule(interval: .seconds(3600))
        #expect(schedule.afterFailure(1) == .seconds(5))
        #expect(schedule.afterFailure(2) == .seconds(10))
        #expect(schedule.afterFailure(4) == .seconds(40))
        #expect(schedule.afterFailure(10) == .seconds(300))
        #expect(schedule.afterFailure(1000) == .seconds(300))
        #expect(RefreshSchedule(interval: .seconds(60)).afterFailure(10) == .seconds(60))
    }

    @Test func unknownKidGateAdmitsOnePerInterval() {
        let gate = RefreshGate(intervalSeconds: 30)
        #expect(gate.admit(nowSeconds: 1000))
        #expect(!gate.admit(nowSeconds: 1000))
        #expect(!gate.admit(nowSeconds: 1029))
        #expect(gate.admit(nowSeconds: 1030))
        #expect(!gate.admit(nowSeconds: 1031))
    }

    @Test func unknownKidGateAdmitsOneOfAConcurrentFlood() async {
        let gate = RefreshGate(intervalSeconds: 30)
        let admitted = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask { if gate.admit(nowSeconds: 5000) { admitted.value.add(1, ordering: .relaxed) } }
            }
        }
        #expect(admitted.count == 1)
    }

    @Test func providerJWKSSkipsJunkKeysAndKeepsTheGoodOnes() throws {
        let good = TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","kid":"good""#)
        let ec = TestKeys.ecJWK(curve: "P-256", x963: TestKeys.p256.publicKey.x963Representation, extra: #","kid":"ec""#)
        let json = #"{"keys":[{"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"},"#
            + #"{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","alg":"HS256"},"#
            + #"{"kty":"EC","kid":"off","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","#
            + #""y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},17,"#
            + #"{"kty":"RSA","use":"enc","kid":"enc","n":"AQAB","e":"AQAB"},\#(good),\#(ec)]}"#
        let parsed = try KeyLoader.providerJWKS(Array(json.utf8))
        #expect(parsed.keys.map(\.kid) == ["good", "ec"])
        #expect(parsed.skipped.count == 4)
        #expect(parsed.skipped.contains { $0.contains("symmetric") })
    }

    @Test(arguments: [#"{"keys":[]}"#, #"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}"#,
                      #"{"kty":"RSA"}"#, "[]", "not json"])
    func providerJWKSWithNoUsableKeyIsRefused(_ json: String) {
        #expect(throws: KeyError.self) { try KeyLoader.providerJWKS(Array(json.utf8)) }
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        var count: Int { value.load(ordering: .relaxed) }
    }

    static func providerVerifier(_ keys: [VerificationKey], calls: Counter) -> TokenVerifier {
        let hook = ProviderKeyHook { calls.value.add(1, ordering: .relaxed) }
        return TokenVerifier(
            issuers: [IssuerPolicy(issuer: Fixture.issuer, audiences: [Fixture.audience], keys: keys, provider: hook)],
            leewaySeconds: 30)
    }

    @Test func aProviderIssuerWithoutKeysYetIsUnavailableNotRefused() {
        let calls = Counter()
        let verifier = Self.providerVerifier([], calls: calls)
        for algorithm in [JWSAlgorithm.RS256, .ES256, .HS256] {
            let (signing, _) = TestKeys.pair(algorithm)
            let token = TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: algorithm, kid: "k1")
            #expect(Fixture.outcome(verifier, token) == "issuer-keys-unavailable")
        }
        // Another issuer's token is still just wrong-issuer; alg none is still refused first.
        let (signing, _) = TestKeys.pair(.RS256)
        let other = TokenMinter.mint(claims: Fixture.claims(iss: "https://other"), key: signing, algorithm: .RS256)
        #expect(Fixture.outcome(verifier, other) == "wrong-issuer")
        let none = TokenMinter.raw(#"{"alg":"none"}"#, Fixture.claims(), "")
        #expect(Fixture.outcome(verifier, none) != "issuer-keys-unavailable")
    }

    @Test func anUnknownKidAsksTheProviderForKeysAndIsRefused() {
        let calls = Counter()
        let (signing, key) = TestKeys.pair(.RS256, kid: "current")
        let verifier = Self.providerVerifier([key], calls: calls)
        let known = TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: .RS256, kid: "current")
        #expect(Fixture.outcome(verifier, known) == "ok")
        #expect(calls.count == 0)
        let rotated = TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: .RS256, kid: "next")
        #expect(Fixture.outcome(verifier, rotated) == "unknown-kid")
        #expect(calls.count == 1)
        // HS256 signed with the RSA key's public bytes: no HMAC key exists, so never verified.
        let confused = TokenMinter.mint(claims: Fixture.claims(),
                                        key: .hmac(Array(TestKeys.rsa.publicKey.pemRepresentation.utf8)),
                                        algorithm: .HS256, kid: "current")
        #expect(Fixture.outcome(verifier, confused) == "alg-not-allowed")
    }
}
