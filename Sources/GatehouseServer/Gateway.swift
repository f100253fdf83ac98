import GatehouseConfig
import GatehouseIO
import GatehouseProxy
package import Logging
import Glibc

/// The running gateway: loads the config, starts one worker per core, and turns signals into actions
/// (SIGTERM/SIGINT: graceful drain; SIGHUP: reload). The main thread runs a small loop of its own that
/// only watches signals and worker notifications; it never touches a worker's loop directly.
package final class Gateway {
    private enum MainMessage: Sendable {
        case workerDrained(Int)
    }

    private let configPath: String
    private let logger: Logger
    private var plan: RuntimePlan
    private var workers: [Worker] = []
    private let mainLoop: EventLoop
    private var mainMailbox: Mailbox<MainMessage>!
    private var signals: [SignalWatcher] = []
    private var drainTimer: LoopTimer?
    private var drainedWorkers = 0
    private var logSink: LogSink?

    /// Loads and compiles the configuration at `configPath`.
    /// - Throws: the configuration's errors (`ConfigErrors`) or an `IOError`, for the caller to print.
    package init(configPath: String, logger: Logger) throws {
        self.configPath = configPath
        self.logger = logger
        let config = try ConfigLoader.load(path: configPath)
        plan = try SnapshotCompiler.compile(config)
        mainLoop = try EventLoop()
    }

    /// Runs until a graceful shutdown completes. Returns the process exit status.
    package func run() throws -> Int32 {
        SignalWatcher.ignoreBrokenPipe()
        switch plan.accessLog {
        case .stdout: logSink = LogSink.standardOutput()
        case .file(let path): logSink = try LogSink.file(path)
        case .off: logSink = nil
        }
        try logSink?.start()
        mainMailbox = try Mailbox(loop: mainLoop) { [unowned self] message in
            switch message {
            case .workerDrained: workerDrained()
            }
        }
        // Signal handlers before the listeners: a SIGTERM that arrives as soon as "listening on" is printed
        // must drain, not kill the process.
        signals.append(SignalWatcher(loop: mainLoop, signal: SIGTERM) { [unowned self] in beginShutdown("SIGTERM") })
        signals.append(SignalWatcher(loop: mainLoop, signal: SIGINT) { [unowned self] in beginShutdown("SIGINT") })
        signals.append(SignalWatcher(loop: mainLoop, signal: SIGHUP) { [unowned self] in reload() })
        try startWorkers()
        mainLoop.run()
        for worker in workers { worker.join() }
        logSink?.close()
        logger.info("stopped")
        return 0
    }

    private func startWorkers() throws {
        var listen = plan.listen
        var tlsListen = plan.tlsListen
        let mailboxBox = mainMailbox!
        for index in 0..<plan.workers {
            let worker = try Worker(index: index, plan: plan, listen: listen, tlsListen: tlsListen,
                                    logSink: logSink) { index in
                mailboxBox.post(.workerDrained(index))
            }
            if index == 0 {
                // Port 0 means "any": every other worker must share the port the kernel gave the first one.
                listen = worker.boundAddresses
                tlsListen = worker.boundTLSAddresses
                for address in listen { logger.info("listening on \(address)") }
                for address in tlsListen { logger.info("listening on \(address) (TLS)") }
                if let tls = plan.snapshot.tls { logTLS(tls) }
            }
            workers.append(worker)
        }
        for worker in workers { try worker.start() }
        logger.info("started \(workers.count) worker(s), config \(plan.sourcePath)")
    }

    private func beginShutdown(_ signalName: String) {
        guard drainTimer == nil else { return }
        logger.info("\(signalName): draining (up to \(plan.drainTimeout))")
        for worker in workers { worker.mailbox.post(.drain) }
        let timer = LoopTimer(loop: mainLoop) { [unowned self] in
            logger.warning("drain timeout passed: closing the remaining connections")
            for worker in workers { worker.mailbox.post(.stop) }
            finishMainLoop()
        }
        timer.schedule(after: plan.drainTimeout)
        drainTimer = timer
    }

    private func workerDrained() {
        drainedWorkers += 1
        if drainedWorkers == workers.count { finishMainLoop() }
    }

    private func finishMainLoop() {
        drainTimer?.cancel()
        for watcher in signals { watcher.close() }
        mainMailbox.close()
        mainLoop.stop()
    }

    /// Names the certificates new TLS handshakes use.
    private func logTLS(_ tls: TLSServerContext) {
        logger.info("TLS certificates: \(tls.subjects.map { $0.isEmpty ? "(no subject)" : $0 }.joined(separator: ", "))")
    }

    /// Re-reads the config; a valid one reaches every worker at once, an invalid one changes nothing.
    private func reload() {
        do {
            let config = try ConfigLoader.load(path: configPath)
            let next = try SnapshotCompiler.compile(config)
            if !plan.tlsListen.isEmpty, next.snapshot.tls == nil {
                // The running TLS listeners would have no certificate to present (and must never fall back to
                // plain HTTP).
                throw IOError("server.tls is gone but TLS listeners are running; removing TLS needs a restart")
            }
            if next.listen != plan.listen || next.tlsListen != plan.tlsListen || next.workers != plan.workers {
                logger.warning(
                    "reload: server.listen, server.tls.listen and server.workers changes take effect after a restart")
            }
            plan = RuntimePlan(snapshot: next.snapshot, listen: plan.listen, tlsListen: plan.tlsListen,
                               workers: plan.workers, drainTimeout: next.drainTimeout, accessLog: plan.accessLog,
                               sourcePath: plan.sourcePath)
            for worker in workers { worker.mailbox.post(.reload(next.snapshot)) }
            logger.info("reloaded \(configPath)")
            if !plan.tlsListen.isEmpty, let tls = next.snapshot.tls { logTLS(tls) }
        } catch {
            logger.error("reload refused, keeping the running config:\n\(error)")
        }
    }
}
