import GatehouseHTTP

/// The gateway's own endpoints: everything under `/.gatehouse/` on the public listeners (never forwarded), and
/// everything on the admin listener.
enum OwnEndpoint: Equatable {
    case loginPage
    case login
    /// `/.gatehouse/login/second-factor`: GET the code page, POST the code (after the password, issue 14).
    case secondFactorPage
    case secondFactor
    case logout
    case mySessions
    case deleteMySession(handle: String)
    /// `/.gatehouse/account`: GET the page, POST one of its forms.
    case accountPage
    case accountAction
    case refresh
    case jwks
    /// The forward-auth decision (`ForwardAuthEndpoint`), any method; Envoy appends the original path.
    case forwardAuth
    /// Starts a sign-in through the OpenID provider `?provider=`.
    case oidcStart
    /// A provider's redirect back (`/.gatehouse/oidc/callback/<name>`).
    case oidcCallback(provider: String)
    /// A provider's back-channel logout token (`POST /.gatehouse/oidc/backchannel-logout`).
    case oidcBackchannelLogout
    case adminUserSessions(user: String)
    case adminSignOutEverywhere(user: String)
    case adminDisable(user: String)
    case adminEnable(user: String)
    /// The admin page in a browser (`AdminPageRoute`: `/admin/`, `/admin/user`).
    case adminPage(AdminPageRoute)
    /// `POST /admin/users/{user}/second-factor/reset` (`AdminSecondFactorReset`).
    case adminResetSecondFactor(user: String)
    case health
    case ready
    case metrics
    case reload
    case notFound
    case methodNotAllowed(allow: String)

    static let prefix: [UInt8] = Array("/.gatehouse/".utf8)

    /// True for a path under the reserved prefix (or the prefix without its slash).
    static func isReserved(_ path: [UInt8]) -> Bool {
        path.starts(with: prefix) || path.elementsEqual(prefix.dropLast())
    }

    /// True when the request-target as sent starts in the gateway's own prefix but its normalised path leaves it
    /// (`/.gatehouse/auth/../public`): an Envoy `ext_authz` that does not normalise paths appends the original path
    /// to `/.gatehouse/auth`, and such a check must never be decided as an ordinary request to a route (whose
    /// upstream's 200 Envoy would read as "allowed").
    static func leavesReservedPrefix(_ head: RequestHead) -> Bool {
        guard head.targetForm == .origin else { return false }
        let target = head.bytes[head.targetRange]
        let reserved = prefix.dropLast()  // "/.gatehouse"
        guard target.count >= reserved.count,
              target.prefix(reserved.count).elementsEqual(reserved, by: { $0 == $1 || ($0 >= 0x41 && $0 <= 0x5A && $0 | 0x20 == $1) })
        else {
            return false
        }
        return !isReserved(head.routingPath)
    }

    /// Which public endpoint `head` asks for.
    static func publicEndpoint(_ head: RequestHead) -> OwnEndpoint {
        let path = String(decoding: head.normalizedPath, as: UTF8.self)
        let method = head.method
        func only(_ allowed: [KnownMethod], _ endpoint: OwnEndpoint, allow: String) -> OwnEndpoint {
            allowed.contains(method) ? endpoint : .methodNotAllowed(allow: allow)
        }
        switch path {
        case "/.gatehouse/login": return method == .post ? .login : only([.get, .head], .loginPage, allow: "GET, HEAD, POST")
        case SecondFactorPage.path:
            return method == .post ? .secondFactor : only([.get, .head], .secondFactorPage, allow: "GET, HEAD, POST")
        case "/.gatehouse/logout": return only([.post], .logout, allow: "POST")
        case "/.gatehouse/sessions": return only([.get, .head], .mySessions, allow: "GET, HEAD")
        case "/.gatehouse/account": return method == .post ? .accountAction : only([.get, .head], .accountPage, allow: "GET, HEAD, POST")
        case "/.gatehouse/token/refresh": return only([.post], .refresh, allow: "POST")
        case "/.gatehouse/jwks.json": return only([.get, .head], .jwks, allow: "GET, HEAD")
        case "/.gatehouse/oidc/start": return only([.get, .head], .oidcStart, allow: "GET, HEAD")
        case "/.gatehouse/oidc/backchannel-logout": return only([.post], .oidcBackchannelLogout, allow: "POST")
        case ForwardAuthEndpoint.path: return .forwardAuth
        default:
            if path.hasPrefix(ForwardAuthEndpoint.path + "/") { return .forwardAuth }
            let callbackPrefix = "/.gatehouse/oidc/callback/"
            if path.hasPrefix(callbackPrefix) {
                let name = String(path.dropFirst(callbackPrefix.count))
                guard !name.isEmpty, name.utf8.count <= 32, !name.contains("/") else { return .notFound }
                return only([.get, .head], .oidcCallback(provider: name), allow: "GET, HEAD")
            }
            let sessionsPrefix = "/.gatehouse/sessions/"
            if path.hasPrefix(sessionsPrefix) {
                let handle = String(path.dropFirst(sessionsPrefix.count))
                guard isHandle(handle) else { return .notFound }
                return only([.delete], .deleteMySession(handle: handle), allow: "DELETE")
            }
            return .notFound
        }
    }

