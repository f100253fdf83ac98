/// What one worker saw of one route: requests by status class and a latency histogram. Plain values touched
/// only on the worker's loop; a scrape copies them (`MetricsSnapshot`) on that loop, so the request path
/// takes no lock and does no atomic read-modify-write.
package struct RouteStats: Sendable {
    /// Upper bounds of the latency buckets, in seconds (Prometheus `le`); the last bucket is +Inf.
    package static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Nanosecond bounds, for the per-request comparison.
    private static let boundsNanoseconds: [UInt64] = bounds.map { UInt64($0 * 1e9) }

    /// Requests by status class: 1xx ... 5xx (index 0 ... 4).
    package var byClass: [Int] = [0, 0, 0, 0, 0]
    /// Per bucket (not cumulative; the renderer sums), `bounds.count + 1` of them.
    package var buckets: [Int] = Array(repeating: 0, count: RouteStats.bounds.count + 1)
    package var durationSumNanoseconds: UInt64 = 0

    package init() {}

    mutating func record(status: Int, nanoseconds: UInt64) {
        let cls = min(max(status / 100, 1), 5) - 1
        byClass[cls] &+= 1
        var bucket = Self.boundsNanoseconds.count
        for (i, bound) in Self.boundsNanoseconds.enumerated() where nanoseconds <= bound {
            bucket = i
            break
        }
        buckets[bucket] &+= 1
        durationSumNanoseconds &+= nanoseconds
    }

    mutating func add(_ other: RouteStats) {
        for i in byClass.indices { byClass[i] &+= other.byClass[i] }
        for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        durationSumNanoseconds &+= other.durationSumNanoseconds
    }
}

/// One worker's metrics at one moment, handed from its loop to the scraper.
package struct MetricsSnapshot: Sendable {
    package var counters = ProxyCounters()
    package var routes: [String: RouteStats] = [:]
    package var authRefusals: [String: Int] = [:]
    package var activeConnections = 0
    package var tokenCacheHits = 0
    package var tokenCacheMisses = 0
    /// Signed identity assertions: signatures made, and served from the cache.
    package var assertionSignatures = 0
    package var assertionCacheHits = 0

    package init() {}

    /// Adds another worker's snapshot.
    package mutating func add(_ other: MetricsSnapshot) {
        counters.add(other.counters)
        for (name, stats) in other.routes { routes[name, default: RouteStats()].add(stats) }
        for (reason, n) in other.authRefusals { authRefusals[reason, default: 0] += n }
        activeConnections += other.activeConnections
        tokenCacheHits += other.tokenCacheHits
        tokenCacheMisses += other.tokenCacheMisses
        assertionSignatures += other.assertionSignatures
        assertionCacheHits += other.assertionCacheHits
    }
}
