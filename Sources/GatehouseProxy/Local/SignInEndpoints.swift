import GatehouseAuth
import GatehouseHTTP
import GatehouseIO
import GatehouseSessions

/// The public half of the gateway's own endpoints (`/.gatehouse/...`): the login page and form, logout, the
/// caller's devices, token refresh and the JWKS.
///
/// Every request ends in exactly one call of its completion: at once, or from a completion of its own (a
/// password hash on the pool, a store call). Nothing slow runs here: hashing is on `LocalServices`'
/// `PasswordChecker`, disk writes on the store's writer.
struct SignInEndpoints: LocalResponder {
    let services: LocalServices

    func respond(to request: LocalRequest, context: LocalContext, _ done: @escaping LocalCompletion) {
        if request.endpoint == .forwardAuth {  // needs no sign-in: bearer-only gateways decide too
            ForwardAuthEndpoint(services: services).respond(to: request, context: context, done)
            return
        }
        if request.endpoint == .jwks {  // published whenever the gateway signs (access tokens or assertions)
            done(Self.jwksAnswer(services.snapshot), services.snapshot.jwks == nil ? "no-signing-key" : nil)
            return
        }
        SignInCall(services: services, request: request, context: context, done: done).handle()
    }

    /// "1 second", "45 seconds", "2 minutes" (rounded up): how long a person is asked to wait.
    static func humanSeconds(_ seconds: Int64) -> String {
        if seconds < 120 { return seconds == 1 ? "1 second" : "\(seconds) seconds" }
        return "\((seconds + 59) / 60) minutes"
    }

    /// The gateway's public keys (`ProxySnapshot.jwks`), or 404 when it signs nothing. Public keys: cacheable for a
    /// while, unlike every other answer of the gateway's own.
    static func jwksAnswer(_ snapshot: ProxySnapshot) -> LocalResponse {
        guard var body = snapshot.jwks else { return .error(404, "not_found") }
        body.append(10)
        return LocalResponse(status: 200, headers: [("Content-Type", "application/json"),
                                                    ("Cache-Control", "public, max-age=300")], body: body)
    }

    static let busyMessage = "Too many sign-ins are in progress. Try again in a moment."

    /// `{"sessions":[...]}`: public handles only, never a secret.
    static func sessionList(_ records: [SessionRecord], current: String?) -> JSONWriter {
        var out = JSONWriter()
        out.beginObject()
        out.key("sessions")
        out.beginArray()
        for record in records {
            out.beginObject()
            out.member("handle", record.handle)
            out.member("user", record.user)
            out.member("kind", record.kind.rawValue)
            out.member("created_at", record.createdAt)
            out.member("last_seen_at", record.lastSeenAt)
            out.member("expires_at", record.endsAt)
            out.member("user_agent", record.userAgent)
            out.member("address", record.clientAddress)
            out.member("amr", strings: record.amr)
            if let current { out.member("current", record.handle == current) }
            out.endObject()
        }
        out.endArray()
        out.endObject()
        return out
    }

    /// `rd` is followed only when it is a path on this site: one leading `/`, not `//` or `/\` (other hosts to a
    /// browser), printable ASCII, no backslash anywhere (some browsers read it as `/`).
    /// With `sessions.cookie.domain`, `SignInCall.safeRedirect` also allows URLs on that domain (`RedirectTarget`).
    static func safeRedirect(_ rd: String) -> String? {
        RedirectTarget.check(rd, domain: nil, secure: true, requestPort: nil)
    }
}

/// One request to a sign-in endpoint: the injected services, the request, its peer and where the answer goes.
/// A value copied into every completion, so a completion that runs late still answers the right request.
struct SignInCall {
    let services: LocalServices
    let request: LocalRequest
    let context: LocalContext
    let done: LocalCompletion

    var snapshot: ProxySnapshot { services.snapshot }
    var head: RequestHead { request.head }

    func finish(_ response: LocalResponse, error: String? = nil) {
        done(response, error)
    }

    func storeFailed(_ error: StoreError) {
        finish(.storeUnavailable, error: "session-store-\(error.reason)")
    }

