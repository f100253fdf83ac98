import GatehouseHTTP

/// What `gatehouse totp enroll USER` prints: a new random secret, in base32 for the users file and an
/// authenticator app, and the `otpauth://` URI (Google Authenticator's Key Uri Format) its QR code carries.
///
/// The parameters are the ones the sign-in checks (RFC 6238 with SHA-1, 6 digits, 30-second steps), written out
/// although they are the defaults, so an app that guesses otherwise is told.
package struct TOTPEnrolment: Sendable, Equatable {
    /// 160 bits: RFC 4226 section 4 recommends it (the HMAC-SHA-1 output size); the sign-in accepts >= 80.
    package static let secretBytes = 20

    package let user: String
    package let issuer: String
    package let secret: [UInt8]

    /// An enrolment with a fresh secret from the system's cryptographically secure generator (getrandom(2)).
    package init(user: String, issuer: String) {
        var generator = SystemRandomNumberGenerator()
        self.init(user: user, issuer: issuer, secret: (0..<Self.secretBytes).map { _ in generator.next() })
    }

    /// An enrolment with a given secret (tests).
    package init(user: String, issuer: String, secret: [UInt8]) {
        self.user = user
        self.issuer = issuer
        self.secret = secret
    }

    /// The secret in base32 (RFC 4648 section 6), without padding: 32 characters for 160 bits.
    package var base32Secret: String { Self.base32(secret) }

    /// `otpauth://totp/ISSUER:USER?secret=...&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
    ///
    /// The label's issuer and account and the issuer parameter are UTF-8, percent-encoded (RFC 3986) except for
    /// the unreserved characters and `@`: a space is `%20`, never `+` (apps read `+` as itself), and a colon in
    /// the issuer is `%3A`, so only the literal `:` separates issuer from account. The issuer parameter repeats
    /// the issuer, and is what current apps show.
    package var uri: String {
        let issuerText = Self.percentEncoded(issuer)
        return "otpauth://totp/\(issuerText):\(Self.percentEncoded(user))?secret=\(base32Secret)"
            + "&issuer=\(issuerText)&algorithm=SHA1&digits=6&period=30"
    }

    /// The line to add under the user in the users file.
    package var usersFileLine: String { "totp_secret: \(base32Secret)" }

    /// RFC 4648 base32: five bits per character from the alphabet A–Z 2–7, most significant first; the last
    /// character's unused low bits are zero. No `=` padding (authenticator apps and the users file expect none).
    package static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[buffer >> (bits - 5) & 31])
                bits -= 5
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[buffer << (5 - bits) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// `text`'s UTF-8 with every byte but the RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~) and `@`
    /// written as `%XX` (upper-case hex).
    package static func percentEncoded(_ text: String) -> String {
        PercentEncoding.encoded(text, alsoKeeping: UInt8(ascii: "@"))
    }
}
