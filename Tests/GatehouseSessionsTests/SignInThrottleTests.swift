import Dispatch
import XCTest

@testable import GatehouseSessions

final class SignInThrottleTests: XCTestCase {
    func testAddressLimitCoversEveryUserName() {
        let throttle = SignInThrottle(maxFailures: 3, window: 60)
        for user in ["a", "b", "c"] {
            XCTAssertNil(throttle.retryAfter(address: "10.0.0.1", user: user, now: 100))
            throttle.recordFailure(address: "10.0.0.1", user: user, now: 100)
        }
        XCTAssertEqual(throttle.retryAfter(address: "10.0.0.1", user: "d", now: 100), 60)
        XCTAssertNil(throttle.retryAfter(address: "10.0.0.2", user: "d", now: 100))
        XCTAssertNil(throttle.retryAfter(address: "10.0.0.2", user: "a", now: 100))  // each user failed once
    }

    func testUserLimitCoversEveryAddress() {
        let throttle = SignInThrottle(maxFailures: 3, window: 60)
        for address in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            throttle.recordFailure(address: address, user: "alice", now: 100)
        }
        XCTAssertEqual(throttle.retryAfter(address: "10.9.9.9", user: "alice", now: 110), 50)
        XCTAssertNil(throttle.retryAfter(address: "10.9.9.9", user: "bob", now: 110))
        XCTAssertNil(throttle.retryAfter(address: "10.0.0.1", user: "bob", now: 110))
    }

    func testFailuresAgeOutOfTheWindow() {
        let throttle = SignInThrottle(maxFailures: 3, window: 60)
        for now: Int64 in [100, 110, 120] {
            throttle.recordFailure(address: "a", user: "u", now: now)
        }
        XCTAssertEqual(throttle.retryAfter(address: "a", user: "u", now: 130), 30)
        XCTAssertEqual(throttle.retryAfter(address: "a", user: "u", now: 159), 1)
        XCTAssertNil(throttle.retryAfter(address: "a", user: "u", now: 160))
        // One more failure: the three latest are 110, 120, 160, so blocked until 170.
        throttle.recordFailure(address: "a", user: "u", now: 160)
        XCTAssertEqual(throttle.retryAfter(address: "a", user: "u", now: 160), 10)
    }

    func testTheLongerWaitWins() {
        let throttle = SignInThrottle(maxFailures: 2, window: 100)
        throttle.recordFailure(address: "a", user: "u", now: 0)
        throttle.recordFailure(address: "b", user: "u", now: 50)
        throttle.recordFailure(address: "a", user: "v", now: 60)
        // User u blocked until 100, address a until 100 as well; after new failures of a, a's wait grows.
        XCTAssertEqual(throttle.retryAfter(address: "a", user: "u", now: 60), 40)
        throttle.recordFailure(address: "a", user: "w", now: 90)
        XCTAssertEqual(throttle.retryAfter(address: "a", user: "u", now: 95), 65)  // a: 60, 90 -> until 160
        XCTAssertEqual(throttle.retryAfter(address: "c", user: "u", now: 95), 5)
    }

    func testSuccessClearsTheUserButNotTheAddress() {
        let throttle = SignInThrottle(maxFailures: 3, window: 60)
        for user in ["alice", "alice", "alice"] {
            throttle.recordFailure(address: "10.0.0.1", user: user, now: 100)
        }
        throttle.recordSuccess(address: "10.0.0.2", user: "alice")
        XCTAssertNil(throttle.retryAfter(address: "10.0.0.2", user: "alice", now: 101))
        XCTAssertNotNil(throttle.retryAfter(address: "10.0.0.1", user: "alice", now: 101))
        XCTAssertNotNil(throttle.retryAfter(address: "10.0.0.1", user: "bob", now: 101))
    }

    func testZeroFailuresTurnsTheThrottleOff() {
        let throttle = SignInThrottle(maxFailures: 0, window: 60)
        for _ in 0..<100 {
            throttle.recordFailure(address: "a", user: "u", now: 1)
        }
        XCTAssertNil(throttle.retryAfter(address: "a", user: "u", now: 1))
        XCTAssertEqual(throttle.trackedCount, 0)
    }

    func testMemoryIsBoundedAndTheStalestGoFirst() {
        let throttle = SignInThrottle(maxFailures: 1, window: 1_000_000, maxTracked: 100)
        for index in 0..<1_000 {
            throttle.recordFailure(address: "10.0.0.1", user: "user\(index)", now: Int64(index))
            XCTAssertLessThanOrEqual(throttle.trackedCount, 100)
        }
        XCTAssertNotNil(throttle.retryAfter(address: "other", user: "user999", now: 1_000))
        XCTAssertNil(throttle.retryAfter(address: "other", user: "user0", now: 1_000))
        // The address fails on every call, so it is never the stalest.
        XCTAssertNotNil(throttle.retryAfter(address: "10.0.0.1", user: "new", now: 1_000))
    }

    func testExpiredKeysAreDroppedBeforeLiveOnes() {
        let throttle = SignInThrottle(maxFailures: 1, window: 10, maxTracked: 10)
        for index in 0..<4 {
            throttle.recordFailure(address: "old\(index)", user: "old-user\(index)", now: 0)
        }
        throttle.recordFailure(address: "live", user: "live-user", now: 95)
        for index in 0..<4 {
            throttle.recordFailure(address: "new\(index)", user: "new-user\(index)", now: 100)
        }
        XCTAssertLessThanOrEqual(throttle.trackedCount, 10)
        XCTAssertNotNil(throttle.retryAfter(address: "x", user: "live-user", now: 100))
        XCTAssertNotNil(throttle.retryAfter(address: "live", user: "x", now: 100))
    }

    func testHugeKeysAreBounded() {
        let throttle = SignInThrottle(maxFailures: 1, window: 60)
        let long = String(repeating: "x", count: 10_000)
        throttle.recordFailure(address: "a", user: long, now: 0)
        XCTAssertNotNil(throttle.retryAfter(address: "b", user: long, now: 1))
        // Names sharing the first 256 bytes share a counter: errs on the blocking side.
        XCTAssertNotNil(throttle.retryAfter(address: "b", user: long + "y", now: 1))
        XCTAssertNil(throttle.retryAfter(address: "b", user: String(long.prefix(255)), now: 1))
    }

    func testConcurrentUseIsSafe() {
        let throttle = SignInThrottle(maxFailures: 1_000_000, window: 60, maxTracked: 500)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<2_000 {
                throttle.recordFailure(address: "w\(worker)", user: "u\(index % 700)", now: Int64(index))
                _ = throttle.retryAfter(address: "w\(worker)", user: "u\(index)", now: Int64(index))
                if index % 10 == 0 { throttle.recordSuccess(address: "w\(worker)", user: "u\(index % 700)") }
            }
        }
        XCTAssertLessThanOrEqual(throttle.trackedCount, 500)
    }
}
