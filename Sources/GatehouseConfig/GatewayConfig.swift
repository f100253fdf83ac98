/// The whole validated configuration of one gateway, as loaded from one YAML file.
///
/// A plain value: immutable, `Sendable`, comparable (a reload that changes nothing can be
/// detected with `==`). It knows nothing of the runtime; `SnapshotCompiler` in
/// GatehouseServer turns it into the structures the workers use. Every value here has
/// already been checked (ranges, references between sections, unique names), so consumers
/// need not re-validate.
package struct GatewayConfig: Sendable, Equatable {
    /// Listeners, workers, limits and timeouts of the client side.
    package let server: ServerSection
    /// Where the access log goes.
    package let accessLog: AccessLogSection
    /// The upstreams, in file order; at least one; names are unique.
    package let upstreams: [UpstreamSection]
    /// The routes, in file order; at least one; names are unique; each names an upstream above.
    package let routes: [RouteSection]
    /// The path the configuration was read from (as given), for messages and reloads.
    package let sourcePath: String

    /// Creates a configuration from validated sections (the loader is the usual way in).
    ///
    /// - Parameters:
    ///   - server: The server section.
    ///   - accessLog: The access-log section.
    ///   - upstreams: The upstreams, in file order.
    ///   - routes: The routes, in file order.
    ///   - sourcePath: The file the configuration came from.
    package init(
        server: ServerSection, accessLog: AccessLogSection, upstreams: [UpstreamSection], routes: [RouteSection],
        sourcePath: String
    ) {
        self.server = server
        self.accessLog = accessLog
        self.upstreams = upstreams
        self.routes = routes
        self.sourcePath = sourcePath
    }

    /// The upstream with the given name, if any.
    ///
    /// - Parameter name: An upstream name, as a route's `upstream` gives it.
    /// - Returns: The upstream section, or `nil`.
    package func upstream(named name: String) -> UpstreamSection? {
        upstreams.first { $0.name == name }
    }
}

/// `access_log`: where one line per request is written.
package struct AccessLogSection: Sendable, Equatable {
    /// Where access-log lines go.
    package enum Destination: Sendable, Equatable {
        /// Standard output (the default; what a container or systemd journal collects).
        case stdout
        /// No access log.
        case off
        /// Appended to this file; a relative path is relative to the working directory.
        case file(String)
    }

    /// Where access-log lines go; default `.stdout`.
    package let destination: Destination

    /// Creates an access-log section.
    ///
    /// - Parameter destination: Where lines go.
    package init(destination: Destination) {
        self.destination = destination
    }

    /// The keys `access_log` accepts.
    static let keys = ["path"]

    /// Reads `access_log`; absent or null gives the default (stdout).
    ///
    /// - Parameters:
    ///   - entry: The `access_log` entry of the root mapping, if present.
    ///   - reader: Collects problems.
    /// - Returns: The section, or `nil` if a problem was reported.
    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> AccessLogSection? {
        guard
            let fields = reader.fields(
                of: entry?.value, path: "access_log", allowed: keys, near: reader.location(of: entry?.keyNode))
        else { return nil }
        guard let node = fields.value("path") else {
            return AccessLogSection(destination: .stdout)
        }
        let path = fields.path("path")
        guard let text = reader.text(node, path: path, expected: "\"stdout\", \"off\" or a file path") else {
            return nil
        }
        switch text {
        case "stdout":
            return AccessLogSection(destination: .stdout)
        case "off":
            return AccessLogSection(destination: .off)
        case "":
            reader.report(.invalidValue, at: node, key: path, "expected \"stdout\", \"off\" or a file path")
            return nil
        default:
            if text.contains("\0") {
                reader.report(.invalidValue, at: node, key: path, "a file path cannot contain a NUL character")
                return nil
            }
            return AccessLogSection(destination: .file(text))
        }
    }
}
