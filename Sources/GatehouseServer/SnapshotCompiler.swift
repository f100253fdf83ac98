package import GatehouseConfig
import Glibc
import GatehouseHTTP
package import GatehouseIO
package import GatehouseProxy

/// What the runtime needs from one configuration: the data-path snapshot and the process-level settings.
package struct RuntimePlan: Sendable {
    package let snapshot: ProxySnapshot
    package let listen: [SocketAddress]
    package let workers: Int
    package let drainTimeout: Duration
    package let accessLog: AccessLogSection.Destination
    package let sourcePath: String
    /// The admin listener, if configured.
    package var admin: SocketAddress? = nil
    /// The gateway's own sign-in, if configured.
    package var signIn: SignInRuntime? = nil
}

/// Turns a validated `GatewayConfig` into the immutable structures the workers use (Envoy's
/// `FilterConfigImpl`): routes sorted once, addresses resolved once, limits copied into `HTTPLimits`.
/// `run` and `check-config` both go through here, so a config that checks is a config that runs.
package enum SnapshotCompiler {
    /// Compiles `config`.
    /// - Throws: `IOError` when an address cannot be resolved.
    package static func compile(_ config: GatewayConfig) throws(IOError) -> RuntimePlan {
        var limits = HTTPLimits()
        let l = config.server.limits
        limits.maxRequestLine = l.maxRequestLine
        limits.maxHead = l.maxRequestHead
        limits.maxHeaderCount = l.maxHeaderCount
        limits.maxBody = l.maxBody

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
            upstreams.append(UpstreamSettings(
                name: section.name, servers: servers, connectTimeout: section.connectTimeout,
                responseTimeout: section.responseTimeout, keepalive: section.keepalive,
                keepaliveTimeout: section.keepaliveTimeout, failTimeout: section.failTimeout))
        }
        let signIn = try compileSignIn(config)
        let tokens = try compileTokens(config, ownSigner: signIn?.0.signer)
        let groupsClaim = config.tokens?.groupsClaim ?? "groups"
        let routes = config.routes.map { section in
            Route(name: section.name, host: section.host.map(hostMatch), pathPrefix: Array(section.pathPrefix.utf8),
                  methods: section.methods.map { $0.map { Array($0.utf8) } },
                  upstreamIndex: config.upstreams.firstIndex { $0.name == section.upstream } ?? 0,
                  policy: compilePolicy(section, config: config, groupsClaim: groupsClaim,
                                        sessionCookie: signIn?.0.cookieName))
        }
        var listen: [SocketAddress] = []
        for spec in config.server.listen {
            do {
                listen.append(try SocketAddress.resolve(host: spec.host, port: spec.port))
            } catch {
                throw IOError("\(config.sourcePath): server.listen: \(error.message)")
            }
        }
        let snapshot = ProxySnapshot(
            limits: limits,
            timeouts: ClientTimeouts(header: l.headerTimeout, idle: l.idleTimeout, body: l.bodyTimeout),
            trustedProxies: config.server.trustedProxies.map { IPNetwork(address: $0.address, prefixLength: $0.prefixLength) },
            upstreams: upstreams, routes: RouteTable(routes),
            accessLogEnabled: config.accessLog.destination != .off,
            strippedHeaderPrefixes: folded(config.stripHeaderPrefixes),
            strippedHeaderNames: folded(config.strippedHeaderNames),
            tokens: tokens, loginURL: config.login.map { Array($0.url.utf8) }, signIn: signIn?.0)
        var admin: SocketAddress? = nil
        if let spec = config.admin?.listen {
            do {
                admin = try SocketAddress.resolve(host: spec.host, port: spec.port)
            } catch {
                throw IOError("\(config.sourcePath): admin.listen: \(error.message)")
            }
        }
        return RuntimePlan(snapshot: snapshot, listen: listen, workers: config.server.workers ?? defaultWorkers(),
                           drainTimeout: config.server.drainTimeout, accessLog: config.accessLog.destination,
                           sourcePath: config.sourcePath, admin: admin, signIn: signIn?.1)
    }

    private static func hostMatch(_ pattern: HostPattern) -> HostMatch {
        switch pattern {
        case .exact(let name): return .exact(Array(name.utf8))
        case .wildcard(let suffix): return .suffix(Array(suffix.utf8))
        }
    }

    /// One worker per online core.
    static func defaultWorkers() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}
