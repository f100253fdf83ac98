@preconcurrency import Crypto
import Foundation
import _CryptoExtras

@testable import GatehouseAuth

/// Key pairs shared by the tests, generated once per process (RSA generation is slow).
enum TestKeys {
    static let hmacSecret32 = [UInt8](repeating: 0x2A, count: 32)
    static let hmacSecret48 = [UInt8](repeating: 0x2B, count: 48)
    static let hmacSecret64 = [UInt8](repeating: 0x2C, count: 64)

    static let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let rsaOther = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let rsa3072 = try! _RSA.Signing.PrivateKey(keySize: .bits3072)
    static let rsa1024 = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
    static let p256 = P256.Signing.PrivateKey()
    static let p256Other = P256.Signing.PrivateKey()
    static let p384 = P384.Signing.PrivateKey()
    static let p521 = P521.Signing.PrivateKey()
    static let ed25519 = Curve25519.Signing.PrivateKey()

    /// The SPKI PEM of an Ed25519 public key (swift-crypto has no PEM export for Curve25519).
    static func ed25519PEM(_ key: Curve25519.Signing.PublicKey) -> String {
        let der: [UInt8] =
            [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]
            + Array(key.rawRepresentation)
        return "-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString() + "\n-----END PUBLIC KEY-----\n"
    }

    /// A signing key and a matching verification key (loaded through `KeyLoader.pem`/`hmac`) for `algorithm`.
    static func pair(_ algorithm: JWSAlgorithm, kid: String? = nil) -> (TokenMinter.SigningKey, VerificationKey) {
        switch algorithm {
        case .HS256:
            return (.hmac(hmacSecret32), try! KeyLoader.hmac(secret: hmacSecret32, algorithm: .HS256, kid: kid))
        case .HS384:
            return (.hmac(hmacSecret48), try! KeyLoader.hmac(secret: hmacSecret48, algorithm: .HS384, kid: kid))
        case .HS512:
            return (.hmac(hmacSecret64), try! KeyLoader.hmac(secret: hmacSecret64, algorithm: .HS512, kid: kid))
        case .RS256, .RS384, .RS512, .PS256, .PS384, .PS512:
            return (.rsa(rsa), try! KeyLoader.pem(rsa.publicKey.pemRepresentation, algorithm: algorithm, kid: kid))
        case .ES256:
            return (.p256(p256), try! KeyLoader.pem(p256.publicKey.pemRepresentation, algorithm: nil, kid: kid))
        case .ES384:
            return (.p384(p384), try! KeyLoader.pem(p384.publicKey.pemRepresentation, algorithm: nil, kid: kid))
        case .ES512:
            return (.p521(p521), try! KeyLoader.pem(p521.publicKey.pemRepresentation, algorithm: nil, kid: kid))
        case .EdDSA:
            return (.ed25519(ed25519), try! KeyLoader.pem(ed25519PEM(ed25519.publicKey), algorithm: nil, kid: kid))
        }
    }

    /// A JWK (JSON text) for the public part of an RSA key.
    static func rsaJWK(_ key: _RSA.Signing.PublicKey, extra: String = "") -> String {
        let primitives = try! key.getKeyPrimitives()
        let n = TokenMinter.base64url(primitives.modulus)
        let e = TokenMinter.base64url(primitives.publicExponent)
        return #"{"kty":"RSA","n":"\#(n)","e":"\#(e)"\#(extra)}"#
    }

    /// A JWK (JSON text) for a NIST-curve public key given its X9.63 bytes.
    static func ecJWK(curve: String, x963: Data, extra: String = "") -> String {
        let bytes = Array(x963.dropFirst())
        let half = bytes.count / 2
        let x = TokenMinter.base64url(bytes[..<half])
        let y = TokenMinter.base64url(bytes[half...])
        return #"{"kty":"EC","crv":"\#(curve)","x":"\#(x)","y":"\#(y)"\#(extra)}"#
    }

    /// A JWK (JSON text) for an Ed25519 public key.
    static func ed25519JWK(_ key: Curve25519.Signing.PublicKey, extra: String = "") -> String {
        #"{"kty":"OKP","crv":"Ed25519","x":"\#(TokenMinter.base64url(key.rawRepresentation))"\#(extra)}"#
    }
}

/// Claims and policies used across the verifier tests.
enum Fixture {
    static let now: Int64 = 1_750_000_000
    static let issuer = "https://issuer.example"
    static let audience = "gatehouse"

    /// A typical claims set: valid at `now`, one hour to live.
    static func claims(
        iss: String = issuer, aud: String = #""gatehouse""#, exp: String = "1750003600", extra: String = ""
    ) -> String {
        #"{"iss":"\#(iss)","sub":"alice","aud":\#(aud),"exp":\#(exp),"iat":1749999990\#(extra)}"#
    }

    /// A verifier with one issuer holding `keys`.
    static func verifier(
        _ keys: [VerificationKey], audiences: [String] = [audience], requireExpiry: Bool = true, leeway: Int64 = 30
    ) -> TokenVerifier {
        TokenVerifier(
            issuers: [IssuerPolicy(issuer: issuer, audiences: audiences, keys: keys, requireExpiry: requireExpiry)],
            leewaySeconds: leeway)
    }

    /// The failure reason for `token`, or "ok".
    static func outcome(_ verifier: TokenVerifier, _ token: String, now: Int64 = now) -> String {
        switch verifier.verify(token.tokenBytes, now: now) {
        case .success: return "ok"
        case .failure(let failure): return failure.reason
        }
    }
}
