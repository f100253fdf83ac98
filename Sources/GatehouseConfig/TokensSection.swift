import Yams

/// `tokens`: the JWTs the gateway accepts from outside issuers, verified locally.
///
/// Only the shape and values are checked here; key files are read and parsed (PEM, JWK) when
/// the configuration is compiled. Invariants: `issuers` is not empty and issuer names are
/// unique; `leeway` is 0...5 minutes; `maxTokenSize` is 1 KiB...64 KiB; `cacheSize` >= 0.
package struct TokensSection: Sendable, Equatable {
    /// Clock skew allowed when checking `exp`, `nbf` and `iat`; default 30s; may be zero.
    package let leeway: Duration
    /// The largest token accepted, in bytes; default 8 KiB. A larger token is refused unread.
    package let maxTokenSize: Int
    /// Verified tokens remembered per worker; 0 disables the cache; default 10000.
    package let cacheSize: Int
    /// The claim path holding a token's groups (`{groups}`, `groups_any`, `groups_all`); default `groups`.
    package let groupsClaim: String
    /// The trusted issuers, in file order.
    package let issuers: [IssuerSection]
    /// Where the last good key set of each provider-fetched issuer is kept (so a restart while the provider is
    /// down still verifies); default `var/keys`.
    package var keyCacheDirectory: String = "var/keys"

    /// Creates a tokens section.
    ///
    /// - Parameters:
    ///   - leeway: Allowed clock skew.
    ///   - maxTokenSize: Largest token in bytes.
    ///   - cacheSize: Verified-token cache entries per worker (0 = off).
    ///   - groupsClaim: The groups claim path.
    ///   - issuers: The issuers (not empty).
    package init(leeway: Duration, maxTokenSize: Int, cacheSize: Int, groupsClaim: String, issuers: [IssuerSection]) {
        self.leeway = leeway
        self.maxTokenSize = maxTokenSize
        self.cacheSize = cacheSize
        self.groupsClaim = groupsClaim
        self.issuers = issuers
    }

    /// The keys `tokens` accepts.
    static let keys = ["leeway", "max_token_size", "cache_size", "groups_claim", "issuers", "key_cache_dir"]

    /// The largest `leeway`: more skew than this means a clock is wrong, and it keeps expired
    /// tokens alive.
    static let maximumLeeway = Duration.seconds(300)
    /// The accepted range of `max_token_size`, in bytes.
    static let tokenSizeRange: ClosedRange<Int64> = 1024...65536

    /// Reads `tokens`; absent or null means no issuers (routes may then not accept tokens).
    ///
    /// - Parameters:
    ///   - entry: The `tokens` entry of the root mapping, if present.
    ///   - reader: Collects problems.
    /// - Returns: The section, absent, or invalid (reported).
    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> SectionOutcome<TokensSection> {
        guard let entry, !ConfigReader.isNull(entry.value) else { return .absent }
        guard
            let fields = reader.fields(
                of: entry.value, path: "tokens", allowed: keys, near: reader.location(of: entry.keyNode))
        else { return .invalid }
        var leeway: Duration? = .seconds(30)
        if let node = fields.value("leeway") {
            leeway = reader.parse(node, path: fields.path("leeway"), expected: "a duration such as 30s") { text in
                switch Units.duration(text, allowZero: true) {
                case .parsed(let value) where value > maximumLeeway:
                    return .invalid("must be at most 5m (a larger skew keeps expired tokens valid)")
                case let outcome:
                    return outcome
                }
            }
        }
        var maxTokenSize: Int? = 8 << 10
        if let node = fields.value("max_token_size") {
            maxTokenSize = reader.parse(node, path: fields.path("max_token_size"), expected: "a size such as 8KiB") {
                text in
                switch Units.byteSize(text) {
                case .parsed(let bytes) where tokenSizeRange.contains(bytes):
                    return .parsed(Int(bytes))
                case .parsed(let bytes):
                    return .invalid("must be from 1KiB to 64KiB, got \(bytes) bytes")
                case .invalid(let reason):
                    return .invalid(reason)
                }
            }
        }
        var cacheSize: Int? = 10_000
        if let node = fields.value("cache_size") {
            cacheSize = reader.integer(node, path: fields.path("cache_size"), in: 0...Int.max)
        }
        var groupsClaim: String? = "groups"
        if let node = fields.value("groups_claim") {
            groupsClaim = reader.parse(
                node, path: fields.path("groups_claim"), expected: "a claim name such as groups"
            ) { text in
                ClaimPath.problem(text).map { .invalid($0) } ?? .parsed(text)
            }
        }
        var keyCacheDirectory: String? = "var/keys"
        if let node = fields.value("key_cache_dir") {
            keyCacheDirectory = reader.filePath(node, path: fields.path("key_cache_dir"))
        }
        let issuers = readIssuers(fields, reader: reader)
        guard let leeway, let maxTokenSize, let cacheSize, let groupsClaim, let issuers, let keyCacheDirectory
        else { return .invalid }
        var section = TokensSection(
            leeway: leeway, maxTokenSize: maxTokenSize, cacheSize: cacheSize, groupsClaim: groupsClaim,
            issuers: issuers)
        section.keyCacheDirectory = keyCacheDirectory
        return .present(section)
    }

    /// Reads the required `tokens.issuers` list; at least one; issuer names unique.
    private static func readIssuers(_ fields: YAMLFields, reader: ConfigReader) -> [IssuerSection]? {
        guard let node = reader.required(fields, "issuers") else { return nil }
        let path = fields.path("issuers")
        guard case .sequence(let sequence) = node else {
            reader.report(
                .wrongType, at: node, key: path, "expected a list of issuers, got \(ConfigReader.describe(node))")
            return nil
        }
        if sequence.isEmpty {
            reader.report(.invalidValue, at: node, key: path, "at least one issuer is required")
            return nil
        }
        var issuers: [IssuerSection] = []
        var valid = true
        var firstLine: [String: Int] = [:]
        for (index, element) in sequence.enumerated() {
            let result = IssuerSection.read(element, path: "\(path)[\(index)]", reader: reader)
            if let name = result.issuer, let nameNode = result.issuerNode {
                if let line = firstLine[name] {
                    reader.report(
                        .duplicateName, at: nameNode, key: "\(path)[\(index)].issuer",
                        "duplicate issuer \"\(name)\"; first defined at line \(line) (list every key of one issuer "
                            + "under its keys)")
                    valid = false
                } else {
                    firstLine[name] = nameNode.mark?.line ?? 0
                }
            }
            if let issuer = result.section {
                issuers.append(issuer)
            } else {
                valid = false
            }
        }
        return valid ? issuers : nil
    }
}

