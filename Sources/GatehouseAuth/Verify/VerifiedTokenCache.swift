@preconcurrency internal import Crypto

/// A per-worker cache of verified tokens, so a client's repeated requests skip the signature check
/// (Envoy's `TokenCache`, first in the authenticator's order).
///
/// Confined to one worker's loop (not `Sendable`, no locks). Keyed by the SHA-256 of the token bytes,
/// compared in full (all 256 bits): a token is never stored, so a cache dump reveals none. Bounded: at most
/// `capacity` entries, evicted first-in-first-out by a ring hand, so insertion and lookup are O(1). An entry
/// lives at most until its token's `exp`; each hit re-checks the expiry against `now` with the leeway.
/// Tokens without `exp` are not cached (they would never leave by age). A config reload replaces the cache
/// together with the verifier, so entries never outlive the keys that verified them.
///
/// ```
///  slots: [ e0 | e1 | e2 | nil | e4 ]      index: digest -> slot
///                       ^ hand: the next slot to overwrite (its old entry is evicted)
/// ```
package final class VerifiedTokenCache {
    /// The 32-byte SHA-256 digest as four words: cheap to hash and compare.
    private struct Key: Hashable {
        let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64
    }

    private struct Entry {
        let key: Key
        let verified: VerifiedToken
        let expiresAt: Int64
    }

    private var slots: [Entry?]
    private var index: [Key: Int]
    private var hand = 0

    /// Creates an empty cache.
    ///
    /// - Parameter capacity: the most entries held at once; must be positive.
    package init(capacity: Int) {
        precondition(capacity > 0, "cache capacity must be positive")
        slots = Array(repeating: nil, count: capacity)
        index = Dictionary(minimumCapacity: capacity)
    }

    /// How many entries the cache holds now.
    package var count: Int { index.count }

    /// Returns the cached verification of `token` if it is present and not yet expired.
    ///
    /// - Parameters:
    ///   - token: the token bytes, exactly as they will be verified on a miss.
    ///   - now: the current unix time in seconds.
    ///   - leewaySeconds: the verifier's leeway: an entry is good while `now < exp + leeway`.
    /// - Returns: the verified token, or `nil` on a miss (an expired entry is removed).
    package func lookup(_ token: ArraySlice<UInt8>, now: Int64, leewaySeconds: Int64) -> VerifiedToken? {
        let key = Self.key(for: token)
        guard let slot = index[key], let entry = slots[slot] else {
            misses &+= 1
            return nil
        }
        let (limit, overflow) = entry.expiresAt.addingReportingOverflow(leewaySeconds)
        guard overflow || now < limit else {
            index[key] = nil
            slots[slot] = nil
            misses &+= 1
            return nil
        }
        hits &+= 1
        return entry.verified
    }

    /// Lookups answered from the cache, and not, since it was made (for metrics).
    package private(set) var hits = 0
    package private(set) var misses = 0

    /// Remembers that `token` verified as `verified`.
    ///
    /// - Parameters:
    ///   - token: the token bytes that were verified.
    ///   - verified: the verifier's result for them.
    ///   - now: the current unix time; a token already past its `exp` is not stored.
    package func insert(_ token: ArraySlice<UInt8>, _ verified: VerifiedToken, now: Int64) {
        guard let expiresAt = verified.expiresAt, expiresAt > now else { return }
        let key = Self.key(for: token)
        let entry = Entry(key: key, verified: verified, expiresAt: expiresAt)
        if let slot = index[key] {
            slots[slot] = entry
            return
        }
        if let evicted = slots[hand] { index[evicted.key] = nil }
        slots[hand] = entry
        index[key] = hand
        hand = hand + 1 == slots.count ? 0 : hand + 1
    }

    private static func key(for token: ArraySlice<UInt8>) -> Key {
        let digest = SHA256.hash(data: token)
        // Four word loads from the digest's bytes (a byte-by-byte fold cost a tenth of the hash itself).
        return digest.withUnsafeBytes { raw in
            Key(w0: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                w1: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                w2: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                w3: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }
}
