import GatehouseAuth
import GatehouseIO
@testable import GatehouseSessions
import Dispatch
import Glibc
import Synchronization
import XCTest

/// The embedded store against a real SQLite file in a fresh temporary directory: what only this backend has (the
/// file, the purge and its clock guard, the writer and its failures, two processes on one file). What every
/// backend shares is in SessionStoreConformance.swift.
final class EmbeddedSessionStoreTests: XCTestCase, SessionRecordMaking {
    private var directory = ""
    private var path: String { directory + "/sessions.db" }
    let t0: Int64 = 1_700_000_000
    private let accessTTL: Int64 = 300

    override func setUpWithError() throws {
        var template = Array("/tmp/gatehouse-sessions-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = try XCTUnwrap(made.map { String(cString: $0) })
    }

    override func tearDown() {
        guard !directory.isEmpty else { return }
        for name in ["sessions.db", "sessions.db-wal", "sessions.db-shm", "garbage.db"] {
            unlink(directory + "/" + name)
        }
        rmdir(directory)
    }

    // MARK: Helpers

    /// The injected clock's monotonic seconds (the wall clock is `store.clock`, or the `now` passed in).
    private let monotonic = TestMonotonic()

    private func open(now: Int64? = nil, revocations: RevocationList = RevocationList(), maxSessions: Int = 0,
                      retryPauses: [Duration] = [.milliseconds(20), .milliseconds(80), .milliseconds(320)])
        throws -> EmbeddedSessionStore
    {
        let monotonic = self.monotonic
        let store = try EmbeddedSessionStore(
            path: path, accessTokenTTL: accessTTL, revocations: revocations, now: now ?? t0,
            clock: StoreClock(wall: { [t0] in t0 }, monotonic: { monotonic.seconds.load(ordering: .relaxed) }),
            maxSessions: maxSessions, writerRetryPauses: retryPauses, writerRetryInterval: .milliseconds(200))
        store.clock = { [t0] in t0 }
        return store
    }

    /// Purges at wall time `at`, with the monotonic clock moved on by as much (no clock step).
    private func purge(_ store: EmbeddedSessionStore, at: Int64, openedAt: Int64? = nil) -> Int {
        monotonic.seconds.store(at - (openedAt ?? t0), ordering: .relaxed)
        return store.purgeExpired(now: at)
    }

    /// Runs a store call and waits for its completion (at once for reads, on the writer thread once committed
    /// for changes), returning what `done` got.
    private func sync<T>(_ call: (@escaping (T) -> Void) -> Void) throws -> T {
        let answer = Answer<T>()
        call { value in
            answer.value = value
            answer.ready.signal()
        }
        XCTAssertEqual(answer.ready.wait(timeout: .now() + 20), .success, "done was never called")
        return try XCTUnwrap(answer.value, "done was never called")
    }

    @discardableResult
    private func create(_ store: EmbeddedSessionStore, _ record: SessionRecord, maxPerUser: Int = 0,
                        now: Int64? = nil) throws -> [String] {
        try sync { store.create(record, maxPerUser: maxPerUser, now: now ?? record.createdAt, $0) }.get()
    }

    /// A second connection on the file, to check what the writer actually wrote.
    private func diskInt(_ sql: String) throws -> Int64? {
        let db = try SQLiteDatabase(path: path, mode: .readWrite)
        defer { db.close() }
        return try db.int64(sql)
    }

    // MARK: Expiry and last seen

    func testAnExpiredSessionIsLeftForThePurge() throws {
        let store = try open()
        defer { store.close() }
        try create(store, record("a", ttl: 100))
        guard case .absent = store.lookup(key("a"), now: t0 + 100) else { return XCTFail("expired session found") }
        XCTAssertEqual(store.liveSessionCount, 1, "an expired session is left for the purge")
        XCTAssertEqual(purge(store, at: t0 + 100), 1)
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 0)
    }

