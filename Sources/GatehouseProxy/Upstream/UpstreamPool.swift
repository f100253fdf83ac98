import GatehouseIO
import Logging

/// One worker's connections to one upstream: the server choice (round-robin, skipping servers that just
/// failed) and the idle keep-alive connections.
///
/// Per worker, so no lock: an idle connection is only ever picked up by the loop that owns it.
final class UpstreamPool {
    let settings: UpstreamSettings
    private let loop: EventLoop
    private var idle: [UpstreamConnection] = []
    private var nextServer = 0
    /// Per server: the loop time (ns) before which it is skipped.
    private var downUntil: [UInt64]
    /// Set when a reload replaced this pool: connections coming back are closed, not kept.
    private(set) var retired = false
    /// Sockets that could not be made (no descriptor left) are logged once per interval, not per request.
    private var socketFailureLog = IntervalLog(interval: AcceptGate.logInterval)

    init(settings: UpstreamSettings, loop: EventLoop) {
        self.settings = settings
        self.loop = loop
        downUntil = Array(repeating: 0, count: settings.servers.count)
    }

    /// An idle connection if one is open, else a new connection to the next healthy server.
    /// - Throws: `IOError` when the connect could not even start (no socket: the client gets 502; the server is
    ///   not marked down, it did nothing wrong).
    func acquire(excluding excluded: Int? = nil) throws(IOError) -> UpstreamConnection {
        do {
            return try connect(excluding: excluded)
        } catch {
            if let suppressed = socketFailureLog.shouldLog(now: loop.nowNanoseconds) {
                Logger(label: "gatehouse").error(
                    "upstream \(settings.name): \(error.message): answering 502\(IntervalLog.suffix(suppressed, "failure"))")
            }
            throw error
        }
    }

    private func connect(excluding excluded: Int?) throws(IOError) -> UpstreamConnection {
        while let candidate = idle.popLast() {
            candidate.leavePool()
            if candidate.connection.isOpen { return candidate }
        }
        let server = pickServer(excluding: excluded)
        let connection: Connection
        if let tls = settings.tls {
            connection = try Connection(loop: loop, connectingTo: settings.servers[server], tls: tls,
                                        serverName: settings.tlsServerNames[server])
        } else {
            connection = try Connection(loop: loop, connectingTo: settings.servers[server])
        }
        return UpstreamConnection(connection: connection, serverIndex: server, pool: self, loop: loop)
    }

    /// Takes back a connection whose exchange finished cleanly, or closes it when the pool is full or retired.
    func release(_ upstream: UpstreamConnection) {
        guard !retired, idle.count < settings.keepalive, upstream.connection.isOpen else {
            upstream.close()
            return
        }
        idle.append(upstream)
        upstream.enterPool(timeout: settings.keepaliveTimeout)
    }

    /// Forgets an idle connection that the upstream closed or that timed out.
    func remove(_ upstream: UpstreamConnection) {
        idle.removeAll { $0 === upstream }
    }

    /// Skips `server` for `fail_timeout` (it refused or timed out a connect).
    func markFailed(server: Int) {
        downUntil[server] = loop.nowNanoseconds &+ settings.failTimeout.wholeNanoseconds
    }

    /// How many servers there are (a failed connect is retried on another one when there is one).
    var serverCount: Int { settings.servers.count }

    /// Closes every idle connection and refuses to keep more (after a reload).
    func retire() {
        retired = true
        let closing = idle
        idle.removeAll()
        for upstream in closing { upstream.close() }
    }

    private func pickServer(excluding excluded: Int?) -> Int {
        let count = settings.servers.count
        let now = loop.nowNanoseconds
        for step in 0..<count {
            let candidate = (nextServer + step) % count
            if candidate != excluded, downUntil[candidate] <= now {
                nextServer = (candidate + 1) % count
                return candidate
            }
        }
        // Every server is marked down: try the next one anyway rather than refuse outright.
        let candidate = nextServer % count
        nextServer = (candidate + 1) % count
        return candidate
    }
}
