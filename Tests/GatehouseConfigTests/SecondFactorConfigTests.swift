import Testing

@testable import GatehouseConfig

/// `login.require_second_factor` and the route key `require_second_factor` (issue 14).
@Suite("Configuration: require_second_factor")
struct SecondFactorConfigTests {
    @Test("login.require_second_factor: false by default, read when given; not a boolean or without users_file refused")
    func loginKey() throws {
        let on = try #require(ConfigFixtures.config(LoginQueueConfigTests.yaml("  require_second_factor: true")))
        #expect(on.login?.signIn?.requireSecondFactor == true)
        let off = try #require(ConfigFixtures.config(LoginQueueConfigTests.yaml("")))
        #expect(off.login?.signIn?.requireSecondFactor == false)
        let bad = try #require(ConfigFixtures.singleError(LoginQueueConfigTests.yaml("  require_second_factor: sometimes")))
        #expect(bad.key == "login.require_second_factor")
        #expect(bad.location?.line == 3)
        let orphan = try #require(ConfigFixtures.singleError("""
            login:
              url: https://sso.example.com/login
              require_second_factor: true
            """ + "\n" + ConfigFixtures.minimal))
        #expect(orphan.key == "login.require_second_factor")
        #expect(orphan.message.contains("users_file"))
    }

    @Test("route require_second_factor: the amr claim must hold otp, alone or with require")
    func routeKey() throws {
        let alone = try #require(AuthFixtures.loadRoute("accept: [bearer]\nrequire_second_factor: true"))
        #expect(alone.require == .claims([(path: "amr", values: ["otp"])]))
        let combined = try #require(AuthFixtures.loadRoute(
            "accept: [bearer]\nrequire: { groups_any: [staff] }\nrequire_second_factor: true"))
        #expect(combined.require == .all([.groupsAny(["staff"]), .claims([(path: "amr", values: ["otp"])])]))
        let off = try #require(AuthFixtures.loadRoute("accept: [bearer]\nrequire_second_factor: false"))
        #expect(off.require == nil)
    }

    @Test("route require_second_factor on a public or optional route, or not a boolean: refused with its line")
    func routeKeyRefused() throws {
        let publicRoute = try #require(AuthFixtures.routeError("auth: none\nrequire_second_factor: true"))
        #expect(publicRoute.key == "routes[0].require_second_factor")
        #expect(publicRoute.message.contains("auth: required"))
        #expect(publicRoute.location?.line == 14)
        let optional = try #require(AuthFixtures.routeError("auth: optional\naccept: [bearer]\nrequire_second_factor: true"))
        #expect(optional.key == "routes[0].require_second_factor")
        let notBool = try #require(AuthFixtures.routeError("accept: [bearer]\nrequire_second_factor: 2"))
        #expect(notBool.key == "routes[0].require_second_factor")
    }
}
