import GatehouseAuth
import GatehouseConfig
import GatehouseIO
import GatehouseProxy
import GatehouseSessions
import Glibc

/// The auth half of compiling a snapshot: key material loaded from the files and environment the config
/// names, route policies built once, identity templates parsed once.
extension SnapshotCompiler {
    /// Loads every issuer's keys. Errors name the config file, line and key entry that failed. Issuers whose keys
    /// come from their provider take the set `providerKeys` holds now (empty until the first fetch or cached copy).
    static func compileTokens(_ config: GatewayConfig, ownSigner: GatewayTokenSigner? = nil,
                              providerKeys: ProviderKeyDirectory = ProviderKeyDirectory()) throws(IOError)
        -> TokenSettings?
    {
        try tokenBlueprint(config, ownSigner: ownSigner)?.assemble(providerKeys)
    }

    /// The file-loaded half of the token settings, kept so that a provider's new key set is combined with it
    /// without reading any file again.
    static func tokenBlueprint(_ config: GatewayConfig, ownSigner: GatewayTokenSigner?) throws(IOError)
        -> TokenBlueprint?
    {
        // The gateway's own tokens verify like any issuer's (first, so a same-named outside issuer cannot shadow it).
        let own = ownSigner.map { [ownIssuer($0)] } ?? []
        guard let tokens = config.tokens else {
            guard !own.isEmpty else { return nil }
            return TokenBlueprint(own: own, issuers: [], leewaySeconds: 30, maxTokenBytes: 8192, cacheSize: 10_000,
                                  groupsClaim: "groups")
        }
        var issuers: [TokenBlueprint.Issuer] = []
        for issuer in tokens.issuers {
            var keys: [VerificationKey] = []
            for entry in issuer.keys {
                do {
                    keys.append(contentsOf: try loadKeys(entry.source, relativeTo: config.sourcePath))
                } catch {
                    throw IOError("\(entry.location): \(entry.keyPath): \(error.message)")
                }
            }
            issuers.append(TokenBlueprint.Issuer(section: issuer, fileKeys: keys))
        }
        return TokenBlueprint(own: own, issuers: issuers, leewaySeconds: tokens.leeway.components.seconds,
                              maxTokenBytes: tokens.maxTokenSize, cacheSize: tokens.cacheSize,
                              groupsClaim: tokens.groupsClaim)
    }

    private static func loadKeys(_ source: KeySource, relativeTo configPath: String) throws(KeyError) -> [VerificationKey] {
        switch source {
        case .jwksFile(let path):
            return try KeyLoader.jwks(try readText(path))
        case .pemFile(let path, let algorithm, let kid):
            return [try KeyLoader.pem(try readText(path), algorithm: try parseAlgorithm(algorithm), kid: kid)]
        case .secretEnv(let name, let algorithm, let kid):
            guard let value = getenv(name) else { throw KeyError("environment variable \(name) is not set") }
            let secret = Array(String(cString: value).utf8)
            guard let alg = try parseAlgorithm(algorithm) else { throw KeyError("algorithm required") }
            return [try KeyLoader.hmac(secret: secret, algorithm: alg, kid: kid)]
        case .secretFile(let path, let algorithm, let kid):
            var secret = Array(try readText(path).utf8)
            // A trailing newline is what editors and `echo` leave; it is not part of the secret.
            while let last = secret.last, last == 10 || last == 13 { secret.removeLast() }
            guard let alg = try parseAlgorithm(algorithm) else { throw KeyError("algorithm required") }
            return [try KeyLoader.hmac(secret: secret, algorithm: alg, kid: kid)]
        }
    }

    private static func parseAlgorithm(_ text: String?) throws(KeyError) -> JWSAlgorithm? {
        guard let text else { return nil }
        guard let algorithm = JWSAlgorithm(rawValue: text) else { throw KeyError("unknown algorithm \(text)") }
        return algorithm
    }

