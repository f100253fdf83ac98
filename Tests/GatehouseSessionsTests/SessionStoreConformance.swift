import GatehouseAuth
import GatehouseIO
import GatehouseTestSupport
@testable import GatehouseSessions
import Glibc
import Testing

// One conformance suite for every `SessionStore` backend (oauth2-proxy's way): each case runs against the
// in-memory store, the embedded SQLite store on a fresh file, and the Redis store on its own redis-server.
// What only one backend has (the file's durability and purge, Redis's cache, pub/sub and outages) is tested in
// that backend's own file.

/// The backends under test.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, embedded, redis
    var testDescription: String { rawValue }
}

/// One backend under test, driven synchronously from the test's thread.
protocol StoreFixture: AnyObject {
    /// The revocation list the current store was given (a restart may give a new one).
    var revocations: RevocationList { get }
    /// Runs `body` where the store must be called (its loop, for Redis) and waits for what it passes on.
    func call<T>(_ body: @escaping (any SessionStore, @escaping (T) -> Void) -> Void) throws -> T
    /// The wall clock the store uses for calls that take no `now` (revocation deadlines).
    func setWallClock(_ seconds: Int64)
    /// Stops the store and starts a new one on the same storage (a gateway restart). False: the backend keeps
    /// nothing beyond the process (memory), and the case skips what a restart would show.
    func restart() throws -> Bool
    /// Sessions the backing storage holds (the file's rows, Redis's session keys, memory's table), expired ones
    /// included: what a deletion must remove, not merely hide.
    func storedSessionCount() throws -> Int
    /// Closes the store the worker uses (shutdown); later calls must fail.
    func closeStore() throws
    func shutdown()
}

extension StoreFixture {
    /// The data path's way: `lookup`, then `fetch` when it says so.
    func find(_ key: SessionKey, now: Int64) throws -> SessionLookup {
        try call { store, done in
            let answer = store.lookup(key, now: now)
            if case .needsFetch = answer { store.fetch(key, now: now, done) } else { done(answer) }
        }
    }

    func createResult(_ record: SessionRecord, maxPerUser: Int = 0) throws -> Result<[String], StoreError> {
        try call { $0.create(record, maxPerUser: maxPerUser, now: record.createdAt, $1) }
    }

    @discardableResult
    func create(_ record: SessionRecord, maxPerUser: Int = 0) throws -> [String] {
        try createResult(record, maxPerUser: maxPerUser).get()
    }

    func delete(_ key: SessionKey) throws -> Bool { try call { $0.delete(key, $1) }.get() }

    func delete(handle: String, of user: String) throws -> Bool {
        try call { $0.delete(handle: handle, of: user, $1) }.get()
    }

    func sessions(of user: String, now: Int64) throws -> [SessionRecord] {
        try call { $0.sessions(of: user, now: now, $1) }.get()
    }

    func deleteAll(of user: String) throws -> Int { try call { $0.deleteAll(of: user, $1) }.get() }

    func rotateResult(_ presented: SessionKey, next: SessionKey, now: Int64) throws -> Result<RefreshOutcome, StoreError> {
        try call { $0.rotateRefresh(presented, next: next, now: now, $1) }
    }

    func rotate(_ presented: SessionKey, next: SessionKey, now: Int64) throws -> RefreshOutcome {
        try rotateResult(presented, next: next, now: now).get()
    }

    func setDisabled(_ user: String, _ disabled: Bool) throws -> Int {
        try call { $0.setDisabled(user, disabled, $1) }.get()
    }

    func isDisabled(_ user: String) throws -> Bool { try call { $0.isDisabled(user, $1) }.get() }
}

// MARK: - The three fixtures

final class MemoryFixture: StoreFixture {
    let revocations = RevocationList(loaded: true)
    let store: MemorySessionStore

    init(t0: Int64, accessTTL: Int64) {
        store = MemorySessionStore(revocations: revocations, accessTokenTTL: accessTTL, clock: { t0 })
    }