    func handle() {
        guard let settings = snapshot.signIn, let sessions = services.sessions else {
            // The prefix is reserved even when the gateway signs nobody in: never forwarded.
            finish(.error(404, "not_found"), error: "sign-in-not-configured")
            return
        }
        let store = sessions.store
        switch request.endpoint {
        case .loginPage: loginPage(settings)
        case .login: login(settings, sessions)
        case .secondFactorPage: secondFactorPage(settings, sessions)
        case .secondFactor: secondFactor(settings, sessions)
        case .logout: logout(settings, sessions)
        case .mySessions: mySessions(settings, sessions)
        case .deleteMySession(let handle): deleteMySession(handle, settings, sessions)
        case .accountPage: accountPage(settings, sessions)
        case .accountAction: accountAction(settings, sessions)
        case .refresh: refresh(settings, sessions, store)
        case .jwks:
            finish(SignInEndpoints.jwksAnswer(snapshot))
        case .oidcStart: oidcStart(settings)
        case .oidcCallback(let provider): oidcCallback(provider, settings, sessions)
        case .oidcBackchannelLogout: backchannelLogout(sessions)
        case .methodNotAllowed(let allow):
            finish(LocalResponse(status: 405, headers: [("Allow", allow)]))
        default:
            finish(.error(404, "not_found"))
        }
    }

    // MARK: Login

    private func loginPage(_ settings: SignInSettings) {
        let rd = safeRedirect(request.queryParameter("rd"))
        // One provider and no users file: nothing to choose, straight to the provider.
        if let oidc = snapshot.oidc, !oidc.hasUsersFile, oidc.providers.count == 1 {
            finish(LocalResponse(status: 302, headers: [("Location", oidcStartLink(oidc.providers[0].name, rd: rd))]))
            return
        }
        finish(.html(200, LoginPage.render(action: settings.loginPath, rd: rd, error: nil, user: nil,
                                           providers: providerLinks(rd: rd), form: snapshot.oidc?.hasUsersFile ?? true),
                     headers: LoginPage.securityHeaders))
    }

    private func login(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        if let oidc = snapshot.oidc, !oidc.hasUsersFile {
            finish(.error(404, "not_found", description: "users sign in through their identity provider"),
                   error: "login-no-users-file")
            return
        }
        let isForm = wantsForm
        if let refusal = crossSiteRefusal() {
            finish(refusal, error: "cross-site-login")
            return
        }
        let fields: [String: String]
        switch FormFields.read(request.body, contentType: request.header("content-type")) {
        case .success(let read): fields = read
        case .failure(.unsupportedMediaType):
            finish(.error(415, "invalid_request", description: "send a form or a JSON object"), error: "login-media-type")
            return
        case .failure(.malformed):
            finish(.error(400, "invalid_request", description: "the body is not a JSON object"), error: "login-bad-body")
            return
        }
        let rd = safeRedirect(fields["rd"])
        guard let user = fields["username"], !user.isEmpty, user.utf8.count <= 128,
            let password = fields["password"], !password.isEmpty
        else {
            if isForm {
                finish(.html(400, LoginPage.render(action: settings.loginPath, rd: rd,
                                                   error: "Enter a user name and a password.", user: fields["username"]),
                             headers: LoginPage.securityHeaders), error: "login-missing-fields")
            } else {
                finish(.error(400, "invalid_request", description: "username and password are required"),
                       error: "login-missing-fields")
            }
            return
        }
        let address = throttleAddress
        let now = services.now()
        let throttle = sessions.throttle
        if let wait = throttle.retryAfter(address: address, user: user, now: now) {
            throttled(wait, user: user, rd: rd, isForm: isForm)
            return
        }
        guard let shared = sessions.store as? any SharedSignInThrottle, throttle.maxFailures > 0 else {
            checkPassword(sessions, user: user, password: password, rd: rd, isForm: isForm, reservedAt: nil)
            return
        }
        shared.reserveSignIn(address: address, user: user, maxFailures: throttle.maxFailures,
                             window: throttle.window, now: now) { result in
            switch result {
            case .success(let wait?):
                throttled(wait, user: user, rd: rd, isForm: isForm)
            case .success(nil):
                checkPassword(sessions, user: user, password: password, rd: rd, isForm: isForm, reservedAt: now)
            case .failure:
                // The shared count cannot be read: this gateway's own count (checked above) still bounds the
                // guesses; refusing every sign-in while Redis is away would gain nothing (none can complete).
                services.count(.signInThrottleFallback)
                checkPassword(sessions, user: user, password: password, rd: rd, isForm: isForm, reservedAt: nil)
            }
        }
    }

