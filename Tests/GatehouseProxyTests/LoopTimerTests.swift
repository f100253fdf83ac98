import GatehouseIO
import Testing

/// LoopTimer re-arms lazily (a cancel leaves libevent's timeout pending; a later deadline keeps an earlier
/// pending one): what the owner sees must not change. A real loop, run on the test thread for a bounded time.
@Suite("LoopTimer: lazy re-arming keeps the owner's view")
struct LoopTimerTests {
    /// Sets up timers with `arm` (given the loop and the start time), then runs the loop for `after`.
    private func run(for after: Duration, _ arm: (EventLoop, UInt64, inout [LoopTimer]) -> Void) throws {
        let loop = try EventLoop()
        var timers: [LoopTimer] = []
        let start = Clocks.monotonicNanoseconds()
        arm(loop, start, &timers)
        let stop = LoopTimer(loop: loop) { loop.stop() }
        stop.schedule(after: after)
        loop.run()
        _ = timers
        _ = stop
    }

    private static func elapsedMs(since start: UInt64) -> Int {
        Int((Clocks.monotonicNanoseconds() - start) / 1_000_000)
    }

    @Test func aCancelledTimerDoesNotFire() throws {
        let (firedAt, scheduledAfter) = try fireTimes([.milliseconds(30), nil], runFor: .milliseconds(150))
        #expect(firedAt.isEmpty)
        #expect(!scheduledAfter)
    }

    /// One timer given `steps` in order (a delay schedules it, nil cancels it): when its action ran, in ms.
    private func fireTimes(_ steps: [Duration?], runFor after: Duration = .milliseconds(400)) throws
        -> (firedAt: [Int], scheduledAfter: Bool)
    {
        var firedAt: [Int] = []
        var timer: LoopTimer?
        try run(for: after) { loop, start, timers in
            let t = LoopTimer(loop: loop) { firedAt.append(Self.elapsedMs(since: start)) }
            for step in steps {
                if let delay = step { t.schedule(after: delay) } else { t.cancel() }
            }
            timers.append(t)
            timer = t
        }
        return (firedAt, timer?.isScheduled ?? true)
    }

    @Test func aShorterDelayFiresAtItsOwnTime() throws {
        let (firedAt, _) = try fireTimes([.milliseconds(300), .milliseconds(30)])
        #expect(firedAt.count == 1)
        #expect((firedAt.first ?? 0) >= 29 && (firedAt.first ?? 1000) < 250, "fired at \(firedAt) ms")
    }

    @Test func aLongerDelayIsNotCutShortByTheEarlierPendingTimeout() throws {
        let (firedAt, _) = try fireTimes([.milliseconds(30), .milliseconds(200)])
        #expect(firedAt.count == 1)
        #expect((firedAt.first ?? 0) >= 199, "fired at \(firedAt) ms")
    }

    @Test func cancelledThenScheduledAgainFiresOnceAtTheNewDeadline() throws {
        let (firedAt, scheduledAfter) = try fireTimes([.milliseconds(20), nil, .milliseconds(120)])
        #expect(firedAt.count == 1)
        #expect((firedAt.first ?? 0) >= 119, "fired at \(firedAt) ms")
        #expect(!scheduledAfter)
    }

    @Test func anActionThatReschedulesItselfFiresAgain() throws {
        var firedAt: [Int] = []
        try run(for: .milliseconds(300)) { loop, start, timers in
            var me: LoopTimer?
            let t = LoopTimer(loop: loop) {
                firedAt.append(Self.elapsedMs(since: start))
                if firedAt.count < 3 { me?.schedule(after: .milliseconds(40)) }
            }
            me = t
            t.schedule(after: .milliseconds(40))
            timers.append(t)
        }
        #expect(firedAt.count == 3, "fired at \(firedAt) ms")
        #expect((firedAt.last ?? 0) >= 119, "fired at \(firedAt) ms")
    }
}
