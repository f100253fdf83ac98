import GatehouseAuth
import GatehouseConfig
import GatehouseIO
import GatehouseProxy
import GatehouseSessions
import Glibc

/// `login.oidc` read once per config (client secrets, the flow-cookie key); ``assemble(_:)`` adds each provider's
/// discovery document and keys of the moment.
package struct OIDCBlueprint: Sendable {
    let section: OIDCSection
    let secrets: [String: String]
    let sealer: SignInFlowSealer
    let hasUsersFile: Bool
    let leewaySeconds: Int64

    /// Without `state_secret_file`, one random key for the life of the process (reloads keep it, so sign-ins in
    /// progress survive them).
    private static let processSecret = Secrets.bytes(32)

    static func compile(_ config: GatewayConfig) throws(IOError) -> OIDCBlueprint? {
        guard let login = config.login, let oidc = login.oidc else { return nil }
        var secrets: [String: String] = [:]
        for provider in oidc.providers {
            let place = "\(config.sourcePath): login.oidc.providers[\(provider.name)]"
            switch provider.clientSecret {
            case .environment(let name):
                guard let value = getenv(name) else {
                    throw IOError("\(place).client_secret_env: environment variable \(name) is not set")
                }
                secrets[provider.name] = String(cString: value)
            case .file(let path):
                do {
                    var text = try SnapshotCompiler.readText(path)
                    while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
                    secrets[provider.name] = text
                } catch {
                    throw IOError("\(place).client_secret_file: \(error.message)")
                }
            }
        }
        var key = processSecret
        if let path = oidc.stateSecretFile {
            let place = "\(config.sourcePath): login.oidc.state_secret_file"
            var bytes: [UInt8]
            do {
                bytes = Array(try SnapshotCompiler.readText(path).utf8)
            } catch {
                throw IOError("\(place): \(error.message)")
            }
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            guard bytes.count >= 32 else {
                throw IOError("\(place): \(path): at least 32 bytes are needed (e.g. openssl rand -hex 32)")
            }
            key = bytes
        }
        return OIDCBlueprint(section: oidc, secrets: secrets, sealer: SignInFlowSealer(secret: key),
                             hasUsersFile: login.signIn?.usersFile != nil,
                             leewaySeconds: config.tokens?.leeway.components.seconds ?? 30)
    }

    func assemble(_ directory: ProviderKeyDirectory) -> OIDCSettings {
        let providers = section.providers.map { provider -> OIDCSettings.Provider in
            let keys = directory.keys[provider.issuer] ?? []
            let policy = IssuerPolicy(issuer: provider.issuer, audiences: [provider.clientID], keys: keys,
                                      provider: directory.hook(provider.issuer))
            let metadata = directory.metadata[provider.issuer]
            var algorithms = IDTokenCheck.asymmetric
            if let advertised = metadata?.idTokenAlgorithms, !advertised.isEmpty {
                algorithms = algorithms.intersection(advertised.compactMap(JWSAlgorithm.init(rawValue:)))
            }
            return OIDCSettings.Provider(
                name: provider.name, title: provider.title, issuer: provider.issuer, clientID: provider.clientID,
                clientSecret: secrets[provider.name] ?? "", scopes: provider.scopes,
                redirectURI: section.baseURL + OIDCSettings.callbackPrefix + provider.name,
                userClaim: provider.claims.user, emailClaim: provider.claims.email,
                groupsClaim: provider.claims.groups, nameClaim: provider.claims.name,
                allowedEmailDomains: provider.allowedEmailDomains, allowedGroups: provider.allowedGroups,
                caFile: provider.caFile, metadata: metadata,
                verifier: TokenVerifier(issuers: [policy], leewaySeconds: leewaySeconds), algorithms: algorithms,
                rpInitiatedLogout: provider.logout.rpInitiated,
                postLogoutRedirectURI: provider.logout.postLogoutRedirectURI ?? section.baseURL + "/.gatehouse/login",
                logoutVerifier: TokenVerifier(
                    issuers: [IssuerPolicy(issuer: provider.issuer, audiences: [provider.clientID], keys: keys,
                                           requireExpiry: false, provider: directory.hook(provider.issuer))],
                    leewaySeconds: leewaySeconds))
        }
        return OIDCSettings(providers: providers, sealer: sealer, hasUsersFile: hasUsersFile,
                            leewaySeconds: leewaySeconds)
    }
}

extension RuntimePlan {
    /// This plan's snapshot with the provider keys and discovery documents of `directory`.
    func snapshot(with directory: ProviderKeyDirectory) -> ProxySnapshot {
        snapshot.replacingTokens(tokenBlueprint?.assemble(directory) ?? snapshot.tokens,
                                 oidc: oidcBlueprint?.assemble(directory) ?? snapshot.oidc)
    }
}
