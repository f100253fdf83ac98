import GatehouseConfig
import GatehouseIO
import GatehouseProxy
import GatehouseSessions
package import Logging
import Glibc

/// The running gateway: loads the config, starts one worker per core, and turns signals into actions
/// (SIGTERM/SIGINT: graceful drain; SIGHUP: reload). The main thread runs a small loop of its own that
/// only watches signals and worker notifications; it never touches a worker's loop directly.
package final class Gateway {
    private enum MainMessage: Sendable {
        case workerDrained(Int)
        /// `POST /reload` on the admin listener: reload, then tell the worker (nil = reloaded, else the errors).
        case reload(@Sendable (String?) -> Void)
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
    /// Sign-in and sessions (when `login.users_file` is set): created once, shared by every worker.
    private var services: SessionServices?
    private var sessionBackend: (any SessionBackend)?
    /// Polls the users file for changes and purges expired sessions.
    private var housekeeping: LoopTimer?
    private var usersFileStamp: FileStamp?
    private var lastPurge: Int64 = 0
    /// Reports access-log lines the sink dropped (stdout blocked or too slow), every `droppedLogInterval`.
    private var accessLogWatch: LoopTimer?
    private var reportedAccessLogDrops = 0
    private static let droppedLogInterval: Duration = .seconds(10)
    /// Issuers whose keys come from their provider: fetched off the loops, published as new snapshots.
    private var providerKeys: ProviderKeyManager?
    /// Outbound HTTPS (provider keys, later the OIDC token endpoint): blocking libcurl calls, off the loops.
    private var fetchPool: BlockingPool?
    /// Each configured listen address (port 0 as written) and the address the workers bound for it.
    private var bound: [ListenKey: SocketAddress] = [:]

    /// Loads and compiles the configuration at `configPath`.
    /// - Throws: the configuration's errors (`ConfigErrors`) or an `IOError`, for the caller to print.
    package init(configPath: String, logger: Logger) throws {
        self.configPath = configPath
        self.logger = logger
        // Before compiling: `max_connections: auto` is derived from this limit.
        DescriptorLimit.raiseToHard()
        let config = try ConfigLoader.load(path: configPath)
        plan = try SnapshotCompiler.compile(config)
        mainLoop = try EventLoop()
        try startProviderKeys()
    }

    /// Starts the provider key manager when some issuer fetches its keys (its copies on disk serve at once), and
    /// puts its unknown-kid hooks into the first snapshot.
    private func startProviderKeys() throws {
        guard !plan.providerIssuers.isEmpty else { return }
        let pool = try BlockingPool(name: "gh-fetch", threads: 1, queueLimit: 64, maxQueueWait: .seconds(60))
        let manager = try ProviderKeyManager(loop: mainLoop, pool: pool, logger: logger)
        manager.configure(plan.providerIssuers)
        manager.onChange = { [unowned self] directory in publishProviderKeys(directory) }
        fetchPool = pool
        providerKeys = manager
        plan.snapshot = plan.snapshot(with: manager.directory())
    }

    /// A provider's key set changed: the same snapshot with the new keys reaches every worker, as a reload does.
    private func publishProviderKeys(_ directory: ProviderKeyDirectory) {
        plan.snapshot = plan.snapshot(with: directory)
        for worker in workers { worker.mailbox.post(.reload(plan.snapshot)) }
    }

    /// Readiness problems and metrics of the provider key sets (read from the admin worker's thread).
    private static func providerKeyReport(_ manager: ProviderKeyManager?) -> (@Sendable () -> [String], @Sendable () -> String) {
        guard let manager else { return ({ [] }, { "" }) }
        let board = manager.board
        let statuses: @Sendable () -> [String: ProviderKeyManager.Status] = { board.current() }
        let problems: @Sendable () -> [String] = {
            statuses().filter { !$0.value.loaded }.keys.sorted().map { "keys of issuer \($0) not loaded yet" }
        }
        let metrics: @Sendable () -> String = { ProviderKeyMetrics.render(statuses()) }
        return (problems, metrics)
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
        try startSessionServices()
        mainMailbox = try Mailbox(loop: mainLoop) { [unowned self] message in
            switch message {
            case .workerDrained: workerDrained()
            case .reload(let reply): reply(reload())
            }
        }
        // Signal handlers before the listeners: a SIGTERM that arrives as soon as "listening on" is printed
        // must drain, not kill the process.
        signals.append(SignalWatcher(loop: mainLoop, signal: SIGTERM) { [unowned self] in beginShutdown("SIGTERM") })
        signals.append(SignalWatcher(loop: mainLoop, signal: SIGINT) { [unowned self] in beginShutdown("SIGINT") })
        signals.append(SignalWatcher(loop: mainLoop, signal: SIGHUP) { [unowned self] in reload() })
        try startWorkers()
        logConnectionLimit()
        let logWatch = LoopTimer(loop: mainLoop) { [unowned self] in reportDroppedAccessLog() }
        logWatch.schedule(after: Self.droppedLogInterval)
        accessLogWatch = logWatch
        mainLoop.run()
        for worker in workers { worker.join() }
        providerKeys?.stop()
        fetchPool?.shutdown()
        services?.hashing.shutdown()
        sessionBackend?.close()
        logSink?.close()
        logger.info("stopped")
        return 0
    }

    private func startWorkers() throws {
        var listen = plan.listen
        var tlsListen = plan.tlsListen
        let mailboxBox = mainMailbox!
        let backend = sessionBackend
        let revocations = services?.revocations
        let keyReport = Self.providerKeyReport(providerKeys)
        let control = GatewayControl(
            expectedWorkers: plan.workers,
            reload: { reply in mailboxBox.post(.reload(reply)) },
            // Not ready until the revocations are read too: the gateway's own tokens get 503 until then.
            storeReachable: { (backend?.isReachable ?? true) && (revocations?.isLoaded ?? true) },
            storeWriteFailures: { (backend as? EmbeddedSessionStore)?.diskWriteFailures },
            readinessProblems: keyReport.0, extraMetrics: keyReport.1)
        for index in 0..<plan.workers {
            let worker = try Worker(index: index, plan: plan, listen: listen, tlsListen: tlsListen,
                                    admin: index == 0 ? plan.admin : nil, logSink: logSink, services: services,
                                    control: control) { index in
                mailboxBox.post(.workerDrained(index))
            }
            if index == 0 {
                // Port 0 means "any": every other worker must share the port the kernel gave the first one.
                for (configured, actual) in zip(listen, worker.boundAddresses) {
                    bound[ListenKey(address: configured, tls: false)] = actual
                }
                for (configured, actual) in zip(tlsListen, worker.boundTLSAddresses) {
                    bound[ListenKey(address: configured, tls: true)] = actual
                }
                listen = worker.boundAddresses
                tlsListen = worker.boundTLSAddresses
                for address in listen { logger.info("listening on \(address)") }
                for address in tlsListen { logger.info("listening on \(address) (TLS)") }
                if let tls = plan.snapshot.tls { logTLS(tls) }
                if let admin = worker.adminListener { logger.info("admin listening on \(admin.boundAddress)") }
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
        accessLogWatch?.cancel()
        housekeeping?.cancel()
        for watcher in signals { watcher.close() }
        mainMailbox.close()
        mainLoop.stop()
    }

    /// Says how many connections each worker takes, and warns when the descriptor limit cannot hold them.
    private func logConnectionLimit() {
        let budget = SnapshotCompiler.connectionBudget(workers: plan.workers, upstreams: plan.snapshot.upstreams)
        let limit = budget.descriptorLimit == .max ? "unlimited" : "\(budget.descriptorLimit)"
        let perWorker = plan.snapshot.maxConnections
        logger.info("connections: at most \(perWorker) per worker (file descriptor limit \(limit))")
        if budget.tooLow {
            logger.warning(
                "the file descriptor limit \(limit) leaves no room for \(plan.workers) worker(s) and their upstream connections; raise it (LimitNOFILE= in the systemd unit, ulimit -n)")
        } else if perWorker > budget.perWorker {
            logger.warning(
                "server.limits.max_connections \(perWorker) is more than the file descriptor limit \(limit) holds (\(budget.perWorker) per worker with upstream connections): accepts will pause when descriptors run out")
        }
    }

    private func reportDroppedAccessLog() {
        if let logSink {
            let dropped = logSink.droppedLines
            if dropped > reportedAccessLogDrops {
                logger.warning(
                    "access log: \(dropped - reportedAccessLogDrops) line(s) dropped in the last 10 s: the output is blocked or too slow")
                reportedAccessLogDrops = dropped
            }
        }
        accessLogWatch?.schedule(after: Self.droppedLogInterval)
    }

    /// Names the certificates new TLS handshakes use.
    private func logTLS(_ tls: TLSServerContext) {
        logger.info("TLS certificates: \(tls.subjects.map { $0.isEmpty ? "(no subject)" : $0 }.joined(separator: ", "))")
    }

    /// Re-reads the config; a valid one reaches every worker at once, an invalid one changes nothing.
    /// Returns nil when reloaded, else the errors (also logged).
    @discardableResult
    private func reload() -> String? {
        defer { reloadUsers(force: true) }
        do {
            let config = try ConfigLoader.load(path: configPath)
            var next = try SnapshotCompiler.compile(config)
            if !next.providerIssuers.isEmpty, providerKeys == nil {
                throw IOError("reload: keys fetched from a provider (discovery, jwks_uri) need a restart to start")
            }
            if let providerKeys {
                providerKeys.configure(next.providerIssuers)
                next.snapshot = next.snapshot(with: providerKeys.directory())
            }
            if !plan.tlsListen.isEmpty, next.snapshot.tls == nil {
                // The running TLS listeners would have no certificate to present (and must never fall back to
                // plain HTTP).
                throw IOError("server.tls is gone but TLS listeners are running; removing TLS needs a restart")
            }
            if next.workers != plan.workers || next.admin != plan.admin {
                logger.warning("reload: server.workers and admin.listen changes take effect after a restart")
            }
            let listenerChange = try listenerChanges(next)
            if next.signIn != plan.signIn {
                logger.warning(
                    "reload: changes to login.users_file, sessions.store, login.hash_threads, login.queue_timeout and login.rate_limit take effect after a restart")
            }
            if (next.snapshot.signIn == nil) != (plan.snapshot.signIn == nil) {
                throw IOError("reload: turning the gateway's own sign-in on or off needs a restart")
            }
            plan = RuntimePlan(snapshot: next.snapshot, listen: next.listen, tlsListen: next.tlsListen,
                               workers: plan.workers, drainTimeout: next.drainTimeout, accessLog: plan.accessLog,
                               sourcePath: plan.sourcePath, admin: plan.admin, signIn: plan.signIn,
                               tokenBlueprint: next.tokenBlueprint, providerIssuers: next.providerIssuers,
                               oidcBlueprint: next.oidcBlueprint)
            // The new snapshot first (a new TLS listener needs its certificates), then the listener changes.
            for worker in workers { worker.mailbox.post(.reload(next.snapshot)) }
            if let change = listenerChange {
                for worker in workers { worker.mailbox.post(change.message) }
                for address in change.opened { logger.info("listening on \(address)") }
                for address in change.closed { logger.info("stopped listening on \(address)") }
                bound = change.bound
            }
            logger.info("reloaded \(configPath)")
            if !plan.tlsListen.isEmpty, let tls = next.snapshot.tls { logTLS(tls) }
            return nil
        } catch {
            logger.error("reload refused, keeping the running config:\n\(error)")
            return "\(error)"
        }
    }

    // MARK: Listeners added or removed by a reload

    /// A configured listen address and whether it is a TLS listener (the same `127.0.0.1:0` may be both).
    private struct ListenKey: Hashable {
        let address: SocketAddress
        let tls: Bool
    }

    private struct ListenerChange {
        let message: WorkerMessage
        let opened: [SocketAddress]
        let closed: [SocketAddress]
        /// Configured address -> bound address, after the change.
        let bound: [ListenKey: SocketAddress]
    }

    /// What a reload changes in the listeners, checked before anything is applied: an added address must name its
    /// port (port 0 would give each worker another port) and must be free to bind. Plain and TLS listeners are
    /// compared separately: an address moving from one to the other is closed and opened again.
    private func listenerChanges(_ next: RuntimePlan) throws -> ListenerChange? {
        let running = Set(plan.listen.map { ListenKey(address: $0, tls: false) }
                          + plan.tlsListen.map { ListenKey(address: $0, tls: true) })
        let wanted = Set(next.listen.map { ListenKey(address: $0, tls: false) }
                         + next.tlsListen.map { ListenKey(address: $0, tls: true) })
        let added = wanted.subtracting(running)
        let removed = running.subtracting(wanted)
        guard !added.isEmpty || !removed.isEmpty else { return nil }
        if wanted.isEmpty { throw IOError("reload: the new config listens nowhere") }
        for key in added {
            if key.address.port == 0 {
                throw IOError("reload: a listener added by a reload needs an explicit port, not \(key.address)")
            }
            // An address moving between plain and TLS is ours: it is closed first, so it is free then.
            if !running.contains(ListenKey(address: key.address, tls: !key.tls)) {
                try Listener.checkBindable(key.address)
            }
        }
        var map = bound
        for key in removed { map[key] = nil }
        for key in added { map[key] = key.address }
        let closed = removed.compactMap { bound[$0] }
        let openPlain = next.listen.filter { added.contains(ListenKey(address: $0, tls: false)) }
        let openTLS = next.tlsListen.filter { added.contains(ListenKey(address: $0, tls: true)) }
        return ListenerChange(message: .listeners(open: openPlain, openTLS: openTLS, close: closed),
                              opened: openPlain + openTLS, closed: closed, bound: map)
    }

    // MARK: Sign-in and sessions

    /// Opens the session store, loads the users, starts the hashing pool.
    private func startSessionServices() throws {
        guard let signIn = plan.signIn else { return }
        let users = try signIn.usersFile.map(SnapshotCompiler.loadUsers) ?? UserDirectory(accounts: [])
        usersFileStamp = signIn.usersFile.flatMap { FileStamp(path: $0) }
        let revocations = RevocationList()
        let now = Int64(Clocks.wallClock().seconds)
        let store: any SessionBackend
        let storeDescription: String
        switch signIn.store {
        case .embedded(let path):
            do {
                let embedded = try EmbeddedSessionStore(path: path, accessTokenTTL: signIn.accessTTL,
                                                        revocations: revocations, now: now,
                                                        maxSessions: signIn.embeddedMaxSessions)
                store = embedded
                storeDescription = "\(embedded.liveSessionCount) session(s) in \(path)"
            } catch {
                throw IOError("\(plan.sourcePath): sessions.embedded.path: \(path): \(error.reason)")
            }
        case .redis(let settings):
            // Connections are made per worker, on its loop; a Redis that is down now is retried with backoff
            // and session requests get 503 meanwhile (the gateway starts anyway: JWT routes keep working).
            if let sentinel = settings.sentinel {
                try checkSentinels(settings, sentinel)
                storeDescription = "sessions in Redis master \"\(sentinel.master)\" (db \(settings.db)) found through "
                    + "\(sentinel.addresses.count) sentinel(s)"
            } else {
                storeDescription = "sessions in Redis at \(settings.host):\(settings.port)/\(settings.db)"
            }
            store = RedisSessionBackend(settings: settings, revocations: revocations, accessTokenTTL: signIn.accessTTL)
        }
        sessionBackend = store
        // The first purge a minute after start: sessions that look expired by a clock wrong at start survive it
        // being corrected.
        lastPurge = now
        // Queue bound: a storm of sign-ins waits here briefly; past it, 503 rather than unbounded memory.
        // SCHED_IDLE: hashes take only CPU time the event loops leave (signed-in traffic keeps its latency in a
        // storm of sign-ins; measured by bench/sessions.sh, where nice 10 and nice 19 were not enough).
        let pool = try BlockingPool(name: "gh-hash", threads: signIn.hashThreads, queueLimit: 256, priority: .idle,
                                    maxQueueWait: signIn.queueTimeout)
        services = SessionServices(
            backend: store, revocations: revocations,
            throttle: SignInThrottle(maxFailures: signIn.maxFailures, window: signIn.failureWindow),
            hashing: pool, users: users, outbound: fetchPool)
        logger.info("sign-in: \(users.count) user(s) from \(signIn.usersFile ?? "(no users file)"), \(storeDescription)")
        let timer = LoopTimer(loop: mainLoop) { [unowned self] in housekeep() }
        timer.schedule(after: .seconds(2))
        housekeeping = timer
    }

    /// Asks the sentinels once before the workers start (on a loop of its own, bounded by the connect timeout
    /// per sentinel): a master name they do not know, or a sentinel password they refuse, is a config error and
    /// stops the start naming the key. Sentinels that cannot be reached are not: the workers keep asking with
    /// backoff, and readiness says 503 until a master is found.
    private func checkSentinels(_ settings: RedisSettings, _ sentinel: SentinelSettings) throws {
        let at = plan.sourcePath
        switch try SentinelStartupCheck.run(settings) {
        case .found(let master):
            logger.info("redis: the sentinels name \(master) as master \"\(sentinel.master)\"")
        case .unknownMaster(let which):
            throw IOError("\(at): sessions.redis.sentinel.master: sentinel \(which) knows no master named "
                          + "\"\(sentinel.master)\" (its `sentinel monitor` name)")
        case .authRefused(let which, let detail):
            throw IOError("\(at): sessions.redis.sentinel.password_env: sentinel \(which) refused the password "
                          + "(\(detail)); the sentinels' password is not the data nodes' one")
        case .noAnswer(let why):
            logger.warning("redis: no sentinel answered yet (\(why)); the workers keep asking, readiness is 503 until a master is found")
        }
    }

    /// Every 2 s: reload the users file if it changed; every minute: purge expired sessions.
    private func housekeep() {
        reloadUsers(force: false)
        let now = Int64(Clocks.wallClock().seconds)
        if now - lastPurge >= 60, let sessionBackend, let services {
            lastPurge = now
            let ended = sessionBackend.purgeExpired(now: now)
            // The embedded store purges its revocations itself, by a clock it checks against clock steps.
            if !(sessionBackend is EmbeddedSessionStore) { services.revocations.purge(now: now) }
            if ended > 0 { logger.info("sessions: \(ended) expired session(s) purged") }
        }
        housekeeping?.schedule(after: .seconds(2))
    }

    /// Re-reads the users file when it changed (or when `force`, on SIGHUP); a broken file keeps the old users.
    /// Users removed, disabled or with a new password are signed out everywhere.
    private func reloadUsers(force: Bool) {
        guard let services, let path = plan.signIn?.usersFile ?? nil, let sessionBackend else { return }
        let stamp = FileStamp(path: path)
        guard force || stamp != usersFileStamp else { return }
        usersFileStamp = stamp
        let users: UserDirectory
        do {
            users = try SnapshotCompiler.loadUsers(path)
        } catch {
            logger.error("users file refused, keeping the previous users:\n\(error)")
            return
        }
        let old = services.replaceUsers(users)
        let store = sessionBackend.store(for: mainLoop)
        for name in users.diff(from: old) {
            store.deleteAll(of: name) { [logger] result in
                if case .success(let count) = result, count > 0 {
                    logger.info("users file: \(name) removed, disabled or re-keyed: \(count) session(s) ended")
                }
            }
        }
        logger.info("users file reloaded: \(users.count) user(s)")
    }
}

/// A file's identity for change detection: modification time, size and inode (an editor's rename-replace
/// changes the inode even within one second).
struct FileStamp: Equatable {
    let seconds: Int
    let nanoseconds: Int
    let size: Int
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        seconds = info.st_mtim.tv_sec
        nanoseconds = info.st_mtim.tv_nsec
        size = Int(info.st_size)
        inode = UInt64(info.st_ino)
    }
}
