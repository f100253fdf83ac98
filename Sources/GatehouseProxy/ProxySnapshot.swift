package import GatehouseHTTP
package import GatehouseIO

/// An IP network for `trusted_proxies`, compared against a peer's address bytes.
package struct IPNetwork: Sendable, Equatable {
    package let address: [UInt8]
    package let prefixLength: Int

    package init(address: [UInt8], prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// True when `bytes` (4 or 16 bytes) lies inside this network. IPv4-mapped IPv6 peers match IPv4 networks.
    package func contains(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { contains($0) }
    }

    /// The same, for bytes parsed in place (a forwarded address read from a header, without copying).
    package func contains(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var start = 0
        if address.count == 4, bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }),
            bytes[10] == 0xff, bytes[11] == 0xff
        {
            start = 12
        }
        guard bytes.count - start == address.count else { return false }
        var remaining = prefixLength
        for i in 0..<address.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
            if bytes[start + i] & mask != address[i] & mask { return false }
            remaining -= bits
        }
        return true
    }
}

/// The settings of one upstream, as the data path uses them.
package struct UpstreamSettings: Sendable {
    package let name: String
    package let servers: [SocketAddress]
    /// Server addresses pre-rendered for access logs.
    package let serverNames: [String]
    package let connectTimeout: Duration
    package let responseTimeout: Duration
    package let keepalive: Int
    package let keepaliveTimeout: Duration
    package let failTimeout: Duration
    /// TLS toward the servers (nil: plain HTTP), and per server the name its certificate must carry.
    package let tls: TLSClientContext?
    package let tlsServerNames: [String]
    /// `shared_secret_header`: `Name: secret\r\n`, sent with every request to this upstream; nil: none.
    package var sharedSecretLine: [UInt8]? = nil

    package init(name: String, servers: [SocketAddress], connectTimeout: Duration, responseTimeout: Duration,
                 keepalive: Int, keepaliveTimeout: Duration, failTimeout: Duration, tls: TLSClientContext? = nil,
                 tlsServerNames: [String] = []) {
        self.tls = tls
        self.tlsServerNames = tlsServerNames
        self.name = name
        self.servers = servers
        self.serverNames = servers.map(\.description)
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.keepalive = keepalive
        self.keepaliveTimeout = keepaliveTimeout
        self.failTimeout = failTimeout
    }
}

/// Client-side timeouts.
package struct ClientTimeouts: Sendable {
    package let header: Duration
    package let idle: Duration
    package let body: Duration
    /// A WebSocket tunnel with no bytes either way for this long is closed.
    package let tunnelIdle: Duration

    package init(header: Duration, idle: Duration, body: Duration, tunnelIdle: Duration = .seconds(3600)) {
        self.header = header
        self.idle = idle
        self.body = body
        self.tunnelIdle = tunnelIdle
    }
}

