import GatehouseHTTP

/// Finds the credentials a route accepts in a request head, without copying anything but the token bytes.
///
/// Rules (RFC 6750 2.1, RFC 6265bis): the bearer token comes from exactly one `Authorization` header whose
/// scheme is `Bearer` in any case, followed by one or more spaces and a token68; several `Authorization`
/// headers make the request malformed. A credential cookie must appear exactly once across all `Cookie`
/// headers: a cookie name sent twice (a classic cookie-tossing trick) counts as no credential at all.
enum CredentialExtractor {
    /// What the extractor found for one source.
    enum Found: Equatable {
        case absent
        case token(ArraySlice<UInt8>)
        /// Present but unusable (two Authorization headers, another scheme with Bearer required, a repeated
        /// cookie): the reason is for logs.
        case malformed(String)
    }

    /// The bearer token of `head`.
    static func bearer(_ head: RequestHead) -> Found {
        let fields = head.headers
        var found: Found = .absent
        for index in fields.fields.indices where fields.nameEquals(index, "authorization") {
            if found != .absent { return .malformed("several-authorization-headers") }
            let value = fields.storage[fields.fields[index].value]
            guard value.count > 7, fields.bytesEqualIgnoringCase(value.startIndex..<(value.startIndex + 6), "bearer"),
                value[value.startIndex + 6] == UInt8(ascii: " ")
            else {
                found = .malformed("not-a-bearer-scheme")
                continue
            }
            var token = value[(value.startIndex + 7)...]
            while token.first == UInt8(ascii: " ") { token = token.dropFirst() }
            // Over the raw buffer: every byte of a token of hundreds is checked on every request.
            guard !token.isEmpty, token.withUnsafeBufferPointer({ bytes in
                let table = token68Table
                return bytes.allSatisfy { table[Int($0)] }
            }) else {
                return .malformed("bad-token-syntax")
            }
            found = .token(token)
        }
        return found
    }

    /// The value of cookie `name` across every `Cookie` header of `head`.
    static func cookie(_ head: RequestHead, name: [UInt8]) -> Found {
        let fields = head.headers
        var found: Found = .absent
        for index in fields.fields.indices where fields.nameEquals(index, "cookie") {
            var rest = fields.storage[fields.fields[index].value]
            while !rest.isEmpty {
                let end = rest.firstIndex(of: UInt8(ascii: ";")) ?? rest.endIndex
                var pair = rest[..<end]
                rest = end < rest.endIndex ? rest[(end + 1)...] : rest[rest.endIndex...]
                while pair.first == UInt8(ascii: " ") { pair = pair.dropFirst() }
                guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
                guard pair[..<equals].elementsEqual(name) else { continue }
                if found != .absent { return .malformed("repeated-cookie") }
                var value = pair[(equals + 1)...]
                while value.last == UInt8(ascii: " ") { value = value.dropLast() }
                if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                    value = value.dropFirst().dropLast()
                }
                found = value.isEmpty ? .malformed("empty-cookie") : .token(value)
            }
        }
        return found
    }

    /// `isToken68` for every byte value, at a fixed address: one load per byte of a token of hundreds, checked
    /// on every request (the `switch` below compiled to a chain of range tests). Made once, never freed;
    /// `nonisolated(unsafe)`: written by the lazy initialiser only, read from any thread after.
    nonisolated(unsafe) private static let token68Table: UnsafePointer<Bool> = {
        let table = UnsafeMutablePointer<Bool>.allocate(capacity: 256)
        for byte in 0..<256 { (table + byte).initialize(to: isToken68(UInt8(byte))) }
        return UnsafePointer(table)
    }()

    /// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (the JWS parser refuses what
    /// base64url does not allow; this only keeps separators and controls out).
    private static func isToken68(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
            UInt8(ascii: "/"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
