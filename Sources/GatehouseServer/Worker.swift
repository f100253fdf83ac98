import GatehouseIO
import GatehouseProxy
import Logging

/// What the main thread can ask of a worker (memcached's `conn_queue_item_modes`): a closed set, posted
/// through the worker's mailbox.
enum WorkerMessage: Sendable {
    /// Use this snapshot for new requests.
    case reload(ProxySnapshot)
    /// Stop accepting; finish what is in flight; then stop the loop.
    case drain
    /// Close everything now and stop the loop.
    case stop
    /// A reload changed `server.listen` / `server.tls.listen`: open these, close those (by bound address).
    case listeners(open: [SocketAddress], openTLS: [SocketAddress], close: [SocketAddress])
}

/// One event loop on its own thread, with its own listening sockets (SO_REUSEPORT) and its own data path.
final class Worker {
    let index: Int
    let loop: EventLoop
    let engine: ProxyEngine
    private var listeners: [Listener] = []
    private var tlsListeners: [Listener] = []
    /// The admin listener (worker 0 only): its own socket, never shared with another process.
    private(set) var adminListener: Listener?
    private(set) var mailbox: Mailbox<WorkerMessage>!
    private var thread: LoopThread?
    private let onDrained: @Sendable (Int) -> Void

    /// Creates the worker and binds its listeners (on the calling thread, before the loop runs).
    /// - Throws: `IOError` when a listener cannot be bound.
    init(index: Int, plan: RuntimePlan, listen: [SocketAddress], tlsListen: [SocketAddress], admin: SocketAddress?,
         logSink: LogSink?, services: SessionServices?, control: GatewayControl?,
         onDrained: @escaping @Sendable (Int) -> Void) throws(IOError) {
        self.index = index
        self.onDrained = onDrained
        loop = try EventLoop()
        engine = try ProxyEngine(loop: loop, snapshot: plan.snapshot, logSink: logSink, services: services,
                                 control: control)
        for address in listen { listeners.append(try makeListener(address, tls: false)) }
        for address in tlsListen { tlsListeners.append(try makeListener(address, tls: true)) }
        if let admin {
            let engine = self.engine
            let listener = try Listener(loop: loop, address: admin, reusePort: false) { fd, peer in
                engine.accept(fd: fd, peer: peer, role: .admin)
            }
            engine.attach(listener, limited: false)
            adminListener = listener
            engine.adminAddress = adminListener?.boundAddress
        }
        mailbox = try Mailbox(loop: loop) { [unowned self] message in handle(message) }
        control?.register(engine, executor: engine.executor)
    }

    private func makeListener(_ address: SocketAddress, tls: Bool) throws(IOError) -> Listener {
        let engine = self.engine
        let listener = try Listener(loop: loop, address: address) { fd, peer in engine.accept(fd: fd, peer: peer, tls: tls) }
        engine.attach(listener, limited: true)
        return listener
    }

    /// The addresses actually bound (port 0 resolved).
    var boundAddresses: [SocketAddress] { listeners.map(\.boundAddress) }
    /// The TLS addresses actually bound.
    var boundTLSAddresses: [SocketAddress] { tlsListeners.map(\.boundAddress) }

    /// Runs the loop on a new thread.
    func start() throws(IOError) {
        thread = try LoopThread(name: "gh-worker-\(index)") { [self] in loop.run() }
    }

    func join() { thread?.join() }

    private func handle(_ message: WorkerMessage) {
        switch message {
        case .reload(let snapshot):
            engine.install(snapshot)
        case .drain:
            for listener in listeners + tlsListeners { listener.acceptQueuedThenClose() }
            adminListener?.close()
            engine.drain { [unowned self] in
                mailbox.close()
                loop.stop()
                onDrained(index)
            }
        case .listeners(let open, let openTLS, let close):
            for listener in listeners + tlsListeners where close.contains(listener.boundAddress) {
                listener.acceptQueuedThenClose()
                engine.detach(listener)
            }
            listeners.removeAll { close.contains($0.boundAddress) }
            tlsListeners.removeAll { close.contains($0.boundAddress) }
            // The gateway checked that these bind; a failure here (a race with another process) is logged.
            for (addresses, tls) in [(open, false), (openTLS, true)] {
                for address in addresses {
                    do {
                        let listener = try makeListener(address, tls: tls)
                        if tls { tlsListeners.append(listener) } else { listeners.append(listener) }
                    } catch {
                        Logger(label: "gatehouse").error("worker \(index): cannot listen on \(address): \(error.message)")
                    }
                }
            }
        case .stop:
            for listener in listeners + tlsListeners { listener.close() }
            adminListener?.close()
            engine.closeAll()
            mailbox.close()
            loop.stop()
        }
    }
}
