import GatehouseAuth
import GatehouseHTTP
import GatehouseIO
import GatehouseSessions

/// The `state` values already taken to a callback, for the whole process (every worker).
private let usedFlowStates = UsedFlowStates()

/// Sign-in through an outside OpenID provider (OpenID Connect Core 1.0 §3.1, authorization code flow with PKCE).
///
/// `GET /.gatehouse/oidc/start?provider=NAME&rd=/path` seals a new `state`, `nonce` and PKCE verifier into a
/// short-lived HttpOnly cookie and sends the browser to the provider. The provider sends it back to
/// `/.gatehouse/oidc/callback/NAME?code&state`: the cookie must open (MAC, expiry), name this provider and carry
/// this `state`, which is taken once; the code is exchanged at the token endpoint on the outbound pool (never on
/// the loop), the ID token checked strictly (``IDTokenCheck``), and the user gets an ordinary session in the
/// configured store, so devices, `max_per_user`, revocation, identity headers and `rd` work as for the users file.
extension SignInCall {
    /// `/.gatehouse/oidc/start?provider=NAME`, with `rd` if any.
    func oidcStartLink(_ provider: String, rd: String?) -> String {
        var link = OIDCSettings.startPath + "?provider=" + AuthorizationCodeFlow.formEncode(provider)
        if let rd { link += "&rd=" + AuthorizationCodeFlow.formEncode(rd) }
        return link
    }

    /// The login page's provider links.
    func providerLinks(rd: String?) -> [(title: String, link: String)] {
        (snapshot.oidc?.providers ?? []).map { (title: $0.title, link: oidcStartLink($0.name, rd: rd)) }
    }

    private func flowCookie(_ settings: SignInSettings, value: String, maxAge: Int64) -> String {
        // Lax: the provider's redirect back is a top-level GET from another site, which Strict would strip.
        cookie(OIDCSettings.flowCookie, value: value, maxAge: maxAge, path: "/.gatehouse/oidc/", sameSite: "Lax",
               settings)
    }

    func oidcStart(_ settings: SignInSettings) {
        guard let oidc = snapshot.oidc, let name = request.queryParameter("provider"),
              let provider = oidc.provider(named: name)
        else {
            finish(.error(404, "not_found", description: "no such identity provider"), error: "oidc-unknown-provider")
            return
        }
        guard let metadata = provider.metadata, let endpoint = metadata.authorizationEndpoint,
              metadata.tokenEndpoint != nil
        else {
            finish(.error(503, "temporarily_unavailable", description: "the identity provider cannot be reached yet",
                          headers: [("Retry-After", "5")]), error: "oidc-provider-unavailable")
            return
        }
        let rd = safeRedirect(request.queryParameter("rd"))
        let flow = SignInFlowState.start(provider: name, redirect: rd, now: services.now())
        let location = AuthorizationCodeFlow.authorizationURL(
            endpoint: endpoint, clientID: provider.clientID, redirectURI: provider.redirectURI, scopes: provider.scopes,
            flow: flow)
        finish(LocalResponse(status: 302, headers: [
            ("Location", location), ("Set-Cookie", flowCookie(settings, value: oidc.sealer.seal(flow), maxAge: 600)),
        ]))
    }

    /// A refused callback: a page saying so with a way to start again, the flow cookie cleared, the reason logged.
    private func refuseCallback(_ status: Int, _ message: String, reason: String, _ settings: SignInSettings) {
        let page = LoginPage.render(action: settings.loginPath, rd: nil, error: message, user: nil,
                                    providers: providerLinks(rd: nil), form: snapshot.oidc?.hasUsersFile ?? true)
        finish(.html(status, page, headers: LoginPage.securityHeaders
                        + [("Set-Cookie", flowCookie(settings, value: "", maxAge: 0))]), error: reason)
    }

