import CLibevent
import Glibc

/// A one-shot timer on one loop, re-armable, freed with its owner.
///
/// The timer holds its action strongly; actions capture their owner `unowned`, and the owner cancels the
/// timer (or lets it die with itself) so the action never outlives it.
///
/// Lazy re-arming (nginx updates its timers the same way): the data path cancels and re-arms its timers
/// several times per request (idle, header, response, pool idle), and each `event_del`/`event_add` is a
/// trip into libevent's timer heap. So `cancel()` only forgets the deadline and leaves libevent's timeout
/// pending, and `schedule` keeps a pending timeout that fires no later than the new deadline. When the
/// timeout fires, the action runs only if a deadline is set and due (within `tolerance`); a later deadline
/// re-arms the timeout for the rest. A pending timeout that finds nothing due costs one wakeup.
package final class LoopTimer {
    private var event: OpaquePointer?
    private unowned let loop: EventLoop
    private let action: () -> Void
    /// The owner wants the action to run at `deadline`.
    package var isScheduled: Bool { scheduled }
    /// Private storage behind `isScheduled`: a stored property other modules can read is checked for exclusive
    /// access at run time on every write here (`swift_beginAccess`); one only this file sees is not.
    private var scheduled = false
    /// When the action is due, in `Clocks.monotonicNanoseconds` (meaningful while `isScheduled`).
    private var deadline: UInt64 = 0
    /// libevent's timeout is pending; it fires at or before `armedFor`.
    private var isArmed = false
    private var armedFor: UInt64 = 0
    /// The last four distinct delays and their nanoseconds: `Duration.components` is a runtime call with
    /// 128-bit arithmetic, and one timer alternates between a few delays (idle, header, response) on every
    /// request. (`.zero` is 0 ns, so the initial slots are right.)
    private var delays: (Duration, Duration, Duration, Duration) = (.zero, .zero, .zero, .zero)
    private var delayNanoseconds: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var nextDelaySlot = 0
    /// A timeout that fires this close before the deadline runs the action instead of re-arming for the rest
    /// (libevent's cached loop time lags the clock read here by up to one callback).
    private static let tolerance: UInt64 = 1_000_000

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
        let delayNanoseconds = nanoseconds(of: delay)
        deadline = Clocks.monotonicNanoseconds() &+ delayNanoseconds
        scheduled = true
        if isArmed && armedFor <= deadline { return }
        arm(after: delayNanoseconds)
    }

    private func arm(after nanoseconds: UInt64) {
        var tv = timeval(tv_sec: Int(nanoseconds / 1_000_000_000), tv_usec: Int(nanoseconds % 1_000_000_000 / 1000))
        event_add(event, &tv)
        isArmed = true
        armedFor = deadline
    }

    private func nanoseconds(of delay: Duration) -> UInt64 {
        if delay == delays.0 { return delayNanoseconds.0 }
        if delay == delays.1 { return delayNanoseconds.1 }
        if delay == delays.2 { return delayNanoseconds.2 }
        if delay == delays.3 { return delayNanoseconds.3 }
        let nanoseconds = delay.wholeNanoseconds
        switch nextDelaySlot {
        case 0: (delays.0, delayNanoseconds.0) = (delay, nanoseconds)
        case 1: (delays.1, delayNanoseconds.1) = (delay, nanoseconds)
        case 2: (delays.2, delayNanoseconds.2) = (delay, nanoseconds)
        default: (delays.3, delayNanoseconds.3) = (delay, nanoseconds)
        }
        nextDelaySlot = (nextDelaySlot + 1) & 3
        return nanoseconds
    }

    /// Disarms the timer; harmless when it is not armed. The action will not run until `schedule` is
    /// called again.
    package func cancel() {
        scheduled = false
    }

    func didFire() {
        isArmed = false
        guard scheduled else { return }
        let now = Clocks.monotonicNanoseconds()
        if deadline > now &+ Self.tolerance {
            arm(after: deadline - now)
            return
        }
        scheduled = false
        let loop = self.loop
        action()
        loop.flushPending()
    }
}

private let loopTimerTrampoline: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
    Unmanaged<LoopTimer>.fromOpaque(arg!).takeUnretainedValue().didFire()
}
