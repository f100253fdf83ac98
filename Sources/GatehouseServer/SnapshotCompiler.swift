package import GatehouseConfig
import Glibc
import GatehouseHTTP
package import GatehouseIO
package import GatehouseProxy

/// What the runtime needs from one configuration: the data-path snapshot and the process-level settings.
package struct RuntimePlan: Sendable {
    package var snapshot: ProxySnapshot
    package let listen: [SocketAddress]
    /// The TLS listeners (they present `snapshot.tls`).
    package let tlsListen: [SocketAddress]
    package let workers: Int
    package let drainTimeout: Duration
    package let accessLog: AccessLogSection.Destination
    package let sourcePath: String
    /// The admin listener, if configured.
    package var admin: SocketAddress? = nil
    /// The gateway's own sign-in, if configured.
    package var signIn: SignInRuntime? = nil
    /// The token settings before provider keys are added (nil without issuers): a provider's new key set is
    /// combined with it into a new snapshot.
    package var tokenBlueprint: TokenBlueprint? = nil
    /// The issuers whose keys come from their provider, and where their last good sets are kept.
    package var providerIssuers: [ProviderIssuer] = []
    /// `login.oidc` before provider documents and keys are added.
    package var oidcBlueprint: OIDCBlueprint? = nil
}

/// Turns a validated `GatewayConfig` into the immutable structures the workers use (Envoy's
/// `FilterConfigImpl`): routes sorted once, addresses resolved once, limits copied into `HTTPLimits`.
/// `run` and `check-config` both go through here, so a config that checks is a config that runs.
package enum SnapshotCompiler {
    /// Compiles `config`.
    /// - Throws: `IOError` when an address cannot be resolved.
    package static func compile(_ config: GatewayConfig, providerKeys: ProviderKeyDirectory = ProviderKeyDirectory())
        throws(IOError) -> RuntimePlan
    {
        var limits = HTTPLimits()
        let l = config.server.limits
        limits.maxRequestLine = l.maxRequestLine
        limits.maxHead = l.maxRequestHead
        limits.maxHeaderCount = l.maxHeaderCount
        limits.maxBody = l.maxBody
        switch config.server.pathParameters {
        case .refuse: limits.pathParameters = .refuse
        case .servlet: limits.pathParameters = .servlet
        }

        var upstreams: [UpstreamSettings] = []
        for section in config.upstreams {
            var servers: [SocketAddress] = []
            for spec in section.servers {
                do {
                    servers.append(try SocketAddress.resolve(host: spec.host, port: spec.port))
                } catch {
                    throw IOError("\(config.sourcePath): upstreams.\(section.name).servers: \(error.message)")
                }
            }
            var tls: TLSClientContext? = nil
            if let tlsSection = section.tls {
                do {
                    tls = try TLSClientContext(caFile: tlsSection.caFile)
                } catch {
                    throw IOError("\(tlsSection.location): \(tlsSection.keyPath): \(error.message)")
                }
            }
            var settings = UpstreamSettings(
                name: section.name, servers: servers, connectTimeout: section.connectTimeout,
                responseTimeout: section.responseTimeout, keepalive: section.keepalive,
                keepaliveTimeout: section.keepaliveTimeout, failTimeout: section.failTimeout, tls: tls,
                tlsServerNames: section.servers.map { section.tls?.serverName ?? $0.host })
            settings.sharedSecretLine = try sharedSecretLine(section, configPath: config.sourcePath)
            upstreams.append(settings)
        }
        let signIn = try compileSignIn(config)
        let blueprint = try tokenBlueprint(config, ownSigner: signIn?.0.signer)
        let providerIssuers = ProviderIssuer.all(config)
        // Without a running key manager (check-config, explain), the copies kept on disk stand in.
        let keys = providerKeys.isEmpty ? ProviderKeyDirectory.fromCache(providerIssuers) : providerKeys
        let tokens = blueprint?.assemble(keys)
        let oidcBlueprint = try OIDCBlueprint.compile(config)
        let groupsClaim = config.tokens?.groupsClaim ?? "groups"
        var injections: [BasicInjection?] = []
        for section in config.routes { injections.append(try compileInjectBasic(section, config: config)) }
        let assertions = try compileAssertions(config, loginSigner: signIn?.0.signer)
        let routes = config.routes.enumerated().map { index, section in
            Route(name: section.name, host: section.host.map(hostMatch), pathPrefix: Array(section.pathPrefix.utf8),
                  methods: section.methods.map { $0.map { Array($0.utf8) } },
                  upstreamIndex: config.upstreams.firstIndex { $0.name == section.upstream } ?? 0,
                  policy: compilePolicy(section, config: config, groupsClaim: groupsClaim,
                                        sessionCookie: signIn?.0.cookieName, injectBasic: injections[index],
                                        assertion: assertions.routes[index]),
                  caseInsensitive: section.caseInsensitive ?? config.server.caseInsensitivePaths)
        }
        var listen: [SocketAddress] = []
        for spec in config.server.listen {
            do {
                listen.append(try SocketAddress.resolve(host: spec.host, port: spec.port))
            } catch {
                throw IOError("\(config.sourcePath): server.listen: \(error.message)")
            }
        }
        var tlsListen: [SocketAddress] = []
        var tls: TLSServerContext? = nil
        if let section = config.server.tls {
            for spec in section.listen {
                do {
                    tlsListen.append(try SocketAddress.resolve(host: spec.host, port: spec.port))
                } catch {
                    throw IOError("\(config.sourcePath): server.tls.listen: \(error.message)")
                }
            }
            tls = try compileTLS(section)
        }
        let workers = config.server.workers ?? defaultWorkers()
        let budget = connectionBudget(workers: workers, upstreams: upstreams)
        let snapshot = ProxySnapshot(
            limits: limits,
            timeouts: ClientTimeouts(header: l.headerTimeout, idle: l.idleTimeout, body: l.bodyTimeout,
                                     tunnelIdle: l.tunnelIdleTimeout),
            trustedProxies: config.server.trustedProxies.map { IPNetwork(address: $0.address, prefixLength: $0.prefixLength) },
            upstreams: upstreams, routes: RouteTable(routes),
            accessLogEnabled: config.accessLog.destination != .off,
            strippedHeaderPrefixes: folded(config.stripHeaderPrefixes),
            strippedHeaderNames: folded(config.strippedHeaderNames),
            tokens: tokens, loginURL: config.login.map { Array($0.url.utf8) }, tls: tls, signIn: signIn?.0,
            forwardsUnderscoreHeaders: config.server.underscoresInHeaders == .forward,
            maxConnections: l.maxConnections ?? budget.perWorker, admin: try compileAdminAccess(config),
            oidc: oidcBlueprint?.assemble(keys), jwks: assertions.jwks)
        var admin: SocketAddress? = nil
        if let spec = config.admin?.listen {
            do {
                admin = try SocketAddress.resolve(host: spec.host, port: spec.port)
            } catch {
                throw IOError("\(config.sourcePath): admin.listen: \(error.message)")
            }
        }
        var plan = RuntimePlan(snapshot: snapshot, listen: listen, tlsListen: tlsListen,
                               workers: workers,
                               drainTimeout: config.server.drainTimeout, accessLog: config.accessLog.destination,
                               sourcePath: config.sourcePath, admin: admin, signIn: signIn?.1)
        plan.tokenBlueprint = blueprint
        plan.providerIssuers = providerIssuers
        plan.oidcBlueprint = oidcBlueprint
        return plan
    }

    /// Loads the certificates and keys (at start-up, on reload, in `check-config`): a file that is missing,
    /// unreadable, not PEM, or a key that does not match its certificate is an error naming the entry.
    static func compileTLS(_ section: TLSSection) throws(IOError) -> TLSServerContext {
        do {
            return try TLSServerContext(certificates: section.certificates.map {
                TLSCertificateFiles(certificate: $0.certificate, privateKey: $0.privateKey)
            })
        } catch {
            let entry = section.certificates[error.index]
            throw IOError("\(entry.location): \(entry.keyPath): \(error.message)")
        }
    }

    private static func hostMatch(_ pattern: HostPattern) -> HostMatch {
        switch pattern {
        case .exact(let name): return .exact(Array(name.utf8))
        case .wildcard(let suffix): return .suffix(Array(suffix.utf8))
        }
    }

    /// The connection budget of `workers` workers at today's descriptor limit.
    static func connectionBudget(workers: Int, upstreams: [UpstreamSettings]) -> ConnectionBudget {
        ConnectionBudget(descriptorLimit: DescriptorLimit.current, workers: workers,
                         idleUpstream: upstreams.reduce(0) { $0 + $1.keepalive })
    }

    /// One worker per online core.
    static func defaultWorkers() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}
