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
    /// The signed identity assertion added upstream (IdentityAssertion.swift); nil: none on this route.
    package let assertion: AssertionSettings?

    package init(mode: AuthMode, acceptsBearer: Bool, tokenCookies: [[UInt8]], requirement: Requirement?,
                 redirectsBrowsersToLogin: Bool, identityHeaders: [IdentityTemplate], forwardsAuthorization: Bool,
                 stripsCredentialCookies: Bool, sessionCookie: [UInt8]? = nil,
                 assertion: AssertionSettings? = nil) {
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

    /// A public route that forwards everything but identity headers.
    package static let open = RoutePolicy(
        mode: .none, acceptsBearer: false, tokenCookies: [], requirement: nil, redirectsBrowsersToLogin: false,
        identityHeaders: [], forwardsAuthorization: true, stripsCredentialCookies: false)
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
