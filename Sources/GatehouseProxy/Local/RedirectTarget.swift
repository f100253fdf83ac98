/// Where a sign-in, logout or account answer may send the browser (`rd`): the only defence against an open
/// redirect, so it is an allow-list, not a block-list.
///
/// Always allowed: a path on this site (one leading `/`, not `//`, which a browser reads as another host).
/// With `sessions.cookie.domain` also an absolute URL whose host is that domain or below it, because the session
/// cookie goes there too (`https://wiki.example.com/x` after signing in on `app.example.com`), and nothing else:
/// `https` only when the cookie is `Secure` (a secure sign-in never hands the browser to plain HTTP), no user
/// info (`https://example.com@evil.com` is a URL for evil.com), no port but the scheme's default or the port
/// this request came to (the gateway serves the subdomains on its own listener), no percent-escapes in the host.
/// Everywhere: printable ASCII only (no CR/LF, space or NUL to split a header), no backslash anywhere (browsers
/// read `\` as `/`, so `/\evil.com` and `https:\\evil.com` leave the site), at most 2048 bytes. Anything else is
/// ignored as today: the answer goes to the default place.
enum RedirectTarget {
    static let maxLength = 2048

    /// `rd` when it may be followed, else nil.
    ///
    /// - Parameters:
    ///   - rd: The value as the client sent it (form field or query parameter, already percent-decoded).
    ///   - domain: `sessions.cookie.domain`, or nil (paths only).
    ///   - secure: The session cookie is `Secure` for this request: only `https://` URLs.
    ///   - requestPort: The port of this request's `Host` header, if it named one.
    static func check(_ rd: String, domain: String?, secure: Bool, requestPort: Int?) -> String? {
        let bytes = rd.utf8
        guard !bytes.isEmpty, bytes.count <= maxLength,
              bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") })
        else { return nil }
        if rd.hasPrefix("/") { return rd.hasPrefix("//") ? nil : rd }
        guard let domain else { return nil }
        let rest: Substring
        let defaultPort: Int
        if rd.hasPrefix("https://") {
            rest = rd.dropFirst(8)
            defaultPort = 443
        } else if !secure, rd.hasPrefix("http://") {
            rest = rd.dropFirst(7)
            defaultPort = 80
        } else {
            return nil
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@"), !authority.contains("%"), !authority.contains("[")
        else { return nil }
        var host = authority
        if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            let digits = authority[authority.index(after: colon)...]
            guard (1...5).contains(digits.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                  let port = Int(digits), port == defaultPort || port == requestPort
            else { return nil }
        }
        let name = host.lowercased()
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy({ label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2d }
        }) else { return nil }
        return name == domain || name.hasSuffix("." + domain) ? rd : nil
    }

    /// The port a `Host` header value names (`app.example.com:8443` -> 8443), if any.
    static func port(ofHost host: String?) -> Int? {
        guard let host, let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") else { return nil }
        return Int(host[host.index(after: colon)...])
    }
}
