import GatehouseIO

/// The Redis store's key layout. Every key starts with `sessions.redis.key_prefix` (`P`, default `gatehouse:`),
/// so several gateways (or several deployments) can share one Redis by prefix or by database.
///
///     P s:<id>          HASH    one session; <id> = hex SHA-256 of the session ID (cookie kind) or of a random
///                               ID that never leaves the store (token kind). Fields:
///                                 h handle   k kind ("cookie" | "token")   u user   e email (absent: none)
///                                 g groups (newline-joined; a group name cannot contain a newline)
///                                 n display name (absent: none)   c created   l last seen   x expires
///                                 i idle timeout (s, 0 = none)   a user agent   ip client address
///                                 r current refresh key (hex, token kind)   q creation sequence (orders sign-ins
///                                 within one second)   m amr (space-joined, e.g. "pwd otp"; absent: none)
///                               TTL: the session's remaining life, min(x, l + i) - now, renewed when l moves
///                               (at most once a minute per session, or every idle/4 when that is shorter).
///     P h:<handle>      STRING  <id> of the session with that public handle (device lists, sign-out by handle).
///     P u:<user>        ZSET    the user's sessions: member <id>, score = created. max_per_user, "my sessions",
///                               sign-out-everywhere. Members whose hash expired are removed when next seen.
///     P rt:<key>        STRING  <id> of the token session whose current refresh token hashes to <key>.
///     P rs:<key>        STRING  <id> of the session a spent refresh token belonged to (a replay ends it).
///     P ps:<prov>:<sid> SET     <id>s of the sessions signed in through provider <prov> with that ID-token
///     P pb:<prov>:<sub> SET     `sid` / that `sub` (back-channel logout finds them without a scan); expire with
///                               the longest of their sessions; members whose hash is gone are ignored.
///     P lt:<iss> <jti>  STRING  a back-channel logout token already used, until its replay window ends.
///     P disabled        SET     users disabled through the admin API (sign-in refused until re-enabled).
///     P revoked         ZSET    handles of ended token sessions, score = until when their access tokens must
///                               be refused; read by every worker when it (re)subscribes, so a gateway that
///                               starts (or reconnects) late still refuses them.
///     P seq             STRING  counter for the `q` field.
///     P tf:a:<address>  LIST    sign-in attempts from one client address (its /64 for IPv6), newest first:
///     P tf:u:<user>     LIST    ... and against one user name; at most `rate_limit.failures` Unix times each,
///                               expiring `rate_limit.window` after the newest (the shared sign-in throttle).
///     P tf2:<user>      STRING  the last TOTP step accepted for the user (codes at or before it are refused);
///                               expires 10 minutes after it was set, long after such a code stopped verifying.
///     P tf2p:<nonce>    STRING  a pending second-factor sign-in already completed (until it would have expired).
///     P events          CHANNEL one message per session ended on purpose (sign-out, device revoked, sign-out
///                               everywhere, user disabled, max_per_user eviction, refresh-token replay):
///                               "end <kind> <id> <until> <handle> <user>" (the user name last: it may hold
///                               spaces). Every worker of every gateway drops <id> from its lookup cache and,
///                               for the token kind, refuses <handle>'s access tokens until <until>.
///
/// Times are Unix seconds. `h:`, `rt:`, `rs:` and `u:` keys live until the session's hard end (x - now at
/// creation or rotation); a pointer whose session is gone is ignored and cleaned up when next used. Redis expires
/// everything itself: the gateway runs no purge. Scripts touch keys of several sessions of one user, so the
/// store needs a single Redis (with replicas/Sentinel), not Redis Cluster.
struct RedisKeys {
    let prefix: [UInt8]

    init(prefix: String) {
        self.prefix = Array(prefix.utf8)
    }

