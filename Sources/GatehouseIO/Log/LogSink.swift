import CLibevent
import Glibc
import Synchronization

/// Writes log bytes to a file descriptor from its own thread, so a slow disk or a blocked stdout never
/// stalls an event loop.
///
/// Workers batch lines in their own buffers and hand over whole batches; the sink thread writes them in
/// order. If the sink falls far behind (over `maxPending` bytes queued), new batches are dropped and
/// counted rather than letting memory grow without bound.
package final class LogSink: Sendable {
    private struct State {
        var pending: [[UInt8]] = []
        var pendingBytes = 0
        var dropped = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let fd: Int32
    private let ownsFD: Bool
    private let maxPending: Int
    private let wake: Semaphore
    private let finished: Semaphore

    /// A sink writing to standard output.
    package static func standardOutput() -> LogSink { LogSink(fd: 1, ownsFD: false) }

    /// A sink appending to `path` (created 0640 if missing).
    /// - Throws: `IOError` when the file cannot be opened.
    package static func file(_ path: String) throws(IOError) -> LogSink {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw IOError("\(path): cannot open access log: \(String(cString: strerror(errno)))") }
        return LogSink(fd: fd, ownsFD: true)
    }

    private init(fd: Int32, ownsFD: Bool, maxPending: Int = 64 << 20) {
        self.fd = fd
        self.ownsFD = ownsFD
        self.maxPending = maxPending
        self.wake = Semaphore()
        self.finished = Semaphore()
    }

    /// Starts the writer thread.
    package func start() throws(IOError) {
        _ = try LoopThread(name: "gh-log") { [self] in run() }
    }

    /// Queues one batch of bytes. Safe from any thread; never blocks on I/O.
    package func submit(_ batch: [UInt8]) {
        guard !batch.isEmpty else { return }
        let accepted = state.withLock { s -> Bool in
            guard !s.closed, s.pendingBytes + batch.count <= maxPending else {
                s.dropped += 1
                return false
            }
            s.pending.append(batch)
            s.pendingBytes += batch.count
            return true
        }
        if accepted { wake.signal() }
    }

    /// Writes what is queued, then stops the thread. Blocks until done (used at shutdown).
    package func close() {
        let wasClosed = state.withLock { s -> Bool in
            defer { s.closed = true }
            return s.closed
        }
        guard !wasClosed else { return }
        wake.signal()
        finished.wait()
    }

    private func run() {
        while true {
            wake.wait()
            let (batches, closed) = state.withLock { s -> ([[UInt8]], Bool) in
                let taken = s.pending
                s.pending.removeAll()
                s.pendingBytes = 0
                return (taken, s.closed)
            }
            for batch in batches { writeAll(batch) }
            if closed {
                if ownsFD { Glibc.close(fd) }
                finished.signal()
                return
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}

/// A counting semaphore on an eventfd in semaphore mode: `signal` adds one, `wait` blocks until it can take one.
package struct Semaphore: Sendable {
    private let fd: Int32

    package init() {
        fd = eventfd(0, Int32(EFD_SEMAPHORE | EFD_CLOEXEC))
    }

    package func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    package func wait() {
        var value: UInt64 = 0
        while read(fd, &value, 8) < 0 && errno == EINTR {}
    }
}
