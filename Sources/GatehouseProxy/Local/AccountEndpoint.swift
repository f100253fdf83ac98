import GatehouseAuth
import GatehouseSessions

/// The account page (`GET /.gatehouse/account`) and its forms (`POST`, field `action`): sign out one other
/// device, every other device, or this one. Session mode only (the page is for browsers holding the cookie).
///
/// A POST must pass two checks before anything ends: not cross-site (Sec-Fetch-Site / Origin, as every
/// state-changing endpoint) and the page's `form_token`, derived from this very session (`FormToken`). It answers
/// 303 back to the page with a `done` code the page turns into a short confirmation.
extension SignInCall {
    private var sessionKey: SessionKey? {
        guard case .token(let value) = CredentialExtractor.cookie(request.head, name: services.snapshot.signIn?.cookieName ?? []),
            let key = Secrets.key(ofPresented: value)
        else { return nil }
        return key
    }

    /// Signed-in callers get `body`; anyone else the login page (with `rd` back here), a 503 or a 429.
    private func withAccountCaller(_ settings: SignInSettings, _ sessions: SessionEndpointServices,
                                   _ body: @escaping (_ user: String, _ handle: String, _ key: SessionKey) -> Void) {
        guard settings.mode == .session else {
            return finish(.error(404, "not_found"), error: "account-page-in-token-mode")
        }
        guard let key = sessionKey else { return toLogin(settings) }
        caller(settings, sessions) { who in
            switch who {
            case .signedIn(let user, let handle): body(user, handle, key)
            case .anonymous: toLogin(settings)
            case .unknown: finish(.storeUnavailable, error: "session-store")
            case .limited(let wait): unknownCookieLimited(wait)
            }
        }
    }

    private func toLogin(_ settings: SignInSettings) {
        finish(.seeOther(settings.loginPath + "?rd=" + AccountPage.path), error: "no-credential")
    }

    func accountPage(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        withAccountCaller(settings, sessions) { user, handle, key in
            let now = services.now()
            sessions.store.sessions(of: user, now: now) { result in
                switch result {
                case .failure(let error): storeFailed(error)
                case .success(let records):
                    let own = records.first { $0.handle == handle }
                    let account = sessions.users().account(named: user)
                    let page = AccountPage.render(
                        user: user, email: own?.email ?? account?.email, groups: own?.groups ?? account?.groups ?? [],
                        sessions: records, current: handle, token: FormToken.make(for: key),
                        notice: AccountPage.notice(request.queryParameter("done")), now: now)
                    finish(.html(200, page, headers: LoginPage.securityHeaders))
                }
            }
        }
    }

    func accountAction(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        if let refusal = crossSiteRefusal() { return finish(refusal, error: "cross-site-account") }
        guard case .success(let fields) = FormFields.read(request.body, contentType: request.header("content-type")) else {
            return finish(message(400, "That form could not be read."), error: "account-bad-body")
        }
        withAccountCaller(settings, sessions) { user, handle, key in
            guard FormToken.isValid(fields["form_token"], for: key) else {
                return finish(message(403, "This page has expired. Open your account page again and retry."),
                              error: "account-bad-form-token")
            }
            let store = sessions.store
            switch fields["action"] {
            case "device":
                guard let target = fields["handle"], target != handle else {
                    return finish(message(400, "Choose another device to sign out."), error: "account-bad-handle")
                }
                store.delete(handle: target, of: user) { result in
                    switch result {
                    case .failure(let error): storeFailed(error)
                    case .success(false):
                        // Not one of this user's sessions (ended already, or someone else's): nothing ended.
                        finish(message(404, "That device is not signed in."), error: "no-such-session")
                    case .success(true):
                        services.count(.signOut)
                        finish(.seeOther(AccountPage.path + "?done=device"))
                    }
                }
            case "others":
                store.sessions(of: user, now: services.now()) { result in
                    switch result {
                    case .failure(let error): storeFailed(error)
                    case .success(let records):
                        let others = records.map(\.handle).filter { $0 != handle }
                        endAll(others[...], of: user, store) {
                            finish(.seeOther(AccountPage.path + (others.isEmpty ? "?done=none" : "?done=others")))
                        }
                    }
                }
            case "signout":
                providerLinkBeforeLogout(key, store) { link in
                    store.delete(key) { result in
                        switch result {
                        case .failure(let error): storeFailed(error)
                        case .success(let ended):
                            if ended { services.count(.signOut) }
                            // A provider sign-in: on to the provider's end-session page (RP-initiated logout).
                            let next = (ended ? providerSignOutLocation(link) : nil) ?? safeRedirect(fields["rd"])
                                ?? settings.loginPath
                            finish(.seeOther(next,
                                             headers: [("Set-Cookie", sessionCookie(settings, value: "", maxAge: 0))]))
                        }
                    }
                }
            default:
                finish(message(400, "Unknown action."), error: "account-bad-action")
            }
        }
    }

    /// Ends `handles` one after another (a remote store answers each in turn), then `next`.
    private func endAll(_ handles: ArraySlice<String>, of user: String, _ store: any SessionStore,
                        then next: @escaping () -> Void) {
        guard let first = handles.first else { return next() }
        store.delete(handle: first, of: user) { result in
            switch result {
            case .failure(let error): storeFailed(error)
            case .success(let ended):
                if ended { services.count(.signOut) }
                endAll(handles.dropFirst(), of: user, store, then: next)
            }
        }
    }

    /// A short page saying what went wrong, with a link back to the account page.
    private func message(_ status: Int, _ text: String) -> LocalResponse {
        let page = PageShell.message(title: "Your account", text, back: (AccountPage.path, "Back to your account"))
        return .html(status, page, headers: LoginPage.securityHeaders)
    }
}
