@preconcurrency internal import Crypto
internal import _CryptoExtras

/// Signature checks, one per key type, over the signing input exactly as received.
///
/// The caller has already checked the decoded signature's length against ``VerificationKey/signatureByteCount``
/// (so a wrong length is `bad-signature-length`, never a crypto-library call). What the library adds:
/// - HMAC: `isValidAuthenticationCode` compares in constant time;
/// - ECDSA: BoringSSL refuses r or s outside [1, n−1], so an all-zero signature fails;
/// - EdDSA: BoringSSL refuses a non-canonical S (S ≥ L); we refuse an R that is a small-order point or
///   non-canonical first (``Ed25519Encoding``), which BoringSSL does not check;
/// - RSA: PKCS#1 v1.5, or PSS with MGF1 and the salt length equal to the hash length (RFC 7518 §3.5).
extension VerificationKey {
    /// Whether `signature` is this key's valid signature of `signingInput` under ``algorithm``.
    ///
    /// - Parameters:
    ///   - signature: decoded signature bytes of exactly ``signatureByteCount`` bytes.
    ///   - signingInput: `header '.' payload` as received.
    /// - Returns: `true` only for a valid signature.
    func isValidSignature(_ signature: [UInt8], for signingInput: ArraySlice<UInt8>) -> Bool {
        guard signature.count == signatureByteCount else { return false }
        switch material {
        case .hmac(let secret):
            switch algorithm {
            case .HS256:
                return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: secret)
            case .HS384:
                return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: signingInput, using: secret)
            case .HS512:
                return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: signingInput, using: secret)
            default: return false  // unreachable: KeyLoader pairs each material with its own family
            }
        case .rsa(let key):
            let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            switch algorithm {
            case .RS256:
                return key.isValidSignature(
                    rsaSignature, for: SHA256.hash(data: signingInput), padding: .insecurePKCS1v1_5)
            case .RS384:
                return key.isValidSignature(
                    rsaSignature, for: SHA384.hash(data: signingInput), padding: .insecurePKCS1v1_5)
            case .RS512:
                return key.isValidSignature(
                    rsaSignature, for: SHA512.hash(data: signingInput), padding: .insecurePKCS1v1_5)
            case .PS256: return key.isValidSignature(rsaSignature, for: SHA256.hash(data: signingInput), padding: .PSS)
            case .PS384: return key.isValidSignature(rsaSignature, for: SHA384.hash(data: signingInput), padding: .PSS)
            case .PS512: return key.isValidSignature(rsaSignature, for: SHA512.hash(data: signingInput), padding: .PSS)
            default: return false  // unreachable: KeyLoader pairs each material with its own family
            }
        case .p256(let key):
            guard let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(ecdsa, for: SHA256.hash(data: signingInput))
        case .p384(let key):
            guard let ecdsa = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(ecdsa, for: SHA384.hash(data: signingInput))
        case .p521(let key):
            guard let ecdsa = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(ecdsa, for: SHA512.hash(data: signingInput))
        case .ed25519(let key):
            guard Ed25519Encoding.flaw(signature[0..<32]) == nil else { return false }
            return key.isValidSignature(signature, for: signingInput)
        }
    }
}