/// The outcome of reading an optional section whose absence means something (no tokens, no login).
enum SectionOutcome<Section> {
    /// The section is not in the file (or is null).
    case absent
    /// The section is present and valid.
    case present(Section)
    /// The section is present but was refused (reported).
    case invalid

    /// Whether the section is in the file: `true` even if invalid (so that references to it are
    /// not reported twice), `false` if absent.
    var isDeclared: Bool {
        if case .absent = self { return false }
        return true
    }
}

/// One entry of `tokens.issuers`: an issuer whose tokens are accepted, and its keys.
///
/// Invariants: `issuer` is non-empty with no leading or trailing blanks and no control
/// characters (it is compared exactly with the token's `iss`); `audiences` is non-empty and
/// distinct; `keys` is non-empty, and explicit `kid`s are unique within the issuer.
package struct IssuerSection: Sendable, Equatable {
    /// The exact `iss` value of the issuer's tokens.
    package let issuer: String
    /// Accepted `aud` values: a token must name at least one of them.
    package let audiences: [String]
    /// Whether a token without `exp` is refused; default `true`.
    package let requireExpiry: Bool
    /// Where the issuer's verification keys come from, in file order (may be empty when `provider` is set).
    package let keys: [KeySourceSection]
    /// Where the issuer's entry starts in the file.
    package let location: SourceLocation
    /// Keys fetched from the provider (`discovery: true` or `jwks_uri`), beside the files; nil when none.
    package var provider: ProviderKeysSection? = nil

    /// Creates an issuer section.
    ///
    /// - Parameters:
    ///   - issuer: The `iss` value.
    ///   - audiences: Accepted audiences.
    ///   - requireExpiry: Whether `exp` is required.
    ///   - keys: Key sources (not empty).
    ///   - location: The entry's location.
    package init(
        issuer: String, audiences: [String], requireExpiry: Bool, keys: [KeySourceSection], location: SourceLocation
    ) {
        self.issuer = issuer
        self.audiences = audiences
        self.requireExpiry = requireExpiry
        self.keys = keys
        self.location = location
    }

    /// The keys an issuer accepts.
    static let keys = ["issuer", "audiences", "require_expiry", "keys", "discovery", "jwks_uri", "ca_file", "refresh"]

    /// What reading one issuer produced: the section if valid, and its name if that was.
    struct ReadResult {
        /// The issuer, if entirely valid.
        var section: IssuerSection?
        /// The `issuer` value, if valid (checked for uniqueness even when the rest is not).
        var issuer: String?
        /// The node of the `issuer` value, where a duplicate is reported.
        var issuerNode: Node?
    }

    /// Reads one issuer.
    static func read(_ node: Node, path: String, reader: ConfigReader) -> ReadResult {
        var result = ReadResult()
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node)) else {
            return result
        }
        if let issuerNode = reader.required(fields, "issuer") {
            result.issuer = reader.parse(
                issuerNode, path: fields.path("issuer"), expected: "an issuer such as https://idp.example.com",
                with: parseIssuer)
            result.issuerNode = issuerNode
        }
        var audiences: [String]?
        if let audiencesNode = reader.required(fields, "audiences") {
            audiences = reader.strings(
                audiencesNode, path: fields.path("audiences"), one: "an audience", many: "audiences",
                empty: "at least one audience is required")
        }
        var requireExpiry: Bool? = true
        if let expiryNode = fields.value("require_expiry") {
            requireExpiry = reader.boolean(expiryNode, path: fields.path("require_expiry"))
        }
        let provider = ProviderKeysSection.read(fields, issuer: result.issuer, reader: reader)
        let keySources = readKeys(fields, optional: provider.isDeclared, reader: reader)
        guard let issuer = result.issuer, let audiences, let requireExpiry, let keySources,
            let location = reader.location(of: node)
        else { return result }
        if case .invalid = provider { return result }
        var section = IssuerSection(
            issuer: issuer, audiences: audiences, requireExpiry: requireExpiry, keys: keySources, location: location)
        if case .present(let fetched) = provider { section.provider = fetched }
        result.section = section
        return result
    }

    /// Checks an issuer: non-empty, no control characters, no surrounding blanks (it must
    /// equal `iss` exactly, so a stray blank would refuse every token).
    static func parseIssuer(_ text: String) -> ParseOutcome<String> {
        if text.isEmpty {
            return .invalid("the issuer cannot be empty")
        }
        if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return .invalid("the issuer cannot contain control characters")
        }
        if text.first == " " || text.last == " " {
            return .invalid("remove the blanks around the issuer; it is compared exactly with the token's iss")
        }
        return .parsed(text)
    }

    /// Reads the required `keys` list; at least one; explicit `kid`s unique.
    private static func readKeys(_ fields: YAMLFields, optional: Bool, reader: ConfigReader) -> [KeySourceSection]? {
        if optional && fields.value("keys") == nil && fields.entries["keys"] == nil { return [] }
        guard let node = reader.required(fields, "keys") else { return nil }
        let path = fields.path("keys")
        guard case .sequence(let sequence) = node else {
            var message = "expected a list of keys, got \(ConfigReader.describe(node))"
            if case .mapping = node {
                message += "; write each key as a list item: - { jwks_file: ... }"
            }
            reader.report(.wrongType, at: node, key: path, message)
            return nil
        }
        if sequence.isEmpty {
            reader.report(.invalidValue, at: node, key: path, "at least one key is required")
            return nil
        }
        var keySources: [KeySourceSection] = []
        var valid = true
        var kidLines: [String: Int] = [:]
        for (index, element) in sequence.enumerated() {
            let keyPath = "\(path)[\(index)]"
            guard let keySource = KeySourceSection.read(element, path: keyPath, reader: reader) else {
                valid = false
                continue
            }
            if let kid = keySource.source.kid {
                let line = keySource.location.line
                if let first = kidLines[kid] {
                    let kidNode = element.mapping?.first { $0.key.string == "kid" }?.value
                    reader.report(
                        .duplicateName, at: kidNode ?? element, key: "\(keyPath).kid",
                        "kid \"\(kid)\" is used twice in this issuer; first at line \(first) (a kid must pick one key)"
                    )
                    valid = false
                    continue
                }
                kidLines[kid] = line
            }
            keySources.append(keySource)
        }
        return valid ? keySources : nil
    }
}

