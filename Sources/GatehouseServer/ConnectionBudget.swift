/// How many client connections each worker may keep open (`server.limits.max_connections: auto`), from the
/// descriptor limit: every proxied client connection may hold one upstream connection too, each worker keeps
/// up to `keepalive` idle connections per upstream, and the process needs some descriptors of its own
/// (loops, listeners, wake-up eventfds, log and session files, Redis connections).
///
///     per worker = (limit - reserve - workers * idle upstream) / (2 * workers)
///     reserve    = 32 + 8 * workers
///
/// With 65,536 descriptors, 4 workers and one upstream with the default keepalive of 32: 8,168 per worker.
/// The gateway then runs out of connection slots before it runs out of descriptors, so an upstream socket
/// can always be made for a client that was accepted.
struct ConnectionBudget {
    /// The soft `RLIMIT_NOFILE`.
    let descriptorLimit: Int
    let workers: Int
    /// Idle keep-alive upstream connections one worker may hold: the sum of `keepalive` over the upstreams.
    let idleUpstream: Int

    /// Descriptors set aside for the process itself.
    var reserve: Int { 32 + 8 * workers }

    /// The derived per-worker limit, at least 1 (a limit too low for any is reported by `tooLow`).
    var perWorker: Int {
        let left = descriptorLimit == .max ? .max : descriptorLimit - reserve - workers * idleUpstream
        return min(max(1, left / (2 * workers)), maximum)
    }

    /// Whether the descriptor limit leaves no room for even one proxied connection per worker.
    var tooLow: Bool { descriptorLimit != .max && descriptorLimit - reserve - workers * idleUpstream < 2 * workers }

    /// The cap on the derived value (an unlimited descriptor limit).
    static let maximumPerWorker = 1 << 20
    private var maximum: Int { Self.maximumPerWorker }
}
