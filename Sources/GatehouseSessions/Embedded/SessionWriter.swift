import GatehouseIO
import Logging
import Synchronization

/// One change to the session file. The store queues these while it holds its lock, so the file sees changes in
/// the order memory made them.
enum SessionWrite: Sendable {
    case insert(SessionRecord)
    /// A session and its spent refresh keys.
    case delete(SessionKey)
    /// Every session of a user and their spent refresh keys.
    case deleteSessions(of: String)
    case touch(SessionKey, lastSeen: Int64)
    /// `forget`: the spent key that fell off the per-session cap.
    case rotate(SessionKey, refreshKey: SessionKey, lastSeen: Int64, spent: SessionKey, spentExpires: Int64,
                forget: SessionKey?)
    /// Undoes a rotation whose commit failed (the client never got the new token).
    case unrotate(SessionKey, refreshKey: SessionKey, spent: SessionKey)
    case disable(String)
    case enable(String)
    /// A token session's handle, refused until `until` (kept across a restart).
    case revoke(String, until: Int64)
    /// Sessions that ended by expiry (one purge batch), with their spent keys.
    case purge([SessionKey])
    /// Revocations whose access tokens have all expired (and logout tokens past their replay window).
    case purgeRevoked(now: Int64)
    /// A back-channel logout token's ID, remembered until `until` (its replay is refused).
    case logoutToken(String, until: Int64)
    /// The last TOTP step accepted for a user; `nil`: forget it (second-factor reset).
    case secondFactorStep(user: String, step: Int64?)
}

/// A change another process committed to the file, for this one's memory.
enum RemoteChange: Sendable {
    /// A session as the file now holds it (new, or its refresh key rotated).
    case upsert(SessionRecord)
    case delete(SessionKey)
    case deleteUser(String)
    case disable(String)
    case enable(String)
    case revoke(String, until: Int64)
    case logoutToken(String, until: Int64)
}

/// The writer's inbox: a queue in a `ConditionLock` (GatehouseIO), which wakes the writer when work arrives and
/// wakes `waitUntilWritten` callers when a batch is done.
///
/// Every write gets a sequence number; `whenDone(through:)` runs a callback once every write up to that number
/// is committed (true) or its batch has failed every retry (false). That is how the store answers a logout only
/// once its DELETE is in the file.
final class WriteQueue: Sendable {
    private struct State {
        var pending: [SessionWrite] = []
        var queuedCount: UInt64 = 0
        /// Writes up to here are committed.
        var committedCount: UInt64 = 0
        /// Writes up to here were tried (committed, or their batch failed every retry).
        var attemptedCount: UInt64 = 0
        /// Writes up to here were tried and their waiters called (what `waitUntilWritten` waits for).
        var deliveredCount: UInt64 = 0
        var waiters: [(through: UInt64, done: @Sendable (Bool) -> Void)] = []
        var closing = false
    }

    private let state = ConditionLock(State())

    /// Queues a write for the writer thread and returns its sequence number. Never blocks on I/O. Ignored once
    /// the queue is closing (returns 0, which counts as done).
    @discardableResult
    func push(_ write: SessionWrite) -> UInt64 {
        state.withLockWakingWaiters { s in
            guard !s.closing else { return 0 }
            s.pending.append(write)
            s.queuedCount += 1
            return s.queuedCount
        }
    }

    /// Calls `done(true)` once every write up to `through` is committed, `done(false)` when the batch holding one
    /// of them failed every retry. At once (on this thread) when that is already known; otherwise on the writer
    /// thread.
    func whenDone(through: UInt64, _ done: @escaping @Sendable (Bool) -> Void) {
        let known: Bool? = state.withLock { s in
            if s.committedCount >= through { return true }
            if s.attemptedCount >= through { return false }
            s.waiters.append((through, done))
            return nil
        }
        if let known { done(known) }
    }

    /// The writer's side: blocks until there is work or `timeout` passes, then takes all of it (possibly nothing)
    /// with the sequence number of its last write. Nil once closed and drained.
    func nextBatch(timeout: Duration) -> (writes: [SessionWrite], through: UInt64)? {
        state.withLock(when: { !$0.pending.isEmpty || $0.closing }, timeout: timeout) { s in
            if s.pending.isEmpty && s.closing { return nil }
            let batch = s.pending
            s.pending.removeAll(keepingCapacity: true)
            return (batch, s.queuedCount)
        }
    }

