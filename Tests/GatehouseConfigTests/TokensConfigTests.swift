import Testing

@testable import GatehouseConfig

@Suite("tokens: issuers, keys and their sources")
struct TokensConfigTests {
    /// A minimal file with `tokens:` (line 1) holding `block`, which starts at line 2.
    static func withTokens(_ block: String) -> String {
        "tokens:\n" + ConfigFixtures.indent(block) + "\n" + ConfigFixtures.minimal
    }

    /// A minimal file with one issuer whose `keys` list (line 5) holds `keys`, which start at line 6.
    static func withKeys(_ keys: String) -> String {
        withTokens(
            """
            issuers:
              - issuer: "https://idp.example.com"
                audiences: legacy-app
                keys:
            """ + "\n" + ConfigFixtures.indent(ConfigFixtures.indent(ConfigFixtures.indent(keys))))
    }

    @Test("defaults: leeway, size, cache, groups claim, require_expiry; one audience as a string")
    func defaults() throws {
        let config = try #require(ConfigFixtures.config(Self.withKeys("- { jwks_file: Config/keys/idp-jwks.json }")))
        let tokens = try #require(config.tokens)
        #expect(tokens.leeway == .seconds(30))
        #expect(tokens.maxTokenSize == 8192)
        #expect(tokens.cacheSize == 10_000)
        #expect(tokens.groupsClaim == "groups")
        #expect(tokens.issuers.count == 1)
        let issuer = tokens.issuers[0]
        #expect(issuer.issuer == "https://idp.example.com")
        #expect(issuer.audiences == ["legacy-app"])
        #expect(issuer.requireExpiry)
        #expect(issuer.location == GatehouseConfig.SourceLocation(file: "test.yaml", line: 3, column: 7))
        #expect(
            issuer.keys == [
                KeySourceSection(
                    source: .jwksFile(path: "Config/keys/idp-jwks.json"),
                    location: GatehouseConfig.SourceLocation(file: "test.yaml", line: 6, column: 11),
                    keyPath: "tokens.issuers[0].keys[0]")
            ])
    }

    @Test("without tokens (absent or null) there are no issuers")
    func absent() throws {
        #expect(try #require(ConfigFixtures.config(ConfigFixtures.minimal)).tokens == nil)
        #expect(try #require(ConfigFixtures.config("tokens:\n" + ConfigFixtures.minimal)).tokens == nil)
    }

    @Test("every key set, every key source")
    func everyKeySet() throws {
        let yaml = Self.withTokens(
            """
            leeway: 0s
            max_token_size: 64KiB
            cache_size: 0
            groups_claim: realm_access.roles
            issuers:
              - issuer: "https://idp.example.com"
                audiences: ["legacy-app", "api"]
                require_expiry: false
                keys:
                  - { jwks_file: Config/keys/idp-jwks.json }
                  - { pem_file: Config/keys/idp-es256.pem, kid: "2024-01", algorithm: ES256 }
                  - { secret_env: IDP_HS256_SECRET, algorithm: HS256, kid: "k1" }
                  - { secret_file: /etc/gatehouse/hs256.secret, algorithm: HS512 }
                  - pem_file: Config/keys/rsa.pem
              - issuer: urn:other
                audiences: other
                keys:
                  - { pem_file: Config/keys/ed.pem, algorithm: EdDSA }
            """)
        let tokens = try #require(ConfigFixtures.config(yaml)?.tokens)
        #expect(tokens.leeway == .zero)
        #expect(tokens.maxTokenSize == 65536)
        #expect(tokens.cacheSize == 0)
        #expect(tokens.groupsClaim == "realm_access.roles")
        #expect(tokens.issuers.map(\.issuer) == ["https://idp.example.com", "urn:other"])
        #expect(tokens.issuers[0].audiences == ["legacy-app", "api"])
        #expect(tokens.issuers[0].requireExpiry == false)
        #expect(
            tokens.issuers[0].keys.map(\.source) == [
                .jwksFile(path: "Config/keys/idp-jwks.json"),
                .pemFile(path: "Config/keys/idp-es256.pem", algorithm: "ES256", kid: "2024-01"),
                .secretEnv(name: "IDP_HS256_SECRET", algorithm: "HS256", kid: "k1"),
                .secretFile(path: "/etc/gatehouse/hs256.secret", algorithm: "HS512", kid: nil),
                .pemFile(path: "Config/keys/rsa.pem", algorithm: nil, kid: nil),
            ])
        #expect(tokens.issuers[0].keys.map(\.location.line) == [11, 12, 13, 14, 15])
        #expect(tokens.issuers[0].keys[4].keyPath == "tokens.issuers[0].keys[4]")
        #expect(tokens.issuers[0].keys.map(\.source.kid) == [nil, "2024-01", "k1", nil, nil])
        #expect(tokens.issuers[0].keys.map(\.source.algorithm) == [nil, "ES256", "HS256", "HS512", nil])
        #expect(
            tokens.issuers[1].keys.map(\.source) == [.pemFile(path: "Config/keys/ed.pem", algorithm: "EdDSA", kid: nil)]
        )
        #expect(tokens.issuers[1].keys[0].keyPath == "tokens.issuers[1].keys[0]")
        #expect(tokens.issuers[1].location.line == 16)
    }

    @Test(
        "tokens values out of range",
        arguments: [
            ("leeway: 6m", "tokens.leeway", "must be at most 5m (a larger skew keeps expired tokens valid)"),
            ("leeway: 30", "tokens.leeway", "add a unit: \"30s\" for seconds or \"30ms\" for milliseconds"),
            ("max_token_size: 512", "tokens.max_token_size", "must be from 1KiB to 64KiB, got 512 bytes"),
            ("max_token_size: 65KiB", "tokens.max_token_size", "must be from 1KiB to 64KiB, got 66560 bytes"),
            ("cache_size: -1", "tokens.cache_size", "expected an integer of at least 0, got -1"),
            (
                "groups_claim: \"a..b\"", "tokens.groups_claim",
                "\"a..b\" is not a claim name: use letters, digits, \"_\", \":\" and \"-\", with \".\" between "
                    + "nested names (as in realm_access.roles)"
            ),
            ("lewway: 1s", "tokens.lewway", "unknown key; did you mean \"leeway\"?"),
        ])
    func outOfRange(line: String, key: String, message: String) throws {
        let yaml = Self.withTokens(
            line + "\nissuers:\n  - { issuer: a, audiences: b, keys: [{ jwks_file: c.json }] }")
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.key == key)
        #expect(error.location?.line == 2)
        #expect(error.message == message)
    }

    @Test("the limits of leeway and max_token_size are accepted")
    func limits() throws {
        for (line, check) in [
            ("leeway: 5m", { (tokens: TokensSection) in tokens.leeway == .seconds(300) }),
            ("leeway: 0ms", { $0.leeway == .zero }),
            ("max_token_size: 1KiB", { $0.maxTokenSize == 1024 }),
            ("max_token_size: 65536", { $0.maxTokenSize == 65536 }),
        ] {
            let yaml = Self.withTokens(line + "\nissuers:\n  - { issuer: a, audiences: b, keys: [{ jwks_file: c }] }")
            let tokens = try #require(ConfigFixtures.config(yaml)?.tokens)
            #expect(check(tokens), "\(line)")
        }
    }

    @Test("issuers is required, a non-empty list")
    func issuersShape() throws {
        let missing = try #require(ConfigFixtures.singleError(Self.withTokens("leeway: 1s")))
        #expect(missing.code == .missingKey)
        #expect(missing.key == "tokens.issuers")
        #expect(missing.location?.line == 2)
        let empty = try #require(ConfigFixtures.singleError("tokens: {}\n" + ConfigFixtures.minimal))
        #expect(empty.description == "test.yaml:1: tokens.issuers: missing required key")
        let emptyList = try #require(ConfigFixtures.singleError(Self.withTokens("issuers: []")))
        #expect(emptyList.description == "test.yaml:2: tokens.issuers: at least one issuer is required")
        let mapping = try #require(ConfigFixtures.singleError(Self.withTokens("issuers: { issuer: a }")))
        #expect(mapping.code == .wrongType)
        #expect(mapping.message == "expected a list of issuers, got a mapping")
    }

    @Test("an issuer needs issuer, audiences and keys")
    func issuerRequiredKeys() {
        let errors = ConfigFixtures.errors(Self.withTokens("issuers:\n  - require_expiry: true"))
        #expect(
            errors.map(\.description) == [
                "test.yaml:3: tokens.issuers[0].issuer: missing required key",
                "test.yaml:3: tokens.issuers[0].audiences: missing required key",
                "test.yaml:3: tokens.issuers[0].keys: missing required key",
            ])
        #expect(errors.allSatisfy { $0.code == .missingKey })
    }

    @Test("issuer and audience values")
    func issuerValues() {
        let yaml = Self.withTokens(
            """
            issuers:
              - issuer: ""
                audiences: []
                keys: [{ jwks_file: a }]
              - issuer: " https://idp.example.com"
                audiences: [a, "", a]
                keys: [{ jwks_file: a }]
              - issuer: https://idp.example.com
                audiences: { a: b }
                keys: [{ jwks_file: a }]
            """)
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:3: tokens.issuers[0].issuer: the issuer cannot be empty",
                "test.yaml:4: tokens.issuers[0].audiences: at least one audience is required",
                "test.yaml:6: tokens.issuers[1].issuer: remove the blanks around the issuer; it is compared exactly "
                    + "with the token's iss",
                "test.yaml:7: tokens.issuers[1].audiences[1]: expected an audience, got an empty string",
                "test.yaml:7: tokens.issuers[1].audiences[2]: \"a\" is listed twice",
                "test.yaml:10: tokens.issuers[2].audiences: expected a list of audiences, got a mapping",
            ])
    }

    @Test("issuers are unique; the second one is reported")
    func duplicateIssuer() throws {
        let yaml = Self.withTokens(
            """
            issuers:
              - { issuer: "https://idp", audiences: a, keys: [{ jwks_file: a }] }
              - { issuer: "https://idp", audiences: b, keys: [{ jwks_file: b }] }
            """)
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .duplicateName)
        #expect(error.key == "tokens.issuers[1].issuer")
        #expect(error.location?.line == 4)
        #expect(
            error.message
                == "duplicate issuer \"https://idp\"; first defined at line 3 (list every key of one issuer under its keys)"
        )
    }

    @Test(
        "require_expiry takes true or false only",
        arguments: [
            ("yes", "expected true or false, got \"yes\"; write true"),
            ("off", "expected true or false, got \"off\"; write false"),
            ("True", "expected true or false, got \"True\"; write true"),
            ("N", "expected true or false, got \"N\"; write false"),
            ("1", "expected true or false, got \"1\""),
        ])
    func requireExpiry(text: String, message: String) throws {
        let yaml = Self.withTokens(
            "issuers:\n  - issuer: a\n    audiences: b\n    require_expiry: \(text)\n    keys: [{ jwks_file: c }]")
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .invalidValue)
        #expect(error.key == "tokens.issuers[0].require_expiry")
        #expect(error.location?.line == 5)
        #expect(error.message == message)
    }

    @Test("require_expiry: false, quoted or not")
    func requireExpiryFalse() throws {
        for text in ["false", "\"false\""] {
            let yaml = Self.withTokens(
                "issuers:\n  - issuer: a\n    audiences: b\n    require_expiry: \(text)\n    keys: [{ jwks_file: c }]")
            #expect(try #require(ConfigFixtures.config(yaml)?.tokens).issuers[0].requireExpiry == false)
        }
    }

    @Test("a literal secret is refused, and the secret is not repeated in the message")
    func literalSecret() throws {
        let error = try #require(
            ConfigFixtures.singleError(Self.withKeys("- { secret: \"hunter2-very-secret\", algorithm: HS256 }")))
        #expect(error.code == .invalidValue)
        #expect(error.key == "tokens.issuers[0].keys[0].secret")
        #expect(error.location?.line == 6)
        #expect(error.message == "a literal secret in the config file is refused; use secret_env or secret_file")
        #expect(!error.description.contains("hunter2"))
        let withSource = try #require(
            ConfigFixtures.singleError(Self.withKeys("- { secret_env: KEY, secret: \"x\", algorithm: HS256 }")))
        #expect(withSource.key == "tokens.issuers[0].keys[0].secret")
    }

    @Test("a key entry has exactly one source")
    func exactlyOneSource() throws {
        let two = try #require(
            ConfigFixtures.singleError(Self.withKeys("- { jwks_file: a.json, pem_file: b.pem }")))
        #expect(two.code == .invalidValue)
        #expect(two.key == "tokens.issuers[0].keys[0].pem_file")
        #expect(two.location?.line == 6)
        #expect(
            two.message
                == "a key has exactly one source, and this one already has jwks_file; write one list entry per key")
        let three = ConfigFixtures.errors(
            Self.withKeys("- secret_file: a\n  secret_env: B\n  jwks_file: c\n  algorithm: HS256"))
        #expect(three.map(\.key) == ["tokens.issuers[0].keys[0].secret_env", "tokens.issuers[0].keys[0].jwks_file"])
        #expect(three.map { $0.location?.line } == [7, 8])
        #expect(three.allSatisfy { $0.message.hasSuffix("already has secret_file; write one list entry per key") })
        let none = try #require(ConfigFixtures.singleError(Self.withKeys("- { algorithm: ES256, kid: a }")))
        #expect(none.code == .missingKey)
        #expect(none.key == "tokens.issuers[0].keys[0]")
        #expect(none.location?.line == 6)
        #expect(none.message == "a key needs exactly one source: jwks_file, pem_file, secret_env or secret_file")
        let misspelt = try #require(ConfigFixtures.singleError(Self.withKeys("- { pemfile: a.pem }")))
        #expect(
            misspelt.description
                == "test.yaml:6: tokens.issuers[0].keys[0].pemfile: unknown key; did you mean \"pem_file\"?")
        let empty = try #require(ConfigFixtures.singleError(Self.withKeys("- { jwks_file: }")))
        #expect(empty.description == "test.yaml:6: tokens.issuers[0].keys[0].jwks_file: a value is required")
    }

    @Test("keys is a non-empty list of mappings")
    func keysShape() throws {
        let mapping = try #require(
            ConfigFixtures.singleError(
                Self.withTokens("issuers:\n  - issuer: a\n    audiences: b\n    keys: { jwks_file: c }")))
        #expect(mapping.code == .wrongType)
        #expect(mapping.key == "tokens.issuers[0].keys")
        #expect(
            mapping.message
                == "expected a list of keys, got a mapping; write each key as a list item: - { jwks_file: ... }")
        let empty = try #require(
            ConfigFixtures.singleError(Self.withTokens("issuers:\n  - issuer: a\n    audiences: b\n    keys: []")))
        #expect(empty.description == "test.yaml:5: tokens.issuers[0].keys: at least one key is required")
        let scalar = try #require(ConfigFixtures.singleError(Self.withKeys("- Config/keys/a.pem")))
        #expect(scalar.code == .wrongType)
        #expect(scalar.key == "tokens.issuers[0].keys[0]")
        #expect(scalar.message == "expected a mapping, got \"Config/keys/a.pem\"")
    }

    @Test(
        "algorithm names: exact case, never none, suggestions",
        arguments: [
            ("es256", "algorithm names are case-sensitive; did you mean \"ES256\"?"),
            ("eddsa", "algorithm names are case-sensitive; did you mean \"EdDSA\"?"),
            ("none", "\"none\" (unsigned tokens) is never accepted"),
            ("None", "\"None\" (unsigned tokens) is never accepted"),
            ("ES265", "unknown algorithm \"ES265\"; did you mean \"ES256\"?"),
            ("Ed25519", "unknown algorithm \"Ed25519\"; Ed25519 and Ed448 keys use \"EdDSA\""),
            (
                "ECDSA-P256",
                "unknown algorithm \"ECDSA-P256\"; expected one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, "
                    + "PS384, PS512, ES256, ES384, ES512, EdDSA"
            ),
        ])
    func algorithmNames(text: String, message: String) throws {
        let error = try #require(ConfigFixtures.singleError(Self.withKeys("- { pem_file: a.pem, algorithm: \(text) }")))
        #expect(error.code == .invalidValue)
        #expect(error.key == "tokens.issuers[0].keys[0].algorithm")
        #expect(error.location?.line == 6)
        #expect(error.message == message)
    }

    @Test("every algorithm is accepted in its exact spelling")
    func everyAlgorithm() throws {
        for name in KeySourceSection.algorithms {
            let entry =
                name.hasPrefix("HS")
                ? "- { secret_env: K, algorithm: \(name) }" : "- { pem_file: k, algorithm: \(name) }"
            let keys = try #require(ConfigFixtures.config(Self.withKeys(entry))?.tokens?.issuers[0].keys)
            #expect(keys[0].source.algorithm == name)
        }
    }

    @Test("jwks_file takes neither algorithm nor kid")
    func jwksFileOptions() {
        let errors = ConfigFixtures.errors(Self.withKeys("- { jwks_file: a.json, algorithm: ES256, kid: x }"))
        #expect(
            errors.map(\.description) == [
                "test.yaml:6: tokens.issuers[0].keys[0].algorithm: not allowed with jwks_file: each JWK in the file "
                    + "gives its own \"alg\"",
                "test.yaml:6: tokens.issuers[0].keys[0].kid: not allowed with jwks_file: each JWK in the file gives "
                    + "its own \"kid\"",
            ])
        #expect(errors.allSatisfy { $0.code == .invalidValue })
    }

    @Test("algorithm families: pem_file never HS*, secrets always HS* and required")
    func algorithmFamilies() {
        let yaml = Self.withKeys(
            """
            - { pem_file: a.pem, algorithm: HS256 }
            - { secret_env: KEY, algorithm: RS256 }
            - { secret_file: /run/secret }
            - { secret_env: KEY, kid: "", algorithm: HS384 }
            """)
        let errors = ConfigFixtures.errors(yaml)
        #expect(
            errors.map(\.description) == [
                "test.yaml:6: tokens.issuers[0].keys[0].algorithm: HS256 is an HMAC algorithm, which needs a shared "
                    + "secret (secret_env or secret_file), not a PEM file",
                "test.yaml:7: tokens.issuers[0].keys[1].algorithm: a secret is an HMAC key, so the algorithm must be "
                    + "HS256, HS384 or HS512; RS256 needs pem_file or jwks_file",
                "test.yaml:8: tokens.issuers[0].keys[2].algorithm: an HMAC secret needs algorithm: HS256, HS384 or HS512",
                "test.yaml:9: tokens.issuers[0].keys[3].kid: a key id cannot be empty",
            ])
        #expect(errors.map(\.code) == [.invalidValue, .invalidValue, .missingKey, .invalidValue])
    }

    @Test("secret_env must be a variable name; a pasted secret is not echoed")
    func secretEnvName() throws {
        let error = try #require(
            ConfigFixtures.singleError(Self.withKeys("- { secret_env: \"s3cr3t value!\", algorithm: HS256 }")))
        #expect(error.key == "tokens.issuers[0].keys[0].secret_env")
        #expect(error.location?.line == 6)
        #expect(!error.description.contains("s3cr3t"))
        #expect(error.message.hasPrefix("secret_env names an environment variable"))
        for good in ["IDP_SECRET", "_x", "a1"] {
            #expect(KeySourceSection.isEnvironmentName(good))
        }
        for bad in ["", "1A", "A-B", "A B", "É"] {
            #expect(!KeySourceSection.isEnvironmentName(bad), "\(bad)")
        }
    }

    @Test("file paths may not be empty")
    func filePaths() throws {
        let error = try #require(ConfigFixtures.singleError(Self.withKeys("- { pem_file: \"\" }")))
        #expect(
            error.description
                == "test.yaml:6: tokens.issuers[0].keys[0].pem_file: expected a file path, got an empty string")
    }

    @Test("a kid is used once per issuer")
    func duplicateKid() throws {
        let yaml = Self.withKeys(
            """
            - { pem_file: a.pem, kid: k1 }
            - { secret_env: K, algorithm: HS256, kid: k2 }
            - { pem_file: b.pem, kid: k1 }
            """)
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.code == .duplicateName)
        #expect(error.key == "tokens.issuers[0].keys[2].kid")
        #expect(error.location?.line == 8)
        #expect(error.message == "kid \"k1\" is used twice in this issuer; first at line 6 (a kid must pick one key)")
    }
}
