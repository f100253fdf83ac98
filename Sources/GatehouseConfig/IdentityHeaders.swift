import Yams

/// One identity header the gateway injects into requests it forwards: a name and a template
/// built from the credential's claims.
///
/// Invariants: `name` is an HTTP token that is not one the gateway manages itself (see
/// ``IdentityHeaderSection/reservedReason(_:)``); `template` is valid template syntax (so
/// ``parts`` never fails). Within one map, names are unique ignoring case, with `_` read as `-`.
package struct IdentityHeaderSection: Sendable, Equatable {
    /// The header name, as written in the file (`X-Auth-User`).
    package let name: String
    /// The template, as written in the file (`"{sub}"`, `"{given_name} {family_name}"`).
    package let template: String
    /// Where the header's key is in the file; line 0 for the built-in default map, which is not
    /// written in the file.
    package let location: SourceLocation

    /// Creates an identity header.
    ///
    /// - Parameters:
    ///   - name: The header name.
    ///   - template: The template (valid syntax).
    ///   - location: Where the header is defined.
    package init(name: String, template: String, location: SourceLocation) {
        self.name = name
        self.template = template
        self.location = location
    }

    /// The template split into literal text and claim placeholders, in order (`{{` and `}}`
    /// already turned into single braces). Never empty for a validated section.
    package var parts: [IdentityTemplatePart] {
        guard case .parsed(let parts) = IdentityTemplate.parse(template) else { return [] }
        return parts
    }

    /// The map used when `identity_headers` is absent: `X-Auth-User: "{sub}"`,
    /// `X-Auth-Email: "{email}"`, `X-Auth-Groups: "{groups}"`, located at line 0 of `file`.
    ///
    /// - Parameter file: The configuration file, for the locations.
    /// - Returns: The three default headers, in that order.
    package static func defaults(file: String) -> [IdentityHeaderSection] {
        let location = SourceLocation(file: file, line: 0, column: 0)
        return [
            IdentityHeaderSection(name: "X-Auth-User", template: "{sub}", location: location),
            IdentityHeaderSection(name: "X-Auth-Email", template: "{email}", location: location),
            IdentityHeaderSection(name: "X-Auth-Groups", template: "{groups}", location: location),
        ]
    }

    /// The default of `strip_header_prefixes`.
    package static let defaultStripPrefixes = ["X-Auth-"]

    /// A header name folded for comparison: lowercased, `_` read as `-` (as the gateway does
    /// when it strips client headers, and as CGI-style upstreams do when they read them).
    ///
    /// - Parameter name: A header name or prefix.
    /// - Returns: The folded form.
    package static func folded(_ name: String) -> String {
        String(name.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    /// Headers the gateway manages itself, which an identity header may not replace (and which
    /// a strip prefix may not cover): folded name -> (usual spelling, reason).
    private static let reservedNames: [String: (name: String, reason: String)] = {
        let groups: [(reason: String, names: [String])] = [
            (
                "a hop-by-hop header",
                ["Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade"]
            ),
            ("part of the request's framing or routing", ["Host", "Content-Length", "Content-Type", "Expect"]),
            (
                "set by the gateway on every request (see trusted_proxies)",
                ["Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP"]
            ),
            (
                "a client credential header (see forward_authorization and strip_credential_cookies)",
                ["Authorization", "Proxy-Authorization", "Cookie"]
            ),
        ]
        var names: [String: (name: String, reason: String)] = [:]
        for group in groups {
            for name in group.names {
                names[folded(name)] = (name, group.reason)
            }
        }
        return names
    }()

    /// Why a header name cannot be injected, or `nil` if it can. Every `Content-*` header is
    /// refused too: it describes the body, which the gateway forwards untouched.
    ///
    /// - Parameter name: The header name.
    /// - Returns: The reason, for an error message.
    static func reservedReason(_ name: String) -> String? {
        let folded = folded(name)
        if let reserved = reservedNames[folded] {
            return reserved.reason
        }
        return folded.hasPrefix("content-") ? "part of the request's framing or routing" : nil
    }

    /// The first reserved header (alphabetically) that a strip prefix would remove, if any.
    ///
    /// - Parameter prefix: A `strip_header_prefixes` entry.
    /// - Returns: The header's usual spelling, for the error message.
    static func reservedHeaderCovered(byPrefix prefix: String) -> String? {
        let folded = folded(prefix)
        if "content-".hasPrefix(folded) || folded.hasPrefix("content-") {
            return "Content-Length"
        }
        return reservedNames.filter { $0.key.hasPrefix(folded) }.map(\.value.name).sorted().first
    }

    // MARK: Reading

    /// Reads an identity-header map (`identity_headers`, top-level or in a route): header
    /// name -> template. An empty mapping is valid (inject nothing).
    ///
    /// - Parameters:
    ///   - node: The map's value (not null).
    ///   - path: Its dotted path.
    ///   - reader: Collects problems.
    /// - Returns: The headers in file order, or `nil` if any problem was reported.
    static func readMap(_ node: Node, path: String, reader: ConfigReader) -> [IdentityHeaderSection]? {
        guard let entries = reader.entries(of: node, path: path) else { return nil }
        var headers: [IdentityHeaderSection] = []
        var valid = true
        var firstLine: [String: (name: String, line: Int)] = [:]
        for entry in entries {
            let keyPath = "\(path).\(entry.key)"
            if let problem = HTTPToken.problem(entry.key, what: "header name") {
                reader.report(.invalidValue, at: entry.keyNode, key: keyPath, problem)
                valid = false
            } else if let reason = reservedReason(entry.key) {
                reader.report(
                    .invalidValue, at: entry.keyNode, key: keyPath,
                    "\(entry.key) is \(reason); it cannot be an identity header")
                valid = false
            } else if let first = firstLine[folded(entry.key)] {
                reader.report(
                    .duplicateKey, at: entry.keyNode, key: keyPath,
                    "the same header as \"\(first.name)\" (names are compared ignoring case, with \"_\" read as "
                        + "\"-\"); first defined at line \(first.line)")
                valid = false
            } else {
                firstLine[folded(entry.key)] = (entry.key, entry.keyNode.mark?.line ?? 0)
            }
            guard let template = reader.text(entry.value, path: keyPath, expected: "a template such as \"{sub}\"")
            else {
                valid = false
                continue
            }
            if case .invalid(let reason) = IdentityTemplate.parse(template) {
                reader.report(.invalidValue, at: entry.value, key: keyPath, reason)
                valid = false
                continue
            }
            let location = reader.location(of: entry.keyNode) ?? SourceLocation(file: reader.file, line: 0, column: 0)
            headers.append(IdentityHeaderSection(name: entry.key, template: template, location: location))
        }
        return valid ? headers : nil
    }

    /// Reads the top-level `identity_headers`; absent or null gives ``defaults(file:)``.
    static func readRoot(_ root: YAMLFields, reader: ConfigReader) -> [IdentityHeaderSection]? {
        guard let node = root.value("identity_headers") else {
            return defaults(file: reader.file)
        }
        return readMap(node, path: "identity_headers", reader: reader)
    }

    /// Reads `strip_header_prefixes`: a list (or one string) of header-name prefixes, possibly
    /// empty; absent or null gives `["X-Auth-"]`.
    static func readStripPrefixes(_ root: YAMLFields, reader: ConfigReader) -> [String]? {
        guard let node = root.value("strip_header_prefixes") else { return defaultStripPrefixes }
        let path = "strip_header_prefixes"
        guard let elements = reader.list(node, path: path, expected: "header-name prefixes") else { return nil }
        var prefixes: [String] = []
        var valid = true
        for element in elements {
            guard let text = reader.text(element.node, path: element.path, expected: "a header-name prefix") else {
                valid = false
                continue
            }
            let problem: String?
            if let tokenProblem = HTTPToken.problem(text, what: "header-name prefix") {
                problem = tokenProblem
            } else if let covered = reservedHeaderCovered(byPrefix: text) {
                problem =
                    "\"\(text)\" would also remove \(covered) from every request; use a longer prefix such as "
                    + "\"X-Auth-\""
            } else if prefixes.contains(where: { folded($0) == folded(text) }) {
                problem = "\"\(text)\" is listed twice (prefixes are compared ignoring case, with \"_\" read as \"-\")"
            } else {
                problem = nil
            }
            if let problem {
                reader.report(.invalidValue, at: element.node, key: element.path, problem)
                valid = false
            } else {
                prefixes.append(text)
            }
        }
        return valid ? prefixes : nil
    }
}

/// One piece of an identity-header template.
package enum IdentityTemplatePart: Sendable, Hashable {
    /// Text copied as is (braces already unescaped).
    case literal(String)
    /// A claim placeholder: the claim path, dot-separated for nested claims (`realm_access.roles`).
    /// `groups` names the claim that `tokens.groups_claim` designates.
    case claim(String)
}

/// The template syntax of identity headers.
///
/// Literal text and `{claim}` / `{claim.nested}` placeholders; `{{` and `}}` are literal braces.
/// Claim paths are segments of `[A-Za-z0-9_:-]+` joined by `.`. Literal text is printable ASCII
/// (header values never carry control characters, and non-ASCII bytes are read differently by
/// different upstreams). A template may not be empty.
enum IdentityTemplate {
    /// Parses a template.
    ///
    /// - Parameter text: The template from the file.
    /// - Returns: Its parts, or why it was refused (positions are 1-based characters).
    static func parse(_ text: String) -> ParseOutcome<[IdentityTemplatePart]> {
        if text.isEmpty {
            return .invalid("an empty template would send an empty header; remove the header instead")
        }
        let scalars = Array(text.unicodeScalars)
        var parts: [IdentityTemplatePart] = []
        var literal = ""
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            if scalar == "{" && next == "{" {
                literal.unicodeScalars.append("{")
                index += 2
            } else if scalar == "}" && next == "}" {
                literal.unicodeScalars.append("}")
                index += 2
            } else if scalar == "}" {
                return .invalid("unmatched \"}\" at position \(index + 1); write \"}}\" for a literal brace")
            } else if scalar == "{" {
                guard let close = scalars[(index + 1)...].firstIndex(of: "}") else {
                    return .invalid(
                        "unclosed \"{\" at position \(index + 1); close the placeholder or write \"{{\" for a "
                            + "literal brace")
                }
                var name = ""
                name.unicodeScalars.append(contentsOf: scalars[(index + 1)..<close])
                if name.isEmpty {
                    return .invalid("empty placeholder \"{}\" at position \(index + 1); name a claim, as in {sub}")
                }
                if let problem = ClaimPath.problem(name) {
                    return .invalid(problem)
                }
                if !literal.isEmpty {
                    parts.append(.literal(literal))
                    literal = ""
                }
                parts.append(.claim(name))
                index = close + 1
            } else if (0x20...0x7e).contains(scalar.value) {
                literal.unicodeScalars.append(scalar)
                index += 1
            } else if scalar.isASCII {
                return .invalid(
                    "control character at position \(index + 1); header values cannot carry tabs, line breaks or "
                        + "other control characters")
            } else {
                return .invalid("non-ASCII character at position \(index + 1); literal text must be ASCII")
            }
        }
        if !literal.isEmpty {
            parts.append(.literal(literal))
        }
        return .parsed(parts)
    }
}

/// The syntax of claim paths: in templates, `require.claims` and `tokens.groups_claim`.
enum ClaimPath {
    /// Checks a claim path: segments of ASCII letters, digits, `_`, `:` and `-`, joined by `.`.
    ///
    /// - Parameter path: The path from the file.
    /// - Returns: Why it is refused, or `nil` if it is valid.
    static func problem(_ path: String) -> String? {
        let segments = path.split(separator: ".", omittingEmptySubsequences: false)
        let valid = segments.allSatisfy { segment in
            !segment.isEmpty
                && segment.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_:-".contains($0)) }
        }
        if valid {
            return nil
        }
        return
            "\"\(path)\" is not a claim name: use letters, digits, \"_\", \":\" and \"-\", with \".\" between "
            + "nested names (as in realm_access.roles)"
    }
}

/// The `token` syntax of RFC 9110, used by header names and cookie names.
enum HTTPToken {
    /// The non-alphanumeric characters a token may contain.
    private static let symbols = "!#$%&'*+-.^_`|~"

    /// Whether `text` is a non-empty token.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || symbols.contains($0)) }
    }

    /// Why `text` is not a token, or `nil` if it is.
    ///
    /// - Parameters:
    ///   - text: The text from the file.
    ///   - what: What it should be, without an article, e.g. `header name`.
    /// - Returns: The reason, for an error message.
    static func problem(_ text: String, what: String) -> String? {
        if text.isEmpty {
            return "a \(what) cannot be empty"
        }
        if isToken(text) {
            return nil
        }
        return "\"\(text)\" is not a valid \(what): use letters, digits and !#$%&'*+-.^_`|~ "
            + "(no blanks, colons, quotes or slashes)"
    }
}
