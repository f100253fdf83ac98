import Crypto
import GatehouseAuth

/// The admin page's browser credential: a cookie the admin listener sets once the operator has typed the admin
/// token (`admin.token_file`) into the page's sign-in form, and the form token bound to that cookie (CSRF, on
/// top of the listener's Host and cross-site rules).
///
/// Why a cookie and not the bearer token itself: a browser cannot send `Authorization: Bearer`. Why not HTTP
/// Basic: the browser then attaches the secret to every request to the listener, cross-site ones included
/// (`SameSite` does not apply to it), and there is no way to sign out. Why not a signed-in Gatehouse session:
/// the public listener's cookie belongs to the public host name, and a phished user password would become an
/// admin credential. The cookie is `HttpOnly; SameSite=Strict; Path=/admin/`, so no other site can make the
/// browser send it.
///
/// Derived, not stored (as `FormToken`): `value = base64url(issued (8 bytes, big-endian) || nonce (16 random
/// bytes) || HMAC(k, "cookie" || issued || nonce))`, `k = HMAC-SHA256(token, label)`. Nothing is kept;
/// changing the token file (and a reload) ends every cookie. Without a token file the listener is open to whoever reaches it, and `k` is random per process: the
/// cookie then only carries the form token's binding (a restart makes the page ask for a reload).
package struct AdminCredential: Sendable {
    /// The MAC key's bytes (`SymmetricKey` is not `Sendable`; one is made per MAC).
    private let key: [UInt8]

    private static let label = Array("gatehouse admin page v1".utf8)
    /// Without a token file: one random key for the life of the process.
    private static let processKey: [UInt8] = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }

    /// How long a cookie is accepted after it was issued (12 hours).
    package static let lifetime: Int64 = 12 * 3600

    /// - Parameter token: the admin token's bytes; nil when no `admin.token_file` is set.
    package init(token: [UInt8]?) {
        if let token {
            let mac = HMAC<SHA256>.authenticationCode(for: Self.label, using: SymmetricKey(data: token))
            key = Array(mac)
        } else {
            key = Self.processKey
        }
    }

    /// A new cookie value issued at `now`, with 128 random bits: two browsers signed in within one second hold
    /// different cookies, so neither's form token works for the other.
    package func cookie(issuedAt now: Int64) -> String {
        let body = Self.bigEndian(now) + SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) }
        return Base64URL.encode(body + mac("cookie", body))
    }

    /// Whether `value` is a cookie of this key, issued no more than `lifetime` before `now` (and not in its
    /// future beyond a minute of clock skew). Constant time in the MAC.
    package func accepts(cookie value: String?, now: Int64) -> Bool {
        guard let value, value.utf8.count <= 80, let bytes = Base64URL.decode(Array(value.utf8)[...]),
              bytes.count == 56
        else { return false }
        let body = Array(bytes.prefix(24))
        let issuedAt = body.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard issuedAt <= now + 60, now - issuedAt < Self.lifetime else { return false }
        return ConstantTime.equal(Array(bytes.dropFirst(24)), mac("cookie", body))
    }

    /// The form token of the page served to the holder of cookie `value` (base64url, 43 characters).
    package func formToken(for value: String) -> String {
        Base64URL.encode(mac("form", Array(value.utf8)))
    }

    /// Whether `presented` is the form token for cookie `value` (constant time).
    package func acceptsFormToken(_ presented: String?, for value: String) -> Bool {
        guard let presented, presented.utf8.count == 43 else { return false }
        return ConstantTime.equal(Array(presented.utf8), Array(formToken(for: value).utf8))
    }

    private func mac(_ purpose: String, _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(purpose.utf8) + [0] + data,
                                                    using: SymmetricKey(data: key)))
    }

    private static func bigEndian(_ value: Int64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}
