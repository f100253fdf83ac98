import GatehouseHTTP
import GatehouseIO

/// The client's address as the sign-in throttle counts it (and a new session records it): the same address
/// `X-Real-IP` names (`ClientAddress.resolve(forwardedFor:in:snapshot:)`), as bytes.
extension ClientAddress {
    /// The address of the client behind any trusted proxies (4 or 16 bytes): from a peer in `trusted_proxies`,
    /// the rightmost entry of its (last) `X-Forwarded-For` that is not itself a trusted proxy, the rule
    /// `X-Real-IP` follows; from any other peer, the peer.
    static func resolve(peer: SocketAddress, trusted: Bool, head: RequestHead, snapshot: ProxySnapshot) -> [UInt8] {
        guard trusted else { return peer.addressBytes }
        let fields = head.headers
        var forwardedFor: Range<Int>? = nil
        for index in 0..<fields.count where fields.nameEquals(index, "x-forwarded-for") {
            forwardedFor = fields.fields[index].value  // the last one wins, as in HeaderRewrite.writeRequest
        }
        guard let element = resolve(forwardedFor: forwardedFor, in: fields.storage, snapshot: snapshot) else {
            return peer.addressBytes
        }
        return fields.storage.withUnsafeBytes { raw in
            [UInt8](unsafeUninitializedCapacity: 16) { out, count in
                count = parse(UnsafeRawBufferPointer(rebasing: raw[element]), into: UnsafeMutableRawBufferPointer(out))
            }
        }
    }

    /// The throttle's key for `bytes`: an IPv4 address whole, an IPv6 address by its /64 (one host is given a
    /// whole /64, so counting single IPv6 addresses would let it try 2^64 of them). IPv4-mapped IPv6 is IPv4.
    static func throttleKey(_ bytes: [UInt8]) -> String {
        if let v4 = ipv4(bytes) { return text(v4) }
        return text(Array(bytes.prefix(8)) + [UInt8](repeating: 0, count: 8)) + "/64"
    }

    /// The address as text ("192.0.2.1", "2001:db8::1").
    static func text(_ bytes: [UInt8]) -> String {
        let bytes = ipv4(bytes) ?? bytes
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return ((try? SocketAddress(parsing: "[" + groups(bytes) + "]:1"))?.host) ?? groups(bytes)
    }

    private static func ipv4(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes.count == 4 { return bytes }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return Array(bytes[12..<16])
        }
        return nil
    }

    /// Eight hex groups (the canonical short form comes from inet_ntop through `SocketAddress.host`).
    private static func groups(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }
}
