import Yams

/// `server`: the client-facing side of the gateway (listeners, workers, limits, timeouts).
package struct ServerSection: Sendable, Equatable {
    /// Addresses to listen on (IP literals; port 0 = ephemeral); default `127.0.0.1:8080`.
    package let listen: [SocketAddressSpec]
    /// Number of worker threads, 1...256; `nil` means `auto` (one per core).
    package let workers: Int?
    /// Request size limits and client-side timeouts.
    package let limits: LimitsSection
    /// How long a graceful shutdown waits for in-flight requests; default 10s.
    package let drainTimeout: Duration
    /// Peers whose `X-Forwarded-For` is kept; default none.
    package let trustedProxies: [CIDRSpec]
    /// TLS listeners and their certificates; `nil` when the gateway speaks plain HTTP only.
    package let tls: TLSSection?
    /// What happens to request headers whose names hold `_`; default `.drop`.
    package var underscoresInHeaders: UnderscoreHeaders = .drop
    /// What a `;` in a request path means; default `.refuse`.
    package var pathParameters: PathParameterMode = .refuse
    /// Whether routes match `path_prefix` ignoring ASCII case unless they say otherwise; default `false`.
    package var caseInsensitivePaths = false

    /// Creates a server section.
    ///
    /// - Parameters:
    ///   - listen: Listen addresses.
    ///   - workers: Worker count, or `nil` for one per core.
    ///   - limits: Size limits and timeouts.
    ///   - drainTimeout: Graceful-shutdown wait.
    ///   - trustedProxies: Trusted proxy networks.
    ///   - tls: TLS listeners and certificates, if any.
    package init(
        listen: [SocketAddressSpec], workers: Int?, limits: LimitsSection, drainTimeout: Duration,
        trustedProxies: [CIDRSpec], tls: TLSSection? = nil
    ) {
        self.listen = listen
        self.workers = workers
        self.limits = limits
        self.drainTimeout = drainTimeout
        self.trustedProxies = trustedProxies
        self.tls = tls
    }

    /// The keys `server` accepts.
    static let keys = [
        "listen", "workers", "limits", "drain_timeout", "trusted_proxies", "tls", "underscores_in_headers",
        "path_parameters", "case_insensitive_paths",
    ]

    /// The largest accepted worker count; more threads than this is a typo, not a machine.
    static let maximumWorkers = 256

    /// Reads `server`; absent or null gives every default.
    ///
    /// - Parameters:
    ///   - entry: The `server` entry of the root mapping, if present.
    ///   - reader: Collects problems.
    /// - Returns: The section, or `nil` if a problem was reported.
    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> ServerSection? {
        let near = reader.location(of: entry?.keyNode)
        guard let fields = reader.fields(of: entry?.value, path: "server", allowed: keys, near: near) else {
            return nil
        }
        let tlsEntry = fields.entries["tls"]
        let tlsRead = tlsEntry.flatMap { ConfigReader.isNull($0.value) ? nil : TLSSection.read($0, reader: reader) }
        let tls = tlsRead?.section
        let tlsGiven = tlsEntry.map { !ConfigReader.isNull($0.value) } ?? false
        var listen: [SocketAddressSpec]? = [SocketAddressSpec.defaultListen]
        if let node = fields.value("listen") {
            if tlsGiven, case .sequence(let sequence) = node, sequence.count == 0 {
                listen = []  // TLS only: no plain-HTTP listener
            } else {
                listen = reader.socketAddresses(node, path: fields.path("listen"), requireIP: true, allowPortZero: true)
            }
            if let addresses = listen {
                reportDuplicates(addresses, node: node, path: fields.path("listen"), reader: reader)
            }
        }
        if let listen, let tls {
            // One address cannot be both a plain and a TLS listener.
            for (index, address) in tls.listen.enumerated() where address.port != 0 && listen.contains(address) {
                reader.report(
                    .invalidValue, at: tlsRead?.listenNodes[index], key: "server.tls.listen[\(index)]",
                    "\(address) is also in server.listen; an address is either plain HTTP or TLS")
            }
        }
        let workers = readWorkers(fields, reader: reader)
        let limits = LimitsSection.read(fields.entries["limits"], reader: reader)
        var drainTimeout: Duration? = .seconds(10)
        if let node = fields.value("drain_timeout") {
            drainTimeout = reader.duration(node, path: fields.path("drain_timeout"))
        }
        let trustedProxies = readTrustedProxies(fields, reader: reader)
        let count: Int?
        switch workers {
        case .auto: count = nil
        case .fixed(let fixed): count = fixed
        case .invalid: return nil
        }
        let interpretation = readRequestInterpretation(fields, reader: reader)
        guard let listen, let limits, let drainTimeout, let trustedProxies, tls != nil || !tlsGiven,
            let interpretation
        else { return nil }
        var section = ServerSection(
            listen: listen, workers: count, limits: limits, drainTimeout: drainTimeout,
            trustedProxies: trustedProxies, tls: tls)
        section.underscoresInHeaders = interpretation.underscores
        section.pathParameters = interpretation.pathParameters
        section.caseInsensitivePaths = interpretation.caseInsensitive
        return section
    }

    /// Reads the keys that say how request names and paths are read where backends disagree.
    private static func readRequestInterpretation(
        _ fields: YAMLFields, reader: ConfigReader
    ) -> (underscores: UnderscoreHeaders, pathParameters: PathParameterMode, caseInsensitive: Bool)? {
        var underscores: UnderscoreHeaders? = .drop
        if let node = fields.value("underscores_in_headers") {
            underscores = reader.parse(
                node, path: fields.path("underscores_in_headers"), expected: "\"drop\" or \"forward\"",
                with: { RouteSection.keyword($0, as: UnderscoreHeaders.self) })
        }
        var parameters: PathParameterMode? = .refuse
        if let node = fields.value("path_parameters") {
            parameters = reader.parse(
                node, path: fields.path("path_parameters"), expected: "\"refuse\" or \"servlet\"",
                with: { RouteSection.keyword($0, as: PathParameterMode.self) })
        }
        var caseInsensitive: Bool? = false
        if let node = fields.value("case_insensitive_paths") {
            caseInsensitive = reader.boolean(node, path: fields.path("case_insensitive_paths"))
        }
        guard let underscores, let parameters, let caseInsensitive else { return nil }
        return (underscores, parameters, caseInsensitive)
    }

    /// Reads `workers`: `auto` (the default) or 1...256.
    private static func readWorkers(_ fields: YAMLFields, reader: ConfigReader) -> AutoOrCount {
        readAutoOrCount(fields, "workers", upTo: maximumWorkers, reader: reader)
    }

    /// Reads `trusted_proxies`: a list (or one string) of CIDRs or single addresses.
    private static func readTrustedProxies(_ fields: YAMLFields, reader: ConfigReader) -> [CIDRSpec]? {
        guard let node = fields.value("trusted_proxies") else { return [] }
        let path = fields.path("trusted_proxies")
        guard let elements = reader.list(node, path: path, expected: "CIDRs or IP addresses") else { return nil }
        var networks: [CIDRSpec] = []
        var valid = true
        for element in elements {
            let network = reader.parse(
                element.node, path: element.path, expected: "a CIDR such as 10.0.0.0/8 or an IP address",
                with: CIDRSpec.parse)
            if let network {
                networks.append(network)
            } else {
                valid = false
            }
        }
        return valid ? networks : nil
    }

    /// Listening twice on one address would silently succeed with SO_REUSEPORT and split the
    /// traffic between two identical sockets, so a repeated address is an error.
    private static func reportDuplicates(
        _ addresses: [SocketAddressSpec], node: Node, path: String, reader: ConfigReader
    ) {
        var seen: Set<SocketAddressSpec> = []
        for (index, address) in addresses.enumerated() where !seen.insert(address).inserted {
            let element = node.sequence.map { $0[index] } ?? node
            reader.report(.invalidValue, at: element, key: "\(path)[\(index)]", "\(address) is listed twice")
        }
    }
}

