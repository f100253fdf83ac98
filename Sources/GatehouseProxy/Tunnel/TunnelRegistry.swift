import GatehouseAuth
import Logging

/// The open tunnels of one worker by the session they were opened with (issue 12 part 5), so that ending a
/// session also closes its WebSocket tunnels: today's requests are checked one by one, but a tunnel opened while
/// signed in would otherwise outlive the sign-out.
///
/// Keyed by the session's public handle, not its key: every way a session ends names the handle (the Redis events
/// channel, the embedded store's records, the `sid` of the gateway's own access tokens in token mode, where the
/// store key never leaves the store).
///
/// Per worker and loop-confined like everything on the data path: no lock. A tunnel is added when its 101 is
/// relayed and removed when its connection closes; the session store tells each worker, on its own loop, which
/// sessions ended (`SessionStore.onSessionsEnded`: the embedded store posts to every worker of the gateway, the
/// Redis store hears its pub/sub channel on every worker of every gateway), and the worker closes its own.
struct TunnelRegistry {
    /// Tunnels by session handle (the `sid` of a session identity, or of one of the gateway's own tokens).
    private var bySession: [String: [ObjectIdentifier: ClientConnection]] = [:]

    /// The session handle a tunnel is bound to: a session cookie's, or one of the gateway's own access tokens'
    /// (`iss` = `ownIssuer`); nil for outside tokens and public routes (nothing of ours can revoke them).
    static func session(of identity: Identity?, ownIssuer: String?) -> String? {
        guard let identity, case .string(let sid)? = identity.claim("sid"), !sid.isEmpty else { return nil }
        switch identity.source {
        case .session:
            return sid
        case .bearer, .cookie:
            guard let ownIssuer, case .string(let issuer)? = identity.claim("iss"), issuer == ownIssuer else {
                return nil
            }
            return sid
        case .basic:
            return nil  // no session: each request carried the password (a Basic identity has no `sid` anyway)
        }
    }

    mutating func add(_ client: ClientConnection, session: String) {
        bySession[session, default: [:]][ObjectIdentifier(client)] = client
    }

    mutating func remove(_ client: ClientConnection, session: String) {
        guard var tunnels = bySession[session] else { return }
        tunnels.removeValue(forKey: ObjectIdentifier(client))
        bySession[session] = tunnels.isEmpty ? nil : tunnels
    }

    /// Forgets and returns the tunnels of `session`.
    mutating func take(_ session: String) -> [ClientConnection] {
        guard let tunnels = bySession.removeValue(forKey: session) else { return [] }
        return Array(tunnels.values)
    }
}

extension ProxyEngine {
    /// Closes this worker's tunnels opened with session `handle` (the hook for every way a session ends; the
    /// store calls it through `onSessionsEnded`, and code that ends sessions elsewhere may call it directly on
    /// this worker's loop). Returns how many were closed.
    ///
    /// When the client has been sent whole upstream frames only (`WebSocketFrames`), it gets a close frame,
    /// 1008 (policy violation) "session ended", and its connection closes once that is flushed; in the middle of
    /// an upstream frame a frame of ours would be read as payload, so both connections close at once (clients
    /// report 1006). The upstream's connection closes at once either way. The access log has the tunnel's line
    /// with `tunnel-session-revoked`.
    @discardableResult
    package func closeTunnels(ofSession handle: String) -> Int {
        let tunnels = tunnelRegistry.take(handle)
        guard !tunnels.isEmpty else { return 0 }
        for client in tunnels { client.sessionEnded() }
        counters.tunnelsRevoked += tunnels.count
        // The handle is a public device handle (shown in device lists), not a secret.
        Logger(label: "gatehouse").info("closed \(tunnels.count) tunnel(s): their session ended",
                                        metadata: ["session": "\(handle)"])
        return tunnels.count
    }
}
