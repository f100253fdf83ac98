@preconcurrency import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import GatehouseAuth

@Suite struct KeyLoaderTests {
    private func pemError(_ text: String, _ algorithm: JWSAlgorithm?) -> String? {
        do {
            _ = try KeyLoader.pem(text, algorithm: algorithm, kid: nil)
            return nil
        } catch {
            return error.message
        }
    }

    private func jwksError(_ json: String) -> String? {
        do {
            _ = try KeyLoader.jwks(json)
            return nil
        } catch {
            return error.message
        }
    }

    // MARK: PEM

    @Test func loadsPEMKeysWithTheirAlgorithms() throws {
        let rsa = try KeyLoader.pem(TestKeys.rsa.publicKey.pemRepresentation, algorithm: .PS384, kid: "r1")
        #expect(rsa.algorithm == .PS384 && rsa.kid == "r1" && rsa.signatureByteCount == 256)
        let pkcs1 = try KeyLoader.pem(TestKeys.rsa.publicKey.pkcs1PEMRepresentation, algorithm: .RS256, kid: nil)
        #expect(pkcs1.algorithm == .RS256 && pkcs1.signatureByteCount == 256)
        let rsa3072 = try KeyLoader.pem(TestKeys.rsa3072.publicKey.pemRepresentation, algorithm: .RS512, kid: nil)
        #expect(rsa3072.signatureByteCount == 384)
        #expect(
            try KeyLoader.pem(TestKeys.p256.publicKey.pemRepresentation, algorithm: nil, kid: nil).algorithm == .ES256)
        #expect(
            try KeyLoader.pem(TestKeys.p384.publicKey.pemRepresentation, algorithm: .ES384, kid: nil).algorithm
                == .ES384)
        #expect(
            try KeyLoader.pem(TestKeys.p521.publicKey.pemRepresentation, algorithm: nil, kid: nil).algorithm == .ES512)
        let ed = try KeyLoader.pem(TestKeys.ed25519PEM(TestKeys.ed25519.publicKey), algorithm: nil, kid: nil)
        #expect(ed.algorithm == .EdDSA)
        let withPreamble = "Issuer key, rotated 2025-06\n" + TestKeys.p256.publicKey.pemRepresentation + "\n\n"
        #expect(try KeyLoader.pem(withPreamble, algorithm: nil, kid: nil).algorithm == .ES256)
    }

    @Test func refusesAlgorithmsThatDoNotFitTheKey() {
        let rsaPEM = TestKeys.rsa.publicKey.pemRepresentation
        #expect(pemError(rsaPEM, nil)?.contains("explicit algorithm") == true)
        for algorithm in [JWSAlgorithm.HS256, .ES256, .EdDSA] {
            #expect(pemError(rsaPEM, algorithm) != nil, "\(algorithm)")
        }
        #expect(pemError(TestKeys.p384.publicKey.pemRepresentation, .ES256)?.contains("ES384") == true)
        #expect(pemError(TestKeys.p256.publicKey.pemRepresentation, .ES512) != nil)
        #expect(pemError(TestKeys.p256.publicKey.pemRepresentation, .RS256) != nil)
        #expect(pemError(TestKeys.p256.publicKey.pemRepresentation, .HS256) != nil)
        #expect(pemError(TestKeys.ed25519PEM(TestKeys.ed25519.publicKey), .ES256) != nil)
    }

    @Test func refusesWeakRSAKeys() {
        #expect(pemError(TestKeys.rsa1024.publicKey.pemRepresentation, .RS256)?.contains("1024 bits") == true)
        #expect(pemError(TestKeys.rsa1024.publicKey.pkcs1PEMRepresentation, .RS256)?.contains("1024 bits") == true)
    }

    @Test func refusesPrivateKeysCertificatesAndGarbage() {
        #expect(pemError(TestKeys.p256.pemRepresentation, nil)?.contains("private key") == true)
        #expect(pemError(TestKeys.rsa.pemRepresentation, .RS256)?.contains("private key") == true)
        #expect(
            pemError("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", nil)?.contains("certificate")
                == true)
        #expect(pemError("", nil) != nil)
        #expect(pemError("-----BEGIN PUBLIC KEY-----\nAAAA\n", nil) != nil)  // no END line
        #expect(pemError("-----BEGIN PUBLIC KEY-----\nAA!A\n-----END PUBLIC KEY-----\n", nil) != nil)
        #expect(pemError("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n", nil) != nil)  // empty SEQUENCE
        let pem = TestKeys.p256.publicKey.pemRepresentation
        #expect(pemError(pem + pem, nil) != nil)  // two blocks
        #expect(pemError(pem.replacingOccurrences(of: "END PUBLIC KEY", with: "END RSA PUBLIC KEY"), nil) != nil)
    }

    @Test func refusesECPointsOffTheCurve() {
        var der = Array(TestKeys.p256.publicKey.derRepresentation)
        der[der.count - 1] ^= 0x01  // y changes: the point leaves the curve
        let pem = "-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString() + "\n-----END PUBLIC KEY-----\n"
        #expect(pemError(pem, nil) != nil)
    }

    // MARK: HMAC

    @Test func hmacSecretsMustBeAtLeastTheHashLength() throws {
        for (algorithm, length) in [(JWSAlgorithm.HS256, 32), (.HS384, 48), (.HS512, 64)] {
            #expect(throws: KeyError.self) {
                try KeyLoader.hmac(secret: [UInt8](repeating: 1, count: length - 1), algorithm: algorithm, kid: nil)
            }
            let key = try KeyLoader.hmac(secret: [UInt8](repeating: 1, count: length), algorithm: algorithm, kid: "h")
            #expect(key.algorithm == algorithm && key.kid == "h" && key.signatureByteCount == length)
        }
        #expect(throws: KeyError.self) {
            try KeyLoader.hmac(secret: TestKeys.hmacSecret64, algorithm: .RS256, kid: nil)
        }
        #expect(throws: KeyError.self) {
            try KeyLoader.hmac(secret: TestKeys.hmacSecret64, algorithm: .ES256, kid: nil)
        }
    }

    // MARK: JWK / JWKS

    @Test func loadsAJWKSWithEveryKeyType() throws {
        let secret = TokenMinter.base64url(TestKeys.hmacSecret32)
        let p256 = TestKeys.p256.publicKey.x963Representation
        let p384 = TestKeys.p384.publicKey.x963Representation
        let json = """
            {"keys":[
              \(TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","kid":"rsa-default","use":"sig""#)),
              \(TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","kid":"rsa-ps","alg":"PS256""#)),
              \(TestKeys.ecJWK(curve: "P-256", x963: p256, extra: #","kid":"ec256""#)),
              \(TestKeys.ecJWK(curve: "P-384", x963: p384, extra: #","alg":"ES384""#)),
              \(TestKeys.ecJWK(curve: "P-521", x963: TestKeys.p521.publicKey.x963Representation)),
              \(TestKeys.ed25519JWK(TestKeys.ed25519.publicKey, extra: #","kid":"ed""#)),
              {"kty":"oct","k":"\(secret)","alg":"HS256","kid":"mac"},
              \(TestKeys.rsaJWK(TestKeys.rsaOther.publicKey, extra: #","kid":"enc-key","use":"enc","alg":"RS256""#)),
              {"kty":"RSA","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}
            ]}
            """
        let keys = try KeyLoader.jwks(json)
        #expect(keys.map(\.algorithm) == [.RS256, .PS256, .ES256, .ES384, .ES512, .EdDSA, .HS256])
        #expect(keys.map(\.kid) == ["rsa-default", "rsa-ps", "ec256", nil, nil, "ed", "mac"])
    }

    @Test func loadsASingleJWKAndIgnoresPrivateMembers() throws {
        let keys = try KeyLoader.jwks(
            TestKeys.ecJWK(
                curve: "P-256", x963: TestKeys.p256.publicKey.x963Representation,
                extra: #","d":"\#(TokenMinter.base64url(TestKeys.p256.rawRepresentation))""#))
        #expect(keys.count == 1 && keys[0].algorithm == .ES256)
        // The loaded key verifies a token signed by the matching private key.
        let token = TokenMinter.mint(claims: Fixture.claims(), key: .p256(TestKeys.p256), algorithm: .ES256)
        #expect(Fixture.outcome(Fixture.verifier(keys), token) == "ok")
    }

    @Test func refusesBadJWKs() {
        let p256 = TestKeys.p256.publicKey.x963Representation
        let goodX = TokenMinter.base64url(Array(p256.dropFirst())[0..<32])
        let goodY = Array(p256.dropFirst())[32..<64]
        var offCurveY = Array(goodY)
        offCurveY[31] ^= 1
        let cases: [(String, String)] = [
            ("not json", "not strict JSON"),
            (#"{"keys":[]}"#, "no signature"),
            (#"{"keys":{}}"#, "array"),
            (#"{"keys":[1]}"#, "not an object"),
            (#"{"n":"AQAB"}"#, "neither"),
            (#"{"kty":"RSA","kty":"RSA","n":"AQAB","e":"AQAB"}"#, "duplicate-member"),
            (#"{"kty":"EC","crv":"P-256","x":"\#(goodX)","y":"\#(TokenMinter.base64url(offCurveY))"}"#, "point"),
            (
                #"{"kty":"EC","crv":"P-256","x":"\#(goodX)","y":"\#(TokenMinter.base64url(goodY.dropFirst()))"}"#,
                "32 bytes"
            ),
            (
                #"{"kty":"EC","crv":"P-256","x":"\#(goodX)","y":"\#(TokenMinter.base64url(goodY))","alg":"ES384"}"#,
                "ES384"
            ),
            (#"{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}"#, "curve"),
            (#"{"kty":"EC","crv":"P-256","x":"\#(goodX)="}"#, "base64url"),
            (TestKeys.rsaJWK(TestKeys.rsa1024.publicKey), "1024 bits"),
            (TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","alg":"ES256""#), "cannot verify"),
            (TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","alg":"none""#), "not a supported"),
            (TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","use":"other""#), "use"),
            (TestKeys.rsaJWK(TestKeys.rsa.publicKey, extra: #","kid":7"#), "must be a string"),
            (#"{"kty":"oct","k":"\#(TokenMinter.base64url(TestKeys.hmacSecret32))"}"#, "needs 'alg'"),
            (#"{"kty":"oct","k":"\#(TokenMinter.base64url(TestKeys.hmacSecret32))","alg":"HS512"}"#, "at least 64"),
            (#"{"kty":"OKP","crv":"X25519","x":"\#(TokenMinter.base64url(TestKeys.hmacSecret32))"}"#, "X25519"),
            (#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#, "32 bytes"),
            (#"{"kty":"RSA","e":"AQAB"}"#, "missing 'n'"),
            (#"{"kty":"DSA"}"#, "kty"),
        ]
        for (json, expected) in cases {
            let message = jwksError(json)
            #expect(message?.contains(expected) == true, "\(json) → \(message ?? "accepted")")
        }
    }
}
