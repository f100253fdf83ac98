/// Why a token was refused: a stable reason for logs and metrics, never the token itself.
///
/// A struct over a private enum (like `HTTPParseError` and swift-nio's `NIOHTTPDecoderError`), so reasons can be
/// added without breaking exhaustive switches elsewhere. The client only ever sees ``bearerError``; the precise
/// ``reason`` is for logs and counters (Envoy's `Status`). Equality compares the reason.
package struct AuthFailure: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: String, Sendable, CaseIterable {
        case malformed
        case tooLarge = "too-large"
        case badBase64 = "bad-base64"
        case badJSON = "bad-json"
        case duplicateMember = "duplicate-member"
        case algNotAllowed = "alg-not-allowed"
        case algNone = "alg-none"
        case unknownKid = "unknown-kid"
        case noKey = "no-key"
        case critUnsupported = "crit-unsupported"
        case nestedJWT = "nested-jwt"
        case badSignature = "bad-signature"
        case badSignatureLength = "bad-signature-length"
        case expired
        case notYetValid = "not-yet-valid"
        case issuedInFuture = "issued-in-future"
        case missingExp = "missing-exp"
        case badClaimType = "bad-claim-type"
        case wrongIssuer = "wrong-issuer"
        case wrongAudience = "wrong-audience"
        case revoked
        case keysUnavailable = "issuer-keys-unavailable"
    }

    private let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    /// A short stable reason such as `"bad-signature"`; safe to log, it never contains token bytes.
    package var reason: String { kind.rawValue }

    /// The RFC 6750 `error` code for the `WWW-Authenticate` challenge.
    ///
    /// Every reason maps to `invalid_token`: the client learns that its token was refused, not why (the why
    /// would help an attacker probe keys and claims).
    package var bearerError: String { "invalid_token" }

    /// The reason, for logs.
    package var description: String { kind.rawValue }

    /// Not a compact JWS: wrong segment count, an empty segment, a header without a usable `alg`, a
    /// wrongly-typed `kid` or `crit`.
    package static let malformed = AuthFailure(.malformed)
    /// The token exceeds the verifier's byte limit; refused before any other work.
    package static let tooLarge = AuthFailure(.tooLarge)
    /// A segment is not canonical unpadded base64url.
    package static let badBase64 = AuthFailure(.badBase64)
    /// The header or the payload is not strict UTF-8 JSON with an object at the top, or exceeds the nesting bound.
    package static let badJSON = AuthFailure(.badJSON)
    /// A JSON object names the same member twice (after unescaping).
    package static let duplicateMember = AuthFailure(.duplicateMember)
    /// The `alg` is not one that a configured key (of the token's issuer) verifies.
    package static let algNotAllowed = AuthFailure(.algNotAllowed)
    /// The `alg` is `none` in any spelling: unsecured tokens are never accepted.
    package static let algNone = AuthFailure(.algNone)
    /// The token names a `kid` that no key of its issuer with its `alg` carries.
    package static let unknownKid = AuthFailure(.unknownKid)
    /// The token's issuer has no keys at all.
    package static let noKey = AuthFailure(.noKey)
    /// The header lists `crit` extensions; we understand none, so RFC 7515 §4.1.11 says refuse.
    package static let critUnsupported = AuthFailure(.critUnsupported)
    /// The header declares a nested JWT (`cty: JWT`): the payload is a token, not claims, and is never read as claims.
    package static let nestedJWT = AuthFailure(.nestedJWT)
    /// The signature does not verify with any candidate key.
    package static let badSignature = AuthFailure(.badSignature)
    /// The decoded signature has the wrong length for the algorithm (or the RSA modulus).
    package static let badSignatureLength = AuthFailure(.badSignatureLength)
    /// `exp` is in the past, beyond the leeway.
    package static let expired = AuthFailure(.expired)
    /// `nbf` is in the future, beyond the leeway.
    package static let notYetValid = AuthFailure(.notYetValid)
    /// `iat` is in the future, beyond the leeway.
    package static let issuedInFuture = AuthFailure(.issuedInFuture)
    /// The issuer requires `exp` and the token has none.
    package static let missingExp = AuthFailure(.missingExp)
    /// A registered claim has the wrong JSON type or an out-of-range number (e.g. `"exp": "123"`, `1e300`).
    package static let badClaimType = AuthFailure(.badClaimType)
    /// `iss` is missing or matches no configured issuer exactly.
    package static let wrongIssuer = AuthFailure(.wrongIssuer)
    /// `aud` names none of the issuer's audiences.
    package static let wrongAudience = AuthFailure(.wrongAudience)
    /// A valid token of the gateway's own whose session was signed out (its `sid` is on the revocation list).
    package static let revoked = AuthFailure(.revoked)
    /// The token's issuer takes its keys from the provider and none has arrived yet (first start, provider down, no
    /// cached copy): the token can be neither accepted nor refused, so the answer is 503, never an unchecked pass.
    package static let keysUnavailable = AuthFailure(.keysUnavailable)

    /// Every reason, for counters that want one slot per reason.
    package static let allReasons: [String] = Kind.allCases.map(\.rawValue)
}