/// Everything the data path needs from the configuration, immutable and shared by all workers.
///
/// Built once by the server's snapshot compiler; a reload builds a new one and hands it to each worker,
/// so a request in flight keeps the snapshot it started with.
package final class ProxySnapshot: Sendable {
    package let limits: HTTPLimits
    package let timeouts: ClientTimeouts
    package let trustedProxies: [IPNetwork]
    package let upstreams: [UpstreamSettings]
    package let routes: RouteTable
    package let accessLogEnabled: Bool
    /// Client-sent headers whose names start with one of these (lowercase, `_` read as `-`) never reach an
    /// upstream: the identity namespace belongs to the gateway, on every route, public ones too.
    package let strippedHeaderPrefixes: [[UInt8]]

    /// The prefix stripped when the config names none.
    package static let defaultStrippedPrefixes: [[UInt8]] = [Array("x-auth-".utf8)]

    /// Client-sent headers with exactly these names (lowercase, `-`) are removed too: every name an identity
    /// template injects on any route.
    package let strippedHeaderNames: [[UInt8]]
    /// `server.underscores_in_headers: forward`: request fields whose names hold `_` are forwarded (but the
    /// spellings of hop-by-hop and forwarding fields); by default they are dropped, as nginx does.
    package let forwardsUnderscoreHeaders: Bool
    /// How JWTs are verified; nil when no issuer is configured.
    package let tokens: TokenSettings?
    /// Where `unauthenticated: login` sends browsers.
    package let loginURL: [UInt8]?
    /// The certificates TLS listeners present (new handshakes use the newest snapshot's); nil without TLS.
    package let tls: TLSServerContext?
    /// The gateway's own sign-in (`login.users_file`); nil when it signs nobody in.
    package let signIn: SignInSettings?
    /// Sign-in through outside OpenID providers (`login.oidc`); nil without.
    package let oidc: OIDCSettings?
    /// Client connections one worker keeps open at most (`server.limits.max_connections`, resolved).
    package let maxConnections: Int
    /// Who the admin listener answers (Host names, cross-site refusal, the bearer secret).
    package let admin: AdminAccess
    /// `{"keys":[...]}`: the gateway's public signing keys (access tokens, assertions), for `/.gatehouse/jwks.json`
    /// and the admin listener's `/jwks.json`; nil when the gateway signs nothing.
    package let jwks: [UInt8]?

    package init(limits: HTTPLimits, timeouts: ClientTimeouts, trustedProxies: [IPNetwork],
                 upstreams: [UpstreamSettings], routes: RouteTable, accessLogEnabled: Bool,
                 strippedHeaderPrefixes: [[UInt8]] = ProxySnapshot.defaultStrippedPrefixes,
                 strippedHeaderNames: [[UInt8]] = [], tokens: TokenSettings? = nil, loginURL: [UInt8]? = nil,
                 tls: TLSServerContext? = nil, signIn: SignInSettings? = nil, forwardsUnderscoreHeaders: Bool = false,
                 maxConnections: Int = .max, admin: AdminAccess = AdminAccess(), oidc: OIDCSettings? = nil,
                 jwks: [UInt8]? = nil) {
        self.jwks = jwks
        self.oidc = oidc
        self.forwardsUnderscoreHeaders = forwardsUnderscoreHeaders
        self.maxConnections = maxConnections
        self.tls = tls
        self.admin = admin
        self.signIn = signIn
        self.strippedHeaderPrefixes = strippedHeaderPrefixes
        self.strippedHeaderNames = strippedHeaderNames
        self.tokens = tokens
        self.loginURL = loginURL
        self.limits = limits
        self.timeouts = timeouts
        self.trustedProxies = trustedProxies
        self.upstreams = upstreams
        self.routes = routes
        self.accessLogEnabled = accessLogEnabled
    }

    /// The same snapshot with other token settings: how a provider's new key set reaches the workers (posted like a
    /// reload, so a request in flight keeps the keys it started with). Keep in step with `init`.
    package func replacingTokens(_ tokens: TokenSettings?, oidc: OIDCSettings?) -> ProxySnapshot {
        ProxySnapshot(limits: limits, timeouts: timeouts, trustedProxies: trustedProxies, upstreams: upstreams,
                      routes: routes, accessLogEnabled: accessLogEnabled, strippedHeaderPrefixes: strippedHeaderPrefixes,
                      strippedHeaderNames: strippedHeaderNames, tokens: tokens, loginURL: loginURL, tls: tls,
                      signIn: signIn, forwardsUnderscoreHeaders: forwardsUnderscoreHeaders,
                      maxConnections: maxConnections, admin: admin, oidc: oidc, jwks: jwks)
    }

    /// True when the peer's X-Forwarded-* headers are kept.
    package func isTrusted(_ peer: SocketAddress) -> Bool {
        if trustedProxies.isEmpty { return false }
        let bytes = peer.addressBytes
        return trustedProxies.contains { $0.contains(bytes) }
    }

    /// True when the address (4 or 16 bytes, e.g. an `X-Forwarded-For` element) is a trusted proxy's.
    package func isTrusted(addressBytes: UnsafeRawBufferPointer) -> Bool {
        trustedProxies.contains { $0.contains(addressBytes) }
    }
}