    private func throttled(_ wait: Int64, user: String, rd: String?, isForm: Bool) {
        services.count(.signInThrottled)
        tryLater(status: 429, code: "too_many_attempts", description: "too many failed sign-ins; try again later",
                 message: "Too many failed sign-ins. Try again in \(SignInEndpoints.humanSeconds(wait)).", retryAfter: wait,
                 user: user, rd: rd, isForm: isForm, error: "login-throttled")
    }

    /// A sign-in that cannot be tried now (throttled, or the hashing queue is full or too slow). A person at the
    /// form gets the login page back saying why and for how long (not a JSON document in place of the page); an
    /// API client gets the JSON error. Both get the same status and `Retry-After`.
    func tryLater(status: Int, code: String, description: String, message: String, retryAfter: Int64, user: String,
                  rd: String?, isForm: Bool, error: String) {
        let retry = ("Retry-After", String(retryAfter))
        if isForm, let settings = snapshot.signIn {
            finish(.html(status, LoginPage.render(action: settings.loginPath, rd: rd, error: message, user: user),
                         headers: LoginPage.securityHeaders + [retry]), error: error)
        } else {
            finish(.error(status, code, description: description, headers: [retry]), error: error)
        }
    }

    /// The password hash, on the hashing pool. `reservedAt`: the attempt was counted by the shared throttle
    /// at that time (a success gives it back).
    private func checkPassword(_ sessions: SessionEndpointServices, user: String, password: String, rd: String?,
                               isForm: Bool, reservedAt: Int64?) {
        let users = sessions.users()
        let account = users.account(named: user)
        // An unknown user is checked against a dummy hash of the same cost: the answer takes as long as a wrong
        // password, so user names cannot be probed by timing.
        let hash = account?.passwordHash ?? users.dummyHash
        let passwordBytes = Array(password.utf8)
        let queueWait = sessions.passwords.maxQueueWait
        let queued = sessions.passwords.submit({ PasswordHash.verify(passwordBytes, against: hash) }) { outcome in
            // Waited past the pool's bound for a thread: not hashed, and the queue is still that long.
            guard case .finished(let ok) = outcome else {
                tryLater(status: 503, code: "temporarily_unavailable", description: "too many sign-ins in progress",
                         message: SignInEndpoints.busyMessage, retryAfter: queueWait, user: user, rd: rd,
                         isForm: isForm, error: "login-queue-timeout")
                return
            }
            passwordChecked(ok && account != nil && account?.disabled == false, account: account, user: user,
                            rd: rd, isForm: isForm, reservedAt: reservedAt, sessions)
        }
        if !queued {
            // Not attempted: not counted.
            if let reservedAt, let shared = sessions.store as? any SharedSignInThrottle {
                shared.releaseSignIn(address: throttleAddress, user: user, reservedAt: reservedAt, signedIn: false)
            }
            tryLater(status: 503, code: "temporarily_unavailable", description: "too many sign-ins in progress",
                     message: SignInEndpoints.busyMessage, retryAfter: 1, user: user, rd: rd, isForm: isForm,
                     error: "login-pool-full")
        }
    }

    /// Back on the loop after the hash.
    /// The settings are those the request started under: a reload during the hash does not change its answer.
    private func passwordChecked(_ ok: Bool, account: UserAccount?, user: String, rd: String?, isForm: Bool,
                                 reservedAt: Int64?, _ sessions: SessionEndpointServices) {
        guard let settings = snapshot.signIn else { return finish(.error(404, "not_found")) }
        let store = sessions.store
        let now = services.now()
        let address = throttleAddress
        guard ok, let account else {
            sessions.throttle.recordFailure(address: address, user: user, now: now)
            services.count(.signInFailure)
            refuseSignIn(settings, user: user, rd: rd, isForm: isForm, reason: "login-wrong-credentials")
            return
        }
        if account.totpSecret != nil || settings.requireSecondFactor {
            // The password alone signs nobody in: no session, and the user's count of failures stands until the
            // code is right (a right password must not wipe the count of wrong codes). The attempt itself was no
            // failure: given back.
            if let reservedAt, let shared = store as? any SharedSignInThrottle {
                shared.releaseSignIn(address: address, user: user, reservedAt: reservedAt, signedIn: false)
            }
            beginSecondFactor(settings, account: account, rd: rd, isForm: isForm)
            return
        }
        sessions.throttle.recordSuccess(address: address, user: user)
        if let reservedAt, let shared = store as? any SharedSignInThrottle {
            shared.releaseSignIn(address: address, user: user, reservedAt: reservedAt, signedIn: true)
        }
        startSession(settings, sessions, account: account, amr: ["pwd"], rd: rd, isForm: isForm)
    }

