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
    ///
    /// One pass over the raw bytes of each Cookie field (by offsets; slices and `firstIndex` per pair cost
    /// more than the session lookup they lead to): pairs split at `;`, leading spaces skipped, the name up to
    /// the first `=` compared exactly, trailing spaces and one pair of surrounding quotes taken off the value.
    static func cookie(_ head: RequestHead, name: [UInt8]) -> Found {
        let fields = head.headers
        let storage = fields.storage
        var found: Found = .absent
        for index in fields.fields.indices where fields.nameEquals(index, "cookie") {
            let value = fields.fields[index].value
            var repeated = false
            storage.withUnsafeBufferPointer { bytes in
                name.withUnsafeBufferPointer { want in
                    var p = value.lowerBound
                    let end = value.upperBound
                    while p < end {
                        var pairEnd = p
                        while pairEnd < end && bytes[pairEnd] != UInt8(ascii: ";") { pairEnd += 1 }
                        var start = p
                        p = pairEnd + 1
                        while start < pairEnd && bytes[start] == UInt8(ascii: " ") { start += 1 }
                        var equals = start
                        while equals < pairEnd && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                        guard equals < pairEnd, equals - start == want.count else { continue }
                        var same = true
                        for k in 0..<want.count where bytes[start + k] != want[k] {
                            same = false
                            break
                        }
                        guard same else { continue }
                        if found != .absent {
                            repeated = true
                            return
                        }
                        var valueStart = equals + 1
                        var valueEnd = pairEnd
                        while valueEnd > valueStart && bytes[valueEnd - 1] == UInt8(ascii: " ") { valueEnd -= 1 }
                        if valueEnd - valueStart >= 2, bytes[valueStart] == UInt8(ascii: "\""),
                            bytes[valueEnd - 1] == UInt8(ascii: "\"")
                        {
                            valueStart += 1
                            valueEnd -= 1
                        }
                        found = valueStart == valueEnd
                            ? .malformed("empty-cookie") : .token(storage[valueStart..<valueEnd])
                    }
                }
            }
            if repeated { return .malformed("repeated-cookie") }
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
