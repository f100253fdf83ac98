import Crypto
import GatehouseAuth
import GatehouseConfig
import GatehouseIO
import Logging
import Synchronization

/// Keeps the key set of every issuer whose keys come from its provider (`discovery: true` or `jwks_uri`).
///
/// Lives on the gateway's main loop. Fetches run on a `BlockingPool` thread (libcurl, blocking), never on an event
/// loop; their results come back here. A set that changed is handed to `onChange`, which builds a new snapshot and
/// posts it to every worker like a reload: the request path reads immutable keys and takes no lock.
///
/// - Refresh: after a success, the configured interval or the answer's `max-age` within bounds; after a failure,
///   sooner (5 s doubling, at most 5 min), while the last good set keeps serving.
/// - Unknown `kid`: the verifier calls the issuer's hook; a ``RefreshGate`` admits one fetch per 30 s, whatever the
///   flood of random kids.
/// - Disk: each good set is written to `tokens.key_cache_dir` and read at start, so a restart while the provider is
///   down still verifies. With neither a copy nor a fetch, the issuer's tokens get 503 and `/readyz` says why.
final class ProviderKeyManager {
    /// What metrics and readiness show per issuer; read from any thread.
    struct Status: Sendable {
        var keys = 0
        /// Unix seconds of the last successful fetch (0: none since start).
        var lastRefresh: Int64 = 0
        var failures = 0
        var fetches = 0
        var loaded = false
        var lastError: String? = nil
    }

    private final class State {
        let issuer: ProviderIssuer
        let gate: RefreshGate
        var keys: [VerificationKey]?
        var digest: [UInt8]?
        /// The discovery document (discovery sources), as last read.
        var metadata: ProviderMetadata?
        var consecutiveFailures = 0
        var inFlight = false
        /// An unknown-kid fetch was admitted while one was running: run another right after.
        var again = false

        init(issuer: ProviderIssuer, gate: RefreshGate) {
            self.issuer = issuer
            self.gate = gate
        }
    }

    private let loop: EventLoop
    private let executor: LoopExecutor
    private let pool: BlockingPool
    private let logger: Logger
    private var states: [String: State] = [:]
    /// Shared with the admin worker (metrics, readiness).
    let board = StatusBoard()
    /// Unknown-kid requests from the workers, by issuer.
    private var requests: Mailbox<String>!
    /// Called on the main loop with the sets of the moment whenever one changed.
    var onChange: ((ProviderKeyDirectory) -> Void)?

    /// Call on the main loop's thread (or before it runs).
    init(loop: EventLoop, pool: BlockingPool, logger: Logger) throws(IOError) {
        self.loop = loop
        self.pool = pool
        self.logger = logger
        executor = try LoopExecutor(loop: loop)
        requests = try Mailbox(loop: loop) { [unowned self] issuer in
            guard let state = states[issuer] else { return }
            logger.info("provider keys: \(issuer): a token names an unknown kid; fetching the key set")
            fetch(state)
        }
    }

    /// Takes the provider issuers of a (re)loaded config: new ones start from their copy on disk and fetch at
    /// once; unchanged ones keep their state; removed ones stop.
    func configure(_ issuers: [ProviderIssuer]) {
        var next: [String: State] = [:]
        var started: [State] = []
        for issuer in issuers {
            if let state = states[issuer.issuer], state.issuer == issuer {
                next[issuer.issuer] = state
                continue
            }
            timers.removeValue(forKey: issuer.issuer)?.cancel()
            let state = State(issuer: issuer, gate: RefreshGate())
            next[issuer.issuer] = state
            started.append(state)
            var status = Status()
            if let cached = KeySetFile.read(issuer.cachePath) {
                do {
                    let parsed = try KeyLoader.providerJWKS(cached)
                    state.keys = parsed.keys
                    state.digest = Array(SHA256.hash(data: cached))
                    status.keys = parsed.keys.count
                    status.loaded = true
                    logger.info("provider keys: \(issuer.issuer): \(parsed.keys.count) key(s) from \(issuer.cachePath)")
                } catch {
                    logger.warning("provider keys: \(issuer.issuer): ignoring \(issuer.cachePath): \(error.message)")
                }
            }
            board.statuses.withLock { $0[issuer.issuer] = status }
        }
        for name in states.keys where next[name] == nil {
            timers.removeValue(forKey: name)?.cancel()
            board.statuses.withLock { _ = $0.removeValue(forKey: name) }
        }
        states = next
        // A copy from disk serves at once; the provider is asked right away all the same (it may have rotated).
        for state in started { fetch(state) }
    }

    /// The sets of the moment, with each issuer's unknown-kid hook.
    func directory() -> ProviderKeyDirectory {
        var directory = ProviderKeyDirectory()
        for (name, state) in states {
            if let keys = state.keys { directory.keys[name] = keys }
            if let metadata = state.metadata { directory.metadata[name] = metadata }
            let gate = state.gate
            let requests = self.requests!
            directory.hooks[name] = ProviderKeyHook {
                let now = Int64(Clocks.monotonicNanoseconds() / 1_000_000_000)
                if gate.admit(nowSeconds: now) { requests.post(name) }
            }
        }
        return directory
    }

    /// Per issuer status, for metrics and readiness; read from any thread.
    final class StatusBoard: Sendable {
        let statuses = Mutex<[String: Status]>([:])
        func current() -> [String: Status] { statuses.withLock { $0 } }
    }

    private func schedule(_ state: State, after delay: Duration) {
        let name = state.issuer.issuer
        let timer = timers[name] ?? LoopTimer(loop: loop) { [unowned self] in
            if let state = states[name] { fetch(state) }
        }
        timers[name] = timer
        timer.schedule(after: delay)
    }

