package import GatehouseIO
import Logging

/// `host:port` of a Redis server or a sentinel.
package struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// `sessions.redis.sentinel`: the sentinels to ask and the name of the master they watch.
package struct SentinelSettings: Sendable, Equatable {
    /// The name the sentinels know the master by (`sentinel monitor NAME ...` in their config).
    package var master: String
    /// Asked in this order; one that is down, refuses, or answers nonsense is skipped.
    package var addresses: [RedisEndpoint]
    /// The sentinels' own password (`requirepass` in sentinel.conf), which is not the data nodes' one.
    package var password: String?

    package init(master: String, addresses: [RedisEndpoint], password: String? = nil) {
        self.master = master
        self.addresses = addresses
        self.password = password
    }
}

/// How many replicas a write that matters waits for (`WAIT n`).
package enum ReplicaAck: Sendable, Equatable {
    /// 1 when the master has at least one replica attached (listed in `ROLE`, or counted by `INFO replication`'s
    /// `connected_slaves` while it re-syncs), else 0 (no wait).
    case auto
    /// Exactly this many; 0: never wait.
    case replicas(Int)
}

/// A `ROLE` reply: `master` with its connected replicas, or something else (`slave`, `sentinel`).
package struct RedisRole: Sendable, Equatable {
    package let name: String
    /// Replicas the master lists (only for `master`).
    package let replicas: Int

    package var isMaster: Bool { name == "master" }

    /// Nil when `reply` is not a `ROLE` answer.
    package init?(_ reply: RedisReply) {
        guard case .array(let items) = reply, case .bulk(let role)? = items.first else { return nil }
        name = String(decoding: role, as: UTF8.self)
        if name == "master", items.count >= 3, case .array(let list) = items[2] {
            replicas = list.count
        } else {
            replicas = 0
        }
    }
}

/// Replicas attached to a master, in any state, from its `INFO replication` text (`connected_slaves:N`).
///
/// Why not `ROLE` alone: it lists only replicas that are in sync. Right after a failover the demoted master
/// re-syncs as the new master's replica (by default after `repl-diskless-sync-delay`, 5 s): it is attached but not
/// listed, and a write answered without waiting for it is lost if the new master dies before the sync is done.
/// Counted here, such a replica makes writes wait (and get 503 until it acknowledges) instead.
package enum RedisReplicationInfo {
    /// Nil when the text has no `connected_slaves` line.
    package static func attachedReplicas(_ text: [UInt8]) -> Int? {
        let key = Array("connected_slaves:".utf8)
        var lineStart = 0
        while lineStart < text.count {
            var end = lineStart
            while end < text.count, text[end] != UInt8(ascii: "\n") { end += 1 }
            if end - lineStart > key.count, text[lineStart..<lineStart + key.count].elementsEqual(key) {
                var value = 0
                var digits = 0
                for byte in text[(lineStart + key.count)..<end] where byte != UInt8(ascii: "\r") {
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 6 else { return nil }
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            lineStart = end + 1
        }
        return nil
    }
}

/// What one sentinel said about the master.
package enum SentinelAnswer: Sendable, Equatable {
    case master(RedisEndpoint)
    /// `SENTINEL get-master-addr-by-name` gave nil: this sentinel watches no master of that name.
    case unknownMaster
    /// An answer that is not an address (a sentinel that is not one, a proxy in the way).
    case garbage(String)
    /// No answer: down, timed out, or the handshake (`AUTH`) was refused.
    case failed(RedisError)

    /// Reads the reply of `SENTINEL get-master-addr-by-name`.
    package init(_ result: Result<RedisReply, RedisError>) {
        switch result {
        case .failure(let error):
            self = .failed(error)
        case .success(.null):
            self = .unknownMaster
        case .success(.array(let items)) where items.count == 2:
            guard case .bulk(let host) = items[0], case .bulk(let port) = items[1],
                  let text = String(validating: host, as: UTF8.self), !text.isEmpty, text.utf8.count <= 255,
                  !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7f }),
                  let number = Int(String(decoding: port, as: UTF8.self)), (1...65535).contains(number)
            else {
                self = .garbage("an address that is not host and port")
                return
            }
            self = .master(RedisEndpoint(host: text, port: number))
        case .success(.error(let message)):
            self = .garbage("the error \"\(message.prefix(120))\"")
        case .success(let other):
            self = .garbage(RedisConnection.describe(other))
        }
    }
}

