import Testing

@testable import GatehouseConfig

/// Files for the route-auth tests: lines 1-9 hold one issuer and one upstream, `routes:` is
/// line 10, and the route text passed in starts at line 11.
enum AuthFixtures {
    static let header = """
        tokens:
          issuers:
            - issuer: "https://idp.example.com"
              audiences: legacy-app
              keys:
                - { jwks_file: Config/keys/idp-jwks.json }
        upstreams:
          app:
            servers: ["127.0.0.1:9000"]
        routes:
        """

    /// `header` followed by `routes` (list items, written at column 1).
    static func withRoutes(_ routes: String, before: String = "") -> String {
        before + header + "\n" + ConfigFixtures.indent(routes)
    }

    /// One route named `r` on `app` (line 11) with `lines` after `upstream: app` (from line 13).
    static func route(_ lines: String, before: String = "") -> String {
        withRoutes("- name: r\n  upstream: app\n" + ConfigFixtures.indent(lines), before: before)
    }

    /// The only route of a valid file.
    static func loadRoute(
        _ lines: String, before: String = "", sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> RouteSection? {
        ConfigFixtures.config(route(lines, before: before), sourceLocation: sourceLocation)?.routes.first
    }

    /// The single error of a one-route file.
    static func routeError(
        _ lines: String, before: String = "", sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> ConfigError? {
        ConfigFixtures.singleError(route(lines, before: before), sourceLocation: sourceLocation)
    }
}

@Suite("Routes: auth, accept, require, unauthenticated")
struct RouteAuthConfigTests {
    @Test("defaults of an authenticated route")
    func defaults() throws {
        let route = try #require(AuthFixtures.loadRoute("accept: [bearer]"))
        #expect(route.auth == .required)
        #expect(route.accept == [.bearer])
        #expect(route.require == nil)
        #expect(route.unauthenticated == .status)
        #expect(route.identityHeaders == nil)
        #expect(route.forwardAuthorization == false)
        #expect(route.stripCredentialCookies == true)
    }

    @Test("a public route: auth none, nothing else needed")
    func publicRoute() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.minimal))
        let route = config.routes[0]
        #expect(route.auth == AuthMode.none)
        #expect(route.accept.isEmpty)
        #expect(route.require == nil)
        #expect(route.unauthenticated == .status)
        #expect(route.forwardAuthorization == false)
        #expect(route.stripCredentialCookies == true)
    }

    @Test("every route key set")
    func everyKeySet() throws {
        let route = try #require(
            AuthFixtures.loadRoute(
                """
                auth: required
                accept: [bearer, "cookie:access_token"]
                require: { groups_any: [staff] }
                unauthenticated: login
                identity_headers: { X-Tenant: "{tenant}" }
                forward_authorization: true
                strip_credential_cookies: false
                """, before: "login:\n  url: /login\n"))
        #expect(route.auth == .required)
        #expect(route.accept == [.bearer, .cookie("access_token")])
        #expect(route.accept.map(\.description) == ["bearer", "cookie:access_token"])
        #expect(route.require == .groupsAny(["staff"]))
        #expect(route.unauthenticated == .login)
        #expect(route.identityHeaders?.map(\.name) == ["X-Tenant"])
        #expect(route.identityHeaders?.map(\.template) == ["{tenant}"])
        #expect(route.forwardAuthorization == true)
        #expect(route.stripCredentialCookies == false)
    }

    @Test("auth: optional with a single-string accept")
    func optionalAuth() throws {
        let route = try #require(AuthFixtures.loadRoute("auth: optional\naccept: \"cookie:tok\""))
        #expect(route.auth == .optional)
        #expect(route.accept == [.cookie("tok")])
    }

    @Test("auth: required is the default, so a route without accept is refused")
    func requiredByDefault() throws {
        let error = try #require(ConfigFixtures.singleError(AuthFixtures.withRoutes("- { name: r, upstream: app }")))
        #expect(error.code == .missingKey)
        #expect(error.key == "routes[0].accept")
        #expect(error.location?.line == 11)
        #expect(
            error.message
                == "this route requires authentication (auth: required by default) but accepts no credential; add "
                + "`accept: [bearer]` or set `auth: none`")
        let explicit = try #require(AuthFixtures.routeError("auth: required"))
        #expect(
            explicit.message
                == "this route requires authentication (auth: required) but accepts no credential; add "
                + "`accept: [bearer]` or set `auth: none`")
        let optional = try #require(AuthFixtures.routeError("auth: optional"))
        #expect(optional.key == "routes[0].accept")
        #expect(
            optional.message
                == "auth: optional reads a credential when one is sent, but this route accepts none; add "
                + "`accept: [bearer]` or set `auth: none`")
    }

    @Test(
        "auth values",
        arguments: [
            ("Required", "expected one of \"none\", \"required\", \"optional\"; did you mean \"required\"?"),
            ("nonee", "expected one of \"none\", \"required\", \"optional\"; did you mean \"none\"?"),
            ("public", "expected one of \"none\", \"required\", \"optional\", got \"public\""),
        ])
    func authValues(text: String, message: String) throws {
        let error = try #require(AuthFixtures.routeError("auth: \(text)\naccept: bearer"))
        #expect(error.code == .invalidValue)
        #expect(error.key == "routes[0].auth")
        #expect(error.location?.line == 13)
        #expect(error.message == message)
    }

    @Test("a refused auth value is the only error, with or without accept")
    func refusedAuthAlone() throws {
        let withoutAccept = try #require(AuthFixtures.routeError("auth: public"))
        #expect(withoutAccept.key == "routes[0].auth")
        let withAccept = try #require(AuthFixtures.routeError("auth: public\naccept: [bearer]"))
        #expect(withAccept.key == "routes[0].auth")
    }

    @Test("a public route takes no accept, require or unauthenticated")
    func publicRouteRefusesAuthKeys() {
        let errors = ConfigFixtures.errors(
            AuthFixtures.route(
                "auth: none\naccept: [bearer]\nrequire: { scopes: [read] }\nunauthenticated: status",
                before: "login:\n  url: /login\n"))
        #expect(
            errors.map(\.description) == [
                "test.yaml:16: routes[0].accept: a public route (auth: none) reads no credential; remove accept or "
                    + "set auth: required",
                "test.yaml:17: routes[0].require: a public route (auth: none) has no identity to check; remove "
                    + "require or set auth: required",
                "test.yaml:18: routes[0].unauthenticated: a public route (auth: none) never refuses a request for "
                    + "lack of a credential; remove unauthenticated",
            ])
        #expect(errors.allSatisfy { $0.code == .invalidValue })
    }

    @Test("require with auth: optional is refused (it would not protect the route)")
    func optionalWithRequire() throws {
        let error = try #require(
            AuthFixtures.routeError("auth: optional\naccept: bearer\nrequire: { groups_any: [staff] }"))
        #expect(error.key == "routes[0].require")
        #expect(error.location?.line == 15)
        #expect(
            error.message
                == "auth: optional lets requests without a credential through, so require would not protect this "
                + "route; set auth: required")
    }

    @Test("accept: [session] needs the gateway's own sign-in in session mode")
    func sessionNeedsSignIn() throws {
        let error = try #require(AuthFixtures.routeError("accept: [bearer, session]"))
        #expect(error.code == .unknownReference)
        #expect(error.key == "routes[0].accept[1]")
        #expect(error.message == "session cookies come from the gateway's own sign-in; add login: { users_file: ..., mode: session }")
    }

    @Test(
        "accept entries",
        arguments: [
            ("Bearer", "credential sources are lowercase; did you mean \"bearer\"?"),
            ("cookie", "name the cookie, as in cookie:access_token"),
            ("\"cookie:\"", "name the cookie after \"cookie:\", as in cookie:access_token"),
            ("\"Cookie:tok\"", "write \"cookie:\" in lowercase, as in cookie:tok"),
            (
                "\"cookie:a;b\"",
                "\"a;b\" is not a valid cookie name: use letters, digits and !#$%&'*+-.^_`|~ (no blanks, colons, "
                    + "quotes or slashes)"
            ),
            ("digest", "expected \"bearer\", \"cookie:NAME\", \"session\" or \"basic\", got \"digest\""),
            ("Basic", "credential sources are lowercase; did you mean \"basic\"?"),
        ])
    func acceptEntries(text: String, message: String) throws {
        // (`session` is valid syntax; whether the gateway signs users in is checked below.)
        let error = try #require(AuthFixtures.routeError("accept: [bearer, \(text)]"))
        #expect(error.code == .invalidValue)
        #expect(error.key == "routes[0].accept[1]")
        #expect(error.location?.line == 13)
        #expect(error.message == message)
    }

    @Test("accept: no duplicates, not empty, not a mapping")
    func acceptShape() throws {
        let duplicate = try #require(AuthFixtures.routeError("accept: [\"cookie:a\", bearer, \"cookie:a\"]"))
        #expect(duplicate.description == "test.yaml:13: routes[0].accept[2]: cookie:a is listed twice")
        let empty = try #require(AuthFixtures.routeError("accept: []"))
        #expect(
            empty.description
                == "test.yaml:13: routes[0].accept: an empty list accepts no credential; list at least one (bearer, "
                + "cookie:NAME)")
        let mapping = try #require(AuthFixtures.routeError("accept: { bearer: true }"))
        #expect(mapping.code == .wrongType)
        #expect(mapping.message == "expected a list of credential sources, got a mapping")
    }

    @Test("accepting tokens needs token issuers; reported once per route")
    func tokensNeeded() {
        let yaml = """
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:
              - name: a
                upstream: app
                accept: [bearer, "cookie:tok"]
              - name: b
                upstream: app
                accept: "cookie:tok"
            """
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:7: routes[0].accept[0]: no token issuers are configured (tokens.issuers)",
                "test.yaml:10: routes[1].accept: no token issuers are configured (tokens.issuers)",
            ])
        #expect(errors.allSatisfy { $0.code == .unknownReference })
    }

    @Test("a broken tokens section is reported once, not again by every route")
    func brokenTokensNoCascade() {
        let yaml = """
            tokens:
              leeway: 1h
              issuers: []
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:
              - { name: a, upstream: app, accept: bearer }
            """
        #expect(ConfigFixtures.errors(yaml).map(\.key) == ["tokens.leeway", "tokens.issuers"])
    }

    @Test(
        "booleans take true or false only",
        arguments: [
            (
                "forward_authorization: yes", "routes[0].forward_authorization",
                "expected true or false, got \"yes\"; write true"
            ),
            (
                "strip_credential_cookies: off", "routes[0].strip_credential_cookies",
                "expected true or false, got \"off\"; write false"
            ),
            ("forward_authorization: [true]", "routes[0].forward_authorization", "expected true or false, got a list"),
        ])
    func booleans(line: String, key: String, message: String) throws {
        let error = try #require(AuthFixtures.routeError("accept: bearer\n" + line))
        #expect(error.key == key)
        #expect(error.location?.line == 14)
        #expect(error.message == message)
    }

    @Test("unauthenticated: status or login; login needs login.url")
    func unauthenticated() throws {
        let noLogin = try #require(AuthFixtures.routeError("accept: bearer\nunauthenticated: login"))
        #expect(noLogin.code == .missingKey)
        #expect(noLogin.key == "routes[0].unauthenticated")
        #expect(noLogin.location?.line == 14)
        #expect(
            noLogin.message
                == "unauthenticated: login sends browsers to login.url, which is not set; add login: { url: ... } or "
                + "use unauthenticated: status")
        let unknown = try #require(AuthFixtures.routeError("accept: bearer\nunauthenticated: redirect"))
        #expect(unknown.message == "expected one of \"status\", \"login\", got \"redirect\"")
        let route = try #require(
            AuthFixtures.loadRoute(
                "accept: bearer\nunauthenticated: login", before: "login:\n  url: \"https://sso.example.com/login\"\n"))
        #expect(route.unauthenticated == .login)
        let status = try #require(AuthFixtures.loadRoute("accept: bearer\nunauthenticated: status"))
        #expect(status.unauthenticated == .status)
    }

    @Test("a broken login section does not make routes report it missing")
    func brokenLoginNoCascade() {
        let errors = ConfigFixtures.errors(
            AuthFixtures.route("accept: bearer\nunauthenticated: login", before: "login:\n  url: ftp://x\n"))
        #expect(errors.map(\.key) == ["login.url"])
    }

    @Test("the existing initialisers still work, with a public route and the built-in defaults")
    func initialiserDefaults() {
        let location = GatehouseConfig.SourceLocation(file: "x.yaml", line: 1, column: 1)
        let route = RouteSection(
            name: "r", host: nil, pathPrefix: "/", methods: nil, upstream: "app", location: location)
        #expect(route.auth == AuthMode.none)
        #expect(route.accept == [])
        #expect(route.require == nil)
        #expect(route.unauthenticated == .status)
        #expect(route.identityHeaders == nil)
        #expect(route.forwardAuthorization == false)
        #expect(route.stripCredentialCookies == true)
        let config = GatewayConfig(
            server: ServerSection(
                listen: [], workers: nil, limits: .defaults, drainTimeout: .seconds(1), trustedProxies: []),
            accessLog: AccessLogSection(destination: .off), upstreams: [], routes: [route], sourcePath: "x.yaml")
        #expect(config.tokens == nil)
        #expect(config.login == nil)
        #expect(config.identityHeaders == IdentityHeaderSection.defaults(file: "x.yaml"))
        #expect(config.stripHeaderPrefixes == ["X-Auth-"])
    }
}

