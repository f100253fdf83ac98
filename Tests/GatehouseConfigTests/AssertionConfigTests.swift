import Testing

@testable import GatehouseConfig

/// `assertion` (top level and per route) and `upstreams.NAME.shared_secret_header`: defaults, overrides, and a
/// precise error with the key path for every bad value.
@Suite("Config: assertion and shared_secret_header")
struct AssertionConfigTests {
    /// `AuthFixtures.header` (an issuer, upstream `app`) with `top` before it and `routes` after it.
    static func file(top: String, routes: String = "- { name: api, upstream: app, accept: [bearer] }") -> String {
        top + "\n" + AuthFixtures.withRoutes(routes)
    }

    static let key = "assertion:\n  signing_key: { pem_file: keys/assert.pem }\n"

    @Test("defaults: X-Gatehouse-Assertion, 1m, the upstream's name as audience, issuer gatehouse")
    func defaults() throws {
        let config = try #require(ConfigFixtures.config(Self.file(top: Self.key)))
        let resolved = try #require(config.assertion(for: config.routes[0]))
        #expect(resolved == ResolvedAssertion(header: "X-Gatehouse-Assertion", ttl: .seconds(60), audience: "app",
                                              issuer: "gatehouse"))
        #expect(config.assertion?.signingKeyID == "gatehouse-assertion-1")
        #expect(config.assertion?.cacheSize == 4096)
        // A client-sent copy is stripped on every route.
        #expect(config.strippedHeaderNames.contains("X-Gatehouse-Assertion"))
    }

    @Test("a route overrides header, ttl and audience, turns it off, or turns it on without a top level")
    func routeOverrides() throws {
        let routes = """
            - { name: api, upstream: app, accept: [bearer], assertion: { header: X-Who, ttl: 5s, audience: billing } }
            - { name: off, upstream: app, accept: [bearer], assertion: false }
            - { name: plain, upstream: app, accept: [bearer] }
            - { name: public, upstream: app, auth: none }
            """
        let config = try #require(ConfigFixtures.config(Self.file(top: Self.key + "  audience: legacy\n  issuer: gh-1",
                                                                  routes: routes)))
        #expect(config.assertion(for: config.routes[0])
                    == ResolvedAssertion(header: "X-Who", ttl: .seconds(5), audience: "billing", issuer: "gh-1"))
        #expect(config.assertion(for: config.routes[1]) == nil)
        #expect(config.assertion(for: config.routes[2])?.audience == "legacy")
        #expect(config.assertion(for: config.routes[3]) == nil, "a public route has no identity to assert")
        #expect(config.strippedHeaderNames.contains("X-Who"))
        // Only on the route that asks for it, signed with the login key.
        let login = "login:\n  users_file: users.yaml\n  signing_key: { pem_file: k.pem }\n"
        let only = try #require(ConfigFixtures.config(Self.file(top: login, routes: """
            - { name: api, upstream: app, accept: [bearer], assertion: true }
            - { name: other, upstream: app, accept: [bearer] }
            """)))
        #expect(only.assertion(for: only.routes[0])?.header == "X-Gatehouse-Assertion")
        #expect(only.assertion(for: only.routes[1]) == nil)
    }

    @Test("bad values are refused with their key path")
    func badValues() {
        let cases: [(String, String, String)] = [
            (Self.key + "  ttl: 0s", "assertion.ttl", ""),
            (Self.key + "  ttl: 2h", "assertion.ttl", "between 1s and 1h"),
            (Self.key + "  header: \"Bad Header\"", "assertion.header", ""),
            (Self.key + "  header: Authorization", "assertion.header", "cannot carry"),
            (Self.key + "  header: X-Forwarded-For", "assertion.header", "cannot carry"),
            (Self.key + "  audience: \"two words\"", "assertion.audience", "printable ASCII"),
            (Self.key + "  audience: [a, b]", "assertion.audience", "expected an audience name"),
            (Self.key + "  issuer: \"a\\\\b\"", "assertion.issuer", "printable ASCII"),
            ("assertion:\n  signing_key: { pem_file: k.pem, kid: \"\" }", "assertion.signing_key.kid", "printable"),
            (Self.key + "  audience: gatehouse", "assertion.audience", "the gateway's own issuer"),
            (Self.key + "  cache_size: 1", "assertion.cache_size", ""),
            (Self.key + "  lifetime: 1m", "assertion.lifetime", "unknown key"),
            ("assertion:\n  signing_key: { kid: x }", "assertion.signing_key.pem_file", "missing"),
            ("assertion: { ttl: 1m }", "assertion", "signed by the gateway's own key"),
        ]
        for (top, key, message) in cases {
            let error = ConfigFixtures.singleError(Self.file(top: top))
            #expect(error?.key == key, "\(top): \(error.map { "\($0)" } ?? "none")")
            #expect(error?.message.contains(message) == true, "\(top): \(error?.message ?? "none")")
        }
    }

    @Test("route-level mistakes: a public route, a bad boolean, a clash with an identity header, no key")
    func routeErrors() {
        let publicRoute = ConfigFixtures.singleError(Self.file(
            top: Self.key, routes: "- { name: p, upstream: app, auth: none, assertion: { ttl: 5s } }"))
        #expect(publicRoute?.key == "routes[0].assertion")
        #expect(publicRoute?.message.contains("no identity to assert") == true)
        let yes = ConfigFixtures.singleError(Self.file(
            top: Self.key, routes: "- { name: a, upstream: app, accept: [bearer], assertion: yes }"))
        #expect(yes?.key == "routes[0].assertion")
        #expect(yes?.message.contains("write true") == true)
        let clash = ConfigFixtures.singleError(Self.file(
            top: Self.key, routes: "- { name: a, upstream: app, accept: [bearer], assertion: { header: X-Auth-User } }"))
        #expect(clash?.key == "routes[0].assertion.header")
        let secretClash = ConfigFixtures.singleError(Self.key + """
            tokens:
              issuers:
                - { issuer: "https://idp.example.com", audiences: [a], keys: [{ jwks_file: k.json }] }
            upstreams:
              app: { servers: ["127.0.0.1:9000"], shared_secret_header: { name: X-Gatehouse-Assertion, secret_env: S } }
            routes:
              - { name: c, upstream: app, accept: [bearer] }
            """)
        #expect(secretClash?.key == "assertion.header")
        #expect(secretClash?.message.contains("shared_secret_header") == true)
        let noKey = ConfigFixtures.singleError(Self.file(
            top: "", routes: "- { name: a, upstream: app, accept: [bearer], assertion: true }"))
        #expect(noKey?.key == "routes[0].assertion")
        #expect(noKey?.message.contains("assertion.signing_key") == true)
        let sameKid = ConfigFixtures.singleError(Self.file(
            top: "login:\n  users_file: u.yaml\n  signing_key: { pem_file: k.pem, kid: k1 }\n"
                + "assertion:\n  signing_key: { pem_file: a.pem, kid: k1 }"))
        #expect(sameKid?.key == "assertion.signing_key.kid")
    }

    @Test("shared_secret_header: default name, env or file, never a literal secret")
    func sharedSecret() throws {
        func upstreams(_ secret: String) -> String {
            """
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
                shared_secret_header: \(secret)
            routes:
              - { name: all, upstream: app, auth: none }
            """
        }
        let config = try #require(ConfigFixtures.config(upstreams("{ secret_env: APP_SECRET }")))
        #expect(config.upstreams[0].sharedSecretHeader
                    == SharedSecretHeaderSection(name: "X-Gatehouse-Secret", source: .environment("APP_SECRET"),
                                                 location: config.upstreams[0].sharedSecretHeader?.location,
                                                 keyPath: "upstreams.app.shared_secret_header"))
        #expect(config.strippedHeaderNames.contains("X-Gatehouse-Secret"))
        let file = try #require(ConfigFixtures.config(upstreams("{ name: X-App-Key, secret_file: /run/s }")))
        #expect(file.upstreams[0].sharedSecretHeader?.source == .file("/run/s"))
        #expect(file.strippedHeaderNames.contains("X-App-Key"))
        let cases: [(String, String, String)] = [
            ("{ secret: hunter2hunter2hunter2 }", "upstreams.app.shared_secret_header.secret", "literal secret"),
            ("{ secret_env: \"not a name\" }", "upstreams.app.shared_secret_header.secret_env", "environment variable"),
            ("{ secret_env: A, secret_file: /b }", "upstreams.app.shared_secret_header.secret_file", "not both"),
            ("{ name: X-A }", "upstreams.app.shared_secret_header", "secret_env: VARIABLE or secret_file: PATH"),
            ("{ name: Cookie, secret_env: A }", "upstreams.app.shared_secret_header.name", "cannot carry"),
        ]
        for (value, key, message) in cases {
            let error = ConfigFixtures.singleError(upstreams(value))
            #expect(error?.key == key, "\(value): \(error.map { "\($0)" } ?? "none")")
            #expect(error?.message.contains(message) == true, "\(value): \(error?.message ?? "none")")
        }
    }
}
