import Foundation
import GatehouseTestSupport
import Testing

// Shared expectations of the Auth* integration suites. Names carry an `auth` prefix so they cannot clash
// with the helpers of the other integration suites in this module.

/// The three forwarding headers the gateway adds for a client on loopback asking for host `app.test`.
let authForwarded = [
    "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Host: app.test", "X-Real-IP: 127.0.0.1",
]

/// The WWW-Authenticate challenge for a refused token.
let authInvalidTokenChallenge = #"Bearer realm="gatehouse", error="invalid_token""#

/// The headers the echo upstream received, as "Name: value" lines in order.
func authEchoed(_ response: RawResponse?) -> [String] {
    (response?.echoedHeaders ?? []).map { "\($0.0): \($0.1)" }
}

/// Expects a forwarded request (200 from the echo) whose upstream head had exactly `headers`.
func authExpectForwarded(_ response: RawResponse?, _ headers: [String],
                         sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(response?.status == 200, "expected 200, got \(response.map { "\($0.status) \($0.bodyText)" } ?? "nothing")",
            sourceLocation: sourceLocation)
    #expect(authEchoed(response) == headers, sourceLocation: sourceLocation)
}

/// Expects the gateway's own 401 for a refused token: the exact challenge, a JSON body that does not carry the
/// token, and (when `reason` is given) the refusal reason in the access-log line of `path`, which must not
/// carry the token either.
func authExpectInvalidToken(_ gw: AuthGateway, _ response: RawResponse?, token: String, path: String,
                            reason: String?, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(response?.status == 401, "expected 401, got \(response.map { "\($0.status) \($0.bodyText)" } ?? "nothing")",
            sourceLocation: sourceLocation)
    #expect(response?.header("WWW-Authenticate") == authInvalidTokenChallenge, sourceLocation: sourceLocation)
    #expect(response?.bodyText == "{\"status\":401,\"error\":\"invalid_token\"}\n", sourceLocation: sourceLocation)
    for piece in authSecretPieces(token) {
        #expect(!(response?.bodyText.contains(piece) ?? false), "the answer repeats the token",
                sourceLocation: sourceLocation)
    }
    guard let reason else { return }
    let line = gw.accessLogLine(path: path)
    #expect(line?.contains("\"status\":401") == true, "log: \(line ?? "none")", sourceLocation: sourceLocation)
    #expect(line?.contains("\"error\":\"\(reason)\"") == true, "log: \(line ?? "none")", sourceLocation: sourceLocation)
    for piece in authSecretPieces(token) {
        #expect(!(line?.contains(piece) ?? false), "the access log repeats the token", sourceLocation: sourceLocation)
    }
}

/// The parts of a token worth not leaking: the whole token and each segment long enough to be telling.
func authSecretPieces(_ token: String) -> [String] {
    [token] + token.split(separator: ".").map(String.init).filter { $0.count >= 16 }
}

/// Expects a refusal by the gateway itself with `status`, `challenge` and the JSON `error` code.
func authExpectRefusal(_ response: RawResponse?, status: Int, challenge: String?, error: String,
                       sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(response?.status == status, "expected \(status), got \(response.map { "\($0.status) \($0.bodyText)" } ?? "nothing")",
            sourceLocation: sourceLocation)
    #expect(response?.header("WWW-Authenticate") == challenge, sourceLocation: sourceLocation)
    #expect(response?.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
    #expect(response?.bodyText == "{\"status\":\(status),\"error\":\"\(error)\"}\n", sourceLocation: sourceLocation)
}

/// A valid ES256 token (the P-256 key of ``authStandardTokens``) with the given claims members appended.
func authToken(sub: String? = "alice", extra: String = ",\"email\":\"alice@example.com\",\"groups\":[\"staff\"]",
               exp: Int? = 3600) -> String {
    TokenMinter.mint(claims: TokenMinter.claims(sub: sub, exp: exp, extra: extra), key: TokenKeys.p256, alg: "ES256")
}

/// The `tokens` section most auth tests use: one issuer whose only key is `TokenKeys.p256` (`@KEYS@/p256.pem`).
func authStandardTokens(settings: String = "") -> String {
    AuthConfig.tokens(keys: ["{ pem_file: @KEYS@/p256.pem }"], settings: settings)
}

/// The key files ``authStandardTokens`` names.
var authStandardFiles: [String: String] { ["p256.pem": TokenKeys.p256.publicKeyPEM] }

/// A gateway with ``authStandardTokens`` and the given routes (and top-level sections).
func authStandardGateway(routes: String, top: String = "", settings: String = "") throws -> AuthGateway {
    try AuthGateway(AuthConfig.yaml(tokens: authStandardTokens(settings: settings), routes: routes, top: top),
                    files: authStandardFiles)
}
