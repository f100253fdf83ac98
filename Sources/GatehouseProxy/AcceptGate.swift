import GatehouseIO
import Logging

/// When a worker accepts: it stops at `server.limits.max_connections` open client connections (nginx's
/// `worker_connections`, HAProxy's `maxconn`) and backs off when the kernel refuses an accept (no descriptor
/// left), and accepts again as connections close. Waiting clients stay in the kernel's backlog meanwhile
/// instead of costing a descriptor each.
///
/// Each pause is counted; the log gets one line per `logInterval` at most, with the count since the last one,
/// so a worker out of descriptors writes a few lines a minute, not one per failed accept.
final class AcceptGate {
    /// Listeners the limit holds (the proxy's plain and TLS ones).
    private var limited: [Listener] = []
    /// Every listener of the worker, the admin one included: all back off when accepts fail.
    private var all: [Listener] = []
    private var holding = false
    private let loop: EventLoop
    private var descriptorLog: IntervalLog
    private var limitLog: IntervalLog

    init(loop: EventLoop) {
        self.loop = loop
        descriptorLog = IntervalLog(interval: Self.logInterval)
        limitLog = IntervalLog(interval: Self.logInterval)
    }

    /// At most one log line per reason in this time.
    static let logInterval: Duration = .seconds(10)

    /// Starts managing `listener`; `limited`: it stops at the connection limit (false for the admin listener,
    /// which must stay reachable for /metrics when the proxy is full).
    func attach(_ listener: Listener, limited isLimited: Bool, engine: ProxyEngine) {
        all.append(listener)
        if isLimited {
            limited.append(listener)
            if holding { listener.hold() }
        }
        listener.onAcceptError = { [unowned engine] code in engine.acceptFailed(errno: code) }
    }

    /// Forgets a listener that was closed.
    func detach(_ listener: Listener) {
        all.removeAll { $0 === listener }
        limited.removeAll { $0 === listener }
    }

    /// A connection was accepted; `open` is how many are open now.
    /// - Returns: true when this reached the limit and accepting stopped.
    func accepted(open: Int, limit: Int) -> Bool {
        guard open >= limit, !holding else { return false }
        holding = true
        for listener in limited { listener.hold() }
        if let suppressed = limitLog.shouldLog(now: loop.nowNanoseconds) {
            Logger(label: "gatehouse").warning(
                "client connections: \(open) open, server.limits.max_connections is \(limit) per worker: not accepting until one closes\(IntervalLog.suffix(suppressed, "pause"))")
        }
        return true
    }

    /// A connection closed (`open` remain): accept again if the limit allows, and end any backoff now since a
    /// descriptor was freed.
    func closed(open: Int, limit: Int) {
        if holding, open < limit {
            holding = false
            for listener in limited { listener.release() }
        }
        for listener in all where listener.isPaused { listener.retryNow() }
    }

    /// An accept failed; the listener has backed off already. Logged once per interval.
    func failed(errno code: Int32) {
        guard let suppressed = descriptorLog.shouldLog(now: loop.nowNanoseconds) else { return }
        let error = SystemError(errno: code)
        let reason = error.description
        let hint = error.isDescriptorExhaustion
            ? " (raise the descriptor limit, LimitNOFILE=, or lower server.limits.max_connections)" : ""
        Logger(label: "gatehouse").warning(
            "accept failed: \(reason)\(hint); not accepting for \(Listener.backoffMilliseconds) ms or until a connection closes\(IntervalLog.suffix(suppressed, "failed accept"))")
    }
}

/// Rate limit for a repeated log line: the first at once, then at most one per `interval`, each saying how
/// many were left out since the previous one.
struct IntervalLog {
    private let intervalNanoseconds: UInt64
    private var lastLogged: UInt64 = 0
    private var logged = false
    private var suppressed = 0

    init(interval: Duration) {
        intervalNanoseconds = interval.wholeNanoseconds
    }

    /// Nil when this occurrence is to be left out; else how many were left out before it.
    mutating func shouldLog(now: UInt64) -> Int? {
        if logged, now &- lastLogged < intervalNanoseconds {
            suppressed += 1
            return nil
        }
        logged = true
        lastLogged = now
        defer { suppressed = 0 }
        return suppressed
    }

    /// ", N more <what>(s) since the last message" when some were left out.
    static func suffix(_ suppressed: Int, _ what: String) -> String {
        suppressed == 0 ? "" : "; \(suppressed) more \(what)(s) since the last message"
    }
}
