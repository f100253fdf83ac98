import GatehouseAuth
import GatehouseHTTP
import GatehouseSessions

/// The decision endpoint for a proxy that already runs in front of the app (nginx `auth_request`, Caddy
/// `forward_auth`, Traefik `ForwardAuth`, Envoy `ext_authz` HTTP): `/.gatehouse/auth` on the public listener.
///
/// Why the public listener: the proxy reaches it where it reaches the login pages (`/.gatehouse/` on the app's
/// host), so one address serves both; the admin listener is for operators, not for per-request traffic.
///
/// The proxy describes the ORIGINAL request in headers. That description is rebuilt into a request head and
/// parsed by the same parser the proxy mode uses (so `..`, `%2f` and the rest are normalised or refused exactly
/// as they would be for a proxied request), matched against the same route table, and decided by the same
/// `RequestPipeline.decide`. Only a peer in `trusted_proxies` may describe a request: anyone else gets 400 (not
/// "ignored": a decision about `/.gatehouse/auth` itself means nothing, and a quiet 200 or 401 would hide the
/// misconfiguration).
///
/// Answers: 200 with the route's identity headers (the ones the proxy mode injects), 401 with
/// `WWW-Authenticate`, 403, 400 for a bad description; for a browser navigation on a route that redirects to
/// the login page, a 302 to it (Caddy, Traefik, Envoy relay it), except for the nginx dialect (nginx turns
/// anything but 2xx/401/403 into a 500): there 401 with the redirect target in `X-Gatehouse-Login`, which the
/// documented `auth_request_set` + `error_page 401` config turns into the redirect. `rd` is the original path and
/// query, relative: the login page is on the app's own host (the proxy routes `/.gatehouse/` there).
struct ForwardAuthEndpoint: LocalResponder {
    let services: LocalServices

    /// The header carrying the login redirect for the nginx dialect.
    static let loginHeader = "X-Gatehouse-Login"
    /// The path; Envoy appends the original path after it (`path_prefix: /.gatehouse/auth`).
    static let path = "/.gatehouse/auth"

    func respond(to request: LocalRequest, context: LocalContext, _ done: @escaping LocalCompletion) {
        guard context.trusted else {
            done(.error(400, "invalid_request", description: "only a trusted proxy may ask for a decision"),
                 "forward-auth-untrusted-peer")
            return
        }
        let original: ForwardAuthRequest
        switch ForwardAuthRequest.describe(request.head, limits: services.snapshot.limits) {
        case .failure(let problem):
            done(.error(400, "invalid_request", description: problem.reason), "forward-auth-\(problem.reason)")
            return
        case .success(let described):
            original = described
        }
        let head = original.head
        if OwnEndpoint.isReserved(head.routingPath) {
            // The gateway's own pages check their own credentials; the proxy should route them here unasked.
            done(LocalResponse(status: 200), nil)
            return
        }
        guard let routeIndex = services.snapshot.routes.match(head) else {
            // Deny by default: the route table is the list of what may be reached.
            done(.error(403, "forbidden", description: "no route"), "forward-auth-no-route")
            return
        }
        let route = services.snapshot.routes.routes[routeIndex]
        let address = ClientAddress.throttleKey(ClientAddress.resolve(peer: context.peer, trusted: context.trusted,
                                                                      head: request.head, snapshot: services.snapshot))
        decide(original, route: route, address: address, verifiedBasic: nil, done)
    }

    private func decide(_ original: ForwardAuthRequest, route: Route, address: String, verifiedBasic: Identity?,
                        _ done: @escaping LocalCompletion) {
        guard let decider = services.forwardAuth else {
            done(.error(503, "temporarily_unavailable"), "forward-auth-not-wired")
            return
        }
        let head = original.head
        let now = route.policy.mode == .none ? 0 : services.now()
        let decision = decider.decide(head, route.policy, verifiedBasic, now)
        if case .verifyPassword(let pending) = decision, verifiedBasic == nil {
            // Checked off the loop, throttled like sign-ins; then the same decision with the identity it proved.
            decider.verifyPassword(pending, address, now) { check in
                switch check {
                case .verified(let identity):
                    self.decide(original, route: route, address: address, verifiedBasic: identity, done)
                case .wrong:
                    self.answer(.unauthenticated(reason: "basic-wrong-credentials", invalidToken: true), original,
                                route: route, done)
                case .throttled(let wait):
                    done(.error(429, "too_many_attempts", description: "too many failed sign-ins; try again later",
                                headers: [("Retry-After", String(wait))]), "basic-throttled")
                case .busy:
                    done(.storeUnavailable, "basic-hashing-busy")
                }
            }
            return
        }
        if case .fetchSession(let pending) = decision {
            // A remote store's cache missed: ask it, then finish the same decision with its answer.
            decider.fetch(pending.key, now) { answer in
                let resumed = decider.resume(pending, answer, head, route.policy)
                if case .fetchSession = resumed {
                    done(.storeUnavailable, "session-store-miss")
                    return
                }
                self.answer(resumed, original, route: route, done)
            }
            return
        }
        answer(decision, original, route: route, done)
    }

