import GatehouseAuth
package import GatehouseIO

/// Who may talk to the admin listener beyond reaching its socket (`admin.allowed_hosts`, `admin.token_file`).
///
/// Reaching a loopback port is not proof of being the operator: a browser on the same machine can be made to
/// send requests there by any web page (a cross-site form POST to `/reload`), and DNS rebinding lets a page read
/// the answers (the browser then sends the attacker's own name as `Host`). So every request must name the
/// listener itself (`Host` is an IP address the listener is bound to, `localhost`, or an allowed name), must not
/// come from another site (`Sec-Fetch-Site`, `Origin`), and, with a token file, must carry the secret.
package struct AdminAccess: Sendable {
    /// Extra names `Host` may carry (lowercase, without a port).
    package let allowedHosts: [String]
    /// The bearer secret; nil: none required.
    package let token: [UInt8]?

    package init(allowedHosts: [String] = [], token: [UInt8]? = nil) {
        self.allowedHosts = allowedHosts
        self.token = token
    }

    /// Why `Host` is refused, or nil. `host` is the authority the request names (Host or absolute-form);
    /// `listener` the admin listener's bound address. Accepted: an allowed name, `localhost`, the listener's
    /// IP address (any IP address when it listens on a wildcard address), a loopback address. The port is not compared: a port forward changes it,
    /// and a rebinding attack is told apart by the name, not the port.
    func hostProblem(_ host: String?, listener: SocketAddress?) -> String? {
        // HTTP/1.0 without Host: not a browser (every browser sends Host).
        guard let host else { return nil }
        let name = Self.hostPart(host)
        if allowedHosts.contains(name) { return nil }
        if name == "localhost" { return nil }
        guard let listener else { return "admin-host" }
        // An IP literal cannot be rebound. Listening on a wildcard address, any of the machine's addresses
        // reaches it; otherwise only the bound one.
        guard let literal = try? SocketAddress(parsing: name.contains(":") ? "[\(name)]:1" : "\(name):1") else {
            return "admin-host"
        }
        let bound = listener.addressBytes
        let named = literal.addressBytes
        if bound.allSatisfy({ $0 == 0 }) || named == bound { return nil }
        // A loopback address reaches the listener through a tunnel or port forward (ssh -L).
        let loopback = named.count == 4 ? named[0] == 127 : named == [UInt8](repeating: 0, count: 15) + [1]
        return loopback ? nil : "admin-host"
    }

    /// True when `authorization` carries the token (or none is required). Constant time in the token's bytes.
    func admits(authorization: String?) -> Bool {
        guard let token else { return true }
        guard let authorization, authorization.utf8.count > 7,
              authorization.prefix(7).lowercased() == "bearer "
        else { return false }
        return ConstantTime.equal(Array(authorization.utf8.dropFirst(7)), token)
    }

    /// `host[:port]` or `[v6]:port` without the port and brackets, lowercase, without a trailing dot.
    static func hostPart(_ authority: String) -> String {
        var text = Substring(authority.lowercased())
        if text.hasPrefix("[") {
            text = text.dropFirst().prefix { $0 != "]" }
        } else if let colon = text.firstIndex(of: ":") {
            text = text[..<colon]
        }
        if text.hasSuffix(".") { text = text.dropLast() }
        return String(text)
    }
}
