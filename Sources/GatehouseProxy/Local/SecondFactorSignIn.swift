import GatehouseAuth
import GatehouseHTTP
import GatehouseSessions

/// The second step of the users-file sign-in (issue 14): after a right password, a user with a `totp_secret`
/// (or any user, under `login.require_second_factor`) gets no session but a sealed, five-minute "password passed"
/// cookie (`SecondFactorPending`) and a 303 to the code page; the code's POST verifies it (RFC 6238, +-1 step, in
/// constant time), spends its step and the pending cookie in the store's `SecondFactorLedger` (one atomic step on
/// Redis, across gateways), and only then creates the session, with `amr: ["pwd", "otp"]`.
///
/// Wrong and replayed codes count as failed sign-ins in the same throttle as passwords (per user and per client
/// address, shared on Redis), so six digits guessed in a loop get 429 with `Retry-After` after
/// `login.rate_limit.failures` tries. A right password does not clear the user's count; only a right code does.
extension SignInCall {
    /// The pending cookie: HttpOnly, `SameSite=Strict`, only sent under `/.gatehouse/`.
    static let pendingCookieName = "gatehouse_2fa"

    /// After a right password: the pending cookie and the way to the code page, or a refusal when the second
    /// factor is required and the user has none.
    func beginSecondFactor(_ settings: SignInSettings, account: UserAccount, rd: String?, isForm: Bool) {
        guard let secret = account.totpSecret else {
            services.count(.signInFailure)
            let message = "This account has no second factor, which this gateway requires. Ask the administrator "
                + "to enrol one (gatehouse totp enroll)."
            if isForm {
                finish(.html(403, LoginPage.render(action: settings.loginPath, rd: rd, error: message, user: account.name),
                             headers: LoginPage.securityHeaders), error: "login-second-factor-not-enrolled")
            } else {
                finish(.error(403, "second_factor_not_enrolled", description: "login.require_second_factor is set "
                              + "and this user has no totp_secret"), error: "login-second-factor-not-enrolled")
            }
            return
        }
        let pending = SecondFactorPending.start(user: account.name, client: throttleAddress, redirect: rd,
                                                now: services.now())
        let cookie = pendingCookie(settings, value: pending.seal(secret: secret, passwordHash: account.passwordHash),
                                   maxAge: SecondFactorPending.lifetime)
        if isForm {
            finish(.seeOther(SecondFactorPage.path, headers: [("Set-Cookie", cookie)]))
        } else {
            finish(.error(401, "second_factor_required",
                          description: "POST the TOTP code as \"code\" to \(SecondFactorPage.path) with this cookie",
                          headers: [("Set-Cookie", cookie)]), error: "login-second-factor-pending")
        }
    }

    /// GET of the code page: only with a pending cookie that opens; otherwise back to the password.
    func secondFactorPage(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        switch openPending(sessions) {
        case .success:
            finish(.html(200, SecondFactorPage.render(error: nil), headers: LoginPage.securityHeaders))
        case .failure(let refusal):
            finish(.seeOther(settings.loginPath, headers: [("Set-Cookie", pendingCookie(settings, value: "", maxAge: 0))]),
                   error: refusal.rawValue)
        }
    }

    /// POST of the code.
    func secondFactor(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        if let refusal = crossSiteRefusal() {
            finish(refusal, error: "cross-site-second-factor")
            return
        }
        let isForm = wantsForm
        guard case .success(let fields) = FormFields.read(request.body, contentType: request.header("content-type"))
        else {
            finish(.error(400, "invalid_request", description: "send a form or a JSON object"), error: "second-factor-bad-body")
            return
        }
        let pending: SecondFactorPending
        switch openPending(sessions) {
        case .success(let opened): pending = opened
        case .failure(let refusal):
            startAgain(settings, isForm: isForm, reason: refusal.rawValue)
            return
        }
        // Authenticator apps show "123 456": the blank is not part of the code.
        let code = String((fields["code"] ?? "").unicodeScalars.filter { $0 != " " }.prefix(16))
        let user = pending.user
        let address = throttleAddress
        let now = services.now()
        let throttle = sessions.throttle
        if let wait = throttle.retryAfter(address: address, user: user, now: now) {
            codeThrottled(wait, isForm: isForm)
            return
        }
        guard let shared = sessions.store as? any SharedSignInThrottle, throttle.maxFailures > 0 else {
            checkCode(code, pending, settings, sessions, reservedAt: nil, isForm: isForm)
            return
        }
        shared.reserveSignIn(address: address, user: user, maxFailures: throttle.maxFailures,
                             window: throttle.window, now: now) { result in
            switch result {
            case .success(let wait?): codeThrottled(wait, isForm: isForm)
            case .success(nil): checkCode(code, pending, settings, sessions, reservedAt: now, isForm: isForm)
            case .failure:
                services.count(.signInThrottleFallback)
                checkCode(code, pending, settings, sessions, reservedAt: nil, isForm: isForm)
            }
        }
    }

