/// Runs closures on one event loop, posted from any thread (a `BlockingPool` worker handing back a password
/// check, a reload thread handing over a new user directory).
///
/// A thin face on the loop's own `Mailbox`: jobs queue behind a mutex, an eventfd wakes the loop, and each job
/// runs as part of a libevent callback, so writes it queues are flushed when the batch ends.
package final class LoopExecutor: Sendable {
    private let mailbox: Mailbox<LoopBoundJob>

    /// Creates the executor of `loop`. Call on the loop's thread (or before the loop runs): it registers an
    /// event with the lock-free base.
    /// - Throws: `IOError` when the eventfd cannot be created.
    package init(loop: EventLoop) throws(IOError) {
        mailbox = try Mailbox(loop: loop) { job in job.run() }
    }

    /// Queues `job` to run on the loop's thread, in posting order. Safe from any thread.
    ///
    /// `job` may capture loop-confined objects (connections, the session cache), since it runs only on that
    /// loop; it must not capture state that belongs to the *calling* thread. Jobs posted after `close()`
    /// never run.
    package func execute(_ job: @escaping () -> Void) {
        mailbox.post(LoopBoundJob(job))
    }

    /// Wraps `body` into a function that any thread may call: each call runs `body(value)` on this loop.
    ///
    /// This is how a result crosses back: `body` is created on the loop, travels to a worker inside the
    /// returned function, and is only ever invoked here again.
    package func callback<Value: Sendable>(_ body: @escaping (Value) -> Void) -> @Sendable (Value) -> Void {
        let bound = LoopBound(body)
        return { [self] value in execute { bound.value(value) } }
    }

    /// Stops listening, so the loop can end once nothing else is pending. Call on the loop's thread.
    package func close() {
        mailbox.close()
    }
}

/// A closure that may cross threads but is only ever *called* on its owning loop.
///
/// `@unchecked Sendable` is sound because the only code that calls `run` is the loop's mailbox delivery
/// (`LoopExecutor`), which runs on the loop thread; other threads merely hold and pass the reference, and
/// the mailbox's mutex orders the hand-over.
private struct LoopBoundJob: @unchecked Sendable {
    let run: () -> Void

    init(_ run: @escaping () -> Void) {
        self.run = run
    }
}

/// A loop-confined value carried through other threads untouched (see `LoopBoundJob` for why that is
/// sound): `LoopExecutor.callback` reads `value` only inside a job running on the loop.
private struct LoopBound<Value>: @unchecked Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
