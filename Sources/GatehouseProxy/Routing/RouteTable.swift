package import GatehouseHTTP

/// How a route matches the request's host.
package enum HostMatch: Sendable, Equatable {
    /// Exactly this host (lowercase, no port).
    case exact([UInt8])
    /// One label followed by this suffix, which starts with "." (from `*.example.com`); the bare parent
    /// `example.com` and deeper names (`a.b.example.com`) do not match.
    case suffix([UInt8])
}

/// One route as the data path sees it: compiled once per snapshot, matched per request without allocating.
///
/// A class (immutable): the data path reads routes several times per request, and copying a struct of this
/// many arrays costs a retain and a release of each; a reference costs one.
package final class Route: Sendable {
    package let name: String
    package let host: HostMatch?
    /// The path prefix (starts with "/"). Matching is segment-aware: `/api` matches `/api` and `/api/x`,
    /// not `/apiary`; a prefix ending in "/" matches everything under it. Lowercase when `caseInsensitive`.
    package let pathPrefix: [UInt8]
    /// Match the prefix ignoring ASCII case (for upstreams that do: IIS, ASP.NET, Express by default), so
    /// `/PRIVATE/x` cannot reach such an upstream through a public route.
    package let caseInsensitive: Bool
    /// Allowed method tokens (exact, case-sensitive as RFC 9110 says), or nil for any.
    package let methods: [[UInt8]]?
    /// Index into the snapshot's upstream list.
    package let upstreamIndex: Int
    /// Authentication, requirement and identity headers.
    package let policy: RoutePolicy

    package init(name: String, host: HostMatch?, pathPrefix: [UInt8], methods: [[UInt8]]?, upstreamIndex: Int,
                 policy: RoutePolicy = .open, caseInsensitive: Bool = false) {
        self.policy = policy
        self.name = name
        self.host = host
        self.caseInsensitive = caseInsensitive
        self.pathPrefix = caseInsensitive ? pathPrefix.map(asciiLower) : pathPrefix
        self.methods = methods
        self.upstreamIndex = upstreamIndex
    }
}

