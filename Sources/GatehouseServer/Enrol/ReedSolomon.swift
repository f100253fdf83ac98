/// Reed-Solomon error correction over GF(2^8) as QR codes use it (ISO/IEC 18004 section 7.5.2): the field is
/// reduced by x^8 + x^4 + x^3 + x^2 + 1 (0x11D), the generator's roots are α^0 ... α^(n-1) with α = 2, and the
/// error-correction codewords of a block are the remainder of data(x)·x^n divided by the generator.
///
/// Only the encoder: a terminal QR code is written, never read, here.
enum ReedSolomon {
    /// log and antilog tables of the field: `exp[i]` = α^i (doubled to 510 entries so a sum of two logs needs no
    /// modulo), `log[exp[i]]` = i. `log[0]` is unused (0 has no logarithm).
    private static let tables: (exp: [UInt8], log: [UInt8]) = {
        var exp = [UInt8](repeating: 0, count: 510)
        var log = [UInt8](repeating: 0, count: 256)
        var value = 1
        for power in 0..<255 {
            exp[power] = UInt8(value)
            log[value] = UInt8(power)
            value <<= 1
            if value & 0x100 != 0 { value ^= 0x11D }
        }
        for power in 255..<510 { exp[power] = exp[power - 255] }
        return (exp, log)
    }()

    /// The product of two field elements.
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        guard a != 0, b != 0 else { return 0 }
        return tables.exp[Int(tables.log[Int(a)]) + Int(tables.log[Int(b)])]
    }

    /// The generator polynomial of degree `degree`, ∏ (x - α^i) for i in 0..<degree, as its coefficients from
    /// x^(degree-1) down to x^0 (the leading 1 of x^degree is implied).
    static func generator(degree: Int) -> [UInt8] {
        precondition((1...254).contains(degree), "Reed-Solomon degree out of range: \(degree)")
        // Held highest power first, leading coefficient included, while multiplying in each (x - α^i).
        var poly: [UInt8] = [1]
        for i in 0..<degree {
            let root = tables.exp[i]
            var next = [UInt8](repeating: 0, count: poly.count + 1)
            for (index, coefficient) in poly.enumerated() {
                next[index] ^= coefficient  // · x
                next[index + 1] ^= multiply(coefficient, root)  // · α^i (minus is plus in GF(2^8))
            }
            poly = next
        }
        return Array(poly.dropFirst())
    }

    /// The `generator.count` error-correction codewords of `data`: the remainder of data(x)·x^n by the generator
    /// (polynomial long division, one shift register step per data byte).
    static func remainder(of data: [UInt8], generator: [UInt8]) -> [UInt8] {
        var register = [UInt8](repeating: 0, count: generator.count)
        for byte in data {
            let factor = byte ^ register[0]
            register.removeFirst()
            register.append(0)
            for index in register.indices { register[index] ^= multiply(generator[index], factor) }
        }
        return register
    }
}
