import GatehouseAuth
import GatehouseHTTP
package import GatehouseIO
import Glibc

/// One worker's data path: its client connections, its upstream pools, its scratch buffers and its batch
/// of access-log lines. Lives on, and is only touched from, one event loop.
package final class ProxyEngine {
    package let loop: EventLoop
    package private(set) var snapshot: ProxySnapshot
    /// One pool per upstream of the current snapshot (same order).
    private(set) var pools: [UpstreamPool]
    private var clients: [ObjectIdentifier: ClientConnection] = [:]
    /// Reused for every head the gateway writes (HAProxy's trash chunk): no allocation per request.
    var scratch: [UInt8] = []
    package var counters = ProxyCounters()
    /// Verified JWTs of this worker (keys change with a reload, so the cache is replaced with the snapshot).
    private(set) var tokenCache: VerifiedTokenCache?
    package private(set) var draining = false
    private var onDrained: (() -> Void)?
    private let accessLog: AccessLogBatch?

    /// Creates the engine of one worker.
    /// - Parameter logSink: where access-log batches go; nil when access logging is off.
    package init(loop: EventLoop, snapshot: ProxySnapshot, logSink: LogSink?) {
        self.loop = loop
        self.snapshot = snapshot
        pools = snapshot.upstreams.map { UpstreamPool(settings: $0, loop: loop) }
        tokenCache = Self.makeCache(snapshot)
        scratch.reserveCapacity(4096)
        accessLog = logSink.map { AccessLogBatch(sink: $0, loop: loop) }
    }

    /// The number of open client connections.
    package var connectionCount: Int { clients.count }

    /// Takes over an accepted socket; `tls`: it came from a TLS listener, so it is served with the current
    /// snapshot's certificates.
    package func accept(fd: Int32, peer address: SocketAddress, tls: Bool = false) {
        counters.connectionsAccepted += 1
        var context: TLSServerContext? = nil
        if tls {
            // The gateway refuses a reload that drops the certificates of running TLS listeners, so this
            // holds; never serve plain HTTP on a TLS port.
            guard let certificates = snapshot.tls else {
                close(fd)
                return
            }
            context = certificates
        }
        let peer = PeerInfo(address, under: snapshot, isTLS: tls)
        let client = ClientConnection(fd: fd, peer: peer, engine: self, tls: context)
        clients[ObjectIdentifier(client)] = client
    }

    /// Uses `snapshot` for every request that starts from now on. Exchanges in flight keep the pool they
    /// started with; idle pooled connections of the old snapshot are closed.
    package func install(_ snapshot: ProxySnapshot) {
        let old = pools
        self.snapshot = snapshot
        pools = snapshot.upstreams.map { UpstreamPool(settings: $0, loop: loop) }
        tokenCache = Self.makeCache(snapshot)
        for pool in old { pool.retire() }
    }

    private static func makeCache(_ snapshot: ProxySnapshot) -> VerifiedTokenCache? {
        guard let tokens = snapshot.tokens, tokens.cacheSize > 0 else { return nil }
        return VerifiedTokenCache(capacity: tokens.cacheSize)
    }

    /// Starts a graceful drain: idle connections close now, busy ones after their current answer.
    /// `done` runs once no client connection is left.
    package func drain(done: @escaping () -> Void) {
        draining = true
        onDrained = done
        for client in Array(clients.values) { client.drain() }
        checkDrained()
    }

    /// Closes every connection at once (drain timeout passed).
    package func closeAll() {
        for client in Array(clients.values) { client.abort() }
        for pool in pools { pool.retire() }
        accessLog?.flush()
    }

    func forget(_ client: ClientConnection) {
        clients.removeValue(forKey: ObjectIdentifier(client))
        if draining { checkDrained() }
    }

    private func checkDrained() {
        guard draining, clients.isEmpty, let done = onDrained else { return }
        onDrained = nil
        for pool in pools { pool.retire() }
        accessLog?.flush()
        done()
    }

    // MARK: Access log

    /// Records one finished request.
    func log(head: RequestHead, peer: PeerInfo, status: Int, bytesIn: Int64, bytesOut: Int64, startedAt: UInt64,
             route: String?, upstream: String?, error: String? = nil) {
        counters.requests += 1
        guard snapshot.accessLogEnabled, let accessLog else { return }
        accessLog.append(head: head, peer: peer, status: status, bytesIn: bytesIn, bytesOut: bytesOut,
                         durationNanoseconds: Clocks.monotonicNanoseconds() &- startedAt,
                         route: route, upstream: upstream, error: error)
    }

    /// Records a request refused before it had a head (framing errors, timeouts).
    func logRefusal(peer: PeerInfo, status: Int, reason: String) {
        counters.requests += 1
        guard snapshot.accessLogEnabled, let accessLog else { return }
        accessLog.appendRefusal(peer: peer, status: status, reason: reason)
    }
}
