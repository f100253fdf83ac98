package import GatehouseAuth

/// Whether a route authenticates, and what happens when it cannot.
package enum AuthMode: Sendable, Equatable {
    /// Public: nothing is checked (client-sent identity headers are still stripped).
    case none
    /// A valid credential is required.
    case required
    /// A valid credential gives an identity; no credential gives an anonymous request; a bad one is refused.
    case optional
}

/// A route's authentication and identity settings, compiled once per snapshot.
///
/// A class (immutable), like `Route`: read per request, where copying its arrays would retain each.
package final class RoutePolicy: Sendable {
    package let mode: AuthMode
    /// Read the bearer token from `Authorization`.
    package let acceptsBearer: Bool
    /// Read a JWT from these cookies.
    package let tokenCookies: [[UInt8]]
    /// Read the gateway's session cookie (`accept: [session]`).
    package let acceptsSession: Bool
    /// Cookies removed from the `Cookie` header sent upstream (`tokenCookies`, plus the session cookie when the
    /// route accepts it), unless `strip_credential_cookies: false`.
    package let credentialCookies: [[UInt8]]
    /// What an authenticated identity must satisfy (nil: being authenticated is enough).
    package let requirement: Requirement?
    /// Send browsers to the login URL instead of answering 401.
    package let redirectsBrowsersToLogin: Bool
    /// The identity headers injected upstream.
    package let identityHeaders: [IdentityTemplate]
    /// Pass the client's `Authorization` header on to the upstream.
    package let forwardsAuthorization: Bool
    /// Remove `tokenCookies` from the `Cookie` header sent upstream.
    package let stripsCredentialCookies: Bool
    /// `accept: [basic]`: the realm and cache of users-file passwords in `Authorization: Basic` (nil: not read).
    package let basic: BasicPolicy?
    /// `inject_basic` (the route's, else its upstream's): `Authorization: Basic` sent upstream (nil: none).
    package let injectBasic: BasicInjection?
    /// The signed identity assertion added upstream (IdentityAssertion.swift); nil: none on this route.
    package let assertion: AssertionSettings?

    package init(mode: AuthMode, acceptsBearer: Bool, tokenCookies: [[UInt8]], requirement: Requirement?,
                 redirectsBrowsersToLogin: Bool, identityHeaders: [IdentityTemplate], forwardsAuthorization: Bool,
                 stripsCredentialCookies: Bool, sessionCookie: [UInt8]? = nil, basic: BasicPolicy? = nil,
                 injectBasic: BasicInjection? = nil, assertion: AssertionSettings? = nil) {
        self.basic = basic
        self.injectBasic = injectBasic
        self.assertion = assertion
        self.mode = mode
        self.acceptsBearer = acceptsBearer
        self.tokenCookies = tokenCookies
        self.acceptsSession = sessionCookie != nil
        self.credentialCookies = tokenCookies + (sessionCookie.map { [$0] } ?? [])
        self.requirement = requirement
        self.redirectsBrowsersToLogin = redirectsBrowsersToLogin
        self.identityHeaders = identityHeaders
        self.forwardsAuthorization = forwardsAuthorization
        self.stripsCredentialCookies = stripsCredentialCookies
    }

    /// The client's `Authorization` never reaches the upstream: the gateway injects its own, or the route reads a
    /// credential from it (bearer, basic) and `forward_authorization` is off. Never the user's password upstream
    /// unless the operator asked for it.
    package var dropsClientAuthorization: Bool {
        injectBasic != nil || ((acceptsBearer || basic != nil) && !forwardsAuthorization)
    }

    /// A public route that forwards everything but identity headers.
    package static let open = RoutePolicy(
        mode: .none, acceptsBearer: false, tokenCookies: [], requirement: nil, redirectsBrowsersToLogin: false,
        identityHeaders: [], forwardsAuthorization: true, stripsCredentialCookies: false)
}

/// How a route reads `Authorization: Basic` (RFC 7617).
package struct BasicPolicy: Sendable {
    /// `WWW-Authenticate: Basic realm="...", charset="UTF-8"` (the realm was checked to need no escaping).
    package let challenge: String
    /// Seconds a verified pair is answered from the worker's memory (0: every request hashes).
    package let cacheTTL: Int64

    package init(realm: String, cacheTTL: Int64) {
        challenge = "Basic realm=\"\(realm)\", charset=\"UTF-8\""
        self.cacheTTL = cacheTTL
    }
}

/// `Authorization: Basic` the gateway sends upstream: the user name rendered from the identity, the password
/// the upstream's secret (never the client's; the client's `Authorization` is removed).
package struct BasicInjection: Sendable {
    /// The user-name template (its header name is unused).
    package let username: IdentityTemplate
    /// `:` followed by the secret, appended after the rendered user name.
    package let colonAndPassword: [UInt8]

    package init(username: IdentityTemplate, password: [UInt8]) {
        self.username = username
        colonAndPassword = [UInt8(ascii: ":")] + password
    }
}

/// The token side of a snapshot: how JWTs are verified.
package struct TokenSettings: Sendable {
    package let verifier: TokenVerifier
    package let leewaySeconds: Int64
    /// Entries of each worker's verified-token cache (0 = no cache).
    package let cacheSize: Int
    /// The claim that holds groups.
    package let groupsClaim: String

    package init(verifier: TokenVerifier, leewaySeconds: Int64, cacheSize: Int, groupsClaim: String) {
        self.verifier = verifier
        self.leewaySeconds = leewaySeconds
        self.cacheSize = cacheSize
        self.groupsClaim = groupsClaim
    }
}
