import Synchronization

/// Slows password guessing: after `maxFailures` failed sign-ins within `window` seconds, from one address or
/// against one user name, further attempts are refused until the oldest of those failures ages out.
///
/// Counting both keys covers both attacks: one address trying many names, and many addresses (a botnet)
/// trying one name. The second lets an attacker lock a known user out for a window at a time; that is the
/// usual price, and the window bounds it. Callers pass the address already reduced to what identifies a
/// client (for IPv6, typically the /64).
///
/// Each key keeps at most `maxFailures` timestamps, and at most `maxTracked` keys are kept: when full,
/// expired keys go first, then the stalest eighth, so a flood of distinct names or addresses costs bounded
/// memory (at the price of forgetting the quietest counters).
///
/// This count is per process. With a shared store (`SharedSignInThrottle`, Redis) the sign-in endpoint asks
/// that too; this one still counts, and is all that holds while the shared one cannot be reached.
package final class SignInThrottle: Sendable {
    private enum Key: Hashable {
        case address(String)
        case user(String)

        /// The address's key and the user name's key. Both are cut to 256 bytes so memory stays bounded
        /// whatever a client sends; names that share so long a prefix share a counter, which errs on the
        /// blocking side.
        static func both(address: String, user: String) -> [Key] {
            [.address(bounded(address)), .user(bounded(user))]
        }

        static func bounded(_ text: String) -> String {
            text.utf8.count <= 256 ? text : String(decoding: text.utf8.prefix(256), as: UTF8.self)
        }
    }

    private struct State {
        /// The most recent failures per key, oldest first, at most `maxFailures`.
        var failures: [Key: [Int64]] = [:]
    }

    private let state = Mutex(State())
    /// Failures allowed per key within `window` (0: off).
    package let maxFailures: Int
    /// Seconds a failure counts for.
    package let window: Int64
    private let maxTracked: Int

    /// - Parameters:
    ///   - maxFailures: Failures allowed per key within `window`; 0 turns the throttle off.
    ///   - window: Seconds a failure counts for.
    ///   - maxTracked: Most keys (addresses plus user names) remembered at once.
    package init(maxFailures: Int, window: Int64, maxTracked: Int = 100_000) {
        self.maxFailures = max(0, maxFailures)
        self.window = max(1, window)
        self.maxTracked = max(2, maxTracked)
    }

    /// `nil` when an attempt may go ahead; otherwise the seconds until it may (at least 1), for `Retry-After`.
    /// Blocked when either the address or the user name is over the limit; the longer wait wins.
    package func retryAfter(address: String, user: String, now: Int64) -> Int64? {
        guard maxFailures > 0 else { return nil }
        return state.withLock { state in
            let waits = Key.both(address: address, user: user).compactMap { key in
                wait(for: state.failures[key], now: now)
            }
            return waits.max()
        }
    }

    /// Counts one failed sign-in against both the address and the user name.
    package func recordFailure(address: String, user: String, now: Int64) {
        guard maxFailures > 0 else { return }
        state.withLock { state in
            for key in Key.both(address: address, user: user) {
                if state.failures[key] == nil && state.failures.count >= maxTracked {
                    evict(from: &state, now: now)
                }
                var times = state.failures[key, default: []]
                times.append(now)
                if times.count > maxFailures { times.removeFirst(times.count - maxFailures) }
                state.failures[key] = times
            }
        }
    }

    /// Forgets the user's failures after a successful sign-in. The address's stay: one success must not
    /// reset a count run up against other names. (`address` is taken for symmetry and future use.)
    package func recordSuccess(address: String, user: String) {
        guard maxFailures > 0 else { return }
        _ = state.withLock { $0.failures.removeValue(forKey: .user(Key.bounded(user))) }
    }

    /// Keys currently remembered (for tests and metrics).
    package var trackedCount: Int {
        state.withLock { $0.failures.count }
    }

    /// Seconds until the oldest counted failure leaves the window, when the key is at the limit.
    private func wait(for times: [Int64]?, now: Int64) -> Int64? {
        guard let times, times.count >= maxFailures else { return nil }
        let oldest = times[times.count - maxFailures]
        let remaining = oldest &+ window &- now
        return remaining > 0 ? min(remaining, window) : nil
    }

    /// Makes room: drops every key whose newest failure is out of the window, then the stalest keys until an
    /// eighth of `maxTracked` is free, so the next sweep is at least `maxTracked / 8` new keys away (one scan
    /// and sort per batch, not one per key).
    private func evict(from state: inout State, now: Int64) {
        state.failures = state.failures.filter { _, times in
            guard let newest = times.last else { return false }
            return now &- newest < window
        }
        let target = maxTracked - max(1, maxTracked / 8)
        guard state.failures.count > target else { return }
        let stalest = state.failures.sorted { ($0.value.last ?? 0) < ($1.value.last ?? 0) }
        for (key, _) in stalest.prefix(state.failures.count - target) {
            state.failures.removeValue(forKey: key)
        }
    }
}
