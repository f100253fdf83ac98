package import GatehouseIO
import Synchronization

/// What the admin listener needs beyond its own worker: every worker (to gather metrics on each worker's own
/// loop) and the process-level actions (reload, readiness). Built by the server; shared by all workers.
package final class GatewayControl: Sendable {
    /// One worker's engine, touched only through a job on its own loop.
    private struct Worker: @unchecked Sendable {
        // `@unchecked`: the engine is only used inside jobs run by `executor`, on the engine's own loop.
        let executor: LoopExecutor
        unowned let engine: ProxyEngine
    }

    private let workers = Mutex<[Worker]>([])
    /// How many workers the process runs (readiness waits for all of them).
    package let expectedWorkers: Int
    /// Re-reads the config on the main thread; the completion gets nil (reloaded) or the errors.
    package let reload: @Sendable (@escaping @Sendable (String?) -> Void) -> Void
    /// Whether the session store can answer (always true without one).
    package let storeReachable: @Sendable () -> Bool
    /// Failed writes of the embedded session store (nil for other stores).
    package let storeWriteFailures: @Sendable () -> Int?
    /// Why the gateway is not ready besides workers and store (e.g. an issuer whose provider keys have not arrived).
    package let readinessProblems: @Sendable () -> [String]
    /// More Prometheus text appended to `/metrics` (the provider key sets).
    package let extraMetrics: @Sendable () -> String

    package init(expectedWorkers: Int, reload: @escaping @Sendable (@escaping @Sendable (String?) -> Void) -> Void,
                 storeReachable: @escaping @Sendable () -> Bool,
                 storeWriteFailures: @escaping @Sendable () -> Int? = { nil },
                 readinessProblems: @escaping @Sendable () -> [String] = { [] },
                 extraMetrics: @escaping @Sendable () -> String = { "" }) {
        self.readinessProblems = readinessProblems
        self.extraMetrics = extraMetrics
        self.expectedWorkers = expectedWorkers
        self.reload = reload
        self.storeReachable = storeReachable
        self.storeWriteFailures = storeWriteFailures
    }

    /// Called by each worker's engine once its listeners are up.
    package func register(_ engine: ProxyEngine, executor: LoopExecutor) {
        workers.withLock { $0.append(Worker(executor: executor, engine: engine)) }
    }

    package var registeredWorkers: Int { workers.withLock { $0.count } }

    /// Collects every worker's metrics, each read on its own loop, and calls `done` on `replyOn`'s loop.
    func gatherMetrics(replyOn reply: LoopExecutor, _ done: @escaping (MetricsSnapshot) -> Void) {
        let all = workers.withLock { $0 }
        guard !all.isEmpty else {
            done(MetricsSnapshot())
            return
        }
        var total = MetricsSnapshot()
        var remaining = all.count
        for worker in all {
            worker.executor.execute {
                let snapshot = worker.engine.metricsSnapshot()
                reply.execute {
                    total.add(snapshot)
                    remaining -= 1
                    if remaining == 0 { done(total) }
                }
            }
        }
    }
}
