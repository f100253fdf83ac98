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
        var fired = 0
        var timer: LoopTimer?
        try run(for: .milliseconds(150)) { loop, _, timers in
            let t = LoopTimer(loop: loop) { fired += 1 }
            t.schedule(after: .milliseconds(30))
            t.cancel()
            timers.append(t)
            timer = t
        }
        #expect(fired == 0)
        #expect(timer?.isScheduled == false)
    }

    @Test func aShorterDelayFiresAtItsOwnTime() throws {
        var firedAt: [Int] = []
        try run(for: .milliseconds(400)) { loop, start, timers in
            let t = LoopTimer(loop: loop) { firedAt.append(Self.elapsedMs(since: start)) }
            t.schedule(after: .milliseconds(300))
            t.schedule(after: .milliseconds(30))
            timers.append(t)
        }
        #expect(firedAt.count == 1)
        #expect((firedAt.first ?? 0) >= 29 && (firedAt.first ?? 1000) < 250, "fired at \(firedAt) ms")
    }

    @Test func aLongerDelayIsNotCutShortByTheEarlierPendingTimeout() throws {
        var firedAt: [Int] = []
        try run(for: .milliseconds(400)) { loop, start, timers in
            let t = LoopTimer(loop: loop) { firedAt.append(Self.elapsedMs(since: start)) }
            t.schedule(after: .milliseconds(30))
            t.schedule(after: .milliseconds(200))
            timers.append(t)
        }
        #expect(firedAt.count == 1)
        #expect((firedAt.first ?? 0) >= 199, "fired at \(firedAt) ms")
    }

    @Test func cancelledThenScheduledAgainFiresOnceAtTheNewDeadline() throws {
        var firedAt: [Int] = []
        var timer: LoopTimer?
        try run(for: .milliseconds(400)) { loop, start, timers in
            let t = LoopTimer(loop: loop) { firedAt.append(Self.elapsedMs(since: start)) }
            t.schedule(after: .milliseconds(20))
            t.cancel()
            t.schedule(after: .milliseconds(120))
            timers.append(t)
            timer = t
        }
        #expect(firedAt.count == 1)
        #expect((firedAt.first ?? 0) >= 119, "fired at \(firedAt) ms")
        #expect(timer?.isScheduled == false)
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
