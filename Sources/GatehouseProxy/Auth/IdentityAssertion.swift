package import GatehouseAuth
package import GatehouseSessions

/// One route's signed identity assertion (`assertion:` in the config), compiled once per snapshot: a JWT naming
/// the authenticated identity, signed by the gateway's own key, that the upstream verifies against the published
/// JWKS instead of trusting `X-Auth-User` because the network says so.
///
/// Claims: `iss`, `aud`, `sub`, `email`, `groups`, `sid` (a session's handle, or the `sid` of the gateway's own
/// access token), `amr` (when the identity has one), `iat`, `exp`. No `jti`: an assertion is reused for every
/// request of one identity until it is near its end (that is the point of the cache), so a per-request `jti`
/// would cost one signature per request; `iat` + `sub` + `sid` already say which signing it was.
package final class AssertionSettings: Sendable {
    package let signer: GatewayTokenSigner
    /// The header's name as configured, and as bytes (`Name` of `Name: jwt`).
    package let headerName: String
    let headerPrefix: [UInt8]
    package let ttlSeconds: Int64
    package let audience: String
    package let issuer: String
    /// Entries of each worker's cache (`assertion.cache_size`; the same for every route).
    let cacheSize: Int
    /// The JOSE header, encoded once: `{"alg":...,"typ":"JWT","kid":...}`.
    private let joseHeader: [UInt8]

    package init(signer: GatewayTokenSigner, header: String, ttlSeconds: Int64, audience: String, issuer: String,
                 cacheSize: Int) {
        self.cacheSize = cacheSize
        self.signer = signer
        headerName = header
        headerPrefix = Array(header.utf8) + [UInt8(ascii: ":"), UInt8(ascii: " ")]
        self.ttlSeconds = max(1, ttlSeconds)
        self.audience = audience
        self.issuer = issuer
        var jose = JSONWriter()
        jose.beginObject()
        jose.member("alg", signer.algorithm.rawValue)
        jose.member("typ", "JWT")
        jose.member("kid", signer.kid)
        jose.endObject()
        joseHeader = jose.bytes
    }

    /// `Name: <jwt>\r\n` for `identity`, signed now; `expiresAt` is the assertion's `exp`.
    func signedLine(_ claims: AssertionClaims, now: Int64, expiresAt: Int64) -> [UInt8] {
        var body = JSONWriter()
        body.beginObject()
        body.member("iss", issuer)
        body.member("aud", audience)
        if case .string(let sub)? = claims.subject { body.member("sub", sub) }
        if case .string(let email)? = claims.email { body.member("email", email) }
        body.member("groups", strings: claims.groupList)
        if case .string(let sid)? = claims.sid { body.member("sid", sid) }
        if let amr = claims.amr {
            switch amr {
            case .string(let one): body.member("amr", strings: [one])
            case .array: body.member("amr", strings: AssertionClaims.strings(amr))
            default: break
            }
        }
        body.member("iat", now)
        body.member("exp", expiresAt)
        body.endObject()
        let jwt = signer.compact(header: joseHeader, payload: body.bytes)
        var line: [UInt8] = []
        line.reserveCapacity(headerPrefix.count + jwt.count + 2)
        line.append(contentsOf: headerPrefix)
        line.append(contentsOf: jwt)
        line.append(13)
        line.append(10)
        return line
    }

    /// The JWT of a line `signedLine` made (for the forward-auth answer's header value).
    func value(ofLine line: [UInt8]) -> String {
        String(decoding: line[headerPrefix.count..<(line.count - 2)], as: UTF8.self)
    }
}

/// The parts of an identity an assertion says, read from its claims without copying them.
struct AssertionClaims {
    let subject: ClaimValue?
    let email: ClaimValue?
    let groups: ClaimValue?
    let sid: ClaimValue?
    let amr: ClaimValue?
    /// When the credential ends; an assertion never outlives it.
    let credentialExpiry: Int64?

    init(_ identity: Identity, issuer: String) {
        // Whole-name lookups: `claim(_:)` walks a dotted path, several times the cost on every request.
        subject = identity.member("sub")
        email = identity.member("email")
        let groupsClaim = identity.groupsClaim
        // "groups" (sessions, and the default) without scanning the name for a dot on every request.
        groups = groupsClaim == "groups" || !groupsClaim.utf8.contains(UInt8(ascii: "."))
            ? identity.member(groupsClaim) : identity.claim(groupsClaim)
        amr = identity.member("amr")
        // A session's handle, or the `sid` of the gateway's own access token; an outside issuer's `sid` names a
        // session at that issuer, not one the upstream could ask the gateway about.
        switch identity.source {
        case .session: sid = identity.member("sid")
        case .bearer, .cookie:
            if case .string(let iss)? = identity.member("iss"), iss == issuer { sid = identity.member("sid") } else { sid = nil }
        case .basic: sid = nil  // a password on every request: no session to name
        }
        credentialExpiry = identity.expiresAt
    }

    var groupList: [String] { Self.strings(groups) }

    static func strings(_ value: ClaimValue?) -> [String] {
        switch value {
        case .string(let s)?: return [s]
        case .array(let items)?: return items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        default: return []
        }
    }

