import CLibevent
import Glibc

/// An IPv4 or IPv6 socket address, stored by value so it can sit in immutable snapshots and cross threads.
package struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The raw `sockaddr_in`/`sockaddr_in6` bytes.
    fileprivate var storage: [UInt8]

    /// Parses a numeric "ip:port" or "[ipv6]:port".
    /// - Throws: `IOError` when the text is not a numeric address with a port.
    package init(parsing text: String) throws(IOError) {
        // libevent refuses port 0, which means "any free port" to us: parse with port 1, then set it to 0.
        let anyPort = text.hasSuffix(":0")
        let parsed = anyPort ? String(text.dropLast()) + "1" : text
        var ss = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &ss) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { evutil_parse_sockaddr_port(parsed, $0, &length) }
        }
        guard rc == 0 else { throw IOError("\(text): not a numeric address with a port") }
        storage = withUnsafeBytes(of: &ss) { Array($0.prefix(Int(length))) }
        if anyPort {
            storage[2] = 0
            storage[3] = 0
        }
    }

    /// Resolves "host:port" where host may be a name (getaddrinfo; blocking, so only at load time).
    /// - Throws: `IOError` when the name does not resolve.
    package static func resolve(host: String, port: UInt16) throws(IOError) -> SocketAddress {
        let literal = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        if let parsed = try? SocketAddress(parsing: literal) { return parsed }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw IOError("\(host): cannot resolve host name")
        }
        defer { freeaddrinfo(result) }
        return SocketAddress(sockaddr: first.pointee.ai_addr, length: Int(first.pointee.ai_addrlen))
    }

    init(sockaddr pointer: UnsafePointer<sockaddr>, length: Int) {
        storage = Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// 4 or 16 address bytes in network order (for CIDR matching).
    package var addressBytes: [UInt8] {
        if family == AF_INET { return Array(storage[4..<8]) }
        return Array(storage[8..<24])
    }

    package var port: UInt16 { UInt16(storage[2]) << 8 | UInt16(storage[3]) }

    var family: Int32 { Int32(storage.withUnsafeBytes { $0.load(as: sa_family_t.self) }) }

    /// The address without port ("127.0.0.1", "::1").
    package var host: String {
        var buffer = [UInt8](repeating: 0, count: 64)
        storage.withUnsafeBytes { raw in
            let offset = family == AF_INET ? 4 : 8
            _ = buffer.withUnsafeMutableBufferPointer { out in
                out.withMemoryRebound(to: CChar.self) { inet_ntop(family, raw.baseAddress! + offset, $0.baseAddress, 64) }
            }
        }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    package var description: String {
        family == AF_INET ? "\(host):\(port)" : "[\(host)]:\(port)"
    }

    /// Calls `body` with the C view of the address.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, Int32) -> R) -> R {
        storage.withUnsafeBytes { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), Int32(raw.count))
        }
    }
}
