import GatehouseHTTP
import GatehouseIO
import GatehouseSessions

/// The admin listener's endpoints: health and session administration. The listener is the access control:
/// it binds to loopback by default and is never the public port (as Envoy's and HAProxy's admin sockets).
struct AdminEndpoints {
    unowned let client: ClientConnection
    let request: LocalRequest

    private var engine: ProxyEngine { client.engine }

    func finish(_ response: LocalResponse, error: String? = nil) {
        client.finishLocal(request, response: response, error: error)
    }

    func handle() {
        if case .health = request.endpoint {
            finish(LocalResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("ok\n".utf8)))
            return
        }
        if case .methodNotAllowed(let allow) = request.endpoint {
            finish(LocalResponse(status: 405, headers: [("Allow", allow)]))
            return
        }
        guard let store = engine.sessionStore else {
            finish(.error(404, "not_found", description: "the gateway signs nobody in (no login.users_file)"))
            return
        }
        let storeFailed = { (error: StoreError) in
            finish(.error(503, "temporarily_unavailable", headers: [("Retry-After", "1")]),
                   error: "session-store-\(error.reason)")
        }
        switch request.endpoint {
        case .adminUserSessions(let user):
            store.sessions(of: user, now: Int64(Clocks.wallClock().seconds)) { result in
                switch result {
                case .success(let records): finish(.json(200, SignInEndpoints.sessionList(records, current: nil)))
                case .failure(let error): storeFailed(error)
                }
            }
        case .adminSignOutEverywhere(let user):
            store.deleteAll(of: user) { result in
                switch result {
                case .success(let count): finish(.json(200, Self.count("signed_out", count)))
                case .failure(let error): storeFailed(error)
                }
            }
        case .adminDisable(let user), .adminEnable(let user):
            let disable = request.endpoint == .adminDisable(user: user)
            store.setDisabled(user, disable) { result in
                switch result {
                case .success(let count):
                    var body = JSONWriter()
                    body.beginObject()
                    body.member("user", user)
                    body.member("disabled", disable)
                    body.member("signed_out", Int64(count))
                    body.endObject()
                    finish(.json(200, body))
                case .failure(let error): storeFailed(error)
                }
            }
        default:
            finish(.error(404, "not_found"))
        }
    }

    private static func count(_ name: String, _ n: Int) -> JSONWriter {
        var body = JSONWriter()
        body.beginObject()
        body.member(name, Int64(n))
        body.endObject()
        return body
    }
}
