import GatehouseIO
import XCTest

/// Runs `loop` on the calling thread until something calls `loop.stop()`; fails the test (and stops) after
/// `seconds`. Returns false on that timeout.
@discardableResult
func runLoop(_ loop: EventLoop, seconds: Int = 10, file: StaticString = #filePath, line: UInt = #line) -> Bool {
    var timedOut = false
    let watchdog = LoopTimer(loop: loop) {
        timedOut = true
        loop.stop()
    }
    watchdog.schedule(after: .seconds(seconds))
    loop.run()
    watchdog.cancel()
    XCTAssertFalse(timedOut, "the loop did not finish within \(seconds) s", file: file, line: line)
    return !timedOut
}

/// Bytes of a string, for Redis arguments.
func b(_ text: String) -> [UInt8] { Array(text.utf8) }
