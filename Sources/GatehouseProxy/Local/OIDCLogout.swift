import GatehouseAuth
import GatehouseSessions
import Logging
import Synchronization

private let logger = Logger(label: "gatehouse.oidc")

/// Refusals are logged at most once a second (with how many were not), so a flood of junk posts cannot flood the
/// log; every refusal's reason is also in its access-log line and counted in the metric.
private let refusalLog = Mutex<(second: Int64, suppressed: Int)>((second: 0, suppressed: 0))

/// Provider-side sign-out (issue 12 part 3).
///
/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): after our own logout of a session that was
/// signed in through a provider, a browser is sent (303) on to the provider's `end_session_endpoint` with
/// `id_token_hint`, `post_logout_redirect_uri`, `client_id` and a `state`, so the person is signed out there too;
/// API callers keep their 204.
///
/// Back-Channel Logout 1.0: `POST /.gatehouse/oidc/backchannel-logout` with `logout_token=<JWT>` from the
/// provider (server to server: no cookie, no cross-site check). The token is checked strictly
/// (``LogoutTokenCheck``) with the provider's own keys; its `jti` is taken once in the shared store and the
/// sessions it names end there in the same step (`ProviderSessionStore`), as a device sign-out ends one: on Redis
/// every gateway's workers drop them from their caches at once. 200 on success, 400 with a JSON error otherwise.
extension SignInCall {
    /// What a new session remembers of the provider sign-in (nil when the token's `sub` or `sid` is unusable).
    func providerLink(_ token: VerifiedToken, idToken: String, provider: OIDCSettings.Provider) -> ProviderLink? {
        var sid: String?
        if case .string(let value)? = token.claim("sid") { sid = value }
        guard let subject = token.subject else { return nil }
        return ProviderLink(name: provider.name, sid: sid, subject: subject, idToken: idToken)
    }

    /// A browser asked (a form post, or a page wanted): it can follow a redirect to the provider.
    var isBrowserRequest: Bool {
        let type = (request.header("content-type") ?? "").lowercased()
        if type.hasPrefix("application/x-www-form-urlencoded") { return true }
        return (request.header("accept") ?? "").lowercased().contains("text/html")
    }

    /// Whether some provider signs browsers out with a redirect (only then is the session read before logout).
    private var anyRPInitiatedLogout: Bool {
        snapshot.oidc?.providers.contains { $0.rpInitiatedLogout && $0.metadata?.endSessionEndpoint != nil } ?? false
    }

    /// The provider link of the session `key` names, read before it is ended; nil (at once) when no redirect can
    /// follow anyway (an API caller, no provider with an end-session endpoint) or the store cannot say.
    func providerLinkBeforeLogout(_ key: SessionKey, _ store: any SessionStore,
                                  _ done: @escaping (ProviderLink?) -> Void) {
        guard isBrowserRequest, anyRPInitiatedLogout else { return done(nil) }
        let now = services.now()
        switch store.lookup(key, now: now) {
        case .active(let session): done(session.provider)
        case .needsFetch:
            store.fetch(key, now: now) { lookup in
                if case .active(let session) = lookup { done(session.provider) } else { done(nil) }
            }
        case .absent, .unavailable: done(nil)
        }
    }

    /// Where a browser goes after our logout of a session with `link`: the provider's end-session URL, or nil.
    func providerSignOutLocation(_ link: ProviderLink?) -> String? {
        guard let link, let provider = snapshot.oidc?.provider(named: link.name) else { return nil }
        return provider.endSessionURL(idToken: link.idToken, state: Base64URL.encode(Secrets.bytes(16)))
    }

    // MARK: Back-channel logout

    /// 400 `{"error":"invalid_request","error_description":reason}`, counted and logged with the reason.
    private func refuseLogoutToken(_ reason: String, provider: String? = nil) {
        services.count(.providerLogoutRefused)
        let now = services.now()
        let suppressed = refusalLog.withLock { log -> Int? in
            guard log.second != now else {
                log.suppressed += 1
                return nil
            }
            defer { log = (now, 0) }
            return log.suppressed
        }
        if let suppressed {
            logger.warning("back-channel logout refused", metadata: [
                "reason": "\(reason)", "provider": "\(provider ?? "-")", "not_logged_since": "\(suppressed)",
            ])
        }
        finish(.error(400, "invalid_request", description: reason), error: "oidc-backchannel-\(reason)")
    }

    func backchannelLogout(_ sessions: SessionEndpointServices) {
        guard let oidc = snapshot.oidc else {
            return finish(.error(404, "not_found"), error: "oidc-not-configured")
        }
        let type = (request.header("content-type") ?? "").lowercased()
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            return refuseLogoutToken("not-a-form")
        }
        guard case .success(let fields) = FormFields.read(request.body, contentType: request.header("content-type")),
              let text = fields["logout_token"], !text.isEmpty
        else { return refuseLogoutToken("no-logout-token") }
        let token = Array(text.utf8)
        guard let issuer = LogoutTokenCheck.unverifiedIssuer(token) else { return refuseLogoutToken("malformed") }
        // Several clients of one provider (two `providers` entries with one issuer): the one whose client the
        // token is addressed to (`aud`) takes it; the first's refusal is reported when none does.
        let candidates = oidc.providers.filter { $0.issuer == issuer }
        guard !candidates.isEmpty else { return refuseLogoutToken("wrong-issuer") }
        let now = services.now()
        var accepted: (provider: OIDCSettings.Provider, token: LogoutToken)?
        var refusal: LogoutTokenFailure?
        for candidate in candidates where accepted == nil {
            switch LogoutTokenCheck.verify(token, verifier: candidate.logoutVerifier, allowed: candidate.algorithms,
                                           now: now) {
            case .success(let verified): accepted = (candidate, verified)
            case .failure(let failure): refusal = refusal ?? failure
            }
        }
        guard let accepted else {
            let failure = refusal ?? LogoutTokenFailure("malformed")
            // The provider's keys not fetched yet: not the token's fault, and the provider will retry.
            if failure.reason == AuthFailure.keysUnavailable.reason {
                return finish(.error(503, "temporarily_unavailable", headers: [("Retry-After", "5")]),
                              error: "oidc-backchannel-keys-unavailable")
            }
            return refuseLogoutToken(failure.reason, provider: candidates[0].name)
        }
        let (provider, checked) = accepted
        guard let store = sessions.store as? any ProviderSessionStore,
              let match = ProviderSessionMatch(provider: provider.name, sid: checked.sid, subject: checked.subject)
        else { return finish(.storeUnavailable, error: "oidc-backchannel-store") }
        store.endProviderSessions(match, logoutToken: checked.replayKey,
                                  until: checked.replayWindowEnd(leeway: oidc.leewaySeconds), now: now) { result in
            switch result {
            case .failure(let error):
                storeFailed(error)
            case .success(.replayed):
                refuseLogoutToken("replayed-jti", provider: provider.name)
            case .success(.ended(let count)):
                services.count(.providerLogout(ended: count))
                logger.info("back-channel logout", metadata: [
                    "provider": "\(provider.name)", "by": "\(checked.sid != nil ? "sid" : "sub")",
                    "sessions_ended": "\(count)",
                ])
                finish(LocalResponse(status: 200, headers: [("Cache-Control", "no-store")]))
            }
        }
    }
}
