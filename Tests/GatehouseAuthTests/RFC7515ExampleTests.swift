import Foundation
import Testing

@testable import GatehouseAuth

/// The published examples of RFC 7515 Appendix A and RFC 7520 §4: tokens and keys made by others, byte for byte.
///
/// Every key and token below was cross-checked with Python's `cryptography` (an independent verifier) before it
/// was written here. The RFC 7515 JWS payload is a JWT claims set (`{"iss":"joe",\r\n "exp":1300819380,\r\n
/// "http://example.com/is_root":true}`), so the whole ``TokenVerifier`` applies: issuer "joe", no audience (the
/// example has no `aud`; an empty audience list skips the check in ``ClaimsCheck/checkAudience(_:accepted:)``,
/// though the config always requires at least one audience), `now` just before its `exp`.
///
/// The RFC 7520 payload is prose, not a claims set, so ``TokenVerifier`` refuses it (`bad-json`); for those
/// examples the signature check itself (``VerificationKey/isValidSignature(_:for:)`` on the parsed
/// ``CompactJWS``) is what is tested, with the key loaded through ``KeyLoader/jwks(_:)``.
@Suite struct RFC7515ExampleTests {
    /// `exp` of the RFC 7515 examples (2011-03-22T18:43:00Z).
    static let exp: Int64 = 1_300_819_380

    /// The RFC 7515 Appendix A payload, base64url.
    static let payload =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

    /// One published example: the key (a JWK, or JWKS) and the compact token.
    struct Example: Sendable, CustomTestStringConvertible {
        var name: String
        var jwk: String
        var token: String
        var testDescription: String { name }
    }

