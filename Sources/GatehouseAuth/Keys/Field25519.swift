/// Just enough arithmetic modulo p = 2²⁵⁵ − 19 to tell whether a 32-byte `y` is the y-coordinate of an Ed25519
/// point (RFC 8032 §5.1.3, decoding step 2): x² = (y² − 1) / (d·y² + 1) must have a square root.
///
/// Config-load code only (one exponentiation per key): four 64-bit limbs, little-endian, kept below 2²⁵⁶ and
/// congruent mod p, reduced fully only to compare. Not constant-time: public keys are public.
struct Field25519: Equatable {
    private var limbs: [UInt64]

    private init(limbs: [UInt64]) {
        self.limbs = limbs
    }

    /// The field element `value`.
    init(_ value: UInt64) {
        limbs = [value, 0, 0, 0]
    }

    /// `y` from a point encoding: the low 255 bits, little-endian (the caller has refused y ≥ p).
    init(encodedY bytes: ArraySlice<UInt8>) {
        precondition(bytes.count == 32)
        var limbs = [UInt64](repeating: 0, count: 4)
        for (offset, byte) in bytes.enumerated() {
            let value = offset == 31 ? byte & 0x7F : byte
            limbs[offset / 8] |= UInt64(value) << (UInt64(offset % 8) * 8)
        }
        self.limbs = limbs
    }

    /// p = 2²⁵⁵ − 19.
    private static let p: [UInt64] = [0xFFFF_FFFF_FFFF_FFED, .max, .max, 0x7FFF_FFFF_FFFF_FFFF]
    /// (p − 1) / 2 = 2²⁵⁴ − 10: Euler's criterion's exponent.
    private static let halfOfPMinusOne: [UInt64] = [0xFFFF_FFFF_FFFF_FFF6, .max, .max, 0x3FFF_FFFF_FFFF_FFFF]
    /// d = −121665 / 121666, the curve constant of edwards25519.
    static let d = Field25519(limbs: [0x75EB_4DCA_1359_78A3, 0x0070_0A4D_4141_D8AB, 0x8CC7_4079_7779_E898,
                                      0x5203_6CEE_2B6F_FE73])

    static func + (lhs: Field25519, rhs: Field25519) -> Field25519 {
        var sum = [UInt64](repeating: 0, count: 4)
        var carry: UInt64 = 0
        for index in 0..<4 {
            let (partial, overflow1) = lhs.limbs[index].addingReportingOverflow(rhs.limbs[index])
            let (total, overflow2) = partial.addingReportingOverflow(carry)
            sum[index] = total
            carry = (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
        }
        return Field25519(limbs: folded(sum, carry: carry))
    }

    /// `lhs − rhs` as `lhs + (2p − rhs)`, with `rhs` reduced below p first so that nothing borrows.
    static func - (lhs: Field25519, rhs: Field25519) -> Field25519 {
        let twoP: [UInt64] = [0xFFFF_FFFF_FFFF_FFDA, .max, .max, .max]
        let subtrahend = rhs.reduced().limbs
        var difference = [UInt64](repeating: 0, count: 4)
        var borrow: UInt64 = 0
        for index in 0..<4 {
            let (partial, underflow1) = twoP[index].subtractingReportingOverflow(subtrahend[index])
            let (total, underflow2) = partial.subtractingReportingOverflow(borrow)
            difference[index] = total
            borrow = (underflow1 ? 1 : 0) + (underflow2 ? 1 : 0)
        }
        return lhs + Field25519(limbs: difference)
    }

    static func * (lhs: Field25519, rhs: Field25519) -> Field25519 {
        var wide = [UInt64](repeating: 0, count: 8)
        for i in 0..<4 {
            var carry: UInt64 = 0
            for j in 0..<4 {
                let (high, low) = lhs.limbs[i].multipliedFullWidth(by: rhs.limbs[j])
                let (partial, overflow1) = wide[i + j].addingReportingOverflow(low)
                let (total, overflow2) = partial.addingReportingOverflow(carry)
                wide[i + j] = total
                carry = high + (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)  // high ≤ 2⁶⁴ − 2: no overflow
            }
            wide[i + 4] = carry
        }
        // 2²⁵⁶ ≡ 38 (mod p): fold the high half in as 38 times itself.
        var low = [UInt64](repeating: 0, count: 4)
        var carry: UInt64 = 0
        for index in 0..<4 {
            let (high, product) = wide[index + 4].multipliedFullWidth(by: 38)
            let (partial, overflow1) = wide[index].addingReportingOverflow(product)
            let (total, overflow2) = partial.addingReportingOverflow(carry)
            low[index] = total
            carry = high + (overflow1 ? 1 : 0) + (overflow2 ? 1 : 0)
        }
        return Field25519(limbs: folded(low, carry: carry))
    }

    /// Adds `carry` · 2²⁵⁶ ≡ 38 · `carry` back in, until nothing is carried out.
    private static func folded(_ value: [UInt64], carry: UInt64) -> [UInt64] {
        var result = value
        var extra = carry * 38
        while extra != 0 {
            var index = 0
            var add = extra
            extra = 0
            while add != 0 && index < 4 {
                let (total, overflow) = result[index].addingReportingOverflow(add)
                result[index] = total
                add = overflow ? 1 : 0
                index += 1
            }
            if add != 0 { extra = 38 }
        }
        return result
    }

    /// The unique representative in [0, p).
    func reduced() -> Field25519 {
        var value = limbs
        while !Self.isBelow(value, Self.p) {
            var borrow: UInt64 = 0
            for index in 0..<4 {
                let (partial, underflow1) = value[index].subtractingReportingOverflow(Self.p[index])
                let (total, underflow2) = partial.subtractingReportingOverflow(borrow)
                value[index] = total
                borrow = (underflow1 ? 1 : 0) + (underflow2 ? 1 : 0)
            }
        }
        return Field25519(limbs: value)
    }

    private static func isBelow(_ lhs: [UInt64], _ rhs: [UInt64]) -> Bool {
        for index in (0..<4).reversed() where lhs[index] != rhs[index] {
            return lhs[index] < rhs[index]
        }
        return false
    }

    /// `self` to the power `exponent` (four little-endian limbs), by square-and-multiply.
    private func power(_ exponent: [UInt64]) -> Field25519 {
        var result = Field25519(1)
        for bit in (0..<256).reversed() {
            result = result * result
            if exponent[bit / 64] >> UInt64(bit % 64) & 1 == 1 { result = result * self }
        }
        return result
    }

    /// Whether `self` is a square mod p (zero counts): Euler's criterion, self^((p−1)/2) ∈ {0, 1}.
    var isSquare: Bool {
        let symbol = power(Self.halfOfPMinusOne).reduced()
        return symbol == Field25519(0) || symbol == Field25519(1)
    }

    /// Whether some point of edwards25519 has this y: (y² − 1) / (d·y² + 1) is a square. The denominator is
    /// never zero (d is not a square), and u/v is a square exactly when u·v is.
    static func isEdwardsY(_ y: Field25519) -> Bool {
        let ySquared = y * y
        let u = ySquared - Field25519(1)
        let v = d * ySquared + Field25519(1)
        return (u * v).isSquare
    }
}
