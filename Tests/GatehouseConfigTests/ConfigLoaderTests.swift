import Foundation
import Testing

@testable import GatehouseConfig

@Suite("Loading whole files")
struct ConfigLoaderTests {
    @Test("Config/gatehouse.yaml loads and says what the README promises")
    func defaultFileLoads() throws {
        let path = ConfigFixtures.repositoryRoot.appendingPathComponent("Config/gatehouse.yaml").path
        let config = try ConfigLoader.load(path: path)
        #expect(config.sourcePath == path)
        #expect(config.server.listen.map(\.description) == ["127.0.0.1:8080"])
        #expect(config.server.workers == nil)
        #expect(config.server.limits == LimitsSection.defaults)
        #expect(config.server.drainTimeout == .seconds(10))
        #expect(config.server.trustedProxies.isEmpty)
        #expect(config.accessLog.destination == .stdout)
        #expect(config.upstreams.map(\.name) == ["demo"])
        #expect(config.upstreams[0].servers.map(\.description) == ["127.0.0.1:9000"])
        #expect(config.routes.map(\.name) == ["private", "demo"])
        #expect(config.routes[0].pathPrefix == "/private")
        #expect(config.routes[0].accept == [.session])
        #expect(config.routes[0].unauthenticated == .login)
        #expect(config.routes[1].pathPrefix == "/")
        #expect(config.routes[1].upstream == "demo")
        #expect(config.routes[1].host == nil)
        #expect(config.routes[1].methods == nil)
        #expect(config.routes[1].auth == AuthMode.none)
        #expect(config.routes[1].accept.isEmpty)
        #expect(config.routes[1].forwardAuthorization == false)
        #expect(config.tokens == nil)
        #expect(config.admin?.listen.description == "127.0.0.1:9901")
        // The gateway's own sign-in, session mode, on the embedded store: every default written out.
        #expect(config.login?.url == "/.gatehouse/login")
        #expect(config.login?.signIn == LoginSection.SignIn(
            usersFile: "Config/users.yaml", mode: .session, signingKeyFile: nil, signingKeyID: "gatehouse-1",
            issuer: "gatehouse", accessTTL: .seconds(600), refreshTTL: .seconds(30 * 86_400),
            rateLimit: .init(failures: 5, window: .seconds(60)), hashThreads: 2))
        #expect(config.sessions == SessionsSection(
            store: .embedded(path: "var/sessions.sqlite"), cookie: SessionsSection.defaults.cookie,
            absoluteTTL: .seconds(12 * 3600), idleTTL: .seconds(3600), maxPerUser: 0))
        #expect(config.sessions == SessionsSection.defaults)
        #expect(config.identityHeaders.map(\.name) == ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups"])
        #expect(config.identityHeaders.map(\.template) == ["{sub}", "{email}", "{groups}"])
        #expect(config.stripHeaderPrefixes == ["X-Auth-"])
    }

    @Test("the default file spells out every default, so it equals the minimal file")
    func defaultFileEqualsDefaults() throws {
        let path = ConfigFixtures.repositoryRoot.appendingPathComponent("Config/gatehouse.yaml").path
        let file = try ConfigLoader.load(path: path)
        let minimal = try ConfigLoader.parse(
            yaml: ConfigFixtures.minimal.replacingOccurrences(of: "app", with: "demo"), path: path)
        #expect(file.server == minimal.server)
        #expect(file.accessLog == minimal.accessLog)
        #expect(file.upstreams == minimal.upstreams)
        #expect(file.tokens == minimal.tokens)
        // Locations differ (the file writes the map out; the default is at line 0).
        #expect(file.identityHeaders.map(\.name) == minimal.identityHeaders.map(\.name))
        #expect(file.identityHeaders.map(\.template) == minimal.identityHeaders.map(\.template))
        #expect(file.stripHeaderPrefixes == minimal.stripHeaderPrefixes)
        let route = file.routes[1]
        let defaultRoute = minimal.routes[0]
        #expect(route.auth == defaultRoute.auth)
        #expect(route.accept == defaultRoute.accept)
        #expect(route.unauthenticated == defaultRoute.unauthenticated)
        #expect(route.forwardAuthorization == defaultRoute.forwardAuthorization)
        #expect(route.stripCredentialCookies == defaultRoute.stripCredentialCookies)
    }

    @Test("every default of the schema")
    func everyDefault() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.minimal))
        let server = config.server
        #expect(server.listen.count == 1)
        #expect(server.listen[0].host == "127.0.0.1")
        #expect(server.listen[0].port == 8080)
        #expect(server.workers == nil)
        #expect(server.limits.maxRequestLine == 8 * 1024)
        #expect(server.limits.maxRequestHead == 32 * 1024)
        #expect(server.limits.maxHeaderCount == 100)
        #expect(server.limits.maxBody == 64 * 1024 * 1024)
        #expect(server.limits.headerTimeout == .seconds(10))
        #expect(server.limits.idleTimeout == .seconds(75))
        #expect(server.limits.bodyTimeout == .seconds(30))
        #expect(server.limits.tunnelIdleTimeout == .seconds(3600))
        #expect(server.drainTimeout == .seconds(10))
        #expect(server.trustedProxies == [])
        #expect(config.accessLog.destination == .stdout)
        let upstream = try #require(config.upstream(named: "app"))
        #expect(upstream.servers.map(\.description) == ["127.0.0.1:9000"])
        #expect(upstream.connectTimeout == .seconds(3))
        #expect(upstream.responseTimeout == .seconds(60))
        #expect(upstream.keepalive == 32)
        #expect(upstream.keepaliveTimeout == .seconds(60))
        #expect(upstream.failTimeout == .seconds(10))
        let route = config.routes[0]
        #expect(route.name == "app")
        #expect(route.host == nil)
        #expect(route.pathPrefix == "/")
        #expect(route.methods == nil)
        #expect(route.upstream == "app")
        #expect(route.location == GatehouseConfig.SourceLocation(file: "test.yaml", line: 5, column: 5))
        #expect(config.sourcePath == "test.yaml")
    }

    @Test("null sections and null optional keys take their defaults")
    func nullMeansDefault() throws {
        let yaml = """
            server:
            access_log: ~
            upstreams:
              app:
                servers: 127.0.0.1:9000
                keepalive:
            routes:
              - name: app
                match:
                upstream: app
                auth: none
            """
        let config = try #require(ConfigFixtures.config(yaml))
        let defaults = try #require(ConfigFixtures.config(ConfigFixtures.minimal))
        #expect(config.server == defaults.server)
        #expect(config.accessLog == defaults.accessLog)
        #expect(config.upstreams == defaults.upstreams)
        #expect(config.routes.map(\.pathPrefix) == ["/"])
    }

    @Test("every key set to a non-default value")
    func everyKeySet() throws {
        let yaml = """
            server:
              listen: ["0.0.0.0:80", "[::]:8443", "127.0.0.1:0"]
              workers: 4
              limits:
                max_request_line: 4KiB
                max_request_head: 16KB
                max_header_count: 50
                max_body: 1GiB
                header_timeout: 5s
                idle_timeout: 2m
                body_timeout: 1500ms
              drain_timeout: 1h
              trusted_proxies: ["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]
            access_log:
              path: var/access.log
            upstreams:
              web:
                servers: ["web1.internal:8000", "[fd00::5]:8000"]
                connect_timeout: 250ms
                response_timeout: 30s
                keepalive: 0
                keepalive_timeout: 5s
                fail_timeout: 1m
              unused:
                servers: 127.0.0.1:9999
            routes:
              - name: api
                match: { host: API.Example.com, path_prefix: /api/, methods: [GET, POST] }
                upstream: web
                auth: none
              - name: tenants
                match:
                  host: "*.Example.COM"
                upstream: web
                auth: none
            """
        let config = try #require(ConfigFixtures.config(yaml))
        let server = config.server
        #expect(server.listen.map(\.description) == ["0.0.0.0:80", "[::]:8443", "127.0.0.1:0"])
        #expect(server.listen[1].host == "::")
        #expect(server.listen[2].port == 0)
        #expect(server.workers == 4)
        #expect(
            server.limits
                == LimitsSection(
                    maxRequestLine: 4096, maxRequestHead: 16000, maxHeaderCount: 50, maxBody: 1 << 30,
                    headerTimeout: .seconds(5), idleTimeout: .seconds(120), bodyTimeout: .milliseconds(1500)))
        #expect(server.drainTimeout == .seconds(3600))
        #expect(server.trustedProxies.map(\.prefixLength) == [8, 32, 128, 8])
        #expect(server.trustedProxies.map(\.description) == ["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"])
        #expect(config.accessLog.destination == .file("var/access.log"))
        #expect(config.upstreams.map(\.name) == ["web", "unused"])
        #expect(
            config.upstreams[0]
                == UpstreamSection(
                    name: "web", servers: config.upstreams[0].servers, connectTimeout: .milliseconds(250),
                    responseTimeout: .seconds(30), keepalive: 0, keepaliveTimeout: .seconds(5),
                    failTimeout: .seconds(60)))
        #expect(config.upstreams[0].servers.map(\.host) == ["web1.internal", "fd00::5"])
        #expect(config.upstreams[0].servers.map(\.isIPLiteral) == [false, true])
        #expect(config.routes[0].host == .exact("api.example.com"))
        #expect(config.routes[0].pathPrefix == "/api/")
        #expect(config.routes[0].methods == ["GET", "POST"])
        #expect(config.routes[0].location.line == 27)
        #expect(config.routes[1].host == .wildcard(suffix: ".example.com"))
        #expect(config.routes[1].location.line == 31)
    }

    @Test("server.limits.tunnel_idle_timeout: read as a duration, a bad one refused at its line")
    func tunnelIdleTimeout() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.withServer("limits:\n  tunnel_idle_timeout: 90s")))
        #expect(config.server.limits.tunnelIdleTimeout == .seconds(90))
        let errors = ConfigFixtures.errors(ConfigFixtures.withServer("limits:\n  tunnel_idle_timeout: forever"))
        #expect(errors.map(\.key) == ["server.limits.tunnel_idle_timeout"])
        #expect(errors.map { $0.location?.line } == [3])
    }

    @Test("a stalled body times out (408) before the default response_timeout could answer 504")
    func bodyTimeoutBelowResponseTimeout() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.withServer("workers: 1")))
        let upstream = try #require(config.upstreams.first)
        #expect(config.server.limits.bodyTimeout < upstream.responseTimeout)
    }

    @Test("access_log.path: stdout, off, or a file; off stays a string despite YAML 1.1")
    func accessLogDestinations() throws {
        for (text, expected) in [
            ("stdout", AccessLogSection.Destination.stdout), ("off", .off), ("\"off\"", .off),
            ("/var/log/gatehouse.log", .file("/var/log/gatehouse.log")),
        ] {
            let config = try #require(ConfigFixtures.config("access_log:\n  path: \(text)\n" + ConfigFixtures.minimal))
            #expect(config.accessLog.destination == expected)
        }
    }

    @Test("a single string is accepted where a list is expected")
    func singleStringLists() throws {
        let yaml = ConfigFixtures.withServer("listen: \"[::1]:8080\"\ntrusted_proxies: 10.1.0.0/16")
        let config = try #require(ConfigFixtures.config(yaml))
        #expect(config.server.listen.map(\.description) == ["[::1]:8080"])
        #expect(config.server.trustedProxies.map(\.description) == ["10.1.0.0/16"])
    }

    @Test("YAML anchors and aliases are followed")
    func aliases() throws {
        let yaml = """
            upstreams:
              a:
                servers: &pool ["127.0.0.1:9000", "127.0.0.1:9001"]
              b:
                servers: *pool
            routes:
              - { name: a, upstream: a, auth: none }
              - { name: b, match: { path_prefix: /b }, upstream: b, auth: none }
            """
        let config = try #require(ConfigFixtures.config(yaml))
        #expect(config.upstreams[0].servers == config.upstreams[1].servers)
    }

    @Test("a missing file is an unreadable error naming the path")
    func missingFile() {
        #expect {
            try ConfigLoader.load(path: "/nonexistent/gatehouse.yaml")
        } throws: { error in
            guard let errors = error as? ConfigErrors, errors.errors.count == 1 else { return false }
            let only = errors.errors[0]
            return only.code == .unreadable && only.location == nil
                && only.description == "cannot read /nonexistent/gatehouse.yaml: no such file"
        }
    }

    @Test("a directory is refused")
    func directory() {
        do {
            _ = try ConfigLoader.load(path: NSTemporaryDirectory())
            Issue.record("a directory loaded")
        } catch {
            #expect(error.errors.map(\.code) == [.unreadable])
            #expect(error.errors[0].message.hasSuffix("it is a directory"))
        }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() throws {
        let path = NSTemporaryDirectory() + "gatehouse-config-test-\(getpid()).yaml"
        try Data([0x72, 0x6f, 0x75, 0x74, 0x65, 0x73, 0x3a, 0xff, 0xfe]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("invalid UTF-8 loaded")
        } catch {
            #expect(error.errors.map(\.message) == ["cannot read \(path): not valid UTF-8"])
        }
    }

    @Test("a file that loads from disk reports its own path in errors")
    func errorsNameTheFile() throws {
        let path = NSTemporaryDirectory() + "gatehouse-config-test-errors-\(getpid()).yaml"
        try "server:\n  listn: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("invalid file loaded")
        } catch {
            #expect(
                error.errors.map(\.description) == [
                    "\(path):1: upstreams: missing required key",
                    "\(path):1: routes: missing required key",
                    "\(path):2: server.listn: unknown key; did you mean \"listen\"?",
                ])
        }
    }
}

