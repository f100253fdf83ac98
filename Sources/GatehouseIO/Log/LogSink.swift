import CLibevent
import Glibc
import Synchronization

/// Writes log bytes to a file descriptor from its own thread, so a slow disk or a blocked stdout never
/// stalls an event loop.
///
/// Workers batch lines in their own buffers and hand over whole batches; the sink thread writes them in
/// order. If the sink falls far behind (over `maxPending` bytes queued), new batches are dropped and
/// their lines counted rather than letting memory grow without bound.
package final class LogSink: Sendable {
    private struct State {
        var pending: [[UInt8]] = []
        var pendingBytes = 0
        /// Lines dropped since the start (never reset; readers keep their own "last seen").
        var droppedLines = 0
        /// `droppedLines` when the writer last wrote its own note about them (`notesDrops` only).
        var notedDrops = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let fd: Int32
    private let ownsFD: Bool
    private let maxPending: Int
    /// The writer itself writes "N line(s) dropped" to the fd once it can write again (stderr's sink, where
    /// nothing else could report it).
    private let notesDrops: Bool
    private let wake: Semaphore
    private let finished: Semaphore

    /// A sink writing to standard output.
    package static func standardOutput() -> LogSink { LogSink(fd: 1, ownsFD: false) }

    /// A sink writing diagnostics to standard error: a blocked stderr (a full pipe nobody reads, a stopped
    /// terminal) never stalls the thread that logs. It queues at most 1 MiB; the rest is dropped and counted.
    package static func standardError() -> LogSink {
        LogSink(fd: 2, ownsFD: false, maxPending: 1 << 20, notesDrops: true)
    }

    /// A sink appending to `path` (created 0640 if missing), queueing at most `maxPending` bytes; with
    /// `notesDrops`, it writes how many lines it dropped once the file takes bytes again (as stderr's does).
    /// - Throws: `IOError` when the file cannot be opened.
    package static func file(_ path: String, maxPending: Int = 64 << 20, notesDrops: Bool = false) throws(IOError)
        -> LogSink
    {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw IOError("\(path): cannot open access log: \(String(cString: strerror(errno)))") }
        return LogSink(fd: fd, ownsFD: true, maxPending: maxPending, notesDrops: notesDrops)
    }

    private init(fd: Int32, ownsFD: Bool, maxPending: Int = 64 << 20, notesDrops: Bool = false) {
        self.fd = fd
        self.ownsFD = ownsFD
        self.maxPending = maxPending
        self.notesDrops = notesDrops
        self.wake = Semaphore()
        self.finished = Semaphore()
    }

    /// Starts the writer thread.
    package func start() throws(IOError) {
        _ = try LoopThread(name: "gh-log") { [self] in run() }
    }

    /// Queues one batch of `lines` lines. Safe from any thread; never blocks on I/O.
    /// - Returns: false when the batch was dropped (the sink is too far behind, or closed).
    @discardableResult
    package func submit(_ batch: [UInt8], lines: Int = 1) -> Bool {
        guard !batch.isEmpty else { return true }
        let accepted = state.withLock { s -> Bool in
            guard !s.closed, s.pendingBytes + batch.count <= maxPending else {
                s.droppedLines += lines
                return false
            }
            s.pending.append(batch)
            s.pendingBytes += batch.count
            return true
        }
        if accepted { wake.signal() }
        return accepted
    }

    /// Lines dropped since the sink was made.
    package var droppedLines: Int { state.withLock { $0.droppedLines } }

    /// Writes what is queued, then stops the thread. Waits until done, or at most `timeout` when the fd does
    /// not take the bytes (a stopped process must still exit).
    package func close(timeout: Duration = .seconds(5)) {
        let wasClosed = state.withLock { s -> Bool in
            defer { s.closed = true }
            return s.closed
        }
        guard !wasClosed else { return }
        wake.signal()
        finished.wait(timeout: timeout)
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
            if notesDrops { noteDrops() }
            if closed {
                if ownsFD { Glibc.close(fd) }
                finished.signal()
                return
            }
        }
    }

    /// The fd took every queued byte again: say how many lines it lost meanwhile (after the lines queued before
    /// the loss, so the note comes where the gap is).
    private func noteDrops() {
        let lost = state.withLock { s -> Int in
            guard s.pending.isEmpty else { return 0 }
            defer { s.notedDrops = s.droppedLines }
            return s.droppedLines - s.notedDrops
        }
        if lost > 0 { writeAll(Array("gatehouse: \(lost) log line(s) dropped: the output was blocked\n".utf8)) }
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

    /// Like `wait`, but gives up after `timeout`. Returns whether it took one.
    @discardableResult
    package func wait(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
        guard ready > 0 else { return false }
        wait()
        return true
    }
}
