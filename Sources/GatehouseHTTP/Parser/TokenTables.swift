/// Byte classes of the HTTP grammar, one bit per class, looked up by byte value.
///
/// Why a table: every head byte is classified at least once, and one indexed load is cheaper and
/// easier to audit than a chain of range comparisons (nginx `usual[]`, HAProxy `http_char_classes`).
struct ByteClass: OptionSet, Sendable {
    let rawValue: UInt16

    /// RFC 9110 `tchar`: the characters of a token (method, field name, coding, extension name).
    static let tchar = ByteClass(rawValue: 1 << 0)
    /// RFC 9110 `field-vchar`: VCHAR or obs-text (0x21-0x7E, 0x80-0xFF).
    static let fieldVChar = ByteClass(rawValue: 1 << 1)
    /// SP or HTAB (`OWS`/`BWS`/`RWS` characters).
    static let whitespace = ByteClass(rawValue: 1 << 2)
    /// Allowed anywhere in a request-target: visible ASCII except `#` (a fragment never belongs there).
    static let targetChar = ByteClass(rawValue: 1 << 3)
    /// HEXDIG, either case.
    static let hexDigit = ByteClass(rawValue: 1 << 4)
    /// RFC 3986 `unreserved`: ALPHA DIGIT `-` `.` `_` `~` (the only escapes we decode).
    static let unreserved = ByteClass(rawValue: 1 << 5)
    /// Characters we accept in a host name: ALPHA DIGIT `-` `.` `_` (a strict subset of `reg-name`).
    static let hostChar = ByteClass(rawValue: 1 << 6)
    /// RFC 9110 `qdtext`: inside a quoted-string, without the quote and the backslash.
    static let qdtext = ByteClass(rawValue: 1 << 7)
    /// Characters of an IPv6 literal between the brackets: HEXDIG `:` `.`.
    static let ipv6Char = ByteClass(rawValue: 1 << 8)
    /// DIGIT.
    static let digit = ByteClass(rawValue: 1 << 9)
}

/// The lookup tables of the codec.
package enum TokenTables {
    /// `classes[Int(byte)]` is the set of classes `byte` belongs to.
    static let classes: [ByteClass] = {
        var table = [ByteClass](repeating: [], count: 256)
        for byte in 0..<256 {
            table[byte] = classify(UInt8(byte))
        }
        return table
    }()

    /// The same table at a fixed address, for loops over raw buffers (no array retain or bounds check per
    /// byte). Made once and never freed: it lives as long as the process.
    /// `nonisolated(unsafe)`: written once by the lazy initialiser, only read after that, from any thread.
    nonisolated(unsafe) static let classTable: UnsafePointer<ByteClass> = {
        let table = UnsafeMutablePointer<ByteClass>.allocate(capacity: 256)
        for byte in 0..<256 { (table + byte).initialize(to: classify(UInt8(byte))) }
        return UnsafePointer(table)
    }()

    private static func classify(_ b: UInt8) -> ByteClass {
        var set: ByteClass = []
        let isAlpha = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        let isDigit = b >= 0x30 && b <= 0x39
        let isHex = isDigit || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
        let tcharPunctuation: [UInt8] = Array("!#$%&'*+-.^_`|~".utf8)
        if isAlpha || isDigit || tcharPunctuation.contains(b) { set.insert(.tchar) }
        if (b >= 0x21 && b <= 0x7E) || b >= 0x80 { set.insert(.fieldVChar) }
        if b == 0x20 || b == 0x09 { set.insert(.whitespace) }
        if b >= 0x21 && b <= 0x7E && b != UInt8(ascii: "#") { set.insert(.targetChar) }
        if isHex { set.insert(.hexDigit) }
        if isDigit { set.insert(.digit) }
        if isAlpha || isDigit || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
            || b == UInt8(ascii: "~")
        {
            set.insert(.unreserved)
        }
        if isAlpha || isDigit || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") {
            set.insert(.hostChar)
        }
        let isQdtext =
            b == 0x09 || b == 0x20 || b == 0x21 || (b >= 0x23 && b <= 0x5B) || (b >= 0x5D && b <= 0x7E)
            || b >= 0x80
        if isQdtext { set.insert(.qdtext) }
        if isHex || b == UInt8(ascii: ":") || b == UInt8(ascii: ".") { set.insert(.ipv6Char) }
        return set
    }

    /// True when `byte` belongs to `byteClass`.
    @inline(__always)
    static func isIn(_ byte: UInt8, _ byteClass: ByteClass) -> Bool {
        classTable[Int(byte)].contains(byteClass)
    }

    /// The value of a hex digit, or nil for any other byte.
    @inline(__always)
    package static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}

/// ASCII codes the parsers compare against.
enum ASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon = UInt8(ascii: ":")
    static let semicolon = UInt8(ascii: ";")
    static let underscore = UInt8(ascii: "_")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let question = UInt8(ascii: "?")
    static let percent = UInt8(ascii: "%")
    static let dot = UInt8(ascii: ".")
    static let at = UInt8(ascii: "@")
    static let asterisk = UInt8(ascii: "*")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
}