    func oidcCallback(_ name: String, _ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        guard let oidc = snapshot.oidc, let provider = oidc.provider(named: name) else {
            finish(.error(404, "not_found"), error: "oidc-unknown-provider")
            return
        }
        let expired = "This sign-in has expired or was started elsewhere. Start again."
        let now = services.now()
        guard case .token(let value) = CredentialExtractor.cookie(head, name: Array(OIDCSettings.flowCookie.utf8)) else {
            return refuseCallback(400, expired, reason: "oidc-no-flow-cookie", settings)
        }
        let flow: SignInFlowState
        switch oidc.sealer.open(String(decoding: value, as: UTF8.self), now: now) {
        case .failure(let refusal): return refuseCallback(400, expired, reason: "oidc-\(refusal.rawValue)", settings)
        case .success(let opened): flow = opened
        }
        // The callback of another provider than the one this browser was sent to (a mix-up): refused.
        guard flow.provider == name else {
            return refuseCallback(400, expired, reason: "oidc-provider-mismatch", settings)
        }
        guard let state = request.queryParameter("state"),
              ConstantTime.equal(Array(state.utf8), Array(flow.state.utf8))
        else { return refuseCallback(400, expired, reason: "oidc-state-mismatch", settings) }
        if let error = request.queryParameter("error") {
            let code = error.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) ? String(error.prefix(64)) : "invalid"
            return refuseCallback(401, "The identity provider did not sign you in.", reason: "oidc-provider-\(code)",
                                  settings)
        }
        guard let code = request.queryParameter("code"), !code.isEmpty, code.utf8.count <= 4096 else {
            return refuseCallback(400, expired, reason: "oidc-no-code", settings)
        }
        // Taken once: a replayed callback (the same cookie and state again) is refused within the cookie's life too.
        guard usedFlowStates.take(flow.state, expiresAt: flow.expiresAt, now: now) else {
            return refuseCallback(400, expired, reason: "oidc-state-replayed", settings)
        }
        guard let tokenEndpoint = provider.metadata?.tokenEndpoint, let outbound = sessions.outbound else {
            finish(.error(503, "temporarily_unavailable", headers: [("Retry-After", "5")]),
                   error: "oidc-provider-unavailable")
            return
        }
        let exchange = HTTPSRequest(
            url: tokenEndpoint,
            formBody: AuthorizationCodeFlow.tokenRequestBody(code: code, redirectURI: provider.redirectURI,
                                                             verifier: flow.verifier),
            headers: [(name: "Authorization", value: AuthorizationCodeFlow.basicAuthorization(
                          clientID: provider.clientID, secret: provider.clientSecret)),
                      (name: "Accept", value: "application/json")],
            caFile: provider.caFile, timeout: .seconds(10), maxBytes: 256 << 10)
        let queued = outbound(exchange) { outcome in
            let failed = "The identity provider could not complete the sign-in. Try again."
            guard case .finished(let result) = outcome else {
                return refuseCallback(503, failed, reason: "oidc-exchange-queue-timeout", settings)
            }
            let response: HTTPSResponse
            switch result {
            case .failure(let failure):
                return refuseCallback(502, failed, reason: "oidc-token-endpoint: \(failure.reason)", settings)
            case .success(let answered): response = answered
            }
            switch AuthorizationCodeFlow.readTokenAnswer(status: response.status, body: response.body) {
            case .refused(let reason):
                refuseCallback(502, failed, reason: "oidc-\(reason)", settings)
            case .tokens(let idToken, _):
                switch IDTokenCheck.verify(Array(idToken.utf8), verifier: provider.verifier, clientID: provider.clientID,
                                           nonce: flow.nonce, allowed: provider.algorithms, now: services.now()) {
                case .failure(let failure):
                    refuseCallback(401, "The identity provider's answer was refused.", reason: "oidc-\(failure.reason)",
                                   settings)
                case .success(let token):
                    signedIn(token, idToken: idToken, provider: provider, flow: flow, settings, sessions)
                }
            }
        }
        if !queued {
            finish(.error(503, "temporarily_unavailable", description: SignInEndpoints.busyMessage,
                          headers: [("Retry-After", "1")]), error: "oidc-exchange-queue-full")
        }
    }

    /// The ID token passed: who it names, the provider's restrictions, then a session like any other.
    private func signedIn(_ token: VerifiedToken, idToken: String, provider: OIDCSettings.Provider,
                          flow: SignInFlowState,
                          _ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        func text(_ claim: String) -> String? {
            if case .string(let value)? = token.claim(claim), !value.isEmpty { return value }
            return nil
        }
        guard let user = text(provider.userClaim), user.utf8.count <= 256 else {
            return refuseCallback(403, "Your account at the identity provider has no user name here.",
                                  reason: "oidc-no-user-claim", settings)
        }
        let email = text(provider.emailClaim)
        var groups: [String] = []
        switch token.claim(provider.groupsClaim) {
        case .string(let one)?: groups = [one]
        case .array(let items)?: groups = items.compactMap { if case .string(let g) = $0 { return g } else { return nil } }
        default: break
        }
        if !provider.allowedEmailDomains.isEmpty {
            var verified = false
            if case .bool(true)? = token.claim("email_verified") { verified = true }
            let domain = email.flatMap { $0.split(separator: "@").last.map { $0.lowercased() } }
            guard verified, let domain, email?.contains("@") == true, provider.allowedEmailDomains.contains(domain) else {
                return refuseCallback(403, "Your account is not allowed to sign in here.",
                                      reason: "oidc-email-domain-not-allowed", settings)
            }
        }
        if !provider.allowedGroups.isEmpty, !groups.contains(where: provider.allowedGroups.contains) {
            return refuseCallback(403, "Your account is not allowed to sign in here.",
                                  reason: "oidc-group-not-allowed", settings)
        }
        let now = services.now()
        let secret = Secrets.newSecret()
        let record = SessionRecord(
            key: secret.key, handle: Secrets.newHandle(), kind: .cookie, user: user, email: email, groups: groups,
            displayName: text(provider.nameClaim), createdAt: now, lastSeenAt: now, expiresAt: now + settings.absoluteTTL,
            idleTimeout: settings.idleTTL, userAgent: String((request.header("user-agent") ?? "").prefix(256)),
            clientAddress: ClientAddress.text(clientAddressBytes),
            provider: providerLink(token, idToken: idToken, provider: provider))
        let store = sessions.store
        endPresentedSession(settings, store) {
            store.create(record, maxPerUser: settings.maxPerUser, now: now) { result in
                switch result {
                case .failure(let error) where error.reason == "user-disabled":
                    refuseCallback(403, "Your account is disabled.", reason: "oidc-user-disabled", settings)
                case .failure(let error):
                    storeFailed(error)
                case .success:
                    services.count(.signIn)
                    finish(.seeOther(flow.redirect ?? "/", headers: [
                        ("Set-Cookie", sessionCookie(settings, value: secret.text, maxAge: settings.absoluteTTL)),
                        ("Set-Cookie", flowCookie(settings, value: "", maxAge: 0)),
                    ]))
                }
            }
        }
    }
}
