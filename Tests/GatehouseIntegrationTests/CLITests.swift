import Foundation
import GatehouseTestSupport
import Testing

/// The command line: `check-config`, and `echo` on an ephemeral port.
@Suite("The gatehouse command line")
struct CLITests {
    /// Writes `text` to a new file in a fresh temporary directory; returns its path.
    static func writeConfig(_ text: String, name: String = "gatehouse.yaml") throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let goodConfig = """
        server:
          listen: ["127.0.0.1:0"]
        upstreams:
          app:
            servers: ["127.0.0.1:9000"]
        routes:
          - name: all
            upstream: app
            auth: none
        """

    @Test("check-config on an unknown key: non-zero exit, `file:line: key: message` with a suggestion")
    func checkConfigUnknownKey() throws {
        let path = try Self.writeConfig("""
            server:
              listen: ["127.0.0.1:0"]
              listn: 127.0.0.1:8080
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:
              - name: all
                upstream: app
                auth: none
            """, name: "bad.yaml")
        let result = try runGatehouse(["check-config", "--config", path])
        #expect(result.status != 0)
        let output = result.stderr + result.stdout
        #expect(output.contains("\(path):3: server.listn: unknown key"), "output: \(output)")
        #expect(output.contains("did you mean \"listen\""), "output: \(output)")
        #expect(!result.stdout.contains(": ok"))
    }

    @Test("check-config reports every problem at once, in file order")
    func checkConfigSeveralErrors() throws {
        let path = try Self.writeConfig("""
            server:
              workers: many
              limits:
                header_timeout: 10
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:
              - name: all
                upstream: ap
                auth: none
            """, name: "bad.yaml")
        let result = try runGatehouse(["check-config", "--config", path])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix(path + ":") }
        #expect(lines.count == 3, "stderr: \(result.stderr)")
        let numbers = lines.compactMap { Int($0.dropFirst(path.count + 1).prefix { $0.isNumber }) }
        #expect(numbers == [2, 4, 10], "lines: \(lines)")
        #expect(lines.last?.contains("routes[0].upstream") == true)
    }

    @Test("check-config on a good file prints ok and exits 0")
    func checkConfigGood() throws {
        let path = try Self.writeConfig(Self.goodConfig)
        let result = try runGatehouse(["check-config", "--config", path])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("\(path): ok"))
    }

    @Test("check-config on a missing file: non-zero exit and a message naming the file")
    func checkConfigMissingFile() throws {
        let path = "/nonexistent-\(UUID().uuidString)/gatehouse.yaml"
        let result = try runGatehouse(["check-config", "--config", path])
        #expect(result.status != 0)
        #expect(result.stderr.contains(path))
    }

    @Test("run with a bad config refuses to start: non-zero exit, the same file:line errors")
    func runRefusesBadConfig() throws {
        let path = try Self.writeConfig("""
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:
              - name: all
                upstream: app
                auth: none
                colour: blue
            """, name: "bad.yaml")
        let result = try runGatehouse(["run", "--config", path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(path):8: routes[0].colour: unknown key"), "stderr: \(result.stderr)")
    }

    @Test("echo --listen 127.0.0.1:0 starts on an ephemeral port")
    func echoOnPortZero() throws {
        let echo = try GatehouseProcess(["echo", "--listen", "127.0.0.1:0"], timeout: 10)
        #expect(echo.port != 0)
        let response = try #require(try RawClient(port: echo.port).sendAndRead("GET /hi HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(response.json?["target"] as? String == "/hi")
    }

    @Test("echo refuses an address that is not numeric host:port")
    func echoBadAddress() throws {
        let result = try runGatehouse(["echo", "--listen", "localhost:http"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("localhost:http"))
    }
}

extension RawClient {
    /// Sends `request` and reads one response.
    func sendAndRead(_ request: String, timeout: Double = 10) throws -> RawResponse? {
        try send(request)
        return readResponse(timeout: timeout)
    }
}
