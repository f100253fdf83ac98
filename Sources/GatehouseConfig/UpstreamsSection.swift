import Yams

/// One entry of `upstreams`: a named group of servers that routes forward to.
///
/// Invariants: `servers` is not empty; every timeout is > 0; `keepalive` >= 0.
package struct UpstreamSection: Sendable, Equatable {
    /// The upstream's name (its key under `upstreams`), unique; routes refer to it.
    package let name: String
    /// The servers, in file order; host names are resolved by the runtime.
    package let servers: [SocketAddressSpec]
    /// Time allowed to establish a TCP connection to a server; default 3s.
    package let connectTimeout: Duration
    /// Time to the first response byte, and between reads of the response; default 60s.
    package let responseTimeout: Duration
    /// Idle pooled connections kept per worker; 0 disables reuse; default 32.
    package let keepalive: Int
    /// How long an idle pooled connection is kept; default 60s.
    package let keepaliveTimeout: Duration
    /// How long a server that refused (or timed out) a connection is skipped; default 10s.
    package let failTimeout: Duration
    /// TLS toward the servers; `nil` for plain HTTP (the default).
    package let tls: UpstreamTLSSection?
    /// `inject_basic`: `Authorization: Basic` sent to this upstream on every authenticated request (a route may
    /// give its own); nil: none.
    package var injectBasic: BasicInjectionSection? = nil
    /// `shared_secret_header`: a secret sent with every request to this upstream (AssertionSection.swift).
    package var sharedSecretHeader: SharedSecretHeaderSection? = nil

    /// Creates an upstream section.
    ///
    /// - Parameters:
    ///   - name: The upstream's name.
    ///   - servers: Its servers (not empty).
    ///   - connectTimeout: Connect timeout.
    ///   - responseTimeout: Response timeout.
    ///   - keepalive: Idle pooled connections per worker.
    ///   - keepaliveTimeout: Idle pooled connection lifetime.
    ///   - failTimeout: How long a failed server is skipped.
    package init(
        name: String, servers: [SocketAddressSpec], connectTimeout: Duration, responseTimeout: Duration,
        keepalive: Int, keepaliveTimeout: Duration, failTimeout: Duration, tls: UpstreamTLSSection? = nil
    ) {
        self.tls = tls
        self.name = name
        self.servers = servers
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.keepalive = keepalive
        self.keepaliveTimeout = keepaliveTimeout
        self.failTimeout = failTimeout
    }

    /// The keys an upstream accepts.
    static let keys = [
        "servers", "connect_timeout", "response_timeout", "keepalive", "keepalive_timeout", "fail_timeout", "tls",
        "shared_secret_header",
    ] + ["inject_basic"]

    /// What reading `upstreams` produced.
    struct ReadResult {
        /// The upstreams in file order, or `nil` if any problem was reported.
        let upstreams: [UpstreamSection]?
        /// Every name declared, valid or not, so that routes naming a broken upstream are not
        /// also reported as naming an unknown one; `nil` if `upstreams` itself is missing or not
        /// a mapping (then route references are not checked, to avoid one error per route).
        let declaredNames: [String]?
    }

    /// Reads the required `upstreams` mapping (name -> upstream); at least one entry.
    ///
    /// - Parameters:
    ///   - root: The root fields.
    ///   - reader: Collects problems.
    /// - Returns: The upstreams and the declared names.
    static func readAll(_ root: YAMLFields, reader: ConfigReader) -> ReadResult {
        guard let node = reader.required(root, "upstreams") else {
            return ReadResult(upstreams: nil, declaredNames: nil)
        }
        guard let entries = reader.entries(of: node, path: "upstreams") else {
            return ReadResult(upstreams: nil, declaredNames: nil)
        }
        if entries.isEmpty {
            reader.report(.invalidValue, at: node, key: "upstreams", "at least one upstream is required")
        }
        var upstreams: [UpstreamSection] = []
        var valid = !entries.isEmpty
        for entry in entries {
            if let upstream = read(entry, reader: reader) {
                upstreams.append(upstream)
            } else {
                valid = false
            }
        }
        return ReadResult(upstreams: valid ? upstreams : nil, declaredNames: entries.isEmpty ? nil : entries.map(\.key))
    }

    /// Reads one upstream.
    private static func read(_ entry: YAMLEntry, reader: ConfigReader) -> UpstreamSection? {
        let path = "upstreams.\(entry.key)"
        var valid = true
        if let problem = ConfigName.problem(entry.key) {
            reader.report(.invalidValue, at: entry.keyNode, key: path, problem)
            valid = false
        }
        guard
            let fields = reader.fields(
                of: entry.value, path: path, allowed: keys, near: reader.location(of: entry.keyNode))
        else { return nil }
        var servers: [SocketAddressSpec]?
        if let node = reader.required(fields, "servers") {
            servers = reader.socketAddresses(node, path: fields.path("servers"), requireIP: false, allowPortZero: false)
        }
        func duration(_ key: String, _ fallback: Duration) -> Duration? {
            guard let node = fields.value(key) else { return fallback }
            return reader.duration(node, path: fields.path(key))
        }
        let connectTimeout = duration("connect_timeout", .seconds(3))
        let responseTimeout = duration("response_timeout", .seconds(60))
        var keepalive: Int? = 32
        if let node = fields.value("keepalive") {
            keepalive = reader.integer(node, path: fields.path("keepalive"), in: 0...Int.max)
        }
        let keepaliveTimeout = duration("keepalive_timeout", .seconds(60))
        let failTimeout = duration("fail_timeout", .seconds(10))
        var tls: UpstreamTLSSection?? = .some(nil)
        if let node = fields.value("tls") {
            tls = UpstreamTLSSection.read(node, path: fields.path("tls"), reader: reader)
        }
        var injectBasic: BasicInjectionSection?? = .some(nil)
        if let node = fields.value("inject_basic") {
            injectBasic = BasicInjectionSection.read(node, path: fields.path("inject_basic"), reader: reader).map { .some($0) }
        }
        var sharedSecret: SharedSecretHeaderSection?? = .some(nil)
        if let node = fields.value("shared_secret_header") {
            sharedSecret = SharedSecretHeaderSection.read(node, path: fields.path("shared_secret_header"), reader: reader)
                .map { .some($0) }
        }
        guard valid, let servers, let connectTimeout, let responseTimeout, let keepalive, let keepaliveTimeout,
            let failTimeout, let tls, let injectBasic, let sharedSecret
        else { return nil }
        var section = UpstreamSection(
            name: entry.key, servers: servers, connectTimeout: connectTimeout, responseTimeout: responseTimeout,
            keepalive: keepalive, keepaliveTimeout: keepaliveTimeout, failTimeout: failTimeout, tls: tls)
        section.injectBasic = injectBasic
        section.sharedSecretHeader = sharedSecret
        return section
    }
}

