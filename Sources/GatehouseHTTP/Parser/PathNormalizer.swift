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
/// 4. A segment whose part before a `;` is `.` or `..` (`..;`) is refused: servlet containers strip
///    path parameters and would then resolve it as a dot segment.
package enum PathNormalizer {
    /// Normalises `path`, the path part of a request-target (no query, no fragment).
    ///
    /// - Parameter path: Bytes starting with "/", of visible ASCII except `?` and `#`.
    /// - Returns: The normalised path; it starts with "/" and is never longer than `path`.
    /// - Throws: `HTTPParseError` with status 400: "ambiguous-path", "invalid-percent-encoding",
    ///   "path-above-root", or "invalid-target" when `path` does not start with "/" or holds a byte
    ///   that cannot appear in a path.
    package static func normalize(_ path: ArraySlice<UInt8>) throws(HTTPParseError) -> [UInt8] {
        guard path.first == ASCII.slash else { throw .invalidTarget }
        var out: [UInt8] = [ASCII.slash]
        out.reserveCapacity(path.count)
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
                try appendEscape(path, at: i, to: &out)
                i += 3
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
    private static func appendEscape(
        _ path: ArraySlice<UInt8>, at i: Int, to out: inout [UInt8]
    ) throws(HTTPParseError) {
        guard i + 2 < path.endIndex, let high = TokenTables.hexValue(path[i + 1]),
            let low = TokenTables.hexValue(path[i + 2])
        else { throw .invalidPercentEncoding }
        let decoded = high << 4 | low
        if decoded == ASCII.slash || decoded == ASCII.backslash || decoded == 0 { throw .ambiguousPath }
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

    /// 1 for `.`, 2 for `..`, 0 for any other segment; refuses `.;…` and `..;…`.
    private static func dotCount(_ out: [UInt8], from start: Int) throws(HTTPParseError) -> Int {
        var end = start
        while end < out.count && out[end] != ASCII.semicolon { end += 1 }
        let dots: Int
        switch end - start {
        case 1 where out[start] == ASCII.dot: dots = 1
        case 2 where out[start] == ASCII.dot && out[start + 1] == ASCII.dot: dots = 2
        default: return 0
        }
        if end < out.count { throw .ambiguousPath }
        return dots
    }

    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10
    }
}
