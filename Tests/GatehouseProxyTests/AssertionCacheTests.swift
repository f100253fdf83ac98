@preconcurrency import Crypto
import GatehouseAuth
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The per-worker assertion cache, with time as a parameter: reuse until a quarter of the TTL is left, a new
/// signature for any difference in what the assertion says, never past the credential's end, a fixed size.
@Suite("Assertion cache (one signature per identity per TTL)")
struct AssertionCacheTests {
    static let signer = try! GatewayTokenSigner(pem: P256.Signing.PrivateKey().pemRepresentation, kid: "k1",
                                                issuer: "gatehouse")

    static func settings(ttl: Int64 = 60, audience: String = "app") -> AssertionSettings {
        AssertionSettings(signer: signer, header: "X-Gatehouse-Assertion", ttlSeconds: ttl, audience: audience,
                          issuer: "gatehouse", cacheSize: 16)
    }

    static func identity(_ sub: String, groups: [String] = ["staff"], source: Identity.Source = .bearer,
                         expiresAt: Int64? = nil, extra: [(String, ClaimValue)] = []) -> Identity {
        Identity(source: source, claims: [("sub", .string(sub)), ("groups", .array(groups.map { .string($0) }))] + extra,
                 groupsClaim: "groups", expiresAt: expiresAt)
    }

