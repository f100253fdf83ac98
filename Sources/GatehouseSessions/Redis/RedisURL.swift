/// Where the Redis session store connects: `sessions.redis.url`, parsed.
///
/// Form: `redis://[[user]:password@]host[:port][/db]`. Defaults: port 6379, database 0. `host` may be a name, an
/// IPv4 address or a bracketed IPv6 address (`redis://[::1]:6379/0`). User and password are percent-decoded, so a
/// password with `@`, `:` or `/` is written `%40`, `%3A`, `%2F`. `redis://:secret@host` gives a password without a
/// user name (Redis's `default` user, `AUTH secret`). A password may also come from an environment variable
/// (`sessions.redis.password_env`), which then overrides the one in the URL; that choice is the config reader's.
///
/// Refused: other schemes, `rediss://` (TLS, which this build's hiredis cannot speak), a query or fragment, an
/// empty host, a port outside 1...65535, a database outside 0...65535 (Redis's own limit is its `databases`
/// setting; a bad one fails at `SELECT` with Redis's message).
package struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var db: Int
    package var username: String?
    package var password: String?

    package init(host: String, port: Int = 6379, db: Int = 0, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.db = db
        self.username = username
        self.password = password
    }

    /// Why a URL was refused (a message for the config error).
    package struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        package let message: String
        package init(_ message: String) { self.message = message }
        package var description: String { message }
    }

    /// Parses `text`.
    /// - Throws: `ParseError` naming what is wrong; never echoes the password.
    package init(parsing text: String) throws(ParseError) {
        let lower = text.lowercased()
        if lower.hasPrefix("rediss://") {
            throw ParseError("TLS to Redis is not supported (rediss://); use redis:// on a trusted network or a TLS tunnel")
        }
        guard lower.hasPrefix("redis://") else {
            let scheme = text.firstIndex(of: ":").map { String(text[..<$0]) }
            if let scheme, !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) {
                throw ParseError("unsupported scheme \"\(scheme)\": expected redis://host:port/db")
            }
            throw ParseError("expected a URL of the form redis://[user:password@]host:port/db")
        }
        var rest = Substring(text.dropFirst("redis://".count))
        if rest.contains("?") || rest.contains("#") {
            throw ParseError("a Redis URL takes no query or fragment (?…, #…)")
        }

        // Credentials end at the last "@" before the path: a raw "@" in a password must be percent-encoded, but
        // taking the last one keeps the host intact either way.
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        var user: String?
        var password: String?
        if let at = rest[..<pathStart].lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = try Self.percentDecoded(credentials[..<colon], what: "user name")
                password = try Self.percentDecoded(credentials[credentials.index(after: colon)...], what: "password")
            } else {
                // "redis://secret@host" is ambiguous; Redis's own clients read a lone part as the user name.
                user = try Self.percentDecoded(credentials, what: "user name")
            }
            if user?.isEmpty == true { user = nil }
        }

        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = rest[slash...]
        if path.hasPrefix("/") { path = path.dropFirst() }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ParseError("an IPv6 host needs a closing ]") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ParseError("unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw ParseError("the Redis URL has no host") }
        guard host.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "@" && $0 != "%" }) else {
            throw ParseError("invalid Redis host \"\(host)\"")
        }
        var port = 6379
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value), portText.allSatisfy(\.isASCII) else {
                throw ParseError("invalid Redis port \"\(portText)\": expected 1 to 65535")
            }
            port = value
        }
        var db = 0
        if !path.isEmpty {
            guard let value = Int(path), (0...65535).contains(value), path.allSatisfy({ $0.isASCII && $0.isNumber })
            else {
                throw ParseError("invalid Redis database \"\(path)\": expected a number such as /0")
            }
            db = value
        }
        self.init(host: String(host), port: port, db: db, username: user, password: password)
    }

    /// The URL without the password (for logs and `check-config`).
    package var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var credentials = ""
        if username != nil || password != nil {
            credentials = (username ?? "") + (password != nil ? ":***" : "") + "@"
        }
        return "redis://\(credentials)\(hostPart):\(port)/\(db)"
    }

    private static func percentDecoded(_ text: Substring, what: String) throws(ParseError) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let high = hexValue(utf8[utf8.startIndex]),
                  let low = hexValue(utf8[utf8.startIndex + 1])
            else {
                throw ParseError("invalid percent-encoding in the Redis \(what)")
            }
            bytes.append(high << 4 | low)
            utf8 = utf8.dropFirst(2)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw ParseError("the Redis \(what) is not valid UTF-8 once decoded")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
