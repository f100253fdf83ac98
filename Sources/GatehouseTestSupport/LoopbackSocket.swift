import Foundation

/// Loopback TCP sockets for test clients and stand-in servers: one place for the sockaddr plumbing.
package enum LoopbackSocket {
    /// A socket connected to 127.0.0.1:`port`.
    /// - Throws: when the connect fails (the message names the port and errno).
    package static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let error = errno
            close(fd)
            throw TestFailure("connect to port \(port) failed: errno \(error)")
        }
        return fd
    }

    /// A socket bound to 127.0.0.1 on an ephemeral port, listening when `backlog` is given (a bound socket
    /// that never listens refuses every connection).
    /// - Parameter name: what the socket is for, for the error message.
    /// - Returns: the socket and the port the kernel chose.
    package static func bind(listening backlog: Int32?, name: String) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if backlog != nil {
            // Listening stand-ins restart on fresh ports quickly; a refusing port must stay exclusive.
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = loopback(port: 0)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0, backlog.map({ listen(fd, $0) == 0 }) ?? true else {
            let error = errno
            close(fd)
            throw TestFailure("\(name): bind/listen failed: errno \(error)")
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, UInt16(bigEndian: bound.sin_port))
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
