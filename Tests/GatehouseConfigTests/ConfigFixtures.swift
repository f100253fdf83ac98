import Foundation
import Testing

@testable import GatehouseConfig

/// Shared inputs and helpers for the configuration tests.
enum ConfigFixtures {
    /// The smallest valid file: one upstream, one public route; everything else defaulted.
    static let minimal = """
        upstreams:
          app:
            servers: ["127.0.0.1:9000"]
        routes:
          - name: app
            upstream: app
            auth: none
        """

    /// The repository root, found from this file's real path (the test directory may be reached
    /// through a symlink in a development package).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Parses `yaml` that must be valid; records an issue and returns nil otherwise.
    static func config(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> GatewayConfig? {
        do {
            return try ConfigLoader.parse(yaml: yaml, path: "test.yaml")
        } catch {
            Issue.record("unexpected errors:\n\(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// Parses `yaml` that must be invalid and returns the errors (empty, with an issue, if it parsed).
    static func errors(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [ConfigError] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, path: "test.yaml")
            Issue.record("expected errors, but the configuration loaded", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.errors
        }
    }

    /// The single error `yaml` produces; records an issue if there is not exactly one.
    static func singleError(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
        let found = errors(yaml, sourceLocation: sourceLocation)
        guard found.count == 1 else {
            Issue.record(
                "expected one error, got \(found.count):\n\(ConfigErrors(errors: found))",
                sourceLocation: sourceLocation)
            return nil
        }
        return found[0]
    }

    /// A minimal file with `server` replaced by `serverBlock` (indented under `server:`).
    static func withServer(_ serverBlock: String) -> String {
        "server:\n" + indent(serverBlock) + "\n" + minimal
    }

    /// Indents every line by two spaces.
    static func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
    }
}