    func call<T>(_ body: @escaping (any SessionStore, @escaping (T) -> Void) -> Void) throws -> T {
        var answer: T?
        body(store) { answer = $0 }
        guard let answer else { throw RedisTestError("the memory store did not answer at once") }
        return answer
    }

    func setWallClock(_ seconds: Int64) { store.clock = { seconds } }
    func restart() throws -> Bool { false }
    func storedSessionCount() throws -> Int { store.sessionCount }
    func closeStore() throws { store.close() }
    func shutdown() { store.close() }
}

final class EmbeddedFixture: StoreFixture {
    private let directory: String
    private let t0: Int64
    private let accessTTL: Int64
    private(set) var revocations = RevocationList()
    private(set) var store: EmbeddedSessionStore

    init(t0: Int64, accessTTL: Int64) throws {
        var template = Array("/tmp/gatehouse-conformance-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw RedisTestError("mkdtemp failed")
        }
        directory = String(cString: made)
        self.t0 = t0
        self.accessTTL = accessTTL
        store = try Self.open(directory + "/sessions.db", t0: t0, accessTTL: accessTTL, revocations: revocations)
    }

    private static func open(_ path: String, t0: Int64, accessTTL: Int64, revocations: RevocationList) throws
        -> EmbeddedSessionStore
    {
        let store = try EmbeddedSessionStore(path: path, accessTokenTTL: accessTTL, revocations: revocations, now: t0,
                                             clock: StoreClock(wall: { t0 }, monotonic: { 0 }))
        return store
    }

    /// Changes answer on the writer thread once committed: wait for it.
    func call<T>(_ body: @escaping (any SessionStore, @escaping (T) -> Void) -> Void) throws -> T {
        let box = AnswerBox<T>()
        body(store) { box.set($0) }
        guard let value = box.wait(timeout: 20) else { throw RedisTestError("the embedded store never answered") }
        return value
    }

    func setWallClock(_ seconds: Int64) { store.clock = { seconds } }

    func restart() throws -> Bool {
        store.close()
        revocations = RevocationList()
        store = try Self.open(directory + "/sessions.db", t0: t0, accessTTL: accessTTL, revocations: revocations)
        return true
    }

    func storedSessionCount() throws -> Int {
        store.flush()
        let db = try SQLiteDatabase(path: directory + "/sessions.db", mode: .readWrite)
        defer { db.close() }
        return Int(try db.int64("SELECT count(*) FROM sessions") ?? -1)
    }

    func closeStore() throws { store.close() }

    func shutdown() {
        store.close()
        for name in ["sessions.db", "sessions.db-wal", "sessions.db-shm"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }
}

final class RedisFixture: StoreFixture {
    private let server: RedisServerProcess
    private let t0: Int64
    private let accessTTL: Int64
    private var gateway: TestGateway

    var revocations: RevocationList { gateway.revocations }

    init(t0: Int64, accessTTL: Int64) throws {
        server = try RedisServerProcess()
        self.t0 = t0
        self.accessTTL = accessTTL
        gateway = try Self.connect(server, t0: t0, accessTTL: accessTTL)
    }

    private static func connect(_ server: RedisServerProcess, t0: Int64, accessTTL: Int64) throws -> TestGateway {
        let gateway = try TestGateway(server: server, accessTTL: accessTTL)
        gateway.backend.clock = { t0 }
        return gateway
    }

    func call<T>(_ body: @escaping (any SessionStore, @escaping (T) -> Void) -> Void) throws -> T {
        let store = gateway.store
        return try gateway.loop.sync { done in body(store, done) }
    }

    func setWallClock(_ seconds: Int64) { gateway.backend.clock = { seconds } }

    /// Another gateway process on the same Redis (this one shut down).
    func restart() throws -> Bool {
        gateway.shutdown()
        gateway = try Self.connect(server, t0: t0, accessTTL: accessTTL)
        return true
    }

    func storedSessionCount() throws -> Int {
        try server.cli("KEYS", "gatehouse:s:*").split(whereSeparator: \.isNewline).count
    }

