/// Ed25519 point encodings (RFC 8032 §5.1.2) that must never take part in a verification: small-order points
/// and non-canonical encodings.
///
/// A public key of small order verifies forged signatures: with the identity as the key, `R` = identity and
/// `S` = 0 satisfy the verification equation for every message, so a JWKS holding it lets anyone mint tokens.
/// BoringSSL's `ED25519_verify` checks neither the key nor `R` for this, so we refuse such keys when the
/// config loads and such an `R` before calling it (as libsodium's `crypto_sign_verify_detached` does).
///
/// An encoding is 32 bytes: `y` little-endian in the low 255 bits, the sign of `x` in the top bit. There are
/// eight small-order points: the identity (0, 1), (0, −1) of order 2, (±√−1, 0) of order 4, and four points of
/// order 8 whose `y` is ±y₈. Non-canonical: `y` ≥ p = 2²⁵⁵ − 19 (19 values; p and p + 1 stand for the small-order
/// y = 0 and y = 1), and x = 0 (y = ±1) with the sign bit set. Checking `y` with the sign bit masked covers both
/// signs of every small-order point: the eight canonical encodings and the six alternative ones.
enum Ed25519Encoding {
    /// What is wrong with an encoding.
    enum Flaw: Equatable {
        /// `y` ≥ p, or x = 0 with the sign bit set: not the one encoding RFC 8032 allows.
        case nonCanonical
        /// One of the eight points of order 1, 2, 4 or 8.
        case smallOrder
    }

    /// The `y` coordinates of the small-order points, little-endian with the sign bit clear (canonical: < p).
    private static let smallOrderY: [[UInt8]] = [
        // y = 0: (±√−1, 0), order 4.
        [UInt8](repeating: 0, count: 32),
        // y = 1: the identity.
        [0x01] + [UInt8](repeating: 0, count: 31),
        // y = p − 1: (0, −1), order 2.
        [0xEC] + [UInt8](repeating: 0xFF, count: 30) + [0x7F],
        // y = y₈ and y = p − y₈: the four points of order 8.
        [
            0x26, 0xE8, 0x95, 0x8F, 0xC2, 0xB2, 0x27, 0xB0, 0x45, 0xC3, 0xF4, 0x89, 0xF2, 0xEF, 0x98, 0xF0,
            0xD5, 0xDF, 0xAC, 0x05, 0xD3, 0xC6, 0x33, 0x39, 0xB1, 0x38, 0x02, 0x88, 0x6D, 0x53, 0xFC, 0x05,
        ],
        [
            0xC7, 0x17, 0x6A, 0x70, 0x3D, 0x4D, 0xD8, 0x4F, 0xBA, 0x3C, 0x0B, 0x76, 0x0D, 0x10, 0x67, 0x0F,
            0x2A, 0x20, 0x53, 0xFA, 0x2C, 0x39, 0xCC, 0xC6, 0x4E, 0xC7, 0xFD, 0x77, 0x92, 0xAC, 0x03, 0x7A,
        ],
    ]

    /// The flaw of a 32-byte point encoding, or `nil` for one that may be used. Allocation-free: it runs per
    /// EdDSA token, on `R`.
    ///
    /// - Parameter point: exactly 32 bytes (a public key, or the first half of a signature).
    static func flaw(_ point: ArraySlice<UInt8>) -> Flaw? {
        guard point.count == 32 else { return .nonCanonical }
        let first = point.startIndex
        let last = point.index(before: point.endIndex)
        let signBit = point[last] & 0x80 != 0
        // y ≥ p: y is 2²⁵⁵ − 19 … 2²⁵⁵ − 1, i.e. all ones above the lowest byte, and that byte ≥ 0xED.
        if point[first] >= 0xED, point[last] & 0x7F == 0x7F,
            point[(first + 1)..<last].allSatisfy({ $0 == 0xFF })
        {
            return .nonCanonical
        }
        for y in smallOrderY where equalsIgnoringSign(point, y) {
            // y = ±1 means x = 0, which has no negative: the sign bit set is another encoding of the same point.
            let xIsZero = y[0] == 0x01 || y[0] == 0xEC
            return xIsZero && signBit ? .nonCanonical : .smallOrder
        }
        return nil
    }

    /// Why a public key cannot be loaded, or `nil`: a flaw, or a `y` that no curve point has (such a key
    /// verifies nothing, and is refused like an EC point off its curve).
    static func keyProblem(_ raw: [UInt8]) -> String? {
        switch flaw(raw[...]) {
        case nil:
            guard Field25519.isEdwardsY(Field25519(encodedY: raw[...])) else {
                return "Ed25519 key is not a point on the curve (no x satisfies the curve equation for its y)"
            }
            return nil
        case .smallOrder?:
            return "Ed25519 key is a small-order point (the identity or another of the 8 low-order points); "
                + "with it anyone can forge a signature that verifies"
        case .nonCanonical?:
            return "Ed25519 key is not canonically encoded (y ≥ 2^255 − 19, or x = 0 with the sign bit set)"
        }
    }

    private static func equalsIgnoringSign(_ point: ArraySlice<UInt8>, _ y: [UInt8]) -> Bool {
        var index = point.startIndex
        for offset in 0..<31 {
            guard point[index] == y[offset] else { return false }
            index += 1
        }
        return point[index] & 0x7F == y[31]
    }
}
