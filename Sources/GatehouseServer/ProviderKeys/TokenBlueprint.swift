package import GatehouseAuth
package import GatehouseConfig
import GatehouseProxy
import Crypto
import Glibc

/// The token settings of one config before provider keys are added: the file keys of every issuer, read once when
/// the config is compiled. ``assemble(_:)`` joins them with the provider key sets of the moment; the gateway calls
/// it again whenever a provider's set changes, without reading any file.
package struct TokenBlueprint: Sendable {
    package struct Issuer: Sendable {
        let section: IssuerSection
        let fileKeys: [VerificationKey]
    }

    let own: [IssuerPolicy]
    let issuers: [Issuer]
    let leewaySeconds: Int64
    let maxTokenBytes: Int
    let cacheSize: Int
    let groupsClaim: String

    /// The verifier with each provider issuer's current keys beside its file keys.
    func assemble(_ providerKeys: ProviderKeyDirectory) -> TokenSettings {
        let policies = own + issuers.map { issuer -> IssuerPolicy in
            guard issuer.section.provider != nil else {
                return IssuerPolicy(issuer: issuer.section.issuer, audiences: issuer.section.audiences,
                                    keys: issuer.fileKeys, requireExpiry: issuer.section.requireExpiry)
            }
            let fetched = providerKeys.keys[issuer.section.issuer] ?? []
            return IssuerPolicy(issuer: issuer.section.issuer, audiences: issuer.section.audiences,
                                keys: issuer.fileKeys + fetched, requireExpiry: issuer.section.requireExpiry,
                                provider: providerKeys.hook(issuer.section.issuer))
        }
        return TokenSettings(
            verifier: TokenVerifier(issuers: policies, leewaySeconds: leewaySeconds, maxTokenBytes: maxTokenBytes),
            leewaySeconds: leewaySeconds, cacheSize: cacheSize, groupsClaim: groupsClaim)
    }
}

/// One issuer whose keys come from its provider, as the key manager needs it.
package struct ProviderIssuer: Sendable, Equatable {
    package let issuer: String
    package let keys: ProviderKeysSection
    /// The file that keeps the last good JWKS document.
    package let cachePath: String

    /// Every provider-backed issuer of `config`.
    /// OpenID providers of `login.oidc` are read through discovery (their endpoints and keys); an issuer named in
    /// both places is fetched once, through discovery.
    static func all(_ config: GatewayConfig) -> [ProviderIssuer] {
        let directory = config.tokens?.keyCacheDirectory ?? "var/keys"
        var issuers: [ProviderIssuer] = config.tokens?.issuers.compactMap { section in
            section.provider.map {
                ProviderIssuer(issuer: section.issuer, keys: $0,
                               cachePath: cachePath(directory: directory, issuer: section.issuer))
            }
        } ?? []
        for provider in config.login?.oidc?.providers ?? [] {
            let discovery = ProviderKeysSection(
                source: .discovery(url: ProviderMetadata.discoveryURL(for: provider.issuer)), caFile: provider.caFile,
                refresh: .seconds(3600), location: nil)
            let entry = ProviderIssuer(issuer: provider.issuer, keys: discovery,
                                       cachePath: cachePath(directory: directory, issuer: provider.issuer))
            if let index = issuers.firstIndex(where: { $0.issuer == provider.issuer }) {
                if case .jwksURI = issuers[index].keys.source { issuers[index] = entry }
            } else if !issuers.contains(entry) {
                issuers.append(entry)
            }
        }
        return issuers
    }

    /// `<dir>/<first 16 bytes of SHA-256(issuer), hex>.jwks.json`: a stable name that no issuer string can steer
    /// out of the directory.
    static func cachePath(directory: String, issuer: String) -> String {
        let digest = SHA256.hash(data: Array(issuer.utf8))
        let hex = digest.prefix(16).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
        return directory + "/" + hex + ".jwks.json"
    }
}

/// The provider key sets of the moment, by issuer, and each issuer's unknown-kid hook.
package struct ProviderKeyDirectory: Sendable {
    package var keys: [String: [VerificationKey]] = [:]
    package var hooks: [String: ProviderKeyHook] = [:]
    /// Discovery documents (issuers read through `discovery`).
    package var metadata: [String: ProviderMetadata] = [:]

    package init() {}

    var isEmpty: Bool { keys.isEmpty && hooks.isEmpty }

    func hook(_ issuer: String) -> ProviderKeyHook {
        hooks[issuer] ?? ProviderKeyHook(unknownKid: {})
    }

    /// The copies kept on disk (for check-config, explain, and the first snapshot before the manager runs).
    static func fromCache(_ issuers: [ProviderIssuer]) -> ProviderKeyDirectory {
        var directory = ProviderKeyDirectory()
        for issuer in issuers {
            if let cached = KeySetFile.read(issuer.cachePath), let parsed = try? KeyLoader.providerJWKS(cached) {
                directory.keys[issuer.issuer] = parsed.keys
            }
        }
        return directory
    }
}

/// The last good JWKS document of an issuer, on disk: written to a temporary file, synced, then renamed over the
/// old one, so a crash leaves the old copy or the new one, never half of either.
package enum KeySetFile {
    package static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[..<n])
            if bytes.count > 1 << 20 { return nil }
        }
        return bytes
    }

    /// Writes `bytes`, creating the directory (0700) when missing. Returns why it failed, or nil.
    package static func write(_ bytes: [UInt8], to path: String) -> String? {
        if let slash = path.lastIndex(of: "/") {
            let directory = String(path[..<slash])
            if !directory.isEmpty { makeDirectories(directory) }
        }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "\(temporary): \(String(cString: strerror(errno)))" }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                return "\(temporary): \(reason)"
            }
            written += n
        }
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return "\(path): \(reason)"
        }
        return nil
    }

    private static func makeDirectories(_ path: String) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            mkdir(prefix, 0o700)
            prefix += "/"
        }
    }
}
