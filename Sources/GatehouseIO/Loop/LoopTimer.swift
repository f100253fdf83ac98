import CLibevent
import Glibc

/// A one-shot timer on one loop, re-armable, freed with its owner.
///
/// The timer holds its action strongly; actions capture their owner `unowned`, and the owner cancels the
/// timer (or lets it die with itself) so the action never outlives it.
package final class LoopTimer {
    private var event: OpaquePointer?
    private unowned let loop: EventLoop
    private let action: () -> Void
    package private(set) var isScheduled = false
    /// The last delay and its `timeval`: a timer is re-armed with the same delay on every request (idle,
    /// response timeouts), and `Duration.components` is a runtime call with 128-bit arithmetic.
    private var lastDelay: Duration = .zero
    private var lastTimeval = timeval(tv_sec: 0, tv_usec: 0)

    /// Creates an unarmed timer on `loop`.
    package init(loop: EventLoop, action: @escaping () -> Void) {
        self.loop = loop
        self.action = action
        event = event_new(loop.base, -1, 0, loopTimerTrampoline, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        if let event { event_free(event) }
    }

    /// Arms (or re-arms) the timer to fire once after `delay`.
    package func schedule(after delay: Duration) {
        if delay != lastDelay {
            let (seconds, attoseconds) = delay.components
            lastTimeval = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
            lastDelay = delay
        }
        var tv = lastTimeval  // a local: `&` on a stored property would be a checked access
        event_add(event, &tv)
        isScheduled = true
    }

    /// Disarms the timer; harmless when it is not armed.
    package func cancel() {
        guard isScheduled else { return }
        event_del(event)
        isScheduled = false
    }

    func didFire() {
        isScheduled = false
        let loop = self.loop
        action()
        loop.flushPending()
    }
}

private let loopTimerTrampoline: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
    Unmanaged<LoopTimer>.fromOpaque(arg!).takeUnretainedValue().didFire()
}
