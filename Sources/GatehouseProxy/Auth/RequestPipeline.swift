import GatehouseAuth
import GatehouseHTTP
import GatehouseSessions

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
    /// The session store cannot answer: 503 with `Retry-After`, never a skipped check.
    case unavailable(reason: String)
    /// The session is not known locally (a remote store's cache missed): ask the store for `pending.key`, then
    /// finish the decision with its answer (`RequestPipeline.resume`). The request waits; other requests on the
    /// loop do not.
    case fetchSession(PendingSession)
    /// `Authorization: Basic` with a pair the worker has not verified lately: check the password off the loop
    /// (throttled like sign-ins), then decide again with its identity (`decide(..., verifiedBasic:)`).
    case verifyPassword(PendingPassword)
}

/// A Basic credential waiting for its password hash.
struct PendingPassword {
    /// The user-id as sent (UTF-8, no control character, no colon; not empty).
    let user: String
    let password: [UInt8]
    /// The route's `basic.cache_ttl` in seconds (0: the verified pair is not remembered).
    let cacheTTL: Int64
}

/// What the pipeline needs for `Authorization: Basic`: this worker's cache of verified pairs and the users as
/// loaded now (a reload of the users file empties the cache at its next use). Nil for `explain`.
struct BasicContext {
    let cache: BasicCredentialCache
    let users: () -> UserDirectory
    /// `SessionServices.userStatusEpoch`: an administrator's disable empties the cache too.
    var epoch: () -> UInt64 = { 0 }
}

/// A decision waiting for the session store: everything but the session is already decided (route matched,
/// tokens checked), so the store's answer only finishes it.
struct PendingSession {
    let key: SessionKey
    fileprivate let tokens: RequestPipeline.TokenOutcome

    fileprivate init(key: SessionKey, tokens: RequestPipeline.TokenOutcome) {
        self.key = key
        self.tokens = tokens
    }

    /// A decision that waits for the session `key` alone (no token was presented).
    init(key: SessionKey) {
        self.init(key: key, tokens: .checked(nil, sawCredential: false))
    }
}

/// What the pipeline needs for the gateway's own credentials: the session store (session cookies) and the
/// revocation list (the gateway's own access tokens). Nil when the gateway signs nobody in.
struct SessionContext {
    let store: any SessionStore
    let cookieName: [UInt8]
    let revocations: RevocationList
    /// `iss` of the gateway's own access tokens (token mode); their `sid` is checked against `revocations`.
    let ownIssuer: String?
    /// The worker's count of store lookups (metrics).
    let calls: SessionCallCount
}

