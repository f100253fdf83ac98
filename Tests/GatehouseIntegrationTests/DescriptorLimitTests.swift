import Foundation
import GatehouseTestSupport
import Testing

/// The gateway out of file descriptors, and at its own connection limit: it must stay alive and idle, keep its
/// logs short, answer 502 where it cannot reach an upstream, and serve again once connections close.
@Suite("Out of file descriptors: accept backoff, max_connections, 502, logs that never block")
struct DescriptorLimitTests {
    /// One worker (so one loop sees every connection), the admin listener, one catch-all route to the echo;
    /// `limits` lines are indented four spaces (under `server.limits:`), `upstream` lines too (under `app:`).
    static func config(limits: String, upstream: String = "") -> String {
        """
        server:
          listen: ["127.0.0.1:0"]
          workers: 1
          limits:
        \(limits)
        admin:
          listen: "127.0.0.1:0"
        access_log:
          path: stdout
        upstreams:
          app:
            servers: ["@UPSTREAM@"]
        \(upstream)
        routes:
          - name: all
            match: { path_prefix: / }
            upstream: app
            auth: none
        """
    }

    static func metrics(_ gw: TestGateway) throws -> String {
        let port = try #require(gw.gateway.adminPort)
        let client = try RawClient(port: port)
        try client.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return try #require(client.readResponse(timeout: 10)).bodyText
    }

    /// Opens a connection and waits until the gateway has accepted it (its descriptor count went up).
    static func acceptedClient(_ gw: TestGateway, port: UInt16) throws -> RawClient {
        let before = gw.gateway.openDescriptors
        let client = try RawClient(port: port)
        #expect(eventually { gw.gateway.openDescriptors > before }, "the gateway did not accept the connection")
        return client
    }

