/// Which sessions an OpenID provider's back-channel logout token ends (Back-Channel Logout 1.0 §2.4-2.7): those
/// signed in through `provider` whose provider session is `sid`, or, without a `sid`, every session of `subject`
/// at that provider. With both, the session must match both.
package struct ProviderSessionMatch: Sendable, Equatable {
    package let provider: String
    package let sid: String?
    package let subject: String?

    /// Nil when neither `sid` nor `subject` is given (such a token names nothing and is refused before this).
    package init?(provider: String, sid: String?, subject: String?) {
        guard sid != nil || subject != nil else { return nil }
        self.provider = provider
        self.sid = sid
        self.subject = subject
    }

    /// True when `link` (a stored session's) is one this match names.
    package func matches(_ link: ProviderLink?) -> Bool {
        guard let link, link.name == provider else { return false }
        if let sid, link.sid != sid { return false }
        if let subject, link.subject != subject { return false }
        return true
    }
}

/// The store calls provider-side sign-out needs, beside `SessionStore`'s: every backend (memory, embedded, Redis)
/// implements them, indexed by provider + `sid` and provider + `sub` so no call scans the sessions.
///
/// Kept apart from `SessionStore` so the revocation path of every other call is untouched: ending a session here
/// is the same "end on purpose" as a device sign-out (token sessions' handles revoked, Redis's `events` message
/// published, so every gateway on the store drops its cached copy).
package protocol ProviderSessionStore: AnyObject {
    /// Takes logout token `logoutToken` (its issuer and `jti`, remembered until `until`) and ends every session
    /// `match` names, atomically: `.replayed` (nothing ended) when the token was taken before, by any gateway on
    /// this store. Answered once both are durable; a failure takes neither (the provider's retry is not a replay).
    func endProviderSessions(_ match: ProviderSessionMatch, logoutToken: String, until: Int64, now: Int64,
                             _ done: @escaping (Result<ProviderLogoutOutcome, StoreError>) -> Void)
}

/// What a back-channel logout did to the store.
package enum ProviderLogoutOutcome: Sendable, Equatable {
    /// The token was new; this many sessions ended (0: none matched, which is still a success for the provider).
    case ended(Int)
    /// The token's `jti` was used before: nothing ended.
    case replayed
}

/// Logout-token IDs remembered in memory (embedded and memory stores), bounded.
struct UsedLogoutTokens {
    private(set) var entries: [String: Int64] = [:]
    /// Beyond this many live entries new logout tokens are refused (`logout-token-store-full`) rather than memory
    /// growing without bound; a provider sends one per signed-out session, so this is far above real use.
    static let capacity = 100_000

    enum Take { case first, replayed, full }

    mutating func take(_ id: String, until: Int64, now: Int64) -> Take {
        if let seen = entries[id], seen > now { return .replayed }
        if entries.count >= Self.capacity { purge(now: now) }
        guard entries.count < Self.capacity else { return .full }
        entries[id] = until
        return .first
    }

    mutating func restore(_ id: String, until: Int64) { entries[id] = max(entries[id] ?? 0, until) }

    mutating func forget(_ id: String) { entries.removeValue(forKey: id) }

    mutating func purge(now: Int64) { entries = entries.filter { $0.value > now } }
}
