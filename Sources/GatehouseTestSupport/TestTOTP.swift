@preconcurrency import Crypto
import Foundation

/// RFC 6238 codes and the second-factor pending cookie, written again from the RFC and the documented format for
/// the integration tests (the product's `TOTP` is not used: a shared bug would pass unnoticed).
package enum TestTOTP {
    /// RFC 6238 appendix B's SHA-1 seed, "12345678901234567890", as the users file holds it (base32).
    package static let rfcSecretBase32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    package static let rfcSecret = Array("12345678901234567890".utf8)

    /// The 6-digit code of `secret` at Unix time `time`.
    package static func code(_ secret: [UInt8], at time: Int64) -> String {
        var counter = UInt64(time / 30).bigEndian
        let message = withUnsafeBytes(of: &counter) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[19] & 0x0f)
        let value = (UInt32(mac[offset] & 0x7f) << 24 | UInt32(mac[offset + 1]) << 16
            | UInt32(mac[offset + 2]) << 8 | UInt32(mac[offset + 3])) % 1_000_000
        return String(format: "%06u", value)
    }

    /// Now, in Unix seconds.
    package static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    /// Waits until at least `margin` seconds remain in the current 30-second step, so a code computed now is
    /// still of the gateway's current step when it arrives.
    package static func awaitFreshStep(margin: Int64 = 6) {
        let into = now % 30
        if 30 - into < margin { Thread.sleep(forTimeInterval: Double(30 - into) + 0.2) }
    }

    /// A pending cookie value sealed as the gateway seals it (payload JSON, HMAC-SHA256 under the key derived from
    /// the user's TOTP secret and password hash): lets a test make one that is authentic but expired, or bound to
    /// another client.
    package static func sealPending(user: String, client: String, expiresAt: Int64, nonce: String,
                                    secret: [UInt8], passwordHash: String) -> String {
        let json = "{\"u\":\"\(user)\",\"c\":\"\(client)\",\"e\":\(expiresAt),\"n\":\"\(nonce)\"}"
        let payload = base64url(Array(json.utf8))
        var material = SHA256()
        material.update(data: Array("gatehouse second-factor pending v1".utf8))
        material.update(data: [UInt8(secret.count)] + secret)
        material.update(data: Array(passwordHash.utf8))
        let key = SymmetricKey(data: Array(material.finalize()))
        let tag = HMAC<SHA256>.authenticationCode(for: Array(("gh-2fa-1." + payload).utf8), using: key)
        return payload + "." + base64url(Array(tag))
    }

    package static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
