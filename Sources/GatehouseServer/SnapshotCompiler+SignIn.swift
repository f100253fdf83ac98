import GatehouseAuth
import GatehouseConfig
import GatehouseIO
import GatehouseProxy
import Glibc
package import GatehouseSessions

/// What the process needs to run the gateway's own sign-in, beyond the snapshot: where the users and the
/// sessions live, and how big the hashing pool and the throttle are. Read at start; a reload that changes
/// these is logged as needing a restart (the store and the pool live as long as the process).
package struct SignInRuntime: Sendable, Equatable {
    /// Where sessions live.
    package enum Store: Sendable, Equatable {
        case embedded(path: String)
        case redis(RedisSettings)
    }

    /// nil: users sign in only through OpenID providers.
    package let usersFile: String?
    package let store: Store
    package let hashThreads: Int
    package let maxFailures: Int
    package let failureWindow: Int64
    package let accessTTL: Int64
    /// `sessions.embedded.max_sessions` (0 = no limit).
    package var embeddedMaxSessions: Int = 0
    /// `login.queue_timeout`: the longest wait of a sign-in for a hashing thread.
    package var queueTimeout: Duration = .seconds(10)
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
        var settings = SignInSettings(
            mode: signIn.mode == .token ? .token : .session, cookieName: cookie.name, secureCookie: secure,
            sameSite: sameSite, absoluteTTL: sessions.absoluteTTL.components.seconds,
            idleTTL: sessions.idleTTL.components.seconds, maxPerUser: sessions.maxPerUser,
            accessTTL: signIn.accessTTL.components.seconds, refreshTTL: signIn.refreshTTL.components.seconds,
            signer: signer, loginPath: LoginSection.ownLoginPath)
        settings.cookieDomain = cookie.domain
        settings.requireSecondFactor = signIn.requireSecondFactor
        let store: SignInRuntime.Store
        switch sessions.store {
        case .embedded(let path):
            store = .embedded(path: path)
        case .redis(let section):
            store = .redis(try redisSettings(section, configPath: config.sourcePath))
        }
        let runtime = SignInRuntime(
            usersFile: signIn.usersFile, store: store, hashThreads: signIn.hashThreads,
            maxFailures: signIn.rateLimit.failures, failureWindow: signIn.rateLimit.window.components.seconds,
            accessTTL: signIn.accessTTL.components.seconds, embeddedMaxSessions: sessions.embeddedMaxSessions,
            queueTimeout: signIn.queueTimeout)
        return (settings, runtime)
    }

    /// `sessions.redis` with its URL parsed and the passwords read from the environment when `password_env` says.
    static func redisSettings(_ section: SessionsSection.RedisSection, configPath: String) throws(IOError)
        -> RedisSettings
    {
        let at = section.urlLocation.map { "\($0)" } ?? configPath
        var url = RedisURL(host: "127.0.0.1")
        if let text = section.url {
            do {
                url = try RedisURL(parsing: text)
            } catch {
                throw IOError("\(at): sessions.redis.url: \(error.message)")
            }
        }
        let password = try environmentValue(section.passwordEnv, key: "sessions.redis.password_env", at: at)
        var settings = RedisSettings(url: url, password: password, keyPrefix: section.keyPrefix,
                                     timeout: section.timeout, cacheTTL: section.cacheTTL, cacheSize: section.cacheSize)
        settings.outageGrace = section.outageGrace
        settings.unknownCookieLookups = section.unknownCookieLookups
        settings.unknownCookieWindow = section.unknownCookieWindow
        settings.replicaAckTimeout = section.replicaAckTimeout
        switch section.replicaAck {
        case .auto: settings.replicaAck = .auto
        case .replicas(let n): settings.replicaAck = .replicas(n)
        }
        if let sentinel = section.sentinel {
            let sentinelAt = sentinel.location.map { "\($0)" } ?? configPath
            settings.sentinel = SentinelSettings(
                master: sentinel.master,
                addresses: sentinel.addresses.map { RedisEndpoint(host: $0.host, port: Int($0.port)) },
                password: try environmentValue(sentinel.passwordEnv, key: "sessions.redis.sentinel.password_env",
                                               at: sentinelAt))
        }
        return settings
    }

    private static func environmentValue(_ name: String?, key: String, at: String) throws(IOError) -> String? {
        guard let name else { return nil }
        guard let value = getenv(name) else {
            throw IOError("\(at): \(key): environment variable \(name) is not set")
        }
        return String(cString: value)
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
            var account = UserAccount(name: entry.name, passwordHash: entry.passwordHash, email: entry.email,
                                      groups: entry.groups, displayName: entry.displayName, disabled: entry.disabled)
            account.totpSecret = entry.totpSecret
            accounts.append(account)
        }
        return UserDirectory(accounts: accounts)
    }
}