    func closeStore() throws {
        let store = gateway.store
        _ = try gateway.loop.sync { done in
            store.close()
            done(true)
        }
    }

    func shutdown() {
        gateway.shutdown()
        server.stop()
    }
}

// MARK: - The cases

@Suite("Session stores: one conformance suite for the memory, embedded and Redis backends", .serialized)
struct SessionStoreConformanceTests: SessionRecordMaking {
    /// Near the real clock: Redis's TTLs are real.
    let t0 = Int64(time(nil))
    let accessTTL: Int64 = 300

    func fixture(_ kind: StoreKind) throws -> any StoreFixture {
        switch kind {
        case .memory: return MemoryFixture(t0: t0, accessTTL: accessTTL)
        case .embedded: return try EmbeddedFixture(t0: t0, accessTTL: accessTTL)
        case .redis: return try RedisFixture(t0: t0, accessTTL: accessTTL)
        }
    }

    /// Runs `body` on a fresh store of `kind` and shuts it down after.
    func with(_ kind: StoreKind, _ body: (any StoreFixture) throws -> Void) throws {
        let store = try fixture(kind)
        defer { store.shutdown() }
        try body(store)
    }

    func failure<T>(_ result: Result<T, StoreError>) -> String? {
        if case .failure(let error) = result { return error.reason }
        return nil
    }

    // MARK: Lookup and expiry

    @Test("create, then look up: the identity", arguments: StoreKind.allCases)
    func createThenLookup(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a"))
            guard case .active(let session) = try s.find(key("a"), now: t0 + 1) else {
                Issue.record("not found")
                return
            }
            #expect(session.handle == "h-a")
            #expect(session.user == "alice")
            #expect(session.kind == .cookie)
            #expect(session.identity.claims.first { $0.0 == "email" }?.1 == .string("alice@example.com"))
            #expect(session.identity.claims.first { $0.0 == "sid" }?.1 == .string("h-a"))
        }
    }

    @Test("an unknown key is absent; a token session is never found by its key", arguments: StoreKind.allCases)
    func unknownAndTokenKeys(_ kind: StoreKind) throws {
        try with(kind) { s in
            #expect(isAbsent(try s.find(key("nobody"), now: t0)))
            try s.create(record("tok", kind: .token, refresh: "r1"))
            #expect(isAbsent(try s.find(key("tok"), now: t0)), "token session looked up")
        }
    }

