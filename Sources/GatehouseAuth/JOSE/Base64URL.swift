/// Strict base64 decoders: unpadded base64url for JOSE (RFC 7515 §2, RFC 4648 §5), and padded standard base64
/// for PEM bodies (RFC 7468).
///
/// Strict means one text per byte string: no padding in base64url, no `+`/`/` there, no whitespace, and the
/// unused low bits of the final character must be zero. Two spellings of one token would give two cache keys
/// and two log identities for one credential; a lenient decoder is also a place where the gateway and a
/// downstream parser can disagree.
///
/// Decoding is one linear pass over a 256-entry table; nothing is allocated but the output array.
package enum Base64URL {
    /// Marks a byte outside the alphabet in the tables below.
    private static let invalid: UInt8 = 0xFF

    /// Maps an ASCII byte to its 6-bit value in the URL-safe alphabet, or `invalid`.
    private static let urlTable: [UInt8] = makeTable(index62: UInt8(ascii: "-"), index63: UInt8(ascii: "_"))
    /// Maps an ASCII byte to its 6-bit value in the standard alphabet, or `invalid`.
    private static let standardTable: [UInt8] = makeTable(index62: UInt8(ascii: "+"), index63: UInt8(ascii: "/"))

    private static func makeTable(index62 c62: UInt8, index63 c63: UInt8) -> [UInt8] {
        var table = [UInt8](repeating: invalid, count: 256)
        for (index, byte) in zip(0..., UInt8(ascii: "A")...UInt8(ascii: "Z")) { table[Int(byte)] = UInt8(index) }
        for (index, byte) in zip(26..., UInt8(ascii: "a")...UInt8(ascii: "z")) { table[Int(byte)] = UInt8(index) }
        for (index, byte) in zip(52..., UInt8(ascii: "0")...UInt8(ascii: "9")) { table[Int(byte)] = UInt8(index) }
        table[Int(c62)] = 62
        table[Int(c63)] = 63
        return table
    }

    /// Decodes unpadded, canonical base64url.
    ///
    /// - Parameter input: the encoded characters; an empty input decodes to an empty array.
    /// - Returns: the bytes, or `nil` for any character outside `A–Z a–z 0–9 - _`, a length of 4n+1, or non-zero
    ///   unused bits in the final character.
    package static func decode(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        decode(input, table: urlTable)
    }

    /// Encodes unpadded base64url (the one canonical spelling `decode` accepts).
    package static func encode(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        alphabet.withUTF8Buffer { a in
            var iterator = bytes.makeIterator()
            while let b0 = iterator.next() {
                let b1 = iterator.next()
                let b2 = b1 == nil ? nil : iterator.next()
                out.append(a[Int(b0 >> 2)])
                out.append(a[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
                if let b1 { out.append(a[Int((b1 & 0x0f) << 2 | (b2 ?? 0) >> 6)]) }
                if let b2 { out.append(a[Int(b2 & 0x3f)]) }
            }
        }
    }

    /// Encodes unpadded base64url as text.
    package static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        encode(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a PEM body: the standard alphabet with `=` padding to a multiple of four, line breaks and other
    /// ASCII whitespace between characters ignored. Used at config load only.
    ///
    /// - Returns: the bytes, or `nil` for a stray character, misplaced or missing padding, or non-canonical bits.
    static func decodePEMBody(_ input: some Sequence<UInt8>) -> [UInt8]? {
        var compact: [UInt8] = []
        for byte in input {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): continue
            default: compact.append(byte)
            }
        }
        guard compact.count % 4 == 0 else { return nil }
        var unpadded = compact[...]
        var padding = 0
        while padding < 2, unpadded.last == UInt8(ascii: "=") {
            unpadded.removeLast()
            padding += 1
        }
        if padding > 0 && unpadded.count % 4 == 0 { return nil }  // "====" or "AAAA=" style padding
        return decode(unpadded, table: standardTable)
    }

    /// The shared core: whole quads, then a 2- or 3-character tail whose unused bits must be zero.
    private static func decode(_ input: ArraySlice<UInt8>, table: [UInt8]) -> [UInt8]? {
        let tail = input.count % 4
        guard tail != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3 + 2)
        var index = input.startIndex
        let quadEnd = input.endIndex - tail
        while index < quadEnd {
            let a = table[Int(input[index])]
            let b = table[Int(input[index + 1])]
            let c = table[Int(input[index + 2])]
            let d = table[Int(input[index + 3])]
            guard (a | b | c | d) & 0xC0 == 0 else { return nil }  // `invalid` is the only value with high bits
            output.append(a << 2 | b >> 4)
            output.append((b & 0x0F) << 4 | c >> 2)
            output.append((c & 0x03) << 6 | d)
            index += 4
        }
        switch tail {
        case 2:
            let a = table[Int(input[index])]
            let b = table[Int(input[index + 1])]
            guard (a | b) & 0xC0 == 0, b & 0x0F == 0 else { return nil }
            output.append(a << 2 | b >> 4)
        case 3:
            let a = table[Int(input[index])]
            let b = table[Int(input[index + 1])]
            let c = table[Int(input[index + 2])]
            guard (a | b | c) & 0xC0 == 0, c & 0x03 == 0 else { return nil }
            output.append(a << 2 | b >> 4)
            output.append((b & 0x0F) << 4 | c >> 2)
        default:
            break
        }
        return output
    }
}
