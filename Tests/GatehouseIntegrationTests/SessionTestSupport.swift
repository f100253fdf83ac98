import Foundation
import GatehouseTestSupport
import Testing

/// Shared fixtures of the Session* suites: users whose hashes come from htpasswd/mkpasswd at test time, and a
/// config with a session-protected app, a public page and the admin listener.
enum SessionFixture {
    static let alicePassword = "correct horse battery staple"
    static let bobPassword = "hunter2-but-longer"

    /// alice (bcrypt from htpasswd, staff+admins), bob (yescrypt from mkpasswd), carol (disabled).
    static func usersFile() throws -> String {
        "users:\n"
            + SessionGateway.user("alice", hash: try IndependentHash.bcrypt(alicePassword), email: "alice@example.com",
                                  groups: ["staff", "admins"])
            + SessionGateway.user("bob", hash: try IndependentHash.yescrypt(bobPassword), email: "bob@example.com",
                                  groups: ["staff"])
            + SessionGateway.user("carol", hash: try IndependentHash.bcrypt("carol-pass"), disabled: true)
    }

    /// A gateway signing users in (`login` keys in `login`, `sessions` keys in `sessions`).
    /// The `sessions` lines choosing the store: the embedded file in the test directory, or a Redis.
    static func storeLines(redisPort: Int?, keyPrefix: String = "gh-test:", redisExtra: String = "") -> String {
        guard let redisPort else { return "embedded: { path: \"@KEYS@/sessions.sqlite\" }" }
        let extra = redisExtra.isEmpty ? "" : ", " + redisExtra
        return "store: redis\nredis: { url: \"redis://127.0.0.1:\(redisPort)/0\", key_prefix: \"\(keyPrefix)\", timeout: 300ms\(extra) }"
    }

    /// The suites' admin requests say `Host: admin`: an allowed name (a foreign Host is refused otherwise).
    static let adminLines = "allowed_hosts: [admin]"

    /// `store`: the lines choosing the store, when not `storeLines(redisPort:redisExtra:)` (Sentinel).
    static func config(login: String = "", sessions: String = "", extraRoutes: String = "",
                       appAccept: String = "[session]", redisPort: Int? = nil, redisExtra: String = "",
                       top: String = "", admin: String = adminLines, server: String = "",
                       store: String? = nil) -> String {
        let sessionLines = ((store ?? storeLines(redisPort: redisPort, redisExtra: redisExtra)) + "\n" + sessions)
            .split(separator: "\n")
            .map { "  " + $0 }.joined(separator: "\n")
        let rateLimit = login.contains("rate_limit") ? "" : "rate_limit: { failures: 1000, window: 1m }\n"
        let loginLines = (rateLimit + login).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        return """
        server:
          listen: ["127.0.0.1:0"]
          workers: 2
        \(server.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        admin:
          listen: "127.0.0.1:0"
        \(admin.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        access_log:
          path: stdout
        upstreams:
          app:
            servers: ["@UPSTREAM@"]
        login:
          users_file: "@KEYS@/users.yaml"
        \(loginLines)
        sessions:
        \(sessionLines)
        \(top)
        routes:
          - name: app
            match: { path_prefix: /app }
            upstream: app
            accept: \(appAccept)
            unauthenticated: login
        \(extraRoutes)
          - name: public
            match: { path_prefix: / }
            upstream: app
            auth: none
        """
    }

    static func gateway(login: String = "", sessions: String = "", extraRoutes: String = "",
                        appAccept: String = "[session]", redisPort: Int? = nil, redisExtra: String = "",
                        top: String = "", admin: String = adminLines, server: String = "",
                        extraFiles: [String: String] = [:], store: String? = nil,
                        environment: [String: String] = [:]) throws -> SessionGateway {
        var files = extraFiles
        if files["users.yaml"] == nil { files["users.yaml"] = try usersFile() }
        return try SessionGateway(config(login: login, sessions: sessions, extraRoutes: extraRoutes,
                                         appAccept: appAccept, redisPort: redisPort, redisExtra: redisExtra, top: top, admin: admin,
                                         server: server, store: store),
                                  files: files, environment: environment)
    }

    /// Signs alice in and returns her `name=value` cookie.
    static func aliceCookie(_ gw: SessionGateway, userAgent: String = "test-agent") throws -> String {
        let response = try gw.signIn("alice", alicePassword, extraHeaders: "User-Agent: \(userAgent)\r\n")
        guard response.status == 303, let cookie = SessionGateway.cookie(of: response) else {
            throw TestFailure("sign-in failed: \(response.status) \(response.bodyText)\n\(gw.auth.diagnostics)")
        }
        return cookie
    }

    /// The device list as the caller with `cookie` sees it.
    static func sessions(_ gw: SessionGateway, cookie: String) throws -> [[String: Any]] {
        let response = try gw.get("/.gatehouse/sessions", headers: "Cookie: \(cookie)\r\n")
        guard response.status == 200, let list = response.json?["sessions"] as? [[String: Any]] else {
            throw TestFailure("sessions: \(response.status) \(response.bodyText)")
        }
        return list
    }
}
