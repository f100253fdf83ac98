import Glibc
import Logging
import Synchronization

/// One change to the session file. The store queues these while it holds its lock, so the file sees changes in
/// the order memory made them.
enum SessionWrite: Sendable {
    case insert(SessionRecord)
    case delete(SessionKey)
    case deleteSessions(of: String)
    case touch(SessionKey, lastSeen: Int64)
    case rotate(SessionKey, refreshKey: SessionKey, lastSeen: Int64, spent: SessionKey, spentExpires: Int64)
    case disable(String)
    case enable(String)
    /// Everything past its hard end (one range DELETE per table), plus the idle-expired sessions by key.
    case purge(now: Int64, idleExpired: [SessionKey])
}

/// The writer's inbox: a queue under a pthread mutex with one condition variable, which wakes the writer when
/// work arrives and wakes `waitUntilWritten` callers when a batch is on disk. (A pthread mutex rather than a
/// `Mutex`, because a condition variable needs one.)
final class WriteQueue: @unchecked Sendable {
    // Heap-allocated: pthread objects must not move, and Swift may move a stored struct.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var pending: [SessionWrite] = []
    private var queuedCount: UInt64 = 0
    private var writtenCount: UInt64 = 0
    private var closing = false

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Queues writes for the writer thread. Never blocks on I/O. Ignored once the queue is closing.
    func push(_ write: SessionWrite) {
        locked {
            guard !closing else { return }
            pending.append(write)
            queuedCount += 1
            pthread_cond_broadcast(condition)
        }
    }

    /// The writer's side: blocks until there is work, then takes all of it. Nil once closed and drained.
    func nextBatch() -> [SessionWrite]? {
        locked {
            while pending.isEmpty && !closing { pthread_cond_wait(condition, mutex) }
            if pending.isEmpty { return nil }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            return batch
        }
    }

    /// The writer's side: `count` writes taken by `nextBatch` are done (committed, or failed and logged).
    func markWritten(_ count: Int) {
        locked {
            writtenCount += UInt64(count)
            pthread_cond_broadcast(condition)
        }
    }

    /// Blocks until every write queued before this call is done.
    func waitUntilWritten() {
        locked {
            let target = queuedCount
            while writtenCount < target { pthread_cond_wait(condition, mutex) }
        }
    }

