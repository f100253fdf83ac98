import Yams

/// A route's `auth`: whether a request needs a credential.
package enum AuthMode: String, Sendable, Hashable, CaseIterable {
    /// Public: no credential is read, no identity header is injected (client ones are still stripped).
    case none
    /// A valid credential is required; without one, `unauthenticated` decides the answer. The
    /// default in the file.
    case required
    /// A valid credential is used when one is sent (identity headers are injected); a request
    /// without one is forwarded anonymously.
    case optional
}

/// One entry of a route's `accept`: where the route looks for a credential.
package enum CredentialSourceSpec: Sendable, Hashable, CustomStringConvertible {
    /// `bearer`: a JWT in `Authorization: Bearer ...`.
    case bearer
    /// `cookie:NAME`: a JWT in the cookie `NAME` (a cookie-name token).
    case cookie(String)
    /// `session`: the gateway's own session cookie (needs `login.users_file` with `mode: session`).
    case session
    /// `basic`: `Authorization: Basic` with a users-file user's name and password (RFC 7617; needs
    /// `login.users_file`).
    case basic

    /// Parses `bearer`, `cookie:NAME` or `session`.
    static func parse(_ text: String) -> ParseOutcome<CredentialSourceSpec> {
        if text == "bearer" {
            return .parsed(.bearer)
        }
        if text == "session" {
            return .parsed(.session)
        }
        if text == "basic" {
            return .parsed(.basic)
        }
        if text.hasPrefix("cookie:") {
            let name = String(text.dropFirst("cookie:".count))
            if name.isEmpty {
                return .invalid("name the cookie after \"cookie:\", as in cookie:access_token")
            }
            if let problem = HTTPToken.problem(name, what: "cookie name") {
                return .invalid(problem)
            }
            return .parsed(.cookie(name))
        }
        if text == "cookie" {
            return .invalid("name the cookie, as in cookie:access_token")
        }
        let lowered = text.lowercased()
        if lowered == "bearer" || lowered == "session" || lowered == "basic" {
            return .invalid("credential sources are lowercase; did you mean \"\(lowered)\"?")
        }
        if lowered.hasPrefix("cookie:") {
            return .invalid("write \"cookie:\" in lowercase, as in cookie:\(text.dropFirst("cookie:".count))")
        }
        return .invalid("expected \"bearer\", \"cookie:NAME\", \"session\" or \"basic\", got \"\(text)\"")
    }

    /// The text as written in the file (`bearer`, `cookie:NAME`, `session`).
    package var description: String {
        switch self {
        case .bearer: return "bearer"
        case .cookie(let name): return "cookie:\(name)"
        case .session: return "session"
        case .basic: return "basic"
        }
    }
}

/// A route's `unauthenticated`: the answer to a request without a valid credential.
package enum UnauthenticatedAction: String, Sendable, Hashable, CaseIterable {
    /// 401 with `WWW-Authenticate` (the default).
    case status
    /// Browsers are redirected (302) to `login.url`; other clients get the 401.
    case login
}

