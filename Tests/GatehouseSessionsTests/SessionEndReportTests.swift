import Dispatch
import Glibc
@testable import GatehouseSessions
import Synchronization
import Testing

/// Issue 12 part 5: every backend tells its handler (`SessionStore.onSessionsEnded`) which sessions ended on
/// purpose, whatever ended them, so the worker can close their tunnels; an expiry is not reported. (The Redis
/// store reports what its events channel says: Tests/GatehouseIntegrationTests/TunnelRevocationTests.swift.)
@Suite("Session stores report the sessions they end")
struct SessionEndReportTests: SessionRecordMaking {
    let t0: Int64 = 1_700_000_000

    final class Reports: Sendable {
        let handles = Mutex<[String]>([])
        func take() -> [String] {
            handles.withLock { handles in
                let taken = handles
                handles = []
                return taken
            }
        }
    }

    /// Runs a store call and waits for its completion (which may come on the writer thread).
    func wait<T>(_ call: (@escaping (T) -> Void) -> Void) {
        let done = DispatchSemaphore(value: 0)
        call { _ in done.signal() }
        #expect(done.wait(timeout: .now() + 20) == .success, "done was never called")
    }

    func exercise(_ store: any SessionStore, purge: (Int64) -> Int) {
        let reports = Reports()
        store.onSessionsEnded { handles in reports.handles.withLock { $0 += handles } }
        for name in ["a", "b", "c"] { wait { store.create(record(name), maxPerUser: 0, now: t0, $0) } }
        wait { store.create(record("d", user: "bob"), maxPerUser: 0, now: t0, $0) }
        #expect(reports.take() == [], "a sign-in ends nothing")
        wait { store.delete(key("a"), $0) }
        #expect(reports.take() == ["h-a"], "logout")
        wait { store.delete(handle: "h-b", of: "alice", $0) }
        #expect(reports.take() == ["h-b"], "device sign-out")
        wait { store.delete(handle: "h-c", of: "mallory", $0) }
        #expect(reports.take() == [], "someone else's handle ends nothing")
        wait { store.create(record("e", created: t0 + 1), maxPerUser: 1, now: t0 + 1, $0) }
        #expect(reports.take() == ["h-c"], "max_per_user eviction")
        wait { store.setDisabled("bob", true, $0) }
        #expect(reports.take() == ["h-d"], "user disabled")
        wait { store.create(record("f", created: t0 + 2), maxPerUser: 0, now: t0 + 2, $0) }
        wait { store.deleteAll(of: "alice", $0) }
        #expect(Set(reports.take()) == ["h-e", "h-f"], "sign out everywhere")
        wait { store.create(record("g", created: t0, ttl: 10), maxPerUser: 0, now: t0, $0) }
        #expect(purge(t0 + 100) >= 1)
        #expect(reports.take() == [], "an expired session was not revoked")
    }

    @Test func theMemoryStoreReportsEndedSessions() {
        let store = MemorySessionStore(clock: { [t0] in t0 })
        exercise(store) { store.purgeExpired(now: $0) }
    }

    @Test func theEmbeddedStoreReportsEndedSessions() throws {
        var template = Array("/tmp/gatehouse-ended-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let directory = try #require(made.map { String(cString: $0) })
        defer {
            for name in ["s.db", "s.db-wal", "s.db-shm"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        let monotonic = TestMonotonic()
        let store = try EmbeddedSessionStore(path: directory + "/s.db", accessTokenTTL: 300,
                                             revocations: RevocationList(), now: t0,
                                             clock: StoreClock(wall: { [t0] in t0 },
                                                               monotonic: { monotonic.seconds.load(ordering: .relaxed) }))
        store.clock = { [t0] in t0 }
        exercise(store) { now in
            monotonic.seconds.store(now - t0, ordering: .relaxed)  // time passed: no clock step
            return store.purgeExpired(now: now)
        }
        store.close()
    }
}