    /// Lets the writer finish what is queued and then stop.
    func close() {
        locked {
            closing = true
            pthread_cond_broadcast(condition)
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}

/// The statements the writer runs, compiled once.
private struct WriterStatements {
    let insert: SQLiteStatement
    let delete: SQLiteStatement
    let deleteOfUser: SQLiteStatement
    let touch: SQLiteStatement
    let setRefresh: SQLiteStatement
    let insertSpent: SQLiteStatement
    let disable: SQLiteStatement
    let enable: SQLiteStatement
    let purgeSessions: SQLiteStatement
    let purgeSpent: SQLiteStatement

    init(_ db: SQLiteDatabase) throws(SQLiteError) {
        insert = try db.prepare("""
            INSERT OR REPLACE INTO sessions (key, handle, kind, user, email, groups, display_name, created, \
            last_seen, expires, idle_timeout, user_agent, client_address, refresh_key) \
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
            """)
        delete = try db.prepare("DELETE FROM sessions WHERE key = ?1")
        deleteOfUser = try db.prepare("DELETE FROM sessions WHERE user = ?1")
        touch = try db.prepare("UPDATE sessions SET last_seen = ?2 WHERE key = ?1")
        setRefresh = try db.prepare("UPDATE sessions SET refresh_key = ?2, last_seen = ?3 WHERE key = ?1")
        insertSpent = try db.prepare(
            "INSERT OR REPLACE INTO spent_refresh (key, session_key, expires) VALUES (?1, ?2, ?3)")
        disable = try db.prepare("INSERT OR IGNORE INTO disabled_users (user) VALUES (?1)")
        enable = try db.prepare("DELETE FROM disabled_users WHERE user = ?1")
        purgeSessions = try db.prepare("DELETE FROM sessions WHERE expires <= ?1")
        purgeSpent = try db.prepare("DELETE FROM spent_refresh WHERE expires <= ?1")
    }
}

/// Applies queued writes to the file on its own thread, each batch (everything queued since the last one) in
/// one transaction, so a burst of sign-ins costs one commit rather than one per session.
///
/// The connection and statements are touched only by the writer thread once it has started.
final class SessionWriter {
    let queue = WriteQueue()
    /// Writes that failed (logged, then dropped: memory stays the authority until restart).
    let failures = Atomic<Int>(0)
    private let database: SQLiteDatabase
    private let statements: WriterStatements
    private let logger = Logger(label: "gatehouse.sessions")

    init(database: SQLiteDatabase) throws(SQLiteError) {
        self.database = database
        statements = try WriterStatements(database)
    }

    /// The writer thread's body: drains batches until the queue is closed and empty, then closes the file.
    func run() {
        while let batch = queue.nextBatch() {
            apply(batch)
            queue.markWritten(batch.count)
        }
        database.close()
    }

    private func apply(_ batch: [SessionWrite]) {
        do throws(SQLiteError) {
            try database.transaction { () throws(SQLiteError) in
                for write in batch {
                    // One bad write (a constraint) must not cost the rest of the batch.
                    do throws(SQLiteError) { try apply(write) } catch { recordFailure(error, writes: 1) }
                }
            }
        } catch {
            recordFailure(error, writes: batch.count)
        }
    }

    private func apply(_ write: SessionWrite) throws(SQLiteError) {
        switch write {
        case .insert(let r):
            try statements.insert.execute(
                .blob(r.key.bytes), .text(r.handle), .text(r.kind.rawValue), .text(r.user), optional(r.email),
                .text(SessionGroups.encode(r.groups)), optional(r.displayName), .integer(r.createdAt),
                .integer(r.lastSeenAt), .integer(r.expiresAt), .integer(r.idleTimeout), .text(r.userAgent),
                .text(r.clientAddress), r.refreshKey.map { .blob($0.bytes) } ?? .null)
        case .delete(let key):
            try statements.delete.execute(.blob(key.bytes))
        case .deleteSessions(let user):
            try statements.deleteOfUser.execute(.text(user))
        case .touch(let key, let lastSeen):
            try statements.touch.execute(.blob(key.bytes), .integer(lastSeen))
        case .rotate(let key, let refreshKey, let lastSeen, let spent, let spentExpires):
            try statements.setRefresh.execute(.blob(key.bytes), .blob(refreshKey.bytes), .integer(lastSeen))
            try statements.insertSpent.execute(.blob(spent.bytes), .blob(key.bytes), .integer(spentExpires))
        case .disable(let user):
            try statements.disable.execute(.text(user))
        case .enable(let user):
            try statements.enable.execute(.text(user))
        case .purge(let now, let idleExpired):
            try statements.purgeSessions.execute(.integer(now))
            try statements.purgeSpent.execute(.integer(now))
            for key in idleExpired { try statements.delete.execute(.blob(key.bytes)) }
        }
    }

    private func optional(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }

    private func recordFailure(_ error: SQLiteError, writes: Int) {
        failures.add(writes, ordering: .relaxed)
        logger.error("session store write failed", metadata: [
            "path": "\(database.path)", "error": "\(error)", "writes": "\(writes)",
        ])
    }
}

/// Groups as the file stores them: newline-joined (group names cannot contain a newline; `create` refuses one).
enum SessionGroups {
    static func encode(_ groups: [String]) -> String { groups.joined(separator: "\n") }

    static func decode(_ text: String) -> [String] {
        text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    static func isStorable(_ group: String) -> Bool { !group.utf8.contains(UInt8(ascii: "\n")) }
}
