import Testing

@testable import GatehouseAuth

/// Issuer, audience, time and type rules for claims (signature valid throughout, so only the claim decides).
@Suite struct ClaimsTests {
    private static let (signing, key) = TestKeys.pair(.HS256)

    private func outcome(
        _ claims: String, audiences: [String] = [Fixture.audience], requireExpiry: Bool = true, leeway: Int64 = 30,
        now: Int64 = Fixture.now
    ) -> String {
        let token = TokenMinter.mint(claims: claims, key: Self.signing, algorithm: .HS256)
        let verifier = Fixture.verifier([Self.key], audiences: audiences, requireExpiry: requireExpiry, leeway: leeway)
        return Fixture.outcome(verifier, token, now: now)
    }

    @Test func issuerMatchesExactly() {
        #expect(outcome(Fixture.claims()) == "ok")
        #expect(outcome(Fixture.claims(iss: "https://issuer.example/")) == "wrong-issuer")
        #expect(outcome(Fixture.claims(iss: "https://ISSUER.example")) == "wrong-issuer")
        #expect(outcome(Fixture.claims(iss: "https://issuer.exampl")) == "wrong-issuer")
        #expect(outcome(#"{"sub":"alice","aud":"gatehouse","exp":1750003600}"#) == "wrong-issuer")
        #expect(outcome(#"{"iss":7,"aud":"gatehouse","exp":1750003600}"#) == "bad-claim-type")
        #expect(outcome(#"{"iss":["https://issuer.example"],"aud":"gatehouse","exp":1750003600}"#) == "bad-claim-type")
    }

    @Test func audienceIsAStringOrAnArray() {
        #expect(outcome(Fixture.claims(aud: #"["other","gatehouse"]"#)) == "ok")
        #expect(outcome(Fixture.claims(aud: #"["other"]"#)) == "wrong-audience")
        #expect(outcome(Fixture.claims(aud: #"[]"#)) == "wrong-audience")
        #expect(outcome(Fixture.claims(aud: #""Gatehouse""#)) == "wrong-audience")
        #expect(outcome(#"{"iss":"https://issuer.example","exp":1750003600}"#) == "wrong-audience")
        #expect(outcome(Fixture.claims(aud: "7")) == "bad-claim-type")
        #expect(outcome(Fixture.claims(aud: "null")) == "bad-claim-type")
        #expect(outcome(Fixture.claims(aud: #"{"gatehouse":true}"#)) == "bad-claim-type")
        #expect(outcome(Fixture.claims(aud: #"["gatehouse",7]"#)) == "bad-claim-type")
        #expect(outcome(Fixture.claims(aud: #"["gatehouse"]"#), audiences: ["a", "gatehouse"]) == "ok")
        // No configured audiences: the audience is not checked at all.
        #expect(outcome(#"{"iss":"https://issuer.example","exp":1750003600}"#, audiences: []) == "ok")
    }

    @Test func expiryWithLeeway() {
        let now = Fixture.now
        #expect(outcome(Fixture.claims(exp: "\(now - 31)")) == "expired")
        #expect(outcome(Fixture.claims(exp: "\(now - 30)")) == "expired")  // now ≥ exp + leeway
        #expect(outcome(Fixture.claims(exp: "\(now - 29)")) == "ok")
        #expect(outcome(Fixture.claims(exp: "\(now)"), leeway: 0) == "expired")
        #expect(outcome(Fixture.claims(exp: "\(now + 1)"), leeway: 0) == "ok")
        #expect(outcome(Fixture.claims(exp: "\(now - 29).5")) == "ok")  // fractional NumericDate
    }

    @Test func expiryIsRequiredUnlessConfiguredOtherwise() throws {
        let claims = #"{"iss":"https://issuer.example","aud":"gatehouse"}"#
        #expect(outcome(claims) == "missing-exp")
        #expect(outcome(claims, requireExpiry: false) == "ok")
        let token = TokenMinter.mint(claims: claims, key: Self.signing, algorithm: .HS256)
        let verified = try Fixture.verifier([Self.key], requireExpiry: false).verify(token.tokenBytes, now: Fixture.now)
            .get()
        #expect(verified.expiresAt == nil && verified.subject == nil)
    }