    /// Which admin endpoint `head` asks for: `/healthz`, `/readyz`, `/metrics`, `POST /reload`,
    /// `/admin/users/{user}/sessions` (GET lists, DELETE signs out everywhere), `/admin/users/{user}/disable` and
    /// `/enable` (POST); the admin page's `/admin/`, `/admin/user` (`AdminPageRoute`).
    static func adminEndpoint(_ head: RequestHead) -> OwnEndpoint {
        let path = String(decoding: head.normalizedPath, as: UTF8.self)
        let method = head.method
        let readable = method == .get || method == .head
        switch path {
        case "/healthz": return readable ? .health : .methodNotAllowed(allow: "GET, HEAD")
        case "/readyz": return readable ? .ready : .methodNotAllowed(allow: "GET, HEAD")
        case "/metrics": return readable ? .metrics : .methodNotAllowed(allow: "GET, HEAD")
        case "/reload": return method == .post ? .reload : .methodNotAllowed(allow: "POST")
        // The public keys, for upstreams that reach only the admin network (and the same path as the public one).
        case "/jwks.json", "/.gatehouse/jwks.json": return readable ? .jwks : .methodNotAllowed(allow: "GET, HEAD")
        default: break
        }
        if let page = AdminPageRoute.endpoint(path: path, method: method) { return page }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 6, parts[0].isEmpty, parts[1] == "admin", parts[2] == "users", parts[4] == "second-factor",
           parts[5] == "reset", let user = FormFields.decode(Array(parts[3].utf8)[...]), !user.isEmpty
        {
            return method == .post ? .adminResetSecondFactor(user: user) : .methodNotAllowed(allow: "POST")
        }
        // "", "admin", "users", user, action
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "admin", parts[2] == "users",
            let user = FormFields.decode(Array(parts[3].utf8)[...]), !user.isEmpty
        else { return .notFound }
        switch parts[4] {
        case "sessions":
            if method == .get || method == .head { return .adminUserSessions(user: user) }
            if method == .delete { return .adminSignOutEverywhere(user: user) }
            return .methodNotAllowed(allow: "GET, HEAD, DELETE")
        case "disable": return method == .post ? .adminDisable(user: user) : .methodNotAllowed(allow: "POST")
        case "enable": return method == .post ? .adminEnable(user: user) : .methodNotAllowed(allow: "POST")
        default: return .notFound
        }
    }

    /// Handles are 22 base64url characters; anything else cannot name a session.
    private static func isHandle(_ text: String) -> Bool {
        text.utf8.count == 22 && text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x5f
        }
    }

    /// Whether the handler reads a request body.
    var readsBody: Bool {
        switch self {
        case .login, .refresh, .logout, .accountAction, .adminPage(.action), .oidcBackchannelLogout, .secondFactor:
            return true
        default: return false
        }
    }
}
