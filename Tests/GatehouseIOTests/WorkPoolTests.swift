import GatehouseIO
import Glibc
import Synchronization
import XCTest

/// The one way work leaves a loop: `BlockingPool` (a one-thread pool as a serial lane), results posted back
/// through the loop's `LoopExecutor`; `ConditionLock` for a worker that waits; `HostResolver` on top.
final class WorkPoolTests: XCTestCase {
    func testAOneThreadPoolIsASerialLaneAndResultsArriveOnTheLoopThread() throws {
        let pool = try BlockingPool.serialLane(name: "lane", queueLimit: 1_000)
        defer { pool.shutdown() }
        let loop = try EventLoop()
        let executor = try LoopExecutor(loop: loop)
        let ranInOrder = Mutex<[Int]>([])
        let loopThread = pthread_self()
        var completed: [Int] = []
        var offLoop = 0
        var onOtherThreads = 0
        for index in 0..<300 {
            XCTAssertTrue(pool.submit({ () -> Int in
                ranInOrder.withLock { $0.append(index) }
                return pthread_equal(pthread_self(), loopThread) != 0 ? -1 : index
            }, completion: { outcome in
                guard case .finished(let value) = outcome else { return XCTFail("no job expires here") }
                if value < 0 { offLoop += 1 }
                if pthread_equal(pthread_self(), loopThread) == 0 { onOtherThreads += 1 }
                completed.append(value)
                if completed.count == 300 { loop.stop() }
            }, on: executor))
        }
        runLoop(loop)
        executor.close()
        XCTAssertEqual(ranInOrder.withLock { $0 }, Array(0..<300), "jobs ran one after the other, in order")
        XCTAssertEqual(completed, Array(0..<300), "results came back in order")
        XCTAssertEqual(offLoop, 0, "no job ran on the loop thread")
        XCTAssertEqual(onOtherThreads, 0, "every completion ran on the loop thread")
    }

    func testShutdownDrainsWhatIsQueuedAndThenRefuses() throws {
        let pool = try BlockingPool(name: "drain", threads: 2, queueLimit: 100)
        let ran = Atomic<Int>(0)
        for _ in 0..<40 {
            XCTAssertTrue(pool.execute {
                Clocks.sleep(for: .milliseconds(2))
                ran.add(1, ordering: .relaxed)
            })
        }
        pool.shutdown()
        XCTAssertEqual(ran.load(ordering: .relaxed), 40, "shutdown returned only after every queued job ran")
        XCTAssertFalse(pool.execute {}, "a shut-down pool takes no more work")
        XCTAssertEqual(pool.queuedCount, 0)
        pool.shutdown()
    }

    func testTheQueueLimitRefusesAtOnce() throws {
        let pool = try BlockingPool(name: "limit", threads: 1, queueLimit: 2)
        let gate = ConditionLock(false)
        XCTAssertTrue(pool.execute { gate.withLock(when: { $0 }) { _ in } })
        // Wait until the thread holds the first job, so the next two are the ones waiting.
        while pool.queuedCount > 0 { Clocks.sleep(for: .milliseconds(1)) }
        XCTAssertTrue(pool.execute {})
        XCTAssertTrue(pool.execute {})
        XCTAssertEqual(pool.queuedCount, 2)
        XCTAssertFalse(pool.execute {}, "a third waiting job is refused")
        gate.withLockWakingWaiters { $0 = true }
        pool.shutdown()
    }

    func testAConditionWaitEndsOnTheChangeOrOnTheTimeout() throws {
        let lock = ConditionLock(0)
        let started = Clocks.monotonicNanoseconds()
        let timedOut = lock.withLock(when: { $0 > 0 }, timeout: .milliseconds(50)) { $0 }
        let waited = Clocks.monotonicNanoseconds() - started
        XCTAssertEqual(timedOut, 0)
        XCTAssertGreaterThanOrEqual(waited, 45_000_000)
        XCTAssertLessThan(waited, 5_000_000_000)

        let setter = try LoopThread(name: "setter") {
            Clocks.sleep(for: .milliseconds(20))
            lock.withLockWakingWaiters { $0 = 7 }
        }
        let seen = lock.withLock(when: { $0 > 0 }, timeout: .seconds(10)) { $0 }
        setter.join()
        XCTAssertEqual(seen, 7)
    }

    func testHostResolverAnswersOnTheLoop() throws {
        XCTAssertEqual(HostResolver.numericAddress("127.0.0.1"), "127.0.0.1")
        XCTAssertEqual(HostResolver.numericAddress("::1"), "::1")
        XCTAssertNil(HostResolver.numericAddress("localhost"))
        XCTAssertNil(HostResolver.numericAddress("1.2.3"))
        let loop = try EventLoop()
        let executor = try LoopExecutor(loop: loop)
        let loopThread = pthread_self()
        var answers: [String: HostResolver.Answer] = [:]
        var offLoop = false
        for host in ["localhost", "name.invalid"] {
            HostResolver.resolve(host, on: executor) { answer in
                if pthread_equal(pthread_self(), loopThread) == 0 { offLoop = true }
                answers[host] = answer
                if answers.count == 2 { loop.stop() }
            }
        }
        runLoop(loop, seconds: 30)
        executor.close()
        XCTAssertFalse(offLoop)
        guard case .address(let address) = answers["localhost"] else {
            return XCTFail("localhost: \(String(describing: answers["localhost"]))")
        }
        XCTAssertTrue(["127.0.0.1", "::1"].contains(address), address)
        guard case .failed = answers["name.invalid"] else {
            return XCTFail("name.invalid: \(String(describing: answers["name.invalid"]))")
        }
    }
}
