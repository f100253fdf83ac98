@preconcurrency import Crypto
import Foundation
import _CryptoExtras

@testable import GatehouseAuth

/// Mints JWS tokens for tests: properly signed with swift-crypto private keys, or forged byte by byte.
///
/// Test-only (lives in the tests target, never in `GatehouseAuth`): the gateway verifies tokens, it does not
/// sign these.
enum TokenMinter {
    /// A private key able to sign one family of algorithms.
    enum SigningKey {
        case hmac([UInt8])
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    /// Unpadded base64url (RFC 4648 §5).
    static func base64url(_ bytes: some Sequence<UInt8>) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let input = Array(bytes)
        var output: [UInt8] = []
        var index = 0
        while index + 3 <= input.count {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            for shift in [18, 12, 6, 0] { output.append(alphabet[Int(value >> UInt32(shift) & 0x3F)]) }
            index += 3
        }
        switch input.count - index {
        case 1:
            let value = UInt32(input[index]) << 16
            for shift in [18, 12] { output.append(alphabet[Int(value >> UInt32(shift) & 0x3F)]) }
        case 2:
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            for shift in [18, 12, 6] { output.append(alphabet[Int(value >> UInt32(shift) & 0x3F)]) }
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Signs `header.payload` (both given as JSON text) and returns the compact token.
    static func mint(header: String, payload: String, key: SigningKey, algorithm: JWSAlgorithm) -> String {
        let signingInput = base64url(Array(header.utf8)) + "." + base64url(Array(payload.utf8))
        return signingInput + "." + base64url(sign(Array(signingInput.utf8), key: key, algorithm: algorithm))
    }

    /// Mints a token with a standard header (`alg`, optional `kid`, extra header members) and the given claims.
    static func mint(
        claims: String, key: SigningKey, algorithm: JWSAlgorithm, kid: String? = nil, extraHeader: String = ""
    ) -> String {
        var header = #"{"alg":"\#(algorithm.rawValue)","typ":"JWT""#
        if let kid { header += #","kid":"\#(kid)""# }
        header += extraHeader + "}"
        return mint(header: header, payload: claims, key: key, algorithm: algorithm)
    }

    /// The raw JWS signature bytes of `input`.
    static func sign(_ input: [UInt8], key: SigningKey, algorithm: JWSAlgorithm) -> [UInt8] {
        switch (key, algorithm) {
        case (.hmac(let secret), .HS256):
            return Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
        case (.hmac(let secret), .HS384):
            return Array(HMAC<SHA384>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
        case (.hmac(let secret), .HS512):
            return Array(HMAC<SHA512>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
        case (.rsa(let key), .RS256):
            return Array(
                try! key.signature(for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), .RS384):
            return Array(
                try! key.signature(for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), .RS512):
            return Array(
                try! key.signature(for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5).rawRepresentation)
        case (.rsa(let key), .PS256):
            return Array(try! key.signature(for: SHA256.hash(data: input), padding: .PSS).rawRepresentation)
        case (.rsa(let key), .PS384):
            return Array(try! key.signature(for: SHA384.hash(data: input), padding: .PSS).rawRepresentation)
        case (.rsa(let key), .PS512):
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
            preconditionFailure("test key cannot sign \(algorithm)")
        }
    }

    /// Forges a token from raw segments, base64url-encoding none of them: for hostile-encoding tests.
    static func raw(_ header: String, _ payload: String, _ signature: String) -> String {
        header + "." + payload + "." + signature
    }

    /// Forges a token from JSON header and payload text and arbitrary signature bytes.
    static func forge(header: String, payload: String, signature: [UInt8]) -> String {
        base64url(Array(header.utf8)) + "." + base64url(Array(payload.utf8)) + "." + base64url(signature)
    }

    /// Forges a token whose header and payload are arbitrary bytes (e.g. invalid UTF-8), with a signature.
    static func forge(
        headerBytes: [UInt8], payloadBytes: [UInt8], signature: [UInt8] = [UInt8](repeating: 7, count: 32)
    )
        -> String
    {
        base64url(headerBytes) + "." + base64url(payloadBytes) + "." + base64url(signature)
    }
}

extension String {
    /// The token as the verifier takes it.
    var tokenBytes: ArraySlice<UInt8> { Array(utf8)[...] }
}
