import CLibevent
import Glibc

/// Host names to addresses for outbound clients (Redis), off the event loop: `getaddrinfo` blocks, so a lookup
/// runs as a job on a small shared `BlockingPool` and its answer comes back on the caller's loop.
package enum HostResolver {
    /// The answer to one lookup.
    package enum Answer: Sendable, Equatable {
        /// A numeric address (the first IPv4 one, else the first IPv6 one).
        case address(String)
        case failed(String)
    }

    /// Lookups that may wait for a thread; past that a lookup fails at once.
    private static let queueLimit = 256

    /// Two threads: a lookup that hangs on a dead DNS server does not hold up every other one. Started on first
    /// use; a process that resolves nothing starts none. Nil when the threads cannot start.
    private static let pool: BlockingPool? = try? BlockingPool(
        name: "gh-dns", threads: 2, queueLimit: queueLimit, maxQueueWait: .seconds(30))

    /// The address itself when `host` is an IPv4 or IPv6 literal (no lookup needed).
    package static func numericAddress(_ host: String) -> String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1 { return host }
        return nil
    }

    /// Resolves `host` off the loop; `completion` runs on `executor`'s loop (call from that loop). When the
    /// lookup cannot even be queued (too many pending, no threads) `completion` runs before this returns.
    package static func resolve(_ host: String, on executor: LoopExecutor,
                                _ completion: @escaping (Answer) -> Void) {
        guard let pool else {
            completion(.failed("cannot start the resolver threads"))
            return
        }
        let queued = pool.submit({ resolveNow(host) }, completion: { outcome in
            switch outcome {
            case .finished(let answer): completion(answer)
            case .expired: completion(.failed("the resolver was busy for \(pool.maxQueueWait)"))
            }
        }, on: executor)
        if !queued { completion(.failed("too many host name lookups waiting")) }
    }

    /// `getaddrinfo` on the calling thread (blocks): the first IPv4 address, else the first IPv6 one.
    package static func resolveNow(_ host: String) -> Answer {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let list else { return .failed(String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        var candidates: [(Int32, String)] = []
        var node: UnsafeMutablePointer<addrinfo>? = list
        while let entry = node {
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if entry.pointee.ai_family == AF_INET, let sa = entry.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                }
                candidates.append((AF_INET, string(text)))
            } else if entry.pointee.ai_family == AF_INET6, let sa = entry.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                }
                candidates.append((AF_INET6, string(text)))
            }
            node = entry.pointee.ai_next
        }
        if let v4 = candidates.first(where: { $0.0 == AF_INET }) { return .address(v4.1) }
        if let v6 = candidates.first { return .address(v6.1) }
        return .failed("no address")
    }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
