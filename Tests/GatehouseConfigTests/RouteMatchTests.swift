import Testing

@testable import GatehouseConfig

@Suite("Route matches: host patterns, path prefixes, methods")
struct RouteMatchTests {
    @Test(
        "host patterns: exact and wildcard, lowercased",
        arguments: [
            ("app.example.com", HostPattern.exact("app.example.com")),
            ("App.Example.COM", .exact("app.example.com")),
            ("localhost", .exact("localhost")),
            ("10.0.0.1", .exact("10.0.0.1")),
            ("*.example.com", .wildcard(suffix: ".example.com")),
            ("*.Example.Com", .wildcard(suffix: ".example.com")),
            ("*.internal", .wildcard(suffix: ".internal")),
        ])
    func hostPatterns(text: String, expected: HostPattern) {
        guard case .parsed(let pattern) = HostPattern.parse(text) else {
            Issue.record("\(text) was refused")
            return
        }
        #expect(pattern == expected)
    }

    @Test(
        "bad host patterns",
        arguments: [
            (
                "app.example.com:8080",
                "\"app.example.com:8080\": give the host without a port (the port is not part of the match)"
            ),
            ("*.*.example.com", "\"*.*.example.com\": only one leading \"*.\" label is allowed"),
            ("app.*.com", "\"app.*.com\": a wildcard must be a whole leading label, as in *.example.com"),
            ("*example.com", "\"*example.com\": a wildcard must be a whole leading label, as in *.example.com"),
            ("*", "\"*\": a wildcard must be a whole leading label, as in *.example.com"),
            ("*.", "\"\" has an empty label (check for \"..\" or a leading or trailing dot)"),
            ("example.com.", "\"example.com.\" has an empty label (check for \"..\" or a leading or trailing dot)"),
            ("exa mple.com", "\"exa mple.com\" is not a valid host name"),
            ("[::1]", "\"[::1]\": give the host without a port (the port is not part of the match)"),
        ])
    func badHostPatterns(text: String, reason: String) {
        guard case .invalid(let message) = HostPattern.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(message == reason)
    }

    @Test("path prefixes")
    func pathPrefixes() {
        for good in ["/", "/api/", "/api", "/static/v1.2/", "/%7Euser"] {
            guard case .parsed(let value) = RouteSection.parsePathPrefix(good) else {
                Issue.record("\(good) was refused")
                continue
            }
            #expect(value == good)
        }
        let refused: [(String, String)] = [
            ("api/", "must start with \"/\""),
            ("", "must start with \"/\""),
            ("/a b", "must contain only visible ASCII characters; percent-encode the others"),
            ("/café", "must contain only visible ASCII characters; percent-encode the others"),
            ("/api?x=1", "matches the path only; remove the query (?...) or fragment (#...)"),
            ("/api/#top", "matches the path only; remove the query (?...) or fragment (#...)"),
            (
                "/api/*",
                "is a literal prefix, not a pattern; remove the \"*\" (\"/api/\" matches everything under /api/)"
            ),
        ]
        for (text, reason) in refused {
            guard case .invalid(let message) = RouteSection.parsePathPrefix(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(message == reason)
        }
    }

    @Test("methods are tokens; a lowercase standard method is refused")
    func methods() {
        for good in ["GET", "PROPFIND", "M-SEARCH", "purge"] {
            guard case .parsed(let value) = RouteSection.parseMethod(good) else {
                Issue.record("\(good) was refused")
                continue
            }
            #expect(value == good)
        }
        for (text, reason) in [
            ("get", "methods are case-sensitive; did you mean \"GET\"?"),
            ("Post", "methods are case-sensitive; did you mean \"POST\"?"),
            ("GET POST", "\"GET POST\" is not a valid HTTP method name"),
            ("", "\"\" is not a valid HTTP method name"),
            ("GET/1", "\"GET/1\" is not a valid HTTP method name"),
        ] {
            guard case .invalid(let message) = RouteSection.parseMethod(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(message == reason)
        }
    }

    @Test("methods through the loader: list, single string, empty, repeated")
    func methodsThroughTheLoader() throws {
        func route(_ methods: String) -> String {
            "upstreams:\n  a:\n    servers: 127.0.0.1:1\nroutes:\n  - name: a\n    upstream: a\n"
                + "    match:\n      methods: \(methods)\n    auth: none\n"
        }
        #expect(ConfigFixtures.config(route("[GET, HEAD]"))?.routes[0].methods == ["GET", "HEAD"])
        #expect(ConfigFixtures.config(route("DELETE"))?.routes[0].methods == ["DELETE"])
        let empty = try #require(ConfigFixtures.singleError(route("[]")))
        #expect(empty.key == "routes[0].match.methods")
        #expect(empty.location?.line == 8)
        #expect(empty.message == "an empty list matches nothing; omit methods to match every method")
        let repeated = try #require(ConfigFixtures.singleError(route("[GET, POST, GET]")))
        #expect(repeated.key == "routes[0].match.methods[2]")
        #expect(repeated.message == "GET is listed twice")
    }

    @Test("key suggestions use edit distance, case-insensitively")
    func suggestions() {
        let keys = ServerSection.keys
        #expect(KeySuggestion.nearest(to: "listn", among: keys) == "listen")
        #expect(KeySuggestion.nearest(to: "lsiten", among: keys) == "listen")
        #expect(KeySuggestion.nearest(to: "LISTEN", among: keys) == "listen")
        #expect(KeySuggestion.nearest(to: "worker", among: keys) == "workers")
        #expect(KeySuggestion.nearest(to: "drain_timout", among: keys) == "drain_timeout")
        #expect(KeySuggestion.nearest(to: "tsl", among: keys) == "tls")
        #expect(KeySuggestion.nearest(to: "admin", among: keys) == nil)
        #expect(KeySuggestion.nearest(to: "x", among: ["y"]) == nil)
        #expect(KeySuggestion.editDistance(Array("kitten"), Array("sitting")) == 3)
        #expect(KeySuggestion.editDistance(Array("ab"), Array("ba")) == 1)
        #expect(KeySuggestion.editDistance(Array(""), Array("abc")) == 3)
    }
}
