import Foundation
import GatehouseTestSupport
import Testing

// Tokens made by an independent implementation: Tests/Fixtures/make_tokens.py generates keys and tokens with
// Python's joserfc and cryptography (hand-assembling the hostile ones joserfc refuses to build), so that a
// mistake shared by the gateway's verifier and the Swift `TokenMinter` cannot hide. The script runs once per
// test process; each test then starts a real gateway configured with the key files it wrote.

/// What make_tokens.py produced: the key files (name → contents), the valid tokens and the hostile ones.
struct IndependentFixtures: Sendable {
    struct Valid: Sendable {
        var name: String
        var token: String
        var sub: String
        var email: String
        var groups: [String]
    }

    var files: [String: String]
    var pemIssuer: String
    var jwksIssuer: String
    var audience: String
    var valid: [Valid]
    var hostile: [String: String]

    /// The files make_tokens.py writes, all named by the config below.
    static let fileNames = ["rsa.pem", "p256.pem", "p384.pem", "ed25519.pem", "hs256.secret", "jwks.json"]

    /// Tests/Fixtures/make_tokens.py, found from this file's path.
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/make_tokens.py").path

    /// A loopback server standing in for the attacker's `jku`/`x5u` host: the gateway must never connect to it.
    static let attacker = try? ScriptedUpstream(answer: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    /// The fixtures, or why they could not be made; generated once per test process.
    static let shared: Result<IndependentFixtures, IndependentFixtureError> = {
        do throws(IndependentFixtureError) {
            return .success(try generate())
        } catch {
            return .failure(error)
        }
    }()

    /// The fixtures, or a test failure saying how to get python3 with joserfc and cryptography.
    static func load() throws -> IndependentFixtures {
        switch shared {
        case .success(let fixtures): return fixtures
        case .failure(let error): throw TestFailure(error.message)
        }
    }

    private static func generate() throws(IndependentFixtureError) -> IndependentFixtures {
        guard let attacker else { throw IndependentFixtureError("could not start the attacker's server") }
        guard FileManager.default.fileExists(atPath: script) else {
            throw IndependentFixtureError("the fixture script \(script) is missing")
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-independent-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output: Data
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            output = try runPython([script, directory, "http://\(attacker.address)"])
        } catch let error as IndependentFixtureError {
            throw error
        } catch {
            throw IndependentFixtureError("could not run python3: \(error)")
        }

        var files: [String: String] = [:]
        for name in fileNames {
            guard let contents = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else {
                throw IndependentFixtureError("make_tokens.py did not write \(name)")
            }
            files[name] = contents
        }
        guard let json = try? JSONSerialization.jsonObject(with: output) as? [String: Any],
            let issuers = json["issuers"] as? [String: String], let pemIssuer = issuers["pem"],
            let jwksIssuer = issuers["jwks"], let audience = json["audience"] as? String,
            let validList = json["valid"] as? [[String: Any]], let hostile = json["hostile"] as? [String: String]
        else {
            throw IndependentFixtureError(
                "make_tokens.py printed no usable JSON: \(String(decoding: output.prefix(500), as: UTF8.self))")
        }
        var valid: [Valid] = []
        for entry in validList {
            guard let name = entry["name"] as? String, let token = entry["token"] as? String,
                let sub = entry["sub"] as? String, let email = entry["email"] as? String,
                let groups = entry["groups"] as? [String]
            else { throw IndependentFixtureError("make_tokens.py printed a malformed valid entry: \(entry)") }
            valid.append(Valid(name: name, token: token, sub: sub, email: email, groups: groups))
        }
        return IndependentFixtures(files: files, pemIssuer: pemIssuer, jwksIssuer: jwksIssuer, audience: audience,
                                   valid: valid, hostile: hostile)
    }

    /// Runs `/usr/bin/env python3 arguments…` and returns its stdout; any failure names install-deps.sh.
    private static func runPython(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // stdout (~150 KB) is read to its end before waiting, so the child never blocks on a full pipe;
        // stderr holds at most a short message.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw IndependentFixtureError(
                "python3 \(arguments.first ?? "") failed (status \(process.terminationStatus)): "
                    + String(decoding: errors, as: UTF8.self)
                    + "\nThese tests need python3 with joserfc and cryptography: run scripts/install-deps.sh "
                    + "(it runs `pip install joserfc cryptography` when `python3 -c 'import joserfc, cryptography'` fails).")
        }
        return output
    }

    /// The `tokens` section: one issuer with the PEM files and the HS256 secret, one with the JWKS (kids).
    var tokensSection: String {
        """
        tokens:
          issuers:
            - issuer: "\(pemIssuer)"
              audiences: ["\(audience)"]
              keys:
                - { pem_file: @KEYS@/rsa.pem, algorithm: RS256 }
                - { pem_file: @KEYS@/rsa.pem, algorithm: PS256 }
                - { pem_file: @KEYS@/p256.pem }
                - { pem_file: @KEYS@/p384.pem }
                - { pem_file: @KEYS@/ed25519.pem }
                - { secret_file: @KEYS@/hs256.secret, algorithm: HS256 }
            - issuer: "\(jwksIssuer)"
              audiences: ["\(audience)"]
              keys:
                - { jwks_file: @KEYS@/jwks.json }
        """
    }

    /// A gateway with ``tokensSection``, a bearer route `/api`, and a request head large enough (256 KiB) for
    /// the 100 KiB token to reach the token-size check (8 KiB by default) rather than the head limit (32 KiB).
    func gateway() throws -> AuthGateway {
        try AuthGateway(
            AuthConfig.yaml(tokens: tokensSection, routes: AuthConfig.route("api", prefix: "/api"),
                            server: "  limits:\n    max_request_head: 256KiB"),
            files: files)
    }
}

