import Foundation
import GatehouseTestSupport
import Testing

@Suite("Auth: gatehouse explain and check-config on token configs")
struct AuthExplainTests {
    /// A config file for the CLI (no processes behind it: explain and check-config connect nowhere).
    static func writeConfig(_ keys: AuthKeyDirectory, tokens: String, routes: String) throws -> String {
        try keys.write("gatehouse.yaml",
                       AuthConfig.yaml(tokens: tokens, routes: routes)
                           .replacingOccurrences(of: "@UPSTREAM@", with: "127.0.0.1:9")
                           .replacingOccurrences(of: "@KEYS@", with: keys.path))
    }

    static func explainConfig(_ keys: AuthKeyDirectory) throws -> String {
        try keys.write("p256.pem", TokenKeys.p256.publicKeyPEM)
        return try writeConfig(keys, tokens: authStandardTokens(),
                               routes: AuthConfig.route("api", prefix: "/api", "accept: [bearer]\nrequire: { groups_any: [staff] }"))
    }

    @Test("explain prints the route, each check and the exact head the upstream would receive")
    func explainForwarded() throws {
        let keys = try AuthKeyDirectory()
        let config = try Self.explainConfig(keys)
        let token = authToken()
        let result = try AuthCommandResult.run(["explain", "--config", config, "--request", "GET https://app.test/api/orders?id=7",
                                                "-H", "Authorization: Bearer \(token)", "-H", "X-Auth-User: mallory"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == """
            request: GET /api/orders?id=7
            route: api
              - route api (upstream app)
              - bearer: signature and claims valid (iss https://idp.test, sub alice)
              - requirement met
              - forwarded
            result: forwarded; the upstream receives:
              GET /api/orders?id=7 HTTP/1.1
              Host: app.test
              X-Forwarded-For: 127.0.0.1
              X-Forwarded-Proto: http
              X-Forwarded-Host: app.test
              X-Real-IP: 127.0.0.1
              X-Auth-User: alice
              X-Auth-Email: alice@example.com
              X-Auth-Groups: staff

            """)
    }

    @Test("explain says why a token is refused: expired now, or at a later --at; an unmet requirement")
    func explainRefused() throws {
        let keys = try AuthKeyDirectory()
        let config = try Self.explainConfig(keys)
        let expired = authToken(exp: -120)
        let now = try AuthCommandResult.run(["explain", "--config", config, "--request", "GET https://app.test/api/orders",
                                             "-H", "Authorization: Bearer \(expired)"])
        #expect(now.status == 0, "stderr: \(now.stderr)")
        #expect(now.stdout == """
            request: GET /api/orders
            route: api
              - route api (upstream app)
              - bearer: refused (expired)
              - refused: expired
            result: the gateway answers 401; nothing is forwarded

            """)
        #expect(!now.stdout.contains(expired))

        let valid = authToken()
        let later = try AuthCommandResult.run(["explain", "--config", config, "--request", "GET https://app.test/api/orders",
                                               "-H", "Authorization: Bearer \(valid)", "--at", "\(TokenMinter.now + 7200)"])
        #expect(later.stdout.contains("  - bearer: refused (expired)\n"), "\(later.stdout)\(later.stderr)")
        #expect(later.stdout.contains("result: the gateway answers 401; nothing is forwarded\n"))

        let outsider = authToken(extra: #","groups":["guests"]"#)
        let forbidden = try AuthCommandResult.run(["explain", "--config", config, "--request", "GET https://app.test/api/orders",
                                                   "-H", "Authorization: Bearer \(outsider)"])
        #expect(forbidden.stdout.contains("  - requirement not met: none of groups [\"staff\"]\n"),
                "\(forbidden.stdout)\(forbidden.stderr)")
        #expect(forbidden.stdout.contains("result: the gateway answers 403; nothing is forwarded\n"))
    }

    /// A config whose only issuer has `keyEntry`; returns the path and the 1-based line of the entry.
    static func keyConfig(_ keys: AuthKeyDirectory, keyEntry: String) throws -> (path: String, line: Int) {
        let path = try writeConfig(keys, tokens: AuthConfig.tokens(keys: [keyEntry]), routes: AuthConfig.route("api", prefix: "/api"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.contains(keyEntry.replacingOccurrences(of: "@KEYS@", with: keys.path)) })
        return (path, line + 1)
    }

    @Test("check-config refuses an HS256 secret under 32 bytes (file and environment), naming file:line and key")
    func shortHMACSecret() throws {
        let keys = try AuthKeyDirectory()
        try keys.write("short.secret", "0123456789\n")
        let (path, line) = try Self.keyConfig(keys, keyEntry: "{ secret_file: @KEYS@/short.secret, algorithm: HS256 }")
        let result = try AuthCommandResult.run(["check-config", "--config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path):\(line): tokens.issuers[0].keys[0]: HS256 secret has 10 bytes; at least 32 are required"),
                "\(result.stderr)")
        #expect(!result.stderr.contains("0123456789") && !result.stdout.contains("0123456789"))

        let envKeys = try AuthKeyDirectory()
        let (envPath, envLine) = try Self.keyConfig(envKeys, keyEntry: "{ secret_env: GATEHOUSE_AUTH_SHORT, algorithm: HS256 }")
        let env = try AuthCommandResult.run(["check-config", "--config", envPath],
                                            environment: ["GATEHOUSE_AUTH_SHORT": "short-secret-31-bytes-long-abcd"])
        #expect(env.status == 1)
        #expect(env.stderr.contains("\(envPath):\(envLine): tokens.issuers[0].keys[0]: HS256 secret has 31 bytes; at least 32 are required"),
                "\(env.stderr)")
        #expect(!env.stderr.contains("short-secret-31"))
    }

    @Test("check-config refuses an RSA-1024 PEM, naming file:line and key")
    func weakRSAKey() throws {
        let keys = try AuthKeyDirectory()
        try keys.write("rsa1024.pem", TestSigningKey.rsa(bits: 1024).publicKeyPEM)
        let (path, line) = try Self.keyConfig(keys, keyEntry: "{ pem_file: @KEYS@/rsa1024.pem, algorithm: RS256 }")
        let result = try AuthCommandResult.run(["check-config", "--config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path):\(line): tokens.issuers[0].keys[0]: RSA key has 1024 bits; at least 2048 are required"),
                "\(result.stderr)")
    }

    @Test("check-config refuses `secret:` written in the YAML, without repeating it")
    func literalSecret() throws {
        let keys = try AuthKeyDirectory()
        let secret = "literal-secret-0123456789abcdefghijklmnop"
        let (path, line) = try Self.keyConfig(keys, keyEntry: "{ secret: \"\(secret)\", algorithm: HS256 }")
        let result = try AuthCommandResult.run(["check-config", "--config", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(path):\(line): tokens.issuers[0].keys[0].secret: a literal secret in the config "
                                       + "file is refused; use secret_env or secret_file"), "\(result.stderr)")
        #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret))
    }
}