    @Test("absolute expiry: live until expires_at, absent from then on", arguments: StoreKind.allCases)
    func absoluteExpiry(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a", ttl: 100))
            #expect(handle(of: try s.find(key("a"), now: t0 + 99)) == "h-a")
            #expect(isAbsent(try s.find(key("a"), now: t0 + 100)))
            #expect(try s.sessions(of: "alice", now: t0 + 100).isEmpty)
        }
    }

    @Test("idle expiry, and lookups slide it", arguments: StoreKind.allCases)
    func idleExpiry(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("quiet", idle: 600))
            #expect(isAbsent(try s.find(key("quiet"), now: t0 + 600)))
            try s.create(record("busy", idle: 600))
            // Every 500 s for over an hour: each lookup is within the idle timeout of the previous one.
            for step in 1...8 {
                #expect(handle(of: try s.find(key("busy"), now: t0 + Int64(step) * 500)) == "h-busy", "step \(step)")
            }
            #expect(isAbsent(try s.find(key("busy"), now: t0 + 4000 + 600)), "idle not enforced")
        }
    }

    // MARK: Creating and ending sessions

    @Test("max_per_user ends the oldest (by creation, then by insertion within a second)",
          arguments: StoreKind.allCases)
    func maxPerUser(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("old", created: t0))
            try s.create(record("mid", created: t0 + 10))
            try s.create(record("other-user", user: "bob", created: t0 + 5))
            #expect(try s.create(record("new", created: t0 + 20), maxPerUser: 2) == ["h-old"])
            #expect(isAbsent(try s.find(key("old"), now: t0 + 21)), "oldest not evicted")
            #expect(handle(of: try s.find(key("mid"), now: t0 + 21)) == "h-mid")
            #expect(handle(of: try s.find(key("new"), now: t0 + 21)) == "h-new")
            #expect(handle(of: try s.find(key("other-user"), now: t0 + 21)) == "h-other-user")
            #expect(try s.create(record("newer", created: t0 + 30), maxPerUser: 0) == [], "0 = no limit")

            for name in ["first", "second", "third"] { try s.create(record(name, user: "carol", created: t0)) }
            #expect(try s.create(record("fourth", user: "carol", created: t0), maxPerUser: 2) == ["h-first", "h-second"])
        }
    }

    @Test("create refuses a duplicate key or handle, and a newline in a group", arguments: StoreKind.allCases)
    func createRefusals(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a"))
            #expect(failure(try s.createResult(record("a"))) == "duplicate-session")
            let sameHandle = SessionRecord(key: key("b"), handle: "h-a", kind: .cookie, user: "alice", email: nil,
                                           groups: [], displayName: nil, createdAt: t0, lastSeenAt: t0,
                                           expiresAt: t0 + 100, idleTimeout: 0, userAgent: "", clientAddress: "")
            #expect(failure(try s.createResult(sameHandle)) == "duplicate-session")
            let sneaky = SessionRecord(key: key("b"), handle: "h-b", kind: .cookie, user: "alice", email: nil,
                                       groups: ["users\nadmin"], displayName: nil, createdAt: t0, lastSeenAt: t0,
                                       expiresAt: t0 + 100, idleTimeout: 0, userAgent: "", clientAddress: "")
            #expect(failure(try s.createResult(sneaky)) == "group-name-contains-newline")
            #expect(try s.storedSessionCount() == 1)
        }
    }

    @Test("delete by key, and by handle only for its owner; the storage forgets them", arguments: StoreKind.allCases)
    func deleteByKeyAndHandle(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a"))
            try s.create(record("b"))
            #expect(try s.delete(key("a")))
            #expect(try !s.delete(key("a")), "already gone")
            #expect(isAbsent(try s.find(key("a"), now: t0)))
            #expect(try !s.delete(handle: "h-b", of: "mallory"), "another user's handle")
            #expect(handle(of: try s.find(key("b"), now: t0)) == "h-b")
            #expect(try s.delete(handle: "h-b", of: "alice"))
            #expect(isAbsent(try s.find(key("b"), now: t0)))
            #expect(try s.storedSessionCount() == 0)
        }
    }

    @Test("delete all of a user ends only theirs", arguments: StoreKind.allCases)
    func deleteAll(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a1"))
            try s.create(record("a2"))
            try s.create(record("b1", user: "bob"))
            #expect(try s.deleteAll(of: "alice") == 2)
            #expect(try s.deleteAll(of: "alice") == 0)
            #expect(try s.sessions(of: "alice", now: t0) == [])
            #expect(handle(of: try s.find(key("b1"), now: t0)) == "h-b1")
            #expect(try s.storedSessionCount() == 1)
        }
    }

    @Test("a user's sessions: live ones, newest first, every field read back", arguments: StoreKind.allCases)
    func sessionsOfUser(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("first", created: t0))
            try s.create(record("third", created: t0 + 20))
            try s.create(record("second", created: t0 + 10))
            try s.create(record("short", created: t0 + 30, ttl: 5))
            try s.create(record("bobs", user: "bob"))
            let listed = try s.sessions(of: "alice", now: t0 + 40)
            #expect(listed.map(\.handle) == ["h-third", "h-second", "h-first"])
            #expect(listed.first == record("third", created: t0 + 20))
            let bare = SessionRecord(key: key("bare"), handle: "h-bare", kind: .token, user: "carol", email: nil,
                                     groups: [], displayName: nil, createdAt: t0, lastSeenAt: t0, expiresAt: t0 + 100,
                                     idleTimeout: 30, userAgent: "", clientAddress: "", refreshKey: key("rb"))
            try s.create(bare)
            #expect(try s.sessions(of: "carol", now: t0) == [bare], "absent optionals stay absent")
        }
    }

    @Test("ending token sessions revokes their handles for one access-token TTL", arguments: StoreKind.allCases)
    func endingTokenSessionsRevokes(_ kind: StoreKind) throws {
        try with(kind) { s in
            s.setWallClock(t0 + 50)
            try s.create(record("t1", kind: .token, refresh: "r1"))
            try s.create(record("t2", kind: .token, refresh: "r2"))
            try s.create(record("t3", kind: .token, refresh: "r3"))
            try s.create(record("c1"))
            #expect(try s.delete(key("t1")))
            #expect(try s.delete(handle: "h-t2", of: "alice"))
            #expect(try s.deleteAll(of: "alice") == 2)
            let revocations = s.revocations
            for handle in ["h-t1", "h-t2", "h-t3"] {
                #expect(revocations.isRevoked(handle, now: t0 + 50 + accessTTL - 1), "\(handle)")
                #expect(!revocations.isRevoked(handle, now: t0 + 50 + accessTTL), "held for one access-token TTL")
            }
            #expect(!revocations.isRevoked("h-c1", now: t0), "cookie sessions have no access tokens")

            try s.create(record("t4", kind: .token, created: t0 + 60, refresh: "r4"))
            #expect(try s.create(record("c2", created: t0 + 70), maxPerUser: 1) == ["h-t4"])
            #expect(revocations.isRevoked("h-t4", now: t0 + 70), "evicted by max_per_user")
        }
    }

    @Test("a disabled user loses every session and cannot sign in until re-enabled; the flag is kept",
          arguments: StoreKind.allCases)
    func disabledUser(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a1"))
            try s.create(record("a2", kind: .token, refresh: "r"))
            try s.create(record("b1", user: "bob"))
            #expect(try s.setDisabled("alice", true) == 2)
            #expect(try s.isDisabled("alice"))
            #expect(try !s.isDisabled("bob"))
            #expect(s.revocations.isRevoked("h-a2", now: t0))
            #expect(isAbsent(try s.find(key("a1"), now: t0)), "disabled user's session found")
            #expect(failure(try s.createResult(record("a3"))) == "user-disabled")

            if try s.restart() {
                #expect(try s.isDisabled("alice"), "the flag survives a restart")
                #expect(failure(try s.createResult(record("a4"))) == "user-disabled")
                #expect(handle(of: try s.find(key("b1"), now: t0)) == "h-b1")
            }
            #expect(try s.setDisabled("alice", false) == 0)
            try s.create(record("a5"))
            if try s.restart() { #expect(try !s.isDisabled("alice"), "re-enabling survives a restart") }
            #expect(handle(of: try s.find(key("a5"), now: t0)) == "h-a5")
        }
    }

    // MARK: Refresh tokens

    @Test("refresh rotates: the new key is current, last seen moves; unknown is invalid; a collision is refused",
          arguments: StoreKind.allCases)
    func refreshRotates(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("t", kind: .token, refresh: "r1"))
            let outcome = try s.rotate(key("r1"), next: key("r2"), now: t0 + 10)
            guard case .rotated(let updated) = outcome else {
                Issue.record("not rotated: \(outcome)")
                return
            }
            var expected = record("t", kind: .token, refresh: "r2")
            expected.lastSeenAt = t0 + 10
            #expect(updated == expected)
            guard case .rotated = try s.rotate(key("r2"), next: key("r3"), now: t0 + 20) else {
                Issue.record("the new token does not rotate")
                return
            }
            #expect(try s.rotate(key("unknown"), next: key("x"), now: t0) == .invalid)
            #expect(failure(try s.rotateResult(key("r3"), next: key("t"), now: t0 + 30)) == "refresh-key-collision")
        }
    }

    @Test("refresh of an expired session is invalid", arguments: StoreKind.allCases)
    func refreshExpired(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("t", kind: .token, ttl: 100, refresh: "r1"))
            #expect(try s.rotate(key("r1"), next: key("r2"), now: t0 + 100) == .invalid)
        }
    }

    @Test("a reused refresh token revokes the whole session", arguments: StoreKind.allCases)
    func refreshReuse(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("t", kind: .token, refresh: "r1"))
            _ = try s.rotate(key("r1"), next: key("r2"), now: t0 + 10)
            #expect(try s.rotate(key("r1"), next: key("evil"), now: t0 + 20) == .reused(handle: "h-t", user: "alice"))
            #expect(s.revocations.isRevoked("h-t", now: t0 + 20))
            #expect(!s.revocations.isRevoked("h-t", now: t0 + 20 + accessTTL))
            #expect(try s.rotate(key("r2"), next: key("r3"), now: t0 + 30) == .invalid,
                    "the legitimate holder's current token died with the session")
            #expect(try s.sessions(of: "alice", now: t0 + 30) == [])
        }
    }

    // MARK: Restarts

    @Test("sessions, last seen, current and spent refresh keys survive a restart", arguments: [StoreKind.embedded, .redis])
    func survivesARestart(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("c", idle: 3600))
            try s.create(record("t", kind: .token, refresh: "r1"))
            try s.create(record("dead", ttl: 10))
            _ = try s.rotate(key("r1"), next: key("r2"), now: t0 + 5)
            _ = try s.find(key("c"), now: t0 + 90)
            _ = try s.find(key("c"), now: t0 + 120)
            #expect(try s.restart())
            let listed = try s.sessions(of: "alice", now: t0 + 130)
            #expect(Set(listed.map(\.handle)) == ["h-c", "h-t"], "the expired session is not listed")
            var expected = record("c", idle: 3600)
            expected.lastSeenAt = t0 + 90
            #expect(listed.first { $0.handle == "h-c" } == expected, "last seen as last written (within 60 s)")
            #expect(isAbsent(try s.find(key("dead"), now: t0 + 130)))
            guard case .rotated(let updated) = try s.rotate(key("r2"), next: key("r3"), now: t0 + 140) else {
                Issue.record("the current refresh key was lost")
                return
            }
            #expect(updated.refreshKey == key("r3"))
            #expect(try s.rotate(key("r1"), next: key("x"), now: t0 + 150) == .reused(handle: "h-t", user: "alice"),
                    "spent keys survive too")
        }
    }

    @Test("a closed store fails every call and ends no session", arguments: StoreKind.allCases)
    func closedStore(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a"))
            try s.closeStore()
            guard case .unavailable = try s.call({ store, done in done(store.lookup(key("a"), now: t0)) }) else {
                Issue.record("a closed store answered a lookup")
                return
            }
            #expect(failure(try s.createResult(record("b"))) == "store-closed")
            #expect(failure(try s.call { $0.delete(key("a"), $1) }) == "store-closed")
            #expect(try s.storedSessionCount() == 1, "closing ends no session")
        }
    }

    // MARK: The admin page's user list

    @Test("signed-in users: live session counts and last activity per user, the disabled set, a limit",
          arguments: StoreKind.allCases)
    func signedInUsers(_ kind: StoreKind) throws {
        try with(kind) { s in
            try s.create(record("a1"))
            try s.create(record("a2", created: t0 + 5))
            try s.create(record("b1", user: "bob", kind: .token, refresh: "rb"))
            try s.create(record("dead", user: "dave", ttl: 10))
            try s.create(record("w1", user: "we*ird [name]"))
            _ = try s.setDisabled("carol", true)
            let all = try s.call { $0.signedInUsers(now: t0 + 20, limit: 100, $1) }.get()
            #expect(all.users == [
                SignedInUsers.User(name: "alice", sessions: 2, lastSeenAt: t0 + 5),
                SignedInUsers.User(name: "bob", sessions: 1, lastSeenAt: t0),
                SignedInUsers.User(name: "we*ird [name]", sessions: 1, lastSeenAt: t0),
            ], "dave's only session expired")
            #expect(all.disabled == ["carol"])
            #expect(!all.truncated)
            let some = try s.call { $0.signedInUsers(now: t0 + 20, limit: 2, $1) }.get()
            #expect(some.users.count == 2)
            #expect(some.truncated)
            _ = try s.deleteAll(of: "alice")
            let after = try s.call { $0.signedInUsers(now: t0 + 20, limit: 100, $1) }.get()
            #expect(after.users.map(\.name) == ["bob", "we*ird [name]"])
        }
    }

    @Test("signed-in users past one SCAN batch: every user once, the limit cuts and says so",
          arguments: StoreKind.allCases)
    func signedInUsersManyBatches(_ kind: StoreKind) throws {
        try with(kind) { s in
            for n in 0..<600 { try s.create(record("m\(n)", user: "user-\(n)")) }
            let all = try s.call { $0.signedInUsers(now: t0 + 1, limit: 1000, $1) }.get()
            #expect(all.users.count == 600)
            #expect(Set(all.users.map(\.name)).count == 600, "no user twice")
            #expect(all.users.allSatisfy { $0.sessions == 1 })
            #expect(!all.truncated)
            let cut = try s.call { $0.signedInUsers(now: t0 + 1, limit: 300, $1) }.get()
            #expect(cut.users.count == 300)
            #expect(cut.truncated)
        }
    }
}