struct IndependentFixtureError: Error, Sendable {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Each hostile token make_tokens.py builds (the raw value is its name there) and the refusal reason the access
/// log must record. Every one is answered 401 invalid_token.
enum IndependentHostileCase: String, CaseIterable, Sendable {
    case algNoneEmptySignature = "alg-none-empty-signature"
    case algNoneSigned = "alg-none-signed"
    case algNoneCapitalisedEmptySignature = "alg-None-empty-signature"
    case algNoneCapitalisedSigned = "alg-None-signed"
    case algNoneUpperEmptySignature = "alg-NONE-empty-signature"
    case algNoneUpperSigned = "alg-NONE-signed"
    case algNoneNoSignatureSegment = "alg-none-no-signature-segment"
    case hs256RSAPEMSecret = "hs256-rsa-pem-secret"
    case hs256RSAPEMSecretJWKSIssuer = "hs256-rsa-pem-secret-jwks-issuer"
    case hs256RSAPEMSecretWithKid = "hs256-rsa-pem-secret-with-kid"
    case embeddedJWK = "embedded-jwk"
    case embeddedJWKOct = "embedded-jwk-oct"
    case jku = "jku"
    case x5u = "x5u"
    case es256ZeroSignature = "es256-zero-signature"
    case es256SignatureOneByteShort = "es256-signature-one-byte-short"
    case rs256SignatureOneByteShort = "rs256-signature-one-byte-short"
    case eddsaSignatureOneByteShort = "eddsa-signature-one-byte-short"
    case hs256SignatureOneByteShort = "hs256-signature-one-byte-short"
    case paddedBase64 = "padded-base64"
    case standardBase64Alphabet = "standard-base64-alphabet"
    case twoSegments = "two-segments"
    case fourSegments = "four-segments"
    case fourSegmentsEmptyLast = "four-segments-empty-last"
    case hundredKiB = "hundred-kib"
    case expAsString = "exp-as-string"
    case critUnknown = "crit-unknown"
    case duplicateAlgNoneThenES256 = "duplicate-alg-none-then-es256"
    case duplicateAlgES256ThenHS256 = "duplicate-alg-es256-then-hs256"
    case eddsaSmallOrderR = "eddsa-small-order-r"
    case ctyJWT = "cty-jwt"
    case ctyApplicationJWTLowercase = "cty-application-jwt-lowercase"
    case ctyJWTNestedToken = "cty-jwt-nested-token"

