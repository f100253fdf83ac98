import GatehouseAuth
import GatehouseHTTP
import GatehouseSessions

/// The admin page's routes on the admin listener. `GET /admin/` lists users, `GET /admin/user?name=` shows one,
/// `POST /admin/` runs one of their forms (`action`); `/admin` redirects to `/admin/` (the cookie's path).
enum AdminPageRoute: Equatable {
    case redirect
    case users
    case user
    case action

    /// The endpoint for `path`, or nil when it is none of the page's (the JSON API's paths are not).
    static func endpoint(path: String, method: KnownMethod) -> OwnEndpoint? {
        let readable = method == .get || method == .head
        switch path {
        case "/admin": return readable ? .adminPage(.redirect) : .methodNotAllowed(allow: "GET, HEAD")
        case AdminPage.path:
            if method == .post { return .adminPage(.action) }
            return readable ? .adminPage(.users) : .methodNotAllowed(allow: "GET, HEAD, POST")
        case AdminPage.userPath: return readable ? .adminPage(.user) : .methodNotAllowed(allow: "GET, HEAD")
        default: return nil
        }
    }
}

/// One request to the admin page (see `AdminCall`, which has already applied the listener's Host and
/// cross-site rules; the bearer token is replaced here by the admin cookie, `AdminCredential`).
///
/// Every POST but the sign-in must carry the admin cookie and the form token derived from it; either missing
/// or foreign: 403 and nothing changes. A change answers 303 back to the page it came from with `?done=`.
struct AdminPageCall {
    let services: LocalServices
    let request: LocalRequest
    /// The request came in over TLS: the cookie is then `Secure`.
    let tls: Bool
    let done: LocalCompletion

    static let cookieName = "gatehouse_admin"
    /// Users with sessions the list shows at most (the store is asked for no more).
    static let listLimit = 1000

    private var access: AdminAccess { services.snapshot.admin }
    private var credential: AdminCredential { AdminCredential(token: access.token) }

    private func finish(_ response: LocalResponse, error: String? = nil) { done(response, error) }

    private func page(_ status: Int, _ html: String, headers: [(String, String)] = []) -> LocalResponse {
        .html(status, html, headers: PageShell.securityHeaders + headers)
    }

    private func refuse(_ status: Int, _ text: String, reason: String) {
        finish(page(status, AdminPage.message(text)), error: reason)
    }

    /// The admin cookie's value when it is valid now.
    private var presentedCookie: String? {
        guard case .token(let value) = CredentialExtractor.cookie(request.head, name: Array(Self.cookieName.utf8))
        else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        return credential.accepts(cookie: text, now: services.now()) ? text : nil
    }

    private func setCookie(_ value: String, maxAge: Int64) -> (String, String) {
        ("Set-Cookie", "\(Self.cookieName)=\(value); Path=\(AdminPage.path); Max-Age=\(maxAge); HttpOnly; "
            + "SameSite=Strict" + (tls ? "; Secure" : ""))
    }

    func handle(_ route: AdminPageRoute) {
        if case .redirect = route { return finish(.seeOther(AdminPage.path)) }
        guard let sessions = services.sessions else {
            return refuse(404, "This gateway signs nobody in (no login.users_file).", reason: "admin-page-no-sessions")
        }
        switch route {
        case .redirect: return
        case .users, .user: show(route, sessions)
        case .action: act(sessions)
        }
    }

    // MARK: Pages

    /// GET: with a valid cookie, the page; without one, the sign-in form (token set) or a new cookie (none set).
    private func show(_ route: AdminPageRoute, _ sessions: SessionEndpointServices) {
        var cookie = presentedCookie
        var extra: [(String, String)] = []
        if cookie == nil {
            guard access.token == nil else {
                return finish(page(401, AdminPage.signIn(error: nil),
                                   headers: [("WWW-Authenticate", "Bearer realm=\"gatehouse-admin\"")]),
                              error: "admin-page-no-cookie")
            }
            let made = credential.cookie(issuedAt: services.now())
            cookie = made
            extra.append(setCookie(made, maxAge: AdminCredential.lifetime))
        }
        let token = credential.formToken(for: cookie ?? "")
        let notice = AdminPage.notice(request.queryParameter("done"))
        let signOut = access.token != nil
        let now = services.now()
        let store = sessions.store
        if route == .users {
            store.signedInUsers(now: now, limit: Self.listLimit) { result in
                switch result {
                case .failure(let error): storeFailed(error)
                case .success(let found):
                    let rows = Self.rows(found, users: sessions.users())
                    finish(page(200, AdminPage.users(rows, truncated: found.truncated, token: token, signOut: signOut,
                                                     notice: notice, now: now), headers: extra))
                }
            }
            return
        }
        guard let name = request.queryParameter("name"), !name.isEmpty else {
            return refuse(404, "No such user.", reason: "admin-page-no-user")
        }
        withUser(name, sessions) { row, records in
            let html = AdminPage.user(row, account: sessions.users().account(named: name), sessions: records,
                                      token: token, signOut: signOut, notice: notice, now: now)
            finish(page(200, html, headers: extra))
        }
    }

