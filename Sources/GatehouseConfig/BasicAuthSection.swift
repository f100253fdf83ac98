import Yams

// HTTP Basic in both directions (issue 13, part 3), kept in its own file and structs so that other route and
// upstream keys merge without touching these.

/// A route's `basic`: how a route with `accept: [basic]` challenges and caches (RFC 7617).
///
/// `realm` is the text of `WWW-Authenticate: Basic realm="..."` (printable ASCII without `"` and `\`, at most 128
/// bytes); `cacheTTL` is how long a verified user name and password pair is answered from memory without a hash
/// (0: every request hashes).
package struct BasicAcceptSection: Sendable, Equatable {
    package let realm: String
    package let cacheTTL: Duration

    package static let defaultRealm = "gatehouse"
    package static let defaultCacheTTL = Duration.seconds(300)
    /// The longest `cache_ttl` accepted: a removed or re-passworded user's pair must not outlive a reload by much.
    package static let maximumCacheTTL = Duration.seconds(3600)

    package init(realm: String = defaultRealm, cacheTTL: Duration = defaultCacheTTL) {
        self.realm = realm
        self.cacheTTL = cacheTTL
    }

    static let keys = ["realm", "cache_ttl"]

    /// Reads `basic`; nil if a problem was reported.
    static func read(_ node: Node, path: String, reader: ConfigReader) -> BasicAcceptSection? {
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node)) else {
            return nil
        }
        var valid = true
        var realm = defaultRealm
        if let value = fields.value("realm") {
            if let text = reader.text(value, path: fields.path("realm"), expected: "a realm name") {
                if let problem = realmProblem(text) {
                    reader.report(.invalidValue, at: value, key: fields.path("realm"), problem)
                    valid = false
                } else {
                    realm = text
                }
            } else {
                valid = false
            }
        }
        var ttl = defaultCacheTTL
        if let value = fields.value("cache_ttl") {
            let parsed = reader.parse(value, path: fields.path("cache_ttl"), expected: "a duration such as 5m or 0") {
                text -> ParseOutcome<Duration> in
                if text == "off" { return .parsed(.zero) }
                return Units.duration(text, allowZero: true)
            }
            if let parsed, parsed > maximumCacheTTL {
                reader.report(.invalidValue, at: value, key: fields.path("cache_ttl"),
                              "at most 1h: a verified password is answered from memory for this long")
                valid = false
            } else if let parsed {
                ttl = parsed
            } else {
                valid = false
            }
        }
        return valid ? BasicAcceptSection(realm: realm, cacheTTL: ttl) : nil
    }

    /// Why `text` cannot be a realm (it is written inside a quoted-string), or nil.
    static func realmProblem(_ text: String) -> String? {
        if text.isEmpty { return "a realm cannot be empty" }
        if text.utf8.count > 128 { return "a realm is at most 128 bytes" }
        guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else { return "a realm is printable ASCII without \" or \\" }
        return nil
    }
}

/// `inject_basic` on an upstream or a route: the gateway sends `Authorization: Basic` to the upstream, the user
/// name rendered from the identity, the password a secret of this upstream (never the user's own).
///
/// Exactly one of `passwordEnv` and `passwordFile` is set; `username` is valid template syntax (as identity
/// headers use, e.g. `"{sub}"`).
package struct BasicInjectionSection: Sendable, Equatable {
    package let username: String
    package let passwordEnv: String?
    package let passwordFile: String?
    package let location: SourceLocation
    package let keyPath: String

    package init(username: String, passwordEnv: String?, passwordFile: String?, location: SourceLocation,
                 keyPath: String) {
        self.username = username
        self.passwordEnv = passwordEnv
        self.passwordFile = passwordFile
        self.location = location
        self.keyPath = keyPath
    }

    /// The user-name template split into parts (valid by construction).
    package var usernameParts: [IdentityTemplatePart] {
        guard case .parsed(let parts) = IdentityTemplate.parse(username) else { return [] }
        return parts
    }

    static let keys = ["username", "password_env", "password_file"]

    /// Reads `inject_basic`; nil if a problem was reported.
    static func read(_ node: Node, path: String, reader: ConfigReader) -> BasicInjectionSection? {
        guard let location = reader.location(of: node),
            let fields = reader.fields(of: node, path: path, allowed: keys, near: location)
        else { return nil }
        var valid = true
        var username = "{sub}"
        if let value = fields.value("username") {
            if let text = reader.text(value, path: fields.path("username"), expected: "a template such as \"{sub}\"") {
                let parsed = IdentityTemplate.parse(text)
                if case .invalid(let reason) = parsed {
                    reader.report(.invalidValue, at: value, key: fields.path("username"), reason)
                    valid = false
                } else if case .parsed(let parts) = parsed, parts.contains(where: {
                    if case .literal(let literal) = $0 { return literal.contains(":") }
                    return false
                }) {
                    reader.report(.invalidValue, at: value, key: fields.path("username"),
                                  "a Basic user name cannot contain \":\" (RFC 7617)")
                    valid = false
                } else {
                    username = text
                }
            } else {
                valid = false
            }
        }
        var env: String? = nil
        var file: String? = nil
        if let value = fields.value("password_env") {
            env = reader.text(value, path: fields.path("password_env"), expected: "an environment variable name")
            if env?.isEmpty == true || env?.contains("=") == true || env?.contains("\0") == true {
                reader.report(.invalidValue, at: value, key: fields.path("password_env"),
                              "expected an environment variable name")
                env = nil
            }
            valid = valid && env != nil
        }
        if let value = fields.value("password_file") {
            file = reader.filePath(value, path: fields.path("password_file"))
            valid = valid && file != nil
        }
        if fields.value("password_env") != nil, fields.value("password_file") != nil {
            reader.report(.invalidValue, at: node, key: path, "give password_env or password_file, not both")
            valid = false
        } else if fields.value("password_env") == nil, fields.value("password_file") == nil {
            reader.report(.missingKey, at: node, key: path,
                          "name the upstream's password: password_env: NAME or password_file: PATH")
            valid = false
        }
        guard valid else { return nil }
        return BasicInjectionSection(username: username, passwordEnv: env, passwordFile: file, location: location,
                                     keyPath: path)
    }
}

/// A route's Basic keys (`basic`, `inject_basic`), read apart from the other route keys.
struct RouteBasicSettings {
    var accept: BasicAcceptSection?
    var inject: BasicInjectionSection?

    static let keys = ["basic", "inject_basic"]

    /// Reads them; nil if a problem was reported. `basic` is refused unless `accept` lists `basic`.
    static func read(_ fields: YAMLFields, accept: [CredentialSourceSpec]?, reader: ConfigReader) -> RouteBasicSettings? {
        var settings = RouteBasicSettings()
        var valid = true
        let acceptsBasic = accept?.contains(.basic) ?? false
        if let node = fields.value("basic") {
            if accept != nil, !acceptsBasic {
                reader.report(.invalidValue, at: fields.entries["basic"]?.keyNode, key: fields.path("basic"),
                              "basic settings need basic in accept, as in accept: [basic]")
                valid = false
            } else {
                settings.accept = BasicAcceptSection.read(node, path: fields.path("basic"), reader: reader)
                valid = valid && settings.accept != nil
            }
        } else if acceptsBasic {
            settings.accept = BasicAcceptSection()
        }
        if let node = fields.value("inject_basic") {
            settings.inject = BasicInjectionSection.read(node, path: fields.path("inject_basic"), reader: reader)
            valid = valid && settings.inject != nil
        }
        return valid ? settings : nil
    }
}