/// The routes of one snapshot, ordered so the first match is the best one.
///
/// Order (as nginx picks a server block first, then a location): an exact host beats a wildcard host,
/// which beats no host; then the longest path prefix; then a route with a method list beats one without;
/// then file order. Sorting once at load time keeps per-request matching a linear scan with no allocation.
package struct RouteTable: Sendable {
    package let routes: [Route]

    package init(_ routes: [Route]) {
        func hostRank(_ r: Route) -> Int {
            switch r.host {
            case .exact: return 2
            case .suffix: return 1
            case nil: return 0
            }
        }
        let indexed = routes.enumerated().sorted { a, b in
            let (ra, rb) = (a.element, b.element)
            if hostRank(ra) != hostRank(rb) { return hostRank(ra) > hostRank(rb) }
            if case .suffix(let sa) = ra.host, case .suffix(let sb) = rb.host, sa.count != sb.count {
                return sa.count > sb.count
            }
            if ra.pathPrefix.count != rb.pathPrefix.count { return ra.pathPrefix.count > rb.pathPrefix.count }
            if (ra.methods != nil) != (rb.methods != nil) { return ra.methods != nil }
            return a.offset < b.offset
        }
        self.routes = indexed.map(\.element)
    }

    /// The index of the best route for a request, or nil (404).
    /// - Parameters:
    ///   - host: the request's host without port, any case (empty when the request had none).
    ///   - path: the normalised path as routes see it (`RequestHead.routingPath`).
    ///   - method: the method token as sent.
    package func match(host: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer,
                       method: UnsafeRawBufferPointer) -> Int? {
        for index in routes.indices {
            let route = routes[index]
            if let wanted = route.host, !hostMatches(wanted, host) { continue }
            if !prefixMatches(route.pathPrefix, path, ignoringCase: route.caseInsensitive) { continue }
            if let methods = route.methods, !methods.contains(where: { bytesEqual($0, method) }) { continue }
            return index
        }
        return nil
    }

    /// Where the request's host is in `head.bytes`: the absolute-form authority when the target has one
    /// (Host is then ignored, RFC 9112 3.2.2), else the Host header. This is what is forwarded upstream.
    package static func hostRange(of head: RequestHead) -> Range<Int>? {
        head.targetAuthorityRange ?? head.hostRange
    }

    /// The part of the host used for routing: without port and trailing dot (compared ignoring case).
    static func routingHostRange(of head: RequestHead) -> Range<Int> {
        guard let range = hostRange(of: head) else { return 0..<0 }
        let bytes = head.bytes
        var end = range.upperBound
        if bytes[range.lowerBound] == UInt8(ascii: "[") {
            if let close = bytes[range].firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
        } else if let colon = bytes[range].firstIndex(of: UInt8(ascii: ":")) {
            end = colon
        }
        if end > range.lowerBound, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        return range.lowerBound..<end
    }

    /// The best route for a parsed head (what the data path and `explain` both use). Allocates nothing.
    package func match(_ head: RequestHead) -> Int? {
        let host = Self.routingHostRange(of: head)
        return head.bytes.withUnsafeBytes { raw in
            head.routingPath.withUnsafeBytes { path in
                match(host: UnsafeRawBufferPointer(rebasing: raw[host]), path: path,
                      method: UnsafeRawBufferPointer(rebasing: raw[head.methodRange]))
            }
        }
    }

    private func hostMatches(_ wanted: HostMatch, _ host: UnsafeRawBufferPointer) -> Bool {
        switch wanted {
        case .exact(let name):
            return bytesEqualIgnoringCase(name, host)
        case .suffix(let suffix):
            // Exactly one label in front of the suffix: `*.example.com` matches `a.example.com` only.
            guard host.count > suffix.count else { return false }
            let label = host[..<(host.count - suffix.count)]
            guard !label.contains(UInt8(ascii: ".")) else { return false }
            return bytesEqualIgnoringCase(suffix, UnsafeRawBufferPointer(rebasing: host[(host.count - suffix.count)...]))
        }
    }

    private func prefixMatches(_ prefix: [UInt8], _ path: UnsafeRawBufferPointer, ignoringCase: Bool) -> Bool {
        let end: Int
        if ignoringCase {
            guard let matched = Self.caseInsensitivePrefixEnd(prefix, path) else { return false }
            end = matched
        } else {
            guard path.count >= prefix.count,
                bytesEqual(prefix, UnsafeRawBufferPointer(rebasing: path[..<prefix.count]))
            else { return false }
            end = prefix.count
        }
        if path.count == end || prefix.last == UInt8(ascii: "/") { return true }
        return path[end] == UInt8(ascii: "/")
    }

    /// Where in `path` the lowercase `prefix` ends when compared ignoring case, or nil. ASCII letters fold, and
    /// so do the four non-ASCII letters whose simple case mapping is an ASCII letter (.NET's and NTFS's
    /// case-insensitive comparisons use those): `ı` and `İ` as `i`, `ſ` as `s`, the Kelvin sign as `k`, as
    /// the normaliser spells them (`%C4%B1`, `%C4%B0`, `%C5%BF`, `%E2%84%AA`).
    static func caseInsensitivePrefixEnd(_ prefix: [UInt8], _ path: UnsafeRawBufferPointer) -> Int? {
        var p = 0
        for wanted in prefix {
            guard p < path.count else { return nil }
            if asciiLower(path[p]) == wanted {
                p += 1
                continue
            }
            guard path[p] == UInt8(ascii: "%"), let (letter, length) = asciiFoldedLetter(path, at: p),
                letter == wanted
            else { return nil }
            p += length
        }
        return p
    }

    /// The ASCII letter a percent-encoded non-ASCII letter at `path[i]` folds to, and its encoded length.
    private static func asciiFoldedLetter(_ path: UnsafeRawBufferPointer, at i: Int) -> (UInt8, Int)? {
        func encoded(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard i + count <= path.count else { return false }
            return text.withUTF8Buffer { want in (0..<count).allSatisfy { path[i + $0] == want[$0] } }
        }
        if encoded("%C4%B1") || encoded("%C4%B0") { return (UInt8(ascii: "i"), 6) }
        if encoded("%C5%BF") { return (UInt8(ascii: "s"), 6) }
        if encoded("%E2%84%AA") { return (UInt8(ascii: "k"), 9) }
        return nil
    }
}

@inline(__always)
func bytesEqual(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { $0.elementsEqual(b) }
}

/// `lowercase` (already lowercase) equals `b` ignoring ASCII case.
@inline(__always)
func bytesEqualIgnoringCase(_ lowercase: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
    guard lowercase.count == b.count else { return false }
    for i in 0..<b.count where asciiLower(b[i]) != lowercase[i] { return false }
    return true
}