    func session(_ key: SessionKey) -> [UInt8] { prefix + Array("s:".utf8) + Array(key.hex.utf8) }
    func handle(_ handle: String) -> [UInt8] { prefix + Array("h:".utf8) + Array(handle.utf8) }
    func user(_ user: String) -> [UInt8] { prefix + Array("u:".utf8) + Array(user.utf8) }
    func refresh(_ key: SessionKey) -> [UInt8] { prefix + Array("rt:".utf8) + Array(key.hex.utf8) }
    func spentRefresh(_ key: SessionKey) -> [UInt8] { prefix + Array("rs:".utf8) + Array(key.hex.utf8) }
    func throttleAddress(_ address: String) -> [UInt8] { prefix + Array("tf:a:".utf8) + Array(address.utf8) }
    func providerSID(_ provider: String, _ sid: String) -> [UInt8] {
        prefix + Array("ps:\(provider):".utf8) + Array(sid.utf8)
    }
    func providerSubject(_ provider: String, _ subject: String) -> [UInt8] {
        prefix + Array("pb:\(provider):".utf8) + Array(subject.utf8)
    }
    func logoutToken(_ id: String) -> [UInt8] { prefix + Array("lt:".utf8) + Array(id.utf8) }
    func secondFactor(_ user: String) -> [UInt8] { prefix + Array("tf2:".utf8) + Array(user.utf8) }
    var disabled: [UInt8] { prefix + Array("disabled".utf8) }
    var revoked: [UInt8] { prefix + Array("revoked".utf8) }
    var events: [UInt8] { prefix + Array("events".utf8) }
}

/// A session record as the fields of its hash (see `RedisKeys`).
enum RedisSessionFields {
    /// Field/value pairs, flattened, for `HSET` (the script adds `q`).
    static func encode(_ r: SessionRecord) -> [[UInt8]] {
        var out: [[UInt8]] = []
        func add(_ name: String, _ value: String) {
            out.append(Array(name.utf8))
            out.append(Array(value.utf8))
        }
        add("h", r.handle)
        add("k", r.kind.rawValue)
        add("u", r.user)
        if let email = r.email { add("e", email) }
        add("g", SessionGroups.encode(r.groups))
        if let name = r.displayName { add("n", name) }
        add("c", String(r.createdAt))
        add("l", String(r.lastSeenAt))
        add("x", String(r.expiresAt))
        add("i", String(r.idleTimeout))
        add("a", r.userAgent)
        add("ip", r.clientAddress)
        if let refresh = r.refreshKey { add("r", refresh.hex) }
        if let link = r.provider {
            add("op", link.name)
            if let sid = link.sid { add("os", sid) }
            add("ob", link.subject)
            if let token = link.idToken { add("ot", token) }
        }
        if !r.amr.isEmpty { add("m", r.amr.joined(separator: " ")) }
        return out
    }

    /// The record in an `HGETALL` reply (a flat array of field, value), and its creation sequence; nil when
    /// the reply is not a complete session hash.
    static func decode(_ reply: RedisReply, key: SessionKey) -> (record: SessionRecord, sequence: Int64)? {
        guard case .array(let items) = reply, !items.isEmpty, items.count % 2 == 0 else { return nil }
        var fields: [String: String] = [:]
        var index = 0
        while index < items.count {
            guard case .bulk(let name) = items[index], case .bulk(let value) = items[index + 1] else { return nil }
            fields[String(decoding: name, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            index += 2
        }
        guard let handle = fields["h"], let kind = fields["k"].flatMap(SessionRecord.Kind.init(rawValue:)),
              let user = fields["u"], let groups = fields["g"],
              let created = fields["c"].flatMap({ Int64($0) }), let lastSeen = fields["l"].flatMap({ Int64($0) }),
              let expires = fields["x"].flatMap({ Int64($0) }), let idle = fields["i"].flatMap({ Int64($0) })
        else { return nil }
        var refreshKey: SessionKey?
        if let hex = fields["r"] {
            guard let parsed = SessionKey(hex: hex) else { return nil }
            refreshKey = parsed
        }
        var provider: ProviderLink?
        if let name = fields["op"], let subject = fields["ob"] {
            provider = ProviderLink(name: name, sid: fields["os"], subject: subject, idToken: fields["ot"])
        }
        let record = SessionRecord(
            key: key, handle: handle, kind: kind, user: user, email: fields["e"],
            groups: SessionGroups.decode(groups), displayName: fields["n"], createdAt: created, lastSeenAt: lastSeen,
            expiresAt: expires, idleTimeout: idle, userAgent: fields["a"] ?? "", clientAddress: fields["ip"] ?? "",
            refreshKey: refreshKey, provider: provider)
        var withAMR = record
        withAMR.amr = fields["m"].map { $0.split(separator: " ").map(String.init) } ?? []
        return (withAMR, fields["q"].flatMap { Int64($0) } ?? 0)
    }
}

extension SessionKey {
    /// Parses the 64 lowercase hex digits of `hex` (the Redis form of a key).
    init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.init(bytes: bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
