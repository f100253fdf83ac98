import Yams

// Signed identity assertions and the shared-secret header (issue 13 part 2): what the gateway proves to the
// upstream, beyond the identity headers an upstream can only trust because the network says so.

/// `assertion` at the top level: a JWT naming the authenticated identity, signed by the gateway's own key and
/// added to every request an authenticated route forwards (and to the forward-auth decision's 200). A route may
/// override `header`, `ttl` and `audience`, or turn it off (`assertion: false`); a route's own `assertion:`
/// turns it on there when the top level has none.
package struct AssertionSection: Sendable, Equatable {
    /// The header's default name.
    package static let defaultHeader = "X-Gatehouse-Assertion"
    /// The default lifetime of one assertion.
    package static let defaultTTL: Duration = .seconds(60)
    /// The default `kid` of `assertion.signing_key`.
    package static let defaultKeyID = "gatehouse-assertion-1"

    /// The header that carries the JWT upstream.
    package var header: String = defaultHeader
    /// How long one assertion is valid (`exp - iat`); the gateway re-signs when less than a quarter is left.
    package var ttl: Duration = defaultTTL
    /// `aud`; nil: the name of the route's upstream.
    package var audience: String? = nil
    /// `iss`; nil: `login.issuer` (default "gatehouse").
    package var issuer: String? = nil
    /// The private key (PEM, EC P-256 or Ed25519); nil: `login.signing_key`.
    package var signingKeyFile: String? = nil
    package var signingKeyID: String = defaultKeyID
    /// Signed assertions each worker keeps (one per identity and route settings).
    package var cacheSize: Int = 4096
    /// Where the section is in the file (for messages about it).
    package var location: SourceLocation? = nil

    package init() {}

    static let rootKeys = ["header", "ttl", "audience", "issuer", "signing_key", "cache_size"]
    static let routeKeys = ["header", "ttl", "audience"]

    /// Reads the top-level `assertion`; absent or null: none.
    static func readRoot(_ entry: YAMLEntry?, reader: ConfigReader) -> SectionOutcome<AssertionSection> {
        guard let entry, !ConfigReader.isNull(entry.value) else { return .absent }
        guard let fields = reader.fields(of: entry.value, path: "assertion", allowed: rootKeys,
                                         near: reader.location(of: entry.keyNode))
        else { return .invalid }
        var section = AssertionSection()
        section.location = reader.location(of: entry.keyNode)
        var valid = readShared(fields, into: &section, reader: reader)
        if let node = fields.value("issuer") {
            section.issuer = readWord(node, path: fields.path("issuer"), expected: "an issuer name", reader: reader)
            valid = valid && section.issuer != nil
        }
        if let node = fields.value("signing_key") {
            if let keyFields = reader.fields(of: node, path: fields.path("signing_key"), allowed: ["pem_file", "kid"],
                                             near: reader.location(of: node)),
                let pemNode = reader.required(keyFields, "pem_file")
            {
                section.signingKeyFile = reader.filePath(pemNode, path: keyFields.path("pem_file"))
                valid = valid && section.signingKeyFile != nil
                if let kidNode = keyFields.value("kid") {
                    if let kid = readWord(kidNode, path: keyFields.path("kid"), expected: "a key id", reader: reader) {
                        section.signingKeyID = kid
                    } else {
                        valid = false
                    }
                }
            } else {
                valid = false
            }
        }
        if let node = fields.value("cache_size") {
            if let size = reader.integer(node, path: fields.path("cache_size"), in: 16...1_000_000) {
                section.cacheSize = size
            } else {
                valid = false
            }
        }
        return valid ? .present(section) : .invalid
    }

    /// A route's `assertion`: `false` (off here), `true` (the top-level settings), or a mapping of overrides.
    static func readRoute(_ node: Node, path: String, reader: ConfigReader) -> RouteAssertionSpec? {
        if case .scalar = node {
            guard let on = reader.boolean(node, path: path) else { return nil }
            return on ? .on(RouteAssertionSpec.Overrides(location: reader.location(of: node))) : .off
        }
        guard let fields = reader.fields(of: node, path: path, allowed: routeKeys, near: reader.location(of: node))
        else { return nil }
        var section = AssertionSection()
        let valid = readShared(fields, into: &section, reader: reader)
        guard valid else { return nil }
        var overrides = RouteAssertionSpec.Overrides(location: reader.location(of: node))
        if fields.value("header") != nil { overrides.header = section.header }
        if fields.value("ttl") != nil { overrides.ttl = section.ttl }
        overrides.audience = section.audience
        return .on(overrides)
    }

    /// `header`, `ttl` and `audience`, which the top level and routes share.
    private static func readShared(_ fields: YAMLFields, into section: inout AssertionSection,
                                   reader: ConfigReader) -> Bool {
        var valid = true
        if let node = fields.value("header") {
            if let name = readHeaderName(node, path: fields.path("header"), reader: reader) {
                section.header = name
            } else {
                valid = false
            }
        }
        if let node = fields.value("ttl") {
            if let ttl = reader.duration(node, path: fields.path("ttl")) {
                if ttl < .seconds(1) || ttl > .seconds(3600) {
                    reader.report(.invalidValue, at: node, key: fields.path("ttl"),
                                  "expected between 1s and 1h: an assertion is short-lived, and re-signed before it ends")
                    valid = false
                } else {
                    section.ttl = ttl
                }
            } else {
                valid = false
            }
        }
        if let node = fields.value("audience") {
            section.audience = readWord(node, path: fields.path("audience"), expected: "an audience name (e.g. the app's)",
                                        reader: reader)
            valid = valid && section.audience != nil
        }
        return valid
    }

    /// A header name the gateway may inject: a token that is not one it manages itself.
    static func readHeaderName(_ node: Node, path: String, reader: ConfigReader) -> String? {
        guard let name = reader.text(node, path: path, expected: "a header name") else { return nil }
        if let problem = HTTPToken.problem(name, what: "header name") {
            reader.report(.invalidValue, at: node, key: path, problem)
            return nil
        }
        if let reason = IdentityHeaderSection.reservedReason(name) {
            reader.report(.invalidValue, at: node, key: path, "\(name) is \(reason); it cannot carry this value")
            return nil
        }
        return name
    }

    /// A scalar of visible ASCII without quotes or backslashes (`iss`, `aud`, `kid`), reported once when it is not.
    private static func readWord(_ node: Node, path: String, expected: String, reader: ConfigReader) -> String? {
        guard let text = reader.text(node, path: path, expected: expected) else { return nil }
        guard isPrintableWord(text) else {
            reader.report(.invalidValue, at: node, key: path,
                          "expected \(expected): printable ASCII without blanks, quotes or backslashes")
            return nil
        }
        return text
    }

    /// Visible ASCII, no quote or backslash (what can go into a JSON string and a log line unescaped).
    static func isPrintableWord(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { (0x21...0x7e).contains($0.value) && $0 != "\"" && $0 != "\\" }
    }
}

