/// Renders metrics in the Prometheus text exposition format (version 0.0.4).
///
/// Why not swift-metrics with swift-prometheus: their counters and histograms are shared objects updated under
/// a lock (or an atomic read-modify-write) on every increment, from every worker, on the request path. Here each
/// worker keeps plain counters touched only by its own loop and a scrape asks every loop for a copy, so the
/// request path pays an integer add; only this renderer knows the text format.
enum PrometheusText {
    static func render(_ m: MetricsSnapshot, sessionStoreUp: Bool?, sessionStoreWriteFailures: Int? = nil) -> [UInt8] {
        var out = ""
        for (name, help, value) in m.counters.all {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        out += "# HELP gatehouse_active_connections Open client connections.\n"
        out += "# TYPE gatehouse_active_connections gauge\ngatehouse_active_connections \(m.activeConnections)\n"

        out += "# HELP gatehouse_route_requests_total Requests by route and status class (route \"-\": no route).\n"
        out += "# TYPE gatehouse_route_requests_total counter\n"
        let routes = m.routes.keys.sorted()
        for route in routes {
            let stats = m.routes[route]!
            for (i, n) in stats.byClass.enumerated() where n > 0 {
                out += "gatehouse_route_requests_total{route=\"\(escape(route))\",class=\"\(i + 1)xx\"} \(n)\n"
            }
        }
        out += "# HELP gatehouse_request_duration_seconds Time from a complete request head to the end of the answer.\n"
        out += "# TYPE gatehouse_request_duration_seconds histogram\n"
        for route in routes {
            let stats = m.routes[route]!
            let label = "route=\"\(escape(route))\""
            var cumulative = 0
            for (i, bound) in RouteStats.bounds.enumerated() {
                cumulative += stats.buckets[i]
                out += "gatehouse_request_duration_seconds_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += stats.buckets[RouteStats.bounds.count]
            out += "gatehouse_request_duration_seconds_bucket{\(label),le=\"+Inf\"} \(cumulative)\n"
            out += "gatehouse_request_duration_seconds_sum{\(label)} \(Double(stats.durationSumNanoseconds) / 1e9)\n"
            out += "gatehouse_request_duration_seconds_count{\(label)} \(cumulative)\n"
        }
        out += "# HELP gatehouse_auth_refusals_total Requests refused by authentication, by reason.\n"
        out += "# TYPE gatehouse_auth_refusals_total counter\n"
        for reason in m.authRefusals.keys.sorted() {
            out += "gatehouse_auth_refusals_total{reason=\"\(escape(reason))\"} \(m.authRefusals[reason]!)\n"
        }
        out += "# HELP gatehouse_token_cache_hits_total Verified-token cache lookups that hit.\n"
        out += "# TYPE gatehouse_token_cache_hits_total counter\ngatehouse_token_cache_hits_total \(m.tokenCacheHits)\n"
        out += "# HELP gatehouse_token_cache_misses_total Verified-token cache lookups that missed.\n"
        out += "# TYPE gatehouse_token_cache_misses_total counter\n"
        out += "gatehouse_token_cache_misses_total \(m.tokenCacheMisses)\n"
        out += "# HELP gatehouse_assertion_signatures_total Identity assertions signed (one per identity per TTL).\n"
        out += "# TYPE gatehouse_assertion_signatures_total counter\n"
        out += "gatehouse_assertion_signatures_total \(m.assertionSignatures)\n"
        out += "# HELP gatehouse_assertion_cache_hits_total Identity assertions reused from the cache.\n"
        out += "# TYPE gatehouse_assertion_cache_hits_total counter\n"
        out += "gatehouse_assertion_cache_hits_total \(m.assertionCacheHits)\n"
        if let sessionStoreUp {
            out += "# HELP gatehouse_session_store_up Whether the session store can answer (1) or not (0).\n"
            out += "# TYPE gatehouse_session_store_up gauge\ngatehouse_session_store_up \(sessionStoreUp ? 1 : 0)\n"
        }
        if let sessionStoreWriteFailures {
            out += "# HELP gatehouse_session_store_write_failures_total Embedded session store write batches that "
                + "failed every retry, and writes the file refused.\n"
            out += "# TYPE gatehouse_session_store_write_failures_total counter\n"
            out += "gatehouse_session_store_write_failures_total \(sessionStoreWriteFailures)\n"
        }
        return Array(out.utf8)
    }

    /// Label values: backslash, double quote and newline escaped (the exposition format's rule).
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
