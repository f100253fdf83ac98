/// Who the gateway authenticated for this request, whatever the credential was (a JWT now; a session later):
/// the claims the policy checks and the header templates read.
package struct Identity: Sendable {
    /// Where the identity came from.
    package enum Source: Sendable, Equatable, CustomStringConvertible {
        case bearer
        case cookie(String)
        case session
        /// `Authorization: Basic` with a users-file user's password.
        case basic

        package var description: String {
            switch self {
            case .bearer: return "bearer"
            case .cookie(let name): return "cookie \(name)"
            case .session: return "session"
            case .basic: return "basic"
            }
        }
    }

    package let source: Source
    /// The claims, top-level members in order (`sub`, `email`, `groups`, ...).
    package let claims: [(String, ClaimValue)]
    /// Which claim holds the groups list.
    package let groupsClaim: String
    /// Unix time after which the identity must not be used (the token's `exp`), if any.
    package let expiresAt: Int64?

    package init(source: Source, claims: [(String, ClaimValue)], groupsClaim: String, expiresAt: Int64?) {
        self.source = source
        self.claims = claims
        self.groupsClaim = groupsClaim
        self.expiresAt = expiresAt
    }

    /// The claim at a dotted path (`realm_access.roles`), or nil.
    /// Walks the path one segment at a time (as `split(separator: ".", omittingEmptySubsequences: false)` would
    /// cut it) without building an array of segments: identity headers read claims on every request.
    package func claim(_ path: String) -> ClaimValue? {
        var members = claims
        var value: ClaimValue? = nil
        var rest = path[...]
        while true {
            let dot = rest.utf8.firstIndex(of: UInt8(ascii: ".")) ?? rest.endIndex
            let segment = rest[..<dot]
            guard let found = Self.member(segment, in: members) else { return nil }
            value = found
            if case .object(let inner) = found { members = inner } else { members = [] }
            if dot == rest.endIndex { return value }
            rest = rest[rest.utf8.index(after: dot)...]
        }
    }

    /// The claim at a path already cut at its dots (`path.split(separator: ".", omittingEmptySubsequences:
    /// false)`): what `claim(_:)` finds for that path, without walking the path's characters on every request
    /// (identity templates cut theirs once, at load time).
    package func claim(at segments: [String]) -> ClaimValue? {
        var members = claims
        var value: ClaimValue? = nil
        for segment in segments {
            guard let found = Self.member(segment, in: members) else { return nil }
            value = found
            if case .object(let inner) = found { members = inner } else { members = [] }
        }
        return value
    }

    /// True when `other` reads the very same claims storage: copies of one identity built once (a session's, when it
    /// is loaded; a cached token's). Arrays are copy-on-write, so the same storage means the same claims. Sound only
    /// while the caller keeps `other` alive (the storage cannot be freed and reused meanwhile).
    package func sharesClaims(with other: Identity) -> Bool {
        claims.withUnsafeBufferPointer { mine in
            other.claims.withUnsafeBufferPointer { theirs in mine.count > 0 && mine.baseAddress == theirs.baseAddress }
        }
    }

    /// A number for the claims storage, equal for identities that `sharesClaims`: a cache slot, never a pointer.
    package var claimsStorageNumber: Int {
        claims.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
    }

    /// The top-level claim named `name`, the name taken whole (no dotted path to walk): for readers of fixed
    /// names on every request (the upstream assertion's `sub`, `email`, `sid`, ...).
    package func member(_ name: String) -> ClaimValue? {
        Self.member(name, in: claims)
    }

    private static func member(_ name: String, in members: [(String, ClaimValue)]) -> ClaimValue? {
        members.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i].0 == name { return buffer[i].1 }
            return nil
        }
    }

    /// The value of the member named `name` (String `==`, as JSON member names were always compared here).
    ///
    /// Over the raw buffer, comparing each name in place: `first(where:)` copied every (name, value) pair out
    /// of the array, retaining and releasing both, for each claim of each identity header on every request.
    private static func member(_ name: Substring, in members: [(String, ClaimValue)]) -> ClaimValue? {
        members.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i].0 == name { return buffer[i].1 }
            return nil
        }
    }

    /// The subject (`sub`) as text, if it is a string.
    package var subject: String? {
        if case .string(let s)? = claim("sub") { return s }
        return nil
    }

    /// The groups: an array of strings, or one string.
    package var groups: [String] { Self.strings(claim(groupsClaim)) }

    /// The granted scopes: the space-separated `scope` claim, or an array `scope`/`scp`.
    package var scopes: [String] {
        if case .string(let s)? = claim("scope") { return s.split(separator: " ").map(String.init) }
        let array = Self.strings(claim("scope"))
        return array.isEmpty ? Self.strings(claim("scp")) : array
    }

    private static func strings(_ value: ClaimValue?) -> [String] {
        switch value {
        case .string(let s)?: return [s]
        case .array(let items)?:
            return items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        default: return []
        }
    }
}