    /// Creates the session of `account`, who proved themselves by `amr`, and answers: the cookie and a 303 to
    /// `rd` (or the account page) for the form, the JSON description otherwise, tokens in token mode.
    func startSession(_ settings: SignInSettings, _ sessions: SessionEndpointServices, account: UserAccount,
                      amr: [String], rd: String?, isForm: Bool, extraHeaders: [(String, String)] = []) {
        let store = sessions.store
        let now = services.now()
        let user = account.name
        let userAgent = String((request.header("user-agent") ?? "").prefix(256))
        let handle = Secrets.newHandle()
        // Session mode: the cookie's ID is the key. Token mode: the key is a random ID that never leaves the
        // store; the client holds a refresh token instead.
        let secret = Secrets.newSecret()
        let token = settings.mode == .token
        let record = SessionRecord(
            key: token ? SessionKey(hashing: Secrets.bytes(32)) : secret.key, handle: handle,
            kind: token ? .token : .cookie, user: account.name, email: account.email, groups: account.groups,
            displayName: account.displayName, createdAt: now, lastSeenAt: now,
            expiresAt: now + (token ? settings.refreshTTL : settings.absoluteTTL),
            idleTimeout: token ? 0 : settings.idleTTL, userAgent: userAgent,
            clientAddress: ClientAddress.text(clientAddressBytes),
            refreshKey: token ? secret.key : nil)
        var withAMR = record
        withAMR.amr = amr
        endPresentedSession(settings, store) {
            store.create(withAMR, maxPerUser: settings.maxPerUser, now: now) { result in
                switch result {
                case .failure(let error) where error.reason == "user-disabled":
                    refuseSignIn(settings, user: user, rd: rd, isForm: isForm, reason: "login-user-disabled")
                case .failure(let error):
                    storeFailed(error)
                case .success:
                    services.count(.signIn)
                    if token {
                        var response = tokenResponse(settings, account: account, handle: handle, refresh: secret.text,
                                                     now: now, amr: amr)
                        response.headers += extraHeaders
                        finish(response)
                        return
                    }
                    let cookie = sessionCookie(settings, value: secret.text, maxAge: settings.absoluteTTL)
                    if isForm {
                        finish(.seeOther(rd ?? AccountPage.path, headers: [("Set-Cookie", cookie)] + extraHeaders))
                    } else {
                        var body = JSONWriter()
                        body.beginObject()
                        body.member("user", account.name)
                        body.member("session", handle)
                        body.member("expires_at", record.expiresAt)
                        body.endObject()
                        finish(.json(200, body, headers: [("Set-Cookie", cookie)] + extraHeaders))
                    }
                }
            }
        }
    }

    /// A sign-in that presents a session cookie of this gateway ends that session first (OWASP: invalidate the
    /// old ID at login), whoever it belonged to, so an ID planted in the browser before sign-in (session
    /// fixation) or left from an earlier user never outlives it. Then `next`; a store that cannot answer is a
    /// 503 (nothing was created).
    func endPresentedSession(_ settings: SignInSettings, _ store: any SessionStore,
                                     then next: @escaping () -> Void) {
        guard settings.mode == .session,
              case .token(let value) = CredentialExtractor.cookie(head, name: settings.cookieName),
              let key = Secrets.key(ofPresented: value)
        else { return next() }
        store.delete(key) { result in
            switch result {
            case .failure(let error): storeFailed(error)
            case .success(let ended):
                if ended { services.count(.signOut) }
                next()
            }
        }
    }

    private func refuseSignIn(_ settings: SignInSettings, user: String, rd: String?, isForm: Bool, reason: String) {
        if isForm {
            finish(.html(401, LoginPage.render(action: settings.loginPath, rd: rd,
                                               error: "Wrong user name or password.", user: user),
                         headers: LoginPage.securityHeaders), error: reason)
        } else {
            finish(.error(401, "invalid_credentials", description: "wrong user name or password"), error: reason)
        }
    }

