@preconcurrency import Crypto
import GatehouseAuth
import GatehouseHTTP
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The gateway's own endpoints with everything they need injected by hand, over the in-memory session store:
/// no socket, no loop, no thread. `send` builds a `LocalRequest` from raw HTTP text, calls the responder and
/// returns what its completion got.
final class EndpointHarness {
    static let password = "correct horse"
    /// cost 4: the cheapest bcrypt, so a sign-in in a unit test costs about a millisecond.
    nonisolated(unsafe) static let users: UserDirectory = {
        let hash = try! PasswordHash.make(Array(password.utf8), scheme: .bcrypt(cost: 4))
        return UserDirectory(accounts: [
            UserAccount(name: "alice", passwordHash: hash, email: "alice@example.com", groups: ["staff"]),
            UserAccount(name: "bob", passwordHash: hash),
            UserAccount(name: "carol", passwordHash: hash, disabled: true),
        ])
    }()

    /// How password checks run.
    enum Hashing {
        /// At once, before `submit` returns.
        case inline
        /// Held until `runHeldChecks()`, as the pool's answer arrives later on the loop.
        case held
        /// The pool's queue is full: nothing is queued.
        case full
        /// The check waited past the pool's bound for a thread and did not run.
        case expired
    }

    var now: Int64 = 1_700_000_000
    let revocations = RevocationList(loaded: true)
    let store: MemorySessionStore
    let throttle: SignInThrottle
    var hashing = Hashing.inline
    private(set) var heldChecks: [() -> Void] = []
    private(set) var events: [LocalEvent] = []
    var snapshot: ProxySnapshot
    /// The outbound HTTPS runner handed to the endpoints (OpenID token endpoint); nil: none.
    var outbound: ((HTTPSRequest) -> Result<HTTPSResponse, HTTPSFailure>)? = nil
    /// What the admin endpoints get besides the snapshot and the store (no `GatewayControl` unless a test sets one).
    var admin = AdminEndpointServices(listener: try! SocketAddress(parsing: "127.0.0.1:9901"))
    var unknownCookies = UnknownCookieLimiter(limit: 0, window: .seconds(10))
    /// nil: the gateway signs nobody in.
    var signsIn = true

    static let trustedProxy = IPNetwork(address: [10, 0, 0, 0], prefixLength: 8)

    init(mode: SignInSettings.Mode = .session, maxFailures: Int = 3, maxPerUser: Int = 0, idleTTL: Int64 = 0,
         admin: AdminAccess = AdminAccess()) {
        let clockNow = 1_700_000_000 as Int64
        store = MemorySessionStore(revocations: revocations, accessTokenTTL: 300, clock: { clockNow })
        throttle = SignInThrottle(maxFailures: maxFailures, window: 60)
        snapshot = Self.snapshot(mode: mode, maxPerUser: maxPerUser, idleTTL: idleTTL, admin: admin)
    }

    static func snapshot(mode: SignInSettings.Mode, maxPerUser: Int = 0, idleTTL: Int64 = 0,
                         admin: AdminAccess = AdminAccess(), signIn: Bool = true) -> ProxySnapshot {
        var signer: GatewayTokenSigner? = nil
        if mode == .token {
            let pem = P256.Signing.PrivateKey().pemRepresentation
            signer = try! GatewayTokenSigner(pem: pem, kid: "test-key", issuer: "https://gatehouse.test")
        }
        let settings = SignInSettings(
            mode: mode, cookieName: "gh_session", secureCookie: .auto, sameSite: "Lax", absoluteTTL: 86_400,
            idleTTL: idleTTL, maxPerUser: maxPerUser, accessTTL: 300, refreshTTL: 30 * 86_400, signer: signer,
            loginPath: "/.gatehouse/login")
        // The gateway's own issuer, as the snapshot compiler adds it in token mode.
        let tokens = signer.map { signer in
            TokenSettings(verifier: TokenVerifier(issuers: [IssuerPolicy(issuer: signer.issuer, audiences: [signer.issuer],
                                                                         keys: [signer.verificationKey])],
                                                  leewaySeconds: 0),
                          leewaySeconds: 0, cacheSize: 0, groupsClaim: "groups")
        }
        return ProxySnapshot(
            limits: HTTPLimits(), timeouts: ClientTimeouts(header: .seconds(1), idle: .seconds(1), body: .seconds(1)),
            trustedProxies: [trustedProxy], upstreams: [], routes: RouteTable([]), accessLogEnabled: false,
            tokens: tokens, signIn: signIn ? settings : nil, admin: admin,
            jwks: signIn ? signer?.jwksDocument : nil)  // as the snapshot compiler publishes the key
    }

    /// The services as the engine would build them for one request.
    func services() -> LocalServices {
        let checker = PasswordChecker(maxQueueWait: 7) { [unowned self] check, done in
            switch hashing {
            case .inline: done(.finished(check()))
            case .held: heldChecks.append { done(.finished(check())) }
            case .full: return false
            case .expired: done(.expired)
            }
            return true
        }
        var sessions = SessionEndpointServices(
            store: store, users: { Self.users }, throttle: throttle, passwords: checker,
            unknownCookies: unknownCookies, verifyBearer: { [unowned self] token, now in verify(token, now: now) })
        if let outbound {
            sessions.outbound = { request, done in
                done(.finished(outbound(request)))
                return true
            }
        }
        return LocalServices(snapshot: snapshot, sessions: signsIn ? sessions : nil,
                             admin: admin,
                             now: { [unowned self] in now }, count: { [unowned self] in events.append($0) })
    }

