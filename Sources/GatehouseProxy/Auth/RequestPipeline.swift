import GatehouseAuth
import GatehouseHTTP

/// The auth decision for one request, before anything is forwarded.
enum AuthDecision {
    /// Forward; with an identity when a credential was verified (nil: public route or anonymous optional).
    case forward(Identity?)
    /// No usable credential (401, or a redirect to the login page for browsers).
    case unauthenticated(reason: String, invalidToken: Bool)
    /// The credential's shape is wrong (two Authorization headers): 400 invalid_request.
    case badRequest(reason: String)
    /// Authenticated, but the route's requirement is not met (403).
    case forbidden(reason: String)
}

/// Steps of a decision, for `gatehouse explain` (nil on the data path: no strings are built there).
struct DecisionTrace {
    var steps: [String] = []
    mutating func add(_ step: String) { steps.append(step) }
}

/// Strip, extract, authenticate, authorise: Envoy's jwt_authn order, as one pure function that the data
/// path and `explain` share, so what `explain` prints is what the gateway does.
///
/// Cheap first: the verified-token cache is consulted before any parsing or signature work. When several
/// credentials are present (a bearer token and a token cookie), all of them must verify.
enum RequestPipeline {
    static func decide(_ head: RequestHead, policy: RoutePolicy, tokens: TokenSettings?, cache: VerifiedTokenCache?,
                       now: Int64, trace: inout DecisionTrace?) -> AuthDecision {
        if policy.mode == .none {
            trace?.add("route is public (auth: none): no credential is checked")
            return .forward(nil)
        }
        var identity: Identity? = nil
        var sawCredential = false
        if policy.acceptsBearer {
            switch CredentialExtractor.bearer(head) {
            case .absent:
                trace?.add("bearer: no Authorization header")
            case .malformed(let reason) where reason == "not-a-bearer-scheme":
                trace?.add("bearer: Authorization is not a Bearer token")
            case .malformed(let reason):
                trace?.add("bearer: refused (\(reason))")
                return .badRequest(reason: reason)
            case .token(let token):
                sawCredential = true
                switch verify(token, source: .bearer, tokens: tokens, cache: cache, now: now, trace: &trace) {
                case .success(let verified): identity = identity ?? verified
                case .failure(let failure): return .unauthenticated(reason: failure.reason, invalidToken: true)
                }
            }
        }
        for name in policy.tokenCookies {
            let label = String(decoding: name, as: UTF8.self)
            switch CredentialExtractor.cookie(head, name: name) {
            case .absent:
                trace?.add("cookie \(label): absent")
            case .malformed(let reason):
                trace?.add("cookie \(label): refused (\(reason))")
                return .unauthenticated(reason: reason, invalidToken: true)
            case .token(let token):
                sawCredential = true
                switch verify(token, source: .cookie(label), tokens: tokens, cache: cache, now: now, trace: &trace) {
                case .success(let verified): identity = identity ?? verified
                case .failure(let failure): return .unauthenticated(reason: failure.reason, invalidToken: true)
                }
            }
        }
        guard let identity else {
            if policy.mode == .optional, !sawCredential {
                trace?.add("no credential: forwarded anonymously (auth: optional)")
                return .forward(nil)
            }
            trace?.add("no credential: refused (auth: required)")
            return .unauthenticated(reason: "no-credential", invalidToken: false)
        }
        if let requirement = policy.requirement {
            let unmet = head.bytes.withUnsafeBytes { raw in
                requirement.unmet(by: identity, method: UnsafeRawBufferPointer(rebasing: raw[head.methodRange]))
            }
            if let unmet {
                trace?.add("requirement not met: \(unmet)")
                return .forbidden(reason: "requirement-not-met")
            }
            trace?.add("requirement met")
        }
        return .forward(identity)
    }

    private static func verify(_ token: ArraySlice<UInt8>, source: Identity.Source, tokens: TokenSettings?,
                               cache: VerifiedTokenCache?, now: Int64,
                               trace: inout DecisionTrace?) -> Result<Identity, AuthFailure> {
        guard let tokens else { return .failure(.noKey) }
        if let cache, let hit = cache.lookup(token, now: now, leewaySeconds: tokens.leewaySeconds) {
            trace?.add("\(source): verified-token cache hit")
            return .success(identity(hit, source: source, tokens: tokens))
        }
        switch tokens.verifier.verify(token, now: now) {
        case .success(let verified):
            cache?.insert(token, verified, now: now)
            trace?.add("\(source): signature and claims valid (iss \(verified.issuer), sub \(verified.subject ?? "-"))")
            return .success(identity(verified, source: source, tokens: tokens))
        case .failure(let failure):
            trace?.add("\(source): refused (\(failure.reason))")
            return .failure(failure)
        }
    }

    private static func identity(_ token: VerifiedToken, source: Identity.Source, tokens: TokenSettings) -> Identity {
        Identity(source: source, claims: token.claims, groupsClaim: tokens.groupsClaim, expiresAt: token.expiresAt)
    }
}