    func testLastSeenIsWrittenAtMostOncePerMinute() throws {
        let store = try open()
        defer { store.close() }
        try create(store, record("a", idle: 3600))
        let lastSeen = "SELECT last_seen FROM sessions WHERE handle = 'h-a'"
        for offset: Int64 in [1, 10, 30, 59] { _ = store.lookup(key("a"), now: t0 + offset) }
        store.flush()
        XCTAssertEqual(try diskInt(lastSeen), t0, "lookups within a minute write nothing")

        _ = store.lookup(key("a"), now: t0 + 60)
        store.flush()
        XCTAssertEqual(try diskInt(lastSeen), t0 + 60)

        _ = store.lookup(key("a"), now: t0 + 100)
        store.flush()
        XCTAssertEqual(try diskInt(lastSeen), t0 + 60, "40 s after the last write: memory only")

        _ = store.lookup(key("a"), now: t0 + 121)
        store.flush()
        XCTAssertEqual(try diskInt(lastSeen), t0 + 121)
    }

    // MARK: Refresh tokens

    func testConcurrentRefreshesOfOneTokenRotateOnce() throws {
        let store = try open()
        defer { store.close() }
        for round in 0..<100 {
            try create(store, record("t\(round)", kind: .token, refresh: "r\(round)"))
            let race = Race()
            let presented = key("r\(round)")
            let now = t0 + 1
            let threads = try (0..<2).map { racer in
                let next = key("r\(round)-next\(racer)")
                return try LoopThread(name: "racer") {
                    // Both threads spin until both are running, so the two calls overlap as much as they can.
                    race.started.add(1, ordering: .acquiringAndReleasing)
                    while race.started.load(ordering: .acquiring) < 2 {}
                    store.rotateRefresh(presented, next: next, now: now) { result in
                        if case .success(let outcome) = result { race.outcomes.withLock { $0.append(outcome) } }
                    }
                }
            }
            threads.forEach { $0.join() }
            store.flush()
            let results = race.outcomes.withLock { $0 }
            XCTAssertEqual(results.count, 2)
            XCTAssertEqual(results.filter { if case .rotated = $0 { true } else { false } }.count, 1, "round \(round)")
            XCTAssertEqual(results.filter { $0 == .reused(handle: "h-t\(round)", user: "alice") }.count, 1)
        }
    }

    // MARK: Persistence

