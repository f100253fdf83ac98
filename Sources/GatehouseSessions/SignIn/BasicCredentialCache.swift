@preconcurrency internal import Crypto
package import GatehouseAuth

/// A per-worker memory of user name and password pairs that verified against the users file, so a script that
/// sends `Authorization: Basic` on every request pays one password hash per `cache_ttl`, not one per request.
///
/// Never stores a password: an entry is keyed by HMAC-SHA-256 of (length of the name, name, password) under a
/// random key made once per process (so the keys mean nothing outside it, and a memory dump holds no hash an
/// attacker could test guesses against offline at SHA-256 speed without that key). All 256 bits are compared.
/// Only successes are cached: a wrong password is hashed (and throttled) every time.
///
/// Entries belong to the users directory they were verified under: when the directory is replaced (a reload of
/// the users file, which is how a user is disabled, removed or given a new password), the whole cache is
/// dropped at the next lookup, so no pair outlives the account that made it valid. Bounded: at most `capacity`
/// entries, overwritten first-in-first-out by a ring hand (O(1) insert and lookup, as `VerifiedTokenCache`).
///
/// Confined to one worker's loop (not `Sendable`, no locks).
package final class BasicCredentialCache {
    private struct Key: Hashable {
        let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64
    }

    private struct Entry {
        let key: Key
        let identity: Identity
        let verifiedAt: Int64
    }

    /// One random key per process (HMAC-SHA-256 takes 256 bits).
    private static let processKey = SymmetricKey(size: .bits256)

    private var slots: [Entry?]
    private var index: [Key: Int]
    private var hand = 0
    /// The directory the entries were verified under (held, so its identity cannot be reused by another).
    private var directory: UserDirectory?
    /// The administrators' disable count the entries were verified under.
    private var epoch: UInt64 = 0

    /// Lookups answered from memory, and not (metrics; the misses are the password hashes a cache saves none of).
    package private(set) var hits = 0
    package private(set) var misses = 0

    /// The entries per worker when nothing else is said.
    package static let defaultCapacity = 4096

    package init(capacity: Int = defaultCapacity) {
        precondition(capacity > 0, "cache capacity must be positive")
        slots = Array(repeating: nil, count: capacity)
        index = Dictionary(minimumCapacity: capacity)
    }

    package var count: Int { index.count }

    /// The identity of `user` if this pair verified under `directory` less than `ttl` seconds ago.
    package func lookup(user: some Collection<UInt8>, password: some Collection<UInt8>, ttl: Int64, now: Int64,
                        directory current: UserDirectory, epoch: UInt64 = 0) -> Identity? {
        adopt(current, epoch: epoch)
        guard ttl > 0, !index.isEmpty else {
            misses &+= 1
            return nil
        }
        let key = Self.key(user: user, password: password)
        guard let slot = index[key], let entry = slots[slot] else {
            misses &+= 1
            return nil
        }
        guard now >= entry.verifiedAt, now - entry.verifiedAt < ttl else {
            index[key] = nil
            slots[slot] = nil
            misses &+= 1
            return nil
        }
        hits &+= 1
        return entry.identity
    }

    /// Remembers that the pair verified as `account` under `directory` at `now`.
    package func insert(user: some Collection<UInt8>, password: some Collection<UInt8>, identity: Identity, now: Int64,
                        directory current: UserDirectory, epoch: UInt64 = 0) {
        adopt(current, epoch: epoch)
        let key = Self.key(user: user, password: password)
        let entry = Entry(key: key, identity: identity, verifiedAt: now)
        if let slot = index[key] {
            slots[slot] = entry
            return
        }
        if let evicted = slots[hand] { index[evicted.key] = nil }
        slots[hand] = entry
        index[key] = hand
        hand = hand + 1 == slots.count ? 0 : hand + 1
    }

    /// Forgets every entry.
    package func removeAll() {
        guard !index.isEmpty else { return }
        for i in slots.indices { slots[i] = nil }
        index.removeAll(keepingCapacity: true)
        hand = 0
    }

    /// Drops everything verified under another directory than `current`, or before an administrator disabled or
    /// enabled someone (`epoch` moved).
    private func adopt(_ current: UserDirectory, epoch current2: UInt64) {
        guard directory !== current || epoch != current2 else { return }
        removeAll()
        directory = current
        epoch = current2
    }

    /// The identity a users-file account authenticates as: the claims a session of the same user carries (`sub`,
    /// `email`, `groups`, `name`), without `sid` (no session exists).
    package static func identity(of account: UserAccount) -> Identity {
        var claims: [(String, ClaimValue)] = [("sub", .string(account.name))]
        if let email = account.email { claims.append(("email", .string(email))) }
        claims.append(("groups", .array(account.groups.map { .string($0) })))
        if let name = account.displayName { claims.append(("name", .string(name))) }
        return Identity(source: .basic, claims: claims, groupsClaim: "groups", expiresAt: nil)
    }

    private static func key(user: some Collection<UInt8>, password: some Collection<UInt8>) -> Key {
        var mac = HMAC<SHA256>(key: processKey)
        var length = UInt32(truncatingIfNeeded: user.count).littleEndian
        withUnsafeBytes(of: &length) { mac.update(data: $0) }
        feed(&mac, user)
        feed(&mac, password)
        let code = mac.finalize()
        return code.withUnsafeBytes { raw in
            Key(w0: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                w1: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                w2: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                w3: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
    }

    private static func feed(_ mac: inout HMAC<SHA256>, _ bytes: some Collection<UInt8>) {
        let fed = bytes.withContiguousStorageIfAvailable { buffer in
            mac.update(data: UnsafeRawBufferPointer(buffer))
        }
        if fed == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { mac.update(data: $0) }
        }
    }
}
