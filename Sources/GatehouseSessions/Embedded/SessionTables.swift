/// One session as memory holds it.
struct SessionEntry {
    var record: SessionRecord
    /// Built once, so `lookup` hands it out without building a claims set per request.
    let active: ActiveSession
    /// The `last_seen` the file holds (or will, once the writer's queue drains). A newer value is written only
    /// when the in-memory one has moved `lastSeenWriteInterval` past it.
    var persistedLastSeen: Int64
    /// Insertion order: sign-ins within one second still have a first and a last (max_per_user ends the first).
    let sequence: UInt64
}

/// A refresh token already exchanged: presenting it again means it was stolen or replayed.
struct SpentRefresh {
    let session: SessionKey
    /// The session's own hard end: after it, a replay can do no harm.
    let expiresAt: Int64
}

/// The in-memory indexes of the embedded store. Plain values: the store holds them in its `Mutex`, and every
/// change to them is mirrored by a write queued for the file.
struct SessionTables {
    private(set) var sessions: [SessionKey: SessionEntry] = [:]
    private(set) var keyByHandle: [String: SessionKey] = [:]
    private(set) var keysByUser: [String: Set<SessionKey>] = [:]
    /// Current refresh key -> its token-kind session.
    private(set) var sessionByRefresh: [SessionKey: SessionKey] = [:]
    var spentRefresh: [SessionKey: SpentRefresh] = [:]
    var disabledUsers: Set<String> = []
    private var nextSequence: UInt64 = 0

    /// What `touch` found.
    enum Touch {
        /// Live; `persist` is the `last_seen` to write, when one is due.
        case live(ActiveSession, persist: Int64?)
        /// Past its absolute or idle expiry (still in the tables).
        case expired
        /// Unknown key, or a token-kind session (reachable only through refresh).
        case notFound
    }

    /// The hot path: slides a live cookie session's idle expiry to `now`. Mutates the entry in place, so a
    /// request costs a hash lookup and no allocation.
    mutating func touch(_ key: SessionKey, now: Int64, writeInterval: Int64) -> Touch {
        // Through the index, in place: copying the entry out would retain every string of the record per request.
        guard let index = sessions.index(forKey: key), sessions.values[index].record.kind == .cookie else {
            return .notFound
        }
        guard sessions.values[index].record.isLive(at: now) else { return .expired }
        guard now > sessions.values[index].record.lastSeenAt else {
            return .live(sessions.values[index].active, persist: nil)
        }
        let persistDue = now - sessions.values[index].persistedLastSeen >= writeInterval
        sessions.values[index].record.lastSeenAt = now
        if persistDue { sessions.values[index].persistedLastSeen = now }
        return .live(sessions.values[index].active, persist: persistDue ? now : nil)
    }

    func record(_ key: SessionKey) -> SessionRecord? { sessions[key]?.record }

    /// `user`'s sessions in the order they were created (ties within a second by insertion order).
    func recordsOldestFirst(of user: String) -> [SessionRecord] {
        keys(of: user).compactMap { sessions[$0] }
            .sorted { ($0.record.createdAt, $0.sequence) < ($1.record.createdAt, $1.sequence) }
            .map(\.record)
    }

    func keys(of user: String) -> Set<SessionKey> { keysByUser[user] ?? [] }

    /// True when `key` names a session, or is a current or spent refresh key: a new secret must be none of these.
    func isKnown(_ key: SessionKey) -> Bool {
        sessions[key] != nil || sessionByRefresh[key] != nil || spentRefresh[key] != nil
    }

    mutating func insert(_ record: SessionRecord, persistedLastSeen: Int64) {
        nextSequence += 1
        sessions[record.key] = SessionEntry(record: record, active: ActiveSession(record),
                                            persistedLastSeen: persistedLastSeen, sequence: nextSequence)
        keyByHandle[record.handle] = record.key
        keysByUser[record.user, default: []].insert(record.key)
        if let refreshKey = record.refreshKey { sessionByRefresh[refreshKey] = record.key }
    }

    /// Drops a session from every index. Its spent refresh keys stay until they expire: presenting one then
    /// finds no session and is simply invalid.
    @discardableResult
    mutating func remove(_ key: SessionKey) -> SessionRecord? {
        guard let entry = sessions.removeValue(forKey: key) else { return nil }
        let record = entry.record
        keyByHandle.removeValue(forKey: record.handle)
        if var keys = keysByUser.removeValue(forKey: record.user) {
            keys.remove(key)
            if !keys.isEmpty { keysByUser[record.user] = keys }
        }
        if let refreshKey = record.refreshKey { sessionByRefresh.removeValue(forKey: refreshKey) }
        return record
    }

    /// Makes `next` the session's refresh key and records `presented` as spent.
    mutating func rotate(_ key: SessionKey, presented: SessionKey, next: SessionKey, now: Int64) -> SessionRecord {
        var entry = sessions[key]!
        entry.record.refreshKey = next
        entry.record.lastSeenAt = max(entry.record.lastSeenAt, now)
        entry.persistedLastSeen = entry.record.lastSeenAt
        sessions[key] = entry
        sessionByRefresh.removeValue(forKey: presented)
        sessionByRefresh[next] = key
        spentRefresh[presented] = SpentRefresh(session: key, expiresAt: entry.record.expiresAt)
        return entry.record
    }

    /// Keys of sessions not live at `now`.
    func deadKeys(at now: Int64) -> [SessionKey] {
        sessions.compactMap { key, entry in entry.record.isLive(at: now) ? nil : key }
    }

    /// Forgets spent refresh keys whose session has passed its hard end; returns how many.
    mutating func purgeSpent(at now: Int64) -> Int {
        let expired = spentRefresh.compactMap { key, spent in spent.expiresAt <= now ? key : nil }
        for key in expired { spentRefresh.removeValue(forKey: key) }
        return expired.count
    }
}
