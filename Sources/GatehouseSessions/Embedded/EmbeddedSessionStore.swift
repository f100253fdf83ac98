import GatehouseIO
import Glibc
import Synchronization

/// The default session backend: every session in memory, mirrored to an SQLite file so sessions survive a
/// restart. One instance is shared by all workers.
///
/// Reads and changes happen in memory under one `Mutex` and answer at once; each change also queues a write
/// for a single writer thread, which applies queued writes in batches, one transaction each. No disk I/O ever
/// happens on a caller's thread (except in `init`, which loads the file, and `flush`/`close`, which wait).
///
/// `@unchecked Sendable` is sound because all mutable state is inside `state` (a `Mutex`); the writer's
/// connection is touched only by the writer thread, which is fed through its own locked queue; and the thread
/// handle is joined only by the one `close` call that flips `closed`.
///
/// File schema (`PRAGMA user_version` = 1):
///
///     sessions(key BLOB PRIMARY KEY,      -- SessionKey.bytes (32), the hash of the session ID
///              handle TEXT UNIQUE, kind TEXT ('cookie' | 'token'), user TEXT, email TEXT NULL,
///              groups TEXT,                -- newline-joined; group names cannot contain a newline
///              display_name TEXT NULL, created INTEGER, last_seen INTEGER, expires INTEGER,
///              idle_timeout INTEGER, user_agent TEXT, client_address TEXT,
///              refresh_key BLOB NULL)      -- token kind: hash of the current refresh token
///     INDEX sessions_user ON sessions(user)
///     spent_refresh(key BLOB PRIMARY KEY, session_key BLOB, expires INTEGER)
///     disabled_users(user TEXT PRIMARY KEY)
///
/// Times are Unix seconds. `last_seen` lags memory by up to `lastSeenWriteInterval`, so after a restart a
/// session may idle out up to that much early; never late.
package final class EmbeddedSessionStore: SessionStore, @unchecked Sendable {
    /// How far the in-memory `lastSeenAt` may run ahead of the file before a write is queued: sliding expiry
    /// costs one write per session per minute at most, never one per request.
    package static let lastSeenWriteInterval: Int64 = 60
    static let schemaVersion: Int64 = 1

    private struct State {
        var tables: SessionTables
        var clock: @Sendable () -> Int64
        var closed = false
    }

    private let state: Mutex<State>
    private let writer: SessionWriter
    private let writerThread: LoopThread
    private let revocations: RevocationList
    private let accessTokenTTL: Int64
    package let path: String

    /// Opens (or creates) the session file at `path` and loads every session live at `now`; expired rows are
    /// deleted. The directory must exist.
    /// - Parameter accessTokenTTL: how long an access token lives: a revoked token session's handle stays on
    ///   `revocations` that long.
    /// - Throws: `StoreError` when the directory is missing, the file cannot be opened, is not a session store,
    ///   or the writer thread cannot start.
    package init(path: String, accessTokenTTL: Int64, revocations: RevocationList, now: Int64) throws(StoreError) {
        try Self.checkDirectory(of: path)
        self.path = path
        self.revocations = revocations
        self.accessTokenTTL = accessTokenTTL
        let database = try Self.mappingErrors(path) { () throws(SQLiteError) in
            try SQLiteDatabase(path: path, mode: .readWriteCreate)
        }
        let version = try Self.mappingErrors(path) { () throws(SQLiteError) in try Self.prepareSchema(database) }
        guard version == Self.schemaVersion else {
            throw StoreError(
                "session store \(path): schema version \(version), but this gatehouse knows only \(Self.schemaVersion)")
        }
        let tables = try Self.mappingErrors(path) { () throws(SQLiteError) in try Self.load(database, now: now) }
        let writer = try Self.mappingErrors(path) { () throws(SQLiteError) in try SessionWriter(database: database) }
        self.writer = writer
        state = Mutex(State(tables: tables, clock: { Int64(time(nil)) }))
        do {
            writerThread = try LoopThread(name: "gh-sessions") { writer.run() }
        } catch {
            throw StoreError("session store \(path): cannot start the writer thread: \(error)")
        }
    }

    deinit { close() }

    /// The time used by calls that take no `now` (revocation deadlines of `delete`, `deleteAll`, `setDisabled`).
    /// Unix wall-clock seconds unless a test sets it.
    package var clock: @Sendable () -> Int64 {
        get { state.withLock { $0.clock } }
        set { state.withLock { $0.clock = newValue } }
    }

    /// Sessions in memory (for metrics). Ones past their expiry count until the next `purgeExpired`.
    package var liveSessionCount: Int { state.withLock { $0.tables.sessions.count } }

    /// Writes the writer could not apply (each is logged). Non-zero means the file lags memory.
    package var diskWriteFailures: Int { writer.failures.load(ordering: .relaxed) }

    /// Blocks until everything queued so far is in the file.
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
        writer.queue.close()
        writerThread.join()
    }

    // MARK: SessionStore

    package func lookup(_ key: SessionKey, now: Int64) -> SessionLookup {
        state.withLock { s in
            guard !s.closed else { return .unavailable(Self.closedError) }
            switch s.tables.touch(key, now: now, writeInterval: Self.lastSeenWriteInterval) {
            case .live(let session, let persist):
                if let persist { writer.queue.push(.touch(key, lastSeen: persist)) }
                return .active(session)
            case .expired:
                expire(key, in: &s)
                return .absent
            case .notFound:
                return .absent
            }
        }
    }

    package func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void) {
        done(lookup(key, now: now))
    }

    package func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                        _ done: @escaping (Result<[String], StoreError>) -> Void) {
        done(state.withLock { s -> Result<[String], StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            guard !s.tables.disabledUsers.contains(record.user) else { return .failure(StoreError("user-disabled")) }
            // A newline would split one group into several when the file is read back: a privilege change.
            guard record.groups.allSatisfy(SessionGroups.isStorable) else {
                return .failure(StoreError("group-name-contains-newline"))
            }
            let collides = s.tables.isKnown(record.key) || s.tables.keyByHandle[record.handle] != nil
                || (record.refreshKey.map { s.tables.isKnown($0) } ?? false)
            guard !collides else { return .failure(StoreError("duplicate-session")) }

            s.tables.insert(record, persistedLastSeen: record.lastSeenAt)
            writer.queue.push(.insert(record))
            return .success(evict(beyond: maxPerUser, of: record.user, sparing: record.key, in: &s, now: now))
        })
    }

    package func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        done(state.withLock { s -> Result<Bool, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(end(key, in: &s, now: s.clock()) != nil)
        })
    }

    package func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        done(state.withLock { s -> Result<Bool, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            // Only the owner may end a session by handle: handles are shown in device lists and JWTs.
            guard let key = s.tables.keyByHandle[handle], s.tables.record(key)?.user == user else {
                return .success(false)
            }
            return .success(end(key, in: &s, now: s.clock()) != nil)
        })
    }

    package func sessions(of user: String, now: Int64,
                          _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void) {
        done(state.withLock { s -> Result<[SessionRecord], StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(s.tables.recordsOldestFirst(of: user).filter { $0.isLive(at: now) }.reversed())
        })
    }

    package func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        done(state.withLock { s -> Result<Int, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(endAll(of: user, in: &s, now: s.clock()))
        })
    }

    package func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                               _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        // One lock for the whole decision: of two racing presentations of one token, the first rotates and the
        // second finds it spent.
        done(state.withLock { s -> Result<RefreshOutcome, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            if let key = s.tables.sessionByRefresh[presented], let record = s.tables.record(key),
               record.kind == .token {
                guard record.isLive(at: now) else {
                    expire(key, in: &s)
                    return .success(.invalid)
                }
                guard !s.tables.isKnown(next) else { return .failure(StoreError("refresh-key-collision")) }
                let rotated = s.tables.rotate(key, presented: presented, next: next, now: now)
                writer.queue.push(.rotate(key, refreshKey: next, lastSeen: rotated.lastSeenAt, spent: presented,
                                          spentExpires: rotated.expiresAt))
                return .success(.rotated(rotated))
            }
            // A spent token presented again: it leaked, so the whole session goes (OAuth 2.0 Security BCP).
            if let spent = s.tables.spentRefresh[presented], let ended = end(spent.session, in: &s, now: now) {
                return .success(.reused(handle: ended.handle, user: ended.user))
            }
            return .success(.invalid)
        })
    }

    package func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        done(state.withLock { s -> Result<Int, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            if disabled {
                if s.tables.disabledUsers.insert(user).inserted { writer.queue.push(.disable(user)) }
                return .success(endAll(of: user, in: &s, now: s.clock()))
            }
            if s.tables.disabledUsers.remove(user) != nil { writer.queue.push(.enable(user)) }
            return .success(0)
        })
    }

    package func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        done(state.withLock { s -> Result<Bool, StoreError> in
            guard !s.closed else { return .failure(Self.closedError) }
            return .success(s.tables.disabledUsers.contains(user))
        })
    }

    /// Removes sessions and spent refresh keys not live at `now` (the server calls this every minute); returns
    /// how many sessions ended. Expiry revokes nothing: an expired session's access tokens die on their own.
    package func purgeExpired(now: Int64) -> Int {
        state.withLock { s in
            guard !s.closed else { return 0 }
            let dead = s.tables.deadKeys(at: now)
            // Those past their hard end go in one range DELETE; only the idle-expired need deleting by key.
            var idleExpired: [SessionKey] = []
            for key in dead {
                if let record = s.tables.remove(key), record.expiresAt > now { idleExpired.append(key) }
            }
            let spentPurged = s.tables.purgeSpent(at: now)
            if !dead.isEmpty || spentPurged > 0 { writer.queue.push(.purge(now: now, idleExpired: idleExpired)) }
            return dead.count
        }
    }

    // MARK: Ending sessions (called with the lock held)

    private static let closedError = StoreError("store-closed")

    /// Ends a session on purpose: a token-kind one's access tokens are refused from now on.
    private func end(_ key: SessionKey, in s: inout State, now: Int64) -> SessionRecord? {
        guard let record = s.tables.remove(key) else { return nil }
        revokeIfToken(record, now: now)
        writer.queue.push(.delete(key))
        return record
    }

    /// Drops a session that expired by itself.
    private func expire(_ key: SessionKey, in s: inout State) {
        if s.tables.remove(key) != nil { writer.queue.push(.delete(key)) }
    }

    /// Ends all of `user`'s sessions with one DELETE for the file; returns how many were live.
    private func endAll(of user: String, in s: inout State, now: Int64) -> Int {
        let keys = s.tables.keys(of: user)
        guard !keys.isEmpty else { return 0 }
        var ended = 0
        for key in keys {
            guard let record = s.tables.remove(key) else { continue }
            revokeIfToken(record, now: now)
            if record.isLive(at: now) { ended += 1 }
        }
        writer.queue.push(.deleteSessions(of: user))
        return ended
    }

    /// After inserting `sparing`, ends `user`'s oldest live sessions (by creation, then insertion) until at most
    /// `limit` remain (0 = no limit). Returns the ended handles.
    private func evict(beyond limit: Int, of user: String, sparing newest: SessionKey, in s: inout State,
                       now: Int64) -> [String] {
        guard limit > 0 else { return [] }
        var live: [SessionRecord] = []
        for record in s.tables.recordsOldestFirst(of: user) {
            if record.isLive(at: now) { live.append(record) } else { expire(record.key, in: &s) }
        }
        guard live.count > limit else { return [] }
        let oldestFirst = live.filter { $0.key != newest }
        return oldestFirst.prefix(live.count - limit).compactMap { end($0.key, in: &s, now: now)?.handle }
    }

    private func revokeIfToken(_ record: SessionRecord, now: Int64) {
        if record.kind == .token { revocations.revoke(record.handle, until: now + accessTokenTTL) }
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
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw StoreError("session store \(path): directory \(directory): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError("session store \(path): \(directory) is not a directory")
        }
    }

    private static func mappingErrors<T>(_ path: String, _ body: () throws(SQLiteError) -> T) throws(StoreError) -> T {
        do throws(SQLiteError) {
            return try body()
        } catch {
            throw StoreError("session store \(path): \(error.message)")
        }
    }

    /// Sets the journal mode and creates the tables in a new file; returns the file's schema version.
    private static func prepareSchema(_ db: SQLiteDatabase) throws(SQLiteError) -> Int64 {
        // WAL: readers (a backup, an sqlite3 shell) never block the writer. NORMAL: in WAL mode a commit survives
        // a process crash; only the last commits before a power loss can be lost, which costs a sign-in at worst.
        try db.exec("PRAGMA journal_mode=WAL")
        try db.exec("PRAGMA synchronous=NORMAL")
        let version = try db.int64("PRAGMA user_version") ?? 0
        guard version == 0 else { return version }
        try db.transaction { () throws(SQLiteError) in
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
                    refresh_key BLOB
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);
                CREATE TABLE IF NOT EXISTS spent_refresh (
                    key BLOB PRIMARY KEY NOT NULL,
                    session_key BLOB NOT NULL,
                    expires INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS disabled_users (user TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
                PRAGMA user_version = \(schemaVersion);
                """)
        }
        return schemaVersion
    }

    /// Reads the file into memory, deleting what is no longer live at `now` (and rows this code cannot read).
    private static func load(_ db: SQLiteDatabase, now: Int64) throws(SQLiteError) -> SessionTables {
        var tables = SessionTables()
        var dead: [SessionKey] = []
        try db.prepare("""
            SELECT key, handle, kind, user, email, groups, display_name, created, last_seen, expires, idle_timeout, \
            user_agent, client_address, refresh_key FROM sessions ORDER BY created, last_seen
            """).forEachRow { row in
            guard let record = decodeSession(row) else { return }
            if record.isLive(at: now) {
                tables.insert(record, persistedLastSeen: record.lastSeenAt)
            } else {
                dead.append(record.key)
            }
        }
        try db.transaction { () throws(SQLiteError) in
            let delete = try db.prepare("DELETE FROM sessions WHERE key = ?1")
            for key in dead { try delete.execute(.blob(key.bytes)) }
            try db.exec("""
                DELETE FROM sessions WHERE length(key) != 32 OR kind NOT IN ('cookie', 'token')
                    OR (refresh_key IS NOT NULL AND length(refresh_key) != 32);
                DELETE FROM spent_refresh WHERE expires <= \(now) OR session_key NOT IN (SELECT key FROM sessions);
                """)
        }
        try db.prepare("SELECT key, session_key, expires FROM spent_refresh").forEachRow { row in
            guard let key = SessionKey(bytes: row.blob(at: 0)), let session = SessionKey(bytes: row.blob(at: 1)),
                  tables.record(session) != nil
            else { return }
            tables.spentRefresh[key] = SpentRefresh(session: session, expiresAt: row.int64(at: 2))
        }
        try db.prepare("SELECT user FROM disabled_users").forEachRow { row in
            tables.disabledUsers.insert(row.text(at: 0))
        }
        return tables
    }

    private static func decodeSession(_ row: SQLiteStatement) -> SessionRecord? {
        guard let key = SessionKey(bytes: row.blob(at: 0)), let kind = SessionRecord.Kind(rawValue: row.text(at: 2))
        else { return nil }
        var refreshKey: SessionKey?
        if !row.isNull(at: 13) {
            guard let stored = SessionKey(bytes: row.blob(at: 13)) else { return nil }
            refreshKey = stored
        }
        return SessionRecord(
            key: key, handle: row.text(at: 1), kind: kind, user: row.text(at: 3),
            email: row.isNull(at: 4) ? nil : row.text(at: 4), groups: SessionGroups.decode(row.text(at: 5)),
            displayName: row.isNull(at: 6) ? nil : row.text(at: 6), createdAt: row.int64(at: 7),
            lastSeenAt: row.int64(at: 8), expiresAt: row.int64(at: 9), idleTimeout: row.int64(at: 10),
            userAgent: row.text(at: 11), clientAddress: row.text(at: 12), refreshKey: refreshKey)
    }
}
