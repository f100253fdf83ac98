/// RFC 3986 percent-encoding as the gateway writes it into URLs it makes (login redirects, `otpauth://` URIs,
/// admin-page links): the unreserved characters (ALPHA DIGIT - . _ ~), plus one character the caller keeps
/// (`/` in a path, `@` in an otpauth label), as they are; every other byte as `%XX` in upper-case hex.
package enum PercentEncoding {
    package static func encode(_ bytes: some Sequence<UInt8>, alsoKeeping kept: UInt8? = nil,
                               into out: inout [UInt8]) {
        let hex: StaticString = "0123456789ABCDEF"
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            case kept:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                hex.withUTF8Buffer { h in
                    out.append(h[Int(byte >> 4)])
                    out.append(h[Int(byte & 0xf)])
                }
            }
        }
    }

    package static func encoded(_ text: String, alsoKeeping kept: UInt8? = nil) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        encode(text.utf8, alsoKeeping: kept, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
