import Yams

/// `login`: where browsers sign in, and, with `users_file`, the gateway's own sign-in.
///
/// Two uses. With only `url`, the login page is somebody else's (an IdP): `unauthenticated: login` sends browsers
/// there. With `users_file`, the gateway signs users in itself at `/.gatehouse/login` (the default `url` then),
/// and `mode` says what a sign-in gives: a session cookie (`session`) or an access JWT signed by
/// `signing_key` plus a rotating refresh token (`token`). Invariant of `url`: an absolute `http`/`https` URL
/// with a host and no user info, or a path starting with a single `/`; printable ASCII only.
package struct LoginSection: Sendable, Equatable {
    /// What a successful sign-in gives.
    package enum Mode: String, Sendable, Equatable, CaseIterable {
        case session
        case token
    }

    /// Failed sign-ins allowed per client address and per user name within `window`; 0 turns it off.
    package struct RateLimit: Sendable, Equatable {
        package let failures: Int
        package let window: Duration
        package init(failures: Int, window: Duration) {
            self.failures = failures
            self.window = window
        }
    }

    /// The gateway's own sign-in (present when `users_file` is set).
    package struct SignIn: Sendable, Equatable {
        /// The users file (YAML: name -> password hash, email, groups, name, disabled); nil when users sign in only
        /// through `oidc` providers.
        package let usersFile: String?
        package let mode: Mode
        /// Token mode: the private key that signs access tokens (PEM: EC P-256 -> ES256, Ed25519 -> EdDSA).
        package let signingKeyFile: String?
        /// Token mode: `kid` of the signing key in tokens and in `/.gatehouse/jwks.json`.
        package let signingKeyID: String
        /// `iss` and `aud` of the gateway's own tokens.
        package let issuer: String
        package let accessTTL: Duration
        package let refreshTTL: Duration
        package let rateLimit: RateLimit
        /// Threads that run password hashes (never an event loop).
        package let hashThreads: Int
        /// How long a sign-in may wait for a hashing thread; one that waited longer is answered 503, not hashed.
        package let queueTimeout: Duration
        /// `require_second_factor`: every users-file sign-in needs a TOTP code after the password; a user without
        /// `totp_secret` cannot sign in (issue 14).
        package var requireSecondFactor = false

        package init(usersFile: String?, mode: Mode, signingKeyFile: String?, signingKeyID: String, issuer: String,
                     accessTTL: Duration, refreshTTL: Duration, rateLimit: RateLimit, hashThreads: Int,
                     queueTimeout: Duration = .seconds(10)) {
            self.usersFile = usersFile
            self.mode = mode
            self.signingKeyFile = signingKeyFile
            self.signingKeyID = signingKeyID
            self.issuer = issuer
            self.accessTTL = accessTTL
            self.refreshTTL = refreshTTL
            self.rateLimit = rateLimit
            self.hashThreads = hashThreads
            self.queueTimeout = queueTimeout
        }
    }

    /// Where `unauthenticated: login` redirects browsers.
    package let url: String
    /// The gateway's own sign-in, if `users_file` (or `oidc`) is set.
    package let signIn: SignIn?
    /// Sign-in through outside OpenID providers.
    package var oidc: OIDCSection? = nil

    /// The path of the gateway's own login page (the default `url` with `users_file`).
    package static let ownLoginPath = "/.gatehouse/login"

    package init(url: String, signIn: SignIn? = nil) {
        self.url = url
        self.signIn = signIn
    }

    /// The keys `login` accepts.
    static let keys = [
        "url", "users_file", "mode", "signing_key", "issuer", "access_ttl", "refresh_ttl", "rate_limit",
        "hash_threads", "queue_timeout", "oidc", "require_second_factor",
    ]
    static let signInOnlyKeys = [
        "mode", "signing_key", "issuer", "access_ttl", "refresh_ttl", "rate_limit", "hash_threads", "queue_timeout",
        "require_second_factor",
    ]

    /// Reads `login`; absent or null means no login page (no route may use `unauthenticated: login`).
    static func read(_ entry: YAMLEntry?, reader: ConfigReader) -> SectionOutcome<LoginSection> {
        guard let entry, !ConfigReader.isNull(entry.value) else { return .absent }
        guard
            let fields = reader.fields(
                of: entry.value, path: "login", allowed: keys, near: reader.location(of: entry.keyNode))
        else { return .invalid }
        var valid = true
        var url: String? = nil
        if let node = fields.value("url") {
            url = reader.parse(node, path: fields.path("url"), expected: "a URL such as https://sso.example.com/login",
                               with: parseURL)
            valid = valid && url != nil
        }
        var oidc: OIDCSection? = nil
        if let oidcNode = fields.value("oidc") {
            oidc = OIDCSection.read(oidcNode, path: fields.path("oidc"), reader: reader)
            if oidc == nil { return .invalid }
        }
        let usersNode = fields.value("users_file")
        if usersNode == nil, oidc == nil {
            for key in signInOnlyKeys where fields.entries[key] != nil {
                reader.report(.invalidValue, at: fields.entries[key]?.keyNode, key: fields.path(key),
                              "only used by the gateway's own sign-in; add login.users_file or remove \(key)")
                valid = false
            }
            if url == nil, valid {
                _ = reader.required(fields, "url")
                return .invalid
            }
            guard valid, let url else { return .invalid }
            return .present(LoginSection(url: url))
        }
        var usersFile: String?? = .some(nil)
        if let usersNode { usersFile = reader.filePath(usersNode, path: fields.path("users_file")).map { .some($0) } }
        var mode = Mode.session
        if let node = fields.value("mode") {
            if let parsed = reader.parse(node, path: fields.path("mode"), expected: "\"session\" or \"token\"", with: {
                Mode(rawValue: $0).map(ParseOutcome.parsed) ?? .invalid("expected \"session\" or \"token\", got \"\($0)\"")
            }) {
                mode = parsed
            } else {
                valid = false
            }
        }
        var keyFile: String? = nil
        var keyID = "gatehouse-1"
        if let node = fields.value("signing_key") {
            if let keyFields = reader.fields(of: node, path: fields.path("signing_key"), allowed: ["pem_file", "kid"],
                                             near: reader.location(of: node)),
                let pemNode = reader.required(keyFields, "pem_file")
            {
                keyFile = reader.filePath(pemNode, path: keyFields.path("pem_file"))
                if let kidNode = keyFields.value("kid") {
                    if let kid = reader.text(kidNode, path: keyFields.path("kid"), expected: "a key id"), !kid.isEmpty,
                        kid.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) && $0 != "\"" && $0 != "\\" })
                    {
                        keyID = kid
                    } else {
                        reader.report(.invalidValue, at: kidNode, key: keyFields.path("kid"),
                                      "expected printable ASCII without quotes or backslashes")
                        valid = false
                    }
                }
                valid = valid && keyFile != nil
            } else {
                valid = false
            }
        } else if mode == .token {
            reader.report(.missingKey, at: fields.location, key: fields.path("signing_key"),
                          "login.mode: token signs access tokens; add signing_key: { pem_file: ... } (an EC P-256 or "
                            + "Ed25519 private key, e.g. `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)")
            valid = false
        }
        var issuer = "gatehouse"
        if let node = fields.value("issuer") {
            if let text = reader.text(node, path: fields.path("issuer"), expected: "an issuer name"), !text.isEmpty,
                text.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) && $0 != "\"" && $0 != "\\" })
            {
                issuer = text
            } else {
                reader.report(.invalidValue, at: node, key: fields.path("issuer"),
                              "expected printable ASCII without blanks, quotes or backslashes")
                valid = false
            }
        }
        let accessTTL = reader.optionalDuration(fields, "access_ttl", default: .seconds(600))
        let refreshTTL = reader.optionalDuration(fields, "refresh_ttl", default: .seconds(30 * 86_400))
        var rateLimit = RateLimit(failures: 5, window: .seconds(60))
        if let node = fields.value("rate_limit") {
            if let limitFields = reader.fields(of: node, path: fields.path("rate_limit"), allowed: ["failures", "window"],
                                               near: reader.location(of: node)) {
                var failures: Int? = 5
                if let n = limitFields.value("failures") {
                    failures = reader.integer(n, path: limitFields.path("failures"), in: 0...1_000_000)
                }
                let window = reader.optionalDuration(limitFields, "window", default: .seconds(60))
                if let failures, let window { rateLimit = RateLimit(failures: failures, window: window) } else { valid = false }
            } else {
                valid = false
            }
        }
        var hashThreads: Int? = 2
        if let node = fields.value("hash_threads") {
            hashThreads = reader.integer(node, path: fields.path("hash_threads"), in: 1...64)
        }
        var queueTimeout = reader.optionalDuration(fields, "queue_timeout", default: .seconds(10))
        if let timeout = queueTimeout, timeout > .seconds(600), let node = fields.value("queue_timeout") {
            reader.report(.invalidValue, at: node, key: fields.path("queue_timeout"),
                          "at most 10m: a person does not wait longer for a sign-in")
            queueTimeout = nil
        }
        var requireSecondFactor: Bool? = false
        if let node = fields.value("require_second_factor") {
            requireSecondFactor = reader.boolean(node, path: fields.path("require_second_factor"))
        }
        guard valid, let usersFile, let accessTTL, let refreshTTL, let hashThreads, let queueTimeout,
              let requireSecondFactor
        else {
            return .invalid
        }
        var signIn = SignIn(usersFile: usersFile, mode: mode, signingKeyFile: keyFile, signingKeyID: keyID,
                            issuer: issuer, accessTTL: accessTTL, refreshTTL: refreshTTL, rateLimit: rateLimit,
                            hashThreads: hashThreads, queueTimeout: queueTimeout)
        signIn.requireSecondFactor = requireSecondFactor
        if oidc != nil, mode == .token, let modeNode = fields.value("mode") {
            reader.report(.invalidValue, at: modeNode, key: fields.path("mode"),
                          "sign-in through oidc providers gives session cookies; token mode is not supported with it yet")
            return .invalid
        }
        var section = LoginSection(url: url ?? ownLoginPath, signIn: signIn)
        section.oidc = oidc
        return .present(section)
    }

    /// Checks a login URL: `http(s)://host[:port][/path][?query]` or `/path`.
    ///
    /// `//host/...` and `/\host` are refused: browsers read both as another host.
    static func parseURL(_ text: String) -> ParseOutcome<String> {
        guard !text.isEmpty else {
            return .invalid("expected an absolute http(s) URL or a path starting with \"/\", got an empty string")
        }
        guard text.unicodeScalars.allSatisfy({ (0x21...0x7e).contains($0.value) }) else {
            return .invalid("must contain only visible ASCII characters (no blanks); percent-encode the others")
        }
        if text.hasPrefix("/") {
            if text.hasPrefix("//") || text.hasPrefix("/\\") {
                return .invalid(
                    "\"\(text)\" is read by browsers as another host; write the absolute URL, as in https://host/path"
                )
            }
            return .parsed(text)
        }
        let lowered = text.lowercased()
        guard let scheme = ["https://", "http://"].first(where: { lowered.hasPrefix($0) }) else {
            return .invalid("expected an absolute http(s) URL or a path starting with \"/\", got \"\(text)\"")
        }
        let rest = text.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.isEmpty {
            return .invalid("\"\(text)\" has no host")
        }
        if authority.contains("@") {
            return .invalid("\"\(text)\": user info (user@host) is not allowed in the login URL")
        }
        if authority.contains("\\") {
            return .invalid("\"\(text)\": a backslash is not allowed in the host")
        }
        return .parsed(text)
    }
}
