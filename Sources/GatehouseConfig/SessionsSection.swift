import Yams

/// `sessions`: where signed-in sessions live and how the session cookie looks.
///
/// Used by the gateway's own sign-in (`login.users_file`), in both modes (token mode keeps one session per
/// refresh-token family). Defaults apply when the section is absent.
package struct SessionsSection: Sendable, Equatable {
    /// Which backend keeps sessions.
    package enum Store: Sendable, Equatable {
        /// SQLite file at `path`, every read served from memory.
        case embedded(path: String)
        /// A Redis server shared by several gateways.
        case redis(RedisSection)
    }

    /// `sessions.redis.sentinel`: the sentinels that name the master, and the master's name.
    package struct SentinelSection: Sendable, Equatable {
        package let master: String
        package let addresses: [SocketAddressSpec]
        /// The environment variable holding the sentinels' password (not the data nodes': that is `url`'s or
        /// `sessions.redis.password_env`).
        package let passwordEnv: String?
        package let location: SourceLocation?

        package init(master: String, addresses: [SocketAddressSpec], passwordEnv: String? = nil,
                     location: SourceLocation? = nil) {
            self.master = master
            self.addresses = addresses
            self.passwordEnv = passwordEnv
            self.location = location
        }

        static func read(_ node: Node, path: String, reader: ConfigReader) -> SentinelSection? {
            guard let fields = reader.fields(of: node, path: path, allowed: ["master", "addresses", "password_env"],
                                             near: reader.location(of: node))
            else { return nil }
            var valid = true
            var master: String? = nil
            if let n = reader.required(fields, "master") {
                if let text = reader.text(n, path: fields.path("master"), expected: "the master's name"),
                   !text.isEmpty, text.utf8.count <= 128,
                   text.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) })
                {
                    master = text
                } else {
                    reader.report(.invalidValue, at: n, key: fields.path("master"),
                                  "expected the name the sentinels monitor, such as mymaster (1 to 128 visible "
                                    + "ASCII characters)")
                    valid = false
                }
            } else {
                valid = false
            }
            var addresses: [SocketAddressSpec]? = nil
            if let n = reader.required(fields, "addresses") {
                addresses = reader.socketAddresses(n, path: fields.path("addresses"), requireIP: false,
                                                   allowPortZero: false)
            }
            var passwordEnv: String? = nil
            if fields.value("password_env") != nil {
                passwordEnv = reader.passwordEnv(fields, example: "SENTINEL_PASSWORD")
                valid = valid && passwordEnv != nil
            }
            guard valid, let master, let addresses else { return nil }
            return SentinelSection(master: master, addresses: addresses, passwordEnv: passwordEnv,
                                   location: reader.location(of: node))
        }
    }

    /// `sessions.redis.replica_ack`: how many replicas a write that matters waits for.
    package enum ReplicaAck: Sendable, Equatable {
        /// 1 when the master has a replica, else none.
        case auto
        case replicas(Int)
    }

    /// `sessions.redis`: where the shared store is and how long the gateway waits for it.
    package struct RedisSection: Sendable, Equatable {
        /// `redis://[user:password@]host:port/db`, checked in full when the store is set up (the composition
        /// layer parses it and reports errors at `urlLocation`). Optional with `sentinel` (then only its user,
        /// password and database count: the sentinels name the host).
        package let url: String?
        package let urlLocation: SourceLocation?
        /// The environment variable holding the password (overrides one in the URL; keeps it out of the file).
        package let passwordEnv: String?
        package let keyPrefix: String
        /// The longest wait for one reply; past it the request gets 503 and the connection is re-made.
        package let timeout: Duration
        /// How long each worker may answer a lookup from its own cache (pub/sub keeps it correct); 0 = off.
        package let cacheTTL: Duration
        package let cacheSize: Int
        /// How long cached sessions keep being served while a connection to Redis is re-made; 0 = not at all.
        package let outageGrace: Duration
        /// Unknown session cookies one client address may make a worker look up per `unknownCookieWindow`
        /// (0 = no limit); past it, 429 without a lookup.
        package let unknownCookieLookups: Int
        package let unknownCookieWindow: Duration
        package var sentinel: SentinelSection? = nil
        package var replicaAck: ReplicaAck = .auto
        package var replicaAckTimeout: Duration = .milliseconds(250)

        package init(url: String?, urlLocation: SourceLocation?, passwordEnv: String?, keyPrefix: String,
                     timeout: Duration, cacheTTL: Duration, cacheSize: Int, outageGrace: Duration = .seconds(5),
                     unknownCookieLookups: Int = 20, unknownCookieWindow: Duration = .seconds(10)) {
            self.url = url
            self.urlLocation = urlLocation
            self.passwordEnv = passwordEnv
            self.keyPrefix = keyPrefix
            self.timeout = timeout
            self.cacheTTL = cacheTTL
            self.cacheSize = cacheSize
            self.outageGrace = outageGrace
            self.unknownCookieLookups = unknownCookieLookups
            self.unknownCookieWindow = unknownCookieWindow
        }

        static let keys = ["url", "password_env", "key_prefix", "timeout", "cache_ttl", "cache_size", "outage_grace",
                           "unknown_cookie_limit", "sentinel", "replica_ack", "replica_ack_timeout"]

        static func read(_ node: Node, path: String, reader: ConfigReader) -> RedisSection? {
            guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node))
            else { return nil }
            var valid = true
            var sentinel: SentinelSection? = nil
            if let n = fields.value("sentinel") {
                sentinel = SentinelSection.read(n, path: fields.path("sentinel"), reader: reader)
                valid = sentinel != nil
            }
            // With sentinels the URL is optional (they name the host); without, it is the server.
            var url: String? = nil
            var urlNode: Node? = nil
            if fields.value("sentinel") == nil || fields.value("url") != nil {
                guard let node = reader.required(fields, "url"),
                      let text = reader.text(node, path: fields.path("url"),
                                             expected: "a URL such as redis://127.0.0.1:6379/0")
                else { return nil }
                url = text
                urlNode = node
            }
            let lowered = url?.lowercased() ?? "redis://"
            if let urlNode, !lowered.hasPrefix("redis://") {
                let why = lowered.hasPrefix("rediss://")
                    ? "TLS to Redis (rediss://) is not supported; use redis:// on a trusted network or a TLS tunnel"
                    : "expected redis://[user:password@]host:port/db"
                reader.report(.invalidValue, at: urlNode, key: fields.path("url"), why)
                valid = false
            }
            var passwordEnv: String? = nil
            if fields.value("password_env") != nil {
                passwordEnv = reader.passwordEnv(fields, example: "REDIS_PASSWORD")
                valid = valid && passwordEnv != nil
            }
            var keyPrefix = "gatehouse:"
            if let n = fields.value("key_prefix") {
                if let text = reader.text(n, path: fields.path("key_prefix"), expected: "a key prefix"),
                    !text.isEmpty, text.utf8.count <= 64, text.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) })
                {
                    keyPrefix = text
                } else {
                    reader.report(.invalidValue, at: n, key: fields.path("key_prefix"),
                                  "expected 1 to 64 visible ASCII characters, such as \"gatehouse:\"")
                    valid = false
                }
            }
            let timeout = reader.optionalDuration(fields, "timeout", default: .milliseconds(500))
            var cacheTTL: Duration? = .seconds(5)
            if let n = fields.value("cache_ttl") {
                cacheTTL = reader.parse(n, path: fields.path("cache_ttl"), expected: "a duration such as 5s, or 0 for no cache") {
                    Units.duration($0, allowZero: true)
                }
            }
            var cacheSize: Int? = 10_000
            if let n = fields.value("cache_size") {
                cacheSize = reader.integer(n, path: fields.path("cache_size"), in: 1...10_000_000)
            }
            var grace: Duration? = .seconds(5)
            if let n = fields.value("outage_grace") {
                grace = reader.parse(n, path: fields.path("outage_grace"),
                                     expected: "a duration up to 60s such as 5s, or 0 for none") {
                    if case .parsed(let d) = Units.duration($0, allowZero: true), d > .seconds(60) {
                        return .invalid("at most 60s: the grace is how late a revocation may be seen")
                    }
                    return Units.duration($0, allowZero: true)
                }
            }
            var lookups: Int? = 20
            var window: Duration? = .seconds(10)
            if let n = fields.value("unknown_cookie_limit") {
                let path = fields.path("unknown_cookie_limit")
                if let limit = reader.fields(of: n, path: path, allowed: ["lookups", "window"],
                                             near: reader.location(of: n)) {
                    if let l = limit.value("lookups") {
                        lookups = reader.integer(l, path: limit.path("lookups"), in: 0...1_000_000)
                    }
                    window = reader.optionalDuration(limit, "window", default: .seconds(10))
                } else {
                    valid = false
                }
            }
            var replicaAck: ReplicaAck? = .auto
            if let n = fields.value("replica_ack") {
                replicaAck = reader.parse(n, path: fields.path("replica_ack"),
                                          expected: "auto, or how many replicas (0 for none)") { text in
                    if text == "auto" { return .parsed(ReplicaAck.auto) }
                    if let count = Int(text), (0...16).contains(count) { return .parsed(.replicas(count)) }
                    return .invalid("expected auto, or a number of replicas from 0 (do not wait) to 16")
                }
            }
            let ackTimeout = reader.optionalDuration(fields, "replica_ack_timeout", default: .milliseconds(250))
            guard valid, let timeout, let cacheTTL, let cacheSize, let grace, let lookups, let window, let replicaAck,
                  let ackTimeout
            else {
                return nil
            }
            var section = RedisSection(url: url, urlLocation: urlNode.flatMap { reader.location(of: $0) },
                                       passwordEnv: passwordEnv, keyPrefix: keyPrefix, timeout: timeout,
                                       cacheTTL: cacheTTL, cacheSize: cacheSize, outageGrace: grace,
                                       unknownCookieLookups: lookups, unknownCookieWindow: window)
            section.sentinel = sentinel
            section.replicaAck = replicaAck
            section.replicaAckTimeout = ackTimeout
            return section
        }
    }

    /// `SameSite` of the session cookie.
    package enum SameSite: String, Sendable, Equatable, CaseIterable {
        case lax, strict, none
    }

    /// When the cookie gets `Secure`.
    package enum Secure: String, Sendable, Equatable, CaseIterable {
        /// When the request came over TLS (or through a trusted proxy that says `X-Forwarded-Proto: https`).
        case auto
        /// Always (the gateway sits behind a TLS terminator it does not know about).
        case always
        /// Never (plain-HTTP development only).
        case never
    }

    package struct Cookie: Sendable, Equatable {
        package let name: String
        package let secure: Secure
        package let sameSite: SameSite
        /// `sessions.cookie.domain`: the parent domain the cookie is shared across (`Domain=`), checked by
        /// ``CookieDomain``; nil: a host-only cookie (today's default). With it, `rd` may also be an absolute URL
        /// on that domain or below it.
        package var domain: String? = nil
        /// Where `domain` was written (cross-checks against the routes' hosts report here).
        package var domainLocation: SourceLocation? = nil
        package init(name: String, secure: Secure, sameSite: SameSite) {
            self.name = name
            self.secure = secure
            self.sameSite = sameSite
        }
    }

    package let store: Store
    package let cookie: Cookie
    package let absoluteTTL: Duration
    /// Zero: no idle expiry.
    package let idleTTL: Duration
    /// Zero: unlimited; otherwise the oldest session is signed out past it.
    package let maxPerUser: Int
    /// `sessions.embedded.max_sessions`: sessions the embedded store holds at most (0 = no limit); past it new
    /// sign-ins are refused (503) until the purge makes room.
    package let embeddedMaxSessions: Int

    package static let defaults = SessionsSection(
        store: .embedded(path: "var/sessions.sqlite"),
        cookie: Cookie(name: "gatehouse_session", secure: .auto, sameSite: .lax),
        absoluteTTL: .seconds(12 * 3600), idleTTL: .seconds(3600), maxPerUser: 0)

    package init(store: Store, cookie: Cookie, absoluteTTL: Duration, idleTTL: Duration, maxPerUser: Int,
                 embeddedMaxSessions: Int = 0) {
        self.store = store
        self.cookie = cookie
        self.absoluteTTL = absoluteTTL
        self.idleTTL = idleTTL
        self.maxPerUser = maxPerUser
        self.embeddedMaxSessions = embeddedMaxSessions
    }

    static let keys = ["store", "embedded", "redis", "cookie", "absolute_ttl", "idle_ttl", "max_per_user"]

    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> SectionOutcome<SessionsSection> {
        guard let entry, !ConfigReader.isNull(entry.value) else { return .absent }
        guard let fields = reader.fields(of: entry.value, path: "sessions", allowed: keys,
                                         near: reader.location(of: entry.keyNode))
        else { return .invalid }
        var valid = true
        let defaults = Self.defaults
        var path = "var/sessions.sqlite"
        var useRedis = false
        if let node = fields.value("store") {
            let text = reader.text(node, path: fields.path("store"), expected: "\"embedded\" or \"redis\"")
            if text == "redis" {
                useRedis = true
            } else if text != "embedded" {
                if text != nil {
                    reader.report(.invalidValue, at: node, key: fields.path("store"),
                                  "expected \"embedded\" or \"redis\", got \"\(text!)\"")
                }
                valid = false
            }
        }
        var maxSessions: Int? = 0
        if let node = fields.value("embedded") {
            if let embedded = reader.fields(of: node, path: fields.path("embedded"), allowed: ["path", "max_sessions"],
                                            near: reader.location(of: node)),
                let pathNode = reader.required(embedded, "path"),
                let text = reader.filePath(pathNode, path: embedded.path("path"))
            {
                path = text
                if let n = embedded.value("max_sessions") {
                    maxSessions = reader.integer(n, path: embedded.path("max_sessions"), in: 0...100_000_000)
                }
            } else {
                valid = false
            }
        }
        var redis: RedisSection? = nil
        if let node = fields.value("redis") {
            redis = RedisSection.read(node, path: fields.path("redis"), reader: reader)
            valid = valid && redis != nil
            if !useRedis, redis != nil {
                reader.report(.invalidValue, at: fields.entries["redis"]?.keyNode, key: fields.path("redis"),
                              "sessions.redis is used only with store: redis")
                valid = false
            }
        } else if useRedis {
            reader.report(.missingKey, at: fields.entries["store"]?.keyNode, key: fields.path("redis"),
                          "store: redis needs sessions.redis: { url: \"redis://host:6379/0\" }")
            valid = false
        }
        var cookie = defaults.cookie
        if let node = fields.value("cookie") {
            if let parsed = readCookie(node, path: fields.path("cookie"), reader: reader) { cookie = parsed } else { valid = false }
        }
        let absolute = reader.optionalDuration(fields, "absolute_ttl", default: defaults.absoluteTTL)
        var idle: Duration? = defaults.idleTTL
        if let node = fields.value("idle_ttl") {
            idle = reader.parse(node, path: fields.path("idle_ttl"), expected: "a duration such as 1h, or 0 for none") {
                Units.duration($0, allowZero: true)
            }
        }
        var maxPerUser: Int? = 0
        if let node = fields.value("max_per_user") {
            maxPerUser = reader.integer(node, path: fields.path("max_per_user"), in: 0...10_000)
        }
        guard valid, let absolute, let idle, let maxPerUser, let maxSessions else { return .invalid }
        let store: Store = redis.map { .redis($0) } ?? .embedded(path: path)
        return .present(SessionsSection(store: store, cookie: cookie, absoluteTTL: absolute,
                                        idleTTL: idle, maxPerUser: maxPerUser, embeddedMaxSessions: maxSessions))
    }

    private static func readCookie(_ node: Node, path: String, reader: ConfigReader) -> Cookie? {
        guard let fields = reader.fields(of: node, path: path, allowed: ["name", "secure", "same_site", "domain"],
                                         near: reader.location(of: node))
        else { return nil }
        let defaults = Self.defaults.cookie
        var valid = true
        var name = defaults.name
        if let n = fields.value("name") {
            if let text = reader.text(n, path: fields.path("name"), expected: "a cookie name") {
                if let problem = HTTPToken.problem(text, what: "cookie name") {
                    reader.report(.invalidValue, at: n, key: fields.path("name"), problem)
                    valid = false
                } else {
                    name = text
                }
            } else {
                valid = false
            }
        }
        var secure = defaults.secure
        if let n = fields.value("secure") {
            switch reader.text(n, path: fields.path("secure"), expected: "auto, true or false") {
            case "auto"?: secure = .auto
            case "true"?, "always"?: secure = .always
            case "false"?, "never"?: secure = .never
            case let other?:
                reader.report(.invalidValue, at: n, key: fields.path("secure"), "expected auto, true or false, got \"\(other)\"")
                valid = false
            case nil:
                valid = false
            }
        }
        var sameSite = defaults.sameSite
        if let n = fields.value("same_site") {
            if let text = reader.text(n, path: fields.path("same_site"), expected: "lax, strict or none"),
                let parsed = SameSite(rawValue: text.lowercased())
            {
                sameSite = parsed
            } else {
                reader.report(.invalidValue, at: n, key: fields.path("same_site"), "expected lax, strict or none")
                valid = false
            }
        }
        // RFC 6265bis 4.1.3: a __Host- cookie must be Secure, Path=/, without Domain; __Secure- must be Secure.
        if (name.hasPrefix("__Host-") || name.hasPrefix("__Secure-")), secure == .never {
            reader.report(.invalidValue, at: fields.entries["secure"]?.keyNode ?? node, key: fields.path("secure"),
                          "a cookie named \(name.hasPrefix("__Host-") ? "__Host-" : "__Secure-")... must be Secure; "
                            + "browsers drop it otherwise")
            valid = false
        }
        if sameSite == .none, secure == .never {
            reader.report(.invalidValue, at: fields.entries["same_site"]?.keyNode ?? node, key: fields.path("same_site"),
                          "SameSite=None cookies must be Secure; browsers drop them otherwise")
            valid = false
        }
        // sessions.cookie.domain (issue 12 part 6): a cookie shared by the subdomains of one parent.
        var domain: String? = nil
        var domainLocation: SourceLocation? = nil
        if let n = fields.value("domain") {
            if let text = reader.text(n, path: fields.path("domain"), expected: "a domain such as example.com") {
                if let problem = CookieDomain.problem(text) {
                    reader.report(.invalidValue, at: n, key: fields.path("domain"), problem)
                    valid = false
                } else if name.hasPrefix("__Host-") {
                    // RFC 6265bis 4.1.3.2: a __Host- cookie must not have Domain; browsers would drop it.
                    reader.report(.invalidValue, at: n, key: fields.path("domain"),
                                  "a cookie named __Host-... cannot carry Domain (browsers drop it); rename it "
                                    + "__Secure-\(name.dropFirst(7)) to share it across \(text), or remove domain")
                    valid = false
                } else {
                    domain = text
                    domainLocation = reader.location(of: n)
                }
            } else {
                valid = false
            }
        }
        guard valid else { return nil }
        var cookie = Cookie(name: name, secure: secure, sameSite: sameSite)
        cookie.domain = domain
        cookie.domainLocation = domainLocation
        return cookie
    }
}

