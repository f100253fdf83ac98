/// A JWS signature algorithm that Gatehouse can verify (RFC 7518 §3, RFC 8037 for EdDSA).
///
/// The raw value is the exact `alg` spelling; a token's `alg` is compared byte for byte (`hs256` is not
/// `HS256`). `none` is deliberately absent: unsecured tokens are never accepted.
package enum JWSAlgorithm: String, Sendable, CaseIterable {
    /// HMAC with SHA-256.
    case HS256
    /// HMAC with SHA-384.
    case HS384
    /// HMAC with SHA-512.
    case HS512
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case RS256
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    case RS384
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    case RS512
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt length 32.
    case PS256
    /// RSASSA-PSS with SHA-384, MGF1 with SHA-384, salt length 48.
    case PS384
    /// RSASSA-PSS with SHA-512, MGF1 with SHA-512, salt length 64.
    case PS512
    /// ECDSA on P-256 with SHA-256; signature is raw r‖s, 64 bytes.
    case ES256
    /// ECDSA on P-384 with SHA-384; signature is raw r‖s, 96 bytes.
    case ES384
    /// ECDSA on P-521 with SHA-512; signature is raw r‖s, 132 bytes.
    case ES512
    /// Ed25519 (the only EdDSA curve supported); signature 64 bytes.
    case EdDSA

    /// The key family an algorithm belongs to; a key verifies exactly one algorithm, of one family.
    enum Family: Sendable {
        /// A shared secret.
        case hmac
        /// An RSA public key with PKCS#1 v1.5 padding.
        case rsaPKCS1
        /// An RSA public key with PSS padding.
        case rsaPSS
        /// A NIST-curve public key.
        case ecdsa
        /// An Ed25519 public key.
        case eddsa
    }

    /// This algorithm's family.
    var family: Family {
        switch self {
        case .HS256, .HS384, .HS512: .hmac
        case .RS256, .RS384, .RS512: .rsaPKCS1
        case .PS256, .PS384, .PS512: .rsaPSS
        case .ES256, .ES384, .ES512: .ecdsa
        case .EdDSA: .eddsa
        }
    }

    /// The digest length in bytes of the hash this algorithm uses (for EdDSA: SHA-512 internally).
    var hashByteCount: Int {
        switch self {
        case .HS256, .RS256, .PS256, .ES256: 32
        case .HS384, .RS384, .PS384, .ES384: 48
        case .HS512, .RS512, .PS512, .ES512, .EdDSA: 64
        }
    }

    /// One bit per algorithm, for allow-list masks computed at load time.
    var maskBit: UInt16 {
        switch self {
        case .HS256: 1 << 0
        case .HS384: 1 << 1
        case .HS512: 1 << 2
        case .RS256: 1 << 3
        case .RS384: 1 << 4
        case .RS512: 1 << 5
        case .PS256: 1 << 6
        case .PS384: 1 << 7
        case .PS512: 1 << 8
        case .ES256: 1 << 9
        case .ES384: 1 << 10
        case .ES512: 1 << 11
        case .EdDSA: 1 << 12
        }
    }

    /// Whether `text` is `none` in any ASCII letter case (RFC 8725 §3.1 and the classic `None`/`NONE` bypass).
    static func isNone(_ text: String) -> Bool {
        var utf8 = text.utf8.makeIterator()
        for expected in "none".utf8 {
            guard let byte = utf8.next(), byte | 0x20 == expected else { return false }
        }
        return utf8.next() == nil
    }
}