    /// RFC 7515 A.1: HS256 with the symmetric JWK of A.1.1 (its `alg` added: the loader wants it for `oct`).
    static let a1 = Example(
        name: "RFC 7515 A.1 HS256",
        jwk: #"{"kty":"oct","alg":"HS256","#
            + #""k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#,
        token: "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + payload
            + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")

    /// RFC 7515 A.2: RS256 with the public part (`n`, `e`) of the RSA JWK of A.2.1 (no `alg`: RSA defaults to RS256).
    static let a2 = Example(
        name: "RFC 7515 A.2 RS256",
        jwk: #"{"kty":"RSA","e":"AQAB","n":""#
            + "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SF"
            + "d2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo"
            + "7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkM"
            + "Ls91kzk2PAcDTW9gb54h4FRWyuXpoQ"
            + #""}"#,
        token: "eyJhbGciOiJSUzI1NiJ9." + payload + "."
            + "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9"
            + "CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOL"
            + "n6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtV"
            + "rBp0igcN_IoypGlUPQGe77Rw")

    /// RFC 7515 A.3: ES256 with the public part (`x`, `y`) of the P-256 JWK of A.3.1.
    static let a3 = Example(
        name: "RFC 7515 A.3 ES256",
        jwk: #"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","#
            + #""y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        token: "eyJhbGciOiJFUzI1NiJ9." + payload + "."
            + "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")

    /// The RFC 7520 §4 payload (prose with U+2019), base64url.
    static let rfc7520Payload =
        "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5k"
        + "IGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"

    /// RFC 7520 §4.1: RS256 with the RSA public key of §3.3 (kid bilbo.baggins@hobbiton.example).
    static let rfc7520RS256 = Example(
        name: "RFC 7520 4.1 RS256",
        jwk: #"{"kty":"RSA","kid":"bilbo.baggins@hobbiton.example","use":"sig","alg":"RS256","e":"AQAB","n":""#
            + "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKr"
            + "Kb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5l"
            + "FHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__"
            + "kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw"
            + #""}"#,
        token: "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9." + rfc7520Payload + "."
            + "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-B"
            + "DkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is"
            + "9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ip"
            + "H84ogoree7vjbU5y18kDquDg")

    /// RFC 7520 §4.3: ES512 with the P-521 public key of §3.2 (kid bilbo.baggins@hobbiton.example).
    static let rfc7520ES512 = Example(
        name: "RFC 7520 4.3 ES512",
        jwk: #"{"kty":"EC","kid":"bilbo.baggins@hobbiton.example","use":"sig","crv":"P-521","#
            + #""x":"AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt","#
            + #""y":"AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"}"#,
        token: "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9." + rfc7520Payload + "."
            + "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnA"
            + "MDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2")

    /// A verifier for the RFC 7515 examples: issuer "joe", no audiences, `exp` required, no leeway.
    static func joeVerifier(_ example: Example) throws -> TokenVerifier {
        let keys = try KeyLoader.jwks(example.jwk)
        return TokenVerifier(
            issuers: [IssuerPolicy(issuer: "joe", audiences: [], keys: keys)], leewaySeconds: 0)
    }

    /// `token` with one bit of its decoded signature flipped (byte `index`, from the end when negative),
    /// re-encoded as canonical base64url so that only the signature, not the encoding, is wrong.
    static func flippingSignatureBit(_ token: String, byte index: Int, mask: UInt8 = 0x01) -> String {
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var signature = Base64URL.decode(Array(parts[2].utf8)[...])!
        let position = index >= 0 ? index : signature.count + index
        signature[position] ^= mask
        parts[2] = TokenMinter.base64url(signature)
        return parts.joined(separator: ".")
    }

    @Test(arguments: [a1, a2, a3])
    func rfc7515ExampleVerifies(_ example: Example) throws {
        let verifier = try Self.joeVerifier(example)
        let verified = try verifier.verify(example.token.tokenBytes, now: Self.exp - 1).get()
        #expect(verified.issuer == "joe")
        #expect(verified.subject == nil)
        #expect(verified.expiresAt == Self.exp)
        #expect(verified.claims.map(\.0) == ["iss", "exp", "http://example.com/is_root"])
        #expect(verified.claim("http://example.com/is_root") == .bool(true))
    }

    @Test(arguments: [a1, a2, a3])
    func rfc7515ExampleIsJudgedOnItsClaims(_ example: Example) throws {
        let verifier = try Self.joeVerifier(example)
        // exp itself is too late (now < exp is required), and an hour later certainly.
        #expect(Fixture.outcome(verifier, example.token, now: Self.exp) == "expired")
        #expect(Fixture.outcome(verifier, example.token, now: Self.exp + 3600) == "expired")
        // Another issuer, or a configured audience the example does not name.
        let keys = try KeyLoader.jwks(example.jwk)
        let otherIssuer = TokenVerifier(
            issuers: [IssuerPolicy(issuer: "Joe", audiences: [], keys: keys)], leewaySeconds: 0)
        #expect(Fixture.outcome(otherIssuer, example.token, now: Self.exp - 1) == "wrong-issuer")
        let withAudience = TokenVerifier(
            issuers: [IssuerPolicy(issuer: "joe", audiences: ["gatehouse"], keys: keys)], leewaySeconds: 0)
        #expect(Fixture.outcome(withAudience, example.token, now: Self.exp - 1) == "wrong-audience")
    }

    @Test(arguments: [a1, a2, a3])
    func rfc7515ExampleFailsAfterOneBitFlip(_ example: Example) throws {
        let verifier = try Self.joeVerifier(example)
        for index in [0, 1, 17, -2, -1] {
            for mask: UInt8 in [0x01, 0x80] {
                let flipped = Self.flippingSignatureBit(example.token, byte: index, mask: mask)
                #expect(flipped != example.token)
                #expect(Fixture.outcome(verifier, flipped, now: Self.exp - 1) == "bad-signature",
                        "byte \(index) mask \(mask)")
            }
        }
        // One flipped bit in the signed part (here the payload text) breaks the token too, whatever the reason.
        var bytes = Array(example.token.utf8)
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))!
        bytes[dot + 2] ^= 0x01
        #expect(Fixture.outcome(verifier, String(decoding: bytes, as: UTF8.self), now: Self.exp - 1) != "ok")
    }

    @Test(arguments: [rfc7520RS256, rfc7520ES512])
    func rfc7520ExampleSignatureVerifies(_ example: Example) throws {
        let keys = try KeyLoader.jwks(example.jwk)
        #expect(keys.count == 1)
        let key = try #require(keys.first)
        #expect(key.kid == "bilbo.baggins@hobbiton.example")
        let jws = try CompactJWS(example.token.tokenBytes)
        let header = try JOSEHeader(jws.header)
        #expect(header.algorithm == key.algorithm)
        #expect(header.kid == key.kid)
        #expect(jws.signature.count == key.signatureByteCount)
        #expect(key.isValidSignature(jws.signature, for: jws.signingInput))
        #expect(String(decoding: jws.payload, as: UTF8.self).hasPrefix("It\u{2019}s a dangerous business, Frodo"))

        for index in [0, 1, 17, -2, -1] {
            let flipped = try CompactJWS(Self.flippingSignatureBit(example.token, byte: index).tokenBytes)
            #expect(!key.isValidSignature(flipped.signature, for: flipped.signingInput), "byte \(index)")
        }
        // The payload is not a JWT claims set: the full verifier refuses it as such, whatever the signature.
        let verifier = TokenVerifier(
            issuers: [IssuerPolicy(issuer: "joe", audiences: [], keys: keys)], leewaySeconds: 0)
        #expect(Fixture.outcome(verifier, example.token) == "bad-json")
    }
}
