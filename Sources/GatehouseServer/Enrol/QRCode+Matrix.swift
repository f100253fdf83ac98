extension QRCode {
    /// The module grid while a code is built: `dark` per module, and `reserved` for the function patterns (and
    /// the format and version areas), which neither codewords nor masks touch. Row-major, index row × size + col.
    struct Matrix {
        let version: Int
        let size: Int
        private(set) var dark: [Bool]
        private(set) var reserved: [Bool]

        /// A grid with every function pattern drawn and the format area reserved (filled per mask later).
        init(version: Int) {
            self.version = version
            size = 17 + 4 * version
            dark = Array(repeating: false, count: size * size)
            reserved = Array(repeating: false, count: size * size)
            drawFunctionPatterns()
        }

        private mutating func set(_ row: Int, _ column: Int, _ value: Bool) {
            dark[row * size + column] = value
            reserved[row * size + column] = true
        }

        private mutating func drawFunctionPatterns() {
            // Timing patterns first: the finders and alignment patterns drawn after overwrite their ends.
            for index in 0..<size {
                set(6, index, index % 2 == 0)
                set(index, 6, index % 2 == 0)
            }
            drawFinder(centreRow: 3, centreColumn: 3)
            drawFinder(centreRow: 3, centreColumn: size - 4)
            drawFinder(centreRow: size - 4, centreColumn: 3)
            let centres = QRCode.alignmentCentres(version: version)
            for row in centres {
                for column in centres {
                    // The three positions that fall on a finder have no pattern.
                    let onFinder = (row == 6 && column == 6) || (row == 6 && column == centres.last!)
                        || (row == centres.last! && column == 6)
                    if !onFinder { drawAlignment(centreRow: row, centreColumn: column) }
                }
            }
            // Reserve the format areas now (their bits depend on the mask); the dark module is always dark.
            drawFormat(bits: 0)
            set(size - 8, 8, true)
            if version >= 7 { drawVersion() }
        }

        /// A 7×7 finder with its one-module light separator (clipped at the edges).
        private mutating func drawFinder(centreRow: Int, centreColumn: Int) {
            for dy in -4...4 {
                for dx in -4...4 {
                    let row = centreRow + dy
                    let column = centreColumn + dx
                    guard (0..<size).contains(row), (0..<size).contains(column) else { continue }
                    let ring = max(abs(dx), abs(dy))
                    set(row, column, ring != 2 && ring != 4)
                }
            }
        }

        /// A 5×5 alignment pattern: dark ring, light ring, dark centre.
        private mutating func drawAlignment(centreRow: Int, centreColumn: Int) {
            for dy in -2...2 {
                for dx in -2...2 { set(centreRow + dy, centreColumn + dx, max(abs(dx), abs(dy)) != 1) }
            }
        }

        /// The 15 format bits, twice (figure 25): bit 0 is the least significant.
        /// Copy 1 around the top-left finder: bits 0–5 down column 8 (rows 0–5), 6 at row 7, 7 at (8, 8), 8 at
        /// (8, 7), 9–14 along row 8 from column 5 to 0. Copy 2: bits 0–7 along row 8 from the right edge inwards,
        /// bits 8–14 down column 8 in the bottom seven rows.
        mutating func drawFormat(bits: Int) {
            func bit(_ index: Int) -> Bool { bits >> index & 1 == 1 }
            for index in 0...5 { set(index, 8, bit(index)) }
            set(7, 8, bit(6))
            set(8, 8, bit(7))
            set(8, 7, bit(8))
            for index in 9..<15 { set(8, 14 - index, bit(index)) }
            for index in 0..<8 { set(8, size - 1 - index, bit(index)) }
            for index in 8..<15 { set(size - 15 + index, 8, bit(index)) }
        }

        /// The 18 version bits, twice: a 6×3 block above the bottom-left finder and its transpose left of the
        /// top-right one; bit i at (i / 3, size - 11 + i % 3) and mirrored.
        private mutating func drawVersion() {
            let bits = QRCode.versionBits(version: version)
            for index in 0..<18 {
                let value = bits >> index & 1 == 1
                let near = index / 3
                let far = size - 11 + index % 3
                set(near, far, value)
                set(far, near, value)
            }
        }

        /// Places the message bits (section 7.7.3): two-module columns from the right edge leftwards, upwards
        /// and downwards in turn, skipping the vertical timing column and every reserved module. Modules left
        /// over (the remainder bits) stay light.
        mutating func placeCodewords(_ codewords: [UInt8]) {
            let totalBits = codewords.count * 8
            var bitIndex = 0
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                let upward = (right + 1) & 2 == 0
                for step in 0..<size {
                    let row = upward ? size - 1 - step : step
                    for column in [right, right - 1] where !reserved[row * size + column] && bitIndex < totalBits {
                        dark[row * size + column] = codewords[bitIndex >> 3] >> (7 - UInt8(bitIndex & 7)) & 1 == 1
                        bitIndex += 1
                    }
                }
                right -= 2
            }
        }

        /// XORs mask pattern `mask` (table 10; i is the row, j the column) into every non-reserved module.
        mutating func apply(mask: Int) {
            for row in 0..<size {
                for column in 0..<size where !reserved[row * size + column] {
                    let flip: Bool
                    switch mask {
                    case 0: flip = (row + column) % 2 == 0
                    case 1: flip = row % 2 == 0
                    case 2: flip = column % 3 == 0
                    case 3: flip = (row + column) % 3 == 0
                    case 4: flip = (row / 2 + column / 3) % 2 == 0
                    case 5: flip = row * column % 2 + row * column % 3 == 0
                    case 6: flip = (row * column % 2 + row * column % 3) % 2 == 0
                    default: flip = ((row + column) % 2 + row * column % 3) % 2 == 0
                    }
                    if flip { dark[row * size + column].toggle() }
                }
            }
        }
    }

    /// The mask-selection penalty of section 7.8.3 (lower is better), over the symbol without its quiet zone:
    /// N1 = 3 + (run - 5) for each row or column run of five or more same-coloured modules; N2 = 3 for each 2×2
    /// block of one colour; N3 = 40 for each 1:1:3:1:1 finder-like sequence with four light modules on one side
    /// (1011101 0000 or 0000 1011101 in a row or column); N4 = 10 for each full 5 % the dark proportion is away
    /// from 50 %.
    static func penalty(modules: [Bool], size: Int) -> Int {
        var score = 0
        func at(_ row: Int, _ column: Int) -> Bool { modules[row * size + column] }
        for line in 0..<size {
            for vertical in [false, true] {
                var runLength = 0
                var previous = false
                var window = 0  // the last 11 modules of the line, newest in bit 0
                for index in 0..<size {
                    let value = vertical ? at(index, line) : at(line, index)
                    if index > 0, value == previous {
                        runLength += 1
                    } else {
                        if runLength >= 5 { score += 3 + runLength - 5 }
                        runLength = 1
                        previous = value
                    }
                    window = (window << 1 | (value ? 1 : 0)) & 0x7FF
                    if index >= 10, window == 0b1011101_0000 || window == 0b0000_1011101 { score += 40 }
                }
                if runLength >= 5 { score += 3 + runLength - 5 }
            }
        }
        for row in 0..<(size - 1) {
            for column in 0..<(size - 1) {
                let value = at(row, column)
                if value == at(row, column + 1), value == at(row + 1, column), value == at(row + 1, column + 1) {
                    score += 3
                }
            }
        }
        let darkCount = modules.reduce(0) { $0 + ($1 ? 1 : 0) }
        let total = size * size
        // |dark/total - 1/2| in 5 % steps, rounded down, in integers.
        score += 10 * (abs(darkCount * 20 - total * 10) / total)
        return score
    }
}
