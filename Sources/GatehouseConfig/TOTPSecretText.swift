/// The text form of a TOTP secret in the users file: RFC 4648 base32 (`A`–`Z`, `2`–`7`), as authenticator apps
/// and `otpauth://` URIs carry it. Lowercase letters, blanks (apps show the secret in groups of four) and trailing
/// `=` padding are accepted; anything else is refused with the first offending character's position, never the
/// value (it is a secret).
package enum TOTPSecretText {
    /// RFC 4226 section 4 asks for at least 128 bits and recommends 160; below 80 a secret can be searched.
    package static let minimumBits = 80
    /// 1024 bits: far beyond any authenticator's key; bounds what a users file can make the gateway hold.
    package static let maximumCharacters = 205

    /// The secret's bytes, or why `text` is not a usable secret.
    package static func decode(_ text: String) -> Result<[UInt8], Problem> {
        var value: UInt64 = 0
        var bits = 0
        var out: [UInt8] = []
        var count = 0
        var padding = false
        for (offset, byte) in text.utf8.enumerated() {
            if byte == UInt8(ascii: " ") { continue }
            if byte == UInt8(ascii: "=") {
                padding = true
                continue
            }
            guard !padding, let digit = digit(byte) else { return .failure(.badCharacter(position: offset + 1)) }
            count += 1
            guard count <= maximumCharacters else { return .failure(.tooLong) }
            value = (value << 5) | UInt64(digit)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: value >> UInt64(bits)))
            }
        }
        guard count * 5 >= minimumBits else { return .failure(.tooShort(bits: count * 5)) }
        return .success(out)
    }

    /// Why a text is not a secret.
    package enum Problem: Error, Equatable {
        case badCharacter(position: Int)
        case tooShort(bits: Int)
        case tooLong

        package var message: String {
            switch self {
            case .badCharacter(let position):
                return "a TOTP secret is base32 (letters A to Z and digits 2 to 7); character \(position) is not"
            case .tooShort(let bits):
                return "a TOTP secret needs at least \(TOTPSecretText.minimumBits) bits (16 base32 characters), "
                    + "got \(bits); make a new one with `gatehouse totp enroll USER`"
            case .tooLong:
                return "a TOTP secret is at most \(TOTPSecretText.maximumCharacters) base32 characters"
            }
        }
    }

    private static func digit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): byte - UInt8(ascii: "2") + 26
        default: nil
        }
    }
}
