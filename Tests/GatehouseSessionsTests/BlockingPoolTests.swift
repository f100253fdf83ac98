import GatehouseIO
import Glibc
import Synchronization
import XCTest

final class BlockingPoolTests: XCTestCase {
    /// What the loop thread saw, handed back to the test thread when the loop ends.
    private struct LoopReport: Sendable {
        var loopThread: pthread_t
        var completions: [(completedOn: pthread_t, workedOn: pthread_t, value: Int)]
    }

    /// Waits up to `seconds` for `condition`, polling.
    private func waitUntil(seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Clocks.monotonicNanoseconds() + UInt64(seconds * 1e9)
        while !condition() {
            if Clocks.monotonicNanoseconds() > deadline { return false }
            usleep(1_000)
        }
        return true
    }

    func testResultsComeBackOnTheSubmittingLoopThread() throws {
        let pool = try BlockingPool(name: "test", threads: 2, queueLimit: 64)
        defer { pool.shutdown() }
        let loop = try EventLoop()
        let executor = try LoopExecutor(loop: loop)
        let report = Locked<LoopReport?>(nil)
        let jobs = 16
        let loopThread = try LoopThread(name: "loop") {
            var completions: [(completedOn: pthread_t, workedOn: pthread_t, value: Int)] = []
            for index in 0..<jobs {
                let accepted = pool.submit(
                    { () -> (worker: pthread_t, value: Int) in
                        usleep(500)
                        return (pthread_self(), index * index)
                    },
                    completion: { outcome in
                        guard case .finished(let result) = outcome else { preconditionFailure("no job expires here") }
                        // Loop-confined state, mutated without a lock: the point of the executor.
                        completions.append((pthread_self(), result.worker, result.value))
                        if completions.count == jobs { executor.close() }
                    }, on: executor)
                precondition(accepted)
            }
            loop.run()  // returns once the executor is closed: no events left
            report.withLock { $0 = LoopReport(loopThread: pthread_self(), completions: completions) }
        }
        let finished = waitUntil { report.withLock { $0 != nil } }
        if !finished {
            executor.execute { loop.stop() }
        }
        loopThread.join()
        XCTAssertTrue(finished, "the completions did not all arrive")
        let seen = try XCTUnwrap(report.withLock { $0 })
        XCTAssertEqual(seen.completions.count, jobs)
        XCTAssertEqual(Set(seen.completions.map(\.value)), Set((0..<jobs).map { $0 * $0 }))
        for completion in seen.completions {
            XCTAssertNotEqual(pthread_equal(completion.completedOn, seen.loopThread), 0, "completion off the loop")
            XCTAssertEqual(pthread_equal(completion.workedOn, seen.loopThread), 0, "work ran on the loop")
        }
    }

    func testExecuteFromAnotherThreadRunsOnTheLoop() throws {
        let loop = try EventLoop()
        let executor = try LoopExecutor(loop: loop)
        let ranOn = Locked<pthread_t?>(nil)
        let loopThreadID = Locked<pthread_t?>(nil)
        let loopThread = try LoopThread(name: "loop") {
            loopThreadID.withLock { $0 = pthread_self() }
            loop.run()
        }
        // Posted from the test thread, possibly before the loop runs: delivered either way.
        executor.execute {
            ranOn.withLock { $0 = pthread_self() }
            executor.close()
        }
        XCTAssertTrue(waitUntil { ranOn.withLock { $0 != nil } })
        loopThread.join()
        let loopID = try XCTUnwrap(loopThreadID.withLock { $0 })
        let jobID = try XCTUnwrap(ranOn.withLock { $0 })
        XCTAssertNotEqual(pthread_equal(loopID, jobID), 0)
    }

