/// One identity header as configured: its name and a template of literal text and `{claim}` placeholders,
/// parsed once at load time and rendered per request straight into the outgoing head.
///
/// Encoding rule (documented in docs/configuration.md): a rendered value never carries a byte that could end
/// or split a header. Control characters (0x00-0x1F, 0x7F) and `%` are percent-encoded in every value; in
/// arrays (and in the groups claim when the token gives it as one string), each element is encoded the same
/// way plus `,`, and elements are joined with `,` — so a group named `admin,ops` arrives as `admin%2Cops`, one
/// value, never two. A template whose claim is missing (or
/// is an object or null) is not sent at all.
package struct IdentityTemplate: Sendable {
    enum Part: Sendable {
        case literal([UInt8])
        /// A claim path, and the same cut at its dots (for `Identity.claim(at:)`).
        case claim(String, segments: [String])
        /// `{groups}`: whichever claim the identity keeps its groups in (a JWT issuer's `groups_claim`, a
        /// session's `groups`).
        case groups
    }

    /// The header name as configured.
    package let name: String
    let nameBytes: [UInt8]
    let parts: [Part]

    /// A template from its parsed parts (the config loader parsed and validated the syntax).
    /// - Parameters:
    ///   - name: the header name.
    ///   - parts: literal text and claim paths, in order.
    package init(name: String, parts: [TemplatePart]) {
        self.name = name
        nameBytes = Array(name.utf8)
        self.parts = parts.map { part in
            switch part {
            case .literal(let text): return .literal(Array(text.utf8))
            case .claim(let path):
                let segments = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                return .claim(path, segments: segments)
            case .groups: return .groups
            }
        }
    }

    /// One piece of a template, as the composition layer hands it over.
    package enum TemplatePart: Sendable {
        case literal(String)
        case claim(String)
        case groups
    }

    /// Appends `Name: value\r\n` to `out`, or nothing when a claim the template needs is missing.
    package func render(_ identity: Identity, into out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: nameBytes)
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        for part in parts {
            switch part {
            case .literal(let bytes):
                out.append(contentsOf: bytes)
            case .groups:
                guard let value = identity.claim(identity.groupsClaim), Self.append(value, asList: true, into: &out)
                else {
                    out.removeSubrange(start...)
                    return
                }
            case .claim(let path, let segments):
                // The groups claim is a list even when the token gives one string (`Identity.groups` reads it as
                // one group): its `,` is encoded, so the upstream cannot read "admin,ops" as two groups.
                let isList = path == identity.groupsClaim
                guard let value = identity.claim(at: segments), Self.append(value, asList: isList, into: &out) else {
                    out.removeSubrange(start...)
                    return
                }
            }
        }
        out.append(13)
        out.append(10)
    }

    /// Appends a claim value; false for values that cannot be a header (objects, null).
    /// - Parameter asList: the claim is a list claim (groups): a lone string is a one-element list.
    private static func append(_ value: ClaimValue, asList: Bool, into out: inout [UInt8]) -> Bool {
        switch value {
        case .string(let s):
            encode(s.utf8, listElement: asList, into: &out)
        case .integer(let n):
            out.append(contentsOf: String(n).utf8)
        case .number(let d):
            out.append(contentsOf: d.description.utf8)
        case .bool(let b):
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case .array(let items):
            var first = true
            for item in items {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                switch item {
                case .string(let s): encode(s.utf8, listElement: true, into: &out)
                case .integer(let n): out.append(contentsOf: String(n).utf8)
                case .number(let d): out.append(contentsOf: d.description.utf8)
                case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
                case .array, .object, .null: return false
                }
            }
        case .object, .null:
            return false
        }
        return true
    }

    private static func encode(_ bytes: String.UTF8View, listElement: Bool, into out: inout [UInt8]) {
        func needsEscape(_ b: UInt8) -> Bool {
            b < 0x20 || b == 0x7f || b == UInt8(ascii: "%") || (listElement && b == UInt8(ascii: ","))
        }
        // Most values need no escape: one scan of the contiguous bytes, then one copy of the same buffer.
        let copied = bytes.withContiguousStorageIfAvailable { buffer in
            if buffer.contains(where: needsEscape) { return false }
            out.append(contentsOf: buffer)
            return true
        }
        if copied == true { return }
        let hex: StaticString = "0123456789ABCDEF"
        for b in bytes {
            if needsEscape(b) {
                out.append(UInt8(ascii: "%"))
                hex.withUTF8Buffer { h in
                    out.append(h[Int(b >> 4)])
                    out.append(h[Int(b & 0xf)])
                }
            } else {
                out.append(b)
            }
        }
    }
}
