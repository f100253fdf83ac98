/// The numbers of ISO/IEC 18004 that are tables rather than rules: error-correction block structure (table 9),
/// alignment pattern positions (annex E, computed), and the BCH-coded format and version information
/// (sections 7.9 and 7.10).
extension QRCode {
    /// How one version and level splits its codewords: `blocks` blocks, each with `ecPerBlock` error-correction
    /// codewords; the data codewords are divided so the first blocks are one codeword shorter than the rest.
    struct BlockLayout: Equatable {
        let totalCodewords: Int
        let ecPerBlock: Int
        let blocks: Int

        var dataCodewords: Int { totalCodewords - ecPerBlock * blocks }
        /// How many blocks carry `shortDataLength` data codewords (the others carry one more).
        var shortBlocks: Int { blocks - totalCodewords % blocks }
        var shortDataLength: Int { totalCodewords / blocks - ecPerBlock }
    }

    // Table 9, read by level (L, M, Q, H) then version 1...40 (index 0 unused).
    private static let ecCodewordsPerBlock: [[Int]] = [
        [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30,
         30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28,
         28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
        [0, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28,
         30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30,
         30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    ]
    private static let ecBlockCount: [[Int]] = [
        [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17,
         18, 19, 19, 20, 21, 22, 24, 25],
        [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29,
         31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
        [0, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38,
         40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
        [0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45,
         48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
    ]

    /// The block structure of `version` at `level`.
    static func layout(version: Int, level: ErrorCorrection) -> BlockLayout {
        let row = level.tableRow
        return BlockLayout(
            totalCodewords: rawDataModules(version: version) / 8, ecPerBlock: ecCodewordsPerBlock[row][version],
            blocks: ecBlockCount[row][version])
    }

    /// Modules left for codewords (and remainder bits) once every function pattern is placed.
    static func rawDataModules(version: Int) -> Int {
        let size = 17 + 4 * version
        var modules = size * size
        modules -= 3 * 64  // finders with their separators
        modules -= 2 * (size - 16)  // timing patterns
        modules -= 31  // two copies of the format information and the dark module
        if version >= 2 {
            let count = version / 7 + 2
            modules -= (count * count - 3) * 25  // alignment patterns, less the three under finders
            modules += (count - 2) * 2 * 5  // ... of which those on the timing lines were counted twice
        }
        if version >= 7 { modules -= 36 }  // two copies of the version information
        return modules
    }

    /// Row/column centres of the alignment patterns (annex E): 6, then evenly spaced (an even step) up to
    /// size - 7. Version 32 is the one version whose step is not the rounded-up even division.
    static func alignmentCentres(version: Int) -> [Int] {
        guard version >= 2 else { return [] }
        let count = version / 7 + 2
        let size = 17 + 4 * version
        let step = version == 32 ? 26 : (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2
        var centres = [6]
        for index in (0..<(count - 1)).reversed() { centres.append(size - 7 - index * step) }
        return centres
    }

    /// The 15 format bits (section 7.9.1): the level's two bits and the mask's three, a BCH(15,5) remainder by
    /// x^10 + x^8 + x^5 + x^4 + x^2 + x + 1 (0x537), XORed with 101010000010010 so they are never all light.
    static func formatBits(level: ErrorCorrection, mask: Int) -> Int {
        let data = level.formatBits << 3 | mask
        var remainder = data << 10
        for bit in stride(from: 14, through: 10, by: -1) where remainder >> bit & 1 == 1 {
            remainder ^= 0x537 << (bit - 10)
        }
        return (data << 10 | remainder) ^ 0x5412
    }

    /// The 18 version bits (section 7.10, versions 7 and up): six bits of version and a BCH(18,6) remainder by
    /// x^12 + x^11 + x^10 + x^9 + x^8 + x^5 + x^2 + 1 (0x1F25).
    static func versionBits(version: Int) -> Int {
        var remainder = version << 12
        for bit in stride(from: 17, through: 12, by: -1) where remainder >> bit & 1 == 1 {
            remainder ^= 0x1F25 << (bit - 12)
        }
        return version << 12 | remainder
    }
}

extension QRCode.ErrorCorrection {
    /// The row of table 9.
    fileprivate var tableRow: Int {
        switch self {
        case .low: 0
        case .medium: 1
        case .quartile: 2
        case .high: 3
        }
    }

    /// The level's two bits in the format information (table 12): L 01, M 00, Q 11, H 10.
    fileprivate var formatBits: Int {
        switch self {
        case .low: 1
        case .medium: 0
        case .quartile: 3
        case .high: 2
        }
    }
}
