import Glibc
import Synchronization

/// A fixed set of threads for slow, blocking work (password hashing, a synchronous store call, a host name
/// lookup, the session file's writes) that must never run on an event loop; each result comes back on the
/// submitting loop through its `LoopExecutor` (the loop's mailbox).
///
/// The one way the gateway runs work off its loops: sign-in hashes use a pool of `login.hash_threads`, the
/// embedded session store's writer is a pool of one thread (a serial lane: its writes reach the file in queue
/// order), and `HostResolver` has a small shared pool for `getaddrinfo`. Jobs start in submission order, so a
/// one-thread pool runs them one after the other in that order.
///
/// The queue is bounded: when `queueLimit` jobs already wait, `submit` refuses at once and the caller answers
/// 503, so a burst of sign-ins costs a bounded amount of memory and a bounded wait rather than a growing
/// backlog. The wait is bounded too: a job that waited longer than `maxQueueWait` for a thread is not run, and
/// its completion gets ``Outcome/expired`` (a sign-in whose client gave up long ago is not worth a hash, and
/// each hash skipped shortens the wait of those behind it). Threads sleep on the queue's `ConditionLock`, so
/// an idle pool costs nothing.
package final class BlockingPool: Sendable {
    private let shared: PoolQueue
    private let threads: Mutex<[LoopThread]>
    /// How long a job may wait for a thread before it is dropped as ``Outcome/expired``.
    package let maxQueueWait: Duration

    /// What a submitted job's completion receives.
    package enum Outcome<Value: Sendable>: Sendable {
        /// The job ran and returned this.
        case finished(Value)
        /// The job waited longer than ``maxQueueWait`` for a thread and did not run.
        case expired
    }

    /// How the pool's threads compete for the CPU with the event loops.
    package enum Priority: Sendable {
        /// Like any thread.
        case normal
        /// Linux's SCHED_IDLE: the threads run only when a CPU has nothing else to run, and a waking event loop
        /// preempts them at once. A storm of password hashes then cannot delay requests already signed in;
        /// the hashes wait instead (on a saturated machine, for as long as it stays saturated).
        case idle
    }

    /// Starts `threads` worker threads.
    ///
    /// - Parameters:
    ///   - name: For error messages (which pool failed to start) and the threads' names.
    ///   - threads: How many jobs may run at once; at least 1.
    ///   - queueLimit: How many jobs may wait for a thread (running ones not counted); at least 1.
    ///   - priority: how the threads compete with the event loops for the CPU.
    ///   - maxQueueWait: how long a job may wait for a thread; one that waited longer is not run.
    ///   - clock: monotonic nanoseconds; injectable so that tests can age a queued job without sleeping.
    /// - Throws: `IOError` for counts below 1, or when a thread cannot be created; threads already started
    ///   are stopped.
    package init(name: String, threads: Int, queueLimit: Int, priority: Priority = .normal,
                 maxQueueWait: Duration = .seconds(10),
                 clock: @escaping @Sendable () -> UInt64 = Clocks.monotonicNanoseconds) throws(IOError) {
        guard threads >= 1, queueLimit >= 1 else {
            throw IOError("\(name): a blocking pool needs at least one thread and a queue limit of at least 1")
        }
        let shared = PoolQueue(queueLimit: queueLimit, maxWaitNanoseconds: maxQueueWait.wholeNanoseconds, clock: clock)
        var started: [LoopThread] = []
        for index in 0..<threads {
            do throws(IOError) {
                started.append(try LoopThread(name: "\(name)-\(index)") {
                    if case .idle = priority {
                        // SCHED_IDLE (5 in <bits/sched.h>; the Glibc module does not export it): per thread.
                        var parameters = sched_param()
                        _ = pthread_setschedparam(pthread_self(), 5, &parameters)
                    }
                    shared.work()
                })
            } catch {
                shared.stop()
                for thread in started { thread.join() }
                throw IOError("\(name): \(error.message)")
            }
        }
        self.shared = shared
        self.threads = Mutex(started)
        self.maxQueueWait = maxQueueWait
    }

    /// A pool of one thread: a serial lane, whose jobs run one at a time in submission order (the session
    /// writer's thread).
    package static func serialLane(name: String, queueLimit: Int) throws(IOError) -> BlockingPool {
        try BlockingPool(name: name, threads: 1, queueLimit: queueLimit)
    }

    deinit {
        // A pool dropped without `shutdown()` still lets its threads finish and exit.
        shutdown()
    }

    /// Queues `work` for a worker thread; `completion` then runs on `executor`'s loop with its result, or with
    /// ``Outcome/expired`` (and `work` never runs) when it waited longer than ``maxQueueWait`` for a thread.
    ///
    /// Call on `executor`'s loop: `completion` may capture that loop's objects (the connection waiting for
    /// the answer), and runs nowhere else. Jobs run in submission order as threads free up.
    ///
    /// - Returns: `false` without queueing when `queueLimit` jobs are already waiting or the pool is shut
    ///   down; the caller should answer 503 rather than wait.
    package func submit<T: Sendable>(
        _ work: @escaping @Sendable () -> T, completion: @escaping (Outcome<T>) -> Void, on executor: LoopExecutor
    ) -> Bool {
        let deliver = executor.callback(completion)
        return shared.enqueue { expired in deliver(expired ? .expired : .finished(work())) }
    }

    /// Queues `work` for a worker thread, with no result to hand back: a job that owns its own output (the
    /// session writer's loop on a one-thread pool, which runs until its queue closes). Runs even when it waited
    /// longer than ``maxQueueWait``.
    ///
    /// - Returns: `false` without queueing when `queueLimit` jobs are already waiting or the pool is shut down.
    package func execute(_ work: @escaping @Sendable () -> Void) -> Bool {
        shared.enqueue { _ in work() }
    }

    /// Jobs waiting for a thread (not counting those running).
    package var queuedCount: Int {
        shared.queuedCount
    }

    /// Refuses new jobs, lets the workers finish every queued one, and joins them, so it blocks until the
    /// running jobs end. Idempotent: later calls return at once. Completions already handed to loops run
    /// there when those loops next turn.
    package func shutdown() {
        let workers = threads.withLock { threads in
            let taken = threads
            threads.removeAll()
            return taken
        }
        guard !workers.isEmpty else { return }
        shared.stop()
        for worker in workers { worker.join() }
    }
}

