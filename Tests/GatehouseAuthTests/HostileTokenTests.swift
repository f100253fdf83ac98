@preconcurrency import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import GatehouseAuth

/// Forged and malformed tokens: every rule of SECURITY.md's JWT section, with raw bytes.
@Suite struct HostileTokenTests {
    private static let (hmacSigning, hmacKey) = TestKeys.pair(.HS256)
    private static let hmacVerifier = Fixture.verifier([hmacKey])
    private static let validHMAC = TokenMinter.mint(claims: Fixture.claims(), key: hmacSigning, algorithm: .HS256)
    private static let headerHS256 = TokenMinter.base64url(Array(#"{"alg":"HS256"}"#.utf8))
    private static let payload = TokenMinter.base64url(Array(Fixture.claims().utf8))

    private func outcome(_ token: String) -> String { Fixture.outcome(Self.hmacVerifier, token) }

    // MARK: Size and segments

    @Test func refusesOversizedTokensFirst() {
        #expect(outcome(String(repeating: "A", count: 8193)) == "too-large")
        #expect(outcome(String(repeating: ".", count: 100_000)) == "too-large")
        let verifier = TokenVerifier(issuers: [], leewaySeconds: 0, maxTokenBytes: 16)
        #expect(Fixture.outcome(verifier, "AAAAAAAA.AAAAAAAA") == "too-large")
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c.d", "a.b.c.", "..", "...", ".a.b", "a..b", "e30.e30.e30.e30"])
    func refusesWrongSegmentCounts(_ token: String) {
        #expect(outcome(token) == "malformed")
    }

    @Test func thousandsOfDotsAreMalformed() {
        #expect(outcome(String(repeating: ".", count: 8000)) == "malformed")
        #expect(outcome(Self.validHMAC + String(repeating: ".", count: 4000)) == "malformed")
        #expect(outcome(String(repeating: "e30.", count: 2000)) == "malformed")
    }

    // MARK: Base64url

    @Test func refusesNonCanonicalBase64() {
        let parts = Self.validHMAC.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let (h, p, s) = (parts[0], parts[1], parts[2])
        #expect(outcome(Self.validHMAC) == "ok")
        #expect(outcome(TokenMinter.raw(h + "=", p, s)) == "bad-base64")
        #expect(outcome(TokenMinter.raw(h, p, s + "=")) == "bad-base64")
        #expect(
            outcome(
                TokenMinter.raw(
                    h, p.replacingOccurrences(of: "_", with: "/").replacingOccurrences(of: "-", with: "+") + "+", s))
                == "bad-base64")
        #expect(outcome(TokenMinter.raw(h, p, s + "\n")) == "bad-base64")
        #expect(outcome(TokenMinter.raw(" " + h, p, s)) == "bad-base64")
        #expect(outcome(TokenMinter.raw(h, String(p.prefix(10)) + " " + p.dropFirst(10), s)) == "bad-base64")
        #expect(outcome(TokenMinter.raw(h, p, s + "AA")) == "bad-base64")  // 45 characters: 4n+1 is never valid
        // The signature is 32 bytes = 43 characters; its last character carries 2 unused bits that must be zero.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = alphabet.firstIndex(of: s.last!)!
        #expect(last & 0x03 == 0)
        let nonCanonical = String(s.dropLast()) + String(alphabet[last | 0x01])
        #expect(outcome(TokenMinter.raw(h, p, nonCanonical)) == "bad-base64")
        #expect(outcome(TokenMinter.raw(h, p, String(s.dropLast()) + String(alphabet[last | 0x02]))) == "bad-base64")
    }

    // MARK: JSON

    @Test func refusesNonJSONAndDuplicateMembers() {
        let sig = [UInt8](repeating: 1, count: 32)
        #expect(outcome(TokenMinter.forge(header: "not json", payload: Fixture.claims(), signature: sig)) == "bad-json")
        #expect(
            outcome(TokenMinter.forge(header: #"["HS256"]"#, payload: Fixture.claims(), signature: sig)) == "bad-json")
        #expect(outcome(TokenMinter.forge(header: #"{"alg":"HS256"}"#, payload: "[]", signature: sig)) == "bad-json")
        #expect(
            outcome(TokenMinter.forge(header: #"{"alg":"HS256"}"#, payload: #"{"iss":"x""#, signature: sig))
                == "bad-json")
        #expect(
            outcome(
                TokenMinter.forge(
                    headerBytes: Array(#"{"alg":"HS256","x":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8),
                    payloadBytes: Array(Fixture.claims().utf8))) == "bad-json")
        #expect(
            outcome(
                TokenMinter.forge(
                    headerBytes: Array(#"{"alg":"HS256"}"#.utf8),
                    payloadBytes: Array(#"{"sub":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8))) == "bad-json")
        // The classic: two `alg` members, read differently by two parsers.
        #expect(
            outcome(
                TokenMinter.forge(header: #"{"alg":"HS256","alg":"none"}"#, payload: Fixture.claims(), signature: sig))
                == "duplicate-member")
        let twoExp = Fixture.claims(extra: #","exp":9999999999"#)
        #expect(
            outcome(TokenMinter.mint(claims: twoExp, key: Self.hmacSigning, algorithm: .HS256)) == "duplicate-member")
        let twoIss = Fixture.claims(extra: #","iss":"https://evil.example""#)
        #expect(
            outcome(TokenMinter.mint(claims: twoIss, key: Self.hmacSigning, algorithm: .HS256)) == "duplicate-member")
        let deep = Fixture.claims(
            extra: #","x":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40))
        #expect(outcome(TokenMinter.mint(claims: deep, key: Self.hmacSigning, algorithm: .HS256)) == "bad-json")
    }

    // MARK: alg

    @Test(arguments: ["none", "None", "NONE", "nOnE"])
    func refusesUnsecuredTokens(_ alg: String) {
        let header = TokenMinter.base64url(Array(#"{"alg":"\#(alg)","typ":"JWT"}"#.utf8))
        #expect(outcome(TokenMinter.raw(header, Self.payload, "")) == "alg-none")
        #expect(outcome(TokenMinter.raw(header, Self.payload, "AAAA")) == "alg-none")
    }

    @Test func algIsComparedExactly() {
        let sig = [UInt8](repeating: 1, count: 32)
        for alg in [
            "hs256", "Hs256", "HS256 ", " HS256", "HS2560", "HS256\\u0000", "RS1", "ES256K", "Ed25519", "A128KW", "",
        ] {
            #expect(
                outcome(TokenMinter.forge(header: #"{"alg":"\#(alg)"}"#, payload: Fixture.claims(), signature: sig))
                    == "alg-not-allowed", "\(alg)")
        }
        for header in [#"{}"#, #"{"alg":null}"#, #"{"alg":256}"#, #"{"alg":["HS256"]}"#, #"{"alg":"HS256","kid":1}"#] {
            #expect(
                outcome(TokenMinter.forge(header: header, payload: Fixture.claims(), signature: sig)) == "malformed",
                "\(header)")
        }
    }

    @Test func hmacWithAPublicKeyAsSecretIsRefused() throws {
        // Algorithm confusion: the attacker signs HS256 with the RSA/EC public key's bytes as the HMAC secret.
        let rsaKey = try KeyLoader.pem(TestKeys.rsa.publicKey.pemRepresentation, algorithm: .RS256, kid: "r")
        let ecKey = try KeyLoader.pem(TestKeys.p256.publicKey.pemRepresentation, algorithm: nil, kid: "e")
        let verifier = Fixture.verifier([rsaKey, ecKey])
        let secrets: [[UInt8]] = [
            Array(TestKeys.rsa.publicKey.pemRepresentation.utf8), Array(TestKeys.rsa.publicKey.derRepresentation),
            Array(TestKeys.rsa.publicKey.pkcs1DERRepresentation), Array(TestKeys.p256.publicKey.pemRepresentation.utf8),
            Array(TestKeys.p256.publicKey.x963Representation),
        ]
        for secret in secrets {
            for kid in [nil, "r", "e"] as [String?] {
                let token = TokenMinter.mint(claims: Fixture.claims(), key: .hmac(secret), algorithm: .HS256, kid: kid)
                #expect(Fixture.outcome(verifier, token) == "alg-not-allowed")
            }
        }
    }

    @Test func curveAndAlgorithmMismatchesAreRefused() throws {
        let p384Key = try KeyLoader.pem(TestKeys.p384.publicKey.pemRepresentation, algorithm: nil, kid: nil)
        let verifier = Fixture.verifier([p384Key])
        // ES256 is not what a P-384 key verifies.
        let es256 = TokenMinter.mint(claims: Fixture.claims(), key: .p256(TestKeys.p256), algorithm: .ES256)
        #expect(Fixture.outcome(verifier, es256) == "alg-not-allowed")
        // A P-256 signature under an ES384 header has the wrong length for P-384.
        let relabelled = TokenMinter.mint(
            header: #"{"alg":"ES384"}"#, payload: Fixture.claims(), key: .p256(TestKeys.p256), algorithm: .ES256)
        #expect(Fixture.outcome(verifier, relabelled) == "bad-signature-length")
        // PKCS#1 v1.5 and PSS are different algorithms for one RSA key.
        let rs = try KeyLoader.pem(TestKeys.rsa.publicKey.pemRepresentation, algorithm: .RS256, kid: nil)
        let pss = TokenMinter.mint(claims: Fixture.claims(), key: .rsa(TestKeys.rsa), algorithm: .PS256)
        #expect(Fixture.outcome(Fixture.verifier([rs]), pss) == "alg-not-allowed")
        let pssAsRS = TokenMinter.mint(
            header: #"{"alg":"RS256"}"#, payload: Fixture.claims(), key: .rsa(TestKeys.rsa), algorithm: .PS256)
        #expect(Fixture.outcome(Fixture.verifier([rs]), pssAsRS) == "bad-signature")
    }

    @Test func embeddedKeysAndKeyURLsAreIgnored() throws {
        let (_, configured) = TestKeys.pair(.ES256, kid: "real")
        let verifier = Fixture.verifier([configured])
        let attacker = P256.Signing.PrivateKey()
        let jwk = TestKeys.ecJWK(curve: "P-256", x963: attacker.publicKey.x963Representation)
        let certificate = #"["\#(Data(attacker.publicKey.derRepresentation).base64EncodedString())"]"#
        for extra in [
            #","jwk":\#(jwk)"#, #","jku":"https://evil.example/jwks.json""#, #","x5u":"https://evil.example/cert.pem""#,
            #","x5c":\#(certificate)"#, #","jwk":\#(jwk),"jku":"https://evil.example/jwks.json""#,
        ] {
            for kid in [nil, "real"] as [String?] {
                let token = TokenMinter.mint(
                    claims: Fixture.claims(), key: .p256(attacker), algorithm: .ES256, kid: kid, extraHeader: extra)
                #expect(Fixture.outcome(verifier, token) == "bad-signature", "\(extra)")
            }
        }
    }

    // MARK: Signatures

    @Test func signatureLengthsAreExact() throws {
        let cases: [(JWSAlgorithm, Int)] = [
            (.HS256, 32), (.HS384, 48), (.HS512, 64), (.RS256, 256), (.PS512, 256), (.ES256, 64), (.ES384, 96),
            (.ES512, 132), (.EdDSA, 64),
        ]
        for (algorithm, length) in cases {
            let (signing, key) = TestKeys.pair(algorithm)
            let verifier = Fixture.verifier([key])
            let valid = TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: algorithm)
            #expect(Fixture.outcome(verifier, valid) == "ok")
            let signingInput = String(valid[..<valid.lastIndex(of: ".")!])
            let signature = Base64URL.decode(Array(valid[valid.index(after: valid.lastIndex(of: ".")!)...].utf8)[...])!
            #expect(signature.count == length, "\(algorithm)")
            for forged in [
                Array(signature.dropLast()), signature + [0], [0] + signature, [], Array(signature.prefix(length / 2)),
            ] {
                let token = signingInput + "." + TokenMinter.base64url(forged)
                #expect(Fixture.outcome(verifier, token) == "bad-signature-length", "\(algorithm) \(forged.count)")
            }
        }
    }

    @Test func derEncodedECDSASignaturesAreRefused() {
        let (_, key) = TestKeys.pair(.ES256)
        let input = Array("\(Self.headerES256).\(Self.payload)".utf8)
        let der = Array(try! TestKeys.p256.signature(for: SHA256.hash(data: input)).derRepresentation)
        #expect(
            Fixture.outcome(
                Fixture.verifier([key]), "\(Self.headerES256).\(Self.payload).\(TokenMinter.base64url(der))")
                == "bad-signature-length")
    }

    private static let headerES256 = TokenMinter.base64url(Array(#"{"alg":"ES256"}"#.utf8))

    @Test func ecdsaScalarsOutOfRangeFail() {
        let (signing, key) = TestKeys.pair(.ES256)
        let verifier = Fixture.verifier([key])
        let input = Array("\(Self.headerES256).\(Self.payload)".utf8)
        let valid = TokenMinter.sign(input, key: signing, algorithm: .ES256)
        let order: [UInt8] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
        ]
        let zero = [UInt8](repeating: 0, count: 32)
        let forged: [[UInt8]] = [
            zero + zero, Array(valid[..<32]) + zero, zero + Array(valid[32...]), order + Array(valid[32...]),
            Array(valid[..<32]) + order, [UInt8](repeating: 0xFF, count: 64),
        ]
        #expect(
            Fixture.outcome(verifier, "\(Self.headerES256).\(Self.payload).\(TokenMinter.base64url(valid))") == "ok")
        for signature in forged {
            #expect(
                Fixture.outcome(verifier, "\(Self.headerES256).\(Self.payload).\(TokenMinter.base64url(signature))")
                    == "bad-signature")
        }
    }

    @Test func nonCanonicalEd25519SignaturesFail() {
        let (signing, key) = TestKeys.pair(.EdDSA)
        let verifier = Fixture.verifier([key])
        let header = TokenMinter.base64url(Array(#"{"alg":"EdDSA"}"#.utf8))
        let valid = TokenMinter.sign(Array("\(header).\(Self.payload)".utf8), key: signing, algorithm: .EdDSA)
        #expect(Fixture.outcome(verifier, "\(header).\(Self.payload).\(TokenMinter.base64url(valid))") == "ok")
        // S + L encodes the same scalar mod L; RFC 8032 §5.1.7 requires S < L, so it must fail.
        let groupOrder: [UInt8] = [  // L, little-endian
            0xED, 0xD3, 0xF5, 0x5C, 0x1A, 0x63, 0x12, 0x58, 0xD6, 0x9C, 0xF7, 0xA2, 0xDE, 0xF9, 0xDE, 0x14,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        ]
        var malleated = valid
        var carry = 0
        for index in 0..<32 {
            let sum = Int(valid[32 + index]) + Int(groupOrder[index]) + carry
            malleated[32 + index] = UInt8(sum & 0xFF)
            carry = sum >> 8
        }
        #expect(carry == 0)
        #expect(
            Fixture.outcome(verifier, "\(header).\(Self.payload).\(TokenMinter.base64url(malleated))")
                == "bad-signature")
        #expect(
            Fixture.outcome(
                verifier, "\(header).\(Self.payload).\(TokenMinter.base64url([UInt8](repeating: 0, count: 64)))")
                == "bad-signature")
    }

    @Test func rsaAndHMACForgeriesFail() throws {
        let (_, rsaKey) = TestKeys.pair(.RS256)
        let header = TokenMinter.base64url(Array(#"{"alg":"RS256"}"#.utf8))
        for signature in [
            [UInt8](repeating: 0, count: 256), [UInt8](repeating: 0xFF, count: 256),
            [0] + [UInt8](repeating: 1, count: 255),
        ] {
            #expect(
                Fixture.outcome(
                    Fixture.verifier([rsaKey]), "\(header).\(Self.payload).\(TokenMinter.base64url(signature))")
                    == "bad-signature")
        }
        let otherSecret = TokenMinter.mint(
            claims: Fixture.claims(), key: .hmac([UInt8](repeating: 9, count: 32)), algorithm: .HS256)
        #expect(outcome(otherSecret) == "bad-signature")
        let zeros = TokenMinter.raw(
            Self.headerHS256, Self.payload, TokenMinter.base64url([UInt8](repeating: 0, count: 32)))
        #expect(outcome(zeros) == "bad-signature")
        // A signature computed over a re-encoding of the same JSON does not carry over.
        let original = TokenMinter.mint(
            header: #"{"alg":"HS256"}"#, payload: Fixture.claims(), key: Self.hmacSigning, algorithm: .HS256)
        let signature = original.split(separator: ".")[2]
        let reencoded = TokenMinter.base64url(Array(#"{"alg": "HS256"}"#.utf8)) + "." + Self.payload + "." + signature
        #expect(outcome(original) == "ok")
        #expect(outcome(reencoded) == "bad-signature")
    }

    @Test func critIsRefused() {
        let sig = [UInt8](repeating: 1, count: 32)
        for crit in [#"["exp"]"#, #"["b64"]"#, #"["http://example.com/x","b64"]"#] {
            let token = TokenMinter.mint(
                claims: Fixture.claims(), key: Self.hmacSigning, algorithm: .HS256,
                extraHeader: #","crit":\#(crit),"b64":false"#)
            #expect(outcome(token) == "crit-unsupported", "\(crit)")
        }
        for crit in ["[]", #""exp""#, "[1]", "null", "{}", #"["b64",2]"#] {
            let token = TokenMinter.forge(
                header: #"{"alg":"HS256","crit":\#(crit)}"#, payload: Fixture.claims(), signature: sig)
            #expect(outcome(token) == "malformed", "\(crit)")
        }
    }

    /// RFC 7519 §5.2: `cty: JWT` says the payload is a nested token; never read it as claims, even properly signed.
    @Test func nestedJWTsAreRefused() {
        for type in ["JWT", "jwt", "Jwt", "application/jwt", "APPLICATION/JWT", "Application/Jwt"] {
            let token = TokenMinter.mint(
                claims: Fixture.claims(), key: Self.hmacSigning, algorithm: .HS256, extraHeader: #","cty":"\#(type)""#)
            #expect(outcome(token) == "nested-jwt", "\(type)")
        }
        // A real nested token as the payload.
        let nested = TokenMinter.mint(
            header: #"{"alg":"HS256","cty":"JWT"}"#, payload: Self.validHMAC, key: Self.hmacSigning, algorithm: .HS256)
        #expect(outcome(nested) == "nested-jwt")
        // Other content types are not nested JWTs; a cty that is not a string is malformed.
        for type in ["json", "application/json", "JWTX", "application/jwt+json"] {
            let token = TokenMinter.mint(
                claims: Fixture.claims(), key: Self.hmacSigning, algorithm: .HS256, extraHeader: #","cty":"\#(type)""#)
            #expect(outcome(token) == "ok", "\(type)")
        }
        for type in ["1", "null", #"["JWT"]"#] {
            let token = TokenMinter.mint(
                claims: Fixture.claims(), key: Self.hmacSigning, algorithm: .HS256, extraHeader: #","cty":\#(type)"#)
            #expect(outcome(token) == "malformed", "\(type)")
        }
    }
}

/// Seeded random mutations of valid tokens: no input traps, and no altered token verifies.
@Suite struct MutationTests {
    /// SplitMix64: deterministic, so a failure reproduces.
    private struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [JWSAlgorithm.HS256, .ES256, .EdDSA])
    func mutatedTokensNeverVerify(_ algorithm: JWSAlgorithm) {
        let (signing, key) = TestKeys.pair(algorithm)
        let verifier = Fixture.verifier([key])
        let original = Array(TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: algorithm).utf8)
        var random = SeededGenerator(state: 0x6A7E_4005 &+ UInt64(algorithm.maskBit))
        let interesting: [UInt8] = Array("._-+/=A0 \"{}[]:,\\".utf8) + [0x00, 0x7F, 0x80, 0xFF]
        for _ in 0..<600 {
            var bytes = original
            for _ in 0...(Int.random(in: 0..<3, using: &random)) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
                case 1: bytes[position] = interesting.randomElement(using: &random)!
                case 2: bytes.insert(interesting.randomElement(using: &random)!, at: position)
                default: if bytes.count > 1 { bytes.remove(at: position) }
                }
            }
            guard bytes != original else { continue }
            if case .success = verifier.verify(bytes[...], now: Fixture.now) {
                Issue.record("mutated token verified: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}
