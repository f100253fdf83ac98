@preconcurrency internal import Crypto
internal import _CryptoExtras

/// Builds ``VerificationKey``s from config material, refusing weak or ill-fitting keys at load time
/// (SECURITY.md: HMAC secrets shorter than the hash output, RSA under 2048 bits, EC points off the curve, an
/// algorithm that does not fit the key type).
///
/// Keys only ever come from here: nothing on the request path builds a key from token contents (`jwk`, `jku`,
/// `x5u`, `x5c` are ignored), so a token cannot bring its own key.
package enum KeyLoader {
    /// The smallest RSA modulus we accept (RFC 7518 §3.3 requires 2048 bits).
    static let minimumRSABits = 2048

    /// Loads a PEM public key.
    ///
    /// Accepts an SPKI `PUBLIC KEY` (RSA, EC P-256/P-384/P-521, Ed25519) or a PKCS#1 `RSA PUBLIC KEY`. RSA keys
    /// need an explicit RS*/PS* algorithm (one key, one algorithm). EC keys take their algorithm from the curve
    /// (P-256 → ES256, P-384 → ES384, P-521 → ES512), and a given algorithm must agree; Ed25519 → EdDSA.
    ///
    /// - Parameters:
    ///   - text: the PEM text; explanatory text before the block is allowed.
    ///   - algorithm: the algorithm the key verifies; required for RSA, optional otherwise.
    ///   - kid: the key id tokens will name, if any.
    /// - Returns: the key.
    /// - Throws: `KeyError` for private keys, certificates, weak or malformed keys, or an algorithm mismatch.
    package static func pem(_ text: String, algorithm: JWSAlgorithm?, kid: String?) throws(KeyError)
        -> VerificationKey
    {
        let (label, der) = try PEMKey.decode(text)
        switch label {
        case "PUBLIC KEY":
            switch try PEMKey.spkiKeyType(der) {
            case .rsa:
                return try rsaKey(der: der, algorithm: algorithm, kid: kid)
            case .p256:
                let key = try build("EC P-256 key") { () throws -> P256.Signing.PublicKey in
                    try P256.Signing.PublicKey(derRepresentation: der)
                }
                return try ecKey(.p256(key), curveAlgorithm: .ES256, given: algorithm, kid: kid)
            case .p384:
                let key = try build("EC P-384 key") { () throws -> P384.Signing.PublicKey in
                    try P384.Signing.PublicKey(derRepresentation: der)
                }
                return try ecKey(.p384(key), curveAlgorithm: .ES384, given: algorithm, kid: kid)
            case .p521:
                let key = try build("EC P-521 key") { () throws -> P521.Signing.PublicKey in
                    try P521.Signing.PublicKey(derRepresentation: der)
                }
                return try ecKey(.p521(key), curveAlgorithm: .ES512, given: algorithm, kid: kid)
            case .ed25519(let raw):
                return try ed25519Key(raw: raw, given: algorithm, kid: kid)
            }
        case "RSA PUBLIC KEY":
            return try rsaKey(der: der, algorithm: algorithm, kid: kid)
        case "CERTIFICATE":
            throw KeyError("PEM is a certificate; configure its public key (PUBLIC KEY) instead")
        default:
            if label.hasSuffix("PRIVATE KEY") {
                throw KeyError("PEM is a private key; the gateway needs only the public key (PUBLIC KEY)")
            }
            throw KeyError("unsupported PEM type '\(label)' (expected PUBLIC KEY or RSA PUBLIC KEY)")
        }
    }

    /// Loads a JWK (one key object) or a JWKS (`{"keys": [...]}`), parsed with the module's strict JSON scanner.
    ///
    /// Rules per key: `kty` RSA (`n`, `e`), EC (`crv` P-256/P-384/P-521, `x`, `y`), OKP (`crv` Ed25519, `x`),
    /// oct (`k`, and `alg` required). The key's `alg` is used when present and must fit the key; when absent,
    /// RSA → RS256, EC → by curve, OKP → EdDSA. Keys with `"use": "enc"` are skipped; a private key's `d` (and
    /// other private members) is ignored and only the public part is used.
    ///
    /// - Parameter json: the document (at most 1 MiB).
    /// - Returns: the signing keys, in document order; never empty.
    /// - Throws: `KeyError` naming the offending key by index and `kid`.
    package static func jwks(_ json: String) throws(KeyError) -> [VerificationKey] {
        try JWKParser.parse(json)
    }

    /// Loads a JWKS fetched from a provider (or its copy on disk): unusable keys are skipped and reported, the
    /// others kept; see ``JWKParser/parseProvider(_:)``.
    package static func providerJWKS(_ bytes: [UInt8]) throws(KeyError)
        -> (keys: [VerificationKey], skipped: [String])
    {
        try JWKParser.parseProvider(bytes)
    }

    /// Loads an HMAC secret for HS256/HS384/HS512.
    ///
    /// - Parameters:
    ///   - secret: the raw secret bytes; at least the hash output length (32/48/64 bytes, RFC 7518 §3.2).
    ///   - algorithm: an HS* algorithm.
    ///   - kid: the key id tokens will name, if any.
    /// - Returns: the key.
    /// - Throws: `KeyError` for a non-HMAC algorithm or a short secret.
    package static func hmac(secret: [UInt8], algorithm: JWSAlgorithm, kid: String?) throws(KeyError)
        -> VerificationKey
    {
        guard algorithm.family == .hmac else {
            throw KeyError("an HMAC secret can only verify HS256, HS384 or HS512, not \(algorithm.rawValue)")
        }
        guard secret.count >= algorithm.hashByteCount else {
            let required = algorithm.hashByteCount
            throw KeyError("\(algorithm.rawValue) secret has \(secret.count) bytes; at least \(required) are required")
        }
        return VerificationKey(kid: kid, algorithm: algorithm, material: .hmac(SymmetricKey(data: secret)))
    }

    // MARK: - Shared with JWKParser

    /// Wraps an RSA public key after checking its size and the algorithm.
    static func rsaKey(_ key: _RSA.Signing.PublicKey, algorithm: JWSAlgorithm?, kid: String?) throws(KeyError)
        -> VerificationKey
    {
        guard let algorithm else { throw KeyError("an RSA key needs an explicit algorithm (RS256 … PS512)") }
        guard algorithm.family == .rsaPKCS1 || algorithm.family == .rsaPSS else {
            throw KeyError("an RSA key cannot verify \(algorithm.rawValue)")
        }
        guard key.keySizeInBits >= minimumRSABits else {
            throw KeyError("RSA key has \(key.keySizeInBits) bits; at least \(minimumRSABits) are required")
        }
        return VerificationKey(kid: kid, algorithm: algorithm, material: .rsa(key))
    }

    /// Wraps an EC key, checking that a given algorithm matches the curve's.
    static func ecKey(_ material: KeyMaterial, curveAlgorithm: JWSAlgorithm, given: JWSAlgorithm?, kid: String?)
        throws(KeyError) -> VerificationKey
    {
        if let given, given != curveAlgorithm {
            throw KeyError("this EC key's curve verifies \(curveAlgorithm.rawValue), not \(given.rawValue)")
        }
        return VerificationKey(kid: kid, algorithm: curveAlgorithm, material: material)
    }

    /// Builds an Ed25519 key from its 32 raw bytes, refusing small-order points, non-canonical encodings and
    /// points off the curve (see ``Ed25519Encoding``): swift-crypto checks only the length.
    static func ed25519Key(raw: [UInt8], given: JWSAlgorithm?, kid: String?) throws(KeyError) -> VerificationKey {
        if let given, given != .EdDSA { throw KeyError("an Ed25519 key verifies EdDSA, not \(given.rawValue)") }
        guard raw.count == 32 else { throw KeyError("an Ed25519 key has 32 bytes, not \(raw.count)") }
        if let problem = Ed25519Encoding.keyProblem(raw) { throw KeyError(problem) }
        let key = try build("Ed25519 key") { () throws -> Curve25519.Signing.PublicKey in
            try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        }
        return VerificationKey(kid: kid, algorithm: .EdDSA, material: .ed25519(key))
    }

    /// Runs a throwing crypto-library constructor and turns its untyped error into a `KeyError`.
    static func build<Key>(_ what: String, _ body: () throws -> Key) throws(KeyError) -> Key {
        do {
            return try body()
        } catch {
            throw KeyError("invalid \(what) (rejected by the crypto library: \(error))")
        }
    }

    private static func rsaKey(der: [UInt8], algorithm: JWSAlgorithm?, kid: String?) throws(KeyError)
        -> VerificationKey
    {
        // The "unsafe" initialiser accepts 1024-bit keys so that we can report the size precisely; the
        // 2048-bit floor is enforced in `rsaKey(_:algorithm:kid:)`.
        let key = try build("RSA key (or under 1024 bits)") { () throws -> _RSA.Signing.PublicKey in
            try _RSA.Signing.PublicKey(unsafeDERRepresentation: der)
        }
        return try rsaKey(key, algorithm: algorithm, kid: kid)
    }
}