    private func answer(_ decision: AuthDecision, _ original: ForwardAuthRequest, route: Route,
                        _ done: @escaping LocalCompletion) {
        let head = original.head
        switch decision {
        case .forward(let identity):
            var headers: [(String, String)] = []
            if let identity {
                headers = Self.identityHeaders(route.policy, identity)
                // The signed assertion too, from the same per-worker cache as the proxy mode (the proxy copies it:
                // `auth_request_set`, `copy_headers`).
                if let settings = route.policy.assertion, let decider = services.forwardAuth {
                    let line = decider.assertion(settings, identity, services.now())
                    headers.append((settings.headerName, settings.value(ofLine: line)))
                }
            }
            done(LocalResponse(status: 200, headers: headers), nil)
        case .unauthenticated(let reason, let invalidToken):
            done(unauthenticated(original, route: route, invalidToken: invalidToken), reason)
        case .badRequest(let reason):
            done(refusal(400, route: route, invalidToken: false, head: head), reason)
        case .forbidden(let reason):
            done(refusal(403, route: route, invalidToken: false, head: head), reason)
        case .unavailable(let reason):
            done(.storeUnavailable, reason)
        case .fetchSession:
            done(.storeUnavailable, "session-store-miss")
        case .verifyPassword:
            done(.storeUnavailable, "basic-not-verified")
        }
    }

    private func unauthenticated(_ original: ForwardAuthRequest, route: Route, invalidToken: Bool) -> LocalResponse {
        let head = original.head
        guard route.policy.redirectsBrowsersToLogin, AuthResponses.isBrowserNavigation(head),
            let login = services.snapshot.loginURL
        else { return refusal(401, route: route, invalidToken: invalidToken, head: head) }
        let location = Self.loginLocation(head, loginURL: login)
        switch original.dialect {
        case .nginx:
            var response = refusal(401, route: route, invalidToken: false, head: head)
            response.headers.append((Self.loginHeader, location))
            return response
        case .forwarded, .envoy:
            return LocalResponse(status: 302, headers: [("Location", location)])
        }
    }

    /// The same 401/400/403 the proxy mode answers, as a `LocalResponse` (status line and framing are redone).
    private func refusal(_ status: Int, route: Route, invalidToken: Bool, head: RequestHead) -> LocalResponse {
        let bytes = AuthResponses.refusal(status: status, bearer: route.policy.acceptsBearer,
                                          invalidToken: invalidToken, html: AuthResponses.isBrowserNavigation(head),
                                          close: false, basicChallenge: route.policy.basic?.challenge)
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        if let split = Self.headEnd(bytes) {
            let lines = String(decoding: bytes[..<split], as: UTF8.self).split(separator: "\r\n").dropFirst()
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = String(line[..<colon])
                if name == "Content-Length" || name == "Cache-Control" || name == "X-Content-Type-Options" { continue }
                headers.append((name, String(line[line.index(after: colon)...].drop(while: { $0 == " " }))))
            }
            body = Array(bytes[(split + 4)...])
        }
        return LocalResponse(status: status, headers: headers, body: body)
    }

    private static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i }
        return nil
    }

    /// The login URL with `rd` = the original path and query (what the proxy mode's 302 carries).
    static func loginLocation(_ head: RequestHead, loginURL: [UInt8]) -> String {
        // The proxy mode's own 302 builds the Location; its bytes are `HTTP/1.1 302 Found\r\nLocation: ...\r\n`.
        let bytes = AuthResponses.loginRedirect(head, loginURL: loginURL, close: false)
        let marker = Array("Location: ".utf8)
        guard let start = (0...(bytes.count - marker.count)).first(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        else { return String(decoding: loginURL, as: UTF8.self) }
        let from = start + marker.count
        let end = bytes[from...].firstIndex(of: 13) ?? bytes.endIndex
        return String(decoding: bytes[from..<end], as: UTF8.self)
    }

    /// The route's identity headers as name/value pairs: rendered by the very templates `HeaderRewrite` uses.
    static func identityHeaders(_ policy: RoutePolicy, _ identity: Identity) -> [(String, String)] {
        var out: [(String, String)] = []
        for template in policy.identityHeaders {
            var line: [UInt8] = []
            template.render(identity, into: &line)
            guard line.count > 2, let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 2)..<(line.count - 2)], as: UTF8.self)
            out.append((name, value))
        }
        return out
    }
}