@Suite("docs/configuration.md")
struct DocumentationTests {
    /// The YAML blocks of the reference that are whole files (they have `upstreams` and `routes`).
    static func wholeFiles() throws -> [String] {
        try yamlBlocks().filter { block in
            let keys = topLevelKeys(block)
            return keys.contains("upstreams") && keys.contains("routes")
        }
    }

    /// The keys at column 1 of a YAML block.
    static func topLevelKeys(_ block: String) -> [String] {
        block.split(separator: "\n").filter { !$0.hasPrefix(" ") && !$0.hasPrefix("#") && !$0.hasPrefix("-") }
            .compactMap { $0.split(separator: ":", maxSplits: 1).first.map(String.init) }
    }

    /// Every YAML block of the reference.
    static func yamlBlocks() throws -> [String] {
        let path = ConfigFixtures.repositoryRoot.appendingPathComponent("docs/configuration.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```yaml" {
                current = []
            } else if let lines = current, line == "```" {
                blocks.append(lines.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("every whole file in the reference loads")
    func examplesLoad() throws {
        let files = try Self.wholeFiles()
        #expect(files.count >= 4)
        for file in files {
            _ = ConfigFixtures.config(file)
        }
    }

    @Test("every example of an optional section loads beside a minimal file")
    func sectionExamplesLoad() throws {
        let optional: Set = ["server", "access_log", "tokens", "login", "identity_headers", "strip_header_prefixes", "admin"]
        let fragments = try Self.yamlBlocks().filter { block in
            let keys = Self.topLevelKeys(block)
            return !keys.isEmpty && keys.allSatisfy(optional.contains)
        }
        #expect(fragments.count >= 6)
        for fragment in fragments {
            _ = ConfigFixtures.config(fragment + "\n" + ConfigFixtures.minimal)
        }
    }

    @Test("the worked example means what the reference says")
    func workedExample() throws {
        let file = try #require(try Self.wholeFiles().first { $0.contains("name: web") })
        let config = try #require(ConfigFixtures.config(file))
        #expect(config.routes.map(\.name) == ["static", "api", "web"])
        #expect(config.routes.map(\.auth) == [AuthMode.none, .required, .required])
        #expect(config.routes[1].accept == [.bearer])
        #expect(
            config.routes[1].require
                == .any([
                    .all([.methods(["GET", "HEAD"]), .scopes(["read"])]),
                    .all([.scopes(["write"]), .groupsAny(["ops"])]),
                ]))
        #expect(config.identityHeaders(for: config.routes[1]).map(\.name) == ["X-Auth-User", "X-Auth-Client"])
        #expect(config.routes[2].accept == [.cookie("access_token")])
        #expect(config.routes[2].unauthenticated == .login)
        #expect(config.routes[2].stripCredentialCookies)
        #expect(config.login?.url == "https://idp.example.com/login")
        #expect(config.strippedHeaderNames == ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups", "X-Auth-Client"])
    }
}
