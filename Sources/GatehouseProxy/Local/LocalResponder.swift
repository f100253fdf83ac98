import GatehouseAuth
import GatehouseIO
import GatehouseSessions

/// The gateway's own endpoints as the connection sees them (Hummingbird's responder shape, with a completion
/// instead of `async`): a `LocalRequest` in, a `LocalResponse` out.
///
/// A responder never sees the connection or the engine. What it needs is injected (`LocalServices`, built by
/// the engine per request); what only the connection knows comes with each call (`LocalContext`). `done` runs
/// exactly once, at once or later (a password hash on the pool, a remote store); whether anyone still waits
/// for the answer is the connection's business (`ClientConnection.finishLocal`).
protocol LocalResponder {
    func respond(to request: LocalRequest, context: LocalContext, _ done: @escaping LocalCompletion)
}

/// How a local answer comes back: the response, and the reason the access log records (nil: none).
typealias LocalCompletion = (_ response: LocalResponse, _ error: String?) -> Void

/// What the connection knows about one local request's peer (Hummingbird's request context).
struct LocalContext {
    /// The socket's peer (a proxy, when `trusted`).
    let peer: SocketAddress
    /// The peer is in `trusted_proxies` of the request's snapshot: its `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed.
    let trusted: Bool
    /// The request came in on a TLS listener.
    let tls: Bool
}

/// A counter an endpoint moves (the engine adds it to this worker's `ProxyCounters`).
enum LocalEvent: Equatable {
    case signIn
    case signInFailure
    case signInThrottled
    /// The shared (Redis) throttle could not be read; only this gateway's count applied.
    case signInThrottleFallback
    case signOut
    case refreshReuse
    /// A back-channel logout token was accepted; it ended this many sessions.
    case providerLogout(ended: Int)
    /// A back-channel logout request was refused (400).
    case providerLogoutRefused
}

/// Everything the gateway's own endpoints use, injected. Built by the engine for each local request
/// (`ProxyEngine.localServices`), so it always carries the snapshot the request runs under; tests build it
/// by hand over an in-memory store.
struct LocalServices {
    /// The snapshot of the connection's current request: sign-in settings, admin access, trusted proxies.
    let snapshot: ProxySnapshot
    /// Sign-in and sessions; nil when the gateway signs nobody in (no `login.users_file`).
    let sessions: SessionEndpointServices?
    /// The admin listener's process-level view.
    let admin: AdminEndpointServices
    /// Wall-clock Unix seconds, read once per step (injected: tests pick the time).
    let now: () -> Int64
    /// Moves one of this worker's counters.
    let count: (LocalEvent) -> Void
    /// The auth pipeline for the forward-auth decision endpoint (nil in tests that do not use it).
    var forwardAuth: ForwardAuthServices? = nil

    init(snapshot: ProxySnapshot, sessions: SessionEndpointServices?, admin: AdminEndpointServices = .init(),
         now: @escaping () -> Int64 = { Int64(Clocks.wallClock().seconds) }, count: @escaping (LocalEvent) -> Void) {
        self.snapshot = snapshot
        self.sessions = sessions
        self.admin = admin
        self.now = now
        self.count = count
    }
}

/// What sign-in, logout, the device list and refresh need (one worker's view of `SessionServices`).
struct SessionEndpointServices {
    /// This worker's store (call on its loop only; completions come back there).
    let store: any SessionStore
    /// The users as last loaded (a reload of the users file replaces them between calls).
    let users: () -> UserDirectory
    /// This process's count of failed sign-ins (a shared store may count too: `SharedSignInThrottle`).
    let throttle: SignInThrottle
    /// Where password hashes run.
    let passwords: PasswordChecker
    /// Unknown session cookies per client (a remote store only; limit 0 otherwise).
    let unknownCookies: UnknownCookieLimiter
    /// An administrator disabled or enabled a user (empties the verified-Basic caches).
    var userStatusChanged: () -> Void = {}
    /// The identity of a bearer token as the auth pipeline verifies it (signature, expiry, revocation), or nil.
    let verifyBearer: (_ token: ArraySlice<UInt8>, _ now: Int64) -> Identity?
    /// Runs an outbound HTTPS request (an OpenID provider's token endpoint) off the loop; `done` runs back on the
    /// loop. False: not queued. Nil without `login.oidc`.
    var outbound: ((_ request: HTTPSRequest,
                    _ done: @escaping (BlockingPool.Outcome<Result<HTTPSResponse, HTTPSFailure>>) -> Void) -> Bool)? = nil
}

/// Runs password checks off the loop (they cost tens of milliseconds on purpose).
struct PasswordChecker {
    /// Seconds a check may wait for a thread (`Retry-After` when it waited longer).
    let maxQueueWait: Int64
    /// Queues `check`; `done` later runs on the loop with its outcome. False: not queued (the queue is full).
    let submit: (_ check: @escaping @Sendable () -> Bool,
                 _ done: @escaping (BlockingPool.Outcome<Bool>) -> Void) -> Bool

    init(maxQueueWait: Int64,
         submit: @escaping (@escaping @Sendable () -> Bool, @escaping (BlockingPool.Outcome<Bool>) -> Void) -> Bool) {
        self.maxQueueWait = maxQueueWait
        self.submit = submit
    }

    /// On `pool`'s threads, the completion back on `executor`'s loop.
    init(pool: BlockingPool, executor: LoopExecutor) {
        self.init(maxQueueWait: pool.maxQueueWait.components.seconds) { check, done in
            pool.submit(check, completion: done, on: executor)
        }
    }
}

/// What the admin listener's endpoints need beyond the snapshot and the store.
struct AdminEndpointServices {
    /// The admin listener's bound address, which `Host` may name.
    var listener: SocketAddress? = nil
    /// Every worker and the process-level actions; nil: metrics, readiness and reload are 404.
    var control: GatewayControl? = nil
    /// This worker's loop, where gathered metrics and reload answers come back.
    var executor: LoopExecutor? = nil
    /// The worker is draining (readiness says so).
    var draining = false
}