    @Test("more idle clients than descriptors: alive, idle, a few log lines, 502 without a socket, serves again")
    func outOfDescriptors() throws {
        let gw = try TestGateway(configYAML: Self.config(limits: "    max_connections: 100000"))
        _ = try #require(gw.gateway.adminPort)  // read now: stderr is checked for growth below
        // Connected while descriptors were left; it sends its request once none are.
        let early = try Self.acceptedClient(gw, port: gw.port)
        try gw.gateway.limitDescriptors(to: gw.gateway.openDescriptors + 4)
        var idle: [RawClient] = []
        for _ in 0..<40 { idle.append(try RawClient(port: gw.port)) }
        // 4 are accepted; the others wait in the backlog and every further accept fails with EMFILE.
        let failure = "accept failed: Too many open files"
        #expect(gw.gateway.waitForStderr { $0.contains(failure) }.contains(failure))
        let stderrBefore = gw.gateway.stderr.utf8.count
        usleep(300_000)

        // Idle means idle: before the fix the loop retried the failing accept without pause (one core busy,
        // ~17 MB/s of "Error from accept() call"). A functional spin check, not a performance goal.
        let cpuBefore = try #require(gw.gateway.cpuSeconds)
        let wallBefore = Date()
        usleep(1_000_000)
        let cpuAfter = try #require(gw.gateway.cpuSeconds)
        let share = (cpuAfter - cpuBefore) / Date().timeIntervalSince(wallBefore)
        #expect(share < 0.3, "the gateway used \(Int(share * 100))% of a core while every client was idle")
        let logged = gw.gateway.stderr.utf8.count - stderrBefore
        #expect(logged < 2_000, "\(logged) bytes of log while out of descriptors")

        // No descriptor for an upstream socket: 502 (before the fix, a double free aborted the process).
        try early.send("GET /needs-upstream HTTP/1.1\r\nHost: app\r\n\r\n")
        let refused = early.readResponse(timeout: 10)
        #expect(refused?.status == 502)
        usleep(100_000)
        #expect(gw.gateway.process.isRunning, "the gateway died:\n\(gw.gateway.stderr.suffix(2000))")
        guard gw.gateway.process.isRunning else { return }

        // Descriptors free up: accepting resumes, the backlog drains, new clients are served.
        idle.removeAll()
        var served: Int? = nil
        #expect(eventually(10) {
            served = try? gw.exchange("GET /after HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n", timeout: 2)?.status
            return served == 200
        }, "after the idle clients left: \(served.map(String.init) ?? "no answer")")

        let text = try Self.metrics(gw)
        #expect(AdminOperationsTests.sample(text, "gatehouse_accept_failures_total") >= 1)
        #expect(AdminOperationsTests.sample(text, "gatehouse_upstream_errors_total") >= 1)
        let stderr = gw.gateway.stderr
        let acceptLines = stderr.components(separatedBy: failure).count - 1
        #expect(acceptLines >= 1 && acceptLines <= 2, "accept failures logged \(acceptLines) times:\n\(stderr)")
        #expect(stderr.contains("upstream app: socket() failed: Too many open files: answering 502"))
        #expect(!stderr.contains("Error from accept() call"))
    }

    @Test("at max_connections a worker stops accepting (the admin listener still answers) and resumes on a close")
    func connectionLimit() throws {
        let gw = try TestGateway(configYAML: Self.config(limits: "    max_connections: 2"))
        let request = "GET /x HTTP/1.1\r\nHost: app\r\n\r\n"
        var first: RawClient? = try RawClient(port: gw.port)
        try first?.send(request)
        #expect(first?.readResponse()?.status == 200)
        let second = try RawClient(port: gw.port)
        try second.send(request)
        #expect(second.readResponse()?.status == 200)

        // The third waits in the kernel's backlog: connected, but not accepted, so not answered.
        let third = try RawClient(port: gw.port)
        try third.send(request)
        #expect(third.readResponse(timeout: 1) == nil, "a third connection was served with max_connections: 2")

        let text = try Self.metrics(gw)
        #expect(AdminOperationsTests.sample(text, "gatehouse_accept_limit_pauses_total") >= 1)
        #expect(AdminOperationsTests.sample(text, "gatehouse_active_connections") >= 2)
        #expect(gw.gateway.stderr.contains("server.limits.max_connections is 2 per worker: not accepting until one closes"))

        first = nil  // one closes: the third is accepted and answered
        #expect(third.readResponse(timeout: 10)?.status == 200)
    }

    @Test("max_connections: auto holds what the descriptor limit (soft raised to hard) leaves for clients and upstreams")
    func automaticLimit() throws {
        // Soft 40, hard 50: raised to 50. Reserve 32 + 8 x 1 worker, no idle upstream pool: (50 - 40) / 2 = 5.
        let gw = try TestGateway(configYAML: Self.config(limits: "    max_body: 1MiB", upstream: "    keepalive: 0"),
                                 launcher: ["/usr/bin/prlimit", "--nofile=40:50"])
        #expect(gw.gateway.waitForStderr { $0.contains("connections: at most 5 per worker (file descriptor limit 50)") }
            .contains("connections: at most 5 per worker (file descriptor limit 50)"))
        let request = "GET /x HTTP/1.1\r\nHost: app\r\n\r\n"
        var clients: [RawClient] = []
        for _ in 0..<5 {
            let client = try RawClient(port: gw.port)
            try client.send(request)
            #expect(client.readResponse()?.status == 200)
            clients.append(client)
        }
        let sixth = try RawClient(port: gw.port)
        try sixth.send(request)
        #expect(sixth.readResponse(timeout: 1) == nil, "a sixth connection was served")
        clients.removeFirst()
        #expect(sixth.readResponse(timeout: 10)?.status == 200)
        #expect(!gw.gateway.stderr.contains("accept failed"), "the derived limit let descriptors run out")
    }

    @Test("stderr blocked (nobody reads it): a worker that logs keeps serving")
    func blockedStderrNeverStallsAWorker() throws {
        let gw = try TestGateway(configYAML: Self.config(limits: "    max_connections: 100000"))
        let adminPort = try #require(gw.gateway.adminPort)
        let admin = try Self.acceptedClient(gw, port: adminPort)
        #expect(try gw.exchange("GET /warm HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")?.status == 200)

        // Stop reading the gateway's stderr and fill the pipe: its next write(2) to stderr would block.
        let errPipe = try #require(gw.gateway.process.standardError as? Pipe)
        errPipe.fileHandleForReading.readabilityHandler = nil
        let filler = open("/proc/\(gw.gateway.process.processIdentifier)/fd/2", O_WRONLY | O_NONBLOCK)
        #expect(filler >= 0)
        defer { close(filler) }
        let block = [UInt8](repeating: UInt8(ascii: "."), count: 4096)
        while write(filler, block, block.count) > 0 {}
        #expect(errno == EAGAIN)

        // Make the worker log: accepts failing for lack of descriptors (before the fix libevent wrote each
        // failure to stderr from the worker's loop, which then hung in write(2)).
        try gw.gateway.limitDescriptors(to: gw.gateway.openDescriptors + 1)
        var idle: [RawClient] = []
        for _ in 0..<10 { idle.append(try RawClient(port: gw.port)) }
        usleep(500_000)

        try admin.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(admin.readResponse(timeout: 5)?.status == 200, "the worker stopped answering while stderr was blocked")
        idle.removeAll()
    }
}
