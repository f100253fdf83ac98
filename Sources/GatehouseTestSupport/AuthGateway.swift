import Foundation

/// A directory of key material for one auth test (PEM files, JWKS, secrets), removed when released.
package final class AuthKeyDirectory: @unchecked Sendable {
    // `@unchecked`: immutable after init.
    package let path: String

    package init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-auth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `name` in the directory; returns the full path.
    @discardableResult
    package func write(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A real gateway and echo upstream for the auth tests, with the key files its config names.
///
/// The config may say `@KEYS@` for the key directory (`pem_file: @KEYS@/rs256.pem`) and `@UPSTREAM@` for the
/// echo upstream. The access log goes to the gateway's stdout, so a test can read the refusal reason the
/// gateway recorded (`"error":"expired"`).
package final class AuthGateway: @unchecked Sendable {
    // `@unchecked`: immutable after init.
    package let keys: AuthKeyDirectory
    package let gateway: TestGateway

    /// - Parameters:
    ///   - configYAML: a whole config (see ``AuthConfig/yaml(tokens:routes:top:server:)``).
    ///   - files: key files to write first, name → contents.
    ///   - environment: extra environment of the gateway process (`secret_env`).
    package init(_ configYAML: String, files: [String: String] = [:], environment: [String: String] = [:]) throws {
        keys = try AuthKeyDirectory()
        for (name, contents) in files { try keys.write(name, contents) }
        gateway = try TestGateway(configYAML: configYAML.replacingOccurrences(of: "@KEYS@", with: keys.path),
                                  environment: environment)
    }

    package var port: UInt16 { gateway.port }

    /// Sends `request` on a fresh connection and reads one response (nil when none came in `timeout`).
    package func send(_ request: String, timeout: Double = 10, headRequest: Bool = false) throws -> RawResponse? {
        let client: RawClient
        do {
            client = try RawClient(port: port)
        } catch {
            throw TestFailure("\(error)\n\(diagnostics)")
        }
        try client.send(request)
        return client.readResponse(timeout: timeout, headRequest: headRequest)
    }

    /// Rewrites the config (`@KEYS@` and `@UPSTREAM@` filled in), sends SIGHUP and waits until the gateway
    /// logged the reload. Workers install the new snapshot shortly after: callers poll for its effect.
    package func reload(_ configYAML: String, timeout: Double = 10) throws {
        let before = gateway.gateway.stderr.components(separatedBy: "reloaded ").count
        try gateway.rewriteConfig(configYAML.replacingOccurrences(of: "@KEYS@", with: keys.path))
        gateway.gateway.signal(SIGHUP)
        let deadline = Date().addingTimeInterval(timeout)
        while gateway.gateway.stderr.components(separatedBy: "reloaded ").count == before {
            if gateway.gateway.stderr.contains("reload refused") || Date() > deadline {
                throw TestFailure("the gateway did not reload:\n\(gateway.gateway.stderr)")
            }
            usleep(20_000)
        }
    }

    /// Both processes' ports and stderr, for failure messages.
    package var diagnostics: String {
        "gateway port \(gateway.port) pid \(gateway.gateway.process.processIdentifier) running \(gateway.gateway.process.isRunning); "
            + "echo port \(gateway.echo.port) running \(gateway.echo.process.isRunning)\n"
            + "gateway stderr:\n\(gateway.gateway.stderr)\necho stderr:\n\(gateway.echo.stderr)"
    }

    /// `GET path` with `Host: app.test`, the given extra header lines (each without CRLF), `Connection: close`.
    package func get(_ path: String, _ headers: [String] = [], method: String = "GET") throws -> RawResponse? {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: app.test\r\n"
        for header in headers { text += header + "\r\n" }
        return try send(text + "Connection: close\r\n\r\n")
    }

    /// `GET path` with `Authorization: Bearer token`.
    package func get(_ path: String, bearer token: String, _ headers: [String] = []) throws -> RawResponse? {
        try get(path, ["Authorization: Bearer \(token)"] + headers)
    }

    /// The access-log line the gateway wrote for `path` (waits up to `timeout` for the 200 ms log flush).
    package func accessLogLine(path: String, timeout: Double = 5) -> String? {
        let needle = "\"path\":\"\(path)\""
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let line = gateway.gateway.stdout.split(separator: "\n").first(where: { $0.contains(needle) }) {
                return String(line)
            }
            usleep(20_000)
        } while Date() < deadline
        return nil
    }

    /// Every request line ("METHOD target") the echo upstream logged, after proving the log is up to date with
    /// a probe through the public `/__probe` route that ``AuthConfig`` always adds.
    package func upstreamRequests() throws -> [String] {
        let probe = "/__probe/\(UUID().uuidString)"
        guard let response = try get(probe), response.status == 200 else {
            throw TestFailure("the probe request did not go through")
        }
        let deadline = Date().addingTimeInterval(5)
        var log = gateway.echo.stdout
        while !log.contains("GET \(probe)\n"), Date() < deadline {
            usleep(10_000)
            log = gateway.echo.stdout
        }
        guard log.contains("GET \(probe)\n") else { throw TestFailure("the echo never logged the probe") }
        return log.split(separator: "\n").map(String.init).filter { !$0.contains("/__probe/") }
    }
}

/// Configs for the auth tests.
package enum AuthConfig {
    /// A whole config: two workers, access log on stdout, one echo upstream `app`, the given `tokens` section
    /// (YAML text at column 0, or empty), `top` (more top-level sections such as `identity_headers`, `login`),
    /// a public `/__probe` route first and then `routes` (list items indented two spaces).
    package static func yaml(tokens: String, routes: String, top: String = "", server: String = "") -> String {
        """
        server:
          listen: ["127.0.0.1:0"]
          workers: 2
        \(server)
        access_log:
          path: stdout
        upstreams:
          app:
            servers: ["@UPSTREAM@"]
        \(tokens)
        \(top)
        routes:
          - name: probe
            match: { path_prefix: /__probe }
            upstream: app
            auth: none
        \(routes)
        """
    }

    /// A `tokens` section with one issuer (`TokenMinter.issuer`, audience `TokenMinter.audience`) and the given
    /// key entries (flow mappings such as `{ pem_file: @KEYS@/k.pem }`), plus optional section-level lines.
    package static func tokens(keys: [String], settings: String = "", issuer: String = TokenMinter.issuer,
                               moreIssuers: String = "") -> String {
        var text = "tokens:\n"
        for line in settings.split(separator: "\n") { text += "  \(line)\n" }
        text += "  issuers:\n    - issuer: \"\(issuer)\"\n      audiences: [\"\(TokenMinter.audience)\"]\n      keys:\n"
        for key in keys { text += "        - \(key)\n" }
        for line in moreIssuers.split(separator: "\n") { text += "    \(line)\n" }
        return text
    }

    /// One route list item: `name`, `path_prefix`, then extra route lines (indented by this function).
    package static func route(_ name: String, prefix: String, _ lines: String = "accept: [bearer]") -> String {
        var text = "  - name: \(name)\n    match: { path_prefix: \(prefix) }\n    upstream: app\n"
        for line in lines.split(separator: "\n") { text += "    \(line)\n" }
        return text
    }
}

/// A `gatehouse` command that runs to completion (`explain`, `check-config`), its output read after it exits.
package struct AuthCommandResult {
    package var status: Int32
    package var stdout: String
    package var stderr: String

    /// Runs `gatehouse <arguments>` with `GatehouseProcess(waitForListening: false)` and waits for it to exit.
    package static func run(_ arguments: [String], environment: [String: String] = [:],
                            timeout: Double = 30) throws -> AuthCommandResult {
        let process = try GatehouseProcess(arguments, environment: environment, waitForListening: false)
        guard let status = process.waitForExit(timeout: timeout) else {
            process.terminate()
            throw TestFailure("gatehouse \(arguments.first ?? "") did not finish within \(timeout)s")
        }
        // The pipes are drained by readability handlers on another thread: wait until the output stops growing.
        var last = (process.stdout, process.stderr)
        var stableRounds = 0
        let deadline = Date().addingTimeInterval(3)
        while stableRounds < 5, Date() < deadline {
            usleep(20_000)
            let now = (process.stdout, process.stderr)
            if now == last { stableRounds += 1 } else { stableRounds = 0 }
            last = now
        }
        return AuthCommandResult(status: status, stdout: last.0, stderr: last.1)
    }
}
