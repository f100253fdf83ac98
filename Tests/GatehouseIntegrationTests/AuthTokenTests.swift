import Foundation
import GatehouseTestSupport
import Testing

/// One algorithm and how its key reaches the config.
enum AuthAlgorithmCase: String, CaseIterable, Sendable {
    case hs256Env, hs384Env, hs512Env, hs256File, hs384File, hs512File
    case rs256, ps256, es256, es384, es512, eddsa

    var alg: String {
        switch self {
        case .hs256Env, .hs256File: "HS256"
        case .hs384Env, .hs384File: "HS384"
        case .hs512Env, .hs512File: "HS512"
        case .rs256: "RS256"
        case .ps256: "PS256"
        case .es256: "ES256"
        case .es384: "ES384"
        case .es512: "ES512"
        case .eddsa: "EdDSA"
        }
    }

    private var secret: String? {
        switch alg {
        case "HS256": TokenKeys.hs256Secret
        case "HS384": TokenKeys.hs384Secret
        case "HS512": TokenKeys.hs512Secret
        default: nil
        }
    }

    /// The key that signs the good token.
    var key: TestSigningKey {
        switch self {
        case .rs256, .ps256: TokenKeys.rsa
        case .es256: TokenKeys.p256
        case .es384: TokenKeys.p384
        case .es512: TokenKeys.p521
        case .eddsa: TokenKeys.ed25519
        default: .hmac(secret!)
        }
    }

    /// Another key of the same kind and size: its signatures must not verify.
    var otherKey: TestSigningKey {
        switch self {
        case .rs256, .ps256: TokenKeys.rsaOther
        case .es256: TokenKeys.p256Other
        case .es384: .p384()
        case .es512: .p521()
        case .eddsa: .ed25519()
        default: .hmac(String(secret!.reversed()))
        }
    }

    var envName: String { "GATEHOUSE_AUTH_TEST_\(alg)" }

    /// The `keys` entry.
    var keyEntry: String {
        switch self {
        case .hs256Env, .hs384Env, .hs512Env: "{ secret_env: \(envName), algorithm: \(alg) }"
        case .hs256File, .hs384File, .hs512File: "{ secret_file: @KEYS@/\(alg).secret, algorithm: \(alg) }"
        case .rs256, .ps256: "{ pem_file: @KEYS@/rsa.pem, algorithm: \(alg) }"
        default: "{ pem_file: @KEYS@/\(alg).pem }"
        }
    }

    var files: [String: String] {
        switch self {
        case .hs256Env, .hs384Env, .hs512Env: [:]
        // A trailing newline, as editors and `echo` leave: not part of the secret.
        case .hs256File, .hs384File, .hs512File: ["\(alg).secret": secret! + "\n"]
        case .rs256, .ps256: ["rsa.pem": key.publicKeyPEM]
        default: ["\(alg).pem": key.publicKeyPEM]
        }
    }

    var environment: [String: String] {
        switch self {
        case .hs256Env, .hs384Env, .hs512Env: [envName: secret!]
        default: [:]
        }
    }
}

/// Why the refusal suite refuses each token, and the reason the access log must record.
enum AuthRefusalCase: String, CaseIterable, Sendable {
    case expired, notYetValid, issuedInFuture, wrongIssuer, wrongAudience, algNone, algNoneCapitalised
    case hmacSignedWithRSAPublicKey, es256AgainstP384Key, badSignature, truncatedSignature, unknownCrit
    case duplicateExp, overMaxTokenSize, fiveThousandDots, embeddedAttackerJWK, deeplyNestedClaim

    var reason: String {
        switch self {
        case .expired: "expired"
        case .notYetValid: "not-yet-valid"
        case .issuedInFuture: "issued-in-future"
        case .wrongIssuer: "wrong-issuer"
        case .wrongAudience: "wrong-audience"
        case .algNone, .algNoneCapitalised: "alg-none"
        case .hmacSignedWithRSAPublicKey, .es256AgainstP384Key: "alg-not-allowed"
        case .badSignature, .embeddedAttackerJWK: "bad-signature"
        case .truncatedSignature: "bad-signature-length"
        case .unknownCrit: "crit-unsupported"
        case .duplicateExp: "duplicate-member"
        case .overMaxTokenSize: "too-large"
        case .fiveThousandDots: "malformed"
        case .deeplyNestedClaim: "bad-json"
        }
    }