/// Finds the master through the sentinels and follows it, on one event loop (each worker has its own).
///
/// One sentinel at a time: a `query` connection (`SENTINEL get-master-addr-by-name`) and a `watch` connection
/// subscribed to `+switch-master`, both plain `RedisConnection`s (hiredis async, nothing blocks the loop). A
/// sentinel that cannot be reached, refuses `AUTH`, answers garbage or does not know the master is dropped and
/// the next one in the list is asked at once; after a whole round without an address, the next round waits a
/// backoff (100 ms doubling to 5 s, like a connection's).
///
/// The master is asked for when the monitor starts, whenever the watch (re)subscribes (a `+switch-master` may
/// have been missed while it was not listening), and when the owner calls `refresh()` (its connection to the
/// master was lost or refused: the sentinels may already know where the master went). A `+switch-master`
/// message for this master moves it at once. Every answer goes to `onMaster`, changed or not; the owner checks.
package final class SentinelMonitor {
    private unowned let loop: EventLoop
    private let sentinel: SentinelSettings
    private let timeout: Duration
    private let connectTimeout: Duration
    private let logger = Logger(label: "gatehouse.sessions.redis")

    private var index = 0
    private var query: RedisConnection?
    private var watch: RedisConnection?
    /// Bumped whenever the connections are replaced: a late callback of the old ones does nothing.
    private var generation: UInt64 = 0
    private var asking = false
    private var askAgain = false
    /// Sentinels tried in this round without an address.
    private var missesInRound = 0
    private var failedRounds = 0
    private var retryTimer: LoopTimer!
    private var retired: [RedisConnection] = []
    private var reaper: LoopTimer!
    private var closed = false

    /// An address from a sentinel (an answer or a `+switch-master`).
    package var onMaster: ((RedisEndpoint) -> Void)?
    /// Why the last sentinel gave no address (readiness details, logs); nil after an answer.
    package private(set) var lastProblem: String?
    /// Answers received (tests).
    package private(set) var answers = 0

    package init(loop: EventLoop, sentinel: SentinelSettings, timeout: Duration, connectTimeout: Duration) {
        self.loop = loop
        self.sentinel = sentinel
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        retryTimer = LoopTimer(loop: loop) { [unowned self] in ask() }
        reaper = LoopTimer(loop: loop) { [unowned self] in retired.removeAll() }
    }

    deinit { close() }

    /// The sentinel now in use.
    package var current: RedisEndpoint { sentinel.addresses[index] }

    package func start() { ask() }

    /// Asks the sentinels again now (coalesced with a question in flight; not before a pending backoff ends).
    package func refresh() {
        guard !retryTimer.isScheduled else { return }
        ask()
    }

    package func close() {
        guard !closed else { return }
        closed = true
        retryTimer.cancel()
        reaper.cancel()
        dropConnections()
    }

    // MARK: Asking

    private func ask() {
        guard !closed else { return }
        if asking {
            askAgain = true
            return
        }
        if query == nil { connect() }
        guard let query else { return }
        asking = true
        let mine = generation
        query.command([Array("SENTINEL".utf8), Array("get-master-addr-by-name".utf8), Array(sentinel.master.utf8)],
                      timeout: timeout) { [weak self] result in
            guard let self, mine == generation else { return }
            asking = false
            answered(SentinelAnswer(result))
        }
    }

    private func answered(_ answer: SentinelAnswer) {
        switch answer {
        case .master(let endpoint):
            answers += 1
            missesInRound = 0
            failedRounds = 0
            lastProblem = nil
            onMaster?(endpoint)
            if askAgain {
                askAgain = false
                ask()
            }
        case .unknownMaster:
            skip("sentinel \(current) knows no master named \"\(sentinel.master)\" (sessions.redis.sentinel.master)")
        case .garbage(let what):
            skip("sentinel \(current) answered \(what), not an address; skipped")
        case .failed(let error):
            skip("sentinel \(current): \(error.detail)")
        }
    }

    /// This sentinel gave no address: the next one, at once within a round, after a backoff between rounds.
    private func skip(_ problem: String) {
        if lastProblem != problem { logger.warning("redis: \(problem)") }
        lastProblem = problem
        askAgain = false
        dropConnections()
        index = (index + 1) % sentinel.addresses.count
        missesInRound += 1
        if missesInRound < sentinel.addresses.count {
            ask()
            return
        }
        missesInRound = 0
        failedRounds += 1
        let base = min(5_000, 100 << min(failedRounds - 1, 6))
        retryTimer.schedule(after: .milliseconds(base + Int.random(in: 0...(base / 5))))
    }

    // MARK: Connections to the current sentinel

    private func connect() {
        let endpoint = current
        var settings = RedisSettings(host: endpoint.host, port: endpoint.port, password: sentinel.password,
                                     timeout: timeout, connectTimeout: connectTimeout)
        settings.sentinel = nil
        generation &+= 1
        let mine = generation
        do throws(StoreError) {
            let query = try RedisConnection(loop: loop, settings: settings, role: .commands,
                                            name: "sentinel query")
            let watch = try RedisConnection(loop: loop, settings: settings,
                                            role: .subscriber(channel: Array("+switch-master".utf8)),
                                            name: "sentinel watch")
            watch.onMessage = { [weak self] payload in
                guard let self, mine == generation else { return }
                switchMaster(payload)
            }
            // Subscribed (again): a switch may have happened while nobody listened.
            watch.onReady = { [weak self] in
                guard let self, mine == generation else { return }
                ask()
            }
            watch.onDown = { [weak self] error in
                guard let self, mine == generation else { return }
                skip("sentinel \(current): the +switch-master subscription was lost: \(error.detail)")
            }
            self.query = query
            self.watch = watch
            query.start()
            watch.start()
        } catch {
            logger.error("redis: sentinel \(endpoint): \(error)")
        }
    }

    /// Closes the current sentinel's connections. They may be the ones calling back right now: the objects are
    /// kept until the next turn of the loop, so none is freed under its own callback.
    private func dropConnections() {
        generation &+= 1
        asking = false
        for connection in [query, watch].compactMap({ $0 }) {
            connection.close()
            retired.append(connection)
        }
        query = nil
        watch = nil
        if !retired.isEmpty, !closed { reaper.schedule(after: .zero) }
    }

    /// `+switch-master`: "<name> <old ip> <old port> <new ip> <new port>".
    private func switchMaster(_ payload: [UInt8]) {
        let parts = payload.split(separator: UInt8(ascii: " "))
        guard parts.count == 5, parts[0].elementsEqual(sentinel.master.utf8) else { return }
        let answer = SentinelAnswer(.success(.array([.bulk(Array(parts[3])), .bulk(Array(parts[4]))])))
        guard case .master(let endpoint) = answer else {
            logger.warning("redis: sentinel \(current): a +switch-master message that names no address; asking")
            ask()
            return
        }
        logger.notice("redis: sentinel \(current): master \"\(sentinel.master)\" moved to \(endpoint)")
        answered(answer)
    }
}