    var reason: String {
        switch self {
        case .algNoneEmptySignature, .algNoneSigned, .algNoneCapitalisedEmptySignature, .algNoneCapitalisedSigned,
            .algNoneUpperEmptySignature, .algNoneUpperSigned:
            "alg-none"
        case .algNoneNoSignatureSegment, .twoSegments, .fourSegments, .fourSegmentsEmptyLast: "malformed"
        // The PEM issuer has an HS256 secret, so HS256 is allowed there: the HMAC just does not verify.
        case .hs256RSAPEMSecret: "bad-signature"
        // The JWKS issuer has no HMAC key at all.
        case .hs256RSAPEMSecretJWKSIssuer, .hs256RSAPEMSecretWithKid: "alg-not-allowed"
        case .embeddedJWK, .embeddedJWKOct, .jku, .x5u, .es256ZeroSignature, .eddsaSmallOrderR: "bad-signature"
        case .es256SignatureOneByteShort, .rs256SignatureOneByteShort, .eddsaSignatureOneByteShort,
            .hs256SignatureOneByteShort:
            "bad-signature-length"
        case .paddedBase64, .standardBase64Alphabet: "bad-base64"
        case .hundredKiB: "too-large"
        case .expAsString: "bad-claim-type"
        case .critUnknown: "crit-unsupported"
        case .duplicateAlgNoneThenES256, .duplicateAlgES256ThenHS256: "duplicate-member"
        case .ctyJWT, .ctyApplicationJWTLowercase, .ctyJWTNestedToken: "nested-jwt"
        }
    }
}

@Suite("Auth: tokens from an independent implementation (Python joserfc/cryptography)")
struct AuthIndependentTokenTests {
    @Test("make_tokens.py ran and produced every valid and hostile token this suite expects")
    func fixturesComplete() throws {
        let fixtures = try IndependentFixtures.load()
        let algorithms = ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"]
        let expectedValid = algorithms.map { "pem-\($0)" } + algorithms.dropLast().map { "jwks-\($0)" }
        #expect(Set(fixtures.valid.map(\.name)) == Set(expectedValid))
        #expect(Set(fixtures.hostile.keys) == Set(IndependentHostileCase.allCases.map(\.rawValue)))
        #expect(fixtures.hostile[IndependentHostileCase.hundredKiB.rawValue].map { $0.utf8.count > 100 * 1024 } == true)
        // jku and x5u name the attacker's server that the hostile-token test watches for connections.
        let attacker = try #require(IndependentFixtures.attacker).address
        for hostile in [IndependentHostileCase.jku, .x5u] {
            let header = fixtures.hostile[hostile.rawValue].flatMap { Self.decodedHeader($0) }
            #expect(header?.contains("http://\(attacker)/") == true, "\(hostile): \(header ?? "no header")")
        }
    }

    /// The JOSE header of `token` as text (base64url decoded).
    static func decodedHeader(_ token: String) -> String? {
        var text = String(token.prefix { $0 != "." }).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: text).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("valid RS256, PS256, ES256, ES384, EdDSA and HS256 tokens (PEM keys, and JWKS keys by kid) → 200 with the identity headers")
    func validTokens() throws {
        let fixtures = try IndependentFixtures.load()
        let gw = try fixtures.gateway()
        for valid in fixtures.valid {
            let response = try gw.get("/api/valid/\(valid.name)", bearer: valid.token)
            authExpectForwarded(response, ["Host: app.test"] + authForwarded + [
                "X-Auth-User: \(valid.sub)", "X-Auth-Email: \(valid.email)",
                "X-Auth-Groups: \(valid.groups.joined(separator: ","))",
            ])
            if response?.status != 200 {
                Issue.record("the \(valid.name) token was refused: \(gw.accessLogLine(path: "/api/valid/\(valid.name)") ?? "no log line")")
            }
        }
        #expect(try gw.upstreamRequests() == fixtures.valid.map { "GET /api/valid/\($0.name)" })
    }

    @Test("hostile tokens: 401 invalid_token, the reason in the access log, nothing forwarded or fetched",
          arguments: IndependentHostileCase.allCases)
    func hostileToken(_ hostile: IndependentHostileCase) throws {
        let fixtures = try IndependentFixtures.load()
        let token = try #require(fixtures.hostile[hostile.rawValue], "make_tokens.py made no \(hostile.rawValue)")
        let gw = try fixtures.gateway()
        // The control: this gateway takes a valid token of the same run.
        let control = try #require(fixtures.valid.first { $0.name == "pem-ES256" })
        #expect(try gw.get("/api/control", bearer: control.token)?.status == 200)

        let path = "/api/\(hostile.rawValue)"
        let start = Date()
        let response = try gw.get(path, bearer: token)
        let seconds = Date().timeIntervalSince(start)
        authExpectInvalidToken(gw, response, token: token, path: path, reason: hostile.reason)
        if hostile == .hundredKiB { #expect(seconds < 1, "the 100 KiB token took \(seconds) s") }
        #expect(try gw.upstreamRequests() == ["GET /api/control"])
        #expect(IndependentFixtures.attacker?.connectionCount == 0, "the gateway connected to the jku/x5u host")
    }
}
