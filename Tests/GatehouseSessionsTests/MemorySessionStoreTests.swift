@testable import GatehouseSessions
import Testing

/// The in-memory store's own controls (its behaviour as a store is in the conformance suite): answers held
/// until a test releases them, and a store that cannot be reached.
@Suite("Session stores: the in-memory backend's test controls")
struct MemorySessionStoreTests: SessionRecordMaking {
    let t0: Int64 = 1_700_000_000

    @Test("deliversLater: lookups ask for a fetch, every completion waits for runPending, in call order")
    func deliversLater() throws {
        let store = MemorySessionStore(clock: { [t0] in t0 })
        store.deliversLater = true
        var order: [String] = []
        store.create(record("a"), maxPerUser: 0, now: t0) { _ in order.append("create") }
        guard case .needsFetch = store.lookup(key("a"), now: t0) else {
            Issue.record("a held store must send the caller to fetch")
            return
        }
        store.fetch(key("a"), now: t0) { order.append(handle(of: $0) ?? "absent") }
        store.delete(key("a")) { order.append("deleted \((try? $0.get()) ?? false)") }
        #expect(order.isEmpty)
        #expect(store.pendingCount == 3)
        #expect(store.runPending() == 3)
        #expect(order == ["create", "h-a", "deleted true"])
        #expect(store.runPending() == 0)
    }

    @Test("failure: every call fails with it, lookups are unavailable, readiness follows; clearing it recovers")
    func failure() throws {
        let store = MemorySessionStore(clock: { [t0] in t0 })
        store.create(record("a"), maxPerUser: 0, now: t0) { _ in }
        store.failure = StoreError("unreachable")
        #expect(!store.isReachable)
        guard case .unavailable(let error) = store.lookup(key("a"), now: t0) else {
            Issue.record("a failing store answered")
            return
        }
        #expect(error == StoreError("unreachable"))
        var deleted: Result<Bool, StoreError>?
        store.delete(key("a")) { deleted = $0 }
        #expect(deleted == .failure(StoreError("unreachable")))
        store.failure = nil
        #expect(store.isReachable)
        #expect(handle(of: store.lookup(key("a"), now: t0)) == "h-a", "nothing was lost")
    }

    @Test("purgeExpired removes what is no longer live, and max_sessions refuses past the limit")
    func purgeAndLimit() throws {
        let store = MemorySessionStore(maxSessions: 2, clock: { [t0] in t0 })
        var results: [Result<[String], StoreError>] = []
        for name in ["short", "long", "third"] {
            store.create(record(name, ttl: name == "short" ? 10 : 1000), maxPerUser: 0, now: t0) { results.append($0) }
        }
        #expect(results.last == .failure(StoreError("store-full")))
        #expect(store.purgeExpired(now: t0 + 10) == 1)
        #expect(store.sessionCount == 1)
        store.create(record("third", created: t0 + 10), maxPerUser: 0, now: t0 + 10) { results.append($0) }
        #expect(results.last == .success([]), "room again after the purge")
    }
}
