import GatehouseHTTP
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// A remote store whose cache always misses; counts the pipeline's lookups.
private final class MissingStore: SessionStore {
    var lookups = 0
    func lookup(_ key: SessionKey, now: Int64) -> SessionLookup {
        lookups += 1
        return .needsFetch
    }
    func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void) { done(.absent) }
    func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                _ done: @escaping (Result<[String], StoreError>) -> Void) { done(.failure(StoreError("test"))) }
    func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void) { done(.success(false)) }
    func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        done(.success(false))
    }
    func sessions(of user: String, now: Int64, _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void) {
        done(.success([]))
    }
    func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void) { done(.success(0)) }
    func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                       _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        done(.failure(StoreError("test")))
    }
    func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        done(.success(0))
    }
    func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) { done(.success(false)) }
    func signedInUsers(now: Int64, limit: Int, _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        done(.success(SignedInUsers(users: [], disabled: [], truncated: false)))
    }
    func onSessionsEnded(_ handler: @escaping ([String]) -> Void) {}
}

/// A session-cache miss waits for the store, then only the session part of the decision is evaluated: the
/// route's tokens were checked before the wait and the store is not looked up again.
@Suite("RequestPipeline: a store's answer finishes the pending decision")
struct RequestPipelineResumeTests {
    private let store = MissingStore()
    private var context: SessionContext {
        SessionContext(store: store, cookieName: Array("gatehouse_session".utf8), revocations: RevocationList(),
                       ownIssuer: nil, calls: calls)
    }
    private let calls = SessionCallCount()
    private let policy = RoutePolicy(mode: .required, acceptsBearer: true, tokenCookies: [], requirement: nil,
                                     redirectsBrowsersToLogin: false, identityHeaders: [],
                                     forwardsAuthorization: false, stripsCredentialCookies: true,
                                     sessionCookie: Array("gatehouse_session".utf8))
    private static let cookie = "Cookie: gatehouse_session=" + String(repeating: "A", count: 43)

    private func pending(_ lines: String...) -> (RequestHead, PendingSession)? {
        let head = exchangeRequest((["GET / HTTP/1.1", "Host: example.test"] + lines).joined(separator: "\r\n")).head
        var trace: DecisionTrace? = nil
        guard case .fetchSession(let pending) = RequestPipeline.decide(head, policy: policy, tokens: nil, cache: nil,
                                                                       sessions: context, now: 1, trace: &trace)
        else { return nil }
        return (head, pending)
    }

    @Test func cacheMissWaitsAndTheAnswerIsNotLookedUpAgain() throws {
        let (head, waiting) = try #require(pending(Self.cookie))
        #expect(store.lookups == 1)
        var trace: DecisionTrace? = DecisionTrace()
        let decision = RequestPipeline.resume(waiting, answer: .absent, head: head, policy: policy, trace: &trace)
        guard case .unauthenticated(let reason, let invalidToken) = decision else {
            Issue.record("not refused: \(decision)")
            return
        }
        #expect(reason == "session-unknown" && !invalidToken)
        #expect(store.lookups == 1 && calls.lookups == 1, "only the session's answer is evaluated again")
        #expect(trace?.steps == ["session: unknown or ended"])
    }

    @Test func storeOutageAndASecondMissAre503() throws {
        let (head, waiting) = try #require(pending(Self.cookie))
        var trace: DecisionTrace? = nil
        guard case .unavailable(let reason) = RequestPipeline.resume(
            waiting, answer: .unavailable(StoreError("down")), head: head, policy: policy, trace: &trace)
        else {
            Issue.record("not 503")
            return
        }
        #expect(reason == "session-store-down")
        guard case .unavailable(let miss) = RequestPipeline.resume(waiting, answer: .needsFetch, head: head,
                                                                   policy: policy, trace: &trace)
        else {
            Issue.record("a second miss was not 503")
            return
        }
        #expect(miss == "session-store-miss")
    }

    @Test func tokensAreCheckedBeforeTheWaitAndTheSessionRefusalStillWins() throws {
        // Two Authorization headers are refused (400) — but only after the session: its refusal comes first, as
        // when the store answers at once.
        let (head, waiting) = try #require(pending(Self.cookie, "Authorization: Bearer a", "Authorization: Bearer b"))
        var trace: DecisionTrace? = nil
        let decision = RequestPipeline.resume(waiting, answer: .absent, head: head, policy: policy, trace: &trace)
        guard case .unauthenticated(let reason, _) = decision else {
            Issue.record("not the session's refusal: \(decision)")
            return
        }
        #expect(reason == "session-unknown")
    }
}
