/// Verifies compact JWS tokens against the configured issuers: the JWT core of the authenticator.
///
/// Built once per config snapshot and shared read-only by every worker (it is an immutable value).
/// ``verify(_:now:)`` runs cheap checks first, as Envoy's `jwt_authn` does, so that garbage costs little and
/// no signature is computed for a token that would be refused anyway:
///
/// 1. size (`too-large`) → three segments (`malformed`) → strict base64url (`bad-base64`)
/// 2. header JSON (`bad-json`, `duplicate-member`) → `alg` exact and allowed (`alg-none`, `alg-not-allowed`)
/// 3. payload JSON → `iss` selects the issuer (`wrong-issuer`) → that issuer's keys by `alg` and exact `kid`
///    (`no-key`, `alg-not-allowed`, `unknown-kid`)
/// 4. `exp`/`nbf`/`iat` with leeway → `aud` → `crit` → `sub` type
/// 5. signature length (`bad-signature-length`) → signature (`bad-signature`)
///
/// Failures are values (`Result`), never thrown across module boundaries as `any Error`.
package struct TokenVerifier: Sendable {
    /// The trusted issuers; the first whose `issuer` equals the token's `iss` applies.
    package let issuers: [IssuerPolicy]
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    package let leewaySeconds: Int64
    /// Tokens longer than this are refused before any parsing.
    package let maxTokenBytes: Int
    /// Every algorithm some configured key verifies: the first, issuer-independent `alg` filter.
    private let algorithmMask: UInt16

    /// Creates a verifier.
    ///
    /// - Parameters:
    ///   - issuers: the trusted issuers with their keys; `iss` values should be unique (the first match wins).
    ///   - leewaySeconds: tolerated clock skew; must be within 0…2^32 (a programmer error otherwise: the config
    ///     layer bounds it, and the bound keeps time arithmetic free of overflow).
    ///   - maxTokenBytes: the size limit for one token (default 8 KiB).
    package init(issuers: [IssuerPolicy], leewaySeconds: Int64, maxTokenBytes: Int = 8192) {
        // An issuer still waiting for its provider's keys has no algorithm yet; its tokens must reach the issuer
        // check (503 `issuer-keys-unavailable`), so such an issuer opens the first filter to every algorithm.
        precondition(leewaySeconds >= 0 && leewaySeconds <= 1 << 32, "leeway must be within 0...2^32 seconds")
        precondition(maxTokenBytes > 0, "maxTokenBytes must be positive")
        self.issuers = issuers
        self.leewaySeconds = leewaySeconds
        self.maxTokenBytes = maxTokenBytes
        self.algorithmMask = issuers.reduce(0) { $0 | ($1.provider != nil && $1.keys.isEmpty ? ~0 : $1.algorithmMask) }
    }

    /// Verifies a compact JWS.
    ///
    /// - Parameters:
    ///   - token: the token bytes as extracted from the request (no `Bearer ` prefix, no whitespace).
    ///   - now: the current time in unix seconds, from the injected clock.
    /// - Returns: the verified token, or why it was refused.
    package func verify(_ token: ArraySlice<UInt8>, now: Int64) -> Result<VerifiedToken, AuthFailure> {
        do throws(AuthFailure) {
            return .success(try verifyOrThrow(token, now: now))
        } catch {
            return .failure(error)
        }
    }

    private func verifyOrThrow(_ token: ArraySlice<UInt8>, now: Int64) throws(AuthFailure) -> VerifiedToken {
        guard token.count <= maxTokenBytes else { throw .tooLarge }
        let jws = try CompactJWS(token)
        let header = try JOSEHeader(jws.header)
        guard algorithmMask & header.algorithm.maskBit != 0 else { throw .algNotAllowed }

        let claims = try JSONScanner.parseObject(jws.payload)
        let registered = RegisteredClaims(claims)
        guard let issuerValue = registered.issuer else { throw .wrongIssuer }
        guard case .string(let issuer) = issuerValue else { throw .badClaimType }
        guard let policy = issuers.first(where: { $0.issuer == issuer }) else { throw .wrongIssuer }

        guard !policy.keys.isEmpty else { throw policy.provider != nil ? .keysUnavailable : .noKey }
        guard policy.algorithmMask & header.algorithm.maskBit != 0 else { throw .algNotAllowed }
        guard policy.keys.contains(where: { policy.isCandidate($0, for: header) }) else {
            // Perhaps the provider rotated: ask for a fetch (rate-limited by the owner); this token is refused.
            policy.provider?.unknownKid()
            throw .unknownKid
        }

        let expiresAt = try ClaimsCheck.checkTimes(
            registered, requireExpiry: policy.requireExpiry, now: now, leeway: leewaySeconds)
        try ClaimsCheck.checkAudience(registered.audience, accepted: policy.audiences)
        try header.checkCritical()
        let subject = try ClaimsCheck.subject(registered.subject)

        try Self.checkSignature(jws, header: header, policy: policy)
        return VerifiedToken(issuer: issuer, subject: subject, expiresAt: expiresAt, claims: claims)
    }

    /// Tries the candidate keys; a candidate whose signature length differs (another RSA modulus) is skipped.
    ///
    /// - Throws: `bad-signature-length` if no candidate takes a signature of this length, else `bad-signature`
    ///   unless one verifies.
    private static func checkSignature(_ jws: CompactJWS, header: JOSEHeader, policy: IssuerPolicy)
        throws(AuthFailure)
    {
        var lengthMatched = false
        for key in policy.keys where policy.isCandidate(key, for: header) {
            guard key.signatureByteCount == jws.signature.count else { continue }
            lengthMatched = true
            if key.isValidSignature(jws.signature, for: jws.signingInput) { return }
        }
        throw lengthMatched ? .badSignature : .badSignatureLength
    }
}
