import GatehouseHTTP

/// The gateway's answers to requests it does not let through: 401 with `WWW-Authenticate` (RFC 6750), 400
/// `invalid_request`, 403 `insufficient_scope`, and the 302 that sends a browser to the login page.
///
/// Bodies are small JSON for API clients and a small HTML page for browsers; none echoes the request or the
/// credential. Refusals are not the hot path, so these are rendered per answer.
enum AuthResponses {
    static let found = Array("HTTP/1.1 302".utf8)

    /// A browser navigation: GET/HEAD asking for HTML (what `unauthenticated: login` redirects).
    static func isBrowserNavigation(_ head: RequestHead) -> Bool {
        guard head.method == .get || head.method == .head else { return false }
        let fields = head.headers
        for index in fields.fields.indices where fields.nameEquals(index, "accept") {
            let value = fields.storage[fields.fields[index].value]
            if contains(value, "text/html") { return true }
        }
        return false
    }

    /// `basicChallenge`: the route reads `Authorization: Basic`; its 401 carries that challenge (RFC 7617), alone
    /// when the route takes no bearer token, else after the Bearer one.
    static func refusal(status: Int, bearer: Bool, invalidToken: Bool, html: Bool, close: Bool,
                        basicChallenge: String? = nil) -> [UInt8] {
        let (reason, code): (String, String)
        var challenge: String? = nil
        switch status {
        case 400:
            (reason, code) = ("Bad Request", "invalid_request")
            if bearer { challenge = "Bearer realm=\"gatehouse\", error=\"invalid_request\"" }
        case 403:
            (reason, code) = ("Forbidden", bearer ? "insufficient_scope" : "forbidden")
            if bearer { challenge = "Bearer realm=\"gatehouse\", error=\"insufficient_scope\"" }
        default:
            (reason, code) = ("Unauthorized", invalidToken ? "invalid_token" : "unauthorized")
            // RFC 6750 3.1: no error code when the request carried no credential at all.
            challenge = invalidToken ? "Bearer realm=\"gatehouse\", error=\"invalid_token\"" : "Bearer realm=\"gatehouse\""
        }
        let body: String
        let type: String
        if html {
            type = "text/html; charset=utf-8"
            body = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(status) \(reason)</title></head>"
                + "<body><h1>\(status) \(reason)</h1></body></html>\n"
        } else {
            type = "application/json"
            body = "{\"status\":\(status),\"error\":\"\(code)\"}\n"
        }
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\n"
        head += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        if status == 401, let basicChallenge {
            if !bearer { challenge = nil }
            if let challenge { head += "WWW-Authenticate: \(challenge)\r\n" }
            head += "WWW-Authenticate: \(basicChallenge)\r\n"
        } else if let challenge {
            head += "WWW-Authenticate: \(challenge)\r\n"
        }
        if close { head += "Connection: close\r\n" }
        return Array((head + "\r\n" + body).utf8)
    }

    /// 302 to `loginURL` with `rd` = the path and query the browser asked for (percent-encoded, so it stays
    /// one parameter and always a relative path on this site).
    /// `origin` (`scheme://host[:port]`, see `origin(of:secure:)`) goes in front of the path when the login page is
    /// on another host and the session cookie is shared (`sessions.cookie.domain`): `rd` then names this host too.
    static func loginRedirect(_ head: RequestHead, loginURL: [UInt8], origin: [UInt8]? = nil, close: Bool) -> [UInt8] {
        var location = loginURL
        location.append(loginURL.contains(UInt8(ascii: "?")) ? UInt8(ascii: "&") : UInt8(ascii: "?"))
        location.append(contentsOf: "rd=".utf8)
        if let origin { percentEncode(origin, into: &location) }
        percentEncode(head.normalizedPath, into: &location)
        percentEncode(head.bytes[head.queryRange], into: &location)
        var out = Array("HTTP/1.1 302 Found\r\nLocation: ".utf8)
        out.append(contentsOf: location)
        out.append(contentsOf: "\r\nContent-Length: 0\r\nCache-Control: no-store\r\n".utf8)
        if close { out.append(contentsOf: "Connection: close\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// `https://host[:port]` (or `http://`) of the request, by its authority (absolute-form) or its Host field (both
    /// checked by the parser); nil without either. The login endpoint still checks the `rd` it makes
    /// (`RedirectTarget`: on the cookie's domain only).
    static func origin(of head: RequestHead, secure: Bool) -> [UInt8]? {
        guard let range = head.targetAuthorityRange ?? head.hostRange, !range.isEmpty else { return nil }
        return Array((secure ? "https://" : "http://").utf8) + head.bytes[range]
    }

    /// Whether a login URL names another host (`http://...` or `https://...`) rather than a path on this one.
    static func isAbsolute(_ url: [UInt8]) -> Bool {
        url.starts(with: "http://".utf8) || url.starts(with: "https://".utf8)
    }

    /// The request arrived over TLS as far as the gateway can tell: its own listener, or a trusted proxy's last
    /// `X-Forwarded-Proto` saying `https`.
    static func cameSecurely(_ head: RequestHead, tls: Bool, trusted: Bool) -> Bool {
        if tls { return true }
        guard trusted else { return false }
        let fields = head.headers
        var last: ArraySlice<UInt8>? = nil
        for index in fields.fields.indices where fields.nameEquals(index, "x-forwarded-proto") {
            last = fields.storage[fields.fields[index].value]
        }
        guard let value = last else { return false }
        let element = value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).last ?? []
        let trimmed = element.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        return trimmed.map(asciiLower).elementsEqual("https".utf8)
    }

    private static func percentEncode(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) {
        PercentEncoding.encode(bytes, alsoKeeping: UInt8(ascii: "/"), into: &out)
    }

    private static func contains(_ haystack: ArraySlice<UInt8>, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { n in
            guard haystack.count >= n.count else { return false }
            var i = haystack.startIndex
            while i + n.count <= haystack.endIndex {
                var match = true
                for k in 0..<n.count where asciiLower(haystack[i + k]) != n[k] {
                    match = false
                    break
                }
                if match { return true }
                i += 1
            }
            return false
        }
    }
}
