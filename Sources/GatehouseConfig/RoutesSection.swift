import Yams

/// One entry of `routes`: which requests it matches, which upstream serves them, and what
/// credential and identity it needs.
///
/// Invariants: `name` is unique among routes; `upstream` names an entry of `upstreams`;
/// `pathPrefix` starts with `/`; `methods`, when present, is a non-empty list of distinct
/// method tokens (case-sensitive, as in RFC 9110). For a route read from a file: `accept` is
/// empty exactly when `auth` is `.none`, never holds `.session`, and is non-empty only if
/// `tokens` is configured; `require` is `nil` unless `auth` is `.required`; `unauthenticated`
/// is `.login` only if `login` is configured.
package struct RouteSection: Sendable, Equatable {
    /// The route's unique name (for logs, metrics and `explain`).
    package let name: String
    /// The `Host` the request must carry (without port); `nil` matches any host.
    package let host: HostPattern?
    /// The literal prefix the request path must start with; default `/`.
    package let pathPrefix: String
    /// The methods the route accepts; `nil` accepts every method.
    package let methods: [String]?
    /// `match.case_insensitive`: compare `pathPrefix` ignoring ASCII case; `nil` takes
    /// `server.case_insensitive_paths`.
    package var caseInsensitive: Bool? = nil
    /// `basic`: the Basic challenge and cache of a route with `accept: [basic]` (defaults when accept lists it
    /// without the key); nil otherwise.
    package var basic: BasicAcceptSection? = nil
    /// `inject_basic`: `Authorization: Basic` sent upstream on this route (overrides the upstream's).
    package var injectBasic: BasicInjectionSection? = nil
    /// Where `match.host` was written (`sessions.cookie.domain` is checked against it).
    package var hostLocation: SourceLocation? = nil
    /// `assertion`: this route's signed identity assertion (AssertionSection.swift); nil takes the top level.
    package var assertion: RouteAssertionSpec? = nil
    /// The name of the upstream that serves matching requests.
    package let upstream: String
    /// Where the route's entry starts in the file, for messages about it.
    package let location: SourceLocation
    /// Whether a request needs a credential; the file's default is `.required`.
    package let auth: AuthMode
    /// Where the route looks for a credential, in the order given; empty for `auth: none`.
    package let accept: [CredentialSourceSpec]
    /// What the verified identity must satisfy (403 otherwise); `nil` for none.
    package let require: RequirementSpec?
    /// The answer to a request without a valid credential; default `.status` (401).
    package let unauthenticated: UnauthenticatedAction
    /// The identity headers injected on this route, replacing the top-level map; `nil` uses it.
    package let identityHeaders: [IdentityHeaderSection]?
    /// Whether the client's `Authorization` header is forwarded upstream; default `false`.
    package let forwardAuthorization: Bool
    /// Whether the cookies named by `cookie:NAME` sources are removed from the `Cookie` header
    /// sent upstream; default `true`.
    package let stripCredentialCookies: Bool

    /// Creates a route section.
    ///
    /// - Parameters:
    ///   - name: The route name.
    ///   - host: The host pattern, or `nil` for any host.
    ///   - pathPrefix: The path prefix.
    ///   - methods: Accepted methods, or `nil` for all.
    ///   - upstream: The upstream name.
    ///   - location: The entry's location.
    ///   - auth: Whether a credential is needed; `.none` here (a public route), although the
    ///     file's default is `.required`.
    ///   - accept: Credential sources.
    ///   - require: The policy, if any.
    ///   - unauthenticated: The answer without a credential.
    ///   - identityHeaders: This route's identity headers, or `nil` for the top-level map.
    ///   - forwardAuthorization: Whether `Authorization` goes upstream.
    ///   - stripCredentialCookies: Whether credential cookies are removed from `Cookie` upstream.
    package init(
        name: String, host: HostPattern?, pathPrefix: String, methods: [String]?, upstream: String,
        location: SourceLocation, auth: AuthMode = .none, accept: [CredentialSourceSpec] = [],
        require: RequirementSpec? = nil, unauthenticated: UnauthenticatedAction = .status,
        identityHeaders: [IdentityHeaderSection]? = nil, forwardAuthorization: Bool = false,
        stripCredentialCookies: Bool = true
    ) {
        self.name = name
        self.host = host
        self.pathPrefix = pathPrefix
        self.methods = methods
        self.upstream = upstream
        self.location = location
        self.auth = auth
        self.accept = accept
        self.require = require
        self.unauthenticated = unauthenticated
        self.identityHeaders = identityHeaders
        self.forwardAuthorization = forwardAuthorization
        self.stripCredentialCookies = stripCredentialCookies
    }

    /// The keys a route accepts.
    static let keys = [
        "name", "match", "upstream", "auth", "accept", "require", "unauthenticated", "identity_headers",
        "forward_authorization", "strip_credential_cookies", "require_second_factor", "assertion",
    ] + RouteBasicSettings.keys
    /// The keys `match` accepts.
    static let matchKeys = ["host", "path_prefix", "methods", "case_insensitive"]

    /// Reads the required `routes` list; at least one route.
    ///
    /// - Parameters:
    ///   - root: The root fields.
    ///   - context: What the rest of the file declares: upstream names (`nil` if `upstreams`
    ///     itself was unreadable; then references are not checked, to avoid one error per
    ///     route), and whether `tokens` and `login` are present.
    ///   - reader: Collects problems.
    /// - Returns: The routes in file order, or `nil` if any problem was reported.
    static func readAll(_ root: YAMLFields, context: RouteContext, reader: ConfigReader) -> [RouteSection]? {
        guard let node = reader.required(root, "routes") else { return nil }
        guard case .sequence(let sequence) = node else {
            reader.report(
                .wrongType, at: node, key: "routes", "expected a list of routes, got \(ConfigReader.describe(node))")
            return nil
        }
        if sequence.isEmpty {
            reader.report(.invalidValue, at: node, key: "routes", "at least one route is required")
            return nil
        }
        var routes: [RouteSection] = []
        var valid = true
        var firstLine: [String: Int] = [:]
        for (index, element) in sequence.enumerated() {
            let path = "routes[\(index)]"
            let result = read(element, path: path, context: context, reader: reader)
            // Names are checked for uniqueness even when the rest of the route is invalid.
            if let name = result.name, let nameNode = result.nameNode {
                if let line = firstLine[name] {
                    reader.report(
                        .duplicateName, at: nameNode, key: "\(path).name",
                        "duplicate route name \"\(name)\"; first defined at line \(line)")
                    valid = false
                } else {
                    firstLine[name] = nameNode.mark?.line ?? 0
                }
            }
            if let route = result.route {
                routes.append(route)
            } else {
                valid = false
            }
        }
        return valid ? routes : nil
    }

    /// What reading one route produced: the route if valid, and its name if that was.
    private struct ReadResult {
        var route: RouteSection?
        var name: String?
        var nameNode: Node?
    }

    /// Reads one route.
    private static func read(_ node: Node, path: String, context: RouteContext, reader: ConfigReader) -> ReadResult {
        var result = ReadResult()
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node)) else {
            return result
        }
        if let nameNode = reader.required(fields, "name"),
            let text = reader.text(nameNode, path: fields.path("name"), expected: "a route name")
        {
            if let problem = ConfigName.problem(text) {
                reader.report(.invalidValue, at: nameNode, key: fields.path("name"), problem)
            } else {
                result.name = text
                result.nameNode = nameNode
            }
        }
        let match = readMatch(fields, reader: reader)
        var upstream: String?
        if let upstreamNode = reader.required(fields, "upstream"),
            let text = reader.text(upstreamNode, path: fields.path("upstream"), expected: "an upstream name")
        {
            upstream = checkReference(
                text, node: upstreamNode, path: fields.path("upstream"), in: context.upstreamNames, reader)
        }
        let auth = readAuth(fields, context: context, reader: reader)
        let basic = RouteBasicSettings.read(fields, accept: auth?.accept, reader: reader)
        var assertion: RouteAssertionSpec?? = .some(nil)
        if let node = fields.value("assertion") {
            assertion = AssertionSection.readRoute(node, path: fields.path("assertion"), reader: reader).map { .some($0) }
        }
        guard let assertion else { return result }
        guard let name = result.name, let match, let upstream, let auth, let basic,
            let location = reader.location(of: node)
        else {
            return result
        }
        result.route = RouteSection(
            name: name, host: match.host, pathPrefix: match.pathPrefix, methods: match.methods, upstream: upstream,
            location: location, auth: auth.auth, accept: auth.accept, require: auth.require,
            unauthenticated: auth.unauthenticated, identityHeaders: auth.identityHeaders,
            forwardAuthorization: auth.forwardAuthorization, stripCredentialCookies: auth.stripCredentialCookies)
        result.route?.caseInsensitive = match.caseInsensitive
        result.route?.basic = basic.accept
        result.route?.injectBasic = basic.inject
        result.route?.hostLocation = match.hostLocation
        result.route?.assertion = assertion
        return result
    }

    /// Checks that a route's `upstream` is declared; suggests the nearest name if not.
    private static func checkReference(
        _ name: String, node: Node, path: String, in upstreamNames: [String]?, _ reader: ConfigReader
    ) -> String? {
        guard let upstreamNames, !upstreamNames.contains(name) else { return name }
        let message: String
        if let suggestion = KeySuggestion.nearest(to: name, among: upstreamNames) {
            message = "unknown upstream \"\(name)\"; did you mean \"\(suggestion)\"?"
        } else {
            let list = upstreamNames.map { "\"\($0)\"" }.joined(separator: ", ")
            message = "unknown upstream \"\(name)\"; defined upstreams: \(list)"
        }
        reader.report(.unknownReference, at: node, key: path, message)
        return nil
    }

    /// The parts of `match`, all optional.
    private struct Match {
        var host: HostPattern?
        var hostLocation: SourceLocation?
        var pathPrefix = "/"
        var methods: [String]?
        var caseInsensitive: Bool?
    }

    /// Reads `match`; absent or null matches every request.
    private static func readMatch(_ route: YAMLFields, reader: ConfigReader) -> Match? {
        let entry = route.entries["match"]
        guard
            let fields = reader.fields(
                of: entry?.value, path: route.path("match"), allowed: matchKeys,
                near: reader.location(of: entry?.keyNode))
        else { return nil }
        var match = Match()
        var valid = true
        if let node = fields.value("host") {
            let host = reader.parse(
                node, path: fields.path("host"), expected: "a host name such as app.example.com",
                with: HostPattern.parse)
            match.host = host
            match.hostLocation = reader.location(of: node)
            valid = valid && host != nil
        }
        if let node = fields.value("path_prefix") {
            let prefix = reader.parse(
                node, path: fields.path("path_prefix"), expected: "a path prefix such as /api/",
                with: parsePathPrefix)
            match.pathPrefix = prefix ?? "/"
            valid = valid && prefix != nil
        }
        if let node = fields.value("methods") {
            match.methods = readMethods(node, path: fields.path("methods"), reader: reader)
            valid = valid && match.methods != nil
        }
        if let node = fields.value("case_insensitive") {
            match.caseInsensitive = reader.boolean(node, path: fields.path("case_insensitive"))
            valid = valid && match.caseInsensitive != nil
        }
        return valid ? match : nil
    }

    /// Checks a path prefix: starts with `/`, visible ASCII only, no query, fragment or `*`.
    static func parsePathPrefix(_ text: String) -> ParseOutcome<String> {
        guard text.hasPrefix("/") else {
            return .invalid("must start with \"/\"")
        }
        guard text.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) }) else {
            return .invalid("must contain only visible ASCII characters; percent-encode the others")
        }
        if text.contains("?") || text.contains("#") {
            return .invalid("matches the path only; remove the query (?...) or fragment (#...)")
        }
        if text.contains("*") {
            return .invalid(
                "is a literal prefix, not a pattern; remove the \"*\" (\"/api/\" matches everything under /api/)")
        }
        if text.contains(";") || text.lowercased().contains("%3b") {
            // Routes match paths without parameters (server.path_parameters), so such a prefix never matches.
            return .invalid("cannot hold a path parameter (\";\"): routes match paths without them")
        }
        return .parsed(text)
    }

    /// The methods RFC 9110 defines, used to catch `get` written for `GET`.
    private static let standardMethods = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ]

    /// Reads a list of methods (`match.methods`, `require.methods`): a non-empty list of
    /// distinct method tokens.
    static func readMethods(_ node: Node, path: String, reader: ConfigReader) -> [String]? {
        guard let elements = reader.list(node, path: path, expected: "method names") else { return nil }
        if elements.isEmpty {
            reader.report(
                .invalidValue, at: node, key: path, "an empty list matches nothing; omit methods to match every method")
            return nil
        }
        var methods: [String] = []
        var valid = true
        for element in elements {
            guard
                let method = reader.parse(
                    element.node, path: element.path, expected: "a method name", with: parseMethod)
            else {
                valid = false
                continue
            }
            if methods.contains(method) {
                reader.report(.invalidValue, at: element.node, key: element.path, "\(method) is listed twice")
                valid = false
                continue
            }
            methods.append(method)
        }
        return valid ? methods : nil
    }

    /// Checks one method: an RFC 9110 token; a lowercase standard method is refused, since
    /// methods are case-sensitive and `get` would never match a GET request.
    static func parseMethod(_ text: String) -> ParseOutcome<String> {
        let tokenSymbols = "!#$%&'*+-.^_`|~"
        let isToken =
            !text.isEmpty
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || tokenSymbols.contains($0)) }
        guard isToken else {
            return .invalid("\"\(text)\" is not a valid HTTP method name")
        }
        let upper = text.uppercased()
        if upper != text && standardMethods.contains(upper) {
            return .invalid("methods are case-sensitive; did you mean \"\(upper)\"?")
        }
        return .parsed(text)
    }
}