/// Where one verification key of an issuer comes from.
///
/// The files and the environment variable are read when the configuration is compiled, not
/// here; `keyPath` lets that stage report a bad file against the right entry.
package struct KeySourceSection: Sendable, Equatable {
    /// The source and its options.
    package let source: KeySource
    /// Where the entry starts in the file.
    package let location: SourceLocation
    /// The entry's dotted key path, e.g. `tokens.issuers[0].keys[1]`.
    package let keyPath: String

    /// Creates a key source section.
    ///
    /// - Parameters:
    ///   - source: The source.
    ///   - location: The entry's location.
    ///   - keyPath: The entry's key path.
    package init(source: KeySource, location: SourceLocation, keyPath: String) {
        self.source = source
        self.location = location
        self.keyPath = keyPath
    }

    /// The keys a key entry accepts; exactly one of the first four (the source) is required.
    static let keys = ["jwks_file", "pem_file", "secret_env", "secret_file", "algorithm", "kid"]
    /// The source keys, of which an entry has exactly one.
    static let sourceKeys = ["jwks_file", "pem_file", "secret_env", "secret_file"]
    /// Why `secret` is refused.
    static let literalSecretMessage = "a literal secret in the config file is refused; use secret_env or secret_file"

    /// Reads one key entry.
    ///
    /// - Parameters:
    ///   - node: The entry.
    ///   - path: Its key path.
    ///   - reader: Collects problems.
    /// - Returns: The entry, or `nil` if a problem was reported.
    static func read(_ node: Node, path: String, reader: ConfigReader) -> KeySourceSection? {
        guard
            let fields = reader.fields(
                of: node, path: path, allowed: keys, near: reader.location(of: node),
                refused: ["secret": literalSecretMessage])
        else { return nil }
        let sources = sourceKeys.compactMap { fields.entries[$0] }.sorted {
            ($0.keyNode.mark?.line ?? 0, $0.keyNode.mark?.column ?? 0)
                < ($1.keyNode.mark?.line ?? 0, $1.keyNode.mark?.column ?? 0)
        }
        guard let source = sources.first else {
            // A literal `secret` or a misspelt source key was reported already; "no source" would
            // only repeat it.
            let hasRefusedKeys = (node.mapping?.count ?? 0) > fields.keys.count
            if !hasRefusedKeys {
                reader.report(
                    .missingKey, at: fields.location, key: path,
                    "a key needs exactly one source: jwks_file, pem_file, secret_env or secret_file")
            }
            return nil
        }
        for extra in sources.dropFirst() {
            reader.report(
                .invalidValue, at: extra.keyNode, key: fields.path(extra.key),
                "a key has exactly one source, and this one already has \(source.key); write one list entry per key")
        }
        guard sources.count == 1, let valueNode = reader.required(fields, source.key) else { return nil }
        let valuePath = fields.path(source.key)
        let keySource: KeySource?
        if source.key == "jwks_file" {
            keySource = readJWKSFile(valueNode, path: valuePath, fields: fields, reader: reader)
        } else {
            keySource = readPinnedSource(source.key, valueNode, path: valuePath, fields: fields, reader: reader)
        }
        guard let keySource, let location = reader.location(of: node) else { return nil }
        return KeySourceSection(source: keySource, location: location, keyPath: path)
    }

    /// Reads a `jwks_file` entry, which takes neither `algorithm` nor `kid` (the JWKs say).
    private static func readJWKSFile(
        _ node: Node, path: String, fields: YAMLFields, reader: ConfigReader
    ) -> KeySource? {
        var valid = true
        for key in ["algorithm", "kid"] where fields.value(key) != nil {
            guard let entry = fields.entries[key] else { continue }
            let member = key == "algorithm" ? "alg" : "kid"
            reader.report(
                .invalidValue, at: entry.keyNode, key: fields.path(key),
                "not allowed with jwks_file: each JWK in the file gives its own \"\(member)\"")
            valid = false
        }
        let file = reader.filePath(node, path: path)
        guard valid, let file else { return nil }
        return .jwksFile(path: file)
    }

    /// Reads a `pem_file`, `secret_env` or `secret_file` entry, with its `algorithm` and `kid`.
    private static func readPinnedSource(
        _ sourceKey: String, _ node: Node, path: String, fields: YAMLFields, reader: ConfigReader
    ) -> KeySource? {
        var valid = true
        var kid: String?
        if let kidNode = fields.value("kid") {
            kid = reader.text(kidNode, path: fields.path("kid"), expected: "a key id")
            if kid == "" {
                reader.report(.invalidValue, at: kidNode, key: fields.path("kid"), "a key id cannot be empty")
            }
            valid = valid && kid != nil && kid != ""
        }
        var algorithm: String?
        if let algorithmNode = fields.value("algorithm") {
            let algorithmPath = fields.path("algorithm")
            algorithm = reader.parse(
                algorithmNode, path: algorithmPath, expected: "an algorithm such as ES256", with: parseAlgorithm)
            if let name = algorithm {
                let isHMAC = name.hasPrefix("HS")
                if sourceKey == "pem_file" && isHMAC {
                    reader.report(
                        .invalidValue, at: algorithmNode, key: algorithmPath,
                        "\(name) is an HMAC algorithm, which needs a shared secret (secret_env or secret_file), not "
                            + "a PEM file")
                    valid = false
                } else if sourceKey != "pem_file" && !isHMAC {
                    reader.report(
                        .invalidValue, at: algorithmNode, key: algorithmPath,
                        "a secret is an HMAC key, so the algorithm must be HS256, HS384 or HS512; \(name) needs "
                            + "pem_file or jwks_file")
                    valid = false
                }
            } else {
                valid = false
            }
        } else if sourceKey != "pem_file" {
            reader.report(
                .missingKey, at: fields.location, key: fields.path("algorithm"),
                "an HMAC secret needs algorithm: HS256, HS384 or HS512")
            valid = false
        }
        let value: String?
        if sourceKey == "secret_env" {
            value = reader.text(node, path: path, expected: "an environment variable name")
            if let name = value, !isEnvironmentName(name) {
                // The value is not echoed: it may be the secret itself, pasted into the wrong key.
                reader.report(
                    .invalidValue, at: node, key: path,
                    "secret_env names an environment variable (letters, digits and \"_\", not starting with a "
                        + "digit); if this is the secret itself, put it in the environment and name the variable")
                valid = false
            }
        } else {
            value = reader.filePath(node, path: path)
        }
        guard valid, let value else { return nil }
        switch sourceKey {
        case "pem_file":
            return .pemFile(path: value, algorithm: algorithm, kid: kid)
        case "secret_env":
            return algorithm.map { .secretEnv(name: value, algorithm: $0, kid: kid) }
        default:
            return algorithm.map { .secretFile(path: value, algorithm: $0, kid: kid) }
        }
    }

    /// Whether `name` is a portable environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The JWS algorithms a key may be declared with, as RFC 7518 and RFC 8037 spell them.
    package static let algorithms = [
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
        "EdDSA",
    ]

    /// Checks an algorithm name: exact case; `none` is never accepted; a wrong case or a near
    /// miss gets a suggestion.
    static func parseAlgorithm(_ text: String) -> ParseOutcome<String> {
        if algorithms.contains(text) {
            return .parsed(text)
        }
        let lowered = text.lowercased()
        if lowered == "none" {
            return .invalid("\"\(text)\" (unsigned tokens) is never accepted")
        }
        if let exact = algorithms.first(where: { $0.lowercased() == lowered }) {
            return .invalid("algorithm names are case-sensitive; did you mean \"\(exact)\"?")
        }
        if lowered.hasPrefix("ed25519") || lowered.hasPrefix("ed448") {
            return .invalid("unknown algorithm \"\(text)\"; Ed25519 and Ed448 keys use \"EdDSA\"")
        }
        if let suggestion = KeySuggestion.nearest(to: text, among: algorithms) {
            return .invalid("unknown algorithm \"\(text)\"; did you mean \"\(suggestion)\"?")
        }
        return .invalid("unknown algorithm \"\(text)\"; expected one of \(algorithms.joined(separator: ", "))")
    }
}