// MARK: Second factor (issue 14): amr on the record, and the used-step ledger, on every backend

extension SessionStoreConformanceTests {
    private func accept(_ s: any StoreFixture, _ user: String, step: Int64, pending: String) throws
        -> SecondFactorOutcome
    {
        try s.call { store, done in
            guard let ledger = store as? any SecondFactorLedger else {
                return done(Result<SecondFactorOutcome, StoreError>.failure(StoreError("no-ledger")))
            }
            ledger.acceptSecondFactor(user: user, step: step, pending: pending, pendingExpiresAt: t0 + 300, now: t0,
                                      done)
        }.get()
    }

    @Test("amr is stored and read back, in the identity too; a record without it reads back empty",
          arguments: StoreKind.allCases)
    func amrStored(_ kind: StoreKind) throws {
        try with(kind) { s in
            var made = record("two")
            made.amr = ["pwd", "otp"]
            try s.create(made)
            try s.create(record("plain"))
            let listed = try s.sessions(of: "alice", now: t0 + 1)
            #expect(listed.first { $0.handle == "h-two" }?.amr == ["pwd", "otp"])
            #expect(listed.first { $0.handle == "h-plain" }?.amr == [])
            guard case .active(let session) = try s.find(key("two"), now: t0 + 1) else {
                Issue.record("not found")
                return
            }
            #expect(session.identity.claims.first { $0.0 == "amr" }?.1 == .array([.string("pwd"), .string("otp")]))
            guard case .active(let plain) = try s.find(key("plain"), now: t0 + 1) else {
                Issue.record("plain not found")
                return
            }
            #expect(!plain.identity.claims.contains { $0.0 == "amr" }, "no amr: no claim, so no {amr} header")
        }
    }

    @Test("the ledger: a step at or before the last is refused, per user; a pending nonce is single-use; reset clears",
          arguments: StoreKind.allCases)
    func secondFactorLedger(_ kind: StoreKind) throws {
        try with(kind) { s in
            #expect(try accept(s, "alice", step: 1000, pending: "a1") == .accepted)
            #expect(try accept(s, "alice", step: 1000, pending: "a2") == .replayed)
            #expect(try accept(s, "alice", step: 999, pending: "a3") == .replayed)
            #expect(try accept(s, "bob", step: 1000, pending: "b1") == .accepted, "per user")
            #expect(try accept(s, "alice", step: 1001, pending: "a1") == .pendingSpent)
            #expect(try accept(s, "alice", step: 1001, pending: "a4") == .accepted)
            try s.call { store, done in
                (store as? any SecondFactorLedger)?.resetSecondFactor(user: "alice", done)
            }.get()
            #expect(try accept(s, "alice", step: 1000, pending: "a5") == .accepted, "after a reset")
            #expect(try accept(s, "bob", step: 1000, pending: "b2") == .replayed, "bob's record is untouched")
        }
    }
}
