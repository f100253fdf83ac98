/// A `host:port` pair from the file: a listen address or an upstream server.
///
/// Written `127.0.0.1:8080`, `[::1]:8080` (IPv6 in brackets) or, for upstream servers,
/// `app.internal:9000`. `host` is kept as written, without brackets; names are resolved by
/// the runtime, not here. Listen addresses must be IP literals (binding to a name is
/// ambiguous when it resolves to several addresses) and may use port 0 (an ephemeral port,
/// for tests); upstream servers need a real port.
package struct SocketAddressSpec: Sendable, Hashable, CustomStringConvertible {
    /// The IP literal or host name, without brackets.
    package let host: String
    /// The TCP port; 0 only for listen addresses.
    package let port: UInt16
    /// `host:port`, with brackets around IPv6 hosts (`[::1]:8080`).
    package let description: String

    /// Creates an address from validated parts.
    private init(host: String, port: UInt16) {
        self.host = host
        self.port = port
        self.description = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `127.0.0.1:8080`, the default listen address: loopback only, so a fresh install is not
    /// reachable from the network until the operator says so.
    static let defaultListen = SocketAddressSpec(host: "127.0.0.1", port: 8080)

    /// Whether `host` is an IP literal (IPv4 or IPv6), as opposed to a name to resolve.
    package var isIPLiteral: Bool {
        IPAddressParser.parse(Substring(host)) != nil
    }

    /// Parses `host:port` or `[v6]:port`.
    ///
    /// - Parameters:
    ///   - text: The text from the file.
    ///   - requireIP: Whether the host must be an IP literal (listen addresses).
    ///   - allowPortZero: Whether port 0 (ephemeral) is meaningful (listen addresses).
    /// - Returns: The address, or why it was refused.
    static func parse(_ text: String, requireIP: Bool, allowPortZero: Bool) -> ParseOutcome<SocketAddressSpec> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .invalid("\"\(text)\": missing \"]\" after the IPv6 address")
            }
            host = text[text.index(after: text.startIndex)..<close]
            guard IPAddressParser.ipv6(host) != nil else {
                return .invalid("\"\(host)\" is not an IPv6 address")
            }
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else {
                return .invalid("\"\(text)\": expected \":port\" after \"]\"")
            }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .invalid("\"\(text)\": missing port; write host:port, e.g. 127.0.0.1:8080")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .invalid("\"\(text)\": put an IPv6 address in brackets, e.g. [::1]:8080")
            }
            if host.isEmpty {
                return .invalid(
                    "\"\(text)\": missing host; use 0.0.0.0 (all IPv4) or [::] (all IPv6) to listen everywhere")
            }
            if let problem = hostProblem(host, requireIP: requireIP) {
                return .invalid("\"\(text)\": \(problem)")
            }
        }
        guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), port <= 65535
        else {
            return .invalid("\"\(text)\": the port must be a number from \(allowPortZero ? 0 : 1) to 65535")
        }
        if port == 0 && !allowPortZero {
            return .invalid("\"\(text)\": port 0 is not a valid server port")
        }
        return .parsed(SocketAddressSpec(host: String(host), port: UInt16(port)))
    }

    /// Checks an unbracketed host: an IPv4 literal, or (unless `requireIP`) a DNS name.
    private static func hostProblem(_ host: Substring, requireIP: Bool) -> String? {
        let looksNumeric = host.allSatisfy { ($0.isASCII && $0.isNumber) || $0 == "." }
        if looksNumeric {
            return IPAddressParser.ipv4(host) == nil ? "\"\(host)\" is not an IPv4 address" : nil
        }
        if requireIP {
            return "a listen address needs an IP address (e.g. 127.0.0.1 or [::1]), not the name \"\(host)\""
        }
        return HostName.problem(host)
    }
}

/// Syntax checks for DNS host names, shared by upstream servers and route host patterns.
enum HostName {
    /// Checks that `name` is a syntactically valid host name: dot-separated labels of 1...63
    /// letters, digits, `-` or `_` (underscores appear in real internal names), not starting or
    /// ending with `-`, 253 characters at most, no trailing dot.
    ///
    /// - Parameter name: The name to check.
    /// - Returns: Why it is invalid, or `nil` if it is valid.
    static func problem(_ name: Substring) -> String? {
        if name.count > 253 {
            return "host name is longer than 253 characters"
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty {
                return "\"\(name)\" has an empty label (check for \"..\" or a leading or trailing dot)"
            }
            if label.count > 63 {
                return "\"\(name)\" has a label longer than 63 characters"
            }
            let allowed = label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            if !allowed || label.first == "-" || label.last == "-" {
                return "\"\(name)\" is not a valid host name"
            }
        }
        return nil
    }
}
