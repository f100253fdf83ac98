import GatehouseSessions

/// The sessions the store tests make (every backend's file and the conformance suite): `record("a")` is a
/// cookie session of alice with key `key("a")` and handle `h-a`, created at `t0`.
protocol SessionRecordMaking {
    var t0: Int64 { get }
}

extension SessionRecordMaking {
    func key(_ name: String) -> SessionKey { SessionKey(hashing: Array(name.utf8)) }

    func record(_ name: String, user: String = "alice", kind: SessionRecord.Kind = .cookie, created: Int64? = nil,
                ttl: Int64 = 86_400, idle: Int64 = 0, refresh: String? = nil) -> SessionRecord {
        let created = created ?? t0
        return SessionRecord(
            key: key(name), handle: "h-" + name, kind: kind, user: user, email: "\(user)@example.com",
            groups: ["staff", "ops"], displayName: "Name of \(user)", createdAt: created, lastSeenAt: created,
            expiresAt: created + ttl, idleTimeout: idle, userAgent: "test-agent", clientAddress: "192.0.2.1",
            refreshKey: refresh.map(key))
    }

    func handle(of lookup: SessionLookup) -> String? {
        if case .active(let session) = lookup { return session.handle }
        return nil
    }

    func isAbsent(_ lookup: SessionLookup) -> Bool {
        if case .absent = lookup { return true }
        return false
    }
}