    /// The scheduled timer of each issuer (replaced at each schedule).
    private var timers: [String: LoopTimer] = [:]

    private func fetch(_ state: State) {
        guard !state.inFlight else {
            state.again = true
            return
        }
        state.inFlight = true
        timers[state.issuer.issuer]?.cancel()
        let issuer = state.issuer
        board.statuses.withLock { $0[issuer.issuer]?.fetches += 1 }
        let submitted = pool.submit({ Self.download(issuer) }, completion: { [weak self, weak state] outcome in
            guard let self, let state, self.states[issuer.issuer] === state else { return }
            state.inFlight = false
            switch outcome {
            case .finished(let result): self.finished(state, result)
            case .expired: self.finished(state, .failure(HTTPSFailure("the fetch waited too long for a thread")))
            }
        }, on: executor)
        if !submitted {
            state.inFlight = false
            finished(state, .failure(HTTPSFailure("the fetch queue is full")))
        }
    }

    /// What one download produced (on the pool thread): the JWKS document and its refresh hint.
    struct Downloaded: Sendable {
        let document: [UInt8]
        let cacheControl: String?
        let metadata: ProviderMetadata?
    }

    /// Discovery (when configured), then the JWKS. Blocking; runs on a pool thread.
    static func download(_ issuer: ProviderIssuer) -> Result<Downloaded, HTTPSFailure> {
        let jwksURI: String
        var metadata: ProviderMetadata? = nil
        switch issuer.keys.source {
        case .jwksURI(let uri):
            jwksURI = uri
        case .discovery(let url):
            switch get(url, caFile: issuer.keys.caFile, maxBytes: ProviderMetadata.maxDocumentBytes) {
            case .failure(let failure):
                return .failure(HTTPSFailure("discovery \(url): \(failure.reason)"))
            case .success(let response):
                do {
                    let parsed = try ProviderMetadata.parse(response.body, expectedIssuer: issuer.issuer)
                    metadata = parsed
                    jwksURI = parsed.jwksURI
                } catch {
                    return .failure(HTTPSFailure("discovery \(url): \(error.message)"))
                }
            }
        }
        switch get(jwksURI, caFile: issuer.keys.caFile, maxBytes: 1 << 20) {
        case .failure(let failure):
            return .failure(HTTPSFailure("\(jwksURI): \(failure.reason)"))
        case .success(let response):
            return .success(Downloaded(document: response.body, cacheControl: response.header("cache-control"),
                                       metadata: metadata))
        }
    }

    private static func get(_ url: String, caFile: String?, maxBytes: Int) -> Result<HTTPSResponse, HTTPSFailure> {
        let request = HTTPSRequest(url: url, headers: [(name: "Accept", value: "application/json")], caFile: caFile,
                                   timeout: .seconds(10), maxBytes: maxBytes)
        switch HTTPSClient.perform(request) {
        case .failure(let failure): return .failure(failure)
        case .success(let response) where response.status != 200:
            return .failure(HTTPSFailure("answered \(response.status)"))
        case .success(let response): return .success(response)
        }
    }

    private func finished(_ state: State, _ result: Result<Downloaded, HTTPSFailure>) {
        let name = state.issuer.issuer
        let schedule = RefreshSchedule(interval: state.issuer.keys.refresh)
        let outcome: Result<(Downloaded, [VerificationKey], [String]), HTTPSFailure> = result.flatMap { downloaded in
            do {
                let parsed = try KeyLoader.providerJWKS(downloaded.document)
                return .success((downloaded, parsed.keys, parsed.skipped))
            } catch {
                return .failure(HTTPSFailure("JWKS refused: \((error as? KeyError)?.message ?? "\(error)")"))
            }
        }
        switch outcome {
        case .failure(let failure):
            state.consecutiveFailures += 1
            let delay = schedule.afterFailure(state.consecutiveFailures)
            let serving = state.keys.map { "keeping the last good set (\($0.count) key(s))" } ?? "no keys yet: its tokens get 503"
            logger.warning("provider keys: \(name): fetch failed: \(failure.reason); \(serving); retry in \(delay)")
            board.statuses.withLock {
                $0[name]?.failures += 1
                $0[name]?.lastError = failure.reason
            }
            self.schedule(state, after: delay)
        case .success(let (downloaded, keys, skipped)):
            state.consecutiveFailures = 0
            for reason in skipped { logger.warning("provider keys: \(name): key skipped: \(reason)") }
            let digest = Array(SHA256.hash(data: downloaded.document))
            let now = Int64(Clocks.wallClock().seconds)
            board.statuses.withLock {
                $0[name]?.keys = keys.count
                $0[name]?.lastRefresh = now
                $0[name]?.loaded = true
                $0[name]?.lastError = nil
            }
            let metadataChanged = downloaded.metadata != nil && downloaded.metadata != state.metadata
            if metadataChanged { state.metadata = downloaded.metadata }
            if digest != state.digest {
                let first = state.keys == nil
                state.keys = keys
                state.digest = digest
                let kids = keys.map { $0.kid ?? "-" }.joined(separator: ", ")
                logger.info("provider keys: \(name): \(first ? "loaded" : "new key set:") \(keys.count) key(s) (kid \(kids))")
                if let problem = KeySetFile.write(downloaded.document, to: state.issuer.cachePath) {
                    logger.warning("provider keys: \(name): cannot keep the key set on disk: \(problem)")
                }
                onChange?(directory())
            } else if metadataChanged {
                onChange?(directory())
            }
            self.schedule(state, after: schedule.afterSuccess(cacheControl: downloaded.cacheControl))
        }
        if state.again {
            state.again = false
            fetch(state)
        }
    }

    /// Stops the timers (at shutdown).
    func stop() {
        for timer in timers.values { timer.cancel() }
        requests.close()
        executor.close()
    }
}