/// Store lookups made by one worker's pipeline (a class: the pipeline is a pure function of values).
final class SessionCallCount {
    var lookups = 0
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
                       sessions: SessionContext? = nil, basic: BasicContext? = nil, verifiedBasic: Identity? = nil,
                       now: Int64, trace: inout DecisionTrace?) -> AuthDecision {
        if policy.mode == .none {
            trace?.add("route is public (auth: none): no credential is checked")
            return .forward(nil)
        }
        // Basic first: a pair to hash waits before any store is asked, and the rest is decided once it is known.
        var basicIdentity: Identity? = nil
        if let basicPolicy = policy.basic {
            switch self.basic(head, policy: basicPolicy, context: basic, verified: verifiedBasic, now: now,
                              trace: &trace) {
            case .absent: break
            case .found(let identity): basicIdentity = identity
            case .decided(let decision): return decision
            }
        }
        var session: Identity? = nil
        if policy.acceptsSession {
            switch self.session(head, context: sessions, now: now, trace: &trace) {
            case .absent:
                break
            case .found(let found):
                session = found
            case .refused(let refusal):
                return refusal
            case .needsFetch(let key):
                // Everything else is decided now; the store's answer only finishes the decision.
                let checked = self.tokens(head, policy: policy, tokens: tokens, cache: cache, sessions: sessions,
                                          basic: basicIdentity, now: now, trace: &trace)
                return .fetchSession(PendingSession(key: key, tokens: checked))
            }
        }
        let checked = self.tokens(head, policy: policy, tokens: tokens, cache: cache, sessions: sessions,
                                  basic: basicIdentity, now: now, trace: &trace)
        return finish(head, policy: policy, session: session, tokens: checked, trace: &trace)
    }

    /// Finishes a decision that waited for the session store (`.fetchSession`) with the store's `answer`: only the
    /// session part is evaluated here; the route, the tokens and the rest were decided before the wait.
    static func resume(_ pending: PendingSession, answer: SessionLookup, head: RequestHead, policy: RoutePolicy,
                       trace: inout DecisionTrace?) -> AuthDecision {
        switch interpret(answer, trace: &trace) {
        case .found(let found):
            return finish(head, policy: policy, session: found, tokens: pending.tokens, trace: &trace)
        case .refused(let refusal):
            return refusal
        case .absent, .needsFetch:
            preconditionFailure("interpret answers a store's lookup with found or refused")
        }
    }

    /// The bearer token and token cookies: refused, or what they proved (all present must verify).
    fileprivate enum TokenOutcome {
        /// Boxed (`indirect`): a decision may hold a pending one that holds this; only refusals pay for the box.
        indirect case refused(AuthDecision)
        case checked(Identity?, sawCredential: Bool)
    }

    private static func tokens(_ head: RequestHead, policy: RoutePolicy, tokens: TokenSettings?,
                               cache: VerifiedTokenCache?, sessions: SessionContext?, basic: Identity?, now: Int64,
                               trace: inout DecisionTrace?) -> TokenOutcome {
        var identity: Identity? = basic
        var sawCredential = basic != nil
        if policy.acceptsBearer {
            switch CredentialExtractor.bearer(head) {
            case .absent:
                trace?.add("bearer: no Authorization header")
            case .malformed(let reason) where reason == "not-a-bearer-scheme":
                trace?.add("bearer: Authorization is not a Bearer token")
            case .malformed(let reason):
                trace?.add("bearer: refused (\(reason))")
                return .refused(.badRequest(reason: reason))
            case .token(let token):
                sawCredential = true
                switch verify(token, source: .bearer, tokens: tokens, cache: cache, sessions: sessions, now: now,
                              trace: &trace) {
                case .success(let verified): identity = identity ?? verified
                case .failure(let failure): return .refused(refusal(failure, sessions: sessions))
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
                return .refused(.unauthenticated(reason: reason, invalidToken: true))
            case .token(let token):
                sawCredential = true
                switch verify(token, source: .cookie(label), tokens: tokens, cache: cache, sessions: sessions,
                              now: now, trace: &trace) {
                case .success(let verified): identity = identity ?? verified
                case .failure(let failure): return .refused(refusal(failure, sessions: sessions))
                }
            }
        }
        return .checked(identity, sawCredential: sawCredential)
    }

    /// Combines the session's identity (it wins) with the tokens' and checks the route's requirement.
    private static func finish(_ head: RequestHead, policy: RoutePolicy, session: Identity?, tokens: TokenOutcome,
                               trace: inout DecisionTrace?) -> AuthDecision {
        guard case .checked(let tokenIdentity, let sawToken) = tokens else {
            if case .refused(let refusal) = tokens { return refusal }
            preconditionFailure("TokenOutcome has two cases")
        }
        guard let identity = session ?? tokenIdentity else {
            if policy.mode == .optional, !sawToken {
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

    static func verify(_ token: ArraySlice<UInt8>, source: Identity.Source, tokens: TokenSettings?,
                       cache: VerifiedTokenCache?, sessions: SessionContext?, now: Int64,
                       trace: inout DecisionTrace?) -> Result<Identity, AuthFailure> {
        guard let tokens else { return .failure(.noKey) }
        if let cache, let hit = cache.lookup(token, now: now, leewaySeconds: tokens.leewaySeconds) {
            if isRevoked(hit, sessions: sessions, now: now) {
                trace?.add("\(source): the gateway's token of a signed-out session")
                return .failure(.revoked)
            }
            trace?.add("\(source): verified-token cache hit")
            return .success(identity(hit, source: source, tokens: tokens))
        }
        switch tokens.verifier.verify(token, now: now) {
        case .success(let verified):
            cache?.insert(token, verified, now: now)
            if isRevoked(verified, sessions: sessions, now: now) {
                trace?.add("\(source): the gateway's token of a signed-out session")
                return .failure(.revoked)
            }
            trace?.add("\(source): signature and claims valid (iss \(verified.issuer), sub \(verified.subject ?? "-"))")
            return .success(identity(verified, source: source, tokens: tokens))
        case .failure(let failure):
            trace?.add("\(source): refused (\(failure.reason))")
            return .failure(failure)
        }
    }

    /// A gateway-issued access token whose session was signed out (its `sid` is on the revocation list). Checked
    /// after the cache too: a revocation must hold at once, not when the cached entry expires. Until the store's
    /// revocations are loaded every such token counts as revoked (`refusal` answers 503 for it).
    private static func isRevoked(_ token: VerifiedToken, sessions: SessionContext?, now: Int64) -> Bool {
        guard let sessions, let own = sessions.ownIssuer, token.issuer == own else { return false }
        guard sessions.revocations.isLoaded else { return true }
        guard case .string(let sid)? = token.claim("sid") else { return true }  // ours always carry one
        return sessions.revocations.isRevoked(sid, now: now)
    }

    /// A refused token: 401, or 503 when it is one of the gateway's own and the revocations are not loaded yet
    /// (just after a restart): the token may have been revoked, and the client should retry, not sign in again.
    private static func refusal(_ failure: AuthFailure, sessions: SessionContext?) -> AuthDecision {
        if failure == .revoked, let sessions, !sessions.revocations.isLoaded {
            return .unavailable(reason: "revocations-not-loaded")
        }
        // A provider-backed issuer whose keys have not arrived: never a pass, never "sign in again".
        if failure == .keysUnavailable { return .unavailable(reason: failure.reason) }
        return .unauthenticated(reason: failure.reason, invalidToken: true)
    }

    private enum BasicOutcome {
        case absent
        case found(Identity)
        /// Refused, or the password must be checked first.
        case decided(AuthDecision)
    }

    /// `Authorization: Basic`: absent (another scheme, or none), the identity of a pair verified lately (or just
    /// now: `verified`), a refusal of a malformed one, or "hash it".
    private static func basic(_ head: RequestHead, policy: BasicPolicy, context: BasicContext?, verified: Identity?,
                              now: Int64, trace: inout DecisionTrace?) -> BasicOutcome {
        switch CredentialExtractor.basic(head) {
        case .absent:
            trace?.add("basic: no Authorization header")
            return .absent
        case .otherScheme:
            trace?.add("basic: Authorization is not Basic")
            return .absent
        case .malformed(let reason):
            trace?.add("basic: refused (\(reason))")
            return .decided(.badRequest(reason: reason))
        case .credentials(let user, let password):
            if let verified {
                trace?.add("basic: password verified (user \(user))")
                return .found(verified)
            }
            guard let context else {
                trace?.add("basic: not checked here (needs the running gateway's users file and hashing threads)")
                return .decided(.unauthenticated(reason: "basic-not-checked", invalidToken: false))
            }
            if user.isEmpty {
                trace?.add("basic: empty user name")
                return .decided(.unauthenticated(reason: "basic-empty-user", invalidToken: true))
            }
            if let hit = context.cache.lookup(user: user.utf8, password: password, ttl: policy.cacheTTL, now: now,
                                              directory: context.users(), epoch: context.epoch()) {
                trace?.add("basic: verified-password cache hit (user \(user))")
                return .found(hit)
            }
            trace?.add("basic: password to check (user \(user))")
            return .decided(.verifyPassword(PendingPassword(user: user, password: Array(password),
                                                           cacheTTL: policy.cacheTTL)))
        }
    }

    private enum SessionOutcome {
        case absent
        case found(Identity)
        case refused(AuthDecision)
        /// A remote backend's cache missed: the store must be asked (the decision waits, `PendingSession`).
        case needsFetch(SessionKey)
    }

    /// The session cookie: absent, the session's identity, the refusal, or "ask the store".
    private static func session(_ head: RequestHead, context: SessionContext?, now: Int64,
                                trace: inout DecisionTrace?) -> SessionOutcome {
        guard let context else {
            trace?.add("session: not checked here (needs the running gateway's store)")
            return .absent
        }
        switch CredentialExtractor.cookie(head, name: context.cookieName) {
        case .absent:
            trace?.add("session: no cookie")
            return .absent
        case .malformed(let reason):
            // Two cookies with the gateway's name (cookie tossing): unauthenticated, never "pick one".
            trace?.add("session: refused (\(reason))")
            return .refused(.unauthenticated(reason: "session-\(reason)", invalidToken: false))
        case .token(let value):
            guard let key = Secrets.key(ofPresented: value) else {
                trace?.add("session: not a session ID")
                return .refused(.unauthenticated(reason: "session-malformed", invalidToken: false))
            }
            context.calls.lookups += 1
            let answer = context.store.lookup(key, now: now)
            if case .needsFetch = answer {
                trace?.add("session: not cached; asking the store")
                return .needsFetch(key)
            }
            return interpret(answer, trace: &trace)
        }
    }

    /// What a store's answer (from its cache or, after a wait, from the store itself) means for the request.
    private static func interpret(_ answer: SessionLookup, trace: inout DecisionTrace?) -> SessionOutcome {
        switch answer {
        case .active(let session):
            trace?.add("session: valid (user \(session.user))")
            return .found(session.identity)
        case .absent:
            trace?.add("session: unknown or ended")
            return .refused(.unauthenticated(reason: "session-unknown", invalidToken: false))
        case .unavailable(let error):
            return .refused(.unavailable(reason: "session-store-\(error.reason)"))
        case .needsFetch:
            // Only a fetched answer gets here (`session` asks the store on a cache miss); the store must not miss.
            return .refused(.unavailable(reason: "session-store-miss"))
        }
    }

    private static func identity(_ token: VerifiedToken, source: Identity.Source, tokens: TokenSettings) -> Identity {
        Identity(source: source, claims: token.claims, groupsClaim: tokens.groupsClaim, expiresAt: token.expiresAt)
    }
}
