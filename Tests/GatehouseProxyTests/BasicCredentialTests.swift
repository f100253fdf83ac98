import Foundation
import GatehouseAuth
import GatehouseHTTP
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// `Authorization: Basic` without sockets: the extractor's strict RFC 7617 reading, the base64 codec against
/// Foundation's, the verified-pair cache (TTL, reload, capacity), the pipeline's decisions and the machine's wait.
@Suite("Basic credentials: extractor, cache, pipeline, machine")
struct BasicCredentialTests {
    /// A syntactically valid bcrypt hash at cost 4 (the directory's dummy hash is then cheap to make).
    static let hash = "$2b$04$" + String(repeating: "a", count: 53)

    static func directory(disabled: Bool = false) -> UserDirectory {
        UserDirectory(accounts: [UserAccount(name: "alice", passwordHash: hash, email: "alice@example.com",
                                             groups: ["staff"], disabled: disabled)])
    }

    static func head(_ authorization: String...) -> RequestHead {
        exchangeRequest(get, host, authorization.joined(separator: "\r\n")).head
    }

    static func basic(_ pair: String) -> String { "Authorization: Basic " + Data(pair.utf8).base64EncodedString() }

    @Test func extractsNameAndPassword() throws {
        guard case .credentials(let user, let password) = CredentialExtractor.basic(Self.head(Self.basic("alice:p:w é")))
        else { Issue.record("no credentials"); return }
        #expect(user == "alice")
        #expect(Array(password) == Array("p:w é".utf8), "the password keeps its colons (only the first splits)")
        // Padding may be left out; the scheme is case-insensitive; several spaces are allowed.
        guard case .credentials(let bare, _) = CredentialExtractor.basic(Self.head("Authorization: BASIC   YWxpY2U6cHc"))
        else { Issue.record("unpadded"); return }
        #expect(bare == "alice")
        if case .absent = CredentialExtractor.basic(exchangeRequest(get, host).head) {} else { Issue.record("absent") }
        for other in ["Authorization: Bearer abc", "Authorization: Basically YWxpY2U6cHc=", "Authorization: Digest x"] {
            if case .otherScheme = CredentialExtractor.basic(Self.head(other)) {} else { Issue.record("\(other)") }
        }
    }

    @Test(arguments: [
        ("Authorization: Basic", "basic-no-credentials"),
        ("Authorization: Basic ====", "basic-bad-base64"),
        ("Authorization: Basic YWxpY2U6cHc==", "basic-bad-base64"),
        ("Authorization: Basic YWxpY2U6cHd=", "basic-bad-base64"),
        ("Authorization: Basic YWxp Y2U6cHc=", "basic-bad-base64"),
        ("Authorization: Basic " + Data("nocolon".utf8).base64EncodedString(), "basic-no-colon"),
        ("Authorization: Basic " + Data([0x61, 0x00, 0x3a, 0x62]).base64EncodedString(), "basic-control-character"),
        ("Authorization: Basic " + Data([0xc3, 0x28, 0x3a, 0x62]).base64EncodedString(), "basic-user-not-utf8"),
        ("Authorization: Basic " + String(repeating: "A", count: 1028), "basic-too-long"),
    ])
    func refusesMalformed(header: String, reason: String) {
        guard case .malformed(let found) = CredentialExtractor.basic(Self.head(header)) else {
            Issue.record("\(header) was accepted")
            return
        }
        #expect(found == reason)
    }

    @Test func twoAuthorizationFieldsAreMalformed() {
        let head = Self.head(Self.basic("a:b"), Self.basic("a:b"))
        guard case .malformed(let reason) = CredentialExtractor.basic(head) else { Issue.record("accepted"); return }
        #expect(reason == "several-authorization-headers")
    }