/// A route's `require`: the conditions a verified identity must meet (else 403).
///
/// A `require` mapping with several keys is `.all` of them, in file order; a mapping with one
/// key is that condition itself. Lists are non-empty and hold distinct, non-empty strings.
package indirect enum RequirementSpec: Sendable, Equatable {
    /// `claims`: each claim path must be present and equal one of its values (an array claim:
    /// one of its elements must); values are compared as text (numbers and booleans as written in
    /// JSON). In file order.
    case claims([(path: String, values: [String])])
    /// `groups_any`: the groups claim holds at least one of these.
    case groupsAny([String])
    /// `groups_all`: the groups claim holds every one of these.
    case groupsAll([String])
    /// `scopes`: the token grants every one of these scopes.
    case scopes([String])
    /// `methods`: the request method is one of these (validated as `match.methods`).
    case methods([String])
    /// `any`: at least one of these holds (non-empty).
    case any([RequirementSpec])
    /// `all`: every one of these holds (non-empty).
    case all([RequirementSpec])

    /// Structural equality; `claims` compares paths and values pairwise, in order.
    package static func == (lhs: RequirementSpec, rhs: RequirementSpec) -> Bool {
        switch (lhs, rhs) {
        case (.claims(let left), .claims(let right)):
            return left.count == right.count
                && zip(left, right).allSatisfy { $0.path == $1.path && $0.values == $1.values }
        case (.groupsAny(let left), .groupsAny(let right)),
            (.groupsAll(let left), .groupsAll(let right)),
            (.scopes(let left), .scopes(let right)),
            (.methods(let left), .methods(let right)):
            return left == right
        case (.any(let left), .any(let right)), (.all(let left), .all(let right)):
            return left == right
        default:
            return false
        }
    }

    /// The keys a `require` mapping accepts.
    static let keys = ["claims", "groups_any", "groups_all", "scopes", "methods", "any", "all"]
    /// The deepest nesting of `any`/`all` accepted; a hand-written policy never comes close.
    static let maximumDepth = 16

    /// Reads a `require` mapping (the route's, or an element of `any`/`all`).
    ///
    /// - Parameters:
    ///   - node: The mapping.
    ///   - path: Its dotted path.
    ///   - depth: How many `any`/`all` levels enclose it.
    ///   - reader: Collects problems.
    /// - Returns: The requirement, or `nil` if a problem was reported.
    static func read(_ node: Node, path: String, depth: Int = 0, reader: ConfigReader) -> RequirementSpec? {
        if depth > maximumDepth {
            reader.report(
                .invalidValue, at: node, key: path, "requirements are nested more than \(maximumDepth) levels deep")
            return nil
        }
        guard case .mapping(let mapping) = node else {
            reader.report(
                .wrongType, at: node, key: path,
                "expected a mapping of conditions such as { groups_any: [staff] }, got \(ConfigReader.describe(node))")
            return nil
        }
        if mapping.count == 0 {
            reader.report(
                .invalidValue, at: node, key: path,
                "an empty requirement always holds; name at least one condition (claims, groups_any, groups_all, "
                    + "scopes, methods, any, all)")
            return nil
        }
        // Unknown keys are reported by `fields`; a mapping left with none has nothing more to say.
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node)),
            !fields.keys.isEmpty
        else { return nil }
        var conditions: [RequirementSpec] = []
        var valid = true
        for key in fields.keys {
            guard let value = reader.required(fields, key) else {
                valid = false
                continue
            }
            let keyPath = fields.path(key)
            let condition: RequirementSpec?
            switch key {
            case "claims":
                condition = readClaims(value, path: keyPath, reader: reader)
            case "groups_any", "groups_all":
                condition = reader.strings(
                    value, path: keyPath, one: "a group name", many: "group names",
                    empty: "an empty list matches nothing; name at least one group"
                ).map { key == "groups_any" ? .groupsAny($0) : .groupsAll($0) }
            case "scopes":
                condition = reader.strings(
                    value, path: keyPath, one: "a scope", many: "scopes",
                    empty: "an empty list matches nothing; name at least one scope",
                    check: { $0.contains(" ") ? "a scope cannot contain blanks; list each scope separately" : nil }
                ).map { .scopes($0) }
            case "methods":
                condition = RouteSection.readMethods(value, path: keyPath, reader: reader).map { .methods($0) }
            default:
                condition = readList(value, path: keyPath, depth: depth, reader: reader).map {
                    key == "any" ? .any($0) : .all($0)
                }
            }
            if let condition {
                conditions.append(condition)
            } else {
                valid = false
            }
        }
        guard valid else { return nil }
        return conditions.count == 1 ? conditions[0] : .all(conditions)
    }

    /// Reads the list of requirement mappings of `any` or `all`; at least one.
    private static func readList(_ node: Node, path: String, depth: Int, reader: ConfigReader) -> [RequirementSpec]? {
        guard case .sequence(let sequence) = node else {
            reader.report(
                .wrongType, at: node, key: path,
                "expected a list of requirements, as in [{ groups_any: [staff] }, { scopes: [admin] }], got "
                    + ConfigReader.describe(node))
            return nil
        }
        if sequence.isEmpty {
            reader.report(.invalidValue, at: node, key: path, "an empty list is not a condition; list at least one")
            return nil
        }
        var requirements: [RequirementSpec] = []
        var valid = true
        for (index, element) in sequence.enumerated() {
            if let requirement = read(element, path: "\(path)[\(index)]", depth: depth + 1, reader: reader) {
                requirements.append(requirement)
            } else {
                valid = false
            }
        }
        return valid ? requirements : nil
    }

    /// Reads `claims`: a non-empty mapping of claim path -> a value or a non-empty list of values.
    private static func readClaims(_ node: Node, path: String, reader: ConfigReader) -> RequirementSpec? {
        guard let entries = reader.entries(of: node, path: path) else { return nil }
        if entries.isEmpty {
            reader.report(.invalidValue, at: node, key: path, "name at least one claim, as in { scope: read }")
            return nil
        }
        var claims: [(path: String, values: [String])] = []
        var valid = true
        for entry in entries {
            let keyPath = "\(path).\(entry.key)"
            if let problem = ClaimPath.problem(entry.key) {
                reader.report(.invalidValue, at: entry.keyNode, key: keyPath, problem)
                valid = false
            }
            if ConfigReader.isNull(entry.value) {
                reader.report(.missingKey, at: entry.keyNode, key: keyPath, "a value is required")
                valid = false
                continue
            }
            let values = reader.strings(
                entry.value, path: keyPath, one: "a claim value", many: "claim values",
                empty: "an empty list matches nothing; give at least one value")
            if let values {
                claims.append((entry.key, values))
            } else {
                valid = false
            }
        }
        return valid ? .claims(claims) : nil
    }
}

