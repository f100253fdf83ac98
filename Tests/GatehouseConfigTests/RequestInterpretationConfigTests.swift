import Foundation
import Testing

@testable import GatehouseConfig

/// `server.underscores_in_headers`, `server.path_parameters`, `server.case_insensitive_paths` and
/// `match.case_insensitive`: how request names and paths are read where backends disagree.
@Suite("Config: underscores, path parameters, case-insensitive paths")
struct RequestInterpretationConfigTests {
    @Test("the defaults are the safe readings: drop, refuse, case-sensitive")
    func defaults() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.minimal))
        #expect(config.server.underscoresInHeaders == .drop)
        #expect(config.server.pathParameters == .refuse)
        #expect(config.server.caseInsensitivePaths == false)
        #expect(config.routes[0].caseInsensitive == nil)
    }

    @Test("each key is read")
    func explicitValues() throws {
        let yaml = ConfigFixtures.withServer(
            "underscores_in_headers: forward\npath_parameters: servlet\ncase_insensitive_paths: true")
        let config = try #require(ConfigFixtures.config(yaml))
        #expect(config.server.underscoresInHeaders == .forward)
        #expect(config.server.pathParameters == .servlet)
        #expect(config.server.caseInsensitivePaths == true)
    }

    @Test(
        "bad values are refused at their line, with the choices",
        arguments: [
            ("underscores_in_headers: allow", "server.underscores_in_headers",
             "expected one of \"drop\", \"forward\", got \"allow\""),
            ("underscores_in_headers: Drop", "server.underscores_in_headers",
             "expected one of \"drop\", \"forward\"; did you mean \"drop\"?"),
            ("path_parameters: strip", "server.path_parameters", "expected one of \"refuse\", \"servlet\", got \"strip\""),
            ("case_insensitive_paths: yes", "server.case_insensitive_paths", "expected true or false, got \"yes\"; write true"),
        ])
    func badValues(_ line: String, _ key: String, _ message: String) throws {
        let error = try #require(ConfigFixtures.singleError(ConfigFixtures.withServer(line)))
        #expect(error.location?.line == 2)
        #expect(error.key == key)
        #expect(error.message == message)
    }

    @Test("match.case_insensitive is a boolean per route")
    func routeCaseInsensitive() throws {
        let yaml = """
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:
              - name: a
                match: { path_prefix: /a, case_insensitive: true }
                upstream: app
                auth: none
              - name: b
                match: { path_prefix: /b, case_insensitive: false }
                upstream: app
                auth: none
            """
        let config = try #require(ConfigFixtures.config(yaml))
        #expect(config.routes.map(\.caseInsensitive) == [true, false])
        let bad = try #require(ConfigFixtures.singleError(yaml.replacingOccurrences(of: "case_insensitive: true",
                                                                                     with: "case_insensitive: on")))
        #expect(bad.key == "routes[0].match.case_insensitive")
        #expect(bad.location?.line == 6)
    }

    @Test("a path prefix cannot hold a path parameter (it could never match)")
    func prefixWithParameter() {
        for text in ["/a;b", "/a%3Bb", "/a%3bb"] {
            guard case .invalid(let message) = RouteSection.parsePathPrefix(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(message == "cannot hold a path parameter (\";\"): routes match paths without them")
        }
    }

    @Test("X-Real-IP is the gateway's: it cannot be an identity header, in any spelling")
    func realIPReserved() throws {
        for name in ["X-Real-IP", "x_real_ip"] {
            let yaml = ConfigFixtures.minimal + "\nidentity_headers:\n  \(name): \"{sub}\"\n"
            let error = try #require(ConfigFixtures.singleError(yaml))
            #expect(error.message.contains("set by the gateway on every request"), "\(error.message)")
        }
    }
}
