/// A token whose signature, issuer, audience and times have all been checked: what the policy and the
/// identity headers work from. It holds no token bytes, so it is safe to keep in a cache and to describe.
package struct VerifiedToken: Sendable {
    /// The `iss` that selected the issuer policy.
    package let issuer: String
    /// The `sub` claim, if present (always a string: other types are refused).
    package let subject: String?
    /// The `exp` claim in unix seconds (fractions floored), if present.
    package let expiresAt: Int64?
    /// The top-level claims, in document order, names unique.
    package let claims: [(String, ClaimValue)]

    /// Creates a verified token; only the verifier (and tests) should.
    package init(issuer: String, subject: String?, expiresAt: Int64?, claims: [(String, ClaimValue)]) {
        self.issuer = issuer
        self.subject = subject
        self.expiresAt = expiresAt
        self.claims = claims
    }

    /// Looks up a claim by path: `"email"`, or `"realm_access.roles"` for nested objects.
    ///
    /// A top-level claim whose name contains dots (`"https://example.com/roles"`) is matched exactly first;
    /// only if there is none is the path split on `.` and walked through nested objects.
    ///
    /// - Parameter path: a claim name or a dot-separated path.
    /// - Returns: the value, or `nil` if any step is missing or not an object.
    package func claim(_ path: String) -> ClaimValue? {
        if let exact = claims.first(where: { $0.0 == path }) { return exact.1 }
        var current = ClaimValue.object(claims)
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let members) = current,
                let next = members.first(where: { $0.0.utf8.elementsEqual(component.utf8) })
            else { return nil }
            current = next.1
        }
        return current
    }
}
