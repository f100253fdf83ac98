import GatehouseAuth
import GatehouseIO
import GatehouseSessions

/// What a worker hands its own endpoints. The only place that knows both the engine and the endpoints: the
/// endpoints see `LocalServices`, never the engine.
extension ProxyEngine {
    /// The responder for requests on a listener of `role`, with services for a request under `snapshot` (the
    /// connection's; it may lag the engine's by the request that is still running under the old one).
    /// Built per local request: a handful of references, off the forwarding path.
    func localResponder(for role: ListenerRole, snapshot: ProxySnapshot) -> any LocalResponder {
        let services = localServices(snapshot)
        switch role {
        case .admin: return AdminEndpoints(services: services)
        case .proxy: return SignInEndpoints(services: services)
        }
    }

    func localServices(_ snapshot: ProxySnapshot) -> LocalServices {
        var sessions: SessionEndpointServices? = nil
        if let shared = services, let store = sessionStore {
            // Read when a token is presented, so a reload between the request's start and its answer is seen.
            let verifyBearer = { (token: ArraySlice<UInt8>, now: Int64) -> Identity? in
                var trace: DecisionTrace? = nil
                guard case .success(let identity) = RequestPipeline.verify(
                    token, source: .bearer, tokens: snapshot.tokens, cache: self.tokenCache,
                    sessions: self.sessionContext, now: now, trace: &trace)
                else { return nil }
                return identity
            }
            sessions = SessionEndpointServices(
                store: store, users: { shared.users }, throttle: shared.throttle,
                passwords: PasswordChecker(pool: shared.hashing, executor: executor), unknownCookies: unknownCookies,
                verifyBearer: verifyBearer)
            sessions?.userStatusChanged = { shared.noteUserStatusChanged() }
            if let pool = shared.outbound, let executor = self.executor {
                sessions?.outbound = { request, done in
                    pool.submit({ HTTPSClient.perform(request) }, completion: done, on: executor)
                }
            }
        }
        let admin = AdminEndpointServices(listener: adminAddress, control: control, executor: executor,
                                          draining: draining)
        // Strong: a completion that runs after the connection left still counts (the engine outlives its loop's
        // jobs in any case).
        var services = LocalServices(snapshot: snapshot, sessions: sessions, admin: admin, count: { event in
            switch event {
            case .signIn: self.counters.signIns += 1
            case .signInFailure: self.counters.signInFailures += 1
            case .signInThrottled: self.counters.signInThrottled += 1
            case .signInThrottleFallback: self.counters.signInThrottleFallbacks += 1
            case .signOut: self.counters.signOuts += 1
            case .refreshReuse: self.counters.refreshReuse += 1
            case .providerLogout(let ended):
                self.counters.providerLogouts += 1
                self.counters.providerLogoutSessionsEnded += ended
            case .providerLogoutRefused: self.counters.providerLogoutRefusals += 1
            }
        })
        services.forwardAuth = forwardAuthServices(snapshot)
        return services
    }
}