/// What the decision endpoint needs from the engine: the pipeline's decision with the engine's caches and
/// store, and the store's asynchronous lookup for a cache miss. Closures, so this file holds the one adapter
/// to `RequestPipeline` and the endpoint never sees the engine.
struct ForwardAuthServices {
    /// `RequestPipeline.decide` with this worker's token cache, session context and Basic cache; `verifiedBasic`:
    /// the identity a password check just proved.
    let decide: (_ head: RequestHead, _ policy: RoutePolicy, _ verifiedBasic: Identity?, _ now: Int64) -> AuthDecision
    /// A Basic password checked as the proxy mode checks it (`BasicVerifier`), throttled by `address`.
    let verifyPassword: (_ pending: PendingPassword, _ address: String, _ now: Int64,
                         _ done: @escaping (PasswordCheck) -> Void) -> Void
    /// `RequestPipeline.resume`: the same decision finished with the store's answer.
    let resume: (_ pending: PendingSession, _ answer: SessionLookup, _ head: RequestHead, _ policy: RoutePolicy)
        -> AuthDecision
    /// The store's answer for a session its cache does not hold; `done` runs on this worker's loop.
    let fetch: (_ key: SessionKey, _ now: Int64, _ done: @escaping (SessionLookup) -> Void) -> Void
    /// `Name: <jwt>\r\n` for an identity on a route with an assertion (the worker's `AssertionCache`).
    let assertion: (_ settings: AssertionSettings, _ identity: Identity, _ now: Int64) -> [UInt8]
}

/// The original request as the proxy describes it, rebuilt into a head the route table and pipeline read.
struct ForwardAuthRequest {
    /// Which proxy family described it (decides how a browser is sent to the login page).
    enum Dialect: Equatable {
        /// `X-Original-URL` (+ `X-Original-Method`): nginx `auth_request`.
        case nginx
        /// `X-Forwarded-Method`/`-Proto`/`-Host`/`-Uri`: Caddy `forward_auth`, Traefik `ForwardAuth`.
        case forwarded
        /// The original path appended to `/.gatehouse/auth`, the original method and `Host`: Envoy `ext_authz`.
        case envoy
    }

    struct Problem: Error, Equatable {
        let reason: String
    }

    let dialect: Dialect
    let head: RequestHead

    /// The headers copied from the decision request into the rebuilt one: the credentials and `Accept` (a
    /// browser navigation is told by it). Nothing else reaches the pipeline.
    static let copied: [StaticString] = ["authorization", "cookie", "accept"]

