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

extension CredentialExtractor {
    /// What `Authorization: Basic` held (RFC 7617).
    enum BasicFound {
        case absent
        /// Another scheme (a Bearer token): not this extractor's.
        case otherScheme
        /// Unusable: the reason is for logs; every one is a 400 (the request's syntax is wrong, a new password
        /// would not fix it).
        case malformed(String)
        /// A user name (UTF-8, no control character, no colon) and a password (no control character).
        case credentials(user: String, password: ArraySlice<UInt8>)
    }

    /// The longest base64 credential read (a name of 128 bytes and a password of 511, libcrypt's limit, fit).
    static let maximumBasicLength = 1024
    /// The longest user name accepted (the login form's limit).
    static let maximumBasicUser = 128

    /// The Basic credential of `head`: one `Authorization` field, the scheme `Basic` in any case, one or more
    /// spaces, then canonical base64 (padding optional) of `user-id ":" password`. The user-id is what comes
    /// before the first colon (RFC 7617 2: it cannot hold one); neither part may hold a control character
    /// (RFC 7617 2), and the user-id must be UTF-8 (`charset="UTF-8"` is what the challenge announces).
    static func basic(_ head: RequestHead) -> BasicFound {
        let fields = head.headers
        var value: ArraySlice<UInt8>? = nil
        for index in fields.fields.indices where fields.nameEquals(index, "authorization") {
            if value != nil { return .malformed("several-authorization-headers") }
            value = fields.storage[fields.fields[index].value]
        }
        guard let value else { return .absent }
        guard value.count >= 5, fields.bytesEqualIgnoringCase(value.startIndex..<(value.startIndex + 5), "basic")
        else { return .otherScheme }
        var encoded = value[(value.startIndex + 5)...]
        guard encoded.isEmpty || encoded.first == UInt8(ascii: " ") else { return .otherScheme }  // "Basicx ..."
        while encoded.first == UInt8(ascii: " ") { encoded = encoded.dropFirst() }
        while encoded.last == UInt8(ascii: " ") || encoded.last == UInt8(ascii: "\t") { encoded = encoded.dropLast() }
        if encoded.isEmpty { return .malformed("basic-no-credentials") }
        if encoded.count > maximumBasicLength { return .malformed("basic-too-long") }
        guard let decoded = decodeBase64(encoded) else { return .malformed("basic-bad-base64") }
        guard let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return .malformed("basic-no-colon") }
        if decoded.contains(where: { $0 < 0x20 || $0 == 0x7f }) { return .malformed("basic-control-character") }
        let userBytes = decoded[..<colon]
        if userBytes.count > maximumBasicUser { return .malformed("basic-user-too-long") }
        guard let user = String(validating: userBytes, as: UTF8.self) else { return .malformed("basic-user-not-utf8") }
        return .credentials(user: user, password: decoded[(colon + 1)...])
    }

    /// Standard base64 (`+`, `/`), canonical: padding only at the end and only as much as the length needs (or
    /// none), unused trailing bits zero. Nil for anything else.
    static func decodeBase64(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        var body = input
        var padding = 0
        while body.last == UInt8(ascii: "=") {
            body = body.dropLast()
            padding += 1
        }
        let remainder = body.count % 4
        guard remainder != 1, padding == 0 || (padding <= 2 && (body.count + padding) % 4 == 0) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(body.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in body {
            let sextet: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): sextet = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): sextet = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): sextet = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): sextet = 62
            case UInt8(ascii: "/"): sextet = 63
            default: return nil
            }
            accumulator = (accumulator << 6) | UInt32(sextet)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard accumulator == 0 else { return nil }  // non-zero unused bits: not the canonical encoding
        return out
    }

    /// Standard base64 with padding (what `Authorization: Basic` carries upstream).
    static func encodeBase64(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        alphabet.withUTF8Buffer { table in
            var iterator = bytes.makeIterator()
            while let b0 = iterator.next() {
                let b1 = iterator.next()
                let b2 = iterator.next()
                let n = (UInt32(b0) << 16) | (UInt32(b1 ?? 0) << 8) | UInt32(b2 ?? 0)
                out.append(table[Int((n >> 18) & 63)])
                out.append(table[Int((n >> 12) & 63)])
                out.append(b1 == nil ? UInt8(ascii: "=") : table[Int((n >> 6) & 63)])
                out.append(b2 == nil ? UInt8(ascii: "=") : table[Int(n & 63)])
            }
        }
    }
}