/// A route's `assertion` key.
package enum RouteAssertionSpec: Sendable, Equatable {
    /// `assertion: false`: none on this route, even with a top-level `assertion`.
    case off
    /// `assertion: true` or a mapping: on, with these overrides of the top-level (or default) settings.
    case on(Overrides)

    package struct Overrides: Sendable, Equatable {
        package var header: String? = nil
        package var ttl: Duration? = nil
        package var audience: String? = nil
        package var location: SourceLocation?
    }
}

/// What one route asserts, resolved from the top level, the route and the defaults.
package struct ResolvedAssertion: Sendable, Equatable {
    package let header: String
    package let ttl: Duration
    package let audience: String
    package let issuer: String
}

extension GatewayConfig {
    /// The assertion `route` adds, or nil (a public route never has one: there is no identity to assert).
    package func assertion(for route: RouteSection) -> ResolvedAssertion? {
        guard route.auth != .none else { return nil }
        var settings: AssertionSection
        switch route.assertion {
        case .off?: return nil
        case .on(let overrides)?:
            settings = assertion ?? AssertionSection()
            if let header = overrides.header { settings.header = header }
            if let ttl = overrides.ttl { settings.ttl = ttl }
            if let audience = overrides.audience { settings.audience = audience }
        case nil:
            guard let global = assertion else { return nil }
            settings = global
        }
        return ResolvedAssertion(header: settings.header, ttl: settings.ttl,
                                 audience: settings.audience ?? route.upstream, issuer: assertionIssuer)
    }

    /// `iss` of every assertion.
    package var assertionIssuer: String { assertion?.issuer ?? login?.signIn?.issuer ?? "gatehouse" }

    /// Every header name the gateway itself sends upstream besides identity headers (assertion headers, shared
    /// secrets): a client-sent copy is stripped on every route.
    var assertionHeaderNames: [String] {
        var names: [String] = []
        if let header = assertion?.header { names.append(header) }
        for route in routes {
            if case .on(let overrides)? = route.assertion { names.append(overrides.header ?? AssertionSection.defaultHeader) }
        }
        for upstream in upstreams {
            if let secret = upstream.sharedSecretHeader { names.append(secret.name) }
        }
        return names
    }

