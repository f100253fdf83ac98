package import GatehouseIO
import Synchronization

/// A session store that keeps everything in memory and nothing anywhere else: for unit tests of the code above
/// the store (the gateway's own endpoints), which then need no file, no thread and no redis-server.
///
/// Same semantics as the embedded store, by construction: it keeps the embedded store's `SessionTables`, so
/// limits, idle and absolute expiry, revocation of token sessions, refresh rotation with reuse detection and
/// disabled users behave alike (the conformance suite in Tests/GatehouseSessionsTests runs it with the other
/// two). What it does not have: durability, a writer, and the purge's guard against wall-clock steps.
///
/// Two things a test can turn on: `deliversLater` (completions of changes wait for `runPending()`, as a remote
/// store's do) and `failure` (every call fails with it, as a store that cannot be reached).
///
/// `@unchecked Sendable`: all mutable state is inside `state`, a `Mutex`; held completions are only run by
/// `runPending`, on the thread that calls it.
package final class MemorySessionStore: SessionStore, ProviderSessionStore, SessionBackend, @unchecked Sendable {
    private struct State {
        var tables = SessionTables()
        var closed = false
        var failure: StoreError?
        var deliversLater = false
        var pending: [HeldCompletion] = []
        var clock: @Sendable () -> Int64
        /// Handles ended inside the lock, told to `endedHandler` once it is released (`locked`).
        var endedHandles: [String] = []
        var endedHandler: UncheckedEndedHandler?
    }

    private let state: Mutex<State>
    private let revocations: RevocationList
    private let accessTokenTTL: Int64
    private let maxSessions: Int

    /// - Parameters:
    ///   - accessTokenTTL: how long an ended token session's handle stays on `revocations`.
    ///   - maxSessions: sessions held at most (0 = no limit); past it new sign-ins are refused (`store-full`).
    package init(revocations: RevocationList = RevocationList(loaded: true), accessTokenTTL: Int64 = 300,
                 maxSessions: Int = 0, clock: @escaping @Sendable () -> Int64 = { Int64(Clocks.wallClock().seconds) }) {
        self.revocations = revocations
        self.accessTokenTTL = accessTokenTTL
        self.maxSessions = maxSessions
        state = Mutex(State(clock: clock))
        revocations.markLoaded()
    }

    /// Wall-clock seconds for calls that take no `now` (the revocation deadlines of deletes). A test may set it.
    package var clock: @Sendable () -> Int64 {
        get { state.withLock { $0.clock } }
        set { state.withLock { $0.clock = newValue } }
    }

    // MARK: Test controls

    /// When set, every call fails with this error (`lookup` answers `.unavailable`).
    package var failure: StoreError? {
        get { state.withLock { $0.failure } }
        set { state.withLock { $0.failure = newValue } }
    }

    /// When true, the completions of calls are held until `runPending()` (reads included), as a remote store's
    /// answers arrive later; `lookup` then answers `.needsFetch`, as a remote store without a cached entry does.
    package var deliversLater: Bool {
        get { state.withLock { $0.deliversLater } }
        set { state.withLock { $0.deliversLater = newValue } }
    }

    /// Completions held by `deliversLater`.
    package var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Runs the held completions in call order (and those they cause in turn); returns how many ran.
    @discardableResult
    package func runPending() -> Int {
        var ran = 0
        while true {
            let batch = state.withLock { s in
                defer { s.pending.removeAll() }
                return s.pending
            }
            guard !batch.isEmpty else { return ran }
            for held in batch { held.run() }
            ran += batch.count
        }
    }

    /// Sessions held, live or not (until `purgeExpired`).
    package var sessionCount: Int { state.withLock { $0.tables.sessions.count } }

    // MARK: SessionBackend

    package func store(for loop: EventLoop) -> any SessionStore { self }

    package func purgeExpired(now: Int64) -> Int {
        var cursor = SessionTables.SweepCursor()
        let purged = state.withLock { s -> Int in
            guard !s.closed else { return 0 }
            s.tables.usedLogoutTokens.purge(now: now)
            return s.tables.sweep(&cursor, limit: s.tables.order.count + 1, now: now).dead.count
        }
        revocations.purge(now: now)
        return purged
    }

    package func close() { state.withLock { $0.closed = true } }

    package var isReachable: Bool { state.withLock { !$0.closed && $0.failure == nil } }

    // MARK: SessionStore

    package func lookup(_ key: SessionKey, now: Int64) -> SessionLookup {
        state.withLock { s in
            if let refusal = Self.refusal(s) { return .unavailable(refusal) }
            if s.deliversLater { return .needsFetch }
            return Self.touch(key, now: now, in: &s)
        }
    }

    package func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void) {
        let answer = state.withLock { s -> SessionLookup in
            if let refusal = Self.refusal(s) { return .unavailable(refusal) }
            return Self.touch(key, now: now, in: &s)
        }
        deliver { done(answer) }
    }

    package func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                        _ done: @escaping (Result<[String], StoreError>) -> Void) {
        let outcome = locked { s -> Result<[String], StoreError> in
            guard !s.tables.disabledUsers.contains(record.user) else { return .failure(StoreError("user-disabled")) }
            guard record.groups.allSatisfy(SessionGroups.isStorable) else {
                return .failure(StoreError("group-name-contains-newline"))
            }
            let collides = s.tables.isKnown(record.key) || s.tables.keyByHandle[record.handle] != nil
                || (record.refreshKey.map { s.tables.isKnown($0) } ?? false)
            guard !collides else { return .failure(StoreError("duplicate-session")) }
            if maxSessions > 0, s.tables.sessions.count >= maxSessions { return .failure(StoreError("store-full")) }
            s.tables.insert(record, persistedLastSeen: record.lastSeenAt)
            guard maxPerUser > 0 else { return .success([]) }
            // The oldest live ones beyond the limit end (by creation, then insertion), never the new one.
            let live = s.tables.recordsOldestFirst(of: record.user).filter { $0.isLive(at: now) }
            guard live.count > maxPerUser else { return .success([]) }
            let ended = live.filter { $0.key != record.key }.prefix(live.count - maxPerUser)
            return .success(ended.compactMap { end($0.key, in: &s, now: now)?.handle })
        }
        deliver { done(outcome) }
    }

    package func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let outcome = locked { s in .success(end(key, in: &s, now: s.clock()) != nil) }
        deliver { done(outcome) }
    }

    package func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let outcome = locked { s -> Result<Bool, StoreError> in
            // Only the owner may end a session by handle: handles are shown in device lists and JWTs.
            guard let key = s.tables.keyByHandle[handle], s.tables.record(key)?.user == user else {
                return .success(false)
            }
            return .success(end(key, in: &s, now: s.clock()) != nil)
        }
        deliver { done(outcome) }
    }

    package func sessions(of user: String, now: Int64,
                          _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void) {
        let outcome = locked { s -> Result<[SessionRecord], StoreError> in
            .success(s.tables.recordsOldestFirst(of: user).filter { $0.isLive(at: now) }.reversed())
        }
        deliver { done(outcome) }
    }

    package func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let outcome = locked { s in .success(endAll(of: user, in: &s, now: s.clock())) }
        deliver { done(outcome) }
    }

    package func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                               _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        // One lock for the whole decision: of two racing presentations of one token, one rotates.
        let outcome = locked { s -> Result<RefreshOutcome, StoreError> in
            if let key = s.tables.sessionByRefresh[presented], let record = s.tables.record(key),
               record.kind == .token {
                guard record.isLive(at: now) else { return .success(.invalid) }
                guard !s.tables.isKnown(next) else { return .failure(StoreError("refresh-key-collision")) }
                return .success(.rotated(s.tables.rotate(key, presented: presented, next: next, now: now).record))
            }
            // A spent token presented again: it leaked, so the whole session goes.
            if let spent = s.tables.spentRefresh[presented], let record = end(spent.session, in: &s, now: now) {
                return .success(.reused(handle: record.handle, user: record.user))
            }
            return .success(.invalid)
        }
        deliver { done(outcome) }
    }

    package func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let outcome = locked { s -> Result<Int, StoreError> in
            guard disabled else {
                s.tables.disabledUsers.remove(user)
                return .success(0)
            }
            s.tables.disabledUsers.insert(user)
            return .success(endAll(of: user, in: &s, now: s.clock()))
        }
        deliver { done(outcome) }
    }

    package func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let outcome = locked { s in .success(s.tables.disabledUsers.contains(user)) }
        deliver { done(outcome) }
    }

    package func signedInUsers(now: Int64, limit: Int,
                               _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        let outcome = locked { s in .success(s.tables.signedInUsers(now: now, limit: limit)) }
        deliver { done(outcome) }
    }

    // MARK: ProviderSessionStore (the same indexes as the embedded store)

    package func endProviderSessions(_ match: ProviderSessionMatch, logoutToken: String, until: Int64, now: Int64,
                                     _ done: @escaping (Result<ProviderLogoutOutcome, StoreError>) -> Void) {
        let outcome = locked { s -> Result<ProviderLogoutOutcome, StoreError> in
            switch s.tables.usedLogoutTokens.take(logoutToken, until: until, now: now) {
            case .replayed: return .success(.replayed)
            case .full: return .failure(StoreError("logout-token-store-full"))
            case .first: break
            }
            let ended = s.tables.keys(matching: match).reduce(0) { ended, key in
                end(key, in: &s, now: now) != nil ? ended + 1 : ended
            }
            return .success(.ended(ended))
        }
        deliver { done(outcome) }
    }

    // MARK: Inside the lock

    private static func refusal(_ s: State) -> StoreError? {
        s.closed ? StoreError("store-closed") : s.failure
    }

    private static func touch(_ key: SessionKey, now: Int64, in s: inout State) -> SessionLookup {
        switch s.tables.touch(key, now: now, writeInterval: .max) {
        case .live(let session, _): return .active(session)
        case .expired, .notFound: return .absent
        }
    }

    /// Runs `body` under the lock, unless the store refuses every call.
    private func locked<T>(_ body: (inout State) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (result, ended, handler) = state.withLock { s -> (Result<T, StoreError>, [String], UncheckedEndedHandler?) in
            if let refusal = Self.refusal(s) { return (.failure(refusal), [], nil) }
            let result = body(&s)
            defer { s.endedHandles = [] }
            return (result, s.endedHandles, s.endedHandler)
        }
        // Outside the lock: the handler may call the store again.
        if !ended.isEmpty { handler?.body(ended) }
        return result
    }

    package func onSessionsEnded(_ handler: @escaping ([String]) -> Void) {
        let box = UncheckedEndedHandler(handler)
        state.withLock { $0.endedHandler = box }
    }

    /// Ends a session on purpose; a token-kind one's access tokens are refused from now on.
    private func end(_ key: SessionKey, in s: inout State, now: Int64) -> SessionRecord? {
        guard let record = s.tables.remove(key) else { return nil }
        if record.kind == .token { revocations.revoke(record.handle, until: now + accessTokenTTL) }
        s.endedHandles.append(record.handle)
        return record
    }

    /// Ends all of `user`'s sessions; returns how many were live.
    private func endAll(of user: String, in s: inout State, now: Int64) -> Int {
        s.tables.keys(of: user).reduce(0) { ended, key in
            guard let record = end(key, in: &s, now: now) else { return ended }
            return ended + (record.isLive(at: now) ? 1 : 0)
        }
    }

    /// Calls `answer` now, or holds it for `runPending` (`deliversLater`).
    private func deliver(_ answer: @escaping () -> Void) {
        let held = state.withLock { s -> Bool in
            guard s.deliversLater else { return false }
            s.pending.append(HeldCompletion(answer))
            return true
        }
        if !held { answer() }
    }
}

/// A completion held for `runPending`; only ever run by the thread that calls it.
private struct HeldCompletion: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

extension MemorySessionStore: SecondFactorLedger {
    package func acceptSecondFactor(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64,
                                    _ done: @escaping (Result<SecondFactorOutcome, StoreError>) -> Void) {
        let outcome = locked { s in
            .success(s.tables.secondFactor.accept(user: user, step: step, pending: pending,
                                                  pendingExpiresAt: pendingExpiresAt, now: now))
        }
        deliver { done(outcome) }
    }

    package func resetSecondFactor(user: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let outcome = locked { s -> Result<Void, StoreError> in
            _ = s.tables.secondFactor.reset(user: user)
            return .success(())
        }
        deliver { done(outcome) }
    }
}