    /// `{access_token, token_type, expires_in, refresh_token}` (RFC 6749 5.1).
    private func tokenResponse(_ settings: SignInSettings, account: UserAccount, handle: String, refresh: String,
                               now: Int64, amr: [String]) -> LocalResponse {
        guard let signer = settings.signer else { return .error(500, "server_error") }
        var claims = GatewayTokenSigner.Claims(subject: account.name, email: account.email, groups: account.groups,
                                               name: account.displayName, sessionHandle: handle, issuedAt: now,
                                               expiresAt: now + settings.accessTTL)
        claims.amr = amr
        let token = signer.sign(claims)
        var body = JSONWriter()
        body.beginObject()
        body.member("access_token", token)
        body.member("token_type", "Bearer")
        body.member("expires_in", settings.accessTTL)
        body.member("refresh_token", refresh)
        body.endObject()
        return .json(200, body, headers: [("Pragma", "no-cache")])
    }

    // MARK: Refresh

    private func refresh(_ settings: SignInSettings, _ sessions: SessionEndpointServices, _ store: any SessionStore) {
        guard settings.mode == .token else {
            finish(.error(404, "not_found"), error: "refresh-in-session-mode")
            return
        }
        guard case .success(let fields) = FormFields.read(request.body, contentType: request.header("content-type")),
            let presentedText = fields["refresh_token"]
        else {
            finish(.error(400, "invalid_request", description: "refresh_token is required"), error: "refresh-no-token")
            return
        }
        guard let presented = Secrets.key(ofPresented: Array(presentedText.utf8)[...]) else {
            finish(.error(401, "invalid_grant"), error: "refresh-malformed")
            return
        }
        let next = Secrets.newSecret()
        let now = services.now()
        store.rotateRefresh(presented, next: next.key, now: now) { result in
            switch result {
            case .failure(let error):
                storeFailed(error)
            case .success(.invalid):
                finish(.error(401, "invalid_grant"), error: "refresh-unknown")
            case .success(.reused):
                services.count(.refreshReuse)
                finish(.error(401, "invalid_grant", description: "refresh token reused; the session was revoked"),
                       error: "refresh-reused")
            case .success(.rotated(let record)):
                // The users file is the truth for who the user is now: removed or disabled ends the session.
                guard let account = sessions.users().account(named: record.user), !account.disabled else {
                    store.delete(handle: record.handle, of: record.user) { _ in }
                    finish(.error(401, "invalid_grant"), error: "refresh-user-gone")
                    return
                }
                finish(tokenResponse(settings, account: account, handle: record.handle, refresh: next.text, now: now,
                                     amr: record.amr))
            }
        }
    }

    // MARK: Logout and devices

    /// Who is calling, as far as the gateway's own credentials tell.
    enum Caller {
        case signedIn(user: String, handle: String)
        case anonymous
        /// The store could not answer: 503, never "anonymous".
        case unknown
        /// Too many unknown cookies from this client: 429 after that many seconds, without a lookup.
        case limited(Int64)
    }

    /// Who is calling: by the session cookie (session mode; a remote store may have to be asked) or the
    /// gateway's own access token (token mode). `done` may run before this returns.
    func caller(_ settings: SignInSettings, _ sessions: SessionEndpointServices,
                        _ done: @escaping (Caller) -> Void) {
        let now = services.now()
        let store = sessions.store
        switch settings.mode {
        case .session:
            guard case .token(let value) = CredentialExtractor.cookie(head, name: settings.cookieName),
                let key = Secrets.key(ofPresented: value)
            else { return done(.anonymous) }
            func answer(_ lookup: SessionLookup) -> Caller {
                switch lookup {
                case .active(let session): return .signedIn(user: session.user, handle: session.handle)
                case .absent: return .anonymous
                case .unavailable, .needsFetch: return .unknown
                }
            }
            let local = store.lookup(key, now: now)
            if case .needsFetch = local {
                let client = throttleAddress
                let unknownCookies = sessions.unknownCookies
                if let wait = unknownCookies.refusal(client) { return done(.limited(wait)) }
                store.fetch(key, now: now) { lookup in
                    if case .absent = lookup { unknownCookies.noteUnknown(client) }
                    done(answer(lookup))
                }
            } else {
                done(answer(local))
            }
        case .token:
            done(tokenCaller(settings, sessions, now: now))
        }
    }

