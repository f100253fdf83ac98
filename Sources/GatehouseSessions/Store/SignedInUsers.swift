/// Who holds live sessions, as the admin page lists them: one row per user with their session count and last
/// activity, plus the users disabled through the admin (`SessionStore.setDisabled`).
///
/// Built from the store's per-user index (the embedded store's `keysByUser`, Redis's `P u:<user>` sets walked
/// with `SCAN`), never by reading every session twice. Bounded by the caller's `limit`: past it `truncated` says
/// that more users hold sessions than are listed.
package struct SignedInUsers: Sendable, Equatable {
    /// One user with at least one live session.
    package struct User: Sendable, Equatable {
        package let name: String
        /// Live sessions (either kind).
        package let sessions: Int
        /// The latest `lastSeenAt` of those sessions (Unix seconds).
        package let lastSeenAt: Int64

        package init(name: String, sessions: Int, lastSeenAt: Int64) {
            self.name = name
            self.sessions = sessions
            self.lastSeenAt = lastSeenAt
        }
    }

    /// Sorted by name (byte order).
    package var users: [User]
    /// Users disabled through the admin, sorted by name; whatever the users file says.
    package var disabled: [String]
    /// More users hold sessions than the `limit` asked for.
    package var truncated: Bool

    package init(users: [User], disabled: [String], truncated: Bool) {
        self.users = users.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        self.disabled = disabled.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        self.truncated = truncated
    }
}

extension SessionTables {
    /// The users holding live sessions at `now` (at most `limit` of them), and the disabled ones: the admin
    /// page, not the data path. Runs under the store's lock, so it stops at the first user past `limit`: the hold
    /// is bounded by `limit` users' sessions (plus users whose sessions all expired and await the purge, which
    /// removes them within a minute), not by the whole table.
    func signedInUsers(now: Int64, limit: Int) -> SignedInUsers {
        var users: [SignedInUsers.User] = []
        var truncated = false
        for (user, keys) in keysByUser {
            var count = 0
            var last: Int64 = 0
            for key in keys {
                guard let record = record(key), record.isLive(at: now) else { continue }
                count += 1
                last = max(last, record.lastSeenAt)
            }
            guard count > 0 else { continue }
            guard users.count < limit else {
                truncated = true
                break
            }
            users.append(SignedInUsers.User(name: user, sessions: count, lastSeenAt: last))
        }
        return SignedInUsers(users: users, disabled: Array(disabledUsers), truncated: truncated)
    }
}