/// What a route's authentication keys produced (the parts of ``RouteSection`` beyond routing).
struct RouteAuthSettings {
    /// `auth`.
    var auth: AuthMode
    /// `accept`; empty for `auth: none`.
    var accept: [CredentialSourceSpec]
    /// `require`, if given.
    var require: RequirementSpec?
    /// `unauthenticated`.
    var unauthenticated: UnauthenticatedAction
    /// `identity_headers`, if the route gives its own.
    var identityHeaders: [IdentityHeaderSection]?
    /// `forward_authorization`.
    var forwardAuthorization: Bool
    /// `strip_credential_cookies`.
    var stripCredentialCookies: Bool
}

/// What routes need to know about the rest of the file to check their references.
struct RouteContext {
    /// Every upstream name declared, or `nil` if `upstreams` itself was unreadable.
    var upstreamNames: [String]?
    /// Whether `tokens` is in the file (valid or not; an invalid one is reported on its own).
    var tokensDeclared: Bool
    /// Whether `login` is in the file (valid or not).
    var loginDeclared: Bool
    /// Whether the gateway's own sign-in gives session cookies (`login.users_file`, `mode: session`).
    var sessionSignIn: Bool = false
    /// Whether the gateway's own sign-in issues access tokens (`mode: token`): bearer then needs no issuer.
    var tokenSignIn: Bool = false
    /// Whether a users file is configured (`login.users_file`, any mode): `accept: [basic]` checks its users.
    var usersFile: Bool = false
}

