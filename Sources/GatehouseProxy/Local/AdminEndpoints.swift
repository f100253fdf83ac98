import GatehouseHTTP
import GatehouseIO
import GatehouseSessions

/// The admin listener's endpoints: health and session administration. The listener is the first access
/// control: it binds to loopback by default and is never the public port (as Envoy's and HAProxy's admin
/// sockets). `AdminAccess` is the second: no foreign `Host` (DNS rebinding), no cross-site request, and the
/// bearer secret when `admin.token_file` is set (the browser page `/admin/` takes its own cookie instead:
/// `AdminPageCall`).
struct AdminEndpoints: LocalResponder {
    let services: LocalServices

    func respond(to request: LocalRequest, context: LocalContext, _ done: @escaping LocalCompletion) {
        AdminCall(services: services, request: request, tls: context.tls, done: done).handle()
    }
}

/// One request to the admin listener (see `SignInCall`).
private struct AdminCall {
    let services: LocalServices
    let request: LocalRequest
    let tls: Bool
    let done: LocalCompletion

    private var admin: AdminEndpointServices { services.admin }

    func finish(_ response: LocalResponse, error: String? = nil) {
        done(response, error)
    }

    func handle() {
        if let refusal = accessRefusal() {
            finish(refusal.response, error: refusal.reason)
            return
        }
        if case .health = request.endpoint {
            finish(LocalResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("ok\n".utf8)))
            return
        }
        if case .methodNotAllowed(let allow) = request.endpoint {
            finish(LocalResponse(status: 405, headers: [("Allow", allow)]))
            return
        }
        if case .adminPage(let route) = request.endpoint {
            AdminPageCall(services: services, request: request, tls: tls, done: done).handle(route)
            return
        }
        switch request.endpoint {
        case .jwks: finish(SignInEndpoints.jwksAnswer(services.snapshot)); return
        case .metrics: metrics(); return
        case .ready: ready(); return
        case .reload: reload(); return
        default: break
        }
        guard let store = services.sessions?.store else {
            finish(.error(404, "not_found", description: "the gateway signs nobody in (no login.users_file)"))
            return
        }
        let storeFailed = { (error: StoreError) in finish(.storeUnavailable, error: "session-store-\(error.reason)") }
        switch request.endpoint {
        case .adminUserSessions(let user):
            store.sessions(of: user, now: services.now()) { result in
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
                    services.sessions?.userStatusChanged()
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
        case .adminResetSecondFactor(let user):
            AdminSecondFactorReset.run(user: user, store: store, finish: { finish($0, error: $1) })
        default:
            finish(.error(404, "not_found"))
        }
    }

    /// Refuses what the listener's socket alone would let through. `/healthz` and `/readyz` need no token
    /// (probes), but the Host and cross-site rules hold for them too.
    private func accessRefusal() -> (response: LocalResponse, reason: String)? {
        let access = services.snapshot.admin
        let head = request.head
        let authority = RouteTable.hostRange(of: head).map { String(decoding: head.bytes[$0], as: UTF8.self) }
        if let reason = access.hostProblem(authority, listener: admin.listener) {
            return (.error(403, "forbidden_host", description: "this listener answers only its own address"
                           + " (or admin.allowed_hosts)"), reason)
        }
        if request.isCrossSite { return (LocalRequest.crossSiteAnswer, "admin-cross-site") }
        switch request.endpoint {
        // The admin page checks its own cookie (a browser cannot send the bearer token); probes and public keys
        // have no secret to protect.
        case .health, .ready, .adminPage, .jwks: return nil
        default: break
        }
        if !access.admits(authorization: request.header("authorization")) {
            return (.error(401, "unauthorized", description: "admin.token_file is set: send Authorization: Bearer",
                           headers: [("WWW-Authenticate", "Bearer realm=\"gatehouse-admin\"")]), "admin-token")
        }
        return nil
    }

    /// Every worker's counters, gathered on each worker's loop, as Prometheus text.
    private func metrics() {
        guard let control = admin.control, let executor = admin.executor else {
            finish(.error(404, "not_found"))
            return
        }
        let storeUp: Bool? = services.sessions == nil ? nil : control.storeReachable()
        let writeFailures = services.sessions == nil ? nil : control.storeWriteFailures()
        control.gatherMetrics(replyOn: executor) { [self] total in
            finish(LocalResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                 body: PrometheusText.render(total, sessionStoreUp: storeUp,
                                                             sessionStoreWriteFailures: writeFailures)
                                     + Array(control.extraMetrics().utf8)))
        }
    }

    /// 200 when the config is loaded (it is, or the process would not run), every worker's listeners are up and
    /// the session store can answer; 503 with the reasons otherwise.
    private func ready() {
        guard let control = admin.control else {
            finish(.error(404, "not_found"))
            return
        }
        var problems: [String] = []
        if control.registeredWorkers < control.expectedWorkers {
            problems.append("workers starting (\(control.registeredWorkers)/\(control.expectedWorkers))")
        }
        if admin.draining { problems.append("draining") }
        if services.sessions != nil, !control.storeReachable() { problems.append("session store unreachable") }
        problems += control.readinessProblems()
        var body = JSONWriter()
        body.beginObject()
        body.member("ready", problems.isEmpty)
        body.member("problems", strings: problems)
        body.endObject()
        finish(.json(problems.isEmpty ? 200 : 503, body))
    }

    /// The same as SIGHUP; answers once the main thread has read and checked the file.
    private func reload() {
        guard let control = admin.control, let executor = admin.executor else {
            finish(.error(404, "not_found"))
            return
        }
        // The answer comes back on this loop (`callback`), where the connection lives.
        control.reload(executor.callback { [self] (errors: String?) in
            if let errors {
                finish(.error(422, "invalid_config", description: errors), error: "reload-refused")
            } else {
                var body = JSONWriter()
                body.beginObject()
                body.member("reloaded", true)
                body.endObject()
                finish(.json(200, body))
            }
        })
    }

    private static func count(_ name: String, _ n: Int) -> JSONWriter {
        var body = JSONWriter()
        body.beginObject()
        body.member(name, Int64(n))
        body.endObject()
        return body
    }
}