/// `admin`: the operator's listener (session administration, metrics, health, reload). Loopback by
/// default, never the public port.
package struct AdminSection: Sendable, Equatable {
    package let listen: SocketAddressSpec
    /// Host names (lowercase, without a port) the listener answers besides its own address and `localhost`:
    /// a browser tricked by DNS rebinding sends the attacker's name, which is refused.
    package let allowedHosts: [String]
    /// A file holding the bearer secret every admin request but `/healthz` and `/readyz` must carry.
    package let tokenFile: String?
    package let tokenFileLocation: SourceLocation?

    package init(listen: SocketAddressSpec, allowedHosts: [String] = [], tokenFile: String? = nil,
                 tokenFileLocation: SourceLocation? = nil) {
        self.listen = listen
        self.allowedHosts = allowedHosts
        self.tokenFile = tokenFile
        self.tokenFileLocation = tokenFileLocation
    }

    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> SectionOutcome<AdminSection> {
        guard let entry, !ConfigReader.isNull(entry.value) else { return .absent }
        guard let fields = reader.fields(of: entry.value, path: "admin",
                                         allowed: ["listen", "allowed_hosts", "token_file"],
                                         near: reader.location(of: entry.keyNode)),
            let node = reader.required(fields, "listen"),
            let addresses = reader.socketAddresses(node, path: fields.path("listen"), requireIP: true,
                                                   allowPortZero: true)
        else { return .invalid }
        guard addresses.count == 1 else {
            reader.report(.invalidValue, at: node, key: fields.path("listen"), "expected one address such as 127.0.0.1:9901")
            return .invalid
        }
        var valid = true
        var hosts: [String] = []
        if let n = fields.value("allowed_hosts") {
            if let names = reader.strings(n, path: fields.path("allowed_hosts"), one: "a host name", many: "host names",
                                          empty: "expected host names such as [admin.internal]; omit the key for none",
                                          check: Self.hostNameProblem) {
                hosts = names.map { $0.lowercased() }
            } else {
                valid = false
            }
        }
        var tokenFile: String? = nil
        var tokenLocation: SourceLocation? = nil
        if let n = fields.value("token_file") {
            tokenFile = reader.filePath(n, path: fields.path("token_file"))
            tokenLocation = reader.location(of: n)
            valid = valid && tokenFile != nil
        }
        guard valid else { return .invalid }
        return .present(AdminSection(listen: addresses[0], allowedHosts: hosts, tokenFile: tokenFile,
                                     tokenFileLocation: tokenLocation))
    }

    /// A DNS name of letters, digits, `-` and `.` (no port, no scheme, no wildcard).
    static func hostNameProblem(_ text: String) -> String? {
        let ok = text.utf8.count <= 253 && text.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        return ok ? nil : "expected a host name such as admin.internal (letters, digits, - and ., no port)"
    }
}

extension ConfigReader {
    /// `password_env` of `fields`: an environment variable name (reported when it is not one).
    func passwordEnv(_ fields: YAMLFields, example: String) -> String? {
        guard let n = fields.value("password_env") else { return nil }
        if let name = text(n, path: fields.path("password_env"), expected: "an environment variable name"),
           KeySourceSection.isEnvironmentName(name)
        {
            return name
        }
        report(.invalidValue, at: n, key: fields.path("password_env"),
               "expected an environment variable name such as \(example)")
        return nil
    }

    /// A positive duration, or `value` when the key is absent.
    func optionalDuration(_ fields: YAMLFields, _ key: String, default value: Duration) -> Duration? {
        guard let node = fields.value(key) else { return value }
        return duration(node, path: fields.path(key))
    }
}
