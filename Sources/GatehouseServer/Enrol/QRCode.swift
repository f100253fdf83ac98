/// A QR code (ISO/IEC 18004 model 2) of a byte string, in byte mode: what `gatehouse totp enroll` draws in the
/// terminal so a phone's authenticator app can read the `otpauth://` URI.
///
/// Our own encoder, because no package provides one: byte mode only (an otpauth URI is bytes), every version
/// (1–40) and level, Reed-Solomon over GF(256) (``ReedSolomon``), the block split and interleaving of table 9,
/// finder, timing and alignment patterns, BCH-coded format and version information, and the eight masks scored
/// by the four penalty rules of section 7.8.3 (``QRCode/penalty(modules:size:)``), the lowest chosen.
///
/// Modules are stored row-major, `true` for dark; the quiet zone is not part of the matrix (renderers add it).
package struct QRCode: Equatable {
    /// The error-correction level: roughly 7 %, 15 %, 25 % and 30 % of the codewords can be restored.
    package enum ErrorCorrection: CaseIterable, Equatable, Sendable {
        case low, medium, quartile, high
    }

    /// Why a text cannot be encoded as asked.
    package struct EncodingError: Error, CustomStringConvertible {
        package let description: String
    }

    package let version: Int
    package let level: ErrorCorrection
    package let mask: Int
    /// Modules per side: 17 + 4 × version.
    package let size: Int
    package private(set) var modules: [Bool]

    /// Whether the module at `row`, `column` is dark.
    package subscript(row: Int, column: Int) -> Bool { modules[row * size + column] }

    /// Encodes `bytes` in byte mode.
    /// - Parameters:
    ///   - version: a fixed version; the smallest that holds the bytes when nil.
    ///   - mask: a fixed mask pattern (0–7); the one with the lowest penalty when nil.
    /// - Throws: ``EncodingError`` when the bytes do not fit (in version 40, or in the version asked for), or a
    ///   version or mask is out of range.
    package init(bytes: [UInt8], level: ErrorCorrection = .medium, version: Int? = nil, mask: Int? = nil) throws {
        if let version, !(1...40).contains(version) {
            throw EncodingError(description: "QR version must be within 1...40, got \(version)")
        }
        if let mask, !(0...7).contains(mask) {
            throw EncodingError(description: "QR mask must be within 0...7, got \(mask)")
        }
        let candidates = version.map { [$0] } ?? Array(1...40)
        guard let chosen = candidates.first(where: { Self.fits(bytes.count, version: $0, level: level) }) else {
            let capacity = Self.capacity(version: candidates.last ?? 40, level: level)
            throw EncodingError(
                description: "\(bytes.count) bytes do not fit in a version \(candidates.last ?? 40) QR code "
                    + "(at most \(capacity) bytes at this level)")
        }
        var matrix = Matrix(version: chosen)
        matrix.placeCodewords(Self.codewords(bytes, version: chosen, level: level))
        let masks = mask.map { [$0] } ?? Array(0...7)
        var best: (mask: Int, modules: [Bool], score: Int)?
        for candidate in masks {
            var attempt = matrix
            attempt.apply(mask: candidate)
            attempt.drawFormat(bits: Self.formatBits(level: level, mask: candidate))
            let score = masks.count == 1 ? 0 : Self.penalty(modules: attempt.dark, size: attempt.size)
            if best == nil || score < best!.score { best = (candidate, attempt.dark, score) }
        }
        self.version = chosen
        self.level = level
        self.mask = best!.mask
        self.size = matrix.size
        self.modules = best!.modules
    }

    /// The most bytes a version holds at a level in byte mode.
    package static func capacity(version: Int, level: ErrorCorrection) -> Int {
        let bits = layout(version: version, level: level).dataCodewords * 8 - 4 - countBits(version: version)
        return bits / 8
    }

    private static func fits(_ count: Int, version: Int, level: ErrorCorrection) -> Bool {
        count <= capacity(version: version, level: level)
    }

    /// Bits of the character count indicator in byte mode (table 3).
    private static func countBits(version: Int) -> Int { version <= 9 ? 8 : 16 }

    /// The data codewords of `bytes` (section 7.4): mode 0100, the count, the bytes, a terminator of up to four
    /// zero bits, zero bits to a byte boundary, then the pad codewords 11101100 and 00010001 in turn.
    static func dataCodewords(_ bytes: [UInt8], version: Int, level: ErrorCorrection) -> [UInt8] {
        let capacity = layout(version: version, level: level).dataCodewords
        var bits = BitBuffer()
        bits.append(0b0100, count: 4)
        bits.append(bytes.count, count: countBits(version: version))
        for byte in bytes { bits.append(Int(byte), count: 8) }
        bits.append(0, count: min(4, capacity * 8 - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var codewords = bits.bytes
        var pad: UInt8 = 0xEC
        while codewords.count < capacity {
            codewords.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        return codewords
    }

    /// The final message (section 7.6): the data split into blocks, each block's error-correction codewords, then
    /// data and error correction each interleaved column by column across the blocks.
    static func codewords(_ bytes: [UInt8], version: Int, level: ErrorCorrection) -> [UInt8] {
        let layout = layout(version: version, level: level)
        let data = dataCodewords(bytes, version: version, level: level)
        let generator = ReedSolomon.generator(degree: layout.ecPerBlock)
        var dataBlocks: [ArraySlice<UInt8>] = []
        var ecBlocks: [[UInt8]] = []
        var start = 0
        for index in 0..<layout.blocks {
            let length = layout.shortDataLength + (index < layout.shortBlocks ? 0 : 1)
            let block = data[start..<(start + length)]
            dataBlocks.append(block)
            ecBlocks.append(ReedSolomon.remainder(of: Array(block), generator: generator))
            start += length
        }
        var message: [UInt8] = []
        message.reserveCapacity(layout.totalCodewords)
        for column in 0...layout.shortDataLength {
            for block in dataBlocks where column < block.count { message.append(block[block.startIndex + column]) }
        }
        for column in 0..<layout.ecPerBlock {
            for block in ecBlocks { message.append(block[column]) }
        }
        return message
    }
}

/// Bits appended most significant first, read back as bytes.
private struct BitBuffer {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    mutating func append(_ value: Int, count width: Int) {
        for shift in stride(from: width - 1, through: 0, by: -1) {
            if count % 8 == 0 { bytes.append(0) }
            if value >> shift & 1 == 1 { bytes[count / 8] |= 0x80 >> UInt8(count % 8) }
            count += 1
        }
    }
}