/// `server.underscores_in_headers`: request headers whose names hold `_` (nginx's `underscores_in_headers`).
package enum UnderscoreHeaders: String, Sendable, CaseIterable {
    /// Removed before forwarding (nginx's default): CGI, WSGI and PHP backends read `X_User` as `X-User`.
    case drop
    /// Forwarded, except spellings of hop-by-hop, framing, forwarding and identity headers.
    case forward
}

/// `server.path_parameters`: what a `;` in a request path means.
package enum PathParameterMode: String, Sendable, CaseIterable {
    /// 400 for any `;` or `%3B` in the path: servlet containers drop `;...` from each segment, other
    /// servers keep it, so the route cannot know which path the upstream will serve.
    case refuse
    /// Servlet semantics (Tomcat, Jetty, Spring): routes match each segment without its parameters; the
    /// upstream receives them as sent.
    case servlet
}

/// The outcome of reading a count that may be `auto` (`server.workers`, `server.limits.max_connections`).
private enum AutoOrCount {
    /// `auto`, or absent: the gateway chooses (one worker per core; connections from the descriptor limit).
    case auto
    /// A fixed number.
    case fixed(Int)
    /// Refused (already reported).
    case invalid
}

/// Reads `key`: `auto` (the default) or an integer 1...`maximum`.
private func readAutoOrCount(_ fields: YAMLFields, _ key: String, upTo maximum: Int, reader: ConfigReader) -> AutoOrCount {
    guard let node = fields.value(key) else { return .auto }
    let path = fields.path(key)
    let expected = "\"auto\" or an integer from 1 to \(maximum)"
    guard let text = reader.text(node, path: path, expected: expected) else { return .invalid }
    if text == "auto" {
        return .auto
    }
    switch Units.integer(text, in: 1...maximum) {
    case .parsed(let count):
        return .fixed(count)
    case .invalid:
        reader.report(.invalidValue, at: node, key: path, "expected \(expected), got \"\(text)\"")
        return .invalid
    }
}

