@preconcurrency import Crypto
import Foundation
import _CryptoExtras

// Minting JWS tokens for the integration tests, with swift-crypto private keys (the approach of
// Tests/GatehouseAuthTests/TokenMinter.swift; test targets cannot import each other, so it lives here).
// Crypto types stay inside this file: tests see only `TestSigningKey`, `TokenKeys` and `TokenMinter`.

/// A private key that signs one family of JWS algorithms, with its public half as PEM or JWK for the config.
package final class TestSigningKey: @unchecked Sendable {
    // `@unchecked`: immutable after init; swift-crypto keys are value types without shared mutable state.
    enum Material {
        case hmac([UInt8])
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let material: Material

    private init(_ material: Material) { self.material = material }

    /// An HMAC secret (HS256/384/512).
    package static func hmac(_ secret: [UInt8]) -> TestSigningKey { TestSigningKey(.hmac(secret)) }
    /// An HMAC secret given as text (its UTF-8 bytes), as `secret_env` and `secret_file` read it.
    package static func hmac(_ secret: String) -> TestSigningKey { TestSigningKey(.hmac(Array(secret.utf8))) }
    /// A fresh RSA key (RS* and PS*). `bits` below 2048 uses swift-crypto's unsafe initialiser (weak-key tests).
    package static func rsa(bits: Int = 2048) -> TestSigningKey {
        if bits < 2048 {
            return TestSigningKey(.rsa(try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: bits))))
        }
        return TestSigningKey(.rsa(try! _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits))))
    }
    /// A fresh P-256 key (ES256).
    package static func p256() -> TestSigningKey { TestSigningKey(.p256(P256.Signing.PrivateKey())) }
    /// A fresh P-384 key (ES384).
    package static func p384() -> TestSigningKey { TestSigningKey(.p384(P384.Signing.PrivateKey())) }
    /// A fresh P-521 key (ES512).
    package static func p521() -> TestSigningKey { TestSigningKey(.p521(P521.Signing.PrivateKey())) }
    /// A fresh Ed25519 key (EdDSA).
    package static func ed25519() -> TestSigningKey { TestSigningKey(.ed25519(Curve25519.Signing.PrivateKey())) }

    /// The public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`), what `pem_file` reads.
    package var publicKeyPEM: String {
        switch material {
        case .hmac: preconditionFailure("an HMAC secret has no public key")
        case .rsa(let key): return key.publicKey.pemRepresentation + "\n"
        case .p256(let key): return key.publicKey.pemRepresentation + "\n"
        case .p384(let key): return key.publicKey.pemRepresentation + "\n"
        case .p521(let key): return key.publicKey.pemRepresentation + "\n"
        case .ed25519(let key):
            // swift-crypto has no PEM export for Curve25519: SPKI = fixed prefix + the 32 raw bytes.
            let der: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]
                + Array(key.publicKey.rawRepresentation)
            return "-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString() + "\n-----END PUBLIC KEY-----\n"
        }
    }

    /// The public key as one JWK object (JSON text), with `kid` and `alg` members when given.
    package func jwk(kid: String? = nil, alg: String? = nil) -> String {
        var extra = ""
        if let kid { extra += #","kid":"\#(kid)""# }
        if let alg { extra += #","alg":"\#(alg)""# }
        extra += #","use":"sig""#
        func ec(_ curve: String, _ x963: Data) -> String {
            let bytes = Array(x963.dropFirst())
            let half = bytes.count / 2
            return #"{"kty":"EC","crv":"\#(curve)","x":"\#(TokenMinter.base64url(bytes[..<half]))","#
                + #""y":"\#(TokenMinter.base64url(bytes[half...]))"\#(extra)}"#
        }
        switch material {
        case .hmac(let secret):
            return #"{"kty":"oct","k":"\#(TokenMinter.base64url(secret))"\#(extra)}"#
        case .rsa(let key):
            let primitives = try! key.publicKey.getKeyPrimitives()
            return #"{"kty":"RSA","n":"\#(TokenMinter.base64url(primitives.modulus))","#
                + #""e":"\#(TokenMinter.base64url(primitives.publicExponent))"\#(extra)}"#
        case .p256(let key): return ec("P-256", key.publicKey.x963Representation)
        case .p384(let key): return ec("P-384", key.publicKey.x963Representation)
        case .p521(let key): return ec("P-521", key.publicKey.x963Representation)
        case .ed25519(let key):
            return #"{"kty":"OKP","crv":"Ed25519","x":"\#(TokenMinter.base64url(key.publicKey.rawRepresentation))"\#(extra)}"#
        }
    }
}

/// Keys shared by every test of the process (RSA generation is slow; one of each is enough).
package enum TokenKeys {
    package static let rsa = TestSigningKey.rsa()
    package static let rsaOther = TestSigningKey.rsa()
    package static let p256 = TestSigningKey.p256()
    package static let p256Other = TestSigningKey.p256()
    package static let p384 = TestSigningKey.p384()
    package static let p521 = TestSigningKey.p521()
    package static let ed25519 = TestSigningKey.ed25519()
    /// 32, 48 and 64 printable bytes: HMAC secrets as an environment variable or a file would hold them.
    package static let hs256Secret = "hs256-secret-0123456789abcdefghij"
    package static let hs384Secret = "hs384-secret-0123456789abcdefghijklmnopqrstuvwxyz"
    package static let hs512Secret = "hs512-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
}

/// Builds compact JWS tokens: properly signed, or forged segment by segment.
package enum TokenMinter {
    /// The issuer the auth tests configure unless they say otherwise.
    package static let issuer = "https://idp.test"
    /// The audience the auth tests configure.
    package static let audience = "gatehouse"

    /// Unpadded base64url (RFC 4648 §5).
    package static func base64url(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Unpadded base64url of the UTF-8 bytes of `text`.
    package static func base64url(_ text: String) -> String { base64url(Array(text.utf8)) }

    /// The current unix time in whole seconds.
    package static var now: Int { Int(Date().timeIntervalSince1970) }

    /// A claims set (JSON text) for `issuer`/`audience`, valid for an hour from now.
    /// - Parameters:
    ///   - iss: the `iss` claim (a JSON string is written).
    ///   - sub: the `sub` claim, or nil for none.
    ///   - aud: the `aud` claim as raw JSON (`"\"gatehouse\""` or `"[\"a\",\"b\"]"`).
    ///   - exp: `exp` as an offset from now in seconds, or nil for none.
    ///   - nbf: `nbf` as an offset from now, or nil for none.
    ///   - iat: `iat` as an offset from now, or nil for none.
    ///   - extra: more members, raw JSON starting with `,` (`,"email":"a@b"`).
    package static func claims(iss: String = issuer, sub: String? = "alice", aud: String = "\"\(audience)\"",
                               exp: Int? = 3600, nbf: Int? = nil, iat: Int? = 0, extra: String = "") -> String {
        let t = now
        var json = #"{"iss":"\#(iss)""#
        if let sub { json += #","sub":"\#(sub)""# }
        json += #","aud":\#(aud)"#
        if let exp { json += #","exp":\#(t + exp)"# }
        if let nbf { json += #","nbf":\#(t + nbf)"# }
        if let iat { json += #","iat":\#(t + iat)"# }
        return json + extra + "}"
    }

    /// Signs `header.payload` (both JSON text) with `key` under `alg` and returns the compact token.
    package static func mint(header: String, payload: String, key: TestSigningKey, alg: String) -> String {
        let signingInput = base64url(header) + "." + base64url(payload)
        return signingInput + "." + base64url(sign(Array(signingInput.utf8), key: key, alg: alg))
    }

    /// Mints a token with a standard header (`alg`, `typ`, optional `kid`, then `extraHeader` members).
    package static func mint(claims: String, key: TestSigningKey, alg: String, kid: String? = nil,
                             extraHeader: String = "") -> String {
        var header = #"{"alg":"\#(alg)","typ":"JWT""#
        if let kid { header += #","kid":"\#(kid)""# }
        header += extraHeader + "}"
        return mint(header: header, payload: claims, key: key, alg: alg)
    }

    /// A token from JSON header and payload text and arbitrary signature bytes (nothing is signed).
    package static func forge(header: String, payload: String, signature: [UInt8]) -> String {
        base64url(header) + "." + base64url(payload) + "." + base64url(signature)
    }

    /// The raw JWS signature of `input`: HMAC, RSA PKCS#1 v1.5 / PSS, ECDSA r‖s, or Ed25519.
    package static func sign(_ input: [UInt8], key: TestSigningKey, alg: String) -> [UInt8] {
        switch (key.material, alg) {
        case (.hmac(let secret), "HS256"):
            return Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
        case (.hmac(let secret), "HS384"):
            return Array(HMAC<SHA384>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
        case (.hmac(let secret), "HS512"):
            return Array(HMAC<SHA512>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
        case (.rsa(let key), "RS256"):
            return Array(try! key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), "RS384"):
            return Array(try! key.signature(for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), "RS512"):
            return Array(try! key.signature(for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), "PS256"):
            return Array(try! key.signature(for: SHA256.hash(data: input), padding: .PSS).rawRepresentation)
        case (.rsa(let key), "PS384"):
            return Array(try! key.signature(for: SHA384.hash(data: input), padding: .PSS).rawRepresentation)
        case (.rsa(let key), "PS512"):
            return Array(try! key.signature(for: SHA512.hash(data: input), padding: .PSS).rawRepresentation)
        case (.p256(let key), _):
            return Array(try! key.signature(for: SHA256.hash(data: input)).rawRepresentation)
        case (.p384(let key), _):
            return Array(try! key.signature(for: SHA384.hash(data: input)).rawRepresentation)
        case (.p521(let key), _):
            return Array(try! key.signature(for: SHA512.hash(data: input)).rawRepresentation)
        case (.ed25519(let key), _):
            return Array(try! key.signature(for: input))
        default:
            preconditionFailure("this test key cannot sign \(alg)")
        }
    }
}
