@preconcurrency internal import Crypto

/// Proof Key for Code Exchange (RFC 7636), S256 only: `plain` would put the verifier itself in the browser's URL.
package enum PKCE {
    /// A verifier from 32 random bytes: 43 base64url characters (RFC 7636 §4.1 allows 43...128 of that alphabet).
    package static func verifier(random: [UInt8]) -> String {
        precondition(random.count >= 32, "a PKCE verifier needs at least 32 random bytes")
        return Base64URL.encode(random)
    }

    /// `BASE64URL(SHA256(ASCII(verifier)))` (§4.2).
    package static func challenge(for verifier: String) -> String {
        Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
    }
}
