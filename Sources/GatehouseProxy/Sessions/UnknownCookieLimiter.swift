import GatehouseIO

/// Per worker: how many unknown session cookies each client address made this worker look up in a remote
/// store, so one client cycling random cookies cannot make every request a Redis round trip (and slow every
/// signed-in user's lookups with it). Only lookups that reach the store and find nothing count: cache hits,
/// the negative cache (one cookie replayed) and valid sessions cost nothing. Past the limit the client gets
/// 429 without a lookup until its window ends; a valid cookie this worker has cached still works, one it has
/// not cached waits too (the price of sharing an address with the flood).
///
/// Fixed windows per address (its /64 for IPv6, as the sign-in throttle counts), at most `maxTracked` addresses
/// (when full: expired windows first, then an arbitrary one). Loop-confined, like the engine.
final class UnknownCookieLimiter {
    private struct Window {
        var start: UInt64
        var count: Int
    }

    private var windows: [String: Window] = [:]
    private let limit: Int
    private let windowNanoseconds: UInt64
    private let maxTracked: Int
    /// Lookups refused (metrics).
    private(set) var refused = 0

    /// `limit` 0: no limit.
    init(limit: Int, window: Duration, maxTracked: Int = 10_000) {
        self.limit = limit
        windowNanoseconds = max(1, window.wholeNanoseconds)
        self.maxTracked = max(1, maxTracked)
    }

    /// Seconds until `address` may look up an unknown cookie again (for `Retry-After`), or nil when it may now.
    func refusal(_ address: String) -> Int64? {
        guard limit > 0, let window = windows[address], window.count >= limit else { return nil }
        let now = Clocks.monotonicNanoseconds()
        let elapsed = now &- window.start
        guard elapsed < windowNanoseconds else { return nil }
        refused += 1
        return Int64((windowNanoseconds - elapsed) / 1_000_000_000) + 1
    }

    /// `address` made a lookup that found no session.
    func noteUnknown(_ address: String) {
        guard limit > 0 else { return }
        let now = Clocks.monotonicNanoseconds()
        if var window = windows[address], now &- window.start < windowNanoseconds {
            window.count += 1
            windows[address] = window
            return
        }
        if windows[address] == nil, windows.count >= maxTracked {
            windows = windows.filter { now &- $0.value.start < windowNanoseconds }
            if windows.count >= maxTracked { windows.remove(at: windows.startIndex) }
        }
        windows[address] = Window(start: now, count: 1)
    }
}
