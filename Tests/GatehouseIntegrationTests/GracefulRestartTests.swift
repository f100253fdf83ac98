import Foundation
import GatehouseTestSupport
import Testing

/// The documented binary upgrade: start the new process on the same port (SO_REUSEPORT), wait until it
/// listens, SIGTERM the old one (it stops accepting and drains). Clients keep being served throughout.
@Suite("Graceful restart: a new process takes over the port")
struct GracefulRestartTests {
    @Test("start-then-drain: no request fails while the old process hands over to the new one")
    func startThenDrain() throws {
        let echo = try GatehouseProcess.startEcho()
        defer { echo.terminate() }
        let (probe, port) = try LoopbackSocket.bind(listening: nil, name: "takeover port")
        close(probe)
        let directory = NSTemporaryDirectory() + "gh-takeover-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/gatehouse.yaml"
        try TestGateway.simpleConfig(accessLog: "off")
            .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)")
            .replacingOccurrences(of: "@UPSTREAM@", with: "127.0.0.1:\(echo.port)")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let old = try GatehouseProcess(["run", "--config", config])
        defer { old.terminate() }

        // A client sending requests back to back, each on a new connection (every one goes through accept).
        let stop = ConcurrentFlag()
        let results = ConcurrentResults()
        let client = Thread {
            while !stop.isSet {
                let status = (try? RawClient(port: port)).flatMap { c -> Int? in
                    try? c.send("GET /takeover HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    return c.readResponse(timeout: 5)?.status
                } ?? 0
                results.add(status)
            }
        }
        client.start()
        usleep(300_000)
        let new = try GatehouseProcess(["run", "--config", config])
        defer { new.terminate() }
        #expect(old.waitForSignalHandler(SIGTERM))
        old.signal(SIGTERM)
        #expect(old.waitForExit(timeout: 10) == 0)
        usleep(300_000)
        stop.set()
        while !client.isFinished { usleep(10_000) }
        let statuses = results.values
        #expect(statuses.count > 20, "the client made \(statuses.count) requests")
        #expect(statuses.allSatisfy { $0 == 200 }, "failed: \(statuses.filter { $0 != 200 }.count) of \(statuses.count)")
        // The new process serves alone now.
        let after = try RawClient(port: port)
        try after.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(after.readResponse()?.status == 200)
        #expect(new.process.isRunning)
    }
}

final class ConcurrentFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