extension RouteSection {
    /// Reads a route's authentication keys: `auth`, `accept`, `require`, `unauthenticated`,
    /// `identity_headers`, `forward_authorization`, `strip_credential_cookies`.
    ///
    /// - Parameters:
    ///   - fields: The route's fields.
    ///   - context: What the rest of the file declares.
    ///   - reader: Collects problems.
    /// - Returns: The settings, or `nil` if a problem was reported.
    static func readAuth(_ fields: YAMLFields, context: RouteContext, reader: ConfigReader) -> RouteAuthSettings? {
        var valid = true
        var auth = AuthMode.required
        let authNode = fields.value("auth")
        var authValid = true
        if let authNode {
            let parsed = reader.parse(
                authNode, path: fields.path("auth"), expected: "\"none\", \"required\" or \"optional\"",
                with: { keyword($0, as: AuthMode.self) })
            // An unreadable auth is taken as `required`, so that the other keys are still checked.
            auth = parsed ?? .required
            authValid = parsed != nil
            valid = valid && authValid
        }
        let accept = readAccept(
            fields, auth: authValid ? auth : nil, authGiven: authNode != nil, context: context, reader: reader)
        valid = valid && accept != nil

        var require: RequirementSpec?
        if let node = fields.value("require"), let entry = fields.entries["require"] {
            if auth == .none {
                reader.report(
                    .invalidValue, at: entry.keyNode, key: fields.path("require"),
                    "a public route (auth: none) has no identity to check; remove require or set auth: required")
                valid = false
            } else if auth == .optional {
                reader.report(
                    .invalidValue, at: entry.keyNode, key: fields.path("require"),
                    "auth: optional lets requests without a credential through, so require would not protect this "
                        + "route; set auth: required")
                valid = false
            } else {
                require = RequirementSpec.read(node, path: fields.path("require"), reader: reader)
                valid = valid && require != nil
            }
        }

        if let node = fields.value("require_second_factor"), let entry = fields.entries["require_second_factor"] {
            switch reader.boolean(node, path: fields.path("require_second_factor")) {
            case nil: valid = false
            case false?: break
            case true? where auth != .required:
                reader.report(
                    .invalidValue, at: entry.keyNode, key: fields.path("require_second_factor"),
                    "only a route with auth: required checks how the user signed in; set auth: required")
                valid = false
            case true?:
                // Sugar for `require: { claims: { amr: otp } }`, added to whatever `require` says.
                let otp = RequirementSpec.claims([(path: "amr", values: ["otp"])])
                require = require.map { .all([$0, otp]) } ?? otp
            }
        }

        var unauthenticated = UnauthenticatedAction.status
        if let node = fields.value("unauthenticated"), let entry = fields.entries["unauthenticated"] {
            let path = fields.path("unauthenticated")
            if auth == .none {
                reader.report(
                    .invalidValue, at: entry.keyNode, key: path,
                    "a public route (auth: none) never refuses a request for lack of a credential; remove "
                        + "unauthenticated")
                valid = false
            } else if let action = reader.parse(
                node, path: path, expected: "\"status\" or \"login\"",
                with: { keyword($0, as: UnauthenticatedAction.self) })
            {
                unauthenticated = action
                if action == .login && !context.loginDeclared {
                    reader.report(
                        .missingKey, at: node, key: path,
                        "unauthenticated: login sends browsers to login.url, which is not set; add "
                            + "login: { url: ... } or use unauthenticated: status")
                    valid = false
                }
            } else {
                valid = false
            }
        }

        var identityHeaders: [IdentityHeaderSection]?
        if let node = fields.value("identity_headers") {
            identityHeaders = IdentityHeaderSection.readMap(
                node, path: fields.path("identity_headers"), reader: reader)
            valid = valid && identityHeaders != nil
        }
        var forwardAuthorization: Bool? = false
        if let node = fields.value("forward_authorization") {
            forwardAuthorization = reader.boolean(node, path: fields.path("forward_authorization"))
        }
        var stripCredentialCookies: Bool? = true
        if let node = fields.value("strip_credential_cookies") {
            stripCredentialCookies = reader.boolean(node, path: fields.path("strip_credential_cookies"))
        }
        guard valid, let accept, let forwardAuthorization, let stripCredentialCookies else { return nil }
        return RouteAuthSettings(
            auth: auth, accept: accept, require: require, unauthenticated: unauthenticated,
            identityHeaders: identityHeaders, forwardAuthorization: forwardAuthorization,
            stripCredentialCookies: stripCredentialCookies)
    }

