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

    @Test("check-config refuses small-order Ed25519 keys in a JWKS and a PEM, with file:line of the key entry")
    func checkConfigRefusesSmallOrderEd25519Keys() throws {
        let path = try Self.writeConfig(Self.goodConfig, name: "unused.yaml")
        let directory = (path as NSString).deletingLastPathComponent
        // The identity point as a JWK; an order-8 point as an SPKI PEM.
        let identity = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        try #"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"zero","x":"\#(identity)"}]}"#
            .write(toFile: directory + "/jwks.json", atomically: true, encoding: .utf8)
        let der: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00,
                            0x26, 0xE8, 0x95, 0x8F, 0xC2, 0xB2, 0x27, 0xB0, 0x45, 0xC3, 0xF4, 0x89, 0xF2, 0xEF, 0x98, 0xF0,
                            0xD5, 0xDF, 0xAC, 0x05, 0xD3, 0xC6, 0x33, 0x39, 0xB1, 0x38, 0x02, 0x88, 0x6D, 0x53, 0xFC, 0x05]
        try ("-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString() + "\n-----END PUBLIC KEY-----\n")
            .write(toFile: directory + "/order8.pem", atomically: true, encoding: .utf8)
        for (line, key) in [(11, "{ jwks_file: \(directory)/jwks.json }"), (11, "{ pem_file: \(directory)/order8.pem }")] {
            let config = try Self.writeConfig("""
                upstreams:
                  app:
                    servers: ["127.0.0.1:9000"]
                routes:
                  - { name: all, upstream: app, auth: required, accept: [bearer] }
                tokens:
                  issuers:
                    - issuer: "https://idp.example"
                      audiences: [app]
                      keys:
                        - \(key)
                """, name: "weak.yaml")
            let result = try runGatehouse(["check-config", "--config", config])
            #expect(result.status != 0)
            #expect(result.stderr.contains("\(config):\(line):"), "stderr: \(result.stderr)")
            #expect(result.stderr.contains("small-order point"), "stderr: \(result.stderr)")
        }
    }

    @Test("check-config warns, with file:line and the user, about a hash so slow that sign-ins queue; exit 0")
    func checkConfigWarnsAboutExpensiveHashes() throws {
        let path = try Self.writeConfig(Self.goodConfig, name: "unused.yaml")
        let directory = (path as NSString).deletingLastPathComponent
        let salt = String(repeating: ".", count: 22) + String(repeating: "a", count: 31)  // a canonical salt
        let usersPath = directory + "/users.yaml"
        try """
            users:
              alice:
                password: "$2y$12$\(salt)"
              bob:
                password: "$2y$13$\(salt)"
            """.write(toFile: usersPath, atomically: true, encoding: .utf8)
        for (threads, warned) in [(2, true), (4, false)] {
            let config = try Self.writeConfig("""
                upstreams:
                  app:
                    servers: ["127.0.0.1:9000"]
                login:
                  users_file: "\(usersPath)"
                  hash_threads: \(threads)
                sessions:
                  embedded: { path: "\(directory)/sessions.sqlite" }
                routes:
                  - { name: all, upstream: app, accept: [session] }
                """, name: "signin.yaml")
            let result = try runGatehouse(["check-config", "--config", config])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout.contains("\(config): ok"))
            let warning = "\(usersPath):4: warning: users.bob.password: bcrypt cost 13"
            #expect(result.stderr.contains(warning) == warned, "hash_threads \(threads): \(result.stderr)")
            #expect(!result.stderr.contains("users.alice"), "cost 12 keeps up: \(result.stderr)")
        }
    }

    @Test("hash-password refuses a bcrypt hash of more than 72 bytes (bcrypt would read only 72); yescrypt takes it")
    func hashPasswordRefusesLongBcryptPasswords() throws {
        let long = Array(String(repeating: "p", count: 73).utf8) + [UInt8(ascii: "\n")]
        let refused = try runTool(GatehouseProcess.binaryPath, ["hash-password", "--cost", "4"], input: long)
        #expect(refused.status == 1)
        #expect(refused.output.isEmpty, "no hash printed: \(refused.output)")
        let exact = try runTool(GatehouseProcess.binaryPath, ["hash-password", "--cost", "4"], input: Array(long.dropFirst()))
        #expect(exact.status == 0 && exact.output.hasPrefix("$2b$04$"), "72 bytes: \(exact.output)")
        let yescrypt = try runTool(GatehouseProcess.binaryPath, ["hash-password", "--scheme", "yescrypt"], input: long)
        #expect(yescrypt.status == 0 && yescrypt.output.hasPrefix("$y$"), "\(yescrypt.output)")
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