    static func describe(_ request: RequestHead, limits: HTTPLimits) -> Result<ForwardAuthRequest, Problem> {
        let fields = request.headers
        func only(_ name: StaticString) -> Result<String?, Problem> {
            var found: String? = nil
            for index in fields.fields.indices where fields.nameEquals(index, name) {
                if found != nil { return .failure(Problem(reason: "duplicate-\(name)")) }
                found = fields.value(at: index)
            }
            return .success(found)
        }
        let dialect: Dialect
        let method: String
        let host: String
        let target: String
        do {
            let originalURL = try only("x-original-url").get()
            let forwardedURI = try only("x-forwarded-uri").get()
            // Both dialects at once: one of them came from the client through a proxy that sets only the other
            // (Caddy passes a client's X-Original-URL on). Refused, never "pick one".
            if originalURL != nil, forwardedURI != nil { return .failure(Problem(reason: "two-descriptions")) }
            if let url = originalURL {
                dialect = .nginx
                method = try only("x-original-method").get() ?? "GET"
                guard let parts = splitAbsoluteURL(url) else { return .failure(Problem(reason: "bad-original-url")) }
                host = parts.host
                target = parts.target
            } else if let uri = forwardedURI {
                dialect = .forwarded
                method = try only("x-forwarded-method").get() ?? "GET"
                guard let forwardedHost = try only("x-forwarded-host").get() else {
                    return .failure(Problem(reason: "missing-x-forwarded-host"))
                }
                host = forwardedHost
                target = uri
            } else {
                let path = String(decoding: request.bytes[request.targetRange], as: UTF8.self)
                guard path.hasPrefix(ForwardAuthEndpoint.path + "/") else {
                    return .failure(Problem(reason: "missing-description"))
                }
                dialect = .envoy
                method = String(decoding: request.bytes[request.methodRange], as: UTF8.self)
                guard let requestHost = fields.first("host") else { return .failure(Problem(reason: "missing-host")) }
                host = requestHost
                target = String(path.dropFirst(ForwardAuthEndpoint.path.count))
            }
        } catch {
            return .failure(error)
        }
        guard target.hasPrefix("/"), isSafe(target, allowColon: true), isSafe(method, allowColon: false),
            !method.isEmpty, isSafe(host, allowColon: true), !host.isEmpty
        else { return .failure(Problem(reason: "bad-original-request")) }
        var bytes = Array("\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n".utf8)
        for index in fields.fields.indices where copied.contains(where: { fields.nameEquals(index, $0) }) {
            bytes.append(contentsOf: fields.storage[fields.fields[index].name])
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: fields.storage[fields.fields[index].value])
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "\r\n".utf8)
        var parser = RequestParser(limits: limits)
        let parsed = bytes.withUnsafeBytes { raw -> Result<ParseEvent, HTTPParseError> in
            do throws(HTTPParseError) { return .success(try parser.next(raw)) } catch { return .failure(error) }
        }
        let event: ParseEvent
        switch parsed {
        case .success(let parsedEvent): event = parsedEvent
        case .failure(let error): return .failure(Problem(reason: "original-\(error.reason)"))
        }
        guard case .requestHead(let head, _) = event else { return .failure(Problem(reason: "bad-original-request")) }
        return .success(ForwardAuthRequest(dialect: dialect, head: head))
    }

    /// `scheme://authority/path?query` split into the authority and the origin-form target; nil unless http(s).
    static func splitAbsoluteURL(_ url: String) -> (host: String, target: String)? {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = url.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let host = String(rest[..<slash])
        var target = String(rest[slash...])
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        guard !host.isEmpty, !host.contains("@") else { return nil }
        return (host, target)
    }

    /// Visible ASCII only (no space, no control byte: nothing that could end or split the rebuilt start line).
    private static func isSafe(_ text: String, allowColon: Bool) -> Bool {
        text.utf8.allSatisfy { b in b > 0x20 && b < 0x7f && (allowColon || b != UInt8(ascii: ":")) }
    }
}

extension ProxyEngine {
    /// The decision endpoint's one adapter to the pipeline: the same call (and caches, store and counters) as
    /// `ClientConnection.authorize`, and the store's fetch for a remote cache miss.
    func forwardAuthServices(_ snapshot: ProxySnapshot) -> ForwardAuthServices {
        ForwardAuthServices(
            decide: { head, policy, verifiedBasic, now in
                var trace: DecisionTrace? = nil
                let decision = RequestPipeline.decide(head, policy: policy, tokens: snapshot.tokens,
                                                      cache: self.tokenCache, sessions: self.sessionContext,
                                                      basic: self.basicVerifier?.context, verifiedBasic: verifiedBasic,
                                                      now: now, trace: &trace)
                self.countForwardAuth(decision)
                return decision
            },
            verifyPassword: { pending, address, now, done in
                guard let verifier = self.basicVerifier else {
                    done(.busy(retryAfter: 1))
                    return
                }
                verifier.check(pending, address: address, now: now, done)
            },
            resume: { pending, answer, head, policy in
                var trace: DecisionTrace? = nil
                let decision = RequestPipeline.resume(pending, answer: answer, head: head, policy: policy,
                                                      trace: &trace)
                self.countForwardAuth(decision)
                return decision
            },
            fetch: { key, now, done in
                guard let store = self.sessionContext?.store else {
                    done(.unavailable(StoreError("no-store")))
                    return
                }
                store.fetch(key, now: now, done)
            },
            assertion: { settings, identity, now in self.assertionLine(settings, identity, now: now) })
    }

    /// The counters a proxied request's decision moves, so metrics count forward-auth decisions the same way.
    private func countForwardAuth(_ decision: AuthDecision) {
        switch decision {
        case .forward(let identity): if identity != nil { counters.authAccepted += 1 }
        case .unauthenticated(let reason, let invalid):
            if invalid { counters.authInvalid += 1 } else { counters.authNoCredential += 1 }
            authRefusals[reason, default: 0] += 1
        case .forbidden(let reason):
            counters.authForbidden += 1
            authRefusals[reason, default: 0] += 1
        case .badRequest(let reason):
            counters.authBadRequest += 1
            authRefusals[reason, default: 0] += 1
        case .unavailable: counters.sessionStoreErrors += 1
        case .fetchSession: counters.sessionFetches += 1
        case .verifyPassword: break
        }
    }
}