    /// The writer's side: every write up to `through` is committed (`true`) or was given up on for now (`false`).
    func markDone(through: UInt64, committed: Bool) {
        let ready: [(through: UInt64, done: @Sendable (Bool) -> Void)] = state.withLockWakingWaiters { s in
            s.attemptedCount = max(s.attemptedCount, through)
            if committed { s.committedCount = max(s.committedCount, through) }
            let ready = s.waiters.filter { $0.through <= through }
            s.waiters.removeAll { $0.through <= through }
            return ready
        }
        for waiter in ready { waiter.done(committed) }
        state.withLockWakingWaiters { s in s.deliveredCount = max(s.deliveredCount, through) }
    }

    /// Blocks until every write queued before this call was tried (committed, or failed every retry) and the
    /// callers waiting on it were called.
    func waitUntilWritten() {
        let target = state.withLock { $0.queuedCount }
        state.withLock(when: { $0.deliveredCount >= target }) { _ in }
    }

    /// Lets the writer finish what is queued and then stop.
    func close() {
        state.withLockWakingWaiters { $0.closing = true }
    }
}

/// The statements the writer runs, compiled once.
private struct WriterStatements {
    let insert: SQLiteStatement
    let delete: SQLiteStatement
    let deleteSpentOfSession: SQLiteStatement
    let deleteOfUser: SQLiteStatement
    let deleteSpentOfUser: SQLiteStatement
    let touch: SQLiteStatement
    let setRefresh: SQLiteStatement
    let insertSpent: SQLiteStatement
    let deleteSpent: SQLiteStatement
    let disable: SQLiteStatement
    let enable: SQLiteStatement
    let revoke: SQLiteStatement
    let purgeRevoked: SQLiteStatement
    let logoutToken: SQLiteStatement
    let purgeLogoutTokens: SQLiteStatement
    let logChange: SQLiteStatement
    let purgeChanges: SQLiteStatement
    let readChanges: SQLiteStatement
    let readSession: SQLiteStatement
    let setSecondFactorStep: SQLiteStatement
    let clearSecondFactorStep: SQLiteStatement

    init(_ db: SQLiteDatabase) throws(SQLiteError) {
        insert = try db.prepare("""
            INSERT OR REPLACE INTO sessions (key, handle, kind, user, email, groups, display_name, created, \
            last_seen, expires, idle_timeout, user_agent, client_address, refresh_key, provider, provider_sid, \
            provider_sub, id_token, amr) \
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
            """)
        delete = try db.prepare("DELETE FROM sessions WHERE key = ?1")
        deleteSpentOfSession = try db.prepare("DELETE FROM spent_refresh WHERE session_key = ?1")
        deleteOfUser = try db.prepare("DELETE FROM sessions WHERE user = ?1")
        deleteSpentOfUser = try db.prepare(
            "DELETE FROM spent_refresh WHERE session_key IN (SELECT key FROM sessions WHERE user = ?1)")
        touch = try db.prepare("UPDATE sessions SET last_seen = ?2 WHERE key = ?1")
        setRefresh = try db.prepare("UPDATE sessions SET refresh_key = ?2, last_seen = max(last_seen, ?3) WHERE key = ?1")
        insertSpent = try db.prepare(
            "INSERT OR REPLACE INTO spent_refresh (key, session_key, expires) VALUES (?1, ?2, ?3)")
        deleteSpent = try db.prepare("DELETE FROM spent_refresh WHERE key = ?1")
        disable = try db.prepare("INSERT OR IGNORE INTO disabled_users (user) VALUES (?1)")
        enable = try db.prepare("DELETE FROM disabled_users WHERE user = ?1")
        revoke = try db.prepare(
            "INSERT INTO revoked (handle, until) VALUES (?1, ?2) ON CONFLICT(handle) DO UPDATE SET until = max(until, ?2)")
        purgeRevoked = try db.prepare("DELETE FROM revoked WHERE until <= ?1")
        logoutToken = try db.prepare(
            "INSERT INTO logout_tokens (id, until) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET until = max(until, ?2)")
        purgeLogoutTokens = try db.prepare("DELETE FROM logout_tokens WHERE until <= ?1")
        logChange = try db.prepare("""
            INSERT INTO changes (writer, op, key, name, until, at) \
            VALUES (?1, ?2, ?3, ?4, ?5, CAST(strftime('%s', 'now') AS INTEGER))
            """)
        readChanges = try db.prepare(
            "SELECT seq, op, key, name, until FROM changes WHERE seq > ?1 AND writer != ?2 ORDER BY seq")
        setSecondFactorStep = try db.prepare("""
            INSERT INTO second_factor (user, last_step) VALUES (?1, ?2) \
            ON CONFLICT(user) DO UPDATE SET last_step = max(last_step, ?2)
            """)
        clearSecondFactorStep = try db.prepare("DELETE FROM second_factor WHERE user = ?1")
        readSession = try db.prepare("SELECT \(EmbeddedSessionStore.sessionColumns) FROM sessions WHERE key = ?1")
        purgeChanges = try db.prepare(
            "DELETE FROM changes WHERE at <= CAST(strftime('%s', 'now') AS INTEGER) - \(SessionWriter.changeRetention)")
    }
}

