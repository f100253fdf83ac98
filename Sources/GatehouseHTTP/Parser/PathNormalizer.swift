/// Turns a request path into the one canonical form that the router, the policy and the upstream
/// all use (SECURITY.md: "the same normalised path").
///
/// Why: if the gateway authorises `/public/../admin` as `/public/...` while the application resolves
/// it to `/admin`, authentication is bypassed. So the gateway resolves such paths itself, forwards
/// the result, and refuses what it cannot resolve unambiguously.
///
/// The steps, in one left-to-right pass (linear time; `..` pops at most what was pushed):
/// 1. `%XX` of an unreserved character (ALPHA DIGIT `-` `.` `_` `~`) is decoded; any other escape is
///    kept with uppercase hex digits (`%3a` becomes `%3A`). A malformed escape is refused.
/// 2. An encoded `/` (`%2F`), an encoded or literal backslash, and `%00` are refused: applications
///    disagree on whether they separate segments.
/// 3. Empty segments are dropped (`//a` is `/a`), `.` segments are removed and `..` removes the
///    segment before it (after decoding, so `%2e%2e` is `..`); climbing above the root is refused.
///    A trailing slash is kept, and a path ending in `.` or `..` ends with "/" (RFC 3986 5.2.4).
/// 4. A `;` (path parameter) is refused unless `parameters` is `.servlet` (SECURITY.md: what the router sees
///    must be what the upstream acts on). With `.servlet`, a segment whose part before a `;` is empty, `.` or
///    `..` (`..;`, `/;x/..`) is refused: servlet containers strip path parameters and would then resolve it as a
///    dot segment or an empty one.
package enum PathNormalizer {
    /// Normalises `path`, the path part of a request-target (no query, no fragment).
    ///
    /// - Parameters:
    ///   - path: Bytes starting with "/", of visible ASCII except `?` and `#`.
    ///   - parameters: Whether `;` is refused or read as servlet containers read it.
    /// - Returns: The normalised path; it starts with "/" and is never longer than `path`.
    /// - Throws: `HTTPParseError` with status 400: "ambiguous-path", "invalid-percent-encoding",
    ///   "path-above-root", "path-parameter", or "invalid-target" when `path` does not start with "/" or
    ///   holds a byte that cannot appear in a path.
    package static func normalize(
        _ path: ArraySlice<UInt8>, parameters: PathParameters = .refuse
    ) throws(HTTPParseError) -> [UInt8] {
        guard path.first == ASCII.slash else { throw .invalidTarget }
        var out: [UInt8] = []
        out.reserveCapacity(path.count)  // one allocation (an array literal first would make two)
        out.append(ASCII.slash)
        var segmentStart = 1  // offset in `out` of the segment being written
        var i = path.startIndex + 1
        while i < path.endIndex {
            let b = path[i]
            switch b {
            case ASCII.slash:
                try endSegment(&out, segmentStart: segmentStart, isLast: false)
                segmentStart = out.count
                i += 1
            case ASCII.percent:
                try appendEscape(path, at: i, to: &out, refusingSemicolon: parameters == .refuse)
                i += 3
            case ASCII.semicolon where parameters == .refuse:
                throw .pathParameter
            case ASCII.backslash, ASCII.question:
                throw b == ASCII.backslash ? .ambiguousPath : .invalidTarget
            default:
                guard TokenTables.isIn(b, .targetChar) else { throw .invalidTarget }
                out.append(b)
                i += 1
            }
        }
        try endSegment(&out, segmentStart: segmentStart, isLast: true)
        return out
    }

    /// Decodes or re-spells the escape at `path[i]`.
    /// `%3B` is refused with `;` when parameters are: a stack that decodes before it strips them reads it as one.
    private static func appendEscape(
        _ path: ArraySlice<UInt8>, at i: Int, to out: inout [UInt8], refusingSemicolon: Bool
    ) throws(HTTPParseError) {
        guard i + 2 < path.endIndex, let high = TokenTables.hexValue(path[i + 1]),
            let low = TokenTables.hexValue(path[i + 2])
        else { throw .invalidPercentEncoding }
        let decoded = high << 4 | low
        if decoded == ASCII.slash || decoded == ASCII.backslash || decoded == 0 { throw .ambiguousPath }
        if refusingSemicolon, decoded == ASCII.semicolon { throw .pathParameter }
        if TokenTables.isIn(decoded, .unreserved) {
            out.append(decoded)
        } else {
            out.append(ASCII.percent)
            out.append(upperHex(high))
            out.append(upperHex(low))
        }
    }

    /// Resolves the segment `out[segmentStart...]` just completed: drops it if empty or `.`, pops
    /// the previous one for `..`, or keeps it followed by "/" unless it is the last one.
    private static func endSegment(
        _ out: inout [UInt8], segmentStart: Int, isLast: Bool
    ) throws(HTTPParseError) {
        let length = out.count - segmentStart
        let dots = try dotCount(out, from: segmentStart)
        switch dots {
        case 1:
            out.removeLast(length)
        case 2:
            out.removeLast(length)
            // `out` ends with "/" here; drop the segment before that slash.
            guard out.count > 1 else { throw .pathAboveRoot }
            var cut = out.count - 2
            while out[cut] != ASCII.slash { cut -= 1 }
            out.removeLast(out.count - cut - 1)
        default:
            if length > 0 && !isLast { out.append(ASCII.slash) }
        }
    }

    /// 1 for `.`, 2 for `..`, 0 for any other segment; refuses `.;…`, `..;…` and `;…`.
    private static func dotCount(_ out: [UInt8], from start: Int) throws(HTTPParseError) -> Int {
        var end = start
        while end < out.count && out[end] != ASCII.semicolon { end += 1 }
        let dots: Int
        switch end - start {
        case 0 where end < out.count: throw .ambiguousPath  // `/;x/..`: empty once the parameter is gone
        case 1 where out[start] == ASCII.dot: dots = 1
        case 2 where out[start] == ASCII.dot && out[start + 1] == ASCII.dot: dots = 2
        default: return 0
        }
        if end < out.count { throw .ambiguousPath }
        return dots
    }

    /// `path` (normalised, `.servlet` parameters) as a servlet container resolves it: every segment without its
    /// `;...` parameters (`/a;x=1/b;y` is `/a/b`). `normalize` has already refused the segments that would
    /// become empty or dot segments, so this only removes bytes.
    package static func withoutParameters(_ path: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.count)
        var inParameter = false
        for b in path {
            if b == ASCII.slash { inParameter = false }
            if b == ASCII.semicolon { inParameter = true }
            if !inParameter { out.append(b) }
        }
        return out
    }

    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10
    }
}
