import GatehouseAuth
import GatehouseConfig
import GatehouseIO
import GatehouseProxy
package import GatehouseSessions

/// What the process needs to run the gateway's own sign-in, beyond the snapshot: where the users and the
/// sessions live, and how big the hashing pool and the throttle are. Read at start; a reload that changes
/// these is logged as needing a restart (the store and the pool live as long as the process).
package struct SignInRuntime: Sendable, Equatable {
    package let usersFile: String
    package let storePath: String
    package let hashThreads: Int
    package let maxFailures: Int
    package let failureWindow: Int64
    package let accessTTL: Int64
}

extension SnapshotCompiler {
    /// The snapshot's sign-in settings, with the signing key loaded (token mode).
    static func compileSignIn(_ config: GatewayConfig) throws(IOError) -> (SignInSettings, SignInRuntime)? {
        guard let login = config.login, let signIn = login.signIn, let sessions = config.sessions else { return nil }
        var signer: GatewayTokenSigner? = nil
        if let keyFile = signIn.signingKeyFile {
            do {
                signer = try GatewayTokenSigner(pem: try readText(keyFile), kid: signIn.signingKeyID,
                                                issuer: signIn.issuer)
            } catch {
                throw IOError("\(config.sourcePath): login.signing_key: \(error.message)")
            }
        }
        let cookie = sessions.cookie
        let secure: SignInSettings.SecureCookie
        switch cookie.secure {
        case .auto: secure = .auto
        case .always: secure = .always
        case .never: secure = .never
        }
        let sameSite: String
        switch cookie.sameSite {
        case .lax: sameSite = "Lax"
        case .strict: sameSite = "Strict"
        case .none: sameSite = "None"
        }
        let settings = SignInSettings(
            mode: signIn.mode == .token ? .token : .session, cookieName: cookie.name, secureCookie: secure,
            sameSite: sameSite, absoluteTTL: sessions.absoluteTTL.components.seconds,
            idleTTL: sessions.idleTTL.components.seconds, maxPerUser: sessions.maxPerUser,
            accessTTL: signIn.accessTTL.components.seconds, refreshTTL: signIn.refreshTTL.components.seconds,
            signer: signer, loginPath: LoginSection.ownLoginPath)
        let storePath: String
        switch sessions.store {
        case .embedded(let path): storePath = path
        }
        let runtime = SignInRuntime(
            usersFile: signIn.usersFile, storePath: storePath, hashThreads: signIn.hashThreads,
            maxFailures: signIn.rateLimit.failures, failureWindow: signIn.rateLimit.window.components.seconds,
            accessTTL: signIn.accessTTL.components.seconds)
        return (settings, runtime)
    }

    /// The verifier's issuer for the gateway's own access tokens: its public key, `iss` = `aud` = the issuer name.
    static func ownIssuer(_ signer: GatewayTokenSigner) -> IssuerPolicy {
        IssuerPolicy(issuer: signer.issuer, audiences: [signer.issuer], keys: [signer.verificationKey])
    }

    /// Loads the users file into a directory (at start, on SIGHUP, when the file changes).
    package static func loadUsers(_ path: String) throws -> UserDirectory {
        let file = try UsersFileLoader.load(path: path)
        var accounts: [UserAccount] = []
        for entry in file.users {
            guard PasswordHash.isSupported(entry.passwordHash) else {
                throw IOError("\(path):\(entry.line): users.\(entry.name).password: this system's crypt cannot "
                              + "check this hash; use bcrypt ($2b$/$2y$) or yescrypt ($y$)")
            }
            accounts.append(UserAccount(name: entry.name, passwordHash: entry.passwordHash, email: entry.email,
                                        groups: entry.groups, displayName: entry.displayName, disabled: entry.disabled))
        }
        return UserDirectory(accounts: accounts)
    }
}