    @Test func base64MatchesFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var encoded: [UInt8] = []
            CredentialExtractor.encodeBase64(bytes, into: &encoded)
            #expect(String(decoding: encoded, as: UTF8.self) == Data(bytes).base64EncodedString())
            #expect(CredentialExtractor.decodeBase64(encoded[...]) == bytes)
        }
    }

    @Test func cacheRemembersPairsForTheirTTLAndUnderTheirDirectory() {
        let cache = BasicCredentialCache(capacity: 2)
        let users = Self.directory()
        let identity = BasicCredentialCache.identity(of: users.account(named: "alice")!)
        let pw = Array("pw".utf8)
        #expect(cache.lookup(user: "alice".utf8, password: pw, ttl: 60, now: 100, directory: users) == nil)
        cache.insert(user: "alice".utf8, password: pw, identity: identity, now: 100, directory: users)
        #expect(cache.lookup(user: "alice".utf8, password: pw, ttl: 60, now: 159, directory: users)?.subject == "alice")
        #expect(cache.lookup(user: "alice".utf8, password: Array("pW".utf8), ttl: 60, now: 101, directory: users) == nil)
        // Name and password are framed: ("alic", "epw") is another pair than ("alice", "pw").
        #expect(cache.lookup(user: "alic".utf8, password: Array("epw".utf8), ttl: 60, now: 101, directory: users) == nil)
        #expect(cache.lookup(user: "alice".utf8, password: pw, ttl: 60, now: 160, directory: users) == nil, "expired")
        cache.insert(user: "alice".utf8, password: pw, identity: identity, now: 200, directory: users)
        #expect(cache.lookup(user: "alice".utf8, password: pw, ttl: 0, now: 200, directory: users) == nil, "ttl 0")
        // A reloaded directory (a user disabled, removed or re-passworded) empties the cache.
        let reloaded = Self.directory(disabled: true)
        #expect(cache.lookup(user: "alice".utf8, password: pw, ttl: 60, now: 201, directory: reloaded) == nil)
        #expect(cache.count == 0)
        // Bounded: the oldest pair is overwritten.
        for (index, name) in ["a", "b", "c"].enumerated() {
            cache.insert(user: name.utf8, password: pw, identity: identity, now: 300 + Int64(index), directory: reloaded)
        }
        #expect(cache.count == 2)
        #expect(cache.lookup(user: "a".utf8, password: pw, ttl: 60, now: 310, directory: reloaded) == nil)
        #expect(cache.lookup(user: "c".utf8, password: pw, ttl: 60, now: 310, directory: reloaded) != nil)
    }

    @Test func pipelineAsksForAHashThenUsesTheCacheOrTheVerifiedIdentity() throws {
        let users = Self.directory()
        let cache = BasicCredentialCache()
        let context = BasicContext(cache: cache, users: { users })
        let policy = RoutePolicy(mode: .required, acceptsBearer: false, tokenCookies: [], requirement: nil,
                                 redirectsBrowsersToLogin: false, identityHeaders: [], forwardsAuthorization: false,
                                 stripsCredentialCookies: true, basic: BasicPolicy(realm: "r", cacheTTL: 60))
        let head = Self.head(Self.basic("alice:pw"))
        var trace: DecisionTrace? = nil
        guard case .verifyPassword(let pending) = RequestPipeline.decide(
            head, policy: policy, tokens: nil, cache: nil, basic: context, now: 10, trace: &trace)
        else { Issue.record("no password check asked"); return }
        #expect(pending.user == "alice")
        #expect(pending.password == Array("pw".utf8))
        #expect(pending.cacheTTL == 60)
        let identity = BasicCredentialCache.identity(of: try #require(users.account(named: "alice")))
        guard case .forward(let verified?) = RequestPipeline.decide(
            head, policy: policy, tokens: nil, cache: nil, basic: context, verifiedBasic: identity, now: 10,
            trace: &trace)
        else { Issue.record("the verified identity was not used"); return }
        #expect(verified.subject == "alice")
        #expect(verified.source == .basic)
        cache.insert(user: "alice".utf8, password: Array("pw".utf8), identity: identity, now: 10, directory: users)
        guard case .forward(let cached?) = RequestPipeline.decide(
            head, policy: policy, tokens: nil, cache: nil, basic: context, now: 20, trace: &trace)
        else { Issue.record("no cache hit"); return }
        #expect(cached.claim("email") == .string("alice@example.com"))
        // Malformed: 400 before anything else; explain (no context): unauthenticated, never a pass.
        guard case .badRequest = RequestPipeline.decide(Self.head("Authorization: Basic ^^"), policy: policy,
                                                        tokens: nil, cache: nil, basic: context, now: 20,
                                                        trace: &trace)
        else { Issue.record("malformed accepted"); return }
        guard case .unauthenticated = RequestPipeline.decide(head, policy: policy, tokens: nil, cache: nil, now: 20,
                                                             trace: &trace)
        else { Issue.record("no context: not refused"); return }
    }

    @Test func refusalCarriesTheBasicChallenge() {
        let basicOnly = String(decoding: AuthResponses.refusal(
            status: 401, bearer: false, invalidToken: true, html: false, close: false,
            basicChallenge: #"Basic realm="r", charset="UTF-8""#), as: UTF8.self)
        #expect(basicOnly.components(separatedBy: "WWW-Authenticate: ").count == 2)
        #expect(basicOnly.contains("WWW-Authenticate: Basic realm=\"r\", charset=\"UTF-8\"\r\n"))
        let both = String(decoding: AuthResponses.refusal(
            status: 401, bearer: true, invalidToken: false, html: false, close: false,
            basicChallenge: #"Basic realm="r", charset="UTF-8""#), as: UTF8.self)
        #expect(both.contains("WWW-Authenticate: Bearer realm=\"gatehouse\"\r\nWWW-Authenticate: Basic realm=\"r\""))
        let forbidden = String(decoding: AuthResponses.refusal(
            status: 403, bearer: false, invalidToken: false, html: false, close: false, basicChallenge: "Basic x"),
            as: UTF8.self)
        #expect(!forbidden.contains("WWW-Authenticate"))
    }

    @Test func machineWaitsForThePasswordAndIgnoresLateOrOldAnswers() {
        var h = MachineHarness()
        let pending = PendingPassword(user: "alice", password: [1], cacheTTL: 0)
        h.on { $0.headParsed(exchangeRequest(get, host, Self.basic("alice:pw"))) }
        #expect(h.on { $0.decided(.verifyPassword(route: 0, pending)) } == ["verifyPassword(ticket: 1)"])
        #expect(h.machine.pendingPassword?.user == "alice")
        #expect(h.machine.pendingSessionKey == nil)
        #expect(h.on { $0.storeAnswered(ticket: 1, answer: .absent) } == [], "not a store wait")
        #expect(h.on { $0.passwordChecked(ticket: 2, check: .wrong) } == [], "another ticket")
        #expect(h.on { $0.passwordChecked(ticket: 1, check: .wrong) } == ["decide"])
        guard case .password(.wrong)? = h.machine.takeResumption()?.answer else {
            Issue.record("the check is not handed to the decision")
            return
        }
        var left = MachineHarness()
        left.on { $0.headParsed(exchangeRequest(get, host)) }
        left.on { $0.decided(.verifyPassword(route: 0, pending)) }
        #expect(left.on { $0.clientClosed() } == ["close"])
        #expect(left.on { $0.passwordChecked(ticket: 1, check: .wrong) } == [], "the client left during the hash")
    }
}