    /// The cross-section checks of `assertion`: a key to sign with, an audience that is not the gateway's own,
    /// and no clash with a route's identity headers.
    func checkAssertions(reader: ConfigReader) {
        let hasKey = assertion?.signingKeyFile != nil || login?.signIn?.signingKeyFile != nil
        var reportedKey = false
        for (index, route) in routes.enumerated() {
            let routeKey = "routes[\(index)].assertion"
            guard let resolved = assertion(for: route) else {
                if route.auth == .none, case .on(let overrides)? = route.assertion {
                    reader.report(.invalidValue, at: overrides.location, key: routeKey,
                                  "a public route (auth: none) has no identity to assert; remove assertion or set "
                                    + "auth: required")
                }
                continue
            }
            var at = assertion?.location
            if case .on(let overrides)? = route.assertion { at = overrides.location }
            let key = route.assertion == nil ? "assertion" : routeKey
            if !hasKey, !reportedKey {
                reader.report(.missingKey, at: at, key: key,
                              "an assertion is signed by the gateway's own key; add assertion.signing_key: "
                                + "{ pem_file: ... } or login.signing_key (an EC P-256 or Ed25519 private key)")
                reportedKey = true
            }
            if resolved.audience == resolved.issuer {
                reader.report(.invalidValue, at: at, key: key + ".audience",
                              "the audience \"\(resolved.audience)\" is the gateway's own issuer, so the gateway would "
                                + "take the assertion as an access token; name the app instead")
            }
            let folded = IdentityHeaderSection.folded(resolved.header)
            if identityHeaders(for: route).contains(where: { IdentityHeaderSection.folded($0.name) == folded }) {
                reader.report(.invalidValue, at: at, key: key + ".header",
                              "\(resolved.header) is also an identity header of route \(route.name); pick another name")
            } else if let secret = upstream(named: route.upstream)?.sharedSecretHeader,
                IdentityHeaderSection.folded(secret.name) == folded
            {
                reader.report(.invalidValue, at: at, key: key + ".header",
                              "\(resolved.header) is also upstreams.\(route.upstream).shared_secret_header; pick another name")
            }
        }
        if let assertion, assertion.signingKeyFile != nil, let login = login?.signIn, login.signingKeyFile != nil,
            assertion.signingKeyID == login.signingKeyID
        {
            reader.report(.invalidValue, at: assertion.location, key: "assertion.signing_key.kid",
                          "\"\(assertion.signingKeyID)\" is already the kid of login.signing_key; both are published "
                            + "in one JWKS, so give this key another kid")
        }
    }
}

/// `upstreams.NAME.shared_secret_header`: a secret (from the environment or a file, never the config) sent to
/// every request forwarded to this upstream, so the app can refuse traffic that did not come through the gateway.
///
/// Per upstream, not per route: the secret authenticates the gateway to the app's servers, which every route to
/// them shares, public routes included (an app that checks it must see it on every request).
package struct SharedSecretHeaderSection: Sendable, Equatable {
    package static let defaultName = "X-Gatehouse-Secret"

    package enum Source: Sendable, Equatable {
        case environment(String)
        case file(String)
    }

    package let name: String
    package let source: Source
    package let location: SourceLocation?
    /// `upstreams.NAME.shared_secret_header`, for messages.
    package let keyPath: String

    package init(name: String, source: Source, location: SourceLocation?, keyPath: String) {
        self.name = name
        self.source = source
        self.location = location
        self.keyPath = keyPath
    }

    static let keys = ["name", "secret_env", "secret_file"]

    static func read(_ node: Node, path: String, reader: ConfigReader) -> SharedSecretHeaderSection? {
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node),
                                         refused: ["secret": KeySourceSection.literalSecretMessage])
        else { return nil }
        var valid = true
        var name = defaultName
        if let nameNode = fields.value("name") {
            if let parsed = AssertionSection.readHeaderName(nameNode, path: fields.path("name"), reader: reader) {
                name = parsed
            } else {
                valid = false
            }
        }
        let env = fields.value("secret_env")
        let file = fields.value("secret_file")
        var source: Source? = nil
        switch (env, file) {
        case (let envNode?, nil):
            if let variable = reader.text(envNode, path: fields.path("secret_env"), expected: "an environment variable name"),
                KeySourceSection.isEnvironmentName(variable)
            {
                source = .environment(variable)
            } else {
                reader.report(.invalidValue, at: envNode, key: fields.path("secret_env"),
                              "secret_env names an environment variable (letters, digits and \"_\", not starting "
                                + "with a digit); if this is the secret itself, put it in the environment")
            }
        case (nil, let fileNode?):
            source = reader.filePath(fileNode, path: fields.path("secret_file")).map { .file($0) }
        case (.some, .some):
            reader.report(.invalidValue, at: fields.entries["secret_file"]?.keyNode, key: fields.path("secret_file"),
                          "give the secret once: secret_env or secret_file, not both")
        case (nil, nil):
            if (node.mapping?.count ?? 0) == fields.keys.count {
                reader.report(.missingKey, at: fields.location, key: path,
                              "name where the secret is: secret_env: VARIABLE or secret_file: PATH")
            }
        }
        guard valid, let source else { return nil }
        return SharedSecretHeaderSection(name: name, source: source, location: reader.location(of: node), keyPath: path)
    }
}