@Suite("Routes: require trees")
struct RequirementTests {
    @Test("one key is that condition; several keys are all of them, in file order")
    func singleAndSeveral() throws {
        let single = try #require(AuthFixtures.loadRoute("accept: bearer\nrequire: { scopes: [read, write] }"))
        #expect(single.require == .scopes(["read", "write"]))
        let several = try #require(
            AuthFixtures.loadRoute(
                """
                accept: bearer
                require:
                  methods: [GET, HEAD]
                  groups_all: [staff, ops]
                  claims: { scope: read, tenant: [a, b], email_verified: true, level: 3 }
                  groups_any: admins
                """))
        #expect(
            several.require
                == .all([
                    .methods(["GET", "HEAD"]),
                    .groupsAll(["staff", "ops"]),
                    .claims([
                        ("scope", ["read"]), ("tenant", ["a", "b"]), ("email_verified", ["true"]), ("level", ["3"]),
                    ]),
                    .groupsAny(["admins"]),
                ]))
    }

    @Test("nested any and all")
    func nested() throws {
        let route = try #require(
            AuthFixtures.loadRoute(
                """
                accept: bearer
                require:
                  any:
                    - { groups_any: [admins] }
                    - all:
                        - { scopes: [read] }
                        - claims: { realm_access.roles: editor }
                    - { methods: GET, claims: { "urn:zitadel:iam:org:id": "42" } }
                """))
        #expect(
            route.require
                == .any([
                    .groupsAny(["admins"]),
                    .all([.scopes(["read"]), .claims([("realm_access.roles", ["editor"])])]),
                    .all([.methods(["GET"]), .claims([("urn:zitadel:iam:org:id", ["42"])])]),
                ]))
    }

    @Test("RequirementSpec equality compares claims pairwise and in order")
    func equality() {
        #expect(RequirementSpec.claims([("a", ["1"])]) == .claims([("a", ["1"])]))
        #expect(RequirementSpec.claims([("a", ["1"])]) != .claims([("a", ["2"])]))
        #expect(RequirementSpec.claims([("a", ["1"]), ("b", ["2"])]) != .claims([("b", ["2"]), ("a", ["1"])]))
        #expect(RequirementSpec.claims([("a", ["1"])]) != .claims([("a", ["1"]), ("b", ["1"])]))
        #expect(RequirementSpec.groupsAny(["a"]) != .groupsAll(["a"]))
        #expect(RequirementSpec.any([.scopes(["a"])]) != .all([.scopes(["a"])]))
    }

    @Test("require errors, each with its line and key path")
    func errors() {
        let errors = ConfigFixtures.errors(
            AuthFixtures.route(
                """
                accept: bearer
                require:
                  claims: { "a b": x, c: ~, d: { e: f }, g: [] }
                  group_any: [x]
                  any: []
                  all: { scopes: [a] }
                  scopes: ["read write", read, read]
                  methods: [get]
                  groups_all: []
                """))
        #expect(
            errors.map(\.description) == [
                "test.yaml:15: routes[0].require.claims.a b: \"a b\" is not a claim name: use letters, digits, \"_\", "
                    + "\":\" and \"-\", with \".\" between nested names (as in realm_access.roles)",
                "test.yaml:15: routes[0].require.claims.c: a value is required",
                "test.yaml:15: routes[0].require.claims.d: expected a list of claim values, got a mapping",
                "test.yaml:15: routes[0].require.claims.g: an empty list matches nothing; give at least one value",
                "test.yaml:16: routes[0].require.group_any: unknown key; did you mean \"groups_any\"?",
                "test.yaml:17: routes[0].require.any: an empty list is not a condition; list at least one",
                "test.yaml:18: routes[0].require.all: expected a list of requirements, as in [{ groups_any: [staff] }, "
                    + "{ scopes: [admin] }], got a mapping",
                "test.yaml:19: routes[0].require.scopes[0]: a scope cannot contain blanks; list each scope separately",
                "test.yaml:19: routes[0].require.scopes[2]: \"read\" is listed twice",
                "test.yaml:20: routes[0].require.methods[0]: methods are case-sensitive; did you mean \"GET\"?",
                "test.yaml:21: routes[0].require.groups_all: an empty list matches nothing; name at least one group",
            ])
    }

    @Test("errors deep in a tree name the whole path")
    func nestedErrorPaths() throws {
        let error = try #require(
            AuthFixtures.routeError(
                """
                accept: bearer
                require:
                  any:
                    - { groups_any: [admins] }
                    - all:
                        - { scopes: [read] }
                        - { claims: {} }
                """))
        #expect(error.key == "routes[0].require.any[1].all[1].claims")
        #expect(error.location?.line == 19)
        #expect(error.message == "name at least one claim, as in { scope: read }")
    }

    @Test("empty and non-mapping requirements")
    func emptyRequirements() throws {
        let empty = try #require(AuthFixtures.routeError("accept: bearer\nrequire: {}"))
        #expect(empty.key == "routes[0].require")
        #expect(
            empty.message
                == "an empty requirement always holds; name at least one condition (claims, groups_any, groups_all, "
                + "scopes, methods, any, all)")
        let emptyInAny = try #require(AuthFixtures.routeError("accept: bearer\nrequire: { any: [{}] }"))
        #expect(emptyInAny.key == "routes[0].require.any[0]")
        let scalar = try #require(AuthFixtures.routeError("accept: bearer\nrequire: staff"))
        #expect(scalar.code == .wrongType)
        #expect(
            scalar.message == "expected a mapping of conditions such as { groups_any: [staff] }, got \"staff\"")
        let scalarInAll = try #require(AuthFixtures.routeError("accept: bearer\nrequire: { all: [staff] }"))
        #expect(scalarInAll.key == "routes[0].require.all[0]")
        #expect(scalarInAll.code == .wrongType)
        let onlyUnknown = try #require(AuthFixtures.routeError("accept: bearer\nrequire: { group: [staff] }"))
        #expect(onlyUnknown.code == .unknownKey)
        #expect(onlyUnknown.key == "routes[0].require.group")
    }

    @Test("nesting is limited")
    func depthLimit() throws {
        var tree = "{ scopes: [read] }"
        for _ in 0..<20 {
            tree = "{ any: [\(tree)] }"
        }
        let error = try #require(AuthFixtures.routeError("accept: bearer\nrequire: \(tree)"))
        #expect(error.message == "requirements are nested more than 16 levels deep")
        #expect(error.key.hasPrefix("routes[0].require.any[0]"))
        var shallow = "{ scopes: [read] }"
        for _ in 0..<16 {
            shallow = "{ any: [\(shallow)] }"
        }
        #expect(AuthFixtures.loadRoute("accept: bearer\nrequire: \(shallow)") != nil)
    }
}