/// Applies queued writes to the file on its own thread (a one-thread `BlockingPool`, the gateway's one way to run
/// work off a loop: one thread keeps the writes in queue order), each batch (everything queued since the last one) in
/// one transaction, so a burst of sign-ins costs one commit rather than one per session.
///
/// A batch that cannot be committed (disk full, the file locked by another process, an I/O error) is retried a
/// few times within about a second and a half; then the store turns unhealthy (readiness 503, the metric, an
/// error in the log), the callers waiting on it get a failure, and the writer keeps the batch and tries again
/// every `retryInterval` (with whatever was queued since) until the file takes it. Nothing is dropped.
///
/// Each committed change also gets a row in the file's change log, and between batches the writer reads the rows
/// other processes wrote (when `PRAGMA data_version` says another connection committed): a second gateway on
/// the same file during a binary upgrade.
///
/// The connection and statements are touched only by the writer thread once it has started.
final class SessionWriter: @unchecked Sendable {
    /// Seconds a change-log row is kept at least (the purge, once a minute, drops older ones): another process
    /// on the same file reads it within `pollInterval`. Short, so a storm of refreshes cannot grow the file.
    static let changeRetention = 60
    let queue = WriteQueue()
    /// This process's name in the change log (its own rows are not read back).
    let writerID = Int64.random(in: 1...Int64.max)
    /// Changes other processes committed to the file (a second gateway during a binary upgrade), in order:
    /// the store applies them to its memory (set once the store is built, while the thread may already run).
    let onRemoteChanges = Mutex<(@Sendable ([RemoteChange]) -> Void)?>(nil)
    /// The highest change-log row read (or, at start, the highest there was).
    var lastChangeSeen: Int64 = 0
    /// Batches that failed every retry, and single writes the file refused (a constraint): the metric.
    let failures = Atomic<Int>(0)
    /// False from a batch that failed every retry until one commits again.
    let healthy = Atomic<Bool>(true)
    private let database: SQLiteDatabase
    private let statements: WriterStatements
    private let logger = Logger(label: "gatehouse.sessions")
    /// Pauses between the attempts of one batch (the busy timeout of each attempt comes on top).
    private let retryPauses: [Duration]
    /// Between attempts while unhealthy.
    private let retryInterval: Duration
    /// How often the file is checked for other processes' commits (`PRAGMA data_version`, a shared-memory read).
    private let pollInterval: Duration = .milliseconds(250)
    private var dataVersion: Int64 = -1
    private var lastPoll: UInt64 = 0

    init(database: SQLiteDatabase, retryPauses: [Duration] = [.milliseconds(20), .milliseconds(80), .milliseconds(320)],
         retryInterval: Duration = .seconds(1)) throws(SQLiteError) {
        self.database = database
        self.retryPauses = retryPauses
        self.retryInterval = retryInterval
        statements = try WriterStatements(database)
    }

