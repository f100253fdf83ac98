import GatehouseAuth
import GatehouseConfig
import GatehouseIO
import GatehouseProxy
import GatehouseSessions
import Glibc

/// The assertion half of compiling a snapshot (issue 13 part 2): the key that signs upstream assertions, each
/// route's settings, each upstream's shared-secret line, and the JWKS that publishes every key the gateway signs with.
extension SnapshotCompiler {
    /// What `compile` needs: per route its settings (nil: none), and the JWKS document (nil: the gateway signs nothing).
    struct CompiledAssertions {
        var routes: [AssertionSettings?]
        var jwks: [UInt8]?
    }

    static func compileAssertions(_ config: GatewayConfig, loginSigner: GatewayTokenSigner?) throws(IOError)
        -> CompiledAssertions
    {
        let place = config.assertion?.location.map { "\($0)" } ?? config.sourcePath
        var signer = loginSigner
        if let section = config.assertion, let file = section.signingKeyFile {
            do {
                signer = try GatewayTokenSigner(pem: try readText(file), kid: section.signingKeyID,
                                                issuer: config.assertionIssuer)
            } catch {
                throw IOError("\(place): assertion.signing_key: \(error.message)")
            }
        }
        var routes: [AssertionSettings?] = []
        var count = 0
        for route in config.routes {
            guard let resolved = config.assertion(for: route) else {
                routes.append(nil)
                continue
            }
            guard let signer else {
                // The loader refuses this; a config built in code could still get here.
                throw IOError("\(place): assertion: no signing key (assertion.signing_key or login.signing_key)")
            }
            routes.append(AssertionSettings(signer: signer, header: resolved.header,
                                            ttlSeconds: resolved.ttl.components.seconds, audience: resolved.audience,
                                            issuer: resolved.issuer,
                                            cacheSize: config.assertion?.cacheSize ?? AssertionSection().cacheSize))
            count += 1
        }
        // Every public key the gateway signs with, each once (the login key may sign both).
        var keys: [GatewayTokenSigner] = []
        if let loginSigner { keys.append(loginSigner) }
        if let signer, count > 0, !keys.contains(where: { $0.kid == signer.kid }) { keys.append(signer) }
        var jwks: [UInt8]? = nil
        if !keys.isEmpty {
            var document = Array("{\"keys\":[".utf8)
            for (index, key) in keys.enumerated() {
                if index > 0 { document.append(UInt8(ascii: ",")) }
                document.append(contentsOf: key.jwk)
            }
            document.append(contentsOf: "]}".utf8)
            jwks = document
        }
        return CompiledAssertions(routes: routes, jwks: jwks)
    }

    /// `Name: secret\r\n` of `upstream`'s `shared_secret_header`, read from the environment or the file now (at
    /// start and on every reload, so a new secret takes effect with SIGHUP).
    static func sharedSecretLine(_ upstream: UpstreamSection, configPath: String) throws(IOError) -> [UInt8]? {
        guard let section = upstream.sharedSecretHeader else { return nil }
        let place = "\(section.location.map { "\($0)" } ?? configPath): \(section.keyPath)"
        var secret: [UInt8]
        switch section.source {
        case .environment(let name):
            guard let value = getenv(name) else { throw IOError("\(place).secret_env: environment variable \(name) is not set") }
            secret = Array(String(cString: value).utf8)
        case .file(let path):
            do {
                secret = Array(try readText(path).utf8)
            } catch {
                throw IOError("\(place).secret_file: \(error.message)")
            }
            // A trailing newline is what editors and `echo` leave; it is not part of the secret.
            while let last = secret.last, last == 10 || last == 13 { secret.removeLast() }
        }
        guard secret.count >= 16, secret.count <= 4096, secret.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw IOError("\(place): expected a secret of 16 to 4096 visible ASCII characters (e.g. openssl rand -hex 32)")
        }
        return Array(section.name.utf8) + Array(": ".utf8) + secret + [13, 10]
    }
}
