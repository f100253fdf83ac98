import Foundation
import Testing

@testable import GatehouseConfig

@Suite("Configuration errors: kind, line and key")
struct ConfigErrorTests {
    @Test("a misspelt key names the nearest valid key, with file and line")
    func misspeltKey() throws {
        let yaml = """
            server:
              listn: ["127.0.0.1:8080"]
            """ + "\n" + ConfigFixtures.minimal
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .unknownKey)
        #expect(error.location?.line == 2)
        #expect(error.location?.column == 3)
        #expect(error.key == "server.listn")
        #expect(error.description == "test.yaml:2: server.listn: unknown key; did you mean \"listen\"?")
    }

    @Test(
        "misspellings at every level get suggestions",
        arguments: [
            ("servr:\n  workers: 2\n", 1, "servr", "server"),
            ("server:\n  limits:\n    max_bdy: 1MiB\n", 3, "server.limits.max_bdy", "max_body"),
            ("server:\n  trusted_proxy: []\n", 2, "server.trusted_proxy", "trusted_proxies"),
            ("accesslog:\n  path: off\n", 1, "accesslog", "access_log"),
            ("access_log:\n  pth: off\n", 2, "access_log.pth", "path"),
            ("server:\n  Workers: 2\n", 2, "server.Workers", "workers"),
        ])
    func suggestions(prefix: String, line: Int, key: String, suggestion: String) throws {
        let error = try #require(ConfigFixtures.singleError(prefix + ConfigFixtures.minimal))
        #expect(error.code == .unknownKey)
        #expect(error.location?.line == line)
        #expect(error.key == key)
        #expect(error.message == "unknown key; did you mean \"\(suggestion)\"?")
    }

    @Test("misspelt keys inside upstreams and routes")
    func nestedMisspellings() {
        let yaml = """
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
                conect_timeout: 1s
            routes:
              - name: app
                match:
                  path_prefx: /
                upstram: app
                auth: none
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:4: upstreams.app.conect_timeout: unknown key; did you mean \"connect_timeout\"?",
                "test.yaml:6: routes[0].upstream: missing required key",
                "test.yaml:8: routes[0].match.path_prefx: unknown key; did you mean \"path_prefix\"?",
                "test.yaml:9: routes[0].upstram: unknown key; did you mean \"upstream\"?",
            ])
    }

    @Test("sessions need the gateway's own sign-in; store: redis needs sessions.redis; unknown keys are refused")
    func laterFeaturesRefused() {
        let yaml = """
            sessions:
              store: redis
            admin: {}
            """ + "\n" + ConfigFixtures.minimal
        let errors = ConfigFixtures.errors(yaml)
        #expect(errors.map(\.code) == [.invalidValue, .missingKey, .missingKey])
        #expect(errors.map(\.key) == ["sessions", "sessions.redis", "admin.listen"])
        #expect(errors.map { $0.location?.line } == [1, 2, 3])
        #expect(errors[0].message == "sessions are made by the gateway's own sign-in; add login: { users_file: ... }")
        #expect(errors[1].message == "store: redis needs sessions.redis: { url: \"redis://host:6379/0\" }")
    }

    @Test("a wrong type is reported at the value's line")
    func wrongType() throws {
        let error = try #require(ConfigFixtures.singleError(ConfigFixtures.withServer("workers: [1]")))
        #expect(error.code == .wrongType)
        #expect(error.location?.line == 2)
        #expect(error.key == "server.workers")
        #expect(error.message == "expected \"auto\" or an integer from 1 to 256, got a list")
    }

    @Test(
        "wrong shapes for sections, lists and scalars",
        arguments: [
            ("server: 8080\n", 1, "server", "expected a mapping, got \"8080\""),
            (
                "server:\n  listen: { a: 1 }\n", 2, "server.listen",
                "expected a list of host:port strings, got a mapping"
            ),
            ("server:\n  limits: [1]\n", 2, "server.limits", "expected a mapping, got a list"),
            (
                "server:\n  drain_timeout: { s: 1 }\n", 2, "server.drain_timeout",
                "expected a duration such as 10s, got a mapping"
            ),
            (
                "server:\n  listen:\n    - [127.0.0.1:80]\n", 3, "server.listen[0]",
                "expected a host:port string, got a list"
            ),
            ("access_log: [stdout]\n", 1, "access_log", "expected a mapping, got a list"),
        ])
    func wrongShapes(prefix: String, line: Int, key: String, message: String) throws {
        let error = try #require(ConfigFixtures.singleError(prefix + ConfigFixtures.minimal))
        #expect(error.code == .wrongType)
        #expect(error.location?.line == line)
        #expect(error.key == key)
        #expect(error.message == message)
    }

    @Test("the root must be a mapping; routes must be a list")
    func rootAndRoutesShapes() throws {
        let root = try #require(ConfigFixtures.singleError("- a\n- b\n"))
        #expect(root.code == .wrongType)
        #expect(root.message == "expected a mapping, got a list")
        let routes = try #require(
            ConfigFixtures.singleError("upstreams:\n  a:\n    servers: 1.2.3.4:80\nroutes:\n  a: b\n"))
        #expect(routes.code == .wrongType)
        #expect(routes.key == "routes")
        #expect(routes.location?.line == 5)
    }

    @Test("missing required keys point at the mapping that lacks them")
    func missingRequiredKeys() {
        let yaml = """
            upstreams:
              app:
                connect_timeout: 1s
            routes:
              - { match: { path_prefix: / }, auth: none }
              - name: second
                upstream:
                auth: none
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:3: upstreams.app.servers: missing required key",
                "test.yaml:5: routes[0].name: missing required key",
                "test.yaml:5: routes[0].upstream: missing required key",
                "test.yaml:7: routes[1].upstream: a value is required",
            ])
        #expect(errors.allSatisfy { $0.code == .missingKey })
    }

    @Test("a file without upstreams and routes names both")
    func missingSections() {
        let errors = ConfigFixtures.errors("server:\n  workers: 2\n")
        #expect(
            errors.map(\.description) == [
                "test.yaml:1: upstreams: missing required key",
                "test.yaml:1: routes: missing required key",
            ])
    }

    @Test("empty upstreams and routes are refused, without one error per route")
    func emptyCollections() {
        let errors = ConfigFixtures.errors("upstreams: {}\nroutes: []\n")
        #expect(
            errors.map(\.description) == [
                "test.yaml:1: upstreams: at least one upstream is required",
                "test.yaml:2: routes: at least one route is required",
            ])
        let noServers = ConfigFixtures.errors(
            "upstreams:\n  a:\n    servers: []\nroutes:\n  - { name: a, upstream: a, auth: none }\n")
        #expect(noServers.map(\.description) == ["test.yaml:3: upstreams.a.servers: at least one address is required"])
    }

    @Test("a duplicate mapping key is an error at the second occurrence")
    func duplicateKey() throws {
        let yaml = """
            server:
              workers: 2
              workers: 3
            """ + "\n" + ConfigFixtures.minimal
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .duplicateKey)
        #expect(error.location?.line == 3)
        #expect(error.key == "server.workers")
        #expect(error.message == "duplicate key; first defined at line 2")
    }

    @Test("duplicate upstream names (mapping keys) and duplicate top-level sections")
    func duplicateNamesAsKeys() {
        let yaml = """
            upstreams:
              app:
                servers: 127.0.0.1:1
              app:
                servers: 127.0.0.1:2
            routes:
              - { name: app, upstream: app, auth: none }
            routes: []
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(errors.map(\.code) == [.duplicateKey, .duplicateKey])
        #expect(errors.map(\.key) == ["upstreams.app", "routes"])
        #expect(errors.map { $0.location?.line } == [4, 8])
    }

    @Test("duplicate route names point at the second name")
    func duplicateRouteName() throws {
        let yaml =
            ConfigFixtures.minimal + """

                  - name: app
                    match: { path_prefix: /other }
                    upstream: app
                    auth: none
                """
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .duplicateName)
        #expect(error.location?.line == 8)
        #expect(error.key == "routes[1].name")
        #expect(error.message == "duplicate route name \"app\"; first defined at line 5")
    }

    @Test("a route naming an unknown upstream gets a suggestion or the list")
    func unknownUpstream() {
        let yaml = """
            upstreams:
              backend:
                servers: 127.0.0.1:9000
              static:
                servers: 127.0.0.1:9001
            routes:
              - name: one
                upstream: backnd
                auth: none
              - name: two
                upstream: nowhere
                auth: none
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(errors.map(\.code) == [.unknownReference, .unknownReference])
        #expect(
            errors.map(\.description) == [
                "test.yaml:8: routes[0].upstream: unknown upstream \"backnd\"; did you mean \"backend\"?",
                "test.yaml:11: routes[1].upstream: unknown upstream \"nowhere\"; "
                    + "defined upstreams: \"backend\", \"static\"",
            ])
    }

    @Test("a route naming an upstream that has its own errors is not also 'unknown'")
    func noCascade() {
        let yaml = """
            upstreams:
              app:
                servers: ["127.0.0.1"]
            routes:
              - name: app
                upstream: app
                auth: none
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(errors.map(\.key) == ["upstreams.app.servers[0]"])
        #expect(errors.map { $0.location?.line } == [3])
    }

    @Test("an upstream no route uses is accepted")
    func unusedUpstream() throws {
        let config = try #require(
            ConfigFixtures.config(
                """
                upstreams:
                  app:
                    servers: 127.0.0.1:9000
                  spare:
                    servers: 127.0.0.1:9001
                routes:
                  - { name: app, upstream: app, auth: none }
                """))
        #expect(config.upstreams.map(\.name) == ["app", "spare"])
    }

    @Test("invalid names for upstreams and routes")
    func invalidNames() {
        let yaml = """
            upstreams:
              "my app":
                servers: 127.0.0.1:9000
            routes:
              - name: a.b
                upstream: "my app"
                auth: none
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(errors.map(\.code) == [.invalidValue, .invalidValue])
        #expect(errors.map(\.key) == ["upstreams.my app", "routes[0].name"])
        #expect(errors.map { $0.location?.line } == [2, 5])
    }

    @Test("YAML syntax errors carry the line libyaml reports")
    func syntaxError() throws {
        let yaml = """
            server:
              listen: ["127.0.0.1:8080"
              workers: 2
            """
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .syntax)
        #expect(error.key == "")
        #expect(error.location?.file == "test.yaml")
        #expect(error.location?.line == 3)
        #expect(error.description.hasPrefix("test.yaml:3: invalid YAML: "))
    }

    @Test("tabs used for indentation are a syntax error with a line")
    func tabIndentation() throws {
        let error = try #require(ConfigFixtures.singleError("server:\n\tworkers: 2\n"))
        #expect(error.code == .syntax)
        #expect(error.location?.line == 2)
    }

    @Test("an undefined alias is a syntax error")
    func undefinedAlias() throws {
        let error = try #require(ConfigFixtures.singleError("server:\n  workers: *nope\n"))
        #expect(error.code == .syntax)
        #expect(error.location?.line == 2)
    }

    @Test("a second YAML document is refused")
    func twoDocuments() throws {
        let error = try #require(ConfigFixtures.singleError(ConfigFixtures.minimal + "\n---\nserver: {}\n"))
        #expect(error.code == .syntax)
        #expect(error.location?.line == 8)
        #expect(error.message == "invalid YAML: the file holds more than one document (a second \"---\"); keep one")
    }

    @Test("an empty or comment-only file is refused", arguments: ["", "# nothing\n", "---\n", "~\n"])
    func emptyFile(text: String) throws {
        let error = try #require(ConfigFixtures.singleError(text))
        #expect(error.code == .emptyFile)
        #expect(error.location?.line == 1)
    }

    @Test("merge keys are refused with an explanation")
    func mergeKeys() throws {
        let yaml = """
            x: &defaults { connect_timeout: 1s }
            """
        let errors = ConfigFixtures.errors(
            yaml + "\n"
                + ConfigFixtures.minimal.replacingOccurrences(
                    of: "    servers:", with: "    <<: *defaults\n    servers:"))
        #expect(errors.map(\.key) == ["x", "upstreams.app.<<"])
        #expect(errors[1].message == "YAML merge keys (<<) are not supported; write the keys out")
    }

    @Test("every problem is collected, in file order, one per line in the description")
    func collectsAll() {
        let yaml = """
            server:
              listen: "localhost:8080"
              workers: 0
              limits:
                max_body: 10
                header_timeout: 10
              trusted_proxies: ["10.0.0.1/8"]
            access_log:
              path: ""
            upstreams:
              app:
                servers: ["127.0.0.1:0"]
                keepalive: -1
            routes:
              - name: app
                match: { host: "app.example.com:443", path_prefix: api, methods: [get] }
                upstream: app
                auth: none
            """
        let errors = ConfigFixtures.errors(yaml)
        let expected = [
            "test.yaml:2: server.listen: \"localhost:8080\": a listen address needs an IP address "
                + "(e.g. 127.0.0.1 or [::1]), not the name \"localhost\"",
            "test.yaml:3: server.workers: expected \"auto\" or an integer from 1 to 256, got \"0\"",
            "test.yaml:6: server.limits.header_timeout: add a unit: \"10s\" for seconds or \"10ms\" for milliseconds",
            "test.yaml:7: server.trusted_proxies[0]: \"10.0.0.1/8\" has bits set after the /8 prefix",
            "test.yaml:9: access_log.path: expected \"stdout\", \"off\" or a file path",
            "test.yaml:12: upstreams.app.servers[0]: \"127.0.0.1:0\": port 0 is not a valid server port",
            "test.yaml:13: upstreams.app.keepalive: expected an integer of at least 0, got -1",
            "test.yaml:16: routes[0].match.host: \"app.example.com:443\": give the host without a port "
                + "(the port is not part of the match)",
            "test.yaml:16: routes[0].match.path_prefix: must start with \"/\"",
            "test.yaml:16: routes[0].match.methods[0]: methods are case-sensitive; did you mean \"GET\"?",
        ]
        #expect(errors.map(\.description) == expected)
        #expect(ConfigErrors(errors: errors).description == expected.joined(separator: "\n"))
    }

    @Test("max_request_line may not exceed max_request_head")
    func lineLongerThanHead() throws {
        let error = try #require(
            ConfigFixtures.singleError(
                ConfigFixtures.withServer(
                    """
                    limits:
                      max_request_line: 64KiB
                    """)))
        #expect(error.code == .invalidValue)
        #expect(error.key == "server.limits.max_request_line")
        #expect(error.location?.line == 3)
    }

    @Test("a repeated listen address is refused")
    func repeatedListen() throws {
        let error = try #require(
            ConfigFixtures.singleError(
                ConfigFixtures.withServer(
                    """
                    listen:
                      - 127.0.0.1:8080
                      - 127.0.0.1:8081
                      - 127.0.0.1:8080
                    """)))
        #expect(error.key == "server.listen[2]")
        #expect(error.location?.line == 5)
        #expect(error.message == "127.0.0.1:8080 is listed twice")
    }

    @Test("error descriptions leave out what is unknown")
    func descriptionFormat() {
        let located = ConfigError(
            code: .invalidValue, location: GatehouseConfig.SourceLocation(file: "a.yaml", line: 4, column: 9),
            key: "server.workers", message: "bad")
        #expect(located.description == "a.yaml:4: server.workers: bad")
        let fileLevel = ConfigError(code: .unreadable, location: nil, key: "", message: "cannot read x")
        #expect(fileLevel.description == "cannot read x")
        #expect(ConfigError.Code.unknownKey.description == "unknownKey")
        #expect(ConfigError.Code.unknownKey != .duplicateKey)
    }
}