    /// The cache's slot: a hash (seeded per process) of the settings, the session's handle (or, without one, `sub`)
    /// and the credential's end. The rest is compared on a hit, not hashed: the same user with other groups takes
    /// the same slot over.
    func hash(for settings: AssertionSettings) -> Int {
        var hasher = Hasher()
        hasher.combine(ObjectIdentifier(settings))
        if case .string(let s)? = sid ?? subject { hasher.combine(s) }
        hasher.combine(credentialExpiry ?? -1)
        return hasher.finalize()
    }

    /// `==` on optional claims, calling `ClaimValue.==` directly (not through the generic `Optional` witness).
    static func same(_ a: ClaimValue?, _ b: ClaimValue?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (let x?, let y?): return x == y
        default: return false
        }
    }
}

/// One worker's signed assertions, keyed by identity and route settings, so the cost is one signature per identity
/// per TTL rather than one per request. Lives on one loop (no locks); replaced with the snapshot (new keys, new
/// settings). Bounded: a fixed number of slots, direct-mapped by hash; a colliding identity takes the slot over
/// (at worst one more signature), so a flood of distinct identities costs signatures, never memory.
final class AssertionCache {
    /// A class: a hit reads it through one reference instead of copying (and retaining) every field out.
    private final class Entry {
        /// Compared by identity: a request still under the previous snapshot never gets the new one's line.
        let settings: AssertionSettings
        let hash: Int
        let claims: AssertionClaims
        let line: [UInt8]
        /// The identity it was signed for, kept (its claims storage stays alive, so `sharesClaims` is sound).
        let identity: Identity
        /// Re-signed from this time on (a quarter of the TTL before `exp`, or `exp` itself when the credential ends
        /// sooner).
        let refreshAt: Int64

        /// Same assertion content: what decides a hit (never the hash alone). Field by field on the stored claims,
        /// so a hit copies none of them.
        func says(_ other: AssertionClaims) -> Bool {
            claims.credentialExpiry == other.credentialExpiry && AssertionClaims.same(claims.subject, other.subject)
                && AssertionClaims.same(claims.sid, other.sid) && AssertionClaims.same(claims.email, other.email)
                && AssertionClaims.same(claims.groups, other.groups) && AssertionClaims.same(claims.amr, other.amr)
        }

        /// The same identity as `other`, by its claims storage: what the assertion says is then the same without
        /// reading a claim.
        func isSame(_ other: Identity) -> Bool {
            identity.sharesClaims(with: other) && identity.expiresAt == other.expiresAt && identity.source == other.source
                && identity.groupsClaim == other.groupsClaim
        }

        init(settings: AssertionSettings, hash: Int, claims: AssertionClaims, line: [UInt8], identity: Identity,
             refreshAt: Int64) {
            self.identity = identity
            self.settings = settings
            self.hash = hash
            self.claims = claims
            self.line = line
            self.refreshAt = refreshAt
        }
    }

    private var entries: [Entry?]
    /// The same entries again, by the identity's claims storage: a session or a cached token presented again finds
    /// its assertion without a claim lookup or a hash (the first look; `entries` is the second).
    private var byStorage: [Entry?]
    private let mask: Int
    /// Assertions served from the cache, and signatures made.
    private(set) var hits = 0
    private(set) var signatures = 0
    /// The fixed number of slots.
    var slotCount: Int { entries.count }

    init(capacity: Int) {
        var size = 16
        while size < capacity, size < 1 << 20 { size <<= 1 }
        entries = Array(repeating: nil, count: size)
        byStorage = entries
        mask = size - 1
    }

    /// `Name: <jwt>\r\n` for `identity` on a route with `settings`: the cached line while it is fresh, else a new one.
    func line(_ settings: AssertionSettings, _ identity: Identity, now: Int64) -> [UInt8] {
        // Storage addresses are 16-byte aligned; the settings' address spreads routes apart.
        let fast = ((identity.claimsStorageNumber >> 4) &+ (Int(bitPattern: ObjectIdentifier(settings)) >> 4) &* 31) & mask
        if let entry = byStorage[fast], entry.settings === settings, now < entry.refreshAt, entry.isSame(identity) {
            hits += 1
            return entry.line
        }
        let claims = AssertionClaims(identity, issuer: settings.issuer)
        let hash = claims.hash(for: settings)
        let index = hash & mask
        if let entry = entries[index], entry.hash == hash, entry.settings === settings, now < entry.refreshAt,
            entry.says(claims)
        {
            hits += 1
            byStorage[fast] = entry
            return entry.line
        }
        // `exp` is `now + ttl`, but never after the credential ends (a token past its `exp` within the leeway
        // still gets one second, so the upstream is not handed an assertion that is already expired).
        var expiresAt = now + settings.ttlSeconds
        if let end = claims.credentialExpiry { expiresAt = min(expiresAt, max(end, now + 1)) }
        let refreshAt = min(now + settings.ttlSeconds - settings.ttlSeconds / 4, expiresAt)
        let line = settings.signedLine(claims, now: now, expiresAt: expiresAt)
        signatures += 1
        let entry = Entry(settings: settings, hash: hash, claims: claims, line: line, identity: identity,
                          refreshAt: refreshAt)
        entries[index] = entry
        byStorage[fast] = entry
        return line
    }
}
