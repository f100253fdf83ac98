import Foundation
import GatehouseTestSupport
import Testing

// Shared assertions of the integration suites. Every test starts its own gateway and echo upstream(s) on
// ephemeral ports, so tests may run in parallel.

/// The SHA-256 of the bytes "hello world" (`printf 'hello world' | sha256sum`).
let helloWorldSHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
/// The SHA-256 of no bytes.
let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

extension TestGateway {
    /// A gateway with one echo upstream and one catch-all route; `server` lines are indented two spaces
    /// (they go under `server:`), `upstream` lines four (under `upstreams.app:`).
    static func simple(server: String = "", upstream: String = "") throws -> TestGateway {
        try TestGateway(configYAML: TestGateway.simpleConfig(server: server, upstream: upstream))
    }

    /// Sends one request on a fresh connection and returns the response (nil when none came).
    func exchange(_ request: String, timeout: Double = 10, headRequest: Bool = false) throws -> RawResponse? {
        let client = try RawClient(port: port)
        try client.send(request)
        return client.readResponse(timeout: timeout, headRequest: headRequest)
    }

    /// Proves the echo log is up to date (a probe request went through and was logged), then returns every
    /// request line the first echo upstream received, without the probes.
    /// - Parameters:
    ///   - under: a path prefix and `host` a Host that route to the first echo (for configs without a catch-all).
    func upstreamRequestLines(under prefix: String = "", host: String = "probe",
                              sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let probe = "\(prefix)/__probe-\(UUID().uuidString)"
        let response = try exchange("GET \(probe) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
        #expect(response?.status == 200, "the probe request after the test did not go through",
                sourceLocation: sourceLocation)
        let log = echo.waitForStdout { $0.contains("GET \(probe)\n") }
        #expect(log.contains("GET \(probe)\n"), "the echo never logged the probe", sourceLocation: sourceLocation)
        return log.split(separator: "\n").map(String.init).filter { !$0.contains("/__probe-") }
    }

    /// Which echo (index into `echoes`) logged "METHOD target"; nil when none did within `timeout`.
    func answeringEcho(_ requestLine: String, timeout: Double = 5) -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            for (index, echo) in echoes.enumerated() where echo.stdoutLines.contains(requestLine) { return index }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }
}

/// Sends `request` raw on a fresh connection and checks the whole refusal: the status, that the gateway
/// closed the connection, and that the echo upstream received nothing at all (no part of this request, and
/// nothing smuggled after it).
func expectRefused(_ gw: TestGateway, _ request: String, status: Int,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
    try expectRefused(gw, Array(request.utf8), status: status, sourceLocation: sourceLocation)
}

func expectRefused(_ gw: TestGateway, _ request: [UInt8], status: Int,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
    let client = try RawClient(port: gw.port)
    try client.send(request)
    let response = client.readResponse(timeout: 5)
    #expect(response?.status == status, "expected \(status), got \(response.map { "\($0.status)" } ?? "no response")",
            sourceLocation: sourceLocation)
    #expect(response?.header("connection")?.lowercased() == "close", sourceLocation: sourceLocation)
    #expect(client.waitForClose(timeout: 5), "the gateway kept the connection open after refusing",
            sourceLocation: sourceLocation)
    let seen = try gw.upstreamRequestLines(sourceLocation: sourceLocation)
    #expect(seen == [], "the upstream received: \(seen)", sourceLocation: sourceLocation)
}

/// The value of the first echoed header called `name` (exact case).
func echoed(_ response: RawResponse, _ name: String) -> String? {
    response.echoedHeaders.first { $0.0 == name }?.1
}

/// Seconds since `start`.
func elapsed(since start: Date) -> Double { Date().timeIntervalSince(start) }
