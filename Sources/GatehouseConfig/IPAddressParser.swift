/// Parses textual IP addresses into network-order bytes, without Foundation or libc.
///
/// Accepted forms:
/// - IPv4: exactly four dotted decimal parts, each 0...255, without leading zeros (`010` is
///   refused: inet_aton would read it as octal, so it is ambiguous).
/// - IPv6 (RFC 4291 section 2.2): eight groups of 1 to 4 hex digits; one `::` may stand for one
///   or more zero groups; the last 32 bits may be written as an IPv4 dotted quad
///   (`::ffff:192.0.2.1`). Zone identifiers (`fe80::1%eth0`) are refused: they name an
///   interface, not an address.
enum IPAddressParser {
    /// Parses an IPv4 or IPv6 address.
    ///
    /// - Parameter text: The address, without brackets or prefix length.
    /// - Returns: 4 bytes for IPv4, 16 for IPv6, in network order; `nil` if `text` is neither.
    static func parse(_ text: Substring) -> [UInt8]? {
        text.contains(":") ? ipv6(text) : ipv4(text)
    }

    /// Parses a dotted-quad IPv4 address.
    ///
    /// - Parameter text: The address.
    /// - Returns: 4 bytes in network order, or `nil`.
    static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4)
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part.count == 1 || part.first != "0",
                let value = UInt8(part)
            else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// Parses an IPv6 address.
    ///
    /// - Parameter text: The address, without brackets.
    /// - Returns: 16 bytes in network order, or `nil`.
    static func ipv6(_ text: Substring) -> [UInt8]? {
        let halves = text.split(separator: "::", maxSplits: 2, omittingEmptySubsequences: false)
        switch halves.count {
        case 1:
            guard let groups = groups(halves[0], isLast: true), groups.count == 8 else { return nil }
            return bytes(of: groups)
        case 2:
            guard let head = groups(halves[0], isLast: false),
                let tail = groups(halves[1], isLast: true),
                head.count + tail.count <= 7
            else { return nil }
            let zeros = [UInt16](repeating: 0, count: 8 - head.count - tail.count)
            return bytes(of: head + zeros + tail)
        default:
            return nil  // more than one "::"
        }
    }

    /// Parses the colon-separated groups on one side of `::`; an embedded IPv4 address may end
    /// the last side and counts as two groups.
    private static func groups(_ text: Substring, isLast: Bool) -> [UInt16]? {
        if text.isEmpty {
            return []
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (index, part) in parts.enumerated() {
            if isLast && index == parts.count - 1 && part.contains(".") {
                guard let v4 = ipv4(part) else { return nil }
                groups.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                groups.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                continue
            }
            guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit), part.allSatisfy(\.isASCII),
                let value = UInt16(part, radix: 16)
            else { return nil }
            groups.append(value)
        }
        return groups
    }

    private static func bytes(of groups: [UInt16]) -> [UInt8] {
        groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}
