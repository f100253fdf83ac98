import Glibc

/// The process's file-descriptor limit (`RLIMIT_NOFILE`): what every socket, listener, loop and log file
/// counts against.
package enum DescriptorLimit {
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

    /// The soft limit now (what `open`/`socket`/`accept` are held to); `Int.max` when unlimited.
    package static var current: Int {
        var limit = rlimit()
        guard getrlimit(Self.resource, &limit) == 0 else { return 1024 }
        return clamp(limit.rlim_cur)
    }

    /// Raises the soft limit to the hard one, as Go's runtime and HAProxy do: the soft default (often 1024) is
    /// kept low for programs that use `select(2)`; the gateway uses epoll. Returns the soft limit after.
    @discardableResult
    package static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(Self.resource, &limit) == 0 else { return current }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Self.resource, &raised) != 0 {
                // Some kernels cap an "unlimited" hard limit at fs.nr_open: try that.
                raised.rlim_cur = rlim_t(clamping: readNrOpen() ?? Int(limit.rlim_cur))
                _ = setrlimit(Self.resource, &raised)
            }
        }
        return current
    }

    /// RLIM_INFINITY (all ones) is above Int.max too.
    private static func clamp(_ value: rlim_t) -> Int {
        value > rlim_t(Int.max) ? Int.max : Int(value)
    }

    private static func readNrOpen() -> Int? {
        let fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { return nil }
        return Int(String(decoding: bytes[0..<n], as: UTF8.self).trimmingSuffixNewline)
    }
}

extension String {
    fileprivate var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