    func testAnExpiredSessionIsLoadedAtARestartForThePurge() throws {
        var store = try open()
        try create(store, record("c", idle: 3600))
        try create(store, record("dead", ttl: 10))
        store.close()
        store.close()
        store = try open(now: t0 + 130)
        defer { store.close() }
        guard case .absent = store.lookup(key("dead"), now: t0 + 130) else { return XCTFail("expired session found") }
        XCTAssertEqual(store.liveSessionCount, 2, "an expired session is loaded, for the purge to remove")
        XCTAssertEqual(purge(store, at: t0 + 130, openedAt: t0 + 130), 1)
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 1, "expired rows deleted by the purge")
    }

    func testPurgeExpired() throws {
        let store = try open()
        try create(store, record("short", ttl: 100))
        try create(store, record("idle", idle: 50))
        try create(store, record("long"))
        try create(store, record("t", kind: .token, ttl: 100, refresh: "r1"))
        _ = try sync { store.rotateRefresh(key("r1"), next: key("r2"), now: t0 + 1, $0) }.get()
        XCTAssertEqual(purge(store, at: t0 + 60), 1, "only the idle one so far")
        XCTAssertEqual(purge(store, at: t0 + 100), 2)
        XCTAssertEqual(purge(store, at: t0 + 100), 0)
        XCTAssertEqual(store.liveSessionCount, 1)
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 1)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM spent_refresh"), 0)
        store.close()
        let reopened = try open(now: t0 + 100)
        defer { reopened.close() }
        XCTAssertEqual(reopened.liveSessionCount, 1)
    }

    func testCloseFlushesAndLaterCallsFail() throws {
        let store = try open()
        try create(store, record("a"))
        store.close()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 1)
        guard case .unavailable = store.lookup(key("a"), now: t0) else { return XCTFail("closed store answered") }
        XCTAssertThrowsError(try create(store, record("b")))
        store.flush()
        store.close()
        XCTAssertEqual(store.diskWriteFailures, 0)
    }

    func testRevocationsSurviveARestart() throws {
        var store = try open()
        store.clock = { [t0] in t0 + 10 }
        try create(store, record("t", kind: .token, refresh: "r1"))
        try create(store, record("u", kind: .token, refresh: "r2"))
        XCTAssertTrue(try sync { store.delete(key("t"), $0) }.get())
        store.close()

        let revocations = RevocationList()
        XCTAssertFalse(revocations.isLoaded, "the gateway's list starts unloaded: its own tokens get 503")
        store = try open(now: t0 + 20, revocations: revocations)
        XCTAssertTrue(revocations.isLoaded)
        XCTAssertTrue(revocations.isRevoked("h-t", now: t0 + 20), "a signed-out session's tokens stay refused")
        XCTAssertFalse(revocations.isRevoked("h-t", now: t0 + 10 + accessTTL), "until its last token expired")
        XCTAssertFalse(revocations.isRevoked("h-u", now: t0 + 20))

        XCTAssertEqual(purge(store, at: t0 + 10 + accessTTL, openedAt: t0 + 20), 0)
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM revoked"), 0, "expired revocations are purged")
        store.close()
    }

    func testAVersion1FileIsUpgraded() throws {
        let first = try open()
        try create(first, record("a"))
        first.close()
        let db = try SQLiteDatabase(path: path, mode: .readWrite)
        try db.exec("""
            DROP TABLE revoked; DROP INDEX spent_refresh_session; ALTER TABLE sessions DROP COLUMN amr;
            DROP TABLE second_factor; PRAGMA user_version = 1
            """)
        db.close()
        let store = try open()
        defer { store.close() }
        XCTAssertEqual(handle(of: store.lookup(key("a"), now: t0)), "h-a")
        XCTAssertEqual(try diskInt("PRAGMA user_version"), 3)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM revoked"), 0)
    }

    func testAVersion2FileGetsTheProviderColumnsAndKeepsItsSessions() throws {
        // A file as version 2 made it: no provider columns, no logout_tokens.
        let db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.exec("""
            CREATE TABLE sessions (key BLOB PRIMARY KEY NOT NULL, handle TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
                user TEXT NOT NULL, email TEXT, groups TEXT NOT NULL, display_name TEXT, created INTEGER NOT NULL,
                last_seen INTEGER NOT NULL, expires INTEGER NOT NULL, idle_timeout INTEGER NOT NULL,
                user_agent TEXT NOT NULL, client_address TEXT NOT NULL, refresh_key BLOB) WITHOUT ROWID;
            CREATE INDEX sessions_user ON sessions(user);
            CREATE TABLE spent_refresh (key BLOB PRIMARY KEY NOT NULL, session_key BLOB NOT NULL,
                expires INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE disabled_users (user TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;
            CREATE TABLE revoked (handle TEXT PRIMARY KEY NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, writer INTEGER NOT NULL, op TEXT NOT NULL,
                key BLOB, name TEXT, until INTEGER, at INTEGER NOT NULL);
            CREATE INDEX spent_refresh_session ON spent_refresh(session_key);
            PRAGMA user_version = 2;
            """)
        let statement = try db.prepare("""
            INSERT INTO sessions VALUES (?1, 'h-old', 'cookie', 'alice', NULL, 'staff', NULL, ?2, ?2, ?3, 0, 'ua',
                '192.0.2.1', NULL)
            """)
        try statement.execute(.blob(key("old").bytes), .integer(t0), .integer(t0 + 3600))
        db.close()
        let store = try open()
        defer { store.close() }
        XCTAssertEqual(handle(of: store.lookup(key("old"), now: t0)), "h-old")
        XCTAssertEqual(try diskInt("PRAGMA user_version"), 3)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM pragma_table_info('sessions') WHERE name LIKE 'provider%' "
                                   + "OR name = 'id_token'"), 4)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM logout_tokens"), 0)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM second_factor"), 0)
    }

    func testAVersion2FileIsUpgradedAndKeepsItsSessions() throws {
        let first = try open()
        try create(first, record("a"))
        first.close()
        let db = try SQLiteDatabase(path: path, mode: .readWrite)
        try db.exec("ALTER TABLE sessions DROP COLUMN amr; DROP TABLE second_factor; PRAGMA user_version = 2")
        db.close()
        let store = try open()
        defer { store.close() }
        XCTAssertEqual(handle(of: store.lookup(key("a"), now: t0)), "h-a")
        XCTAssertEqual(try sync { store.sessions(of: "alice", now: t0, $0) }.get().first?.amr, [])
        XCTAssertEqual(try diskInt("PRAGMA user_version"), 3)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM second_factor"), 0)
    }

    func testAMRAndTheLastTOTPStepSurviveARestart() throws {
        var store = try open()
        var made = record("a")
        made.amr = ["pwd", "otp"]
        try create(store, made)
        XCTAssertEqual(try sync { store.acceptSecondFactor(user: "alice", step: 100, pending: "p1", pendingExpiresAt: t0 + 300,
                                                           now: t0, delivery: .writerThread, $0) }.get(), .accepted)
        XCTAssertEqual(try sync { store.acceptSecondFactor(user: "alice", step: 100, pending: "p2", pendingExpiresAt: t0 + 300,
                                                           now: t0, delivery: .writerThread, $0) }.get(), .replayed)
        XCTAssertEqual(try sync { store.acceptSecondFactor(user: "alice", step: 101, pending: "p1", pendingExpiresAt: t0 + 300,
                                                           now: t0, delivery: .writerThread, $0) }.get(), .pendingSpent)
        store.close()
        store = try open()
        XCTAssertEqual(try sync { store.sessions(of: "alice", now: t0, $0) }.get().first?.amr, ["pwd", "otp"])
        XCTAssertEqual(try sync { store.acceptSecondFactor(user: "alice", step: 100, pending: "p3", pendingExpiresAt: t0 + 300,
                                                           now: t0, delivery: .writerThread, $0) }.get(), .replayed,
                       "the last step is in the file")
        try sync { store.resetSecondFactor(user: "alice", delivery: .writerThread, $0) }.get()
        store.close()
        store = try open()
        defer { store.close() }
        XCTAssertEqual(try sync { store.acceptSecondFactor(user: "alice", step: 100, pending: "p4", pendingExpiresAt: t0 + 300,
                                                           now: t0, delivery: .writerThread, $0) }.get(), .accepted,
                       "a reset clears it in the file too")
    }

    // MARK: Spent refresh keys

    func testSpentKeysAreCappedPerSessionAndDropWithTheSession() throws {
        var store = try open()
        try create(store, record("t", kind: .token, refresh: "r0"))
        for i in 0..<20 {
            let outcome = try sync { store.rotateRefresh(key("r\(i)"), next: key("r\(i + 1)"), now: t0 + 1, $0) }.get()
            guard case .rotated = outcome else { return XCTFail("rotation \(i): \(outcome)") }
        }
        let cap = SessionTables.spentPerSession
        XCTAssertEqual(store.spentRefreshCount, cap, "the last few spent keys only")
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM spent_refresh"), Int64(cap))
        store.close()

        store = try open()
        XCTAssertEqual(store.spentRefreshCount, cap)
        XCTAssertEqual(try sync { store.rotateRefresh(key("r0"), next: key("x"), now: t0 + 2, $0) }.get(), .invalid,
                       "a spent key past the cap is merely invalid")
        XCTAssertEqual(try sync { store.rotateRefresh(key("r19"), next: key("y"), now: t0 + 2, $0) }.get(),
                       .reused(handle: "h-t", user: "alice"), "a recent spent key still revokes the session")
        XCTAssertEqual(store.spentRefreshCount, 0, "dropped with the session")
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM spent_refresh"), 0)
        store.close()
    }

    func testSpentKeysOfAnExpiredOrSignedOutSessionGoWithIt() throws {
        let store = try open()
        defer { store.close() }
        try create(store, record("t1", kind: .token, ttl: 100, refresh: "a0"))
        try create(store, record("t2", kind: .token, refresh: "b0"))
        try create(store, record("t3", user: "bob", kind: .token, refresh: "c0"))
        for (prefix, session) in [("a", "t1"), ("b", "t2"), ("c", "t3")] {
            _ = session
            _ = try sync { store.rotateRefresh(key(prefix + "0"), next: key(prefix + "1"), now: t0 + 1, $0) }.get()
        }
        XCTAssertEqual(store.spentRefreshCount, 3)
        XCTAssertEqual(purge(store, at: t0 + 100), 1)
        XCTAssertTrue(try sync { store.delete(key("t2"), $0) }.get())
        XCTAssertEqual(try sync { store.deleteAll(of: "bob", $0) }.get(), 1)
        XCTAssertEqual(store.spentRefreshCount, 0)
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM spent_refresh"), 0)
    }

    // MARK: Clock steps and the purge

    func testAForwardClockStepPurgesNothing() throws {
        let store = try open()
        defer { store.close() }
        try create(store, record("a", idle: 3600))
        try create(store, record("b", ttl: 7200))
        let stepped = t0 + 13 * 3600
        guard case .absent = store.lookup(key("a"), now: stepped) else { return XCTFail("looks live at +13 h") }
        monotonic.seconds.store(4, ordering: .relaxed)
        XCTAssertEqual(store.purgeExpired(now: stepped), 0, "13 h on the wall clock, 4 s on the monotonic one")
        XCTAssertEqual(handle(of: store.lookup(key("a"), now: t0 + 5)), "h-a", "the clock came back: still signed in")
        XCTAssertEqual(handle(of: store.lookup(key("b"), now: t0 + 5)), "h-b")
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 2)

        // Time really passes: the purge follows.
        XCTAssertEqual(purge(store, at: t0 + 5 + 3600), 1)
        XCTAssertEqual(purge(store, at: t0 + 7200), 1)
    }

    func testABackwardClockStepPurgesByTheWallClock() throws {
        let store = try open()
        defer { store.close() }
        try create(store, record("a", ttl: 100))
        monotonic.seconds.store(200, ordering: .relaxed)
        XCTAssertEqual(store.purgeExpired(now: t0 + 50), 0, "the wall clock is behind: nothing is due by it")
        XCTAssertEqual(store.purgeExpired(now: t0 + 150), 1)
    }

    func testThePurgeWalksManySessionsInBatches() throws {
        let store = try open()
        defer { store.close() }
        let count = EmbeddedSessionStore.purgeBatch * 2 + 100
        for i in 0..<count { try create(store, record("s\(i)", ttl: i % 3 == 0 ? 50 : 1000)) }
        let dying = (0..<count).filter { $0 % 3 == 0 }.count
        var lookupsBetweenBatches: [String?] = []
        store.betweenPurgeBatches = { [t0] in
            // The same thread takes the lock again: it would deadlock if the purge held it across the table.
            lookupsBetweenBatches.append(self.handle(of: store.lookup(self.key("s1"), now: t0 + 60)))
        }
        XCTAssertEqual(purge(store, at: t0 + 60), dying)
        XCTAssertEqual(lookupsBetweenBatches, ["h-s1", "h-s1"], "three batches, the lock free between them")
        store.betweenPurgeBatches = nil
        XCTAssertEqual(store.liveSessionCount, count - dying)
        XCTAssertEqual(handle(of: store.lookup(key("s1"), now: t0 + 60)), "h-s1")
        XCTAssertEqual(handle(of: store.lookup(key("s\(count - 1)"), now: t0 + 60)), "h-s\(count - 1)")
        try create(store, record("late", created: t0 + 60, ttl: 10))
        XCTAssertEqual(purge(store, at: t0 + 70), 1, "the compacted order still holds every session")
        XCTAssertEqual(purge(store, at: t0 + 1000), count - dying)
        XCTAssertEqual(store.liveSessionCount, 0)
        store.flush()
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 0)
    }

    func testMaxSessionsRefusesNewSignIns() throws {
        let store = try open(maxSessions: 2)
        defer { store.close() }
        try create(store, record("a"))
        try create(store, record("b", ttl: 10))
        XCTAssertThrowsError(try create(store, record("c"))) {
            XCTAssertEqual($0 as? StoreError, StoreError("store-full"))
        }
        XCTAssertEqual(handle(of: store.lookup(key("a"), now: t0)), "h-a", "nobody signed in was signed out")
        XCTAssertEqual(purge(store, at: t0 + 10), 1)
        XCTAssertNoThrow(try create(store, record("c", created: t0 + 10)), "room again after the purge")
    }

    // MARK: Failing writes

    /// Another connection holds the file's write lock (python's `BEGIN EXCLUSIVE`, a backup tool).
    private func lockFile() throws -> SQLiteDatabase {
        let other = try SQLiteDatabase(path: path, mode: .readWrite, busyTimeoutMilliseconds: 0)
        try other.exec("BEGIN EXCLUSIVE")
        return other
    }

    func testAWriteTheFileRefusesFailsTheAnswerAndTheStoreUntilItRecovers() throws {
        let store = try open(retryPauses: [.milliseconds(10)])
        defer { store.close() }
        try create(store, record("a"))
        try create(store, record("b"))
        XCTAssertTrue(store.isReachable)

        let other = try lockFile()
        XCTAssertThrowsError(try sync { store.delete(key("a"), $0) }.get(), "a logout the file did not take") {
            XCTAssertEqual($0 as? StoreError, StoreError("store-write-failed"))
        }
        XCTAssertFalse(store.isReachable, "readiness follows")
        XCTAssertGreaterThan(store.diskWriteFailures, 0, "counted")
        guard case .absent = store.lookup(key("a"), now: t0) else { return XCTFail("the logout must hold in memory") }
        XCTAssertThrowsError(try create(store, record("c"))) {
            XCTAssertEqual($0 as? StoreError, StoreError("store-write-failed"), "no new sessions while failing")
        }

        try other.exec("ROLLBACK")
        other.close()
        XCTAssertTrue(try sync { store.delete(key("b"), $0) }.get(), "the file takes writes again")
        XCTAssertTrue(store.isReachable)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 0, "the failed logout was kept and written")
    }

    func testALogoutIsAnsweredOnlyOnceCommitted() throws {
        let store = try open(retryPauses: [])
        defer { store.close() }
        try create(store, record("a"))
        try create(store, record("b"))
        XCTAssertTrue(try sync { store.delete(key("a"), $0) }.get())
        // No flush: the answer itself means the row is gone from the file.
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions WHERE handle = 'h-a'"), 0)
        XCTAssertEqual(try sync { store.setDisabled("alice", true, $0) }.get(), 1)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM sessions"), 0)
        XCTAssertEqual(try diskInt("SELECT count(*) FROM disabled_users"), 1)
    }

    func testARotationThatFailsToCommitIsUndone() throws {
        let store = try open(retryPauses: [])
        defer { store.close() }
        try create(store, record("t", kind: .token, refresh: "r1"))
        // Healthy when it starts, failing by the time it commits: lock the file from the writer's side of the race.
        let other = try lockFile()
        XCTAssertTrue(store.isReachable, "not yet failed")
        XCTAssertThrowsError(try sync { store.rotateRefresh(key("r1"), next: key("r2"), now: t0 + 1, $0) }.get())
        try other.exec("ROLLBACK")
        other.close()
        store.flush()
        for _ in 0..<100 where !store.isReachable { usleep(20_000) }
        XCTAssertTrue(store.isReachable)
        let outcome = try sync { store.rotateRefresh(key("r1"), next: key("r3"), now: t0 + 2, $0) }.get()
        guard case .rotated = outcome else { return XCTFail("the client's token must still be current: \(outcome)") }
    }

    // MARK: Two processes on one file (a binary upgrade's overlap)

    /// Waits (up to 5 s) for `condition`, which another store's writer thread makes true.
    private func soon(_ condition: () -> Bool) -> Bool {
        for _ in 0..<250 {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    func testTwoStoresOnOneFileFollowEachOther() throws {
        let oldRevocations = RevocationList()
        let newRevocations = RevocationList()
        let old = try open(revocations: oldRevocations)
        defer { old.close() }
        try create(old, record("before"))
        let new = try open(revocations: newRevocations)
        defer { new.close() }

        // A logout handled by the new process holds on the old one.
        XCTAssertTrue(try sync { new.delete(key("before"), $0) }.get())
        XCTAssertTrue(soon { if case .absent = old.lookup(key("before"), now: t0) { true } else { false } },
                      "the old process still accepts a session signed out on the new one")

        // A sign-in on the new process works on the old one (no second sign-in during the overlap).
        try create(new, record("during"))
        XCTAssertTrue(soon { handle(of: old.lookup(key("during"), now: t0)) == "h-during" })

        // Token sessions: a revocation, a rotation (the old refresh token is spent on both), a disable.
        try create(old, record("t", kind: .token, refresh: "r1"))
        XCTAssertTrue(soon { new.liveSessionCount == 2 })
        _ = try sync { old.rotateRefresh(key("r1"), next: key("r2"), now: t0 + 1, $0) }.get()
        XCTAssertTrue(soon { new.spentRefreshCount == 1 })
        XCTAssertEqual(try sync { new.rotateRefresh(key("r1"), next: key("x"), now: t0 + 2, $0) }.get(),
                       .reused(handle: "h-t", user: "alice"), "a replay on the other process still revokes")
        XCTAssertTrue(newRevocations.isRevoked("h-t", now: t0 + 2))
        XCTAssertTrue(soon { oldRevocations.isRevoked("h-t", now: t0 + 2) }, "the revocation reaches the old process")
        XCTAssertEqual(try sync { old.rotateRefresh(key("r2"), next: key("r3"), now: t0 + 3, $0) }.get(), .invalid)

        XCTAssertEqual(try sync { old.setDisabled("bob", true, $0) }.get(), 0)
        XCTAssertTrue(soon { (try? self.sync { new.isDisabled("bob", $0) }.get()) == true })
    }

    // MARK: Opening failures

    func testNewFileIsWALWithSchemaVersion3AndAnUnknownVersionIsRefused() throws {
        try open().close()
        let db = try SQLiteDatabase(path: path, mode: .readWrite)
        var journalMode = ""
        try db.prepare("PRAGMA journal_mode").forEachRow { journalMode = $0.text(at: 0) }
        XCTAssertEqual(journalMode, "wal")
        XCTAssertEqual(try db.int64("PRAGMA user_version"), 3)
        try db.exec("PRAGMA user_version = 7")
        db.close()
        XCTAssertThrowsError(try open()) { error in
            XCTAssertTrue((error as? StoreError)?.reason.contains("schema version 7") ?? false, "\(error)")
        }
    }

    func testMissingDirectoryIsAClearError() {
        XCTAssertThrowsError(try EmbeddedSessionStore(path: directory + "/missing/sessions.db", accessTokenTTL: 300,
                                                      revocations: RevocationList(), now: t0)) { error in
            let reason = (error as? StoreError)?.reason ?? ""
            XCTAssertTrue(reason.contains(directory + "/missing"), reason)
            XCTAssertTrue(reason.contains("No such file or directory"), reason)
        }
    }

    func testCorruptFileIsAnErrorNotACrash() throws {
        let garbage = directory + "/garbage.db"
        let fd = Glibc.open(garbage, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let bytes = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) }
        XCTAssertEqual(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, 8192)
        Glibc.close(fd)
        XCTAssertThrowsError(try EmbeddedSessionStore(path: garbage, accessTokenTTL: 300,
                                                      revocations: RevocationList(), now: t0)) { error in
            let reason = (error as? StoreError)?.reason ?? ""
            XCTAssertTrue(reason.contains("garbage.db"), reason)
            XCTAssertTrue(reason.contains("not a database"), reason)
        }
    }
}

/// A completion's value, handed from the writer thread to the test.
private final class Answer<T>: @unchecked Sendable {
    var value: T?
    let ready = DispatchSemaphore(value: 0)
}

/// The injected monotonic clock (seconds).
final class TestMonotonic: Sendable {
    let seconds = Atomic<Int64>(0)
}

/// What two racing threads share.
private final class Race: Sendable {
    let started = Atomic<Int>(0)
    let outcomes = Mutex<[RefreshOutcome]>([])
}