    /// The caller by the gateway's own bearer access token (verified, not revoked).
    private func tokenCaller(_ settings: SignInSettings, _ sessions: SessionEndpointServices, now: Int64) -> Caller {
        guard case .token(let token) = CredentialExtractor.bearer(head), let ownIssuer = settings.ownIssuer else {
            return .anonymous
        }
        guard let identity = sessions.verifyBearer(token, now),
            case .string(let issuer)? = identity.claim("iss"), issuer == ownIssuer,
            let user = identity.subject, case .string(let sid)? = identity.claim("sid")
        else { return .anonymous }
        return .signedIn(user: user, handle: sid)
    }

    private func logout(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        if let refusal = crossSiteRefusal() {
            finish(refusal, error: "cross-site-logout")
            return
        }
        let store = sessions.store
        let clear = sessionCookie(settings, value: "", maxAge: 0)
        let signedOut = { (ended: Bool, link: ProviderLink?) in
            if ended { services.count(.signOut) }
            // Signed in through a provider: a browser goes on to sign out there too (RP-initiated logout).
            if let location = providerSignOutLocation(link) {
                finish(.seeOther(location, headers: [("Set-Cookie", clear)]))
            } else if wantsForm {
                // `rd` (form field or query): where to go once signed out, by the same rules as after sign-in.
                let next = safeRedirect(logoutRedirect) ?? settings.loginPath
                finish(.seeOther(next, headers: [("Set-Cookie", clear)]))
            } else {
                finish(.noContent(headers: settings.mode == .session ? [("Set-Cookie", clear)] : []))
            }
        }
        switch settings.mode {
        case .session:
            guard case .token(let value) = CredentialExtractor.cookie(head, name: settings.cookieName),
                let key = Secrets.key(ofPresented: value)
            else {
                signedOut(false, nil)
                return
            }
            // Each logout costs a store call: random cookies count against the client like unknown lookups.
            let client = throttleAddress
            let unknownCookies = sessions.unknownCookies
            if let wait = unknownCookies.refusal(client) {
                unknownCookieLimited(wait)
                return
            }
            providerLinkBeforeLogout(key, store) { link in
                store.delete(key) { result in
                    switch result {
                    case .failure(let error):
                        // Never a cleared cookie for a session that could not be ended.
                        storeFailed(error)
                    case .success(let existed):
                        if !existed { unknownCookies.noteUnknown(client) }
                        signedOut(existed, existed ? link : nil)
                    }
                }
            }
        case .token:
            switch tokenCaller(settings, sessions, now: services.now()) {
            case .signedIn(let user, let handle):
                store.delete(handle: handle, of: user) { result in
                    if case .failure(let error) = result {
                        storeFailed(error)
                        return
                    }
                    signedOut(true, nil)
                }
            case .anonymous:
                finish(.error(401, "invalid_token", headers: [("WWW-Authenticate", "Bearer realm=\"gatehouse\"")]),
                       error: "logout-no-credential")
            case .unknown:
                finish(.storeUnavailable, error: "session-store")
            case .limited(let wait):
                unknownCookieLimited(wait)
            }
        }
    }

    /// The `rd` a logout names: its form field, else its query parameter.
    private var logoutRedirect: String? {
        if case .success(let fields) = FormFields.read(request.body, contentType: request.header("content-type")),
           let rd = fields["rd"] {
            return rd
        }
        return request.queryParameter("rd")
    }

    /// 429: this client looked up too many unknown session cookies (`UnknownCookieLimiter`).
    func unknownCookieLimited(_ wait: Int64) {
        finish(.error(429, "too_many_requests", headers: [("Retry-After", String(wait))]),
               error: "session-unknown-cookie-limit")
    }

    private func mySessions(_ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        withCaller(settings, sessions) { who in
            sessions.store.sessions(of: who.user, now: services.now()) { result in
                switch result {
                case .failure(let error):
                    storeFailed(error)
                case .success(let records):
                    finish(.json(200, SignInEndpoints.sessionList(records, current: who.handle)))
                }
            }
        }
    }