    /// The gateway's own access tokens, checked by the auth pipeline itself (signature, issuer, expiry, revocation).
    private func verify(_ token: ArraySlice<UInt8>, now: Int64) -> Identity? {
        guard let settings = snapshot.signIn else { return nil }
        let context = SessionContext(store: store, cookieName: settings.cookieName, revocations: revocations,
                                     ownIssuer: settings.ownIssuer, calls: SessionCallCount())
        var trace: DecisionTrace? = nil
        guard case .success(let identity) = RequestPipeline.verify(
            token, source: .bearer, tokens: snapshot.tokens, cache: nil, sessions: context, now: now, trace: &trace)
        else { return nil }
        return identity
    }

    func runHeldChecks() {
        let held = heldChecks
        heldChecks.removeAll()
        for check in held { check() }
    }

    func clearEvents() { events.removeAll() }

    /// Sends `head` (a request line and header lines, without the blank line) with `body` to the public
    /// listener's endpoints (or the admin listener's) and returns every answer the completion got.
    func send(_ head: String, body: String = "", peer: String = "192.0.2.10:5000", trusted: Bool = false,
              tls: Bool = false, admin: Bool = false) throws -> [Answer] {
        let request = try Self.request(head, body: body, admin: admin)
        let context = LocalContext(peer: try SocketAddress(parsing: peer), trusted: trusted, tls: tls)
        let responder: any LocalResponder = admin ? AdminEndpoints(services: services())
                                                  : SignInEndpoints(services: services())
        let answers = Answers()
        responder.respond(to: request, context: context) { response, error in
            answers.all.append(Answer(response: response, error: error))
        }
        lastAnswers = answers
        return answers.all
    }

    /// A complete `LocalRequest` as the connection hands it over: `head` (request line and header lines joined by
    /// "\n", no blank line) parsed by the real parser, `body` read in full.
    static func request(_ head: String, body: String = "", admin: Bool = false) throws -> LocalRequest {
        var text = head.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
        if !body.isEmpty { text += "\r\nContent-Length: \(body.utf8.count)" }
        text += "\r\n\r\n"
        var parser = RequestParser(limits: HTTPLimits())
        let bytes = Array(text.utf8)
        let event = try bytes.withUnsafeBytes { try parser.next($0) }
        guard case .requestHead(let parsed, let consumed) = event else { throw HarnessError("no head in \(head)") }
        let endpoint = admin ? OwnEndpoint.adminEndpoint(parsed) : OwnEndpoint.publicEndpoint(parsed)
        let request = LocalRequest(head: parsed, headBytes: consumed, startedAt: 0, endpoint: endpoint)
        request.body = Array(body.utf8)
        request.bodyComplete = true
        return request
    }

    /// The answers of the last `send`, including any that came after it returned (held checks, a late store).
    private(set) var lastAnswers = Answers()

    /// Sends and expects exactly one answer at once.
    func one(_ head: String, body: String = "", peer: String = "192.0.2.10:5000", trusted: Bool = false,
             tls: Bool = false, admin: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> Answer {
        let answers = try send(head, body: body, peer: peer, trusted: trusted, tls: tls, admin: admin)
        try #require(answers.count == 1, "expected one answer, got \(answers.count)", sourceLocation: sourceLocation)
        return answers[0]
    }

    /// Signs `user` in through the JSON login and returns the cookie value (session mode).
    func signIn(_ user: String = "alice", extraHeaders: String = "") throws -> String {
        let answer = try one("POST /.gatehouse/login HTTP/1.1\nHost: app.test\nContent-Type: application/json"
                             + extraHeaders, body: #"{"username":"\#(user)","password":"\#(Self.password)"}"#)
        guard answer.status == 200, let cookie = answer.cookieValue("gh_session") else {
            throw HarnessError("sign-in failed: \(answer.status) \(answer.text)")
        }
        return cookie
    }
}

final class Answers {
    var all: [Answer] = []
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One answer of a local endpoint, with the access log's reason.
struct Answer {
    let response: LocalResponse
    let error: String?

    var status: Int { response.status }
    var text: String { String(decoding: response.body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        response.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The value `Set-Cookie` gives `name` (nil without one).
    func cookieValue(_ name: String) -> String? {
        guard let cookie = header("Set-Cookie"), cookie.hasPrefix(name + "=") else { return nil }
        return String(cookie.dropFirst(name.count + 1).prefix { $0 != ";" })
    }

    /// The JSON body's members.
    var json: [String: ClaimValue] {
        (try? JSONScanner.parseObject(response.body)).map { Dictionary($0, uniquingKeysWith: { a, _ in a }) } ?? [:]
    }

    func string(_ member: String) -> String? {
        if case .string(let value)? = json[member] { return value }
        return nil
    }
}

extension String {
    /// How often `needle` occurs (not overlapping).
    func occurrences(of needle: String) -> Int {
        let hay = Array(utf8), pin = Array(needle.utf8)
        guard !pin.isEmpty, hay.count >= pin.count else { return 0 }
        var count = 0
        var i = 0
        while i <= hay.count - pin.count {
            if hay[i..<(i + pin.count)].elementsEqual(pin) {
                count += 1
                i += pin.count
            } else {
                i += 1
            }
        }
        return count
    }
}
