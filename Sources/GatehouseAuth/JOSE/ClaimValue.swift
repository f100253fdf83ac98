/// A JSON value of a JWT claims set or JOSE header, as our own type: no Foundation on the request path.
///
/// Objects keep their members in document order as an array of pairs (claims sets are small, a linear lookup
/// beats hashing, and order is useful for logs and `explain`). Member names are unique: the scanner refuses
/// duplicates. Numbers written without fraction or exponent that fit in `Int64` are `.integer`; every other
/// number is a finite `.number`. Equality is structural: `.integer(1)` is not `.number(1.0)`.
///
/// Not `indirect`: the recursive cases already hold their children in arrays (heap storage), so boxing
/// every value would only add one allocation per claim on the request path.
package enum ClaimValue: Sendable, Equatable {
    /// A JSON string, unescaped, valid Unicode.
    case string(String)
    /// A JSON number with a fraction or exponent, or an integer outside `Int64`; always finite.
    case number(Double)
    /// A JSON integer that fits in `Int64`.
    case integer(Int64)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null
    /// A JSON array.
    case array([ClaimValue])
    /// A JSON object: members in document order, names unique.
    case object([(String, ClaimValue)])

    /// Structural equality; objects compare member by member, in order.
    package static func == (lhs: ClaimValue, rhs: ClaimValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where x.0 != y.0 || x.1 != y.1 { return false }
            return true
        case (.string, _), (.number, _), (.integer, _), (.bool, _), (.null, _), (.array, _), (.object, _):
            return false
        }
    }

    /// The string, if this is a `.string`.
    package var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The member called `name`, if this is an `.object` that has one.
    ///
    /// - Parameter name: the exact member name (no path splitting).
    /// - Returns: the member's value, or `nil`.
    package func member(_ name: String) -> ClaimValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }
}