    private func deleteMySession(_ handle: String, _ settings: SignInSettings, _ sessions: SessionEndpointServices) {
        if let refusal = crossSiteRefusal() {
            finish(refusal, error: "cross-site-revoke")
            return
        }
        withCaller(settings, sessions) { who in
            sessions.store.delete(handle: handle, of: who.user) { result in
                switch result {
                case .failure(let error):
                    storeFailed(error)
                case .success(false):
                    finish(.error(404, "not_found"), error: "no-such-session")
                case .success(true):
                    services.count(.signOut)
                    // Signing out the device you are on also clears its cookie.
                    let own = handle == who.handle && settings.mode == .session
                    finish(.noContent(headers: own ? [("Set-Cookie", sessionCookie(settings, value: "", maxAge: 0))] : []))
                }
            }
        }
    }

    private func withCaller(_ settings: SignInSettings, _ sessions: SessionEndpointServices,
                            _ body: @escaping ((user: String, handle: String)) -> Void) {
        caller(settings, sessions) { [self] who in
            switch who {
            case .signedIn(let user, let handle): body((user, handle))
            case .anonymous:
                let challenge = settings.mode == .token ? [("WWW-Authenticate", "Bearer realm=\"gatehouse\"")] : []
                finish(.error(401, "unauthorized", headers: challenge), error: "no-credential")
            case .unknown:
                finish(.storeUnavailable, error: "session-store")
            case .limited(let wait):
                unknownCookieLimited(wait)
            }
        }
    }

    // MARK: Request facts

    /// The client behind any trusted proxies (`ClientAddress.resolve`).
    var clientAddressBytes: [UInt8] {
        ClientAddress.resolve(peer: context.peer, trusted: context.trusted, head: head, snapshot: snapshot)
    }

    /// What the sign-in throttle counts: the client's address, an IPv6 one by its /64.
    var throttleAddress: String { ClientAddress.throttleKey(clientAddressBytes) }

    /// The request came from the login page's form (answers are pages and redirects, not JSON).
    var wantsForm: Bool {
        (request.header("content-type") ?? "").lowercased().hasPrefix("application/x-www-form-urlencoded")
    }

    /// Refuses a state-changing request another site made the browser send.
    func crossSiteRefusal() -> LocalResponse? {
        request.isCrossSite ? LocalRequest.crossSiteAnswer : nil
    }

    /// Whether the request reached us over TLS (directly, or as a trusted proxy says).
    private var isSecureRequest: Bool {
        if context.tls { return true }
        guard context.trusted, let proto = request.header("x-forwarded-proto") else { return false }
        return proto.split(separator: ",").last.map { $0.trimmingBlanks().lowercased() == "https" } ?? false
    }

    /// The session cookie (set or cleared): with `sessions.cookie.domain` it carries `Domain=`, so it is shared
    /// by every host below the domain, and a logout on any of them clears that same cookie.
    func sessionCookie(_ settings: SignInSettings, value: String, maxAge: Int64) -> String {
        var text = cookie(String(decoding: settings.cookieName, as: UTF8.self), value: value, maxAge: maxAge, path: "/",
                          sameSite: settings.sameSite, settings)
        if let domain = settings.cookieDomain { text += "; Domain=" + domain }
        return text
    }

    /// Whether this request's session cookie is `Secure` (`sessions.cookie.secure`, `auto` by the request).
    func cookieIsSecure(_ settings: SignInSettings?) -> Bool {
        switch settings?.secureCookie ?? .auto {
        case .always: return true
        case .never: return false
        case .auto: return isSecureRequest
        }
    }

    /// `rd` when it may be followed (`RedirectTarget`): a path on this site, or with `sessions.cookie.domain` a
    /// URL on that domain (https only when the cookie is `Secure`); nil otherwise (the default place is used).
    func safeRedirect(_ rd: String?) -> String? {
        guard let rd else { return nil }
        return RedirectTarget.check(rd, domain: snapshot.signIn?.cookieDomain, secure: cookieIsSecure(snapshot.signIn),
                                    requestPort: RedirectTarget.port(ofHost: request.header("host")))
    }

    /// An HttpOnly cookie, `Secure` as `sessions.cookie.secure` says.
    func cookie(_ name: String, value: String, maxAge: Int64, path: String, sameSite: String,
                _ settings: SignInSettings) -> String {
        var cookie = "\(name)=\(value); Path=\(path); HttpOnly; SameSite=\(sameSite)"
        if cookieIsSecure(settings) { cookie += "; Secure" }
        cookie += "; Max-Age=\(maxAge)"
        return cookie
    }
}

extension Substring {
    /// Without leading and trailing blanks (spaces, tabs), as header list elements are read.
    func trimmingBlanks() -> String {
        var s = self[...]
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