    /// `admin.allowed_hosts` and the secret of `admin.token_file` (read at load and on every reload, so a new
    /// secret takes effect with SIGHUP).
    static func compileAdminAccess(_ config: GatewayConfig) throws(IOError) -> AdminAccess {
        guard let admin = config.admin else { return AdminAccess() }
        var token: [UInt8]? = nil
        if let path = admin.tokenFile {
            let place = admin.tokenFileLocation.map { "\($0)" } ?? config.sourcePath
            var secret: [UInt8]
            do {
                secret = Array(try readText(path).utf8)
            } catch {
                throw IOError("\(place): admin.token_file: \(error.message)")
            }
            // A trailing newline is what editors and `echo` leave; it is not part of the secret.
            while let last = secret.last, last == 10 || last == 13 { secret.removeLast() }
            guard secret.count >= 16, secret.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw IOError("\(place): admin.token_file: \(path): expected a secret of at least 16 visible ASCII "
                              + "characters (e.g. openssl rand -hex 32)")
            }
            token = secret
        }
        return AdminAccess(allowedHosts: admin.allowedHosts, token: token)
    }

    /// Reads a key file (at load time only; never on a loop).
    static func readText(_ path: String) throws(KeyError) -> String {
        guard let file = fopen(path, "rb") else {
            throw KeyError("\(path): cannot read: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[..<n])
            if bytes.count > 1 << 20 { throw KeyError("\(path): larger than 1 MiB") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The route's policy: accepted credentials, requirement tree, identity templates.
    static func compilePolicy(_ route: RouteSection, config: GatewayConfig, groupsClaim: String,
                              sessionCookie: [UInt8]? = nil, injectBasic: BasicInjection? = nil,
                              assertion: AssertionSettings? = nil) -> RoutePolicy {
        let mode: GatehouseProxy.AuthMode
        switch route.auth {
        case .none:
            guard let injectBasic else { return .open }
            // A public route of an upstream that gets the gateway's Authorization: the client's is removed all the
            // same (nothing is injected without an identity), so no client can present its own to that app.
            return RoutePolicy(mode: .none, acceptsBearer: false, tokenCookies: [], requirement: nil,
                               redirectsBrowsersToLogin: false, identityHeaders: [], forwardsAuthorization: false,
                               stripsCredentialCookies: false, injectBasic: injectBasic)
        case .required: mode = .required
        case .optional: mode = .optional
        }
        var bearer = false
        var session = false
        var cookies: [[UInt8]] = []
        for source in route.accept {
            switch source {
            case .bearer: bearer = true
            case .cookie(let name): cookies.append(Array(name.utf8))
            case .session: session = true
            case .basic: break
            }
        }
        let templates = config.identityHeaders(for: route).map { section in
            IdentityTemplate(name: section.name, parts: section.parts.map { part in
                switch part {
                case .literal(let text): return .literal(text)
                case .claim(let path): return path == "groups" ? .groups : .claim(path)
                }
            })
        }
        return RoutePolicy(
            mode: mode, acceptsBearer: bearer, tokenCookies: cookies, requirement: route.require.map(requirement),
            redirectsBrowsersToLogin: route.unauthenticated == .login, identityHeaders: templates,
            forwardsAuthorization: route.forwardAuthorization, stripsCredentialCookies: route.stripCredentialCookies,
            sessionCookie: session ? sessionCookie : nil,
            basic: route.basic.map { BasicPolicy(realm: $0.realm, cacheTTL: $0.cacheTTL.components.seconds) },
            injectBasic: injectBasic, assertion: assertion)
    }

    /// The route's `inject_basic` (else its upstream's), with the password read from the environment or the file
    /// (at load and on every reload, so a new secret takes effect with SIGHUP).
    static func compileInjectBasic(_ route: RouteSection, config: GatewayConfig) throws(IOError) -> BasicInjection? {
        let upstream = config.upstreams.first { $0.name == route.upstream }
        guard let section = route.injectBasic ?? upstream?.injectBasic else { return nil }
        let place = "\(section.location): \(section.keyPath)"
        var secret: [UInt8]
        if let name = section.passwordEnv {
            guard let value = getenv(name) else {
                throw IOError("\(place): password_env: environment variable \(name) is not set")
            }
            secret = Array(String(cString: value).utf8)
        } else if let path = section.passwordFile {
            do {
                secret = Array(try readText(path).utf8)
            } catch {
                throw IOError("\(place): password_file: \(error.message)")
            }
            // A trailing newline is what editors and `echo` leave; it is not part of the secret.
            while let last = secret.last, last == 10 || last == 13 { secret.removeLast() }
        } else {
            throw IOError("\(place): no password")
        }
        guard !secret.isEmpty, !secret.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw IOError("\(place): the password must be non-empty and hold no control character (RFC 7617)")
        }
        let template = IdentityTemplate(name: "", parts: section.usernameParts.map { part in
            switch part {
            case .literal(let text): return .literal(text)
            case .claim(let path): return path == "groups" ? .groups : .claim(path)
            }
        })
        return BasicInjection(username: template, password: secret)
    }

    private static func requirement(_ spec: RequirementSpec) -> Requirement {
        switch spec {
        case .claims(let pairs):
            let checks = pairs.map { Requirement.claim(path: $0.path, anyOf: $0.values) }
            return checks.count == 1 ? checks[0] : .all(checks)
        case .groupsAny(let groups): return .groupsAny(groups)
        case .groupsAll(let groups): return .groupsAll(groups)
        case .scopes(let scopes): return .scopes(scopes)
        case .methods(let methods): return .methods(methods.map { Array($0.utf8) })
        case .any(let children): return .any(children.map(requirement))
        case .all(let children): return .all(children.map(requirement))
        }
    }

    /// Header names to strip, folded as the config folds them (lowercase, `_` as `-`).
    static func folded(_ names: [String]) -> [[UInt8]] {
        names.map { Array(IdentityHeaderSection.folded($0).utf8) }
    }
}