/// Where a verification key comes from, with the options that source allows.
package enum KeySource: Sendable, Equatable {
    /// A JWK or JWK Set file (JSON); each key's `alg` and `kid` come from the file.
    case jwksFile(path: String)
    /// A PEM public key (RSA, EC or Ed25519); `algorithm` pins it (never `HS*`), `kid` names it.
    case pemFile(path: String, algorithm: String?, kid: String?)
    /// An HMAC secret in an environment variable; `algorithm` is `HS256`, `HS384` or `HS512`.
    case secretEnv(name: String, algorithm: String, kid: String?)
    /// An HMAC secret read from a file; `algorithm` is `HS256`, `HS384` or `HS512`.
    case secretFile(path: String, algorithm: String, kid: String?)

    /// The explicit key id, if the source has one.
    package var kid: String? {
        switch self {
        case .jwksFile: return nil
        case .pemFile(_, _, let kid), .secretEnv(_, _, let kid), .secretFile(_, _, let kid): return kid
        }
    }

    /// The pinned algorithm, if the source has one.
    package var algorithm: String? {
        switch self {
        case .jwksFile: return nil
        case .pemFile(_, let algorithm, _): return algorithm
        case .secretEnv(_, let algorithm, _), .secretFile(_, let algorithm, _): return algorithm
        }
    }
}