    /// Verifies the code (three HMACs: cheap enough for the loop), then spends it in the ledger.
    private func checkCode(_ code: String, _ pending: SecondFactorPending, _ settings: SignInSettings,
                           _ sessions: SessionEndpointServices, reservedAt: Int64?, isForm: Bool) {
        let now = services.now()
        guard let account = sessions.users().account(named: pending.user), !account.disabled,
              let secret = account.totpSecret
        else {
            startAgain(settings, isForm: isForm, reason: "second-factor-user-gone")
            return
        }
        guard let step = TOTP.matchingStep(secret: secret, presented: code, time: now) else {
            codeRefused(pending, sessions, isForm: isForm, message: "Wrong code. Enter the code your app shows now.",
                        reason: "second-factor-wrong-code")
            return
        }
        guard let ledger = sessions.store as? any SecondFactorLedger else {
            finish(.storeUnavailable, error: "second-factor-no-ledger")
            return
        }
        ledger.acceptSecondFactor(user: pending.user, step: step, pending: pending.nonce,
                                  pendingExpiresAt: pending.expiresAt, now: now) { result in
            switch result {
            case .failure(let error):
                storeFailed(error)
            case .success(.replayed):
                codeRefused(pending, sessions, isForm: isForm,
                            message: "That code was already used. Wait for the next one and enter it.",
                            reason: "second-factor-replayed")
            case .success(.pendingSpent):
                startAgain(settings, isForm: isForm, reason: "second-factor-state-reused")
            case .success(.accepted):
                let address = throttleAddress
                sessions.throttle.recordSuccess(address: address, user: pending.user)
                if let reservedAt, let shared = sessions.store as? any SharedSignInThrottle {
                    shared.releaseSignIn(address: address, user: pending.user, reservedAt: reservedAt, signedIn: true)
                }
                startSession(settings, sessions, account: account, amr: ["pwd", "otp"], rd: pending.redirect,
                             isForm: isForm, extraHeaders: [("Set-Cookie", pendingCookie(settings, value: "", maxAge: 0))])
            }
        }
    }

    /// A wrong or replayed code: one more failure for the user and the address; the page again.
    private func codeRefused(_ pending: SecondFactorPending, _ sessions: SessionEndpointServices, isForm: Bool,
                             message: String, reason: String) {
        sessions.throttle.recordFailure(address: throttleAddress, user: pending.user, now: services.now())
        services.count(.signInFailure)
        if isForm {
            finish(.html(401, SecondFactorPage.render(error: message), headers: LoginPage.securityHeaders), error: reason)
        } else {
            finish(.error(401, "invalid_code", description: message), error: reason)
        }
    }

    private func codeThrottled(_ wait: Int64, isForm: Bool) {
        services.count(.signInThrottled)
        let retry = ("Retry-After", String(wait))
        if isForm {
            let message = "Too many wrong codes. Try again in \(SignInEndpoints.humanSeconds(wait))."
            finish(.html(429, SecondFactorPage.render(error: message), headers: LoginPage.securityHeaders + [retry]),
                   error: "second-factor-throttled")
        } else {
            finish(.error(429, "too_many_attempts", description: "too many failed sign-ins; try again later",
                          headers: [retry]), error: "second-factor-throttled")
        }
    }

    /// The pending sign-in is unusable (absent, forged, expired, spent, from another client): back to the password,
    /// with the cookie cleared.
    private func startAgain(_ settings: SignInSettings, isForm: Bool, reason: String) {
        let clear = ("Set-Cookie", pendingCookie(settings, value: "", maxAge: 0))
        if isForm {
            finish(.html(401, LoginPage.render(action: settings.loginPath, rd: nil,
                                               error: "Your sign-in expired. Enter your password again.", user: nil),
                         headers: LoginPage.securityHeaders + [clear]), error: reason)
        } else {
            finish(.error(401, "invalid_request", description: "no usable pending sign-in; sign in again",
                          headers: [clear]), error: reason)
        }
    }

    /// The presented pending cookie, opened against the users file and bound to this client.
    private func openPending(_ sessions: SessionEndpointServices) -> Result<SecondFactorPending, SecondFactorPending.Refusal> {
        guard case .token(let value) = CredentialExtractor.cookie(head, name: Array(Self.pendingCookieName.utf8)) else {
            return .failure(.malformed)
        }
        let users = sessions.users()
        return SecondFactorPending.open(String(decoding: value, as: UTF8.self), client: throttleAddress,
                                        now: services.now()) { name in
            guard let account = users.account(named: name), let secret = account.totpSecret else { return nil }
            return (secret, account.passwordHash)
        }
    }

    private func pendingCookie(_ settings: SignInSettings, value: String, maxAge: Int64) -> String {
        cookie(Self.pendingCookieName, value: value, maxAge: maxAge, path: "/.gatehouse/", sameSite: "Strict", settings)
    }
}