    /// The claims of a line `Name: jwt\r\n` (decoded without checking: the signature is the integration tests').
    static func claims(_ line: [UInt8]) -> [(String, ClaimValue)] {
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix("X-Gatehouse-Assertion: ") && text.hasSuffix("\r\n"))
        let jwt = text.dropFirst("X-Gatehouse-Assertion: ".count).dropLast(2)
        let payload = jwt.split(separator: ".")[1]
        guard let bytes = Base64URL.decode(Array(payload.utf8)[...]),
            let members = try? JSONScanner.parseObject(bytes)
        else {
            Issue.record("not a JWT: \(text)")
            return []
        }
        return members
    }

    static func claim(_ line: [UInt8], _ name: String) -> ClaimValue? {
        claims(line).first { $0.0 == name }?.1
    }

    @Test("reused while more than a quarter of the ttl is left, then signed anew")
    func refresh() {
        let cache = AssertionCache(capacity: 16)
        let settings = Self.settings(ttl: 60)
        let alice = Self.identity("alice")
        let first = cache.line(settings, alice, now: 1000)
        #expect(cache.line(settings, alice, now: 1044) == first)
        #expect(cache.hits == 1 && cache.signatures == 1)
        let second = cache.line(settings, alice, now: 1045)  // 15 s (a quarter) left: refreshed
        #expect(second != first)
        #expect(Self.claim(second, "iat") == .integer(1045) && Self.claim(second, "exp") == .integer(1105))
        #expect(cache.signatures == 2)
    }

    @Test("anything the assertion says that differs gets its own signature; the settings too")
    func keyedByContent() {
        let cache = AssertionCache(capacity: 1 << 16)  // direct-mapped: room enough that these never collide
        let settings = Self.settings()
        let base = cache.line(settings, Self.identity("alice"), now: 1000)
        // Other claims (not in the assertion) do not matter.
        #expect(cache.line(settings, Self.identity("alice", extra: [("scope", .string("read"))]), now: 1000) == base)
        #expect(cache.line(settings, Self.identity("alice", groups: ["ops"]), now: 1000) != base)
        #expect(cache.line(settings, Self.identity("bob"), now: 1000) != base)
        #expect(cache.line(settings, Self.identity("alice", extra: [("email", .string("a@x"))]), now: 1000) != base)
        #expect(cache.line(settings, Self.identity("alice", expiresAt: 5000), now: 1000) != base)
        #expect(cache.line(Self.settings(audience: "other"), Self.identity("alice"), now: 1000) != base)
        // Same user, other groups: the same slot (sub, sid and the credential's end are hashed), compared in full.
        #expect(cache.line(settings, Self.identity("alice", groups: ["ops"]), now: 1000)
                    == cache.line(settings, Self.identity("alice", groups: ["ops"]), now: 1000))
        let signed = cache.signatures
        _ = cache.line(settings, Self.identity("alice"), now: 1000)
        #expect(cache.signatures == signed + 1, "taken over, then signed anew")
    }

    @Test("exp never after the credential's end; a credential in its leeway gets one second")
    func credentialEnd() {
        let cache = AssertionCache(capacity: 16)
        let settings = Self.settings(ttl: 60)
        let line = cache.line(settings, Self.identity("alice", expiresAt: 1010), now: 1000)
        #expect(Self.claim(line, "exp") == .integer(1010))
        #expect(cache.line(settings, Self.identity("alice", expiresAt: 1010), now: 1009) == line)
        let late = cache.line(settings, Self.identity("alice", expiresAt: 1010), now: 1020)
        #expect(Self.claim(late, "exp") == .integer(1021))
    }

    @Test("claims: sid only for sessions and the gateway's own tokens, amr as an array, no jti")
    func claimsShape() {
        let cache = AssertionCache(capacity: 16)
        let settings = Self.settings()
        let session = cache.line(settings, Self.identity("alice", source: .session, extra: [("sid", .string("h1")),
                                                                                           ("email", .string("a@x"))]),
                                 now: 1000)
        #expect(Self.claims(session).map(\.0) == ["iss", "aud", "sub", "email", "groups", "sid", "iat", "exp"])
        #expect(Self.claim(session, "sid") == .string("h1"))
        let outside = cache.line(settings, Self.identity("alice", extra: [("iss", .string("https://idp")),
                                                                         ("sid", .string("idp-1")),
                                                                         ("amr", .string("pwd"))]), now: 1000)
        #expect(Self.claim(outside, "sid") == nil)
        #expect(Self.claim(outside, "amr") == .array([.string("pwd")]))
        #expect(Self.claim(outside, "jti") == nil)
        let own = cache.line(settings, Self.identity("alice", extra: [("iss", .string("gatehouse")),
                                                                     ("sid", .string("h2"))]), now: 1000)
        #expect(Self.claim(own, "sid") == .string("h2"))
    }

    @Test("bounded: thousands of identities never hold more than the slots; each still gets its own")
    func bounded() {
        let cache = AssertionCache(capacity: 16)
        let settings = Self.settings()
        for n in 0..<2000 {
            let line = cache.line(settings, Self.identity("user\(n)"), now: 1000)
            #expect(Self.claim(line, "sub") == .string("user\(n)"))
        }
        #expect(cache.signatures == 2000)
        #expect(cache.slotCount == 16)
    }

    @Test("the same identity again (one claims storage) and an equal one built apart get the same assertion")
    func storageFastPath() {
        let cache = AssertionCache(capacity: 16)
        let settings = Self.settings(ttl: 60)
        let alice = Self.identity("alice", source: .session, extra: [("sid", .string("h1"))])
        let first = cache.line(settings, alice, now: 1000)
        #expect(cache.line(settings, alice, now: 1001) == first)
        let rebuilt = Self.identity("alice", source: .session, extra: [("sid", .string("h1"))])
        #expect(cache.line(settings, rebuilt, now: 1002) == first)
        // The same storage, but another source or end: not the same assertion.
        let asBearer = Identity(source: .bearer, claims: alice.claims, groupsClaim: "groups", expiresAt: nil)
        #expect(Self.claim(cache.line(settings, asBearer, now: 1003), "sid") == nil)
        let ending = Identity(source: .session, claims: alice.claims, groupsClaim: "groups", expiresAt: 1010)
        #expect(Self.claim(cache.line(settings, ending, now: 1003), "exp") == .integer(1010))
        #expect(cache.signatures == 3 && cache.hits == 2)
        // Past the refresh time, the fast path does not serve the old line.
        #expect(cache.line(settings, alice, now: 1045) != first)
    }
}
