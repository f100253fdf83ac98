/// A network given as `address/prefix` (or a single address) in `server.trusted_proxies`.
///
/// Invariants: `address` is 4 or 16 bytes in network order; `prefixLength` is 0...32 for
/// IPv4 and 0...128 for IPv6; no bit past the prefix is set (`10.0.0.1/8` is refused rather
/// than silently widened, since it is usually a typo). An IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) stays IPv6; whoever matches peers decides how to treat mapped
/// addresses.
package struct CIDRSpec: Sendable, Hashable, CustomStringConvertible {
    /// The network address: 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    package let address: [UInt8]
    /// How many leading bits of `address` are significant.
    package let prefixLength: Int
    /// The text as written in the file (e.g. `10.0.0.0/8`, `::1`).
    package let description: String

    /// Creates a CIDR from parts already validated by ``parse(_:)``.
    private init(address: [UInt8], prefixLength: Int, description: String) {
        self.address = address
        self.prefixLength = prefixLength
        self.description = description
    }

    /// Parses `address[/prefix]`; a bare address means a single host (/32 or /128).
    ///
    /// - Parameter text: The text from the file.
    /// - Returns: The network, or why it was refused.
    static func parse(_ text: String) -> ParseOutcome<CIDRSpec> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let addressText = parts[0]
        if addressText.contains("%") {
            return .invalid("\"\(text)\": zone identifiers (%...) are not allowed")
        }
        guard let address = IPAddressParser.parse(addressText) else {
            return .invalid("\"\(addressText)\" is not an IPv4 or IPv6 address")
        }
        let maximum = address.count * 8
        var prefixLength = maximum
        if parts.count == 2 {
            let prefixText = parts[1]
            guard (1...3).contains(prefixText.count), prefixText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(prefixText), value <= maximum
            else {
                return .invalid("\"\(text)\": the prefix length must be a number from 0 to \(maximum)")
            }
            prefixLength = value
        }
        let masked = mask(address, prefixLength: prefixLength)
        if masked != address {
            return .invalid("\"\(text)\" has bits set after the /\(prefixLength) prefix")
        }
        return .parsed(CIDRSpec(address: address, prefixLength: prefixLength, description: text))
    }

    /// Clears every bit after the first `prefixLength` bits.
    private static func mask(_ address: [UInt8], prefixLength: Int) -> [UInt8] {
        address.enumerated().map { index, byte in
            let bitsInByte = min(max(prefixLength - index * 8, 0), 8)
            let keep: UInt8 = bitsInByte == 0 ? 0 : ~UInt8(0) << (8 - bitsInByte)
            return byte & keep
        }
    }
}
