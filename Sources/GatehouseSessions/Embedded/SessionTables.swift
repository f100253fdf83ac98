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
    private(set) var spentRefresh: [SessionKey: SpentRefresh] = [:]
    /// Each token session's spent refresh keys, oldest first, at most `spentPerSession`.
    private(set) var spentBySession: [SessionKey: [SessionKey]] = [:]
    var disabledUsers: Set<String> = []
    /// Sessions signed in through an OpenID provider, by provider + `sid` and by provider + `sub`
    /// (`ProviderSessionStore`: a back-channel logout finds them without a scan).
    private(set) var keysByProviderSID: [ProviderIndexKey: Set<SessionKey>] = [:]
    private(set) var keysByProviderSubject: [ProviderIndexKey: Set<SessionKey>] = [:]
    /// Logout tokens already used (their replay is refused).
    var usedLogoutTokens = UsedLogoutTokens()
    /// The TOTP steps and pending sign-ins already used (`SecondFactorLedger`).
    var secondFactor = SecondFactorSteps()
    /// Every session key in insertion order, plus keys of sessions removed since the last sweep (`sweep` drops
    /// them): lets the purge walk the table a bounded batch at a time, taking the lock once per batch.
    private(set) var order: [SessionKey] = []
    private var nextSequence: UInt64 = 0

    /// Spent refresh keys remembered per session for reuse detection: a replay of one of the last few tokens
    /// (what a stolen token is: recent) revokes the session; an older spent token is merely invalid. Bounds what a
    /// long-lived session that refreshes often keeps.
    static let spentPerSession = 8

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
        guard let index = sessions.index(forKey: key) else { return .notFound }
        // One in-place access through the index (`_modify`): each read through `sessions.values[index]` would
        // copy the whole entry out, retaining every string of the record, several times per request.
        return Self.touch(&sessions.values[index], now: now, writeInterval: writeInterval)
    }

    private static func touch(_ entry: inout SessionEntry, now: Int64, writeInterval: Int64) -> Touch {
        guard entry.record.kind == .cookie else { return .notFound }
        guard entry.record.isLive(at: now) else { return .expired }
        guard now > entry.record.lastSeenAt else { return .live(entry.active, persist: nil) }
        let persistDue = now - entry.persistedLastSeen >= writeInterval
        entry.record.lastSeenAt = now
        if persistDue { entry.persistedLastSeen = now }
        return .live(entry.active, persist: persistDue ? now : nil)
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
        if let link = record.provider {
            keysByProviderSubject[ProviderIndexKey(link.name, link.subject), default: []].insert(record.key)
            if let sid = link.sid { keysByProviderSID[ProviderIndexKey(link.name, sid), default: []].insert(record.key) }
        }
        order.append(record.key)
    }

    /// The keys of the sessions `match` names (through the provider indexes).
    func keys(matching match: ProviderSessionMatch) -> [SessionKey] {
        let candidates: Set<SessionKey>
        if let sid = match.sid {
            candidates = keysByProviderSID[ProviderIndexKey(match.provider, sid)] ?? []
        } else if let subject = match.subject {
            candidates = keysByProviderSubject[ProviderIndexKey(match.provider, subject)] ?? []
        } else {
            return []
        }
        return candidates.filter { match.matches(sessions[$0]?.record.provider) }
    }

    private static func unindex(_ key: SessionKey, _ index: ProviderIndexKey,
                                in table: inout [ProviderIndexKey: Set<SessionKey>]) {
        guard var keys = table.removeValue(forKey: index) else { return }
        keys.remove(key)
        if !keys.isEmpty { table[index] = keys }
    }

    /// Drops a session from every index, with its spent refresh keys: a replay of one after the session ended
    /// finds nothing and is simply invalid, so keeping them would only cost memory.
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
        if let link = record.provider {
            Self.unindex(key, ProviderIndexKey(link.name, link.subject), in: &keysByProviderSubject)
            if let sid = link.sid { Self.unindex(key, ProviderIndexKey(link.name, sid), in: &keysByProviderSID) }
        }
        for spent in spentBySession.removeValue(forKey: key) ?? [] { spentRefresh.removeValue(forKey: spent) }
        return record
    }

    /// A spent key read back from the file (load). Past the per-session cap, returns false (drop its row).
    mutating func restoreSpent(_ spent: SessionKey, of session: SessionKey, expiresAt: Int64) -> Bool {
        guard sessions[session] != nil, (spentBySession[session]?.count ?? 0) < Self.spentPerSession else {
            return false
        }
        spentRefresh[spent] = SpentRefresh(session: session, expiresAt: expiresAt)
        spentBySession[session, default: []].append(spent)
        return true
    }

    /// Makes `next` the session's refresh key and records `presented` as spent; `forgotten` is the oldest spent
    /// key when the per-session cap pushed it out.
    mutating func rotate(_ key: SessionKey, presented: SessionKey, next: SessionKey, now: Int64)
        -> (record: SessionRecord, forgotten: SessionKey?)
    {
        var entry = sessions[key]!
        entry.record.refreshKey = next
        entry.record.lastSeenAt = max(entry.record.lastSeenAt, now)
        entry.persistedLastSeen = entry.record.lastSeenAt
        sessions[key] = entry
        sessionByRefresh.removeValue(forKey: presented)
        sessionByRefresh[next] = key
        spentRefresh[presented] = SpentRefresh(session: key, expiresAt: entry.record.expiresAt)
        var spent = spentBySession[key] ?? []
        spent.append(presented)
        var forgotten: SessionKey?
        if spent.count > Self.spentPerSession {
            forgotten = spent.removeFirst()
            spentRefresh.removeValue(forKey: forgotten!)
        }
        spentBySession[key] = spent
        return (entry.record, forgotten)
    }

    /// Puts back the refresh key a rotation replaced (its commit failed, so the client still holds `presented`).
    /// Nothing when the session ended or rotated again meanwhile. Returns whether it did.
    mutating func unrotate(_ key: SessionKey, presented: SessionKey, next: SessionKey) -> Bool {
        guard var entry = sessions[key], entry.record.refreshKey == next else { return false }
        entry.record.refreshKey = presented
        sessions[key] = entry
        sessionByRefresh.removeValue(forKey: next)
        sessionByRefresh[presented] = key
        spentRefresh.removeValue(forKey: presented)
        spentBySession[key]?.removeAll { $0 == presented }
        return true
    }

    /// Where a purge sweep has got to in `order`: entries before `kept` survived, `read` is the next to look at.
    struct SweepCursor {
        var read = 0
        var kept = 0
    }

    /// One bounded step of a purge: looks at up to `limit` entries of `order` from `cursor`, removes the sessions
    /// among them not live at `now` (returning their records) and compacts `order` as it goes. `finished` once
    /// the end is reached; then `order` holds only the surviving keys, in insertion order.
    mutating func sweep(_ cursor: inout SweepCursor, limit: Int, now: Int64)
        -> (dead: [SessionRecord], finished: Bool)
    {
        var dead: [SessionRecord] = []
        let end = min(order.count, cursor.read + limit)
        while cursor.read < end {
            let key = order[cursor.read]
            cursor.read += 1
            guard let entry = sessions[key] else { continue }  // ended some other way: drop the stale key
            if entry.record.isLive(at: now) {
                order[cursor.kept] = key
                cursor.kept += 1
            } else if let record = remove(key) {
                dead.append(record)
            }
        }
        guard cursor.read == order.count else { return (dead, false) }
        order.removeSubrange(cursor.kept...)
        return (dead, true)
    }
}

/// A provider name and one of its identifiers (`sid` or `sub`): the key of the provider indexes.
struct ProviderIndexKey: Hashable {
    let provider: String
    let value: String
    init(_ provider: String, _ value: String) {
        self.provider = provider
        self.value = value
    }
}
