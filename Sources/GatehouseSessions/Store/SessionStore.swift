package import GatehouseAuth
package import GatehouseIO

/// Why a store call could not be answered. Callers fail closed: 503 with `Retry-After`, never a skipped check.
package struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// A live session as the data path uses it: the identity is built once, when the session is loaded or created,
/// so a request with a cookie costs a hash and a lookup, not a claims set.
package struct ActiveSession: Sendable {
    package let handle: String
    package let user: String
    package let kind: SessionRecord.Kind
    /// `sub` = user name, `email`, `groups`, `name`, `sid` = handle, `amr` = how the user signed in.
    package let identity: Identity
    /// The provider sign-in behind this session, if any (logout reads it for the provider's end-session redirect).
    package let provider: ProviderLink?

    package init(handle: String, user: String, kind: SessionRecord.Kind, identity: Identity,
                 provider: ProviderLink? = nil) {
        self.handle = handle
        self.user = user
        self.kind = kind
        self.identity = identity
        self.provider = provider
    }

    /// The identity of `record`, as header templates and `require` rules see it.
    package init(_ record: SessionRecord) {
        var claims: [(String, ClaimValue)] = [("sub", .string(record.user))]
        if let email = record.email { claims.append(("email", .string(email))) }
        claims.append(("groups", .array(record.groups.map { .string($0) })))
        if let name = record.displayName { claims.append(("name", .string(name))) }
        claims.append(("sid", .string(record.handle)))
        // Absent rather than empty (a provider sign-in, an older session): an `{amr}` header is then left out.
        if !record.amr.isEmpty { claims.append(("amr", .array(record.amr.map { .string($0) }))) }
        self.init(handle: record.handle, user: record.user, kind: record.kind,
                  identity: Identity(source: .session, claims: claims, groupsClaim: "groups", expiresAt: record.expiresAt),
                  provider: record.provider)
    }
}

/// The hot-path answer for a session cookie.
package enum SessionLookup: Sendable {
    /// Live; the identity to use.
    case active(ActiveSession)
    /// No such session, or it ended (expired, signed out, user disabled).
    case absent
    /// The store cannot answer now (Redis down): fail closed with 503.
    case unavailable(StoreError)
    /// Not known locally; ask `fetch` (a remote store without a cached entry).
    case needsFetch
}

/// What a refresh-token presentation did.
package enum RefreshOutcome: Sendable, Equatable {
    /// The token was current: it is now spent and `record` holds the new refresh key.
    case rotated(SessionRecord)
    /// The token was already spent: someone replayed it, so the whole session was revoked.
    case reused(handle: String, user: String)
    /// Unknown, or its session ended.
    case invalid
}

/// Where sessions live. One protocol, two backends: `EmbeddedSessionStore` (SQLite file, every read from memory,
/// shared by all workers) and the Redis store (one connection per worker, on that worker's loop).
///
/// Threading: a worker calls its store only on its own loop thread, and every completion runs on that same
/// thread. A backend that has the answer at hand calls `done` before returning (the embedded store always does);
/// a remote one calls it later. Callers must work either way.
///
/// Revocation: every call that ends a token-kind session puts its handle on the `RevocationList` the backend was
/// given, so that session's access tokens are refused at once.
package protocol SessionStore: AnyObject {
    /// The hot path: finds the session whose ID hashes to `key`, and slides its idle expiry.
    func lookup(_ key: SessionKey, now: Int64) -> SessionLookup

    /// The slow path after `.needsFetch`: asks the backend itself.
    func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void)

    /// Stores a new session. When the user then has more than `maxPerUser` live sessions (0 = no limit), the
    /// oldest are ended, atomically with the insert; `done` gets the handles of the ended ones.
    func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                _ done: @escaping (Result<[String], StoreError>) -> Void)

    /// Ends the session whose ID hashes to `key` (logout). `done` gets whether it existed.
    func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void)

    /// Ends `user`'s session called `handle` (a device signed out from the list). False when there is none.
    func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void)

    /// `user`'s live sessions, newest first.
    func sessions(of user: String, now: Int64, _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void)

    /// Ends every session of `user` (sign out everywhere). `done` gets how many ended.
    func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void)

    /// Token mode: presents refresh token `presented`; if it is current, makes `next` the current one.
    /// Two presentations of one token produce at most one rotation; a spent one revokes the session.
    func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                       _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void)

    /// Disables or re-enables `user`; disabling ends their sessions at once, and `create` refuses a disabled
    /// user (the flag overrides the users file until cleared).
    func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void)

    /// True when `user` was disabled through `setDisabled` (admin), whatever the users file says.
    func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void)

    // The admin page (issue 14).

    /// Every user holding a live session at `now` (at most `limit`), with counts and last activity, and the
    /// users disabled through `setDisabled`.
    func signedInUsers(now: Int64, limit: Int, _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void)

    /// Registers this worker's handler for sessions ended on purpose (logout, device sign-out, sign-out
    /// everywhere, user disabled, `max_per_user` eviction, refresh-token replay, and any later way of ending a
    /// session through this store): `handler` gets their handles, on this store's loop, whichever worker ended
    /// them and, for a shared store (Redis pub/sub), whichever gateway. Expiry is not reported (an expired
    /// session was not revoked). One handler per store; a later call replaces it. The worker closes the
    /// session's open tunnels with it (`ProxyEngine.closeTunnels(ofSession:)`).
    func onSessionsEnded(_ handler: @escaping ([String]) -> Void)
}

/// Makes the store each worker uses: the embedded backend hands every worker the same shared object; a remote
/// backend gives each worker its own connection on that worker's loop.
package protocol SessionBackend: AnyObject, Sendable {
    func store(for loop: EventLoop) -> any SessionStore
    /// Ends sessions whose time is up (the server calls this about once a minute); returns how many.
    func purgeExpired(now: Int64) -> Int
    /// Writes out what is pending and releases the backend (at shutdown).
    func close()
    /// Whether the store can answer now (readiness, metrics). Callable from any thread.
    var isReachable: Bool { get }
}

extension SessionBackend {
    /// A local store is reachable while it runs.
    package var isReachable: Bool { true }
}