/// `server.limits`: how much a client may send, and how long it may take.
///
/// Sizes are in bytes, counts are plain numbers, timeouts are `Duration`s; all are > 0.
package struct LimitsSection: Sendable, Equatable {
    /// Longest request line (method, target, version) in bytes; default 8 KiB.
    package let maxRequestLine: Int
    /// Longest request head (request line plus all header fields) in bytes; default 32 KiB.
    package let maxRequestHead: Int
    /// Most header fields in one request; default 100.
    package let maxHeaderCount: Int
    /// Largest request body in bytes; default 64 MiB.
    package let maxBody: Int64
    /// Time allowed to receive a whole request head; default 10s.
    package let headerTimeout: Duration
    /// Time an idle keep-alive client connection is kept open; default 75s.
    package let idleTimeout: Duration
    /// Longest time without progress while a request body is read; default 30s (below an upstream's default
    /// `response_timeout`, though a stalled body ends in 408 whatever that is).
    package let bodyTimeout: Duration
    /// Longest time a WebSocket tunnel may carry no byte in either direction; default 1h.
    package let tunnelIdleTimeout: Duration
    /// Client connections one worker keeps open at most; nil (`auto`, the default): derived from the
    /// descriptor limit when the gateway starts.
    package let maxConnections: Int?

    /// Creates a limits section.
    ///
    /// - Parameters:
    ///   - maxRequestLine: Request-line limit in bytes.
    ///   - maxRequestHead: Request-head limit in bytes.
    ///   - maxHeaderCount: Header-field count limit.
    ///   - maxBody: Body limit in bytes.
    ///   - headerTimeout: Time allowed for the head.
    ///   - idleTimeout: Keep-alive idle time.
    ///   - bodyTimeout: Body no-progress time.
    ///   - tunnelIdleTimeout: Tunnel no-traffic time.
    ///   - maxConnections: Client connections per worker, or nil for `auto`.
    package init(
        maxRequestLine: Int, maxRequestHead: Int, maxHeaderCount: Int, maxBody: Int64, headerTimeout: Duration,
        idleTimeout: Duration, bodyTimeout: Duration, tunnelIdleTimeout: Duration = .seconds(3600),
        maxConnections: Int? = nil
    ) {
        self.maxConnections = maxConnections
        self.maxRequestLine = maxRequestLine
        self.maxRequestHead = maxRequestHead
        self.maxHeaderCount = maxHeaderCount
        self.maxBody = maxBody
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.tunnelIdleTimeout = tunnelIdleTimeout
    }

    /// The defaults, used for every key that is absent.
    package static let defaults = LimitsSection(
        maxRequestLine: 8 << 10, maxRequestHead: 32 << 10, maxHeaderCount: 100, maxBody: 64 << 20,
        headerTimeout: .seconds(10), idleTimeout: .seconds(75), bodyTimeout: .seconds(30),
        tunnelIdleTimeout: .seconds(3600))

    /// The keys `server.limits` accepts.
    static let keys = [
        "max_request_line", "max_request_head", "max_header_count", "max_body", "header_timeout", "idle_timeout",
        "body_timeout", "tunnel_idle_timeout", "max_connections",
    ]

    /// The largest explicit `max_connections`: beyond this it is a typo, not a machine.
    static let maximumConnections = 16_777_216

    /// Reads `server.limits`; every absent key takes its default.
    ///
    /// The request line is part of the head, so `max_request_line` may not exceed
    /// `max_request_head` (the smaller limit would never be reached).
    ///
    /// - Parameters:
    ///   - entry: The `limits` entry of `server`, if present.
    ///   - reader: Collects problems.
    /// - Returns: The section, or `nil` if a problem was reported.
    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> LimitsSection? {
        let near = reader.location(of: entry?.keyNode)
        guard let fields = reader.fields(of: entry?.value, path: "server.limits", allowed: keys, near: near) else {
            return nil
        }
        let base = defaults
        func size(_ key: String, _ fallback: Int64) -> Int64? {
            guard let node = fields.value(key) else { return fallback }
            return reader.byteSize(node, path: fields.path(key))
        }
        func duration(_ key: String, _ fallback: Duration) -> Duration? {
            guard let node = fields.value(key) else { return fallback }
            return reader.duration(node, path: fields.path(key))
        }
        let line = size("max_request_line", Int64(base.maxRequestLine))
        let head = size("max_request_head", Int64(base.maxRequestHead))
        var count: Int? = base.maxHeaderCount
        if let node = fields.value("max_header_count") {
            count = reader.integer(node, path: fields.path("max_header_count"), in: 1...Int.max)
        }
        let body = size("max_body", base.maxBody)
        let header = duration("header_timeout", base.headerTimeout)
        let idle = duration("idle_timeout", base.idleTimeout)
        let bodyTimeout = duration("body_timeout", base.bodyTimeout)
        let tunnelIdle = duration("tunnel_idle_timeout", base.tunnelIdleTimeout)
        let maxConnections: Int?
        switch readAutoOrCount(fields, "max_connections", upTo: maximumConnections, reader: reader) {
        case .auto: maxConnections = nil
        case .fixed(let fixed): maxConnections = fixed
        case .invalid: return nil
        }
        guard let line, let head, let count, let body, let header, let idle, let bodyTimeout, let tunnelIdle else {
            return nil
        }
        if line > head {
            let node = fields.value("max_request_line") ?? fields.value("max_request_head")
            reader.report(
                .invalidValue, at: node, key: fields.path("max_request_line"),
                "must not exceed max_request_head (\(line) > \(head) bytes): the request line is part of the head")
            return nil
        }
        return LimitsSection(
            maxRequestLine: Int(line), maxRequestHead: Int(head), maxHeaderCount: count, maxBody: body,
            headerTimeout: header, idleTimeout: idle, bodyTimeout: bodyTimeout, tunnelIdleTimeout: tunnelIdle,
            maxConnections: maxConnections)
    }
}