    /// The writer thread's body: drains batches until the queue is closed and empty, then closes the file.
    func run() {
        var carried: [SessionWrite] = []
        var lastFailureLog: UInt64 = 0
        while let next = queue.nextBatch(timeout: carried.isEmpty ? pollInterval : retryInterval) {
            pollIfDue()
            guard !next.writes.isEmpty || !carried.isEmpty else { continue }
            let writes = carried + next.writes
            // While unhealthy, one attempt per interval: a logout waiting on it gets its answer within about that.
            let pauses = carried.isEmpty ? retryPauses : []
            if let error = commit(writes, pauses: pauses) {
                carried = writes
                failures.add(1, ordering: .relaxed)
                let wasHealthy = healthy.exchange(false, ordering: .relaxed)
                let now = Clocks.monotonicNanoseconds()
                if wasHealthy || now &- lastFailureLog >= 60_000_000_000 {
                    lastFailureLog = now
                    logger.error("session store write failed; the store is unhealthy until the file takes writes again", metadata: [
                        "path": "\(database.path)", "error": "\(error)", "pending_writes": "\(writes.count)",
                    ])
                }
                queue.markDone(through: next.through, committed: false)
            } else {
                if !carried.isEmpty {
                    logger.notice("session store writes succeed again", metadata: [
                        "path": "\(database.path)", "writes": "\(writes.count)",
                    ])
                }
                carried = []
                healthy.store(true, ordering: .relaxed)
                queue.markDone(through: next.through, committed: true)
            }
        }
        // Closing while the file still refuses writes: one last try, then say what is lost.
        if !carried.isEmpty, let error = commit(carried, pauses: []) {
            logger.error("session store closed with writes the file never took", metadata: [
                "path": "\(database.path)", "error": "\(error)", "lost_writes": "\(carried.count)",
            ])
        }
        database.close()
    }

    /// Reads what other processes committed since the last look, at most every `pollInterval`.
    private func pollIfDue() {
        let now = Clocks.monotonicNanoseconds()
        guard now &- lastPoll >= 200_000_000, let onRemoteChanges = onRemoteChanges.withLock({ $0 }) else { return }
        lastPoll = now
        do throws(SQLiteError) {
            // Changes only when another connection committed: the common case costs this one pragma.
            let version = try database.int64("PRAGMA data_version") ?? 0
            guard version != dataVersion else { return }
            dataVersion = version
            var changes: [RemoteChange] = []
            var rows: [(seq: Int64, op: String, key: [UInt8], name: String, until: Int64)] = []
            try statements.readChanges.forEachRow(.integer(lastChangeSeen), .integer(writerID)) { row in
                rows.append((row.int64(at: 0), row.text(at: 1), row.blob(at: 2), row.text(at: 3), row.int64(at: 4)))
            }
            for row in rows {
                lastChangeSeen = max(lastChangeSeen, row.seq)
                let key = SessionKey(bytes: row.key)
                switch row.op {
                case "upsert":
                    guard let key else { continue }
                    try statements.readSession.forEachRow(.blob(key.bytes)) { session in
                        if let record = EmbeddedSessionStore.decodeSession(session) { changes.append(.upsert(record)) }
                    }
                case "delete": if let key { changes.append(.delete(key)) }
                case "delete-user": changes.append(.deleteUser(row.name))
                case "disable": changes.append(.disable(row.name))
                case "enable": changes.append(.enable(row.name))
                case "revoke": changes.append(.revoke(row.name, until: row.until))
                case "logout-token": changes.append(.logoutToken(row.name, until: row.until))
                default: continue
                }
            }
            if !changes.isEmpty { onRemoteChanges(changes) }
        } catch {
            logger.warning("session store: cannot read other processes' changes", metadata: [
                "path": "\(database.path)", "error": "\(error)",
            ])
        }
    }

    /// Commits `writes` in one transaction, trying again after each of `pauses`; nil when committed.
    private func commit(_ writes: [SessionWrite], pauses: [Duration]) -> SQLiteError? {
        var attempt = 0
        while true {
            do throws(SQLiteError) {
                try database.transaction { () throws(SQLiteError) in
                    for write in writes {
                        do throws(SQLiteError) {
                            try apply(write)
                        } catch where error.isEnvironmental {
                            throw error
                        } catch {
                            // A write this file refuses (a constraint) must not cost the rest of the batch.
                            failures.add(1, ordering: .relaxed)
                            logger.error("session store write refused", metadata: [
                                "path": "\(database.path)", "error": "\(error)",
                            ])
                        }
                    }
                }
                return nil
            } catch {
                guard attempt < pauses.count else { return error }
                Clocks.sleep(for: pauses[attempt])
                attempt += 1
            }
        }
    }

    private func apply(_ write: SessionWrite) throws(SQLiteError) {
        try applyToTables(write)
        try log(write)
    }

