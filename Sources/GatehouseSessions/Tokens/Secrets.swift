import GatehouseAuth

/// Fresh secrets from the system CSPRNG (`getrandom(2)` behind Swift's `SystemRandomNumberGenerator`).
package enum Secrets {
    /// 32 random bytes (256 bits): session IDs and refresh tokens.
    package static func bytes(_ count: Int = 32) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            var word = generator.next()
            for _ in 0..<8 where out.count < count {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }

    /// A new secret as the client holds it (base64url, 43 characters) and its store key (SHA-256).
    package static func newSecret() -> (text: String, key: SessionKey) {
        let raw = bytes(32)
        return (Base64URL.encode(raw), SessionKey(hashing: raw))
    }

    /// The store key of a secret as the client presented it; nil unless it is exactly 32 bytes of canonical
    /// base64url (anything else cannot be one of ours, and is refused before any lookup).
    package static func key(ofPresented text: ArraySlice<UInt8>) -> SessionKey? {
        guard text.count == 43, let raw = Base64URL.decode(text), raw.count == 32 else { return nil }
        return raw.withUnsafeBytes { SessionKey(hashing: $0) }  // hashed in place: no second copy per request
    }

    /// A public handle: 128 random bits, base64url (22 characters).
    package static func newHandle() -> String { Base64URL.encode(bytes(16)) }
}
