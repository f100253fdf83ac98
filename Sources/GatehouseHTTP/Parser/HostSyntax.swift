/// Host syntax shared by the `Host` field and the authority of an absolute-form target.
enum HostSyntax {
    /// True when `bytes[range]` is `host [":" port]` as the gateway accepts it.
    ///
    /// Stricter than RFC 3986 on purpose, because routing compares authorities byte for byte: a
    /// host name is ALPHA DIGIT `-` `.` `_` (no percent-escapes or sub-delims), an IP literal is a
    /// bracketed IPv6 address (no IPvFuture), and a port, when its colon is present, is 1 to 5
    /// digits. An empty host is refused too: the gateway cannot route without one.
    static func isValid(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        guard !range.isEmpty else { return false }
        var i = range.lowerBound
        if bytes[i] == ASCII.openBracket {
            i += 1
            let literalStart = i
            while i < range.upperBound && TokenTables.isIn(bytes[i], .ipv6Char) { i += 1 }
            guard i > literalStart, i < range.upperBound, bytes[i] == ASCII.closeBracket else { return false }
            i += 1
        } else {
            let nameStart = i
            while i < range.upperBound && TokenTables.isIn(bytes[i], .hostChar) { i += 1 }
            guard i > nameStart else { return false }
        }
        if i == range.upperBound { return true }
        guard bytes[i] == ASCII.colon else { return false }
        let port = (i + 1)..<range.upperBound
        return port.count <= 5 && allIn(bytes, port, .digit)
    }
}
