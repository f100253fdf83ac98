/// What a route requires of an authenticated identity: a tree of checks (Envoy's requirement tree), built
/// once from the config and evaluated per request without allocating.
package indirect enum Requirement: Sendable {
    /// Always satisfied (authenticated is enough).
    case authenticated
    /// The claim at `path` equals one of `values` (a string or number claim), or, when the claim is an array,
    /// contains one of them.
    case claim(path: String, anyOf: [String])
    /// The groups claim contains at least one of these.
    case groupsAny([String])
    /// The groups claim contains all of these.
    case groupsAll([String])
    /// The space-separated `scope` claim (or an array `scp`/`scope`) holds every one of these.
    case scopes([String])
    /// The request method is one of these (exact tokens).
    case methods([[UInt8]])
    /// Every child holds.
    case all([Requirement])
    /// At least one child holds.
    case any([Requirement])

    /// Checks the requirement.
    /// - Parameters:
    ///   - identity: the authenticated identity.
    ///   - method: the request method token.
    /// - Returns: nil when satisfied, else the first unmet check's description (for logs and `explain`).
    package func unmet(by identity: Identity, method: UnsafeRawBufferPointer) -> String? {
        switch self {
        case .authenticated:
            return nil
        case .claim(let path, let values):
            guard let value = identity.claim(path) else { return "claim \(path) missing" }
            return Self.matches(value, values) ? nil : "claim \(path) not in \(values)"
        case .groupsAny(let wanted):
            let groups = identity.groups
            return wanted.contains(where: { groups.contains($0) }) ? nil : "none of groups \(wanted)"
        case .groupsAll(let wanted):
            let groups = identity.groups
            return wanted.allSatisfy({ groups.contains($0) }) ? nil : "not all of groups \(wanted)"
        case .scopes(let wanted):
            let scopes = identity.scopes
            return wanted.allSatisfy({ scopes.contains($0) }) ? nil : "scopes \(wanted) not all granted"
        case .methods(let allowed):
            let ok = allowed.contains { $0.withUnsafeBytes { $0.elementsEqual(method) } }
            return ok ? nil : "method not allowed"
        case .all(let children):
            for child in children {
                if let reason = child.unmet(by: identity, method: method) { return reason }
            }
            return nil
        case .any(let children):
            var reasons: [String] = []
            for child in children {
                guard let reason = child.unmet(by: identity, method: method) else { return nil }
                reasons.append(reason)
            }
            return "none of: " + reasons.joined(separator: "; ")
        }
    }

    private static func matches(_ value: ClaimValue, _ wanted: [String]) -> Bool {
        switch value {
        case .array(let items):
            return items.contains { item in
                if case .array = item { return false }
                return matches(item, wanted)
            }
        case .string(let s): return wanted.contains(s)
        case .integer(let n): return wanted.contains(String(n))
        case .number(let d): return wanted.contains(d.description)
        case .bool(let b): return wanted.contains(b ? "true" : "false")
        case .null, .object: return false
        }
    }
}
