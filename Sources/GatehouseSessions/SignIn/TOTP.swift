import Crypto

/// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 30-second steps. Verification with
/// drift is `TOTP+Verify.swift`; the second sign-in step is `SecondFactorSignIn` (GatehouseProxy), the used-code
/// record `SecondFactorLedger`.
package enum TOTP {
    /// The code for `secret` at Unix time `time` (`digits` long, zero-padded).
    package static func code(secret: [UInt8], time: Int64, step: Int64 = 30, digits: Int = 6) -> String {
        hotp(secret: secret, counter: UInt64(max(0, time) / step), digits: digits)
    }

    /// RFC 4226 section 5.3: HMAC-SHA-1 of the big-endian counter, dynamically truncated.
    package static func hotp(secret: [UInt8], counter: UInt64, digits: Int) -> String {
        let message = (0..<8).map { UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * $0)) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[19] & 0x0f)
        let binary = (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let text = String(binary % modulus)
        return String(repeating: "0", count: digits - text.count) + text
    }
}
