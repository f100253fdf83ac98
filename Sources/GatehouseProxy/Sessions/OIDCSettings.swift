package import GatehouseAuth
package import GatehouseSessions

/// Sign-in through outside OpenID providers, as the endpoints use it; part of the snapshot, rebuilt whenever a
/// provider's keys or discovery document change (so each provider's ID-token verifier holds its current keys).
package struct OIDCSettings: Sendable {
    package struct Provider: Sendable {
        package let name: String
        package let title: String
        package let issuer: String
        package let clientID: String
        package let clientSecret: String
        package let scopes: [String]
        /// `<base_url>/.gatehouse/oidc/callback/<name>`.
        package let redirectURI: String
        package let userClaim: String
        package let emailClaim: String
        package let groupsClaim: String
        package let nameClaim: String
        package let allowedEmailDomains: [String]
        package let allowedGroups: [String]
        package let caFile: String?
        /// The discovery document; nil until it has been read (sign-ins through this provider then get 503).
        package let metadata: ProviderMetadata?
        /// `iss` = the issuer, `aud` = the client, the provider's current keys.
        package let verifier: TokenVerifier
        /// `id_token_signing_alg_values_supported` narrowed to asymmetric algorithms.
        package let algorithms: Set<JWSAlgorithm>
        /// After our logout, browsers go on to the provider's `end_session_endpoint` (when it has one).
        package let rpInitiatedLogout: Bool
        /// Where the provider sends the browser after its sign-out (registered there).
        package let postLogoutRedirectURI: String
        /// Back-channel logout tokens: the provider's keys, `aud` = the client, `exp` optional (§2.4).
        package let logoutVerifier: TokenVerifier

        package init(name: String, title: String, issuer: String, clientID: String, clientSecret: String,
                     scopes: [String], redirectURI: String, userClaim: String, emailClaim: String,
                     groupsClaim: String, nameClaim: String, allowedEmailDomains: [String], allowedGroups: [String],
                     caFile: String?, metadata: ProviderMetadata?, verifier: TokenVerifier,
                     algorithms: Set<JWSAlgorithm>, rpInitiatedLogout: Bool = true,
                     postLogoutRedirectURI: String = "", logoutVerifier: TokenVerifier? = nil) {
            self.name = name
            self.title = title
            self.issuer = issuer
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.scopes = scopes
            self.redirectURI = redirectURI
            self.userClaim = userClaim
            self.emailClaim = emailClaim
            self.groupsClaim = groupsClaim
            self.nameClaim = nameClaim
            self.allowedEmailDomains = allowedEmailDomains
            self.allowedGroups = allowedGroups
            self.caFile = caFile
            self.metadata = metadata
            self.verifier = verifier
            self.algorithms = algorithms
            self.rpInitiatedLogout = rpInitiatedLogout
            self.postLogoutRedirectURI = postLogoutRedirectURI
            self.logoutVerifier = logoutVerifier ?? verifier
        }

        /// The provider's end-session URL for RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2),
        /// or nil when this provider is not signed out that way (turned off, or no `end_session_endpoint`).
        package func endSessionURL(idToken: String?, state: String) -> String? {
            guard rpInitiatedLogout, let endpoint = metadata?.endSessionEndpoint else { return nil }
            var parameters: [(String, String)] = []
            if let idToken { parameters.append(("id_token_hint", idToken)) }
            parameters += [("post_logout_redirect_uri", postLogoutRedirectURI), ("client_id", clientID),
                           ("state", state)]
            let query = parameters.map { "\($0.0)=\(AuthorizationCodeFlow.formEncode($0.1))" }.joined(separator: "&")
            return endpoint + (endpoint.contains("?") ? "&" : "?") + query
        }
    }

    package let providers: [Provider]
    package let sealer: SignInFlowSealer
    /// Sign-ins through the users file are offered too (the login page shows the form).
    package let hasUsersFile: Bool
    /// Leeway for the ID token's times, in seconds.
    package let leewaySeconds: Int64

    package init(providers: [Provider], sealer: SignInFlowSealer, hasUsersFile: Bool, leewaySeconds: Int64) {
        self.providers = providers
        self.sealer = sealer
        self.hasUsersFile = hasUsersFile
        self.leewaySeconds = leewaySeconds
    }

    package func provider(named name: String) -> Provider? {
        providers.first { $0.name == name }
    }

    /// The pre-sign-in cookie's name.
    package static let flowCookie = "gatehouse_oidc"
    /// Where a provider's callback lands.
    package static let callbackPrefix = "/.gatehouse/oidc/callback/"
    package static let startPath = "/.gatehouse/oidc/start"
    /// Where providers send back-channel logout tokens (register `<base_url>` + this at the provider).
    package static let backchannelLogoutPath = "/.gatehouse/oidc/backchannel-logout"
}
