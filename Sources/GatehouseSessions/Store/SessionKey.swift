import Crypto

/// The store's name for a secret (a session ID or a refresh token): the SHA-256 of its 32 random bytes.
///
/// The store keeps only this, so a copy of the store (a backup, a leaked SQLite file, a Redis dump) holds no
/// live cookie or refresh token. Four words instead of an array: hashing and comparing it allocates nothing.
package struct SessionKey: Hashable, Sendable, CustomStringConvertible {
    package let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    package init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// The key of a secret's raw bytes.
    package init(hashing secret: some Sequence<UInt8>) {
        var hasher = SHA256()
        hasher.update(data: Array(secret))
        self.init(digest: hasher.finalize())
    }

    /// The key of a secret given as raw bytes in a buffer (no copy).
    package init(hashing secret: UnsafeRawBufferPointer) {
        self.init(digest: SHA256.hash(data: secret))
    }

    /// The 32 bytes as stored (SQLite BLOB, Redis key suffix).
    package init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { words[i / 8] = words[i / 8] << 8 | UInt64(b) }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    private init(digest: SHA256.Digest) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        digest.withUnsafeBytes { raw in
            func word(_ at: Int) -> UInt64 {
                var w: UInt64 = 0
                for i in at..<(at + 8) { w = w << 8 | UInt64(raw[i]) }
                return w
            }
            words = (word(0), word(8), word(16), word(24))
        }
        self.init(w0: words.0, w1: words.1, w2: words.2, w3: words.3)
    }

    /// Big-endian bytes, 32 of them.
    package var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
        }
        return out
    }

    /// Lowercase hex (Redis keys, logs of a key's first bytes).
    package var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first 8 hex digits: enough to correlate log lines, useless to an attacker.
    package var description: String { String(hex.prefix(8)) }
}
