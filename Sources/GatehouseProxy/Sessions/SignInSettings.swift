package import GatehouseSessions

/// The gateway's own sign-in as one snapshot sees it: immutable, replaced by a reload.
package struct SignInSettings: Sendable {
    package enum Mode: Sendable, Equatable {
        /// A session cookie.
        case session
        /// An access JWT plus a rotating refresh token.
        case token
    }

    /// When the session cookie carries `Secure`.
    package enum SecureCookie: Sendable, Equatable {
        case auto, always, never
    }

    package let mode: Mode
    package let cookieName: [UInt8]
    package let secureCookie: SecureCookie
    /// `Lax`, `Strict` or `None`.
    package let sameSite: String
    package let absoluteTTL: Int64
    /// 0: no idle expiry.
    package let idleTTL: Int64
    /// 0: unlimited.
    package let maxPerUser: Int
    package let accessTTL: Int64
    package let refreshTTL: Int64
    /// Token mode: signs access tokens (its public key is also an issuer of `ProxySnapshot.tokens`).
    package let signer: GatewayTokenSigner?
    /// Where browsers go after signing out, and what the login form posts to.
    package let loginPath: String
    /// `sessions.cookie.domain`: the session cookie carries `Domain=` this, and `rd` may be an absolute URL on it
    /// or below it (``RedirectTarget``). Nil: host-only cookie, `rd` a path on this site only.
    package var cookieDomain: String? = nil
    /// `login.require_second_factor`: a users-file sign-in without a TOTP code is refused (a user with a
    /// `totp_secret` always gets the second step, whatever this says).
    package var requireSecondFactor = false

    package init(mode: Mode, cookieName: String, secureCookie: SecureCookie, sameSite: String, absoluteTTL: Int64,
                 idleTTL: Int64, maxPerUser: Int, accessTTL: Int64, refreshTTL: Int64, signer: GatewayTokenSigner?,
                 loginPath: String) {
        self.mode = mode
        self.cookieName = Array(cookieName.utf8)
        self.secureCookie = secureCookie
        self.sameSite = sameSite
        self.absoluteTTL = absoluteTTL
        self.idleTTL = idleTTL
        self.maxPerUser = maxPerUser
        self.accessTTL = accessTTL
        self.refreshTTL = refreshTTL
        self.signer = signer
        self.loginPath = loginPath
    }

    /// The issuer name of the gateway's own tokens, when it issues any.
    package var ownIssuer: String? { signer?.issuer }
}
