@preconcurrency internal import Crypto
internal import _CryptoExtras

/// One verification key from the config: its optional `kid`, the one algorithm it verifies, and the crypto
/// object, built once at load time (Envoy's `FilterConfigImpl`: parse keys once, use them per request).
///
/// Invariant: `algorithm.family` matches the material (an RSA key configured for RS256 verifies only RS256;
/// an EC key's algorithm is fixed by its curve), so algorithm confusion cannot be expressed. Built only by
/// ``KeyLoader``, which also refuses weak keys.
package struct VerificationKey: Sendable {
    /// The key id that tokens name in their `kid` header; matched exactly.
    package let kid: String?
    /// The single algorithm this key verifies.
    package let algorithm: JWSAlgorithm
    /// The crypto object.
    let material: KeyMaterial
    /// The exact decoded signature length this key accepts (RSA: the modulus length).
    let signatureByteCount: Int

    /// Pairs material with its algorithm; ``KeyLoader`` guarantees that the two fit.
    init(kid: String?, algorithm: JWSAlgorithm, material: KeyMaterial) {
        self.kid = kid
        self.algorithm = algorithm
        self.material = material
        switch material {
        case .hmac: signatureByteCount = algorithm.hashByteCount
        case .rsa(let key): signatureByteCount = (key.keySizeInBits + 7) / 8
        case .p256: signatureByteCount = 64
        case .p384: signatureByteCount = 96
        case .p521: signatureByteCount = 132
        case .ed25519: signatureByteCount = 64
        }
    }
}

/// The crypto object behind a ``VerificationKey``, one case per key type.
///
/// swift-crypto 3.12.3 does not mark its NIST, Ed25519 and symmetric key types `Sendable`, although they are
/// immutable after construction (BoringSSL objects used read-only, and copy-on-write bytes); hence the
/// `@preconcurrency import` above rather than an `@unchecked Sendable` box.
enum KeyMaterial: Sendable {
    /// An HMAC secret.
    case hmac(SymmetricKey)
    /// An RSA public key of at least 2048 bits.
    case rsa(_RSA.Signing.PublicKey)
    /// A P-256 public key (point validated on load).
    case p256(P256.Signing.PublicKey)
    /// A P-384 public key (point validated on load).
    case p384(P384.Signing.PublicKey)
    /// A P-521 public key (point validated on load).
    case p521(P521.Signing.PublicKey)
    /// An Ed25519 public key.
    case ed25519(Curve25519.Signing.PublicKey)
}

/// Why a key could not be loaded from the config; the message names the problem, never secret bytes.
package struct KeyError: Error, Sendable, CustomStringConvertible {
    /// A human-readable explanation, e.g. "RSA key has 1024 bits; at least 2048 are required".
    package let message: String

    /// Creates an error with its message.
    package init(_ message: String) {
        self.message = message
    }

    /// The message.
    package var description: String { message }
}