/// The gateway's check at start: asks the sentinels once, on a short-lived loop of its own (before any worker
/// runs), so a master name no sentinel knows, or a sentinel password they all refuse, stops the start with an
/// error naming the key. Unreachable sentinels do not: the workers keep asking (readiness says 503 meanwhile).
package enum SentinelStartupCheck {
    package enum Outcome: Sendable, Equatable {
        case found(RedisEndpoint)
        /// Every sentinel that answered knows no such master.
        case unknownMaster(sentinel: RedisEndpoint)
        /// Every sentinel that could be reached refused `AUTH`.
        case authRefused(sentinel: RedisEndpoint, detail: String)
        /// None answered (down, or garbage): keep going, the workers retry.
        case noAnswer(String)
    }

    /// Asks each sentinel in turn (each bounded by the settings' timeouts), stops at the first address.
    package static func run(_ settings: RedisSettings) throws(IOError) -> Outcome {
        guard let sentinel = settings.sentinel, !sentinel.addresses.isEmpty else { return .noAnswer("no sentinels") }
        let loop = try EventLoop()
        var outcomes: [(RedisEndpoint, SentinelAnswer)] = []
        var next = 0
        var connection: RedisConnection?
        var pending: LoopTimer?
        func askNext() {
            connection?.close()
            connection = nil
            guard next < sentinel.addresses.count else {
                loop.stop()
                return
            }
            let endpoint = sentinel.addresses[next]
            next += 1
            let one = RedisSettings(host: endpoint.host, port: endpoint.port, password: sentinel.password,
                                    timeout: settings.connectTimeout, connectTimeout: settings.connectTimeout)
            guard let made = try? RedisConnection(loop: loop, settings: one, role: .commands, name: "sentinel check")
            else {
                outcomes.append((endpoint, .failed(RedisError(.unreachable, "cannot make a connection"))))
                askNext()
                return
            }
            connection = made
            made.start()
            made.command([Array("SENTINEL".utf8), Array("get-master-addr-by-name".utf8), Array(sentinel.master.utf8)],
                         timeout: settings.connectTimeout) { result in
                let answer = SentinelAnswer(result)
                outcomes.append((endpoint, answer))
                if case .master = answer {
                    connection?.close()
                    loop.stop()
                } else {
                    // Not from inside the connection's own callback: the next turn of the loop.
                    let timer = LoopTimer(loop: loop) { askNext() }
                    timer.schedule(after: .zero)
                    pending = timer
                }
            }
        }
        let start = LoopTimer(loop: loop) { askNext() }
        start.schedule(after: .zero)
        loop.run()
        connection?.close()
        connection = nil
        pending?.cancel()
        return classify(outcomes)
    }

    static func classify(_ outcomes: [(RedisEndpoint, SentinelAnswer)]) -> Outcome {
        if let found = outcomes.first(where: { if case .master = $0.1 { true } else { false } }),
           case .master(let endpoint) = found.1
        {
            return .found(endpoint)
        }
        if let unknown = outcomes.first(where: { $0.1 == .unknownMaster }) { return .unknownMaster(sentinel: unknown.0) }
        let refusals = outcomes.compactMap { outcome -> (RedisEndpoint, String)? in
            guard case .failed(let error) = outcome.1, isAuthRefusal(error) else { return nil }
            return (outcome.0, error.detail)
        }
        let reached = outcomes.filter {
            if case .failed(let error) = $0.1 { isAuthRefusal(error) } else { true }
        }
        if let first = refusals.first, refusals.count == reached.count {
            return .authRefused(sentinel: first.0, detail: first.1)
        }
        return .noAnswer(outcomes.map { "\($0.0): \(describe($0.1))" }.joined(separator: "; "))
    }

    /// `AUTH` refused (wrong password, or one sent to a sentinel without), or a command refused for want of it.
    static func isAuthRefusal(_ error: RedisError) -> Bool {
        error.detail.hasPrefix("AUTH refused") || error.detail.contains("NOAUTH")
    }

    private static func describe(_ answer: SentinelAnswer) -> String {
        switch answer {
        case .master(let endpoint): "master at \(endpoint)"
        case .unknownMaster: "no such master"
        case .garbage(let what): "answered \(what)"
        case .failed(let error): error.detail
        }
    }
}
