/// Builds small JSON documents (token claims, the device list, JWKS) without Foundation: the gateway's own
/// answers are few and tiny, and their text must be exact (no locale, no key reordering).
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    package init() {}

    package var text: String { String(decoding: bytes, as: UTF8.self) }

    package mutating func beginObject() { value(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    package mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    package mutating func beginArray() { value(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    package mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes a member name; the member's value follows.
    package mutating func key(_ name: String) {
        value()
        string(name, asValue: false)
        bytes.append(UInt8(ascii: ":"))
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    package mutating func string(_ text: String) { string(text, asValue: true) }
    package mutating func integer(_ n: Int64) { value(); bytes.append(contentsOf: String(n).utf8) }
    package mutating func bool(_ b: Bool) { value(); bytes.append(contentsOf: (b ? "true" : "false").utf8) }
    package mutating func null() { value(); bytes.append(contentsOf: "null".utf8) }

    package mutating func member(_ name: String, _ text: String) { key(name); string(text) }
    package mutating func member(_ name: String, _ n: Int64) { key(name); integer(n) }
    package mutating func member(_ name: String, _ b: Bool) { key(name); bool(b) }
    package mutating func member(_ name: String, strings: [String]) {
        key(name)
        beginArray()
        for s in strings { string(s) }
        endArray()
    }

    /// Separates this value from the previous one in the current container.
    private mutating func value() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func string(_ text: String, asValue: Bool) {
        if asValue { value() }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0a: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0d: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            // `<` and `>` escaped too, so a value can never close a <script> if an app embeds this JSON in HTML.
            case 0..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), 0x7f:
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 0xf)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
