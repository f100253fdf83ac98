import Foundation
import GatehouseTestSupport
import Testing

/// Process lifecycle (graceful drain on SIGTERM) and the access log.
@Suite("Lifecycle and access log of the real binary")
struct LifecycleTests {
    /// Tries to connect to 127.0.0.1:`port`; true when the connection was refused.
    static func connectionRefused(port: UInt16) -> Bool {
        do {
            _ = try RawClient(port: port)
            return false
        } catch {
            return true
        }
    }

    @Test("SIGTERM while a slow request is in flight: it completes with 200, new connections are refused, exit 0")
    func gracefulDrain() throws {
        let gw = try TestGateway.simple()
        let port = gw.port
        let slow = try RawClient(port: port)
        let idle = try RawClient(port: port)
        try idle.send("GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(idle.readResponse()?.status == 200)
        try slow.send("GET /__echo/delay/1500 HTTP/1.1\r\nHost: a\r\n\r\n")
        // Signal once the slow request has reached the upstream.
        #expect(gw.echo.waitForStdout { $0.contains("GET /__echo/delay/1500\n") }.contains("/__echo/delay/1500"))
        #expect(gw.gateway.waitForSignalHandler(SIGTERM))
        let signalled = Date()
        gw.gateway.signal(SIGTERM)
        #expect(gw.gateway.waitForStderr { $0.contains("draining") }.contains("draining"))
        // The listeners close at once: new connections are refused while the slow request is still running.
        var refused = false
        while !refused, elapsed(since: signalled) < 1.0 {
            refused = Self.connectionRefused(port: port)
            if !refused { usleep(20_000) }
        }
        #expect(refused, "new connections were still accepted after the drain started")
        #expect(gw.gateway.process.isRunning, "the gateway exited before its in-flight request completed")
        // An idle keep-alive connection is closed at once, without a response.
        #expect(idle.readUntilClose(timeout: 2).isEmpty)
        // The in-flight request completes, told that the connection ends.
        let response = try #require(slow.readResponse(timeout: 5))
        #expect(response.status == 200)
        #expect(response.json?["target"] as? String == "/__echo/delay/1500")
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(elapsed(since: signalled) >= 1.0)
        #expect(slow.waitForClose(timeout: 3))
        // Then the process exits by itself, with status 0.
        let status = gw.gateway.waitForExit(timeout: 5)
        #expect(status == 0, "exit status \(status.map(String.init) ?? "none (still running)")")
        #expect(gw.gateway.process.terminationReason == .exit)
    }

    @Test("drain_timeout cuts a request that runs too long, and the process still exits 0")
    func drainTimeout() throws {
        let gw = try TestGateway.simple(server: "  drain_timeout: 500ms")
        let slow = try RawClient(port: gw.port)
        try slow.send("GET /__echo/delay/5000 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(gw.echo.waitForStdout { $0.contains("/__echo/delay/5000") }.contains("/__echo/delay/5000"))
        #expect(gw.gateway.waitForSignalHandler(SIGTERM))
        let signalled = Date()
        gw.gateway.signal(SIGTERM)
        let status = gw.gateway.waitForExit(timeout: 5)
        #expect(status == 0)
        #expect(elapsed(since: signalled) < 3)
        #expect(slow.readResponse(timeout: 2) == nil)
    }

    @Test("SIGTERM with nothing in flight: exits 0 promptly")
    func idleShutdown() throws {
        let gw = try TestGateway.simple()
        #expect(gw.gateway.waitForSignalHandler(SIGTERM))
        let start = Date()
        gw.gateway.signal(SIGTERM)
        #expect(gw.gateway.waitForExit(timeout: 5) == 0)
        #expect(elapsed(since: start) < 2)
    }

    @Test("SIGTERM as soon as the gateway says it is listening: a graceful exit 0, not death by signal")
    func sigtermRightAfterReadiness() throws {
        // Regression: "listening on" used to be logged, and the sockets to accept, before the signal
        // watchers existed, so a SIGTERM in that window killed the process instead of draining it.
        let config = try CLITests.writeConfig(TestGateway.simpleConfig().replacingOccurrences(of: "@UPSTREAM@", with: "127.0.0.1:9"))
        var killed = 0
        for _ in 0..<10 {
            let end = try signalAsSoonAsListening(["run", "--config", config], signal: SIGTERM)
            if end.reason != .exit || end.status != 0 { killed += 1 }
        }
        #expect(killed == 0, "\(killed) of 10 gateways died by the signal instead of draining")
    }

    @Test("the access log: one JSON line per request on stdout with method, path, status, route, upstream")
    func accessLog() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /logged/a?x=1 HTTP/1.1\r\nHost: app.test\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        try client.send("POST /logged/../b HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11\r\n\r\nhello world")
        #expect(client.readResponse()?.status == 200)
        try client.send("GET /__echo/status/503 HTTP/1.1\r\nHost: app.test\r\n\r\n")
        #expect(client.readResponse()?.status == 503)
        let text = gw.gateway.waitForStdout { $0.split(separator: "\n").count >= 3 }
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "access log: \(text)")
        let entries = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(entries.count == lines.count, "not every line is a JSON object: \(lines)")
        guard entries.count == 3 else { return }
        let upstream = "127.0.0.1:\(gw.echo.port)"
        #expect(entries[0]["method"] as? String == "GET")
        #expect(entries[0]["path"] as? String == "/logged/a")
        #expect(entries[0]["query"] as? String == "?x=1" || entries[0]["query"] as? String == "x=1")
        #expect(entries[0]["status"] as? Int == 200)
        #expect(entries[0]["route"] as? String == "all")
        #expect(entries[0]["upstream"] as? String == upstream)
        #expect(entries[0]["client"] as? String == "127.0.0.1")
        #expect(entries[0]["host"] as? String == "app.test")
        // The logged path is the normalised one, the same the upstream received.
        #expect(entries[1]["method"] as? String == "POST")
        #expect(entries[1]["path"] as? String == "/b")
        #expect(entries[1]["status"] as? Int == 200)
        #expect(entries[2]["status"] as? Int == 503)
        for entry in entries {
            #expect(entry["time"] is String)
            #expect(entry["duration_ms"] is NSNumber)
            #expect(entry["bytes_in"] is NSNumber)
            #expect(entry["bytes_out"] is NSNumber)
        }
    }

    @Test("the access log records local answers and refusals too")
    func accessLogRefusals() throws {
        let gw = try TestGateway(configYAML: TestGateway.simpleConfig(
            routes: "  - name: api\n    match: { path_prefix: /api }\n    upstream: app\n    auth: none"))
        #expect(try gw.exchange("GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")?.status == 404)
        #expect(try gw.exchange("GET /bad HTTP/1.1\nHost: a\n\n")?.status == 400)
        let text = gw.gateway.waitForStdout { $0.split(separator: "\n").count >= 2 }
        let entries = text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        #expect(entries.count == 2, "access log: \(text)")
        let notFound = entries.first { $0["status"] as? Int == 404 }
        #expect(notFound?["path"] as? String == "/nothing")
        #expect(notFound?["route"] == nil)
        let refused = entries.first { $0["status"] as? Int == 400 }
        #expect(refused?["error"] as? String == "bare-lf")
    }
}
