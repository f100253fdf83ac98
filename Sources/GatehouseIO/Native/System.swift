import Glibc

/// An errno from a failed system call, with the C library's text for it.
package struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    package let errno: Int32

    package init(errno: Int32) {
        self.errno = errno
    }

    /// The calling thread's current errno.
    package static var last: SystemError { SystemError(errno: Glibc.errno) }

    /// `strerror`'s text, e.g. "No such file or directory".
    package var description: String { String(cString: strerror(errno)) }

    /// Out of descriptors, for the process (EMFILE) or the whole system (ENFILE).
    package var isDescriptorExhaustion: Bool { errno == EMFILE || errno == ENFILE }
}

/// The process's standard streams, for command-line messages (no Foundation, no Glibc above this module).
package enum StandardStreams {
    /// The bytes of one line of standard input, without its `\n` (a `\r` before it stays), exactly as read:
    /// no UTF-8 repair, so a password's bytes reach the hash unchanged. Stops at end of input.
    package static func readInputLine() -> [UInt8] {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = Glibc.read(0, &byte, 1)
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n == 1, byte != 10 else { return line }
            line.append(byte)
        }
    }

    /// Writes `text` to standard error (descriptor 2) as it is (no newline added).
    package static func writeError(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && Glibc.errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
    }
}

/// The few file-system questions the layers above ask, so they need not import Glibc.
package enum FileSystem {
    /// What is at a path.
    package enum Kind: Sendable, Equatable {
        case directory
        case other
    }

    /// `stat(path)`: whether `path` is a directory, or why it cannot be looked at (ENOENT, EACCES, ...).
    package static func kind(of path: String) -> Result<Kind, SystemError> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(.last) }
        return .success(info.st_mode & S_IFMT == S_IFDIR ? .directory : .other)
    }

    /// `close(2)` of a descriptor nothing else owns (an accepted socket that is refused before a
    /// `Connection` takes it). The result is ignored: there is nothing to retry.
    package static func closeDescriptor(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}

extension Clocks {
    /// Wall-clock seconds since the Unix epoch (`time(2)`): session and token times.
    package static func wallSeconds() -> Int64 {
        Int64(time(nil))
    }

    /// Blocks the calling thread for `duration` (never an event loop's: a worker thread's pause between retries).
    package static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && Glibc.errno == EINTR { request = remaining }
    }
}
