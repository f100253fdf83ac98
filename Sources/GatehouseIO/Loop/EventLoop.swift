import CLibevent
import Glibc

/// One libevent `event_base`, driven by exactly one thread.
///
/// Bases are created with `EVENT_BASE_FLAG_NOLOCK`: nothing may call into a loop from another thread.
/// Other threads reach a loop only through its `Mailbox`. Debug builds check confinement with
/// `assertInLoop()` (swift-nio's `NIOLoopBound`).
package final class EventLoop {
    /// The libevent base; only GatehouseIO code touches it.
    let base: OpaquePointer
    private var ownerThread: pthread_t?
    /// Connections with output queued during the current callback; flushed when it returns, so several
    /// writes to one socket leave in one `writev`. Behind a pointer: the list is touched a few times per
    /// request, and as class properties each touch was a runtime exclusivity check (`swift_beginAccess`),
    /// kept by the optimizer because `flush()` runs delegate code while the list is being walked. The loop's
    /// thread alone uses them (see `assertInLoop`), and no access to either outlives the function making it.
    private let pendingFlush = UnsafeMutablePointer<[Connection]>.allocate(capacity: 1)
    /// The list being flushed (its storage is reused for the next pass).
    private let flushing = UnsafeMutablePointer<[Connection]>.allocate(capacity: 1)

    /// Creates a lock-free base.
    /// - Throws: `IOError` when libevent cannot create one.
    package init() throws(IOError) {
        guard let config = event_config_new() else {
            pendingFlush.deallocate()
            flushing.deallocate()
            throw IOError("event_config_new failed")
        }
        defer { event_config_free(config) }
        event_config_set_flag(config, Int32(EVENT_BASE_FLAG_NOLOCK.rawValue))
        guard let base = event_base_new_with_config(config) else {
            pendingFlush.deallocate()
            flushing.deallocate()
            throw IOError("event_base_new failed")
        }
        self.base = base
        pendingFlush.initialize(to: [])
        flushing.initialize(to: [])
    }

    deinit {
        event_base_free(base)
        pendingFlush.deinitialize(count: 1)
        pendingFlush.deallocate()
        flushing.deinitialize(count: 1)
        flushing.deallocate()
    }

    /// Queues `connection` to be flushed when the current callback returns (the caller checks it is not queued).
    func enqueueFlush(_ connection: Connection) {
        pendingFlush.pointee.append(connection)
    }

    /// Runs the loop on the calling thread until `stop()` is called or no events remain.
    package func run() {
        ownerThread = pthread_self()
        event_base_dispatch(base)
    }

    /// Makes `run()` return after the current callbacks. Call only from the loop's own thread.
    package func stop() {
        event_base_loopbreak(base)
    }

    /// Writes out every connection that queued output during the callback that just ran. A flush may
    /// notify a delegate that writes again; that output goes out in the next pass of this loop.
    package func flushPending() {
        while !pendingFlush.pointee.isEmpty {
            swap(&pendingFlush.pointee, &flushing.pointee)
            // Walked by index: a flush may queue connections again (onto `pendingFlush`, the next pass).
            var i = 0
            while i < flushing.pointee.count {
                let connection = flushing.pointee[i]
                connection.flush()
                i += 1
            }
            flushing.pointee.removeAll(keepingCapacity: true)
        }
    }

    /// Traps in debug builds when called from a thread other than the loop's.
    @inline(__always)
    package func assertInLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(ownerThread == nil || pthread_equal(ownerThread!, pthread_self()) != 0, "not on the loop thread",
               file: file, line: line)
    }

    /// The loop's cached monotonic time in nanoseconds (cheap: libevent caches it per loop iteration).
    package var nowNanoseconds: UInt64 {
        var tv = timeval()
        event_base_gettimeofday_cached(base, &tv)
        return UInt64(tv.tv_sec) &* 1_000_000_000 &+ UInt64(tv.tv_usec) &* 1000
    }
}