/// `upstreams.NAME.tls`: HTTPS toward the upstream's servers, with the server's certificate verified.
///
/// Written `tls: true` (the system's trusted CAs; each server's own host as the name to check) or
/// `tls: { ca_file: PATH, server_name: NAME }`; `tls: false` is plain HTTP.
package struct UpstreamTLSSection: Sendable, Equatable {
    /// PEM file of the CA certificates trusted for this upstream; `nil`: the system's trust store.
    package let caFile: String?
    /// The name sent as SNI and checked against the certificate; `nil`: each server's host as written.
    package let serverName: String?
    /// Where the setting is, so a CA file that fails to load is reported against it.
    package let location: SourceLocation
    /// Its key path, e.g. `upstreams.app.tls`.
    package let keyPath: String

    package init(caFile: String?, serverName: String?, location: SourceLocation, keyPath: String) {
        self.caFile = caFile
        self.serverName = serverName
        self.location = location
        self.keyPath = keyPath
    }

    /// The keys the mapping form accepts.
    static let keys = ["ca_file", "server_name"]

    /// Reads `tls`: a boolean, or a mapping.
    /// - Returns: `.some(nil)` for `false`, `.some(section)` for TLS, `nil` if a problem was reported.
    static func read(_ node: Node, path: String, reader: ConfigReader) -> UpstreamTLSSection?? {
        guard let location = reader.location(of: node) else { return nil }
        if case .scalar = node {
            guard let enabled = reader.boolean(node, path: path) else { return nil }
            return .some(enabled ? UpstreamTLSSection(caFile: nil, serverName: nil, location: location, keyPath: path) : nil)
        }
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: location) else { return nil }
        var valid = true
        var caFile: String?
        if let value = fields.value("ca_file") {
            caFile = reader.text(value, path: fields.path("ca_file"), expected: "a file path")
            if caFile == "" || caFile?.contains("\0") == true {
                reader.report(.invalidValue, at: value, key: fields.path("ca_file"), "expected a file path")
                caFile = nil
            }
            valid = valid && caFile != nil
        }
        var serverName: String?
        if let value = fields.value("server_name") {
            let name = reader.text(value, path: fields.path("server_name"), expected: "a host name")
            if let name, let problem = HostName.problem(Substring(name)) {
                reader.report(.invalidValue, at: value, key: fields.path("server_name"), problem)
                valid = false
            } else {
                serverName = name
                valid = valid && name != nil
            }
        }
        guard valid else { return nil }
        return .some(UpstreamTLSSection(caFile: caFile, serverName: serverName, location: location, keyPath: path))
    }
}