    /// Reads `accept`: absent for `auth: none`, otherwise a non-empty list of distinct sources.
    /// `auth` is `nil` if it was refused: a missing `accept` is then not reported as well.
    private static func readAccept(
        _ fields: YAMLFields, auth: AuthMode?, authGiven: Bool, context: RouteContext, reader: ConfigReader
    ) -> [CredentialSourceSpec]? {
        let path = fields.path("accept")
        guard let node = fields.value("accept") else {
            switch auth {
            case nil:
                break
            case .none?:
                return []
            case .required?:
                let why = authGiven ? "auth: required" : "auth: required by default"
                reader.report(
                    .missingKey, at: fields.location, key: path,
                    "this route requires authentication (\(why)) but accepts no credential; add `accept: [bearer]` "
                        + "or set `auth: none`")
            case .optional?:
                reader.report(
                    .missingKey, at: fields.location, key: path,
                    "auth: optional reads a credential when one is sent, but this route accepts none; add "
                        + "`accept: [bearer]` or set `auth: none`")
            }
            return nil
        }
        if auth == AuthMode.none {
            reader.report(
                .invalidValue, at: fields.entries["accept"]?.keyNode, key: path,
                "a public route (auth: none) reads no credential; remove accept or set auth: required")
            return nil
        }
        guard let elements = reader.list(node, path: path, expected: "credential sources") else { return nil }
        if elements.isEmpty {
            reader.report(
                .invalidValue, at: node, key: path,
                "an empty list accepts no credential; list at least one (bearer, cookie:NAME)")
            return nil
        }
        var sources: [CredentialSourceSpec] = []
        var valid = true
        var reportedNoIssuers = false
        for element in elements {
            guard
                let source = reader.parse(
                    element.node, path: element.path, expected: "a credential source such as bearer",
                    with: CredentialSourceSpec.parse)
            else {
                valid = false
                continue
            }
            if sources.contains(source) {
                reader.report(
                    .invalidValue, at: element.node, key: element.path, "\(source.description) is listed twice")
                valid = false
                continue
            }
            if source == .basic {
                if !context.usersFile {
                    reader.report(
                        .unknownReference, at: element.node, key: element.path,
                        "basic checks the users file's users; add login: { users_file: ... }")
                    valid = false
                }
                sources.append(source)
                continue
            }
            if source == .session {
                if !context.sessionSignIn {
                    reader.report(
                        .unknownReference, at: element.node, key: element.path,
                        "session cookies come from the gateway's own sign-in; add login: { users_file: ..., "
                            + "mode: session }")
                    valid = false
                }
                sources.append(source)
                continue
            }
            if !context.tokensDeclared && !context.tokenSignIn && !reportedNoIssuers {
                reader.report(
                    .unknownReference, at: element.node, key: element.path,
                    "no token issuers are configured (tokens.issuers)")
                reportedNoIssuers = true
                valid = false
            }
            sources.append(source)
        }
        return valid ? sources : nil
    }

    /// Parses one of an enum's keywords exactly; a wrong case or a near miss gets a suggestion.
    static func keyword<Keyword: RawRepresentable & CaseIterable>(
        _ text: String, as type: Keyword.Type
    ) -> ParseOutcome<Keyword> where Keyword.RawValue == String {
        if let value = Keyword(rawValue: text) {
            return .parsed(value)
        }
        let names = type.allCases.map(\.rawValue)
        let list = names.map { "\"\($0)\"" }.joined(separator: ", ")
        if let suggestion = KeySuggestion.nearest(to: text, among: names) {
            return .invalid("expected one of \(list); did you mean \"\(suggestion)\"?")
        }
        return .invalid("expected one of \(list), got \"\(text)\"")
    }
}
