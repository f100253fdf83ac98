import Testing

@testable import GatehouseAuth

@Suite struct VerifiedTokenCacheTests {
    private func verified(exp: Int64?, sub: String = "alice") -> VerifiedToken {
        VerifiedToken(issuer: Fixture.issuer, subject: sub, expiresAt: exp, claims: [("sub", .string(sub))])
    }

    @Test func hitsMissesAndExpiry() {
        let cache = VerifiedTokenCache(capacity: 4)
        let token = "header.payload.signature".tokenBytes
        #expect(cache.lookup(token, now: 100, leewaySeconds: 0) == nil)
        cache.insert(token, verified(exp: 200), now: 100)
        #expect(cache.count == 1)
        #expect(cache.lookup(token, now: 199, leewaySeconds: 0)?.subject == "alice")
        #expect(cache.lookup("header.payload.signaturE".tokenBytes, now: 150, leewaySeconds: 0) == nil)
        #expect(cache.lookup(token, now: 205, leewaySeconds: 10)?.subject == "alice")  // within leeway
        #expect(cache.lookup(token, now: 210, leewaySeconds: 10) == nil)  // expired: removed
        #expect(cache.count == 0)
        #expect(cache.lookup(token, now: 150, leewaySeconds: 0) == nil)
    }

    @Test func keysOnTheWholeTokenNotASlice() {
        let cache = VerifiedTokenCache(capacity: 4)
        let bytes = Array("xx.header.payload.signature".utf8)
        cache.insert(bytes[3...], verified(exp: 200), now: 100)
        #expect(cache.lookup(Array(bytes[3...])[...], now: 150, leewaySeconds: 0) != nil)
        #expect(cache.lookup(bytes[...], now: 150, leewaySeconds: 0) == nil)
    }

    @Test func doesNotStoreTokensWithoutExpiryOrAlreadyExpired() {
        let cache = VerifiedTokenCache(capacity: 4)
        cache.insert("a.b.c".tokenBytes, verified(exp: nil), now: 100)
        cache.insert("a.b.d".tokenBytes, verified(exp: 100), now: 100)
        #expect(cache.count == 0)
    }

    @Test func evictsFirstInFirstOutWithinCapacity() {
        let cache = VerifiedTokenCache(capacity: 3)
        for index in 0..<3 { cache.insert("t\(index)".tokenBytes, verified(exp: 1000, sub: "u\(index)"), now: 0) }
        #expect(cache.count == 3)
        cache.insert("t3".tokenBytes, verified(exp: 1000, sub: "u3"), now: 0)
        #expect(cache.count == 3)
        #expect(cache.lookup("t0".tokenBytes, now: 1, leewaySeconds: 0) == nil)
        #expect(cache.lookup("t1".tokenBytes, now: 1, leewaySeconds: 0)?.subject == "u1")
        #expect(cache.lookup("t3".tokenBytes, now: 1, leewaySeconds: 0)?.subject == "u3")
        // Re-inserting a present token replaces it in place.
        cache.insert("t1".tokenBytes, verified(exp: 2000, sub: "again"), now: 0)
        #expect(cache.count == 3)
        #expect(cache.lookup("t1".tokenBytes, now: 1500, leewaySeconds: 0)?.subject == "again")
        for index in 0..<1000 { cache.insert("n\(index)".tokenBytes, verified(exp: 1000), now: 0) }
        #expect(cache.count == 3)
    }

    @Test func cachesWhatTheVerifierAccepted() throws {
        let (signing, key) = TestKeys.pair(.ES256)
        let verifier = Fixture.verifier([key])
        let token = TokenMinter.mint(claims: Fixture.claims(), key: signing, algorithm: .ES256).tokenBytes
        let cache = VerifiedTokenCache(capacity: 16)
        let result = try verifier.verify(token, now: Fixture.now).get()
        cache.insert(token, result, now: Fixture.now)
        let hit = cache.lookup(token, now: Fixture.now + 10, leewaySeconds: verifier.leewaySeconds)
        #expect(hit?.subject == "alice" && hit?.expiresAt == 1_750_003_600)
        #expect(cache.lookup(token, now: 1_750_003_630, leewaySeconds: verifier.leewaySeconds) == nil)
    }
}
