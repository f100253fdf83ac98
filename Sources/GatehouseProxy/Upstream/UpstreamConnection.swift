import GatehouseHTTP
import GatehouseIO

/// A connection to one upstream server: in use by one exchange at a time, or idle in its pool.
final class UpstreamConnection: ConnectionDelegate {
    let connection: Connection
    let serverIndex: Int
    unowned let pool: UpstreamPool
    var parser: ResponseParser
    /// The client connection using it; nil while idle. Strong on purpose: the client clears it when its machine
    /// releases the upstream (`releaseUpstream`).
    var owner: ClientConnection?
    private(set) var isConnected = false
    /// True once it served an exchange; a reused connection may have been closed by the server meanwhile.
    private(set) var reused = false
    private var inPool = false
    private var timer: LoopTimer!

    init(connection: Connection, serverIndex: Int, pool: UpstreamPool, loop: EventLoop) {
        self.connection = connection
        self.serverIndex = serverIndex
        self.pool = pool
        parser = ResponseParser(limits: HTTPLimits())
        timer = LoopTimer(loop: loop) { [unowned self] in didTimeOut() }
        connection.delegate = self
        connection.enableReading()
    }

    /// Arms the connect or response timer.
    func arm(_ timeout: Duration) { timer.schedule(after: timeout) }
    func disarm() { timer.cancel() }

    func close() {
        timer.cancel()
        owner = nil
        connection.close()
        if inPool {
            inPool = false
            pool.remove(self)
        }
    }

    func enterPool(timeout: Duration) {
        owner = nil
        inPool = true
        reused = true
        // Kept when between messages (as the client side keeps its parser): building one per exchange costs
        // more than the rest of returning the connection. Anything else starts over.
        parser.prepareForNextResponse(limits: HTTPLimits())
        timer.schedule(after: timeout)
    }

    func leavePool() {
        inPool = false
        timer.cancel()
    }

    // MARK: ConnectionDelegate

    func connectionConnected(_ connection: Connection) {
        isConnected = true
        connection.setNoDelay()
        owner?.upstreamConnected(self)
    }

    func connectionReadable(_ connection: Connection) {
        if let owner {
            owner.upstreamReadable(self)
        } else {
            close()  // bytes on an idle connection: the server broke the protocol; never reuse it
        }
    }

    func connectionWritable(_ connection: Connection) {
        owner?.upstreamWritable(self)
    }

    func connectionClosed(_ connection: Connection, eof: Bool) {
        if let owner {
            owner.upstreamClosed(self)
        } else {
            close()
        }
    }

    private func didTimeOut() {
        if let owner {
            owner.upstreamTimedOut(self)
        } else {
            close()  // idle keep-alive lifetime over
        }
    }
}
