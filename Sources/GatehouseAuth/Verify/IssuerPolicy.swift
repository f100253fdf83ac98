/// What one trusted issuer may sign: its exact `iss`, the audiences it may address, and its keys.
///
/// Keys belong to one issuer, so a key of issuer A never verifies a token that claims to come from issuer B.
/// The allow-list of algorithms is derived from the keys once, here, not per request.
package struct IssuerPolicy: Sendable {
    /// The exact `iss` value (compared byte for byte, no normalisation of case or trailing slashes).
    package let issuer: String
    /// Accepted `aud` values; a token passes if any of its audiences is one of these. Empty means the
    /// audience is not checked (the config layer decides whether to allow that).
    package let audiences: [String]
    /// The issuer's verification keys.
    package let keys: [VerificationKey]
    /// Whether tokens without `exp` are refused (`missing-exp`). True by default (RFC 8725 §3.10 spirit).
    package let requireExpiry: Bool
    /// One bit per algorithm some key of this issuer verifies.
    let algorithmMask: UInt16
    /// Set when the keys come from the issuer's provider (discovery or `jwks_uri`): an unknown `kid` asks for a
    /// fetch, and an empty set means "not arrived yet" (503), not "no key" (401).
    package let provider: ProviderKeyHook?

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - issuer: the exact `iss` string.
    ///   - audiences: accepted audiences; empty disables the audience check.
    ///   - keys: this issuer's keys (from ``KeyLoader``); with none, every token of this issuer fails `no-key`.
    ///   - requireExpiry: whether `exp` is mandatory.
    ///   - provider: the provider's hook when the keys are fetched (nil for keys from files).
    package init(issuer: String, audiences: [String], keys: [VerificationKey], requireExpiry: Bool = true,
                 provider: ProviderKeyHook? = nil) {
        self.provider = provider
        self.issuer = issuer
        self.audiences = audiences
        self.keys = keys
        self.requireExpiry = requireExpiry
        self.algorithmMask = keys.reduce(0) { $0 | $1.algorithm.maskBit }
    }

    /// Whether `key` is a candidate for a token with this header: same algorithm, and the same `kid` when the
    /// token names one (exact match; a token without `kid` tries every key of its algorithm).
    func isCandidate(_ key: VerificationKey, for header: JOSEHeader) -> Bool {
        guard key.algorithm == header.algorithm else { return false }
        guard let kid = header.kid else { return true }
        return key.kid == kid
    }
}

/// What the verifier needs from the owner of a provider-fetched key set.
package struct ProviderKeyHook: Sendable {
    /// Called on the request path (any worker) when a token names a `kid` the set lacks; the owner rate-limits
    /// (``RefreshGate``), so a flood of random kids costs the provider at most one fetch per interval.
    package let unknownKid: @Sendable () -> Void

    package init(unknownKid: @escaping @Sendable () -> Void) {
        self.unknownKid = unknownKid
    }
}
