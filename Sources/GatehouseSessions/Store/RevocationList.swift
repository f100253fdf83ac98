import Synchronization

/// The `sid`s of revoked token-mode sessions, each held until the last access token it could have issued has
/// expired. Checked on every request that carries one of the gateway's own access tokens, so a revoked token
/// is refused at once, without a store lookup.
///
/// Shared by all workers (a revocation on one worker holds on all); a `Mutex` around a small dictionary, held
/// for one lookup. `isEmpty` is read first without the lock's dictionary work when nothing was ever revoked.
package final class RevocationList: Sendable {
    private let entries = Mutex<[String: Int64]>([:])
    private let count = Atomic<Int>(0)

    package init() {}

    /// Refuses access tokens with `sid` until `until` (Unix seconds).
    package func revoke(_ sid: String, until: Int64) {
        let n = entries.withLock { entries in
            entries[sid] = max(entries[sid] ?? 0, until)
            return entries.count
        }
        count.store(n, ordering: .releasing)
    }

    /// True when access tokens with `sid` must be refused at `now`.
    package func isRevoked(_ sid: String, now: Int64) -> Bool {
        if count.load(ordering: .acquiring) == 0 { return false }
        return entries.withLock { entries in
            guard let until = entries[sid] else { return false }
            return now < until
        }
    }

    /// Forgets entries whose tokens have all expired.
    package func purge(now: Int64) {
        let n = entries.withLock { entries in
            entries = entries.filter { $0.value > now }
            return entries.count
        }
        count.store(n, ordering: .releasing)
    }

    package var entryCount: Int { count.load(ordering: .acquiring) }
}
