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
    /// The outside issuers whose JWTs are accepted; `nil` if `tokens` is absent (then no route
    /// accepts a token).
    package let tokens: TokensSection?
    /// The identity headers injected on every route that does not give its own map; the
    /// built-in default (`X-Auth-User`, `X-Auth-Email`, `X-Auth-Groups`) when absent.
    package let identityHeaders: [IdentityHeaderSection]
    /// Prefixes of client header names removed on every route (compared ignoring case, with
    /// `_` read as `-`), as written; default `["X-Auth-"]`. See ``strippedHeaderNames``.
    package let stripHeaderPrefixes: [String]
    /// Where browsers sign in; `nil` if `login` is absent (then no route uses `unauthenticated: login`).
    package let login: LoginSection?
    /// Where sessions live and how the cookie looks; present exactly when `login.signIn` is (defaults
    /// filled in when the file has no `sessions`).
    package let sessions: SessionsSection?
    /// The operator's listener, if configured.
    package let admin: AdminSection?
    /// The top-level `assertion` (signed identity for upstreams), if configured.
    package var assertion: AssertionSection? = nil

    /// Creates a configuration from validated sections (the loader is the usual way in).
    ///
    /// - Parameters:
    ///   - server: The server section.
    ///   - accessLog: The access-log section.
    ///   - upstreams: The upstreams, in file order.
    ///   - routes: The routes, in file order.
    ///   - sourcePath: The file the configuration came from.
    ///   - tokens: The token issuers, if any.
    ///   - identityHeaders: The default identity headers; `nil` gives the built-in map
    ///     (``IdentityHeaderSection/defaults(file:)``).
    ///   - stripHeaderPrefixes: Client header prefixes to strip.
    ///   - login: The login section, if any.
    package init(
        server: ServerSection, accessLog: AccessLogSection, upstreams: [UpstreamSection], routes: [RouteSection],
        sourcePath: String, tokens: TokensSection? = nil, identityHeaders: [IdentityHeaderSection]? = nil,
        stripHeaderPrefixes: [String] = IdentityHeaderSection.defaultStripPrefixes, login: LoginSection? = nil,
        sessions: SessionsSection? = nil, admin: AdminSection? = nil
    ) {
        self.sessions = sessions
        self.admin = admin
        self.server = server
        self.accessLog = accessLog
        self.upstreams = upstreams
        self.routes = routes
        self.sourcePath = sourcePath
        self.tokens = tokens
        self.identityHeaders = identityHeaders ?? IdentityHeaderSection.defaults(file: sourcePath)
        self.stripHeaderPrefixes = stripHeaderPrefixes
        self.login = login
    }

    /// The identity headers injected on `route`: its own map if it has one, else the top-level one.
    ///
    /// - Parameter route: One of ``routes``.
    /// - Returns: The headers, in file order.
    package func identityHeaders(for route: RouteSection) -> [IdentityHeaderSection] {
        route.identityHeaders ?? identityHeaders
    }

    /// Every header name that some identity-header map injects (the top-level map and every
    /// route's), first spelling kept, in file order; names equal ignoring case (with `_` read
    /// as `-`) appear once.
    ///
    /// Client-sent headers with these names are removed on *every* route, in addition to those
    /// matching ``stripHeaderPrefixes``, so that no upstream can be handed a client-forged
    /// value for a header that another route injects.
    package var strippedHeaderNames: [String] {
        var seen: Set<String> = []
        var names: [String] = []
        // Assertion and shared-secret headers too (AssertionSection.swift): the gateway's alone to send.
        let injected = (identityHeaders + routes.flatMap({ $0.identityHeaders ?? [] })).map(\.name) + assertionHeaderNames
        for name in injected where seen.insert(IdentityHeaderSection.folded(name)).inserted {
            names.append(name)
        }
        return names
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