    /// The change-log row another process on the file needs to follow `write` (none for last-seen and purges:
    /// each process keeps its own idle times and purges by itself).
    private func log(_ write: SessionWrite) throws(SQLiteError) {
        let id = SQLiteValue.integer(writerID)
        switch write {
        case .insert(let r): try statements.logChange.execute(id, .text("upsert"), .blob(r.key.bytes), .null, .null)
        case .rotate(let key, _, _, _, _, _), .unrotate(let key, _, _):
            try statements.logChange.execute(id, .text("upsert"), .blob(key.bytes), .null, .null)
        case .delete(let key): try statements.logChange.execute(id, .text("delete"), .blob(key.bytes), .null, .null)
        case .deleteSessions(let user): try statements.logChange.execute(id, .text("delete-user"), .null, .text(user), .null)
        case .disable(let user): try statements.logChange.execute(id, .text("disable"), .null, .text(user), .null)
        case .enable(let user): try statements.logChange.execute(id, .text("enable"), .null, .text(user), .null)
        case .revoke(let handle, let until):
            try statements.logChange.execute(id, .text("revoke"), .null, .text(handle), .integer(until))
        case .logoutToken(let token, let until):
            try statements.logChange.execute(id, .text("logout-token"), .null, .text(token), .integer(until))
        case .touch, .purge, .secondFactorStep:
            break
        case .purgeRevoked:
            try statements.purgeChanges.execute()
        }
    }

    private func applyToTables(_ write: SessionWrite) throws(SQLiteError) {
        switch write {
        case .insert(let r):
            try statements.insert.execute(
                .blob(r.key.bytes), .text(r.handle), .text(r.kind.rawValue), .text(r.user), optional(r.email),
                .text(SessionGroups.encode(r.groups)), optional(r.displayName), .integer(r.createdAt),
                .integer(r.lastSeenAt), .integer(r.expiresAt), .integer(r.idleTimeout), .text(r.userAgent),
                .text(r.clientAddress), r.refreshKey.map { .blob($0.bytes) } ?? .null, optional(r.provider?.name),
                optional(r.provider?.sid), optional(r.provider?.subject), optional(r.provider?.idToken),
                .text(r.amr.joined(separator: " ")))
        case .delete(let key):
            try deleteSession(key)
        case .deleteSessions(let user):
            try statements.deleteSpentOfUser.execute(.text(user))
            try statements.deleteOfUser.execute(.text(user))
        case .touch(let key, let lastSeen):
            try statements.touch.execute(.blob(key.bytes), .integer(lastSeen))
        case .rotate(let key, let refreshKey, let lastSeen, let spent, let spentExpires, let forget):
            try statements.setRefresh.execute(.blob(key.bytes), .blob(refreshKey.bytes), .integer(lastSeen))
            try statements.insertSpent.execute(.blob(spent.bytes), .blob(key.bytes), .integer(spentExpires))
            if let forget { try statements.deleteSpent.execute(.blob(forget.bytes)) }
        case .unrotate(let key, let refreshKey, let spent):
            try statements.setRefresh.execute(.blob(key.bytes), .blob(refreshKey.bytes), .integer(0))
            try statements.deleteSpent.execute(.blob(spent.bytes))
        case .disable(let user):
            try statements.disable.execute(.text(user))
        case .enable(let user):
            try statements.enable.execute(.text(user))
        case .revoke(let handle, let until):
            try statements.revoke.execute(.text(handle), .integer(until))
        case .purge(let keys):
            for key in keys { try deleteSession(key) }
        case .purgeRevoked(let now):
            try statements.purgeRevoked.execute(.integer(now))
            try statements.purgeLogoutTokens.execute(.integer(now))
        case .logoutToken(let token, let until):
            try statements.logoutToken.execute(.text(token), .integer(until))
        case .secondFactorStep(let user, let step?):
            try statements.setSecondFactorStep.execute(.text(user), .integer(step))
        case .secondFactorStep(let user, nil):
            try statements.clearSecondFactorStep.execute(.text(user))
        }
    }

    private func deleteSession(_ key: SessionKey) throws(SQLiteError) {
        try statements.deleteSpentOfSession.execute(.blob(key.bytes))
        try statements.delete.execute(.blob(key.bytes))
    }

    private func optional(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }
}

/// Groups as the file stores them: newline-joined (group names cannot contain a newline; `create` refuses one).
enum SessionGroups {
    static func encode(_ groups: [String]) -> String { groups.joined(separator: "\n") }

    static func decode(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    static func isStorable(_ group: String) -> Bool { !group.utf8.contains(UInt8(ascii: "\n")) }
}
