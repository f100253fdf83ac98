import Foundation
import GatehouseTestSupport
import Testing

@Suite("Auth: identity headers (what the upstream is told, and what a client cannot tell it)")
struct AuthIdentityHeaderTests {
    /// Default identity headers (no `identity_headers` section) on `/api`, a public `/public`, and `/tenant`
    /// with its own map, which injects a name outside `X-Auth-`.
    static func gateway() throws -> AuthGateway {
        try authStandardGateway(
            routes: AuthConfig.route("public", prefix: "/public", "auth: none")
                + AuthConfig.route("api", prefix: "/api")
                + AuthConfig.route("tenant", prefix: "/tenant", """
                    accept: [bearer]
                    identity_headers:
                      X-Tenant: "org={org.id} ({org.name})!"
                      Remote-User: "{sub}"
                    """)
                + AuthConfig.route("ops", prefix: "/ops", "accept: [bearer]\nrequire: { groups_any: [ops] }"))
    }

    static func token(sub: String? = "alice", _ extra: String) -> String {
        TokenMinter.mint(claims: TokenMinter.claims(sub: sub, extra: extra), key: TokenKeys.p256, alg: "ES256")
    }

    @Test("default templates: X-Auth-User {sub}, X-Auth-Email {email}, X-Auth-Groups {groups} joined with ','")
    func defaultTemplates() throws {
        let gw = try Self.gateway()
        let token = Self.token(#","email":"alice@example.com","groups":["staff","admin,ops","dev"]"#)
        authExpectForwarded(try gw.get("/api/x", bearer: token),
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com",
                                   "X-Auth-Groups: staff,admin%2Cops,dev"])
        // One group as a plain string, numbers and booleans as their JSON text.
        let scalar = Self.token(sub: "bob", #","email":"bob@example.com","groups":"ops""#)
        authExpectForwarded(try gw.get("/api/y", bearer: scalar),
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: bob", "X-Auth-Email: bob@example.com", "X-Auth-Groups: ops"])
        let mixed = Self.token(sub: "carol", #","groups":["a",7,true]"#)
        authExpectForwarded(try gw.get("/api/z", bearer: mixed),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: carol", "X-Auth-Groups: a,7,true"])
    }

    @Test("claims with CR, LF, NUL, TAB, DEL and % arrive percent-encoded, as one header line each")
    func controlCharacters() throws {
        let gw = try Self.gateway()
        let token = Self.token(sub: #"alice\r\nX-Admin: 1\u0000"#,
                               #","email":"a%b@example.com\t","groups":["ops\nX-Auth-User: root","x\u007f"]"#)
        let response = try gw.get("/api/x", bearer: token)
        authExpectForwarded(response,
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: alice%0D%0AX-Admin: 1%00", "X-Auth-Email: a%25b@example.com%09",
                                   "X-Auth-Groups: ops%0AX-Auth-User: root,x%7F"])
        #expect(!authEchoed(response).contains { $0.hasPrefix("X-Admin") })
    }

    @Test("a missing claim (or an object or null) leaves its header out")
    func missingClaim() throws {
        let gw = try Self.gateway()
        authExpectForwarded(try gw.get("/api/no-email", bearer: Self.token("")),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: alice"])
        authExpectForwarded(try gw.get("/api/odd", bearer: Self.token(#","email":null,"groups":{"a":["b"]}"#)),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: alice"])
        authExpectForwarded(try gw.get("/api/no-sub", bearer: Self.token(sub: nil, #","email":"svc@example.com""#)),
                            ["Host: app.test"] + authForwarded + ["X-Auth-Email: svc@example.com"])
    }

    @Test("a route's own identity_headers replace the defaults; nested {org.id} with literal text around it")
    func perRouteTemplates() throws {
        let gw = try Self.gateway()
        let token = Self.token(#","email":"alice@example.com","groups":["staff"],"org":{"id":42,"name":"Acme Inc"}"#)
        authExpectForwarded(try gw.get("/tenant/x", bearer: token),
                            ["Host: app.test"] + authForwarded + ["X-Tenant: org=42 (Acme Inc)!", "Remote-User: alice"])
        // org.name missing: the whole X-Tenant header is left out.
        let partial = Self.token(#","org":{"id":"t-7"}"#)
        authExpectForwarded(try gw.get("/tenant/y", bearer: partial), ["Host: app.test"] + authForwarded + ["Remote-User: alice"])
    }

    /// Identity headers a client might try, in every spelling.
    static let spoofed = ["X-Auth-User: mallory", "x-auth-user: mallory", "X_Auth_User: mallory", "X-AUTH-EMAIL: m@evil",
                          "X-Auth-Groups: admin", "X-Auth-Anything: 1", "Remote-User: mallory", "remote_user: mallory",
                          "REMOTE-USER: mallory", "X-Tenant: org=evil", "X-App: kept"]

    @Test("client-sent identity headers are stripped on public and authenticated routes, in every spelling")
    func clientHeadersStripped() throws {
        let gw = try Self.gateway()
        let token = Self.token(#","email":"alice@example.com","groups":["staff"],"org":{"id":1,"name":"A"}"#)
        authExpectForwarded(try gw.get("/public/x", Self.spoofed), ["Host: app.test", "X-App: kept"] + authForwarded)
        authExpectForwarded(try gw.get("/api/x", bearer: token, Self.spoofed),
                            ["Host: app.test", "X-App: kept"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"])
        authExpectForwarded(try gw.get("/tenant/x", bearer: token, Self.spoofed),
                            ["Host: app.test", "X-App: kept"] + authForwarded + ["X-Tenant: org=1 (A)!", "Remote-User: alice"])
    }

    @Test("Connection: X-Auth-User from the client cannot remove the injected X-Auth-User")
    func connectionCannotRemoveInjected() throws {
        let gw = try Self.gateway()
        let token = Self.token(#","email":"alice@example.com","groups":["staff"]"#)
        authExpectForwarded(try gw.get("/api/x", bearer: token,
                                       ["Connection: X-Auth-User, x-auth-email, X-Auth-Groups", "X-Auth-User: mallory"]),
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"])
        authExpectForwarded(try gw.get("/tenant/x", bearer: token, ["Connection: Remote-User"]),
                            ["Host: app.test"] + authForwarded + ["Remote-User: alice"])
    }

    @Test("a groups claim given as one string is one group: admin,ops arrives as admin%2Cops, as the policy reads it")
    func stringGroupsClaim() throws {
        let gw = try Self.gateway()
        let token = Self.token(#","email":"alice@example.com","groups":"admin,ops""#)
        // The gateway's own policy sees one group named "admin,ops", not "ops" ...
        authExpectRefusal(try gw.get("/ops/x", bearer: token), status: 403,
                          challenge: #"Bearer realm="gatehouse", error="insufficient_scope""#, error: "insufficient_scope")
        // ... so the upstream must not be told "admin" and "ops".
        authExpectForwarded(try gw.get("/api/x", bearer: token),
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: admin%2Cops"])
    }

    @Test("strip_header_prefixes replaces X-Auth-; injected names are stripped whatever the prefixes")
    func customStripPrefixes() throws {
        let gw = try authStandardGateway(
            routes: AuthConfig.route("public", prefix: "/public", "auth: none") + AuthConfig.route("api", prefix: "/api"),
            top: "strip_header_prefixes: [\"X-Remote-\"]")
        let spoofed = ["X-Remote-User: mallory", "x_remote_groups: admin", "X-Auth-User: mallory", "x-auth-email: m@evil",
                       "X_AUTH_GROUPS: admin", "X-Auth-Other: kept", "X-Remote: kept"]
        authExpectForwarded(try gw.get("/public/x", spoofed),
                            ["Host: app.test", "X-Auth-Other: kept", "X-Remote: kept"] + authForwarded)
        authExpectForwarded(try gw.get("/api/x", bearer: authToken(), spoofed),
                            ["Host: app.test", "X-Auth-Other: kept", "X-Remote: kept"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"])
    }

    @Test("tokens.groups_claim: realm_access.roles feeds {groups} and groups_any; the groups claim is then ignored")
    func nestedGroupsClaim() throws {
        let gw = try authStandardGateway(
            routes: AuthConfig.route("api", prefix: "/api")
                + AuthConfig.route("ops", prefix: "/ops", "accept: [bearer]\nrequire: { groups_any: [ops] }"),
            settings: "groups_claim: realm_access.roles")
        let keycloak = Self.token(#","groups":["x"],"realm_access":{"roles":["ops","a,b"]}"#)
        authExpectForwarded(try gw.get("/api/kc", bearer: keycloak),
                            ["Host: app.test"] + authForwarded + ["X-Auth-User: alice", "X-Auth-Groups: ops,a%2Cb"])
        #expect(try gw.get("/ops/kc", bearer: keycloak)?.status == 200)
        let plain = Self.token(#","groups":["ops"]"#)
        authExpectForwarded(try gw.get("/api/plain", bearer: plain), ["Host: app.test"] + authForwarded + ["X-Auth-User: alice"])
        authExpectRefusal(try gw.get("/ops/plain", bearer: plain), status: 403,
                          challenge: #"Bearer realm="gatehouse", error="insufficient_scope""#, error: "insufficient_scope")
    }

    @Test("request trailers get the same stripping as headers: identity names and credentials never cross")
    func trailersStripped() throws {
        let upstream = try AuthCaptureUpstream()
        let config = AuthConfig.yaml(
            tokens: authStandardTokens(),
            routes: AuthConfig.route("api", prefix: "/api")
                + AuthConfig.route("tenant", prefix: "/tenant", "accept: [bearer]\nidentity_headers: { Remote-User: \"{sub}\" }")
                + AuthConfig.route("web", prefix: "/web", "accept: [\"cookie:access_token\"]"))
        let gw = try AuthGateway(config.replacingOccurrences(of: "servers: [\"@UPSTREAM@\"]",
                                                             with: "servers: [\"\(upstream.address)\"]"),
                                 files: authStandardFiles)
        let token = authToken()
        let response = try gw.send(
            "POST /api/upload HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n"
                + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n"
                + "X-Auth-User: mallory\r\nx_auth_groups: admin\r\nremote-user: mallory\r\n"
                + "Authorization: Bearer \(token)\r\nX-Checksum: abc\r\nX_Checksum_Alt: 1\r\n\r\n")
        #expect(response?.status == 200)
        let first: String = "POST /api/upload HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n"
            + "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: app.test\r\n"
            + "X-Real-IP: 127.0.0.1\r\n"
            + "X-Auth-User: alice\r\nX-Auth-Email: alice@example.com\r\nX-Auth-Groups: staff\r\n\r\n"
            + "5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"
        #expect(upstream.waitForRequests(1) == [first])
        // A token cookie route: the cookie as a trailer does not reach the upstream either.
        let cookie = try gw.send(
            "POST /web/upload HTTP/1.1\r\nHost: app.test\r\nCookie: access_token=\(token)\r\n"
                + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n"
                + "Cookie: access_token=\(token); theme=dark\r\nX-Checksum: def\r\n\r\n")
        #expect(cookie?.status == 200)
        let expected: String = "POST /web/upload HTTP/1.1\r\nHost: app.test\r\n"
            + "Transfer-Encoding: chunked\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"
            + "X-Forwarded-Host: app.test\r\nX-Real-IP: 127.0.0.1\r\nX-Auth-User: alice\r\nX-Auth-Email: alice@example.com\r\n"
            + "X-Auth-Groups: staff\r\n\r\n2\r\nhi\r\n0\r\nX-Checksum: def\r\n\r\n"
        #expect(upstream.waitForRequests(2).last == expected)
    }
}
