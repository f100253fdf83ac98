import Yams

/// `login.oidc`: signing browsers in through outside OpenID providers (authorization code flow with PKCE).
///
/// `base_url` is this gateway's public origin: each provider sends browsers back to
/// `<base_url>/.gatehouse/oidc/callback/<name>` (register exactly that at the provider). `state_secret_file` keys
/// the pre-sign-in cookie (at least 32 bytes; the same file on every gateway behind one name; random per process
/// when absent).
package struct OIDCSection: Sendable, Equatable {
    package let baseURL: String
    package let stateSecretFile: String?
    package let providers: [OIDCProviderSection]

    package init(baseURL: String, stateSecretFile: String?, providers: [OIDCProviderSection]) {
        self.baseURL = baseURL
        self.stateSecretFile = stateSecretFile
        self.providers = providers
    }

    static let keys = ["base_url", "state_secret_file", "providers"]

    static func read(_ node: Node, path: String, reader: ConfigReader) -> OIDCSection? {
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node)) else {
            return nil
        }
        var baseURL: String?
        if let urlNode = reader.required(fields, "base_url") {
            baseURL = reader.parse(urlNode, path: fields.path("base_url"),
                                   expected: "this gateway's origin, such as https://app.example.com") { text in
                var trimmed = text
                while trimmed.hasSuffix("/") { trimmed.removeLast() }
                let lowered = trimmed.lowercased()
                guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://"),
                      case .parsed = LoginSection.parseURL(trimmed),
                      !trimmed.contains("?"), !trimmed.contains("#")
                else { return .invalid("expected an absolute http(s) URL without query, such as https://app.example.com") }
                return .parsed(trimmed)
            }
        }
        var secretFile: String?? = .some(nil)
        if let secretNode = fields.value("state_secret_file") {
            secretFile = reader.filePath(secretNode, path: fields.path("state_secret_file")).map { .some($0) }
        }
        var providers: [OIDCProviderSection]? = nil
        if let list = reader.required(fields, "providers") {
            providers = readProviders(list, path: fields.path("providers"), reader: reader)
        }
        guard let baseURL, let secretFile, let providers else { return nil }
        return OIDCSection(baseURL: baseURL, stateSecretFile: secretFile, providers: providers)
    }

    private static func readProviders(_ node: Node, path: String, reader: ConfigReader) -> [OIDCProviderSection]? {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            reader.report(.wrongType, at: node, key: path, "expected a list of providers (at least one)")
            return nil
        }
        var providers: [OIDCProviderSection] = []
        var valid = true
        for (index, element) in sequence.enumerated() {
            guard let provider = OIDCProviderSection.read(element, path: "\(path)[\(index)]", reader: reader) else {
                valid = false
                continue
            }
            if providers.contains(where: { $0.name == provider.name }) {
                reader.report(.duplicateName, at: element, key: "\(path)[\(index)].name",
                              "provider \"\(provider.name)\" is defined twice")
                valid = false
            }
            providers.append(provider)
        }
        return valid ? providers : nil
    }
}

