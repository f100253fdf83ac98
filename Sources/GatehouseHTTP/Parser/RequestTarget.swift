/// The parts of a request-target (RFC 9112 section 3.2), as ranges into the head bytes.
///
/// ```
/// origin-form:    /a/b?x=1             path = /a/b, query = ?x=1
/// absolute-form:  http://h:8080/a?x=1  authority = h:8080, path = /a, query = ?x=1
/// asterisk-form:  *                    (OPTIONS only)
/// ```
/// Authority-form exists only for CONNECT, which the gateway refuses before the target is looked at.
struct RequestTarget {
    var form: TargetForm
    /// Absolute-form only: host[:port].
    var authority: Range<Int>?
    /// The path as sent; empty for an absolute-form target without one (it means "/").
    var path: Range<Int>
    /// The query including "?", or an empty range at the end of the target.
    var query: Range<Int>

    /// Splits the target `bytes[range]` of a request with `method`.
    ///
    /// - Throws: `invalidTarget` for an unknown form or scheme, `asteriskFormNotOptions`,
    ///   `userinfoInTarget` and `invalidTargetAuthority` for an absolute-form authority we refuse.
    init(parsing bytes: [UInt8], _ range: Range<Int>, method: KnownMethod) throws(HTTPParseError) {
        let first = bytes[range.lowerBound]
        if first == ASCII.slash {
            form = .origin
            authority = nil
            (path, query) = Self.splitQuery(bytes, range)
        } else if first == ASCII.asterisk && range.count == 1 {
            guard case .options = method else { throw .asteriskFormNotOptions }
            form = .asterisk
            authority = nil
            path = range
            query = range.upperBound..<range.upperBound
        } else {
            form = .absolute
            let hierStart = try Self.afterScheme(bytes, range)
            var authorityEnd = hierStart
            while authorityEnd < range.upperBound && bytes[authorityEnd] != ASCII.slash
                && bytes[authorityEnd] != ASCII.question
            {
                authorityEnd += 1
            }
            let authority = hierStart..<authorityEnd
            if bytes[authority].contains(ASCII.at) { throw .userinfoInTarget }
            guard HostSyntax.isValid(bytes, authority) else { throw .invalidTargetAuthority }
            self.authority = authority
            (path, query) = Self.splitQuery(bytes, authorityEnd..<range.upperBound)
        }
    }

    /// The offset just after `http://` or `https://` (scheme case-insensitive, RFC 3986 section 3.1).
    private static func afterScheme(_ bytes: [UInt8], _ range: Range<Int>) throws(HTTPParseError) -> Int {
        let start = range.lowerBound
        if range.count > 7 && equalsIgnoringCase(bytes, start..<(start + 7), "http://") { return start + 7 }
        if range.count > 8 && equalsIgnoringCase(bytes, start..<(start + 8), "https://") { return start + 8 }
        throw .invalidTarget
    }

    /// Splits `bytes[range]` at the first "?" into path and query.
    private static func splitQuery(_ bytes: [UInt8], _ range: Range<Int>) -> (Range<Int>, Range<Int>) {
        var i = range.lowerBound
        while i < range.upperBound && bytes[i] != ASCII.question { i += 1 }
        return (range.lowerBound..<i, i..<range.upperBound)
    }
}