    @Test func notBeforeAndIssuedAtWithLeeway() {
        let now = Fixture.now
        #expect(outcome(Fixture.claims(extra: #","nbf":\#(now + 31)"#)) == "not-yet-valid")
        #expect(outcome(Fixture.claims(extra: #","nbf":\#(now + 30)"#)) == "ok")
        #expect(outcome(Fixture.claims(extra: #","nbf":\#(now)"#), leeway: 0) == "ok")
        #expect(outcome(Fixture.claims(extra: #","nbf":\#(now + 1)"#), leeway: 0) == "not-yet-valid")
        let futureIat = #"{"iss":"https://issuer.example","aud":"gatehouse","exp":1750003600,"iat":\#(now + 31)}"#
        #expect(outcome(futureIat) == "issued-in-future")
        #expect(outcome(futureIat, leeway: 31) == "ok")
    }

    @Test(arguments: [
        #""1750003600""#, "true", "null", "[1750003600]", #"{"t":1}"#, "1e300", "-1e300", "1e308",
        "-1.7976931348623157e308",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "99999999999999999999999",
        "9007199254740993", "-9007199254740993",
    ])
    func timeClaimsMustBeInRangeNumbers(_ value: String) {
        #expect(outcome(Fixture.claims(exp: value)) == "bad-claim-type", "exp \(value)")
        #expect(outcome(Fixture.claims(extra: #","nbf":\#(value)"#)) == "bad-claim-type", "nbf \(value)")
        let withIat = #"{"iss":"https://issuer.example","aud":"gatehouse","exp":1750003600,"iat":\#(value)}"#
        #expect(outcome(withIat) == "bad-claim-type", "iat \(value)")
    }

    @Test func rangeLimitsAreInclusiveAndNeverTrap() {
        #expect(outcome(Fixture.claims(exp: "9007199254740992")) == "ok")
        #expect(outcome(Fixture.claims(exp: "9007199254740992.0")) == "ok")
        #expect(outcome(Fixture.claims(exp: "-9007199254740992")) == "expired")
        #expect(outcome(Fixture.claims(extra: #","nbf":-9007199254740992"#)) == "ok")
        #expect(outcome(Fixture.claims(extra: #","nbf":-9007199254740992"#), leeway: 1 << 32) == "ok")
        // An arbitrary injected clock must not trap either.
        #expect(outcome(Fixture.claims(), now: .max) == "expired")
        #expect(outcome(Fixture.claims(extra: #","nbf":0"#), now: .min) == "not-yet-valid")
        #expect(
            outcome(
                Fixture.claims(exp: "9007199254740992", extra: #","nbf":-9007199254740992"#), leeway: 1 << 32, now: .min
            ) == "not-yet-valid")
    }

    @Test func subjectMustBeAString() {
        #expect(
            outcome(#"{"iss":"https://issuer.example","aud":"gatehouse","exp":1750003600,"sub":42}"#)
                == "bad-claim-type")
        #expect(
            outcome(#"{"iss":"https://issuer.example","aud":"gatehouse","exp":1750003600,"sub":null}"#)
                == "bad-claim-type")
    }

    @Test func cheapChecksComeBeforeTheSignature() {
        // An expired token with a garbage signature reports the expiry: no signature work was done for it.
        let claims = Fixture.claims(exp: "\(Fixture.now - 3600)")
        let forged = TokenMinter.forge(
            header: #"{"alg":"HS256"}"#, payload: claims, signature: [UInt8](repeating: 0, count: 32))
        #expect(Fixture.outcome(Fixture.verifier([Self.key]), forged) == "expired")
        let wrongIssuer = TokenMinter.forge(
            header: #"{"alg":"HS256"}"#, payload: Fixture.claims(iss: "x"), signature: [])
        #expect(Fixture.outcome(Fixture.verifier([Self.key]), wrongIssuer) == "wrong-issuer")
    }
}
