/// A strict RFC 8259 JSON parser for JOSE headers, JWT claims sets and JWKS documents.
///
/// Why our own: the module must not import Foundation (it runs per request), and JOSE needs rules that
/// general parsers relax (RFC 7515 §5.2, RFC 8725 §3.9):
/// - the top level is an object; nothing but whitespace (space, tab, CR, LF) may follow it;
/// - strings are valid UTF-8 (no overlongs, no encoded surrogates, nothing above U+10FFFF), have no raw
///   control characters, use only the JSON escapes, and a `\u` surrogate must be a correctly ordered pair;
/// - member names are unique after unescaping (`"a"` and `"\u0061"` collide) → `duplicate-member`;
/// - nesting is bounded (`maxDepth`), so recursion depth is bounded; input size is bounded by the caller;
/// - numbers follow the JSON grammar exactly (no leading zeros, `+`, `.5`, `NaN`, `Infinity`, hex) and must be
///   finite as a `Double` (`1e400` is refused rather than becoming infinity).
///
/// Cost is linear in the input: every byte is looked at a bounded number of times, and duplicate detection
/// switches from a linear scan to a hash set once an object grows past a few members.
package struct JSONScanner {
    /// An object's members in document order.
    package typealias Members = [(String, ClaimValue)]

    /// The default nesting bound: far above any real header or claims set, far below the stack's limit.
    package static let defaultMaxDepth = 32

    /// Past this many members, an object's duplicate check uses a `Set` instead of comparing with each name.
    private static let linearDuplicateScanLimit = 16

    private let bytes: [UInt8]
    private let maxDepth: Int
    private var index: Int = 0

    private init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// Parses a document whose top level must be an object.
    ///
    /// - Parameters:
    ///   - bytes: the UTF-8 document (already size-checked by the caller).
    ///   - maxDepth: how many objects/arrays may nest, counting the top-level object as 1.
    /// - Returns: the top-level members in document order.
    /// - Throws: `AuthFailure.badJSON` for any deviation, `AuthFailure.duplicateMember` for a repeated name.
    package static func parseObject(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(AuthFailure) -> Members {
        var scanner = JSONScanner(bytes: bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else { throw .badJSON }
        let members = try scanner.parseObjectBody(depth: 1)
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw .badJSON }
        return members
    }

    // MARK: - Structure

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    /// Consumes `byte` after optional whitespace, or throws.
    private mutating func expect(_ byte: UInt8) throws(AuthFailure) {
        skipWhitespace()
        guard peek() == byte else { throw .badJSON }
        index += 1
    }

    private mutating func parseValue(depth: Int) throws(AuthFailure) -> ClaimValue {
        skipWhitespace()
        guard let byte = peek() else { throw .badJSON }
        switch byte {
        case UInt8(ascii: "{"): return .object(try parseObjectBody(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArrayBody(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw .badJSON
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(AuthFailure) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw .badJSON }
        let matches = literal.withUTF8Buffer { literalBytes in
            literalBytes.indices.allSatisfy { literalBytes[$0] == bytes[index + $0] }
        }
        guard matches else { throw .badJSON }
        index += count
    }

    /// Parses `{ … }` starting at the `{`; `depth` is this object's own depth.
    private mutating func parseObjectBody(depth: Int) throws(AuthFailure) -> [(String, ClaimValue)] {
        guard depth <= maxDepth else { throw .badJSON }
        index += 1  // "{"
        var members: [(String, ClaimValue)] = []
        var seen: Set<String>? = nil
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return members
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw .badJSON }  // also refuses a trailing comma
            let name = try parseString()
            try expect(UInt8(ascii: ":"))
            let value = try parseValue(depth: depth)
            if seen != nil {
                guard seen!.insert(name).inserted else { throw .duplicateMember }
            } else {
                guard !members.contains(where: { $0.0 == name }) else { throw .duplicateMember }
                if members.count >= Self.linearDuplicateScanLimit {
                    seen = Set(members.map(\.0))
                    seen!.insert(name)
                }
            }
            members.append((name, value))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return members
            default: throw .badJSON
            }
        }
    }

    /// Parses `[ … ]` starting at the `[`; `depth` is this array's own depth.
    private mutating func parseArrayBody(depth: Int) throws(AuthFailure) -> [ClaimValue] {
        guard depth <= maxDepth else { throw .badJSON }
        index += 1  // "["
        var elements: [ClaimValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return elements
        }
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return elements
            default: throw .badJSON
            }
        }
    }

    // MARK: - Numbers

    /// Parses a number per the RFC 8259 grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func parseNumber() throws(AuthFailure) -> ClaimValue {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw .badJSON }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard let digit = peek(), isDigit(digit) else { throw .badJSON }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), isDigit(digit) else { throw .badJSON }
            skipDigits()
        }
        let lexeme = bytes[start..<index]
        if isInteger, let value = Self.int64(lexeme) { return .integer(value) }
        // Rare path (fractions, exponents, integers beyond Int64): the grammar is already checked, so the
        // standard library's parser sees only JSON-shaped text. Short lexemes fit a small string: no allocation.
        guard let value = Double(String(decoding: lexeme, as: UTF8.self)), value.isFinite else { throw .badJSON }
        return .number(value)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    /// Converts a grammar-checked integer lexeme with overflow checks; `nil` if it does not fit in `Int64`.
    private static func int64(_ lexeme: ArraySlice<UInt8>) -> Int64? {
        var digits = lexeme[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        // Accumulate negatively so that Int64.min is representable.
        var value: Int64 = 0
        for byte in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(byte &- UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = next
        }
        if negative { return value }
        return value == Int64.min ? nil : -value
    }

    // MARK: - Strings

    /// Parses a string starting at its opening quote and returns it unescaped.
    ///
    /// The fast path (printable ASCII, no escapes: nearly every JOSE string) slices the input once; the slow
    /// path copies into a buffer while validating UTF-8 and escapes.
    private mutating func parseString() throws(AuthFailure) -> String {
        index += 1  // opening quote
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let value = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 1
                return value
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { break }
            index += 1
        }
        var buffer = Array(bytes[start..<index])
        while true {
            guard let byte = peek() else { throw .badJSON }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                // Every byte appended was validated, so decoding never substitutes U+FFFD.
                return String(decoding: buffer, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &buffer)
            case 0x00..<0x20:
                throw .badJSON  // raw control characters must be escaped
            case 0x20..<0x80:
                buffer.append(byte)
                index += 1
            default:
                try copyUTF8Sequence(into: &buffer)
            }
        }
    }

    /// Consumes one escape (`\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` `\uXXXX`) and appends its UTF-8.
    private mutating func parseEscape(into buffer: inout [UInt8]) throws(AuthFailure) {
        index += 1  // backslash
        guard let escape = peek() else { throw .badJSON }
        index += 1
        switch escape {
        case UInt8(ascii: "\""): buffer.append(0x22)
        case UInt8(ascii: "\\"): buffer.append(0x5C)
        case UInt8(ascii: "/"): buffer.append(0x2F)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            let scalar: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed at once by an escaped low surrogate.
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { throw .badJSON }
                index += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw .badJSON }
                scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw .badJSON  // a lone low surrogate
            default:
                scalar = unit
            }
            Self.appendUTF8(scalar, to: &buffer)
        default:
            throw .badJSON
        }
    }

    /// Reads four hex digits (either case) after `\u`.
    private mutating func parseHex4() throws(AuthFailure) -> UInt32 {
        guard bytes.count - index >= 4 else { throw .badJSON }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .badJSON
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Encodes a scalar (never a surrogate; at most U+10FFFF by construction) as UTF-8.
    private static func appendUTF8(_ scalar: UInt32, to buffer: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            buffer.append(UInt8(scalar))
        case 0x80..<0x800:
            buffer.append(UInt8(0xC0 | scalar >> 6))
            buffer.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            buffer.append(UInt8(0xE0 | scalar >> 12))
            buffer.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            buffer.append(UInt8(0x80 | scalar & 0x3F))
        default:
            buffer.append(UInt8(0xF0 | scalar >> 18))
            buffer.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            buffer.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            buffer.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `index` (Unicode Table 3-7: no overlongs, no surrogates,
    /// nothing above U+10FFFF) and copies it.
    private mutating func copyUTF8Sequence(into buffer: inout [UInt8]) throws(AuthFailure) {
        let lead = bytes[index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw .badJSON
        }
        guard bytes.count - index >= length, secondRange.contains(bytes[index + 1]) else { throw .badJSON }
        for offset in 2..<max(length, 2) where !(0x80...0xBF).contains(bytes[index + offset]) {
            throw .badJSON
        }
        buffer.append(contentsOf: bytes[index..<index + length])
        index += length
    }
}