/// One `login.oidc.providers[]` entry.
package struct OIDCProviderSection: Sendable, Equatable {
    /// Where the client secret comes from (never a literal in the file).
    package enum Secret: Sendable, Equatable {
        case environment(String)
        case file(String)
    }

    /// Claim names read from the ID token.
    package struct Claims: Sendable, Equatable {
        package var user = "sub"
        package var email = "email"
        package var groups = "groups"
        package var name = "name"
    }

    /// `[a-z0-9-]`, in the callback path.
    package let name: String
    /// Shown on the login page.
    package let title: String
    /// The exact `iss`; `<issuer>/.well-known/openid-configuration` is read for the endpoints and keys.
    package let issuer: String
    package let clientID: String
    package let clientSecret: Secret
    package let scopes: [String]
    package let caFile: String?
    package let claims: Claims
    /// When set, the ID token's email must be verified and in one of these domains.
    package let allowedEmailDomains: [String]
    /// When set, the user must be in one of these groups.
    package let allowedGroups: [String]
    /// `logout:`: sign-out at the provider too.
    package var logout = OIDCLogoutSection()

    static let keys = ["name", "title", "issuer", "client_id", "client_secret_env", "client_secret_file", "scopes",
                       "ca_file", "claims", "allowed_email_domains", "allowed_groups", "logout"]

    static func read(_ node: Node, path: String, reader: ConfigReader) -> OIDCProviderSection? {
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node),
                                         refused: ["client_secret": "a literal secret in the config file is refused; "
                                                   + "use client_secret_env or client_secret_file"])
        else { return nil }
        var valid = true
        var name: String?
        if let nameNode = reader.required(fields, "name") {
            name = reader.parse(nameNode, path: fields.path("name"), expected: "a name such as corp") { text in
                let ok = !text.isEmpty && text.utf8.count <= 32 && text.utf8.allSatisfy {
                    ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d
                }
                return ok ? .parsed(text) : .invalid("lowercase letters, digits and \"-\" (it is part of the callback path)")
            }
        }
        var issuer: String?
        if let issuerNode = reader.required(fields, "issuer") {
            issuer = reader.parse(issuerNode, path: fields.path("issuer"), expected: "an https:// issuer") { text in
                ProviderKeysSection.isHTTPS(text) ? .parsed(text) : .invalid("must be an https:// URL")
            }
        }
        var clientID: String?
        if let idNode = reader.required(fields, "client_id") {
            clientID = reader.text(idNode, path: fields.path("client_id"), expected: "the client ID")
        }
        var secret: Secret?
        switch (fields.value("client_secret_env"), fields.value("client_secret_file")) {
        case (let envNode?, nil):
            if let variable = reader.text(envNode, path: fields.path("client_secret_env"), expected: "a variable name"),
               KeySourceSection.isEnvironmentName(variable) {
                secret = .environment(variable)
            } else {
                reader.report(.invalidValue, at: envNode, key: fields.path("client_secret_env"),
                              "names an environment variable (letters, digits and \"_\")")
            }
        case (nil, let fileNode?):
            secret = reader.filePath(fileNode, path: fields.path("client_secret_file")).map { .file($0) }
        case (nil, nil):
            reader.report(.missingKey, at: fields.location, key: fields.path("client_secret_env"),
                          "a provider needs client_secret_env or client_secret_file")
        default:
            reader.report(.invalidValue, at: fields.value("client_secret_file"), key: fields.path("client_secret_file"),
                          "give client_secret_env or client_secret_file, not both")
        }
        var scopes: [String]? = ["openid", "email", "profile"]
        if let scopeNode = fields.value("scopes") {
            scopes = reader.strings(scopeNode, path: fields.path("scopes"), one: "a scope", many: "scopes",
                                    empty: "at least openid is required")
            if let list = scopes, !list.contains("openid") {
                reader.report(.invalidValue, at: scopeNode, key: fields.path("scopes"),
                              "must include openid (without it there is no ID token)")
                scopes = nil
            }
        }
        var caFile: String?? = .some(nil)
        if let caNode = fields.value("ca_file") {
            caFile = reader.filePath(caNode, path: fields.path("ca_file")).map { .some($0) }
        }
        var claims = Claims()
        if let claimsNode = fields.value("claims") {
            if let claimFields = reader.fields(of: claimsNode, path: fields.path("claims"),
                                               allowed: ["user", "email", "groups", "name"],
                                               near: reader.location(of: claimsNode)) {
                for key in ["user", "email", "groups", "name"] {
                    guard let valueNode = claimFields.value(key) else { continue }
                    guard let text = reader.text(valueNode, path: claimFields.path(key), expected: "a claim name"),
                          !text.isEmpty else {
                        valid = false
                        continue
                    }
                    switch key {
                    case "user": claims.user = text
                    case "email": claims.email = text
                    case "groups": claims.groups = text
                    default: claims.name = text
                    }
                }
            } else {
                valid = false
            }
        }
        var domains: [String]? = []
        if let domainNode = fields.value("allowed_email_domains") {
            domains = reader.strings(domainNode, path: fields.path("allowed_email_domains"), one: "a domain",
                                     many: "domains", empty: "list at least one domain, or remove the key")
                .map { $0.map { $0.lowercased() } }
        }
        var groups: [String]? = []
        if let groupNode = fields.value("allowed_groups") {
            groups = reader.strings(groupNode, path: fields.path("allowed_groups"), one: "a group", many: "groups",
                                    empty: "list at least one group, or remove the key")
        }
        var title: String?
        if let titleNode = fields.value("title") {
            title = reader.text(titleNode, path: fields.path("title"), expected: "a title")
            valid = valid && title != nil
        }
        var logout: OIDCLogoutSection? = OIDCLogoutSection()
        if let logoutNode = fields.value("logout") {
            logout = OIDCLogoutSection.read(logoutNode, path: fields.path("logout"), reader: reader)
        }
        guard valid, let name, let issuer, let clientID, !clientID.isEmpty, let secret, let scopes, let caFile,
              let domains, let groups, let logout
        else { return nil }
        var provider = OIDCProviderSection(name: name, title: title ?? "Sign in with \(name)", issuer: issuer,
                                           clientID: clientID, clientSecret: secret, scopes: scopes, caFile: caFile,
                                           claims: claims, allowedEmailDomains: domains, allowedGroups: groups)
        provider.logout = logout
        return provider
    }
}

/// `login.oidc.providers[].logout`: signing out at the provider as well (RP-initiated logout) and being signed
/// out by it (Back-Channel Logout 1.0, always on: the provider decides whether it calls
/// `<base_url>/.gatehouse/oidc/backchannel-logout`).
package struct OIDCLogoutSection: Sendable, Equatable {
    /// After our own logout, send browsers to the provider's `end_session_endpoint` (when its discovery document
    /// has one). Default true.
    package var rpInitiated = true
    /// Where the provider sends the browser after its sign-out (must be registered there); nil: our login page
    /// (`<base_url>/.gatehouse/login`).
    package var postLogoutRedirectURI: String?

    package init(rpInitiated: Bool = true, postLogoutRedirectURI: String? = nil) {
        self.rpInitiated = rpInitiated
        self.postLogoutRedirectURI = postLogoutRedirectURI
    }

    static let keys = ["rp_initiated", "post_logout_redirect_uri"]

    static func read(_ node: Node, path: String, reader: ConfigReader) -> OIDCLogoutSection? {
        guard let fields = reader.fields(of: node, path: path, allowed: keys, near: reader.location(of: node)) else {
            return nil
        }
        var section = OIDCLogoutSection()
        var valid = true
        if let flag = fields.value("rp_initiated") {
            if let value = reader.boolean(flag, path: fields.path("rp_initiated")) {
                section.rpInitiated = value
            } else {
                valid = false
            }
        }
        if let uriNode = fields.value("post_logout_redirect_uri") {
            let uri: String? = reader.parse(uriNode, path: fields.path("post_logout_redirect_uri"),
                                            expected: "an absolute URL, such as https://app.example.com/signed-out") {
                (text: String) -> ParseOutcome<String> in
                let lowered = text.lowercased()
                guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://"),
                      case .parsed = LoginSection.parseURL(text), !text.contains("#"),
                      !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f })
                else { return .invalid("expected an absolute http(s) URL without a fragment") }
                return .parsed(text)
            }
            if let uri { section.postLogoutRedirectURI = uri } else { valid = false }
        }
        return valid ? section : nil
    }
}
