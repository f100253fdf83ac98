import GatehouseHTTP

/// The client's address as `trusted_proxies` resolves it, for `X-Real-IP` (nginx's realip module with
/// `real_ip_recursive on`): walk `X-Forwarded-For` from the right, skipping addresses of trusted proxies;
/// the first address that is not one is the client. Only a trusted peer's `X-Forwarded-For` is read at all.
///
/// Allocation-free: addresses are parsed into a stack buffer and compared in place.
enum ClientAddress {
    /// Where the client's address is in `storage` (an element of the trusted peer's `X-Forwarded-For`), or
    /// nil when the peer itself is the client (no header, or its last element is not an address).
    ///
    /// An element that is not a plain IP address (`unknown`, a port, brackets, an obfuscated `_name`) ends
    /// the walk: nothing to its left can be vouched for, so the address to its right is the answer.
    static func resolve(forwardedFor: Range<Int>?, in storage: [UInt8], snapshot: ProxySnapshot) -> Range<Int>? {
        guard let list = forwardedFor else { return nil }
        var answer: Range<Int>? = nil
        var end = list.upperBound
        while end > list.lowerBound {
            var start = end
            while start > list.lowerBound, storage[start - 1] != UInt8(ascii: ",") { start -= 1 }
            let next = start - 1  // the comma before this element, if any
            var element = start..<end
            while let first = element.first, storage[first] == UInt8(ascii: " ") || storage[first] == 0x09 {
                element = (first + 1)..<element.upperBound
            }
            while let last = element.last, storage[last] == UInt8(ascii: " ") || storage[last] == 0x09 {
                element = element.lowerBound..<last
            }
            let trusted = storage.withUnsafeBytes { raw -> Bool? in
                withUnsafeTemporaryAllocation(byteCount: 16, alignment: 1) { address in
                    let count = parse(UnsafeRawBufferPointer(rebasing: raw[element]), into: address)
                    guard count != 0 else { return nil }
                    return snapshot.isTrusted(addressBytes: UnsafeRawBufferPointer(rebasing: address[..<count]))
                }
            }
            guard let trusted else { return answer }
            answer = element
            if !trusted { return element }
            end = next
        }
        return answer  // every hop is a trusted proxy: the leftmost is as far as we can see
    }

    /// Parses an IPv4 dotted quad or an IPv6 address (no brackets, no zone) into `out` (16 bytes).
    /// - Returns: 4 or 16, the number of address bytes written; 0 when `text` is not an address.
    static func parse(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        if text.contains(UInt8(ascii: ":")) { return parseIPv6(text, into: out) ? 16 : 0 }
        return parseIPv4(text, into: out, at: 0) ? 4 : 0
    }

    /// Four decimal parts 0...255 without leading zeros (`010` would be octal to inet_aton: ambiguous).
    private static func parseIPv4(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer,
                                  at offset: Int) -> Bool {
        var part = 0
        var value = 0
        var digits = 0
        for b in text {
            if b == UInt8(ascii: ".") {
                guard digits > 0, part < 3 else { return false }
                out[offset + part] = UInt8(value)
                part += 1
                value = 0
                digits = 0
                continue
            }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), digits == 0 || value != 0 else { return false }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return false }
        }
        guard digits > 0, part == 3 else { return false }
        out[offset + 3] = UInt8(value)
        return true
    }

    /// RFC 4291 2.2: eight groups of 1 to 4 hex digits, one `::` for a run of zero groups, an IPv4 tail.
    private static func parseIPv6(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
        let n = text.count
        let colon = UInt8(ascii: ":")
        var groups = 0
        var gap = -1
        var i = 0
        if n >= 2, text[0] == colon, text[1] == colon {
            gap = 0
            i = 2
        }
        while i < n {
            var j = i
            while j < n, text[j] != colon { j += 1 }
            let piece = UnsafeRawBufferPointer(rebasing: text[i..<j])
            if piece.contains(UInt8(ascii: ".")) {
                guard j == n, groups <= 6, parseIPv4(piece, into: out, at: 2 * groups) else { return false }
                groups += 2
                break
            }
            guard (1...4).contains(piece.count), groups < 8 else { return false }
            var value = 0
            for b in piece {
                guard let digit = TokenTables.hexValue(b) else { return false }
                value = value << 4 | Int(digit)
            }
            out[2 * groups] = UInt8(value >> 8)
            out[2 * groups + 1] = UInt8(value & 0xff)
            groups += 1
            if j == n { break }
            if j + 1 < n, text[j + 1] == colon {
                guard gap < 0 else { return false }
                gap = groups
                i = j + 2
            } else {
                i = j + 1
                guard i < n else { return false }  // a trailing single ":"
            }
        }
        guard gap >= 0 else { return groups == 8 }
        guard groups <= 7 else { return false }
        // Move the groups after the gap to the end and zero the gap (back to front: the ranges may overlap).
        let tailBytes = 2 * (groups - gap)
        var k = tailBytes - 1
        while k >= 0 {
            out[16 - tailBytes + k] = out[2 * gap + k]
            k -= 1
        }
        for z in (2 * gap)..<(16 - tailBytes) { out[z] = 0 }
        return true
    }
}
