import Testing

@testable import GatehouseConfig

/// `accept: [basic]`, a route's `basic` and `inject_basic` on routes and upstreams.
@Suite("Routes and upstreams: basic, inject_basic")
struct BasicAuthConfigTests {
    static let login = "login:\n  users_file: users.yaml\n"

    @Test("accept: [basic] needs a users file; basic gets its defaults without the key")
    func acceptBasic() throws {
        let error = try #require(AuthFixtures.routeError("accept: [basic]"))
        #expect(error.code == .unknownReference)
        #expect(error.key == "routes[0].accept[0]")
        #expect(error.message == "basic checks the users file's users; add login: { users_file: ... }")
        let route = try #require(AuthFixtures.loadRoute("accept: [basic, bearer]", before: Self.login))
        #expect(route.accept == [.basic, .bearer])
        #expect(route.basic == BasicAcceptSection(realm: "gatehouse", cacheTTL: .seconds(300)))
        #expect(route.injectBasic == nil)
    }

    @Test("basic: realm and cache_ttl are read; off turns the cache off")
    func basicKeys() throws {
        let route = try #require(AuthFixtures.loadRoute(
            "accept: [basic]\nbasic: { realm: \"Legacy app\", cache_ttl: 90s }", before: Self.login))
        #expect(route.basic == BasicAcceptSection(realm: "Legacy app", cacheTTL: .seconds(90)))
        let off = try #require(AuthFixtures.loadRoute("accept: [basic]\nbasic: { cache_ttl: \"off\" }",
                                                      before: Self.login))
        #expect(off.basic?.cacheTTL == .zero)
    }

    @Test("bad basic settings are refused with the key")
    func basicRefusals() throws {
        let cases: [(String, String, String)] = [
            ("accept: [bearer]\nbasic: { realm: x }", "routes[0].basic",
             "basic settings need basic in accept, as in accept: [basic]"),
            ("accept: [basic]\nbasic: { realm: \"a\\\"b\" }", "routes[0].basic.realm",
             "a realm is printable ASCII without \" or \\"),
            ("accept: [basic]\nbasic: { realm: \"\" }", "routes[0].basic.realm", "a realm cannot be empty"),
            ("accept: [basic]\nbasic: { cache_ttl: 2h }", "routes[0].basic.cache_ttl",
             "at most 1h: a verified password is answered from memory for this long"),
            ("accept: [basic]\nbasic: { cache_tll: 1m }", "routes[0].basic.cache_tll", "unknown key; did you mean \"cache_ttl\"?"),
        ]
        for (lines, key, message) in cases {
            let error = try #require(AuthFixtures.routeError(lines, before: Self.login), "\(lines)")
            #expect(error.key == key, "\(lines)")
            #expect(error.message == message, "\(lines)")
        }
    }

    @Test("inject_basic on a route: username template, exactly one password source")
    func injectBasic() throws {
        let route = try #require(AuthFixtures.loadRoute(
            "accept: [bearer]\ninject_basic: { username: \"{sub}@corp\", password_env: LEGACY_PW }"))
        #expect(route.injectBasic?.username == "{sub}@corp")
        #expect(route.injectBasic?.passwordEnv == "LEGACY_PW")
        #expect(route.injectBasic?.keyPath == "routes[0].inject_basic")
        let cases: [(String, String, String)] = [
            ("inject_basic: { username: \"{sub}\" }", "routes[0].inject_basic",
             "name the upstream's password: password_env: NAME or password_file: PATH"),
            ("inject_basic: { password_env: A, password_file: /x }", "routes[0].inject_basic",
             "give password_env or password_file, not both"),
            ("inject_basic: { username: \"a:{sub}\", password_env: A }", "routes[0].inject_basic.username",
             "a Basic user name cannot contain \":\" (RFC 7617)"),
            ("inject_basic: { username: \"{sub\", password_env: A }", "routes[0].inject_basic.username", ""),
        ]
        for (lines, key, message) in cases {
            let error = try #require(AuthFixtures.routeError("accept: [bearer]\n" + lines), "\(lines)")
            #expect(error.key == key, "\(lines): \(error)")
            if !message.isEmpty { #expect(error.message == message, "\(lines)") }
        }
    }

    @Test("inject_basic on an upstream")
    func upstreamInjectBasic() throws {
        let yaml = """
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
                inject_basic: { password_file: /etc/gatehouse/app.pw }
            routes:
              - name: app
                upstream: app
                auth: none
            """
        let config = try #require(ConfigFixtures.config(yaml))
        let inject = try #require(config.upstreams.first?.injectBasic)
        #expect(inject.username == "{sub}")
        #expect(inject.passwordFile == "/etc/gatehouse/app.pw")
        #expect(inject.keyPath == "upstreams.app.inject_basic")
    }
}
