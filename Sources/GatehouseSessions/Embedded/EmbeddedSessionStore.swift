import GatehouseIO
import Logging
import Synchronization

/// The store's time: wall-clock seconds (what expiry is measured in) and monotonic seconds (which never jump;
/// the purge checks the wall clock against it). Tests inject both.
package struct StoreClock: Sendable {
    package var wall: @Sendable () -> Int64
    package var monotonic: @Sendable () -> Int64

    package init(wall: @escaping @Sendable () -> Int64, monotonic: @escaping @Sendable () -> Int64) {
        self.wall = wall
        self.monotonic = monotonic
    }

    package static let system = StoreClock(wall: { Clocks.wallSeconds() },
                                           monotonic: { Int64(Clocks.monotonicNanoseconds() / 1_000_000_000) })
}

/// The default session backend: every session in memory, mirrored to an SQLite file so sessions survive a
/// restart. One instance is shared by all workers.
///
/// Reads and changes happen in memory under one `Mutex`; each change also queues a write for a single writer
/// thread, which applies queued writes in batches, one transaction each. No disk I/O ever happens on a caller's
/// thread (except in `init`, which loads the file, and `flush`/`close`, which wait).
///
/// Durability: lookups answer at once; every call that changes what the file must remember (sign-in, logout,
/// sign-out by handle or everywhere, refresh rotation and reuse, disable) answers only once the writer has
/// committed its change, so a `kill -9` right after the answer cannot bring a session back or lose one. When
/// the file does not take the change (disk full, locked by another process) within the writer's retries, the
/// call fails (`store-write-failed`, a 503): the change still holds in memory and the writer keeps trying, but
/// the client is not told it is durable. While the writer is failing the store is not reachable (readiness), and
/// new sessions and refresh rotations are refused up front (their undo would otherwise be a second failure).
///
/// Completions of a worker's calls come back on that worker's loop (through `store(for:)`'s per-loop face);
/// a call on this shared object itself completes on the writer thread (tests, tools).
///
/// Time: expired sessions are refused by `lookup` and removed only by `purgeExpired`, which measures time by the
/// wall clock but never ahead of the monotonic clock since the store opened: a forward clock step (a bad NTP
/// source, a VM resumed with a stale clock corrected later) cannot delete every session at once.
///
/// `@unchecked Sendable` is sound because all mutable state is inside `state` (a `Mutex`); the writer's
/// connection is touched only by the writer thread, which is fed through its own locked queue; and the thread
/// handle is joined only by the one `close` call that flips `closed`.
///
/// File schema (`PRAGMA user_version` = 3):
///
///     sessions(key BLOB PRIMARY KEY,      -- SessionKey.bytes (32), the hash of the session ID
///              handle TEXT UNIQUE, kind TEXT ('cookie' | 'token'), user TEXT, email TEXT NULL,
///              groups TEXT,                -- newline-joined; group names cannot contain a newline
///              display_name TEXT NULL, created INTEGER, last_seen INTEGER, expires INTEGER,
///              idle_timeout INTEGER, user_agent TEXT, client_address TEXT,
///              refresh_key BLOB NULL,      -- token kind: hash of the current refresh token
///              provider TEXT NULL, provider_sid TEXT NULL, provider_sub TEXT NULL,
///              id_token TEXT NULL,         -- an OpenID provider's sign-in (`ProviderLink`); version 3
///              amr TEXT)                   -- space-joined (version 3; '' for older rows)
///     INDEX sessions_user ON sessions(user)
///     spent_refresh(key BLOB PRIMARY KEY, session_key BLOB, expires INTEGER)   -- at most 8 per session
///     INDEX spent_refresh_session ON spent_refresh(session_key)
///     disabled_users(user TEXT PRIMARY KEY)
///     revoked(handle TEXT PRIMARY KEY, until INTEGER)  -- ended token sessions: their access tokens are refused
///     logout_tokens(id TEXT PRIMARY KEY, until INTEGER)  -- back-channel logout tokens seen (replays refused)
///     changes(seq INTEGER PRIMARY KEY, writer INTEGER, op TEXT, key BLOB NULL, name TEXT NULL, until INTEGER NULL,
///             at INTEGER)                 -- a minute of each process's changes, for another process on the file
///
///     second_factor(user TEXT PRIMARY KEY, last_step INTEGER)  -- version 3: the last TOTP step accepted per user
///
/// Version 1 files (no `revoked`) and version 2 files (no provider columns, no `amr`, no `logout_tokens`, no `second_factor`) are upgraded in place. Times are Unix seconds. `last_seen` lags memory by up to
/// `lastSeenWriteInterval`, so after a restart a session may idle out up to that much early; never late.
package final class EmbeddedSessionStore: SessionStore, ProviderSessionStore, @unchecked Sendable {
    /// How far the in-memory `lastSeenAt` may run ahead of the file before a write is queued: sliding expiry
    /// costs one write per session per minute at most, never one per request.
    package static let lastSeenWriteInterval: Int64 = 60
    static let schemaVersion: Int64 = 3
    /// Sessions one purge step looks at while holding the lock: a purge of a million sessions is ~250 short
    /// holds instead of one long stall of every lookup.
    static let purgeBatch = 4096
    /// How far the wall clock may run ahead of the monotonic estimate before the purge says so in the log.
    static let clockStepTolerance: Int64 = 60
    /// The writer's wait for a file locked by another connection, per attempt.
    static let busyTimeoutMilliseconds: Int32 = 250

    private struct State {
        var tables: SessionTables
        var clock: StoreClock
        var closed = false
        var purging = false
        /// The wall time and monotonic time when the store opened: the purge never runs ahead of
        /// `baseWall + (monotonic - baseMonotonic)`.
        var baseWall: Int64
        var baseMonotonic: Int64
        var clockStepLogged = false
        var fullLoggedAt: Int64?
    }

    private let state: Mutex<State>
    private let writer: SessionWriter
    /// The writer's thread: a pool of one (see `BlockingPool`), running `writer.run()` until the queue closes.
    private let writerThread: BlockingPool
    private let revocations: RevocationList
    private let accessTokenTTL: Int64
    private let maxSessions: Int
    private let logger = Logger(label: "gatehouse.sessions")
    /// One face per loop, kept as long as the store: a face's executor must never be freed off its loop (the
    /// writer thread may hold the last reference to a completion otherwise).
    private let faces = Mutex<[ObjectIdentifier: LoopFace]>([:])
    /// Who is told of sessions ended on purpose: one callback per worker, each running on that worker's loop
    /// (`LoopExecutor.callback`), so every worker of the gateway closes its own tunnels of them.
    private let endedListeners = Mutex<[ObjectIdentifier: @Sendable ([String]) -> Void]>([:])
    package let path: String

    /// Opens (or creates) the session file at `path` and loads every session in it; the revocations it holds go on
    /// `revocations`, which is then marked loaded. Sessions not live at `now` stay until the first purge (a minute
    /// later at the earliest), so a clock that is wrong at start costs nothing once it is corrected.
    /// - Parameters:
    ///   - accessTokenTTL: how long an access token lives: a revoked token session's handle stays on
    ///     `revocations` (and in the file) that long.
    ///   - clock: the time used by calls that take no `now`, and the purge's guard against clock steps.
    ///   - maxSessions: sessions the store holds at most (0 = no limit); past it new sign-ins are refused.
    ///   - writerRetryPauses: pauses between the attempts of one failed batch (tests make them short).
    /// - Throws: `StoreError` when the directory is missing, the file cannot be opened, is not a session store,
    ///   or the writer thread cannot start.
    package init(path: String, accessTokenTTL: Int64, revocations: RevocationList, now: Int64,
                 clock: StoreClock = .system, maxSessions: Int = 0,
                 writerRetryPauses: [Duration] = [.milliseconds(20), .milliseconds(80), .milliseconds(320)],
                 writerRetryInterval: Duration = .seconds(1)) throws(StoreError) {
        try Self.checkDirectory(of: path)
        self.path = path
        self.revocations = revocations
        self.accessTokenTTL = accessTokenTTL
        self.maxSessions = maxSessions
        let database = try Self.mappingErrors(path) { () throws(SQLiteError) in
            try SQLiteDatabase(path: path, mode: .readWriteCreate, busyTimeoutMilliseconds: Self.busyTimeoutMilliseconds)
        }
        let version = try Self.mappingErrors(path) { () throws(SQLiteError) in try Self.prepareSchema(database) }
        guard version == Self.schemaVersion else {
            throw StoreError(
                "session store \(path): schema version \(version), but this gatehouse knows only \(Self.schemaVersion)")
        }
        let tables = try Self.mappingErrors(path) { () throws(SQLiteError) in
            try Self.load(database, now: now, revocations: revocations)
        }
        revocations.markLoaded()
        let writer = try Self.mappingErrors(path) { () throws(SQLiteError) in
            try SessionWriter(database: database, retryPauses: writerRetryPauses, retryInterval: writerRetryInterval)
        }
        writer.lastChangeSeen = try Self.mappingErrors(path) { () throws(SQLiteError) in
            try database.int64("SELECT coalesce(max(seq), 0) FROM changes") ?? 0
        }
        self.writer = writer
        state = Mutex(State(tables: tables, clock: clock, baseWall: now, baseMonotonic: clock.monotonic()))
        do {
            writerThread = try BlockingPool.serialLane(name: "gh-sessions", queueLimit: 1)
        } catch {
            throw StoreError("session store \(path): cannot start the writer thread: \(error)")
        }
        guard writerThread.execute({ writer.run() }) else {
            throw StoreError("session store \(path): cannot start the writer thread")
        }
        // Another gateway on the same file (a binary upgrade's overlap): follow its sign-ins and sign-outs.
        writer.onRemoteChanges.withLock { $0 = { [weak self] changes in self?.applyRemote(changes) } }
    }

    deinit { close() }

    /// The wall clock used by calls that take no `now` (revocation deadlines of `delete`, `deleteAll`,
    /// `setDisabled`). A test may set it.
    package var clock: @Sendable () -> Int64 {
        get { state.withLock { $0.clock.wall } }
        set { state.withLock { $0.clock.wall = newValue } }
    }

    /// Sessions in memory (for metrics). Ones past their expiry count until the next `purgeExpired`.
    package var liveSessionCount: Int { state.withLock { $0.tables.sessions.count } }

    /// Spent refresh keys in memory (at most `SessionTables.spentPerSession` per session).
    package var spentRefreshCount: Int { state.withLock { $0.tables.spentRefresh.count } }

    /// Failed write batches (each also made the store unhealthy) and single writes the file refused.
    package var diskWriteFailures: Int { writer.failures.load(ordering: .relaxed) }

    /// False while the writer cannot commit (readiness, metrics), or once closed.
    package var isReachable: Bool {
        writer.healthy.load(ordering: .relaxed) && !state.withLock { $0.closed }
    }

    /// Blocks until everything queued so far was tried (committed, or failed every retry).
    package func flush() {
        writer.queue.waitUntilWritten()
    }

    /// Writes what is queued, stops the writer and closes the file. Idempotent; later calls fail with
    /// `store-closed` (`lookup` answers `.unavailable`).
    package func close() {
        let wasOpen = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        guard wasOpen else { return }
        writer.onRemoteChanges.withLock { $0 = nil }
        writer.queue.close()
        writerThread.shutdown()
    }

    /// The face a worker's loop uses: the same store, with completions delivered on that loop.
    func face(for loop: EventLoop) -> LoopFace {
        let id = ObjectIdentifier(loop)
        return faces.withLock { faces in
            if let face = faces[id], face.loop === loop { return face }
            let face = LoopFace(store: self, loop: loop)
            faces[id] = face
            return face
        }
    }

    // MARK: SessionStore (completions on the writer thread; workers use `store(for:)`)

    package func lookup(_ key: SessionKey, now: Int64) -> SessionLookup {
        state.withLock { s in
            guard !s.closed else { return .unavailable(Self.closedError) }
            switch s.tables.touch(key, now: now, writeInterval: Self.lastSeenWriteInterval) {
            case .live(let session, let persist):
                // While the file fails, last-seen writes are skipped (the queue holds only what must be durable);
                // after a restart such a session may idle out early, never late.
                if let persist, writer.healthy.load(ordering: .relaxed) { writer.queue.push(.touch(key, lastSeen: persist)) }
                return .active(session)
            case .expired, .notFound:
                // An expired session is removed by the purge only, which guards against clock steps.
                return .absent
            }
        }
    }

    package func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void) {
        done(lookup(key, now: now))
    }

    package func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                        _ done: @escaping (Result<[String], StoreError>) -> Void) {
        create(record, maxPerUser: maxPerUser, now: now, delivery: .writerThread, done)
    }

    package func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        delete(key, delivery: .writerThread, done)
    }

    package func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        delete(handle: handle, of: user, delivery: .writerThread, done)
    }

    package func sessions(of user: String, now: Int64,
                          _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void) {
        done(state.withLock { s -> Result<[SessionRecord], StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(s.tables.recordsOldestFirst(of: user).filter { $0.isLive(at: now) }.reversed())
        })
    }

    package func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        deleteAll(of: user, delivery: .writerThread, done)
    }

    package func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                               _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        rotateRefresh(presented, next: next, now: now, delivery: .writerThread, done)
    }

    package func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        setDisabled(user, disabled, delivery: .writerThread, done)
    }

    package func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        done(state.withLock { s -> Result<Bool, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(s.tables.disabledUsers.contains(user))
        })
    }

    package func signedInUsers(now: Int64, limit: Int,
                               _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        done(state.withLock { s -> Result<SignedInUsers, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(s.tables.signedInUsers(now: now, limit: limit))
        })
    }

    package func endProviderSessions(_ match: ProviderSessionMatch, logoutToken: String, until: Int64, now: Int64,
                                     _ done: @escaping (Result<ProviderLogoutOutcome, StoreError>) -> Void) {
        endProviderSessions(match, logoutToken: logoutToken, until: until, now: now, delivery: .writerThread, done)
    }

    // MARK: Changes, answered once committed

    func create(_ record: SessionRecord, maxPerUser: Int, now: Int64, delivery: Delivery,
                _ done: @escaping (Result<[String], StoreError>) -> Void) {
        let outcome = state.withLock { s -> Result<(ended: [String], ticket: UInt64), StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            guard writer.healthy.load(ordering: .relaxed) else { return .failure(Self.writeFailedError) }
            guard !s.tables.disabledUsers.contains(record.user) else { return .failure(StoreError("user-disabled")) }
            // A newline would split one group into several when the file is read back: a privilege change.
            guard record.groups.allSatisfy(SessionGroups.isStorable) else {
                return .failure(StoreError("group-name-contains-newline"))
            }
            let collides = s.tables.isKnown(record.key) || s.tables.keyByHandle[record.handle] != nil
                || (record.refreshKey.map { s.tables.isKnown($0) } ?? false)
            guard !collides else { return .failure(StoreError("duplicate-session")) }
            if maxSessions > 0, s.tables.sessions.count >= maxSessions {
                // Refused rather than evicting the oldest: one user scripting sign-ins must not sign everyone out.
                let now = s.clock.monotonic()
                if s.fullLoggedAt.map({ now - $0 >= 60 }) ?? true {
                    s.fullLoggedAt = now
                    logger.warning("session store full: sign-ins refused", metadata: [
                        "path": "\(path)", "max_sessions": "\(maxSessions)",
                    ])
                }
                return .failure(StoreError("store-full"))
            }
            s.tables.insert(record, persistedLastSeen: record.lastSeenAt)
            var ticket = writer.queue.push(.insert(record))
            let ended = evict(beyond: maxPerUser, of: record.user, sparing: record.key, in: &s, now: now,
                              ticket: &ticket)
            return .success((ended, ticket))
        }
        switch outcome {
        case .failure(let error):
            done(.failure(error))
        case .success(let made):
            // Not durable: drop it again, so memory does not hold a session whose holder was told 503.
            whenCommitted(made.ticket, made.ended, delivery: delivery, undo: { [self] in
                state.withLock { s in _ = expire(record.key, in: &s) }
            }, done)
        }
    }

    func delete(_ key: SessionKey, delivery: Delivery, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let ticket = state.withLock { s -> Result<UInt64?, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(end(key, in: &s, now: s.clock.wall()))
        }
        answer(ticket, delivery: delivery, done) { $0 != nil }
    }

    func delete(handle: String, of user: String, delivery: Delivery,
                _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        let ticket = state.withLock { s -> Result<UInt64?, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            // Only the owner may end a session by handle: handles are shown in device lists and JWTs.
            guard let key = s.tables.keyByHandle[handle], s.tables.record(key)?.user == user else {
                return .success(nil)
            }
            return .success(end(key, in: &s, now: s.clock.wall()))
        }
        answer(ticket, delivery: delivery, done) { $0 != nil }
    }

    func deleteAll(of user: String, delivery: Delivery, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let outcome = state.withLock { s -> Result<(ended: Int, ticket: UInt64), StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(endAll(of: user, in: &s, now: s.clock.wall()))
        }
        settle(outcome, delivery: delivery, done)
    }

    func setDisabled(_ user: String, _ disabled: Bool, delivery: Delivery,
                     _ done: @escaping (Result<Int, StoreError>) -> Void) {
        let outcome = state.withLock { s -> Result<(ended: Int, ticket: UInt64), StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            var ticket: UInt64 = 0
            if disabled {
                if s.tables.disabledUsers.insert(user).inserted { ticket = writer.queue.push(.disable(user)) }
                let ended = endAll(of: user, in: &s, now: s.clock.wall())
                return .success((ended.ended, max(ticket, ended.ticket)))
            }
            if s.tables.disabledUsers.remove(user) != nil { ticket = writer.queue.push(.enable(user)) }
            return .success((0, ticket))
        }
        settle(outcome, delivery: delivery, done)
    }

    func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64, delivery: Delivery,
                       _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        // One lock for the whole decision: of two racing presentations of one token, the first rotates and the
        // second finds it spent.
        let outcome = state.withLock { s -> Result<(RefreshOutcome, ticket: UInt64, rotated: SessionKey?), StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            // A rotation that then fails to commit would have to be undone; refuse it while the file fails.
            guard writer.healthy.load(ordering: .relaxed) else { return .failure(Self.writeFailedError) }
            if let key = s.tables.sessionByRefresh[presented], let record = s.tables.record(key),
               record.kind == .token {
                guard record.isLive(at: now) else { return .success((.invalid, 0, nil)) }
                guard !s.tables.isKnown(next) else { return .failure(StoreError("refresh-key-collision")) }
                let rotated = s.tables.rotate(key, presented: presented, next: next, now: now)
                let ticket = writer.queue.push(.rotate(key, refreshKey: next, lastSeen: rotated.record.lastSeenAt,
                                                       spent: presented, spentExpires: rotated.record.expiresAt,
                                                       forget: rotated.forgotten))
                return .success((.rotated(rotated.record), ticket, key))
            }
            // A spent token presented again: it leaked, so the whole session goes (OAuth 2.0 Security BCP).
            if let spent = s.tables.spentRefresh[presented], let record = s.tables.record(spent.session),
               let ticket = end(spent.session, in: &s, now: now) {
                return .success((.reused(handle: record.handle, user: record.user), ticket, nil))
            }
            return .success((.invalid, 0, nil))
        }
        switch outcome {
        case .failure(let error):
            done(.failure(error))
        case .success(let (result, ticket, rotated)):
            // A rotation the client never hears of is put back, or its next refresh would look like a replay.
            var undo: (@Sendable () -> Void)?
            if let rotated { undo = { [self] in unrotate(rotated, presented: presented, next: next) } }
            whenCommitted(ticket, result, delivery: delivery, undo: undo, done)
        }
    }

    /// Puts a rotation back in memory and in the file (its commit failed; the client still holds `presented`).
    private func unrotate(_ key: SessionKey, presented: SessionKey, next: SessionKey) {
        state.withLock { s in
            if s.tables.unrotate(key, presented: presented, next: next) {
                writer.queue.push(.unrotate(key, refreshKey: presented, spent: presented))
            }
        }
    }

    // MARK: Provider-side sign-out (ProviderSessionStore)

    func endProviderSessions(_ match: ProviderSessionMatch, logoutToken: String, until: Int64, now: Int64,
                             delivery: Delivery,
                             _ done: @escaping (Result<ProviderLogoutOutcome, StoreError>) -> Void) {
        let outcome = state.withLock { s -> Result<(ProviderLogoutOutcome, ticket: UInt64), StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            // Taken before the file confirms it; a failed commit must be undone, so refuse while the file fails.
            guard writer.healthy.load(ordering: .relaxed) else { return .failure(Self.writeFailedError) }
            switch s.tables.usedLogoutTokens.take(logoutToken, until: until, now: now) {
            case .replayed: return .success((.replayed, 0))
            case .full: return .failure(StoreError("logout-token-store-full"))
            case .first: break
            }
            var ticket = writer.queue.push(.logoutToken(logoutToken, until: until))
            var ended = 0
            for key in s.tables.keys(matching: match) {
                guard let last = end(key, in: &s, now: now) else { continue }
                ticket = last
                ended += 1
            }
            return .success((.ended(ended), ticket))
        }
        switch outcome {
        case .failure(let error): done(.failure(error))
        case .success(let (result, ticket)):
            // Not durable: the token is forgotten again, so the provider's retry is not taken for a replay (the
            // sessions stay ended in memory, and the writer keeps trying to end them in the file).
            whenCommitted(ticket, result, delivery: delivery, undo: { [self] in
                state.withLock { s in s.tables.usedLogoutTokens.forget(logoutToken) }
            }, done)
        }
    }

    // MARK: Another process on the same file

    /// Applies changes another gateway process committed to the file: its new sessions become known here, its
    /// sign-outs, disables and revocations hold here too. Runs on the writer thread; writes nothing back.
    private func applyRemote(_ changes: [RemoteChange]) {
        state.withLock { s in
            guard !s.closed else { return }
            for change in changes {
                switch change {
                case .upsert(let record):
                    guard let current = s.tables.record(record.key) else {
                        if !s.tables.disabledUsers.contains(record.user) {
                            s.tables.insert(record, persistedLastSeen: record.lastSeenAt)
                        }
                        continue
                    }
                    // Rotated there: the refresh key this process knew is spent now (a replay of it revokes).
                    if let old = current.refreshKey, let new = record.refreshKey, old != new,
                       !s.tables.isKnown(new) {
                        _ = s.tables.rotate(record.key, presented: old, next: new, now: record.lastSeenAt)
                    }
                case .delete(let key):
                    // Ended by the other process (or expired there): its tunnels here close too.
                    if let record = s.tables.remove(key) { announceEnded([record.handle]) }
                case .deleteUser(let user):
                    announceEnded(s.tables.keys(of: user).compactMap { s.tables.remove($0)?.handle })
                case .disable(let user):
                    s.tables.disabledUsers.insert(user)
                case .enable(let user):
                    s.tables.disabledUsers.remove(user)
                case .logoutToken(let id, let until):
                    s.tables.usedLogoutTokens.restore(id, until: until)
                case .revoke(let handle, let until):
                    revocations.revoke(handle, until: until)
                }
            }
        }
    }

    // MARK: Purge

    /// Called between two batches of a purge, with the lock free (tests check that lookups get through).
    var betweenPurgeBatches: (() -> Void)?

    /// Removes sessions not live at `now` (the server calls this every minute), a bounded batch per hold of the
    /// lock, with their spent refresh keys, and revocations whose tokens have all expired; returns how many
    /// sessions ended. Expiry revokes nothing: an expired session's access tokens die on their own.
    ///
    /// `now` is used only as far as the monotonic clock confirms it: a wall clock stepped forward (13 h, for a
    /// few seconds) purges nothing the monotonic time since the store opened does not justify, and says so in
    /// the log.
    package func purgeExpired(now: Int64) -> Int {
        guard let effective = state.withLock({ s -> Int64? in
            guard !s.closed, !s.purging else { return nil }
            s.purging = true
            return purgeTime(now, in: &s)
        }) else { return 0 }
        var cursor = SessionTables.SweepCursor()
        var purged = 0
        var finished = false
        while !finished {
            finished = state.withLock { s in
                guard !s.closed else { return true }
                let step = s.tables.sweep(&cursor, limit: Self.purgeBatch, now: effective)
                if !step.dead.isEmpty { writer.queue.push(.purge(step.dead.map(\.key))) }
                purged += step.dead.count
                return step.finished
            }
            // The lock is free here: lookups waiting on it go first.
            if !finished { betweenPurgeBatches?() }
        }
        state.withLock { s in
            s.purging = false
            s.tables.usedLogoutTokens.purge(now: effective)
            if !s.closed { writer.queue.push(.purgeRevoked(now: effective)) }
        }
        revocations.purge(now: effective)
        return purged
    }

    /// The purge's notion of now: the wall clock, but never ahead of the monotonic time since the store opened.
    private func purgeTime(_ now: Int64, in s: inout State) -> Int64 {
        let estimate = s.baseWall + (s.clock.monotonic() - s.baseMonotonic)
        let ahead = now - estimate
        if ahead > Self.clockStepTolerance {
            if !s.clockStepLogged {
                s.clockStepLogged = true
                logger.warning("wall clock is ahead of the monotonic clock: purging sessions by monotonic time", metadata: [
                    "ahead_seconds": "\(ahead)",
                ])
            }
            return estimate
        }
        if s.clockStepLogged {
            s.clockStepLogged = false
            logger.notice("wall clock agrees with the monotonic clock again")
        }
        return min(now, estimate)
    }

    // MARK: Second factor (`SecondFactorLedger`)

    /// Checks and records a TOTP step under the lock; answers once the step is in the file, so a restart cannot
    /// accept the code again. Spent pending nonces stay in memory (they live five minutes).
    func acceptSecondFactor(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64,
                            delivery: Delivery, _ done: @escaping (Result<SecondFactorOutcome, StoreError>) -> Void) {
        let outcome = state.withLock { s -> Result<(SecondFactorOutcome, UInt64), StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            guard writer.healthy.load(ordering: .relaxed) else { return .failure(Self.writeFailedError) }
            let verdict = s.tables.secondFactor.accept(user: user, step: step, pending: pending,
                                                       pendingExpiresAt: pendingExpiresAt, now: now)
            guard verdict == .accepted else { return .success((verdict, 0)) }
            return .success((verdict, writer.queue.push(.secondFactorStep(user: user, step: step))))
        }
        switch outcome {
        case .failure(let error): done(.failure(error))
        case .success(let (verdict, ticket)): whenCommitted(ticket, verdict, delivery: delivery, done)
        }
    }

    func resetSecondFactor(user: String, delivery: Delivery, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        let outcome = state.withLock { s -> Result<UInt64, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            _ = s.tables.secondFactor.reset(user: user)
            return .success(writer.queue.push(.secondFactorStep(user: user, step: nil)))
        }
        switch outcome {
        case .failure(let error): done(.failure(error))
        case .success(let ticket): whenCommitted(ticket, (), delivery: delivery, done)
        }
    }

    // MARK: Answering once committed

    /// Where a change's completion runs: the calling worker's loop, or the writer thread (direct calls).
    enum Delivery {
        case writerThread
        case loop(LoopExecutor)
    }

    private static let closedError = StoreError("store-closed")
    private static let writeFailedError = StoreError("store-write-failed")

    /// Calls `done(.success(value))` once writes up to `ticket` are committed (at once when `ticket` is 0:
    /// nothing was queued), or runs `undo` and calls `done(.failure(store-write-failed))` when they failed.
    private func whenCommitted<T: Sendable>(_ ticket: UInt64, _ value: T, delivery: Delivery,
                                            undo: (@Sendable () -> Void)? = nil,
                                            _ done: @escaping (Result<T, StoreError>) -> Void) {
        guard ticket > 0 else {
            done(.success(value))
            return
        }
        let finish: (Bool) -> Void = { committed in
            if !committed { undo?() }
            done(committed ? .success(value) : .failure(Self.writeFailedError))
        }
        switch delivery {
        case .writerThread:
            let unchecked = UncheckedCompletion(finish)
            writer.queue.whenDone(through: ticket) { unchecked.body($0) }
        case .loop(let executor):
            writer.queue.whenDone(through: ticket, executor.callback(finish))
        }
    }

    /// A delete's answer: whether a session ended (`ticket` non-nil), once that is committed.
    private func answer(_ ticket: Result<UInt64?, StoreError>, delivery: Delivery,
                        _ done: @escaping (Result<Bool, StoreError>) -> Void, _ ended: (UInt64?) -> Bool) {
        switch ticket {
        case .failure(let error): done(.failure(error))
        case .success(let ticket): whenCommitted(ticket ?? 0, ended(ticket), delivery: delivery, done)
        }
    }

    private func settle(_ outcome: Result<(ended: Int, ticket: UInt64), StoreError>, delivery: Delivery,
                        _ done: @escaping (Result<Int, StoreError>) -> Void) {
        switch outcome {
        case .failure(let error): done(.failure(error))
        case .success(let made): whenCommitted(made.ticket, made.ended, delivery: delivery, done)
        }
    }

    // MARK: Ending sessions (called with the lock held; each returns the ticket of its last write)

    /// Ends a session on purpose: a token-kind one's access tokens are refused from now on (and after a restart).
    private func end(_ key: SessionKey, in s: inout State, now: Int64) -> UInt64? {
        guard let record = s.tables.remove(key) else { return nil }
        let ticket = writer.queue.push(.delete(key))
        announceEnded([record.handle])
        return revokeIfToken(record, now: now) ?? ticket
    }

    /// Tells every worker that these sessions ended (under the state lock: the listeners' lock is never held
    /// while taking it, and posting to a loop only queues a job). Their tunnels close on their own loops.
    private func announceEnded(_ handles: [String]) {
        guard !handles.isEmpty else { return }
        for listener in endedListeners.withLock({ Array($0.values) }) { listener(handles) }
    }

    /// Registers `listener` as `owner`'s (a loop's face, or the store itself) handler for ended sessions.
    func listenForEnded(_ owner: ObjectIdentifier, _ listener: @escaping @Sendable ([String]) -> Void) {
        endedListeners.withLock { $0[owner] = listener }
    }

    /// Direct use of the shared store (tests, tools): `handler` runs on the thread that ends the session.
    package func onSessionsEnded(_ handler: @escaping ([String]) -> Void) {
        let unchecked = UncheckedEndedHandler(handler)
        listenForEnded(ObjectIdentifier(self)) { unchecked.body($0) }
    }

    /// Drops a session without revoking anything (it expired, or its creation was not durable).
    private func expire(_ key: SessionKey, in s: inout State) -> UInt64? {
        s.tables.remove(key) != nil ? writer.queue.push(.delete(key)) : nil
    }

    /// Ends all of `user`'s sessions with one DELETE for the file; returns how many were live.
    private func endAll(of user: String, in s: inout State, now: Int64) -> (ended: Int, ticket: UInt64) {
        let keys = s.tables.keys(of: user)
        guard !keys.isEmpty else { return (0, 0) }
        var ended = 0
        var ticket = writer.queue.push(.deleteSessions(of: user))
        var handles: [String] = []
        for key in keys {
            guard let record = s.tables.remove(key) else { continue }
            if let revoked = revokeIfToken(record, now: now) { ticket = revoked }
            if record.isLive(at: now) { ended += 1 }
            handles.append(record.handle)
        }
        announceEnded(handles)
        return (ended, ticket)
    }

    /// After inserting `sparing`, ends `user`'s oldest live sessions (by creation, then insertion) until at most
    /// `limit` remain (0 = no limit). Returns the ended handles.
    private func evict(beyond limit: Int, of user: String, sparing newest: SessionKey, in s: inout State,
                       now: Int64, ticket: inout UInt64) -> [String] {
        guard limit > 0 else { return [] }
        let live = s.tables.recordsOldestFirst(of: user).filter { $0.isLive(at: now) }
        guard live.count > limit else { return [] }
        let oldestFirst = live.filter { $0.key != newest }
        return oldestFirst.prefix(live.count - limit).compactMap { record in
            guard let ended = end(record.key, in: &s, now: now) else { return nil }
            ticket = ended
            return record.handle
        }
    }

    /// Revokes a token session's handle, in memory and in the file; the ticket of the file's write.
    private func revokeIfToken(_ record: SessionRecord, now: Int64) -> UInt64? {
        guard record.kind == .token else { return nil }
        revocations.revoke(record.handle, until: now + accessTokenTTL)
        return writer.queue.push(.revoke(record.handle, until: now + accessTokenTTL))
    }

    // MARK: Opening the file

    /// SQLite's own message for a missing directory is "unable to open database file"; say which directory.
    private static func checkDirectory(of path: String) throws(StoreError) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        switch FileSystem.kind(of: directory) {
        case .success(.directory):
            break
        case .success(.other):
            throw StoreError("session store \(path): \(directory) is not a directory")
        case .failure(let error):
            throw StoreError("session store \(path): directory \(directory): \(error)")
        }
    }

    private static func mappingErrors<T>(_ path: String, _ body: () throws(SQLiteError) -> T) throws(StoreError) -> T {
        do throws(SQLiteError) {
            return try body()
        } catch {
            throw StoreError("session store \(path): \(error.message)")
        }
    }

    /// Sets the journal mode, creates the tables in a new file and upgrades a version 1 file; returns the file's
    /// schema version.
    private static func prepareSchema(_ db: SQLiteDatabase) throws(SQLiteError) -> Int64 {
        // WAL: readers (a backup, an sqlite3 shell) never block the writer. NORMAL: in WAL mode a commit survives
        // a process crash; only the last commits before a power loss can be lost, which costs a sign-in at worst.
        try db.exec("PRAGMA journal_mode=WAL")
        try db.exec("PRAGMA synchronous=NORMAL")
        let version = try db.int64("PRAGMA user_version") ?? 0
        guard version >= 0, version < schemaVersion else { return version }
        try db.transaction { () throws(SQLiteError) in
            if version == 0 {
                try db.exec("""
                    CREATE TABLE IF NOT EXISTS sessions (
                        key BLOB PRIMARY KEY NOT NULL,
                        handle TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL,
                        user TEXT NOT NULL,
                        email TEXT,
                        groups TEXT NOT NULL,
                        display_name TEXT,
                        created INTEGER NOT NULL,
                        last_seen INTEGER NOT NULL,
                        expires INTEGER NOT NULL,
                        idle_timeout INTEGER NOT NULL,
                        user_agent TEXT NOT NULL,
                        client_address TEXT NOT NULL,
                        refresh_key BLOB,
                        provider TEXT,
                        provider_sid TEXT,
                        provider_sub TEXT,
                        id_token TEXT
                    ) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
                    CREATE TABLE IF NOT EXISTS spent_refresh (
                        key BLOB PRIMARY KEY NOT NULL,
                        session_key BLOB NOT NULL,
                        expires INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS disabled_users (user TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
                    """)
            }
            // Version 3: the provider sign-in of a session, how the user signed in (`amr`), the logout tokens seen
            // and the TOTP steps already used. Columns are added only where missing (a file made by version 0's
            // CREATE above already has the provider ones).
            let columns = [("provider", "TEXT"), ("provider_sid", "TEXT"), ("provider_sub", "TEXT"),
                           ("id_token", "TEXT"), ("amr", "TEXT NOT NULL DEFAULT ''")]
            for (column, type) in columns {
                let present = try db.int64("SELECT count(*) FROM pragma_table_info('sessions') WHERE name = '\(column)'")
                if present == 0 { try db.exec("ALTER TABLE sessions ADD COLUMN \(column) \(type)") }
            }
            // Version 2: revocations survive a restart; spent keys are found (and dropped) by their session.
            try db.exec("""
                CREATE TABLE IF NOT EXISTS revoked (handle TEXT PRIMARY KEY NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS changes (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    writer INTEGER NOT NULL,
                    op TEXT NOT NULL,
                    key BLOB,
                    name TEXT,
                    until INTEGER,
                    at INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS spent_refresh_session ON spent_refresh(session_key);
                CREATE TABLE IF NOT EXISTS logout_tokens (id TEXT PRIMARY KEY NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS second_factor (user TEXT PRIMARY KEY NOT NULL, last_step INTEGER NOT NULL) WITHOUT ROWID;
                PRAGMA user_version = \(schemaVersion);
                """)
        }
        return schemaVersion
    }

    /// Reads the file into memory, the revocations onto `revocations`; deletes rows this code cannot read and
    /// spent keys without a session (or past the per-session cap). Sessions are loaded live or not: expiry is
    /// for `lookup` to check and for the purge to act on.
    private static func load(_ db: SQLiteDatabase, now: Int64, revocations: RevocationList) throws(SQLiteError)
        -> SessionTables
    {
        var tables = SessionTables()
        try db.transaction { () throws(SQLiteError) in
            try db.exec("""
                DELETE FROM sessions WHERE length(key) != 32 OR kind NOT IN ('cookie', 'token')
                    OR (refresh_key IS NOT NULL AND length(refresh_key) != 32);
                DELETE FROM spent_refresh WHERE session_key NOT IN (SELECT key FROM sessions);
                """)
        }
        try db.prepare("SELECT \(sessionColumns) FROM sessions ORDER BY created, last_seen").forEachRow { row in
            if let record = decodeSession(row) { tables.insert(record, persistedLastSeen: record.lastSeenAt) }
        }
        var extraSpent: [SessionKey] = []
        try db.prepare("SELECT key, session_key, expires FROM spent_refresh").forEachRow { row in
            guard let key = SessionKey(bytes: row.blob(at: 0)), let session = SessionKey(bytes: row.blob(at: 1)) else {
                return
            }
            if !tables.restoreSpent(key, of: session, expiresAt: row.int64(at: 2)) { extraSpent.append(key) }
        }
        if !extraSpent.isEmpty {
            try db.transaction { () throws(SQLiteError) in
                let delete = try db.prepare("DELETE FROM spent_refresh WHERE key = ?1")
                for key in extraSpent { try delete.execute(.blob(key.bytes)) }
            }
        }
        try db.prepare("SELECT user, last_step FROM second_factor").forEachRow { row in
            tables.secondFactor.restore(user: row.text(at: 0), step: row.int64(at: 1))
        }
        try db.prepare("SELECT user FROM disabled_users").forEachRow { row in
            tables.disabledUsers.insert(row.text(at: 0))
        }
        // Kept whatever `now` says: the purge drops them, by a clock it checks.
        try db.prepare("SELECT handle, until FROM revoked").forEachRow { row in
            revocations.revoke(row.text(at: 0), until: row.int64(at: 1))
        }
        try db.prepare("SELECT id, until FROM logout_tokens").forEachRow { row in
            tables.usedLogoutTokens.restore(row.text(at: 0), until: row.int64(at: 1))
        }
        return tables
    }

    /// The columns `decodeSession` reads, in its order.
    static let sessionColumns = "key, handle, kind, user, email, groups, display_name, created, last_seen, expires, "
        + "idle_timeout, user_agent, client_address, refresh_key, provider, provider_sid, provider_sub, id_token, amr"

    static func decodeSession(_ row: SQLiteStatement) -> SessionRecord? {
        guard let key = SessionKey(bytes: row.blob(at: 0)), let kind = SessionRecord.Kind(rawValue: row.text(at: 2))
        else { return nil }
        var refreshKey: SessionKey?
        if !row.isNull(at: 13) {
            guard let stored = SessionKey(bytes: row.blob(at: 13)) else { return nil }
            refreshKey = stored
        }
        var provider: ProviderLink?
        if !row.isNull(at: 14), !row.isNull(at: 16) {
            provider = ProviderLink(name: row.text(at: 14), sid: row.isNull(at: 15) ? nil : row.text(at: 15),
                                    subject: row.text(at: 16), idToken: row.isNull(at: 17) ? nil : row.text(at: 17))
        }
        var record = SessionRecord(
            key: key, handle: row.text(at: 1), kind: kind, user: row.text(at: 3),
            email: row.isNull(at: 4) ? nil : row.text(at: 4), groups: SessionGroups.decode(row.text(at: 5)),
            displayName: row.isNull(at: 6) ? nil : row.text(at: 6), createdAt: row.int64(at: 7),
            lastSeenAt: row.int64(at: 8), expiresAt: row.int64(at: 9), idleTimeout: row.int64(at: 10),
            userAgent: row.text(at: 11), clientAddress: row.text(at: 12), refreshKey: refreshKey, provider: provider)
        record.amr = row.text(at: 18).split(separator: " ").map(String.init)
        return record
    }
}
