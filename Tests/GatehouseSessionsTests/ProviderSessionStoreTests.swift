import GatehouseIO
import GatehouseTestSupport
@testable import GatehouseSessions
import Glibc
import Testing

/// `ProviderSessionStore` on every backend: the provider link kept with a session (and across a restart), sessions
/// ended by provider + `sid` or provider + `sub`, and a logout token's replay refused; on Redis, a back-channel
/// logout taken by one gateway reaches another gateway's cache.
@Suite("Session stores: provider sign-out (back-channel logout) on every backend", .serialized)
struct ProviderSessionStoreTests: SessionRecordMaking {
    let t0 = Int64(time(nil))
    let accessTTL: Int64 = 300

    func fixture(_ kind: StoreKind) throws -> any StoreFixture {
        switch kind {
        case .memory: return MemoryFixture(t0: t0, accessTTL: accessTTL)
        case .embedded: return try EmbeddedFixture(t0: t0, accessTTL: accessTTL)
        case .redis: return try RedisFixture(t0: t0, accessTTL: accessTTL)
        }
    }

    func providerRecord(_ name: String, user: String = "dana", provider: String = "corp", sid: String?,
                        sub: String = "u-1", kind: SessionRecord.Kind = .cookie) -> SessionRecord {
        let base = record(name, user: user, kind: kind, refresh: kind == .token ? name + "-r" : nil)
        return SessionRecord(
            key: base.key, handle: base.handle, kind: base.kind, user: base.user, email: base.email,
            groups: base.groups, displayName: base.displayName, createdAt: base.createdAt, lastSeenAt: base.lastSeenAt,
            expiresAt: base.expiresAt, idleTimeout: base.idleTimeout, userAgent: base.userAgent,
            clientAddress: base.clientAddress, refreshKey: base.refreshKey,
            provider: ProviderLink(name: provider, sid: sid, subject: sub, idToken: "eyJ.id-token-of-\(name)"))
    }

    func end(_ s: any StoreFixture, provider: String = "corp", sid: String? = nil, sub: String? = nil,
             token: String) throws -> ProviderLogoutOutcome {
        let match = try #require(ProviderSessionMatch(provider: provider, sid: sid, subject: sub))
        let result: Result<ProviderLogoutOutcome, StoreError> = try s.call { store, done in
            (store as! any ProviderSessionStore).endProviderSessions(
                match, logoutToken: "https://idp.test " + token, until: t0 + 331, now: t0, done)
        }
        return try result.get()
    }

    func live(_ s: any StoreFixture, _ name: String) throws -> Bool {
        handle(of: try s.find(key(name), now: t0 + 1)) == "h-" + name
    }

    @Test("a provider sign-in's link is kept, and survives a restart", arguments: StoreKind.allCases)
    func theLinkIsKept(_ kind: StoreKind) throws {
        let s = try fixture(kind)
        defer { s.shutdown() }
        try s.create(providerRecord("a", sid: "s-1"))
        try s.create(record("plain", user: "dana"))
        func links() throws -> [String: ProviderLink?] {
            Dictionary(uniqueKeysWithValues: try s.sessions(of: "dana", now: t0 + 1).map { ($0.handle, $0.provider) })
        }
        let expected = ProviderLink(name: "corp", sid: "s-1", subject: "u-1", idToken: "eyJ.id-token-of-a")
        #expect(try links()["h-a"] == .some(expected))
        #expect(try links()["h-plain"] == .some(nil))
        guard case .active(let session) = try s.find(key("a"), now: t0 + 1) else {
            Issue.record("not found")
            return
        }
        #expect(session.provider == expected, "the data path's copy carries it (logout reads it)")
        if try s.restart() {
            #expect(try links()["h-a"] == .some(expected))
        }
    }

