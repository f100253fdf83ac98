package import Foundation

/// A real gateway in front of a real echo upstream, both on ephemeral loopback ports, with a config file
/// written for the test. Stops both when released.
package final class TestGateway: @unchecked Sendable {
    // `@unchecked`: immutable after init except for the processes, which are themselves thread-safe.
    package let echo: GatehouseProcess
    /// The echo upstreams started for `extraUpstreams`; the first one replaces `@UPSTREAM2@`, the next
    /// `@UPSTREAM3@`, and so on.
    package let extraEchoes: [GatehouseProcess]
    package private(set) var gateway: GatehouseProcess
    package let directory: URL
    package let configPath: String
    private let environment: [String: String]
    private let launcher: [String]

    /// Starts an echo upstream and a gateway whose config is `configYAML` with `@UPSTREAM@` replaced by the
    /// echo's address (a config with `{...}` pieces the test fills in itself is fine too).
    /// - Parameters:
    ///   - configYAML: full YAML; `listen` should be `127.0.0.1:0`.
    ///   - extraUpstreams: how many more echo upstreams to start, reachable as `@UPSTREAM2@`, `@UPSTREAM3@`, ...
    ///   - launcher: runs the gateway binary (see `GatehouseProcess.init`), e.g. under `prlimit`.
    package init(configYAML: String, extraUpstreams: Int = 0, environment: [String: String] = [:],
                 launcher: [String] = []) throws {
        self.environment = environment
        self.launcher = launcher
        echo = try GatehouseProcess.startEcho()
        extraEchoes = try (0..<extraUpstreams).map { _ in try GatehouseProcess.startEcho() }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        configPath = directory.appendingPathComponent("gatehouse.yaml").path
        let yaml = Self.substitute(configYAML, echoPorts: ([echo] + extraEchoes).map(\.port))
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        gateway = try GatehouseProcess(["run", "--config", configPath], environment: environment, launcher: launcher)
    }

    /// The gateway's port.
    package var port: UInt16 { gateway.port }

    /// A minimal config: one upstream (the echo server), one route for everything, given server settings.
    package static func simpleConfig(server: String = "", upstream: String = "", routes: String? = nil,
                                     accessLog: String = "stdout") -> String {
        """
        server:
          listen: ["127.0.0.1:0"]
          workers: 2
        \(server)
        access_log:
          path: \(accessLog)
        upstreams:
          app:
            servers: ["@UPSTREAM@"]
        \(upstream)
        routes:
        \(routes ?? "  - name: all\n    match: { path_prefix: / }\n    upstream: app\n    auth: none")
        """
    }

    /// Stops the gateway (SIGTERM, drained) and starts a new one on the same config file.
    package func restartGateway() throws {
        gateway.terminate()
        gateway = try GatehouseProcess(["run", "--config", configPath], environment: environment, launcher: launcher)
    }

    /// Rewrites the config file (for reload tests).
    package func rewriteConfig(_ yaml: String) throws {
        try Self.substitute(yaml, echoPorts: echoes.map(\.port)).write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Every echo process: `echo` first, then `extraEchoes`.
    package var echoes: [GatehouseProcess] { [echo] + extraEchoes }

    private static func substitute(_ yaml: String, echoPorts: [UInt16]) -> String {
        var text = yaml
        for (index, port) in echoPorts.enumerated() {
            let placeholder = index == 0 ? "@UPSTREAM@" : "@UPSTREAM\(index + 1)@"
            text = text.replacingOccurrences(of: placeholder, with: "127.0.0.1:\(port)")
        }
        return text
    }

    deinit {
        gateway.terminate()
        echo.terminate()
        for extra in extraEchoes { extra.terminate() }
        try? FileManager.default.removeItem(at: directory)
    }
}
