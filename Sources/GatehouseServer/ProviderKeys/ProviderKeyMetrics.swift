/// Prometheus text for the provider key sets: keys loaded, last good refresh, failed and total fetches per issuer.
enum ProviderKeyMetrics {
    static func render(_ statuses: [String: ProviderKeyManager.Status]) -> String {
        guard !statuses.isEmpty else { return "" }
        let sorted = statuses.sorted { $0.key < $1.key }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ value: (ProviderKeyManager.Status) -> String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (issuer, status) in sorted { out += "\(name){issuer=\"\(escape(issuer))\"} \(value(status))\n" }
        }
        family("gatehouse_provider_keys", "gauge", "Keys of the issuer's provider in use (0: none yet).") { "\($0.keys)" }
        family("gatehouse_provider_keys_last_refresh_timestamp_seconds", "gauge",
               "Unix time of the last successful key fetch since start (0: none).") { "\($0.lastRefresh)" }
        family("gatehouse_provider_keys_fetch_failures_total", "counter", "Key fetches that failed.") { "\($0.failures)" }
        family("gatehouse_provider_keys_fetches_total", "counter",
               "Key fetches started (schedule and unknown kid).") { "\($0.fetches)" }
        return out
    }

    private static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
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
