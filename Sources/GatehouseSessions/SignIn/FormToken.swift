import Crypto
import GatehouseAuth

/// The per-session token every state-changing form of the account page carries (CSRF, on top of the
/// Origin / Sec-Fetch-Site rule).
///
/// Derived, not stored: HMAC-SHA256 keyed by the session's store key (the SHA-256 of the cookie's secret, which
/// only the gateway and the cookie's holder can know) over a fixed label. Every gateway sharing the store
/// derives the same token, nothing new is kept, and signing out ends the token with the session. A page from
/// another session (another user's, or an old one of this browser) carries a token that does not match.
package enum FormToken {
    private static let label = Array("gatehouse account form v1".utf8)

    /// The token of the session stored under `key` (base64url, 43 characters).
    package static func make(for key: SessionKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: label, using: SymmetricKey(data: key.bytes))
        return Base64URL.encode(Array(mac))
    }

    /// Whether `presented` is the token of the session stored under `key` (compared in constant time).
    package static func isValid(_ presented: String?, for key: SessionKey) -> Bool {
        guard let presented, let bytes = Base64URL.decode(Array(presented.utf8)[...]), bytes.count == 32 else {
            return false
        }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: label,
                                                      using: SymmetricKey(data: key.bytes))
    }
}