/// An issuer's keys fetched from its provider: `discovery: true` reads `<issuer>/.well-known/openid-configuration`
/// for the `jwks_uri`; `jwks_uri: https://...` names it directly. Both over HTTPS only, certificates checked against
/// the system CAs or `ca_file`; refreshed every `refresh` (default 1h; the answer's `Cache-Control: max-age` is
/// honoured between 5 minutes and 24 hours).
package struct ProviderKeysSection: Sendable, Equatable {
    /// Where the keys are read: the discovery document, or a JWKS URL.
    package enum Source: Sendable, Equatable {
        case discovery(url: String)
        case jwksURI(String)
    }

    package let source: Source
    /// CA certificates (PEM) to trust for the provider instead of the system's.
    package let caFile: String?
    /// The refresh interval without `max-age`.
    package let refresh: Duration
    /// The `discovery` / `jwks_uri` entry, for messages.
    package let location: SourceLocation?

    package init(source: Source, caFile: String?, refresh: Duration, location: SourceLocation?) {
        self.source = source
        self.caFile = caFile
        self.refresh = refresh
        self.location = location
    }

    /// The accepted `refresh` range: more often would hammer the provider, less often keeps removed keys too long.
    static let refreshRange = Duration.seconds(60)...Duration.seconds(86400)

    /// Reads `discovery`, `jwks_uri`, `ca_file` and `refresh` of one issuer.
    static func read(_ fields: YAMLFields, issuer: String?, reader: ConfigReader) -> SectionOutcome<ProviderKeysSection> {
        var discovery = false
        var valid = true
        if let node = fields.value("discovery") {
            guard let flag = reader.boolean(node, path: fields.path("discovery")) else { return .invalid }
            discovery = flag
        }
        var jwksURI: String?
        if let node = fields.value("jwks_uri") {
            jwksURI = reader.parse(node, path: fields.path("jwks_uri"), expected: "an https:// URL") { text in
                Self.isHTTPS(text) ? .parsed(text)
                    : .invalid("must be an https:// URL (keys are never fetched over plain HTTP)")
            }
            if jwksURI == nil { return .invalid }
        }
        let remoteKeys = ["ca_file", "refresh"].filter { fields.value($0) != nil }
        guard discovery || jwksURI != nil else {
            for key in remoteKeys {
                reader.report(.invalidValue, at: fields.value(key)!, key: fields.path(key),
                              "only with discovery: true or jwks_uri")
                valid = false
            }
            return valid ? .absent : .invalid
        }
        if discovery, let node = fields.value("jwks_uri") {
            reader.report(.invalidValue, at: node, key: fields.path("jwks_uri"),
                          "give either discovery: true (the provider names its jwks_uri) or jwks_uri, not both")
            return .invalid
        }
        var caFile: String?
        if let node = fields.value("ca_file") {
            caFile = reader.filePath(node, path: fields.path("ca_file"))
            if caFile == nil { valid = false }
        }
        var refresh: Duration? = .seconds(3600)
        if let node = fields.value("refresh") {
            refresh = reader.parse(node, path: fields.path("refresh"), expected: "a duration such as 1h") { text in
                switch Units.duration(text, allowZero: false) {
                case .parsed(let value) where !refreshRange.contains(value):
                    return .invalid("must be from 1m to 24h")
                case let outcome:
                    return outcome
                }
            }
        }
        let source: Source
        if discovery {
            guard let issuer else { return .invalid }
            guard Self.isHTTPS(issuer) else {
                reader.report(.invalidValue, at: fields.value("discovery")!, key: fields.path("discovery"),
                              "discovery needs an https:// issuer (the document is read from <issuer>/.well-known/openid-configuration)")
                return .invalid
            }
            var base = issuer
            while base.hasSuffix("/") { base.removeLast() }
            source = .discovery(url: base + "/.well-known/openid-configuration")
        } else {
            source = .jwksURI(jwksURI!)
        }
        guard valid, let refresh else { return .invalid }
        let node = fields.value("discovery") ?? fields.value("jwks_uri")
        return .present(ProviderKeysSection(source: source, caFile: caFile, refresh: refresh,
                                            location: node.flatMap { reader.location(of: $0) }))
    }

    /// `https://` followed by a host, with no blanks or control characters.
    static func isHTTPS(_ url: String) -> Bool {
        guard url.hasPrefix("https://"), let first = url.dropFirst(8).first, first != "/" else { return false }
        return !url.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7f }
    }
}