/// A route's `match.host`: one exact host, or every host one label below a domain.
package enum HostPattern: Sendable, Hashable {
    /// Exactly this host, lowercased (`app.example.com`).
    case exact(String)
    /// `*.example.com`: any host that ends with `.example.com` and has at least one more label
    /// in front (`a.example.com`, and also `a.b.example.com`, as nginx's `*.example.com` does);
    /// `example.com` itself does not match. `suffix` is lowercased and keeps its leading dot
    /// (`.example.com`). In the pattern, `*` may only be the whole first label.
    case wildcard(suffix: String)

    /// Parses `app.example.com` or `*.example.com`; hosts are compared case-insensitively, so
    /// the pattern is lowercased here once.
    ///
    /// - Parameter text: The text from the file.
    /// - Returns: The pattern, or why it was refused.
    static func parse(_ text: String) -> ParseOutcome<HostPattern> {
        let lowered = text.lowercased()
        if lowered.contains(":") {
            return .invalid("\"\(text)\": give the host without a port (the port is not part of the match)")
        }
        if lowered.hasPrefix("*.") {
            let suffix = lowered.dropFirst()
            if suffix.contains("*") {
                return .invalid("\"\(text)\": only one leading \"*.\" label is allowed")
            }
            if let problem = HostName.problem(suffix.dropFirst()) {
                return .invalid(problem)
            }
            return .parsed(.wildcard(suffix: String(suffix)))
        }
        if lowered.contains("*") {
            return .invalid("\"\(text)\": a wildcard must be a whole leading label, as in *.example.com")
        }
        if let problem = HostName.problem(Substring(lowered)) {
            return .invalid(problem)
        }
        return .parsed(.exact(lowered))
    }
}