    var token: String {
        let p256 = TokenKeys.p256
        func es256(_ claims: String) -> String { TokenMinter.mint(claims: claims, key: p256, alg: "ES256") }
        switch self {
        case .expired:
            return es256(TokenMinter.claims(exp: -120, iat: -3600))  // beyond the 30 s leeway
        case .notYetValid:
            return es256(TokenMinter.claims(nbf: 120))
        case .issuedInFuture:
            return es256(TokenMinter.claims(iat: 120))
        case .wrongIssuer:
            return es256(TokenMinter.claims(iss: "https://evil.test"))
        case .wrongAudience:
            return es256(TokenMinter.claims(aud: "\"another-app\""))
        case .algNone, .algNoneCapitalised:
            let alg = self == .algNone ? "none" : "None"
            return TokenMinter.base64url(#"{"alg":"\#(alg)","typ":"JWT"}"#) + "."
                + TokenMinter.base64url(TokenMinter.claims()) + "."
        case .hmacSignedWithRSAPublicKey:
            // The classic confusion: the RSA public key's PEM bytes (public knowledge) as an HMAC secret.
            return TokenMinter.mint(claims: TokenMinter.claims(iss: "https://rsa.test"),
                                    key: .hmac(TokenKeys.rsa.publicKeyPEM), alg: "HS256")
        case .es256AgainstP384Key:
            return TokenMinter.mint(claims: TokenMinter.claims(iss: "https://p384.test"), key: p256, alg: "ES256")
        case .badSignature:
            return TokenMinter.mint(claims: TokenMinter.claims(), key: TokenKeys.p256Other, alg: "ES256")
        case .truncatedSignature:
            return String(es256(TokenMinter.claims()).dropLast(10))
        case .unknownCrit:
            return TokenMinter.mint(claims: TokenMinter.claims(), key: p256, alg: "ES256",
                                    extraHeader: #","crit":["x-gatehouse-test"],"x-gatehouse-test":true"#)
        case .duplicateExp:
            let now = TokenMinter.now
            return es256(TokenMinter.claims(exp: nil, extra: #","exp":\#(now + 3600),"exp":\#(now + 7200)"#))
        case .overMaxTokenSize:
            // max_token_size is 6KiB in this suite (the 5000 dots stay under it): a valid token of ~9 KiB.
            return es256(TokenMinter.claims(extra: #","padding":"\#(String(repeating: "a", count: 6500))""#))
        case .fiveThousandDots:
            return String(repeating: ".", count: 5000)
        case .deeplyNestedClaim:
            // 2000 nested arrays, properly signed: refused by the nesting bound, and no worker runs out of stack.
            let nested = String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000)
            return es256(TokenMinter.claims(extra: #","nested":\#(nested)"#))
        case .embeddedAttackerJWK:
            // The attacker signs with its own key and ships the public half in `jwk`: it must be ignored.
            let attacker = TokenKeys.p256Other
            return TokenMinter.mint(claims: TokenMinter.claims(), key: attacker, alg: "ES256",
                                    extraHeader: #","jwk":\#(attacker.jwk())"#)
        }
    }
}

@Suite("Auth: JWT verification end to end through the real binary")
struct AuthTokenTests {
    /// The headers an echo upstream gets for alice's usual token on `GET` with `Host: app.test`.
    static let aliceHeaders = ["Host: app.test"] + authForwarded
        + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff,dev"]
    static let aliceExtra = #","email":"alice@example.com","groups":["staff","dev"]"#

    @Test("every algorithm verifies through a bearer route; another key's signature does not",
          arguments: AuthAlgorithmCase.allCases)
    func everyAlgorithm(_ algorithm: AuthAlgorithmCase) throws {
        let gw = try AuthGateway(
            AuthConfig.yaml(tokens: AuthConfig.tokens(keys: [algorithm.keyEntry]),
                            routes: AuthConfig.route("api", prefix: "/api")),
            files: algorithm.files, environment: algorithm.environment)
        let good = TokenMinter.mint(claims: TokenMinter.claims(extra: Self.aliceExtra), key: algorithm.key,
                                    alg: algorithm.alg)
        authExpectForwarded(try gw.get("/api/good", bearer: good), Self.aliceHeaders)

        let forged = TokenMinter.mint(claims: TokenMinter.claims(extra: Self.aliceExtra), key: algorithm.otherKey,
                                      alg: algorithm.alg)
        authExpectInvalidToken(gw, try gw.get("/api/forged", bearer: forged), token: forged, path: "/api/forged",
                               reason: "bad-signature")
        #expect(try gw.upstreamRequests() == ["GET /api/good"])
    }

    @Test("a JWKS file with two keys: kid selects the key; an unknown kid or another key's kid is refused")
    func jwksKidSelection() throws {
        let jwks = #"{"keys":[\#(TokenKeys.rsa.jwk(kid: "rsa-2024", alg: "RS256")),"#
            + #"\#(TokenKeys.p256.jwk(kid: "ec-2024", alg: "ES256"))]}"#
        let gw = try AuthGateway(
            AuthConfig.yaml(tokens: AuthConfig.tokens(keys: ["{ jwks_file: @KEYS@/idp-jwks.json }"]),
                            routes: AuthConfig.route("api", prefix: "/api")),
            files: ["idp-jwks.json": jwks])
        let claims = TokenMinter.claims(extra: Self.aliceExtra)

        let rsa = TokenMinter.mint(claims: claims, key: TokenKeys.rsa, alg: "RS256", kid: "rsa-2024")
        authExpectForwarded(try gw.get("/api/rsa", bearer: rsa), Self.aliceHeaders)
        let ec = TokenMinter.mint(claims: claims, key: TokenKeys.p256, alg: "ES256", kid: "ec-2024")
        authExpectForwarded(try gw.get("/api/ec", bearer: ec), Self.aliceHeaders)

        let unknownKid = TokenMinter.mint(claims: claims, key: TokenKeys.rsa, alg: "RS256", kid: "rsa-2023")
        authExpectInvalidToken(gw, try gw.get("/api/unknown-kid", bearer: unknownKid), token: unknownKid,
                               path: "/api/unknown-kid", reason: "unknown-kid")
        let crossedKid = TokenMinter.mint(claims: claims, key: TokenKeys.p256, alg: "ES256", kid: "rsa-2024")
        authExpectInvalidToken(gw, try gw.get("/api/crossed-kid", bearer: crossedKid), token: crossedKid,
                               path: "/api/crossed-kid", reason: "unknown-kid")
        let otherRSA = TokenMinter.mint(claims: claims, key: TokenKeys.rsaOther, alg: "RS256", kid: "rsa-2024")
        authExpectInvalidToken(gw, try gw.get("/api/other-rsa", bearer: otherRSA), token: otherRSA,
                               path: "/api/other-rsa", reason: "bad-signature")
        #expect(try gw.upstreamRequests() == ["GET /api/rsa", "GET /api/ec"])
    }

    /// Issuers of the refusal suite: the usual P-256 one, one with only an RSA key, one with only a P-384 key,
    /// and one with an HMAC secret (so HS256 is an algorithm the gateway knows, just not for the RSA issuer).
    static func refusalGateway() throws -> AuthGateway {
        let more = """
            - issuer: "https://rsa.test"
              audiences: ["gatehouse"]
              keys:
                - { pem_file: @KEYS@/rsa.pem, algorithm: RS256 }
            - issuer: "https://p384.test"
              audiences: ["gatehouse"]
              keys:
                - { pem_file: @KEYS@/p384.pem }
            - issuer: "https://hmac.test"
              audiences: ["gatehouse"]
              keys:
                - { secret_file: @KEYS@/hs256.secret, algorithm: HS256 }
            """
        let tokens = AuthConfig.tokens(keys: ["{ pem_file: @KEYS@/p256.pem }"], settings: "max_token_size: 6KiB",
                                       moreIssuers: more)
        return try AuthGateway(
            AuthConfig.yaml(tokens: tokens, routes: AuthConfig.route("api", prefix: "/api")),
            files: ["p256.pem": TokenKeys.p256.publicKeyPEM, "rsa.pem": TokenKeys.rsa.publicKeyPEM,
                    "p384.pem": TokenKeys.p384.publicKeyPEM, "hs256.secret": TokenKeys.hs256Secret])
    }

    @Test("refused tokens: 401 invalid_token, the reason in the access log, nothing forwarded",
          arguments: AuthRefusalCase.allCases)
    func refusedToken(_ refusal: AuthRefusalCase) throws {
        let gw = try Self.refusalGateway()
        // The control: the same gateway takes a good token.
        authExpectForwarded(try gw.get("/api/control", bearer: authToken()),
                            ["Host: app.test"] + authForwarded
                                + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"])
        let token = refusal.token
        let path = "/api/\(refusal.rawValue)"
        let start = Date()
        let response = try gw.get(path, bearer: token)
        let seconds = Date().timeIntervalSince(start)
        authExpectInvalidToken(gw, response, token: token, path: path, reason: refusal.reason)
        if refusal == .fiveThousandDots { #expect(seconds < 1, "5000 dots took \(seconds) s") }
        #expect(try gw.upstreamRequests() == ["GET /api/control"])
    }

    @Test("aud as an array: accepted when it names the configured audience, refused otherwise")
    func audienceArray() throws {
        let gw = try authStandardGateway(routes: AuthConfig.route("api", prefix: "/api"))
        let named = TokenMinter.mint(claims: TokenMinter.claims(aud: #"["other-app","gatehouse"]"#),
                                     key: TokenKeys.p256, alg: "ES256")
        authExpectForwarded(try gw.get("/api/named", bearer: named), ["Host: app.test"] + authForwarded + ["X-Auth-User: alice"])
        let unnamed = TokenMinter.mint(claims: TokenMinter.claims(aud: #"["other-app","gatehouse-2"]"#),
                                       key: TokenKeys.p256, alg: "ES256")
        authExpectInvalidToken(gw, try gw.get("/api/unnamed", bearer: unnamed), token: unnamed, path: "/api/unnamed",
                               reason: "wrong-audience")
    }

    @Test("verified-token cache: one token on 50 keep-alive requests; each request is still judged on its own")
    func cachedTokenOnKeepAlive() throws {
        let gw = try authStandardGateway(routes: AuthConfig.route("api", prefix: "/api"))
        let token = authToken()
        let client = try RawClient(port: gw.port)
        let expected = ["Host: app.test"] + authForwarded
            + ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"]
        for index in 0..<50 {
            try client.send("GET /api/\(index) HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
            let response = client.readResponse()
            authExpectForwarded(response, expected)
            #expect(response?.json?["target"] as? String == "/api/\(index)")
            if response?.status != 200 { break }
        }
        // The same connection, a forged token and then no token: both refused, the connection still usable.
        let forged = TokenMinter.mint(claims: TokenMinter.claims(extra: #","email":"alice@example.com","groups":["staff"]"#),
                                      key: TokenKeys.p256Other, alg: "ES256")
        try client.send("GET /api/forged HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(forged)\r\n\r\n")
        authExpectInvalidToken(gw, client.readResponse(), token: forged, path: "/api/forged", reason: "bad-signature")
        try client.send("GET /api/none HTTP/1.1\r\nHost: app.test\r\n\r\n")
        authExpectRefusal(client.readResponse(), status: 401, challenge: #"Bearer realm="gatehouse""#, error: "unauthorized")
        try client.send("GET /api/again HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        authExpectForwarded(client.readResponse(), expected)
        #expect(try gw.upstreamRequests().count == 51)
    }

    @Test("a cached token stops working at its exp (leeway 0s): the cache never extends a token")
    func cachedTokenExpires() throws {
        let gw = try authStandardGateway(routes: AuthConfig.route("api", prefix: "/api"), settings: "leeway: 0s")
        let now = TokenMinter.now
        let token = TokenMinter.mint(
            claims: #"{"iss":"\#(TokenMinter.issuer)","sub":"alice","aud":"gatehouse","exp":\#(now + 2),"iat":\#(now)}"#,
            key: TokenKeys.p256, alg: "ES256")
        let client = try RawClient(port: gw.port)
        for index in 0..<3 {
            try client.send("GET /api/early-\(index) HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
            authExpectForwarded(client.readResponse(), ["Host: app.test"] + authForwarded + ["X-Auth-User: alice"])
        }
        // Wait until the wall clock is past exp (exp itself is already refused: now < exp is required).
        while TokenMinter.now < now + 3 { usleep(50_000) }
        try client.send("GET /api/late HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        authExpectInvalidToken(gw, client.readResponse(), token: token, path: "/api/late", reason: "expired")
        authExpectInvalidToken(gw, try gw.get("/api/late-new-connection", bearer: token), token: token,
                               path: "/api/late-new-connection", reason: "expired")
        #expect(try gw.upstreamRequests() == ["GET /api/early-0", "GET /api/early-1", "GET /api/early-2"])
    }

    @Test("a reload that replaces the key empties every worker's verified-token cache")
    func reloadDropsCachedTokens() throws {
        let routes = AuthConfig.route("api", prefix: "/api")
        let gw = try AuthGateway(
            AuthConfig.yaml(tokens: AuthConfig.tokens(keys: ["{ pem_file: @KEYS@/old.pem }"]), routes: routes),
            files: ["old.pem": TokenKeys.p256.publicKeyPEM, "new.pem": TokenKeys.p256Other.publicKeyPEM])
        let old = TokenMinter.mint(claims: TokenMinter.claims(), key: TokenKeys.p256, alg: "ES256")
        let new = TokenMinter.mint(claims: TokenMinter.claims(sub: "bob"), key: TokenKeys.p256Other, alg: "ES256")
        // Connections spread over both workers: every worker caches the old token.
        for index in 0..<12 {
            #expect(try gw.get("/api/before-\(index)", bearer: old)?.status == 200)
        }
        try gw.reload(AuthConfig.yaml(tokens: AuthConfig.tokens(keys: ["{ pem_file: @KEYS@/new.pem }"]), routes: routes))
        var installed = 0
        let deadline = Date().addingTimeInterval(5)
        while installed < 12, Date() < deadline {  // both workers answer with the new key
            installed = try gw.get("/api/probe-new", bearer: new)?.status == 200 ? installed + 1 : 0
        }
        #expect(installed == 12, "the new key was not taken up")
        for index in 0..<12 {
            let path = "/api/after-\(index)"
            authExpectInvalidToken(gw, try gw.get(path, bearer: old), token: old, path: path, reason: "bad-signature")
        }
    }
}
