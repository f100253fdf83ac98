import Glibc

/// A value behind a mutex with one condition variable: threads wait (off any event loop) until the value
/// satisfies a condition, and a change wakes them. For queues whose consumer blocks: the session writer's
/// inbox. The `Synchronization.Mutex` cannot do this (it has no condition variable), so this wraps pthreads.
///
/// Timed waits run on the monotonic clock: a wall-clock step must not stall a poll or a retry.
///
/// `@unchecked Sendable`: `state` is only touched with `mutex` held.
package final class ConditionLock<State>: @unchecked Sendable {
    // Heap-allocated: pthread objects must not move, and Swift may move a stored struct.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    package init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the lock held.
    package func withLock<T>(_ body: (inout State) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
    }

    /// Runs `body` with the lock held, then wakes every waiter (they re-check their conditions).
    package func withLockWakingWaiters<T>(_ body: (inout State) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let result = body(&state)
        pthread_cond_broadcast(condition)
        return result
    }

    /// Runs `body` with the lock held, then wakes one waiter. Only for a lock whose waiters all wait for the
    /// same condition (a pool's idle threads): with different conditions the one woken might not be the one
    /// the change was for.
    package func withLockWakingOneWaiter<T>(_ body: (inout State) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let result = body(&state)
        pthread_cond_signal(condition)
        return result
    }

    /// Waits until `condition` holds (the lock is released while asleep) or `timeout` has passed, then runs
    /// `body` with the lock held, whichever happened. Without a timeout, waits for as long as it takes.
    package func withLock<T>(when condition: (State) -> Bool, timeout: Duration? = nil,
                             _ body: (inout State) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let timeout {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let nanoseconds = Int(deadline.tv_nsec) + Int(min(timeout.wholeNanoseconds, 1 << 62) % 1_000_000_000)
            deadline.tv_sec += Int(min(timeout.wholeNanoseconds, 1 << 62) / 1_000_000_000) + nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
            while !condition(state) {
                if pthread_cond_timedwait(self.condition, mutex, &deadline) == ETIMEDOUT { break }
            }
        } else {
            while !condition(state) { pthread_cond_wait(self.condition, mutex) }
        }
        return body(&state)
    }
}
