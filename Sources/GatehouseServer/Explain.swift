import GatehouseConfig
import GatehouseHTTP
import GatehouseIO
import GatehouseProxy

/// `gatehouse explain`: runs one request described on the command line through the compiled config and
/// prints the route, each check, and the exact head the upstream would receive.
package enum Explain {
    /// Builds the request, explains it, and returns the report text.
    /// - Parameters:
    ///   - request: `METHOD URL`, where URL is absolute (`https://host/path`) or a path (then pass `Host:`).
    ///   - headers: `Name: value` lines, sent as given.
    ///   - peer: the client address the gateway would see.
    ///   - now: unix seconds.
    /// - Throws: config errors, or a message for a request that cannot be built.
    package static func run(configPath: String, request: String, headers: [String], peer: String,
                            now: Int64) throws -> String {
        let config = try ConfigLoader.load(path: configPath)
        let plan = try SnapshotCompiler.compile(config)
        let parts = request.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw IOError("--request must be \"METHOD URL\", e.g. \"GET https://app.example.com/\"") }
        var target = String(parts[1])
        var hostHeader: String? = nil
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            let rest = target.dropFirst(scheme.count)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            hostHeader = String(rest[..<slash])
            target = rest[slash...].isEmpty ? "/" : (rest[slash...].hasPrefix("?") ? "/" : "") + String(rest[slash...])
        }
        var text = "\(parts[0]) \(target) HTTP/1.1\r\n"
        let givesHost = headers.contains { $0.lowercased().hasPrefix("host:") }
        if let hostHeader, !givesHost { text += "Host: \(hostHeader)\r\n" }
        for header in headers { text += header + "\r\n" }
        text += "\r\n"
        var parser = RequestParser(limits: plan.snapshot.limits)
        let bytes = Array(text.utf8)
        let head: RequestHead
        do {
            let event = try bytes.withUnsafeBytes { raw throws(HTTPParseError) in try parser.next(raw) }
            guard case .requestHead(let parsed, _) = event else { throw IOError("incomplete request") }
            head = parsed
        } catch let error as HTTPParseError {
            return "request: \(parts[0]) \(target)\nresult: \(error.status) (\(error.reason)): the codec refuses it\n"
        }
        let address = try SocketAddress(parsing: peer.contains(":") ? peer : peer + ":0")
        let explanation = Explanation.explain(head, snapshot: plan.snapshot, peer: address, now: now)
        var out = "request: \(parts[0]) \(target)\n"
        out += "route: \(explanation.route ?? "(none)")\n"
        for step in explanation.steps { out += "  - \(step)\n" }
        if let status = explanation.localStatus {
            out += "result: the gateway answers \(status); nothing is forwarded\n"
        } else if let upstreamHead = explanation.upstreamHead {
            out += "result: forwarded; the upstream receives:\n"
            for line in upstreamHead.split(separator: "\r\n", omittingEmptySubsequences: true) { out += "  \(line)\n" }
        }
        return out
    }
}