@Suite("identity_headers, strip_header_prefixes and login")
struct IdentityHeaderTests {
    @Test("defaults: the three X-Auth headers and the X-Auth- prefix")
    func defaults() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.minimal))
        #expect(config.identityHeaders.map(\.name) == ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups"])
        #expect(config.identityHeaders.map(\.template) == ["{sub}", "{email}", "{groups}"])
        #expect(config.identityHeaders.allSatisfy { $0.location.line == 0 && $0.location.file == "test.yaml" })
        #expect(config.stripHeaderPrefixes == ["X-Auth-"])
        #expect(config.login == nil)
        #expect(config.strippedHeaderNames == ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups"])
        let null = try #require(
            ConfigFixtures.config("identity_headers:\nstrip_header_prefixes: ~\nlogin:\n" + ConfigFixtures.minimal))
        #expect(null.identityHeaders == config.identityHeaders)
        #expect(null.stripHeaderPrefixes == ["X-Auth-"])
        #expect(null.login == nil)
    }

    @Test("a custom map, in file order, with locations; an empty map injects nothing")
    func customMap() throws {
        let yaml = """
            identity_headers:
              X-User: "{sub}"
              X-Name: "{given_name} {family_name}"
              X-Roles: "{realm_access.roles}"
            strip_header_prefixes: [X-Auth-, X-User]
            """ + "\n" + ConfigFixtures.minimal
        let config = try #require(ConfigFixtures.config(yaml))
        #expect(
            config.identityHeaders == [
                IdentityHeaderSection(
                    name: "X-User", template: "{sub}",
                    location: GatehouseConfig.SourceLocation(file: "test.yaml", line: 2, column: 3)),
                IdentityHeaderSection(
                    name: "X-Name", template: "{given_name} {family_name}",
                    location: GatehouseConfig.SourceLocation(file: "test.yaml", line: 3, column: 3)),
                IdentityHeaderSection(
                    name: "X-Roles", template: "{realm_access.roles}",
                    location: GatehouseConfig.SourceLocation(file: "test.yaml", line: 4, column: 3)),
            ])
        #expect(config.identityHeaders[1].parts == [.claim("given_name"), .literal(" "), .claim("family_name")])
        #expect(config.stripHeaderPrefixes == ["X-Auth-", "X-User"])
        let empty = try #require(
            ConfigFixtures.config("identity_headers: {}\nstrip_header_prefixes: []\n" + ConfigFixtures.minimal))
        #expect(empty.identityHeaders.isEmpty)
        #expect(empty.stripHeaderPrefixes.isEmpty)
        let single = try #require(ConfigFixtures.config("strip_header_prefixes: X-Remote-\n" + ConfigFixtures.minimal))
        #expect(single.stripHeaderPrefixes == ["X-Remote-"])
    }

    @Test("a route's map replaces the top-level one; every injected name is stripped everywhere")
    func routeOverride() throws {
        let yaml = AuthFixtures.withRoutes(
            """
            - name: api
              upstream: app
              accept: bearer
              identity_headers: { X-Tenant: "{tenant}", x-auth_user: "{sub}" }
            - name: quiet
              upstream: app
              accept: bearer
              identity_headers: {}
            - name: plain
              upstream: app
              accept: bearer
            """)
        let config = try #require(ConfigFixtures.config(yaml))
        #expect(config.identityHeaders(for: config.routes[0]).map(\.name) == ["X-Tenant", "x-auth_user"])
        #expect(config.identityHeaders(for: config.routes[1]).isEmpty)
        #expect(config.identityHeaders(for: config.routes[2]) == config.identityHeaders)
        #expect(config.strippedHeaderNames == ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups", "X-Tenant"])
        let error = try #require(AuthFixtures.routeError("accept: bearer\nidentity_headers: { X-A: \"{a b}\" }"))
        #expect(error.key == "routes[0].identity_headers.X-A")
        #expect(error.location?.line == 14)
    }

    @Test(
        "templates that parse",
        arguments: [
            ("{sub}", [IdentityTemplatePart.claim("sub")]),
            ("{given_name} {family_name}", [.claim("given_name"), .literal(" "), .claim("family_name")]),
            ("user={sub}; org={org.id}", [.literal("user="), .claim("sub"), .literal("; org="), .claim("org.id")]),
            ("{{literal}}", [.literal("{literal}")]),
            ("{{{sub}}}", [.literal("{"), .claim("sub"), .literal("}")]),
            ("{urn:zitadel:iam:org:id}", [.claim("urn:zitadel:iam:org:id")]),
            ("static", [.literal("static")]),
        ])
    func templates(text: String, parts: [IdentityTemplatePart]) {
        guard case .parsed(let parsed) = IdentityTemplate.parse(text) else {
            Issue.record("\(text) was refused")
            return
        }
        #expect(parsed == parts)
    }

    @Test(
        "template syntax errors",
        arguments: [
            ("{sub", "unclosed \"{\" at position 1; close the placeholder or write \"{{\" for a literal brace"),
            ("a}b", "unmatched \"}\" at position 2; write \"}}\" for a literal brace"),
            ("{sub}}", "unmatched \"}\" at position 6; write \"}}\" for a literal brace"),
            ("{{sub}", "unmatched \"}\" at position 6; write \"}}\" for a literal brace"),
            ("x {}", "empty placeholder \"{}\" at position 3; name a claim, as in {sub}"),
            (
                "{a b}",
                "\"a b\" is not a claim name: use letters, digits, \"_\", \":\" and \"-\", with \".\" between nested "
                    + "names (as in realm_access.roles)"
            ),
            (
                "{a..b}",
                "\"a..b\" is not a claim name: use letters, digits, \"_\", \":\" and \"-\", with \".\" between nested "
                    + "names (as in realm_access.roles)"
            ),
            (
                "{.a}",
                "\".a\" is not a claim name: use letters, digits, \"_\", \":\" and \"-\", with \".\" between nested "
                    + "names (as in realm_access.roles)"
            ),
            ("", "an empty template would send an empty header; remove the header instead"),
            (
                "a\tb",
                "control character at position 2; header values cannot carry tabs, line breaks or other control "
                    + "characters"
            ),
            (
                "{sub}\r\nX-Admin: 1",
                "control character at position 6; header values cannot carry tabs, line breaks or other control "
                    + "characters"
            ),
            ("é{sub}", "non-ASCII character at position 1; literal text must be ASCII"),
        ])
    func templateErrors(text: String, message: String) {
        guard case .invalid(let reason) = IdentityTemplate.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(reason == message)
    }

    @Test("template errors through the loader point at the value")
    func templateErrorsInFile() throws {
        let error = try #require(
            ConfigFixtures.singleError("identity_headers:\n  X-User: \"{sub\"\n" + ConfigFixtures.minimal))
        #expect(error.code == .invalidValue)
        #expect(error.key == "identity_headers.X-User")
        #expect(error.location?.line == 2)
        #expect(error.location?.column == 11)
        let list = try #require(
            ConfigFixtures.singleError("identity_headers:\n  X-User: [a]\n" + ConfigFixtures.minimal))
        #expect(list.code == .wrongType)
        #expect(list.message == "expected a template such as \"{sub}\", got a list")
        let notMap = try #require(ConfigFixtures.singleError("identity_headers: [X-User]\n" + ConfigFixtures.minimal))
        #expect(notMap.code == .wrongType)
        #expect(notMap.key == "identity_headers")
    }

    @Test("header names: tokens, not managed by the gateway, unique ignoring case and _")
    func headerNames() {
        let yaml = """
            identity_headers:
              "X User": "{sub}"
              Host: "{sub}"
              content-md5: "{sub}"
              Authorization: "{sub}"
              X-Forwarded-For: "{sub}"
              X-Auth-User: "{sub}"
              x_auth-user: "{email}"
              X-Auth-User: "{email}"
            """ + "\n" + ConfigFixtures.minimal
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:2: identity_headers.X User: \"X User\" is not a valid header name: use letters, digits and "
                    + "!#$%&'*+-.^_`|~ (no blanks, colons, quotes or slashes)",
                "test.yaml:3: identity_headers.Host: Host is part of the request's framing or routing; it cannot be "
                    + "an identity header",
                "test.yaml:4: identity_headers.content-md5: content-md5 is part of the request's framing or routing; "
                    + "it cannot be an identity header",
                "test.yaml:5: identity_headers.Authorization: Authorization is a client credential header (see "
                    + "forward_authorization and strip_credential_cookies); it cannot be an identity header",
                "test.yaml:6: identity_headers.X-Forwarded-For: X-Forwarded-For is set by the gateway on every "
                    + "request (see trusted_proxies); it cannot be an identity header",
                "test.yaml:8: identity_headers.x_auth-user: the same header as \"X-Auth-User\" (names are compared "
                    + "ignoring case, with \"_\" read as \"-\"); first defined at line 7",
                "test.yaml:9: identity_headers.X-Auth-User: duplicate key; first defined at line 7",
            ])
        #expect(errors.map(\.code).suffix(2) == [.duplicateKey, .duplicateKey])
    }

    @Test("hop-by-hop headers are refused as identity headers")
    func hopByHop() {
        for name in ["Connection", "keep-alive", "TE", "Transfer-Encoding", "Upgrade", "Content-Length", "Cookie"] {
            #expect(IdentityHeaderSection.reservedReason(name) != nil, "\(name)")
        }
        for name in ["X-Auth-User", "X-Request-Id", "Remote-User", "X-Email"] {
            #expect(IdentityHeaderSection.reservedReason(name) == nil, "\(name)")
        }
    }

    @Test("strip_header_prefixes: tokens, never covering managed headers, no repeats")
    func stripPrefixes() {
        let yaml = """
            strip_header_prefixes:
              - ""
              - "X Auth"
              - Co
              - X-Forwarded-
              - X-Auth-
              - x_auth-
              - [X-]
            """ + "\n" + ConfigFixtures.minimal
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:2: strip_header_prefixes[0]: a header-name prefix cannot be empty",
                "test.yaml:3: strip_header_prefixes[1]: \"X Auth\" is not a valid header-name prefix: use letters, "
                    + "digits and !#$%&'*+-.^_`|~ (no blanks, colons, quotes or slashes)",
                "test.yaml:4: strip_header_prefixes[2]: \"Co\" would also remove Content-Length from every request; "
                    + "use a longer prefix such as \"X-Auth-\"",
                "test.yaml:5: strip_header_prefixes[3]: \"X-Forwarded-\" would also remove X-Forwarded-For from "
                    + "every request; use a longer prefix such as \"X-Auth-\"",
                "test.yaml:7: strip_header_prefixes[5]: \"x_auth-\" is listed twice (prefixes are compared ignoring "
                    + "case, with \"_\" read as \"-\")",
                "test.yaml:8: strip_header_prefixes[6]: expected a header-name prefix, got a list",
            ])
    }

    @Test("login.url: an absolute http(s) URL or a local path")
    func loginURL() throws {
        for url in ["https://sso.example.com/login", "http://127.0.0.1:8080/x?next=1", "HTTPS://SSO", "/login", "/"] {
            let config = try #require(ConfigFixtures.config("login:\n  url: \"\(url)\"\n" + ConfigFixtures.minimal))
            #expect(config.login == LoginSection(url: url))
        }
        let refused: [(String, String)] = [
            (
                "//evil.example",
                "\"//evil.example\" is read by browsers as another host; write the absolute URL, as in https://host/path"
            ),
            (
                "/\\\\evil.example",
                "\"/\\evil.example\" is read by browsers as another host; write the absolute URL, as in https://host/path"
            ),
            ("ftp://x/", "expected an absolute http(s) URL or a path starting with \"/\", got \"ftp://x/\""),
            ("login", "expected an absolute http(s) URL or a path starting with \"/\", got \"login\""),
            ("https:///login", "\"https:///login\" has no host"),
            ("https://user:pw@sso/", "\"https://user:pw@sso/\": user info (user@host) is not allowed in the login URL"),
            ("https://sso/a b", "must contain only visible ASCII characters (no blanks); percent-encode the others"),
            ("", "expected an absolute http(s) URL or a path starting with \"/\", got an empty string"),
        ]
        for (url, message) in refused {
            let error = try #require(ConfigFixtures.singleError("login:\n  url: \"\(url)\"\n" + ConfigFixtures.minimal))
            #expect(error.key == "login.url")
            #expect(error.location?.line == 2)
            #expect(error.message == message)
        }
        let missing = try #require(ConfigFixtures.singleError("login: {}\n" + ConfigFixtures.minimal))
        #expect(missing.description == "test.yaml:1: login.url: missing required key")
        let misspelt = ConfigFixtures.errors("login:\n  ur: /x\n" + ConfigFixtures.minimal)
        #expect(
            misspelt.map(\.description) == [
                "test.yaml:2: login.ur: unknown key; did you mean \"url\"?",
                "test.yaml:2: login.url: missing required key",
            ])
    }
}
