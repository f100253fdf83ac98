import Synchronization

/// The `sid`s of revoked token-mode sessions, each held until the last access token it could have issued has
/// expired. Checked on every request that carries one of the gateway's own access tokens, so a revoked token
/// is refused at once, without a store lookup.
///
/// Shared by all workers (a revocation on one worker holds on all); a `Mutex` around a small dictionary, held
/// for one lookup. `isEmpty` is read first without the lock's dictionary work when nothing was ever revoked.
///
/// Until the backend has read the revocations it keeps (the embedded file at start, Redis's `revoked` set once a
/// worker is connected and subscribed), the list is not loaded: the gateway then refuses its own access tokens
/// with 503 and `/readyz` is not ready, since a token revoked before the restart would otherwise pass.
package final class RevocationList: Sendable {
    private let entries = Mutex<[String: Int64]>([:])
    private let count = Atomic<Int>(0)
    private let loaded: Atomic<Bool>

    /// - Parameter loaded: false (the gateway's case) until a backend calls `markLoaded`.
    package init(loaded: Bool = false) {
        self.loaded = Atomic(loaded)
    }

    /// True once the backend has read every revocation it keeps.
    package var isLoaded: Bool { loaded.load(ordering: .acquiring) }

    /// Called by the backend once the stored revocations are on this list.
    package func markLoaded() { loaded.store(true, ordering: .releasing) }

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