/// What the pool and its threads share: the queue, in a `ConditionLock` the idle threads sleep on. Kept apart
/// from `BlockingPool` so the threads do not keep the pool alive and its `deinit` can stop them.
private final class PoolQueue: Sendable {
    /// A queued job; its argument says whether it waited too long (then it only reports that).
    typealias Job = @Sendable (_ expired: Bool) -> Void

    private struct State {
        var jobs: [(enqueuedAt: UInt64, run: Job)] = []
        /// Index of the oldest job in `jobs`; the array is compacted when half of it is spent.
        var head = 0
        var stopping = false

        var waiting: Int { jobs.count - head }

        mutating func pop() -> (enqueuedAt: UInt64, run: Job)? {
            guard head < jobs.count else { return nil }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            return job
        }
    }

    private let state = ConditionLock(State())
    private let queueLimit: Int
    private let maxWaitNanoseconds: UInt64
    private let clock: @Sendable () -> UInt64

    init(queueLimit: Int, maxWaitNanoseconds: UInt64, clock: @escaping @Sendable () -> UInt64) {
        self.queueLimit = queueLimit
        self.maxWaitNanoseconds = maxWaitNanoseconds
        self.clock = clock
    }

    var queuedCount: Int {
        state.withLock { $0.waiting }
    }

    func enqueue(_ job: @escaping Job) -> Bool {
        let now = clock()
        // Every sleeping thread waits for the same thing (a job, or the stop), so waking one is enough.
        return state.withLockWakingOneWaiter { state in
            guard !state.stopping, state.waiting < queueLimit else { return false }
            state.jobs.append((now, job))
            return true
        }
    }

    /// Refuses new jobs and wakes every thread: each runs what is still queued, then exits.
    func stop() {
        state.withLockWakingWaiters { $0.stopping = true }
    }

    /// A worker thread's body: run jobs until stopped and drained.
    func work() {
        while true {
            let next = state.withLock(when: { $0.waiting > 0 || $0.stopping }) { state in state.pop() }
            guard let next else { return }
            let now = clock()
            next.run(now > next.enqueuedAt && now - next.enqueuedAt > maxWaitNanoseconds)
        }
    }
}