    func testQueueLimitRefusesAtOnceAndShutdownDrains() throws {
        let pool = try BlockingPool(name: "test", threads: 1, queueLimit: 2)
        let loop = try EventLoop()
        let executor = try LoopExecutor(loop: loop)
        let gate = Gate()
        var completed: [Int] = []

        let job = gate.job
        let record: (BlockingPool.Outcome<Int>) -> Void = { outcome in
            guard case .finished(let id) = outcome else { preconditionFailure("no job expires here") }
            completed.append(id)
            if completed.count == 3 { executor.close() }
        }

        XCTAssertTrue(pool.submit(job(1), completion: record, on: executor))
        // Job 1 is taken by the only thread (and blocks on the gate); then two may wait.
        XCTAssertTrue(waitUntil { pool.queuedCount == 0 })
        XCTAssertTrue(pool.submit(job(2), completion: record, on: executor))
        XCTAssertTrue(pool.submit(job(3), completion: record, on: executor))
        XCTAssertEqual(pool.queuedCount, 2)
        XCTAssertFalse(pool.submit(job(4), completion: record, on: executor))
        XCTAssertEqual(pool.queuedCount, 2)

        gate.open()
        pool.shutdown()  // returns only after jobs 2 and 3, still queued, have run
        XCTAssertEqual(gate.ran, [1, 2, 3])
        XCTAssertEqual(pool.queuedCount, 0)
        XCTAssertFalse(pool.submit(job(5), completion: record, on: executor), "a shut-down pool takes no work")
        pool.shutdown()  // idempotent

        // The completions were posted to the loop; they run when it turns, in order.
        loop.run()
        XCTAssertEqual(completed, [1, 2, 3])
    }

    func testAJobThatWaitedPastTheBoundIsNotRun() throws {
        // The pool's clock is the test's: jobs age by assignment, not by sleeping.
        let now = Locked<UInt64>(0)
        let second: UInt64 = 1_000_000_000
        let pool = try BlockingPool(name: "deadline", threads: 1, queueLimit: 8, maxQueueWait: .seconds(10),
                                    clock: { now.withLock { $0 } })
        XCTAssertEqual(pool.maxQueueWait, .seconds(10))
        let loop = try EventLoop()
        let executor = try LoopExecutor(loop: loop)
        let gate = Gate()
        var outcomes: [String] = []

        let job = gate.job
        let record: (BlockingPool.Outcome<Int>) -> Void = { outcome in
            switch outcome {
            case .finished(let id): outcomes.append("finished \(id)")
            case .expired: outcomes.append("expired")
            }
            if outcomes.count == 4 { executor.close() }
        }

        XCTAssertTrue(pool.submit(job(1), completion: record, on: executor))
        XCTAssertTrue(waitUntil { pool.queuedCount == 0 })  // job 1 holds the only thread
        XCTAssertTrue(pool.submit(job(2), completion: record, on: executor))  // queued at 0 s
        now.withLock { $0 = 5 * second }
        XCTAssertTrue(pool.submit(job(3), completion: record, on: executor))  // queued at 5 s
        now.withLock { $0 = 10 * second }
        XCTAssertTrue(pool.submit(job(4), completion: record, on: executor))  // queued at 10 s
        // Job 2 reaches a thread after 10.5 s of waiting, job 3 after 5.5 s, job 4 after 0.5 s.
        now.withLock { $0 = 10 * second + second / 2 }
        gate.open()
        pool.shutdown()
        XCTAssertEqual(gate.ran, [1, 3, 4], "the expired job must not run")
        loop.run()
        XCTAssertEqual(outcomes, ["finished 1", "expired", "finished 3", "finished 4"])
    }

    func testShutdownWithIdleThreadsReturns() throws {
        let pool = try BlockingPool(name: "idle", threads: 4, queueLimit: 1)
        pool.shutdown()
        XCTAssertEqual(pool.queuedCount, 0)
    }

    func testInvalidSizesAreRefused() {
        XCTAssertThrowsError(try BlockingPool(name: "bad", threads: 0, queueLimit: 1))
        XCTAssertThrowsError(try BlockingPool(name: "bad", threads: 1, queueLimit: 0))
    }
}

/// Jobs that block until the gate opens, and the order in which they ran.
private final class Gate: Sendable {
    private let isOpen = Locked(false)
    private let order = Locked<[Int]>([])

    func open() { isOpen.withLock { $0 = true } }

    var ran: [Int] { order.withLock { $0 } }

    func job(_ id: Int) -> @Sendable () -> Int {
        return { [self] in
            while !isOpen.withLock({ $0 }) { usleep(500) }
            order.withLock { $0.append(id) }
            return id
        }
    }
}

/// A `Mutex` in a class: escaping closures cannot capture a noncopyable local.
private final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { body(&$0) }
    }
}