    @Test("by sid: that session only; by sub: all of that subject's at that provider", arguments: StoreKind.allCases)
    func endBySidAndBySub(_ kind: StoreKind) throws {
        let s = try fixture(kind)
        defer { s.shutdown() }
        try s.create(providerRecord("s1", sid: "s-1"))
        try s.create(providerRecord("s2", sid: "s-2"))
        try s.create(providerRecord("nosid", sid: nil))
        try s.create(providerRecord("tok", sid: "s-4", kind: .token))
        try s.create(providerRecord("other-op", provider: "other", sid: "s-1"))
        try s.create(providerRecord("other-sub", user: "erin", sid: "s-9", sub: "u-9"))
        try s.create(record("plain", user: "dana"))

        #expect(try end(s, sid: "s-1", token: "j1") == .ended(1))
        #expect(try !live(s, "s1"))
        #expect(try live(s, "s2") && live(s, "other-op"), "another sid, another provider's same sid: kept")
        // sid and sub must both match.
        #expect(try end(s, sid: "s-2", sub: "u-9", token: "j2") == .ended(0))
        #expect(try live(s, "s2"))

        #expect(try end(s, sub: "u-1", token: "j3") == .ended(3))
        #expect(try !live(s, "s2") && !live(s, "nosid"))
        #expect(s.revocations.isRevoked("h-tok", now: t0 + 1), "a token session's access tokens are refused")
        #expect(try live(s, "other-op") && live(s, "other-sub") && live(s, "plain"))
        #expect(try end(s, sub: "u-1", token: "j4") == .ended(0), "nothing left: still a success")
    }

    @Test("a logout token is taken once; its replay ends nothing", arguments: StoreKind.allCases)
    func replayIsRefused(_ kind: StoreKind) throws {
        let s = try fixture(kind)
        defer { s.shutdown() }
        try s.create(providerRecord("a", sid: "s-1"))
        #expect(try end(s, sub: "u-1", token: "once") == .ended(1))
        try s.create(providerRecord("b", sid: "s-2"))
        #expect(try end(s, sub: "u-1", token: "once") == .replayed)
        #expect(try live(s, "b"), "a replay does not sign out a later sign-in")
        if try s.restart() {
            #expect(try end(s, sub: "u-1", token: "once") == .replayed, "remembered across a restart")
        }
    }

    @Test func onRedisALogoutTakenByOneGatewayReachesTheOthersCacheAndItsReplayIsRefusedThere() throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let a = try TestGateway(server: server, cacheTTL: .seconds(30), accessTTL: accessTTL)
        let b = try TestGateway(server: server, cacheTTL: .seconds(30), accessTTL: accessTTL)
        defer {
            a.shutdown()
            b.shutdown()
        }
        a.backend.clock = { [t0] in t0 }
        b.backend.clock = { [t0] in t0 }
        try a.create(providerRecord("shared", sid: "s-1"))
        #expect(handle(of: try a.find(key("shared"), now: t0)) == "h-shared")
        #expect(handle(of: try a.lookup(key("shared"), now: t0)) == "h-shared", "cached on A")
        // The provider indexes expire with the session (nothing needs purging).
        for index in ["gatehouse:ps:corp:s-1", "gatehouse:pb:corp:u-1"] {
            let pttl = Int(try server.cli("PTTL", index).split(whereSeparator: \.isNewline).first ?? "") ?? -3
            #expect(pttl > 86_000_000, "\(index): \(pttl)")
        }

        let match = try #require(ProviderSessionMatch(provider: "corp", sid: "s-1", subject: nil))
        let bStore = b.store
        let onB: Result<ProviderLogoutOutcome, StoreError> = try b.loop.sync { done in
            bStore.endProviderSessions(match, logoutToken: "https://idp.test j-1", until: t0 + 331, now: t0, done)
        }
        #expect(try onB.get() == .ended(1))
        // A's cached copy goes with the store's invalidation message: A refuses the cookie from then on.
        let deadline = Clocks.monotonicNanoseconds() + 2_000_000_000
        var refused = false
        while Clocks.monotonicNanoseconds() < deadline {
            if case .needsFetch = try a.lookup(key("shared"), now: t0) {
                refused = true
                break
            }
            usleep(5_000)
        }
        #expect(refused, "A still serves the session from its cache")
        #expect(isAbsent(try a.find(key("shared"), now: t0)))
        // The same token at A: a replay (the jti is shared through Redis).
        let aStore = a.store
        let onA: Result<ProviderLogoutOutcome, StoreError> = try a.loop.sync { done in
            aStore.endProviderSessions(match, logoutToken: "https://idp.test j-1", until: t0 + 331, now: t0, done)
        }
        #expect(try onA.get() == .replayed)
        // The logout token's key carries a TTL (nothing needs purging).
        let ttl = Int(try server.cli("PTTL", "gatehouse:lt:https://idp.test j-1").split(whereSeparator: \.isNewline)
            .first ?? "") ?? -3
        #expect(ttl > 0)
    }
}