    /// The user list: everyone in the users file, then everyone else the store knows (signed in through a
    /// provider, or disabled by the admin), by name.
    static func rows(_ found: SignedInUsers, users: UserDirectory) -> [AdminPage.UserRow] {
        var active: [String: SignedInUsers.User] = [:]
        for user in found.users { active[user.name] = user }
        let disabled = Set(found.disabled)
        var rows: [AdminPage.UserRow] = []
        var listed: Set<String> = []
        func add(_ name: String, account: UserAccount?) {
            guard listed.insert(name).inserted else { return }
            rows.append(AdminPage.UserRow(
                name: name, inUsersFile: account != nil, sessions: active[name]?.sessions ?? 0,
                lastSeenAt: active[name]?.lastSeenAt, disabledByAdmin: disabled.contains(name),
                disabledInFile: account?.disabled ?? false))
        }
        for account in users.allAccounts { add(account.name, account: account) }
        for name in (found.users.map(\.name) + found.disabled)
            .sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where users.account(named: name) == nil {
            add(name, account: nil)
        }
        return rows
    }

    /// `name`'s row and live sessions; 404 when neither the users file nor the store knows the name.
    private func withUser(_ name: String, _ sessions: SessionEndpointServices,
                          _ body: @escaping (AdminPage.UserRow, [SessionRecord]) -> Void) {
        let store = sessions.store
        store.sessions(of: name, now: services.now()) { result in
            switch result {
            case .failure(let error): storeFailed(error)
            case .success(let records):
                store.isDisabled(name) { result in
                    switch result {
                    case .failure(let error): storeFailed(error)
                    case .success(let disabled):
                        let account = sessions.users().account(named: name)
                        guard account != nil || !records.isEmpty || disabled else {
                            return refuse(404, "No such user.", reason: "admin-page-unknown-user")
                        }
                        let row = AdminPage.UserRow(
                            name: name, inUsersFile: account != nil, sessions: records.count,
                            lastSeenAt: records.map(\.lastSeenAt).max(), disabledByAdmin: disabled,
                            disabledInFile: account?.disabled ?? false)
                        body(row, records)
                    }
                }
            }
        }
    }

    // MARK: Forms

    private func act(_ sessions: SessionEndpointServices) {
        guard case .success(let fields) = FormFields.read(request.body, contentType: request.header("content-type"))
        else { return refuse(400, "That form could not be read.", reason: "admin-page-bad-body") }
        if fields["action"] == "signin" { return signIn(fields["token"]) }
        guard let cookie = presentedCookie else {
            return refuse(403, "This page has expired. Open the admin page again and retry.",
                          reason: "admin-page-no-cookie")
        }
        guard credential.acceptsFormToken(fields["form_token"], for: cookie) else {
            return refuse(403, "This page has expired. Open the admin page again and retry.",
                          reason: "admin-page-bad-form-token")
        }
        if fields["action"] == "signout" {
            return finish(.seeOther(AdminPage.path, headers: [setCookie("", maxAge: 0)]))
        }
        guard let user = fields["user"], !user.isEmpty else {
            return refuse(400, "Choose a user.", reason: "admin-page-no-user")
        }
        let back = fields["back"] == "user"
            ? AdminPage.userPath + "?name=" + AdminPage.percentEncoded(user) + "&done="
            : AdminPage.path + "?done="
        let store = sessions.store
        withUser(user, sessions) { _, _ in
            switch fields["action"] {
            case "everywhere":
                store.deleteAll(of: user) { result in
                    changed(result.map { _ in () }, back + "everywhere")
                }
            case "disable", "enable":
                let disable = fields["action"] == "disable"
                store.setDisabled(user, disable) { result in
                    changed(result.map { _ in () }, back + (disable ? "disabled" : "enabled"))
                }
            case "session":
                store.delete(handle: fields["handle"] ?? "", of: user) { result in
                    switch result {
                    case .success(false):
                        refuse(404, "That session is not signed in.", reason: "no-such-session")
                    default:
                        changed(result.map { _ in () }, back + "session")
                    }
                }
            default:
                refuse(400, "Unknown action.", reason: "admin-page-bad-action")
            }
        }
    }

    /// A change was made (answered once durable): back to the page; or the store failed (503).
    private func changed(_ result: Result<Void, StoreError>, _ location: String) {
        switch result {
        case .failure(let error): storeFailed(error)
        case .success: finish(.seeOther(location))
        }
    }

    /// The sign-in form's POST: the admin token, compared in constant time; the cookie on success.
    private func signIn(_ presented: String?) {
        guard let token = access.token else { return finish(.seeOther(AdminPage.path)) }
        guard let presented, ConstantTime.equal(Array(presented.utf8), token) else {
            return finish(page(401, AdminPage.signIn(error: "That is not the admin token."),
                               headers: [("WWW-Authenticate", "Bearer realm=\"gatehouse-admin\"")]),
                          error: "admin-page-bad-token")
        }
        let cookie = credential.cookie(issuedAt: services.now())
        finish(.seeOther(AdminPage.path + "?done=signedin",
                         headers: [setCookie(cookie, maxAge: AdminCredential.lifetime)]))
    }

    private func storeFailed(_ error: StoreError) {
        finish(.storeUnavailable, error: "session-store-\(error.reason)")
    }
}
