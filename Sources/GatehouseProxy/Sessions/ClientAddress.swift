import GatehouseHTTP
import GatehouseIO

/// The client's address as the sign-in throttle counts it (and a new session records it).
enum ClientAddress {
    /// The address of the client behind any trusted proxies: from a peer in `trusted_proxies`, the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (a client can only prepend entries, so the
    /// ones its proxies appended are to the right); from any other peer, the peer. An entry that is not an IP
    /// address stops the walk at the nearest trusted hop, as nginx's `real_ip_recursive` does.
    static func resolve(peer: SocketAddress, trusted: Bool, head: RequestHead, snapshot: ProxySnapshot) -> [UInt8] {
        var candidate = peer.addressBytes
        guard trusted else { return candidate }
        var entries: [Substring] = []
        let fields = head.headers
        for index in 0..<fields.count where fields.nameEquals(index, "x-forwarded-for") {
            let text = String(decoding: fields.storage[fields.fields[index].value], as: UTF8.self)
            entries += text.split(separator: ",", omittingEmptySubsequences: false)
        }
        for entry in entries.reversed() {
            guard let bytes = addressBytes(Substring(entry.trimmingBlanks())) else { return candidate }
            candidate = bytes
            if !snapshot.trustedProxies.contains(where: { $0.contains(bytes) }) { return bytes }
        }
        return candidate
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

    /// 4 or 16 bytes of an address entry: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, with or without a port.
    private static func addressBytes(_ entry: Substring) -> [UInt8]? {
        guard !entry.isEmpty, entry.utf8.count <= 64 else { return nil }
        var candidates: [String] = []
        if entry.hasPrefix("[") {
            if let close = entry.firstIndex(of: "]") { candidates.append(String(entry[...close]) + ":1") }
        } else if entry.contains(":") && entry.firstIndex(of: ":") != entry.lastIndex(of: ":") {
            candidates.append("[\(entry)]:1")  // bare IPv6
        } else if let colon = entry.firstIndex(of: ":") {
            candidates.append(String(entry[..<colon]) + ":1")  // IPv4 with a port
        } else {
            candidates.append(String(entry) + ":1")
        }
        for candidate in candidates {
            if let address = try? SocketAddress(parsing: candidate) { return address.addressBytes }
        }
        return nil
    }
}
