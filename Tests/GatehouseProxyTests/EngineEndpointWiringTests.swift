import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// What `ProxyEngine.localResponder` builds: the real services (a `BlockingPool` for hashes, the loop's executor
/// for their answers, the engine's counters), exercised on a real event loop run by the test thread, without a
/// socket.
@Suite("Local endpoints: the engine's wiring (one loop, no sockets)")
struct EngineEndpointWiringTests {
    /// Runs `body` on a new worker engine's loop and returns what its completion delivered (the loop stops then,
    /// or after 10 s).
    func onEngine(_ snapshot: ProxySnapshot, services: SessionServices?,
                  _ body: @escaping (ProxyEngine, @escaping (Answer) -> Void) throws -> Void) throws -> (Answer?, ProxyEngine) {
        let loop = try EventLoop()
        let engine = try ProxyEngine(loop: loop, snapshot: snapshot, logSink: nil, services: services)
        var answer: Answer?
        var thrown: (any Error)?
        let deadline = LoopTimer(loop: loop) { loop.stop() }
        deadline.schedule(after: .seconds(10))
        engine.executor.execute {
            do {
                try body(engine) { got in
                    answer = got
                    loop.stop()
                }
            } catch {
                thrown = error
                loop.stop()
            }
        }
        loop.run()
        deadline.cancel()
        engine.closeAll()
        // Pools and executors may be released after this; their events must never outlive the base.
        _ = Unmanaged.passRetained(loop)
        if let thrown { throw thrown }
        return (answer, engine)
    }

    /// Sends `head` (and `body`) to the engine's responder for the public (or admin) listener.
    func ask(_ engine: ProxyEngine, _ snapshot: ProxySnapshot, _ head: String, body: String = "", admin: Bool = false,
             _ done: @escaping (Answer) -> Void) throws {
        let request = try EndpointHarness.request(head, body: body, admin: admin)
        engine.localResponder(for: admin ? .admin : .proxy, snapshot: snapshot).respond(to: request, context: Self.peer) {
            done(Answer(response: $0, error: $1))
        }
    }

    static let jsonLogin = "POST /.gatehouse/login HTTP/1.1\nHost: app.test\nContent-Type: application/json"
    static let peer = LocalContext(peer: try! SocketAddress(parsing: "192.0.2.10:5000"), trusted: false, tls: false)

    func services(_ store: MemorySessionStore) throws -> SessionServices {
        SessionServices(backend: store, revocations: RevocationList(loaded: true),
                        throttle: SignInThrottle(maxFailures: 3, window: 60),
                        hashing: try BlockingPool(name: "test-hash", threads: 1, queueLimit: 4),
                        users: EndpointHarness.users)
    }

    @Test("a sign-in through the engine's responder: hashed on the pool, answered on the loop, counted")
    func signInThroughTheEngine() throws {
        let store = MemorySessionStore()
        let shared = try services(store)
        defer { shared.hashing.shutdown() }
        let snapshot = EndpointHarness.snapshot(mode: .session)
        let body = #"{"username":"alice","password":"\#(EndpointHarness.password)"}"#
        let (answer, engine) = try onEngine(snapshot, services: shared) { engine, done in
            try ask(engine, snapshot, Self.jsonLogin, body: body, done)
        }
        let got = try #require(answer, "no answer within 10 s")
        #expect(got.status == 200)
        #expect(got.cookieValue("gh_session") != nil)
        #expect(engine.counters.signIns == 1)
        #expect(store.sessionCount == 1)
    }

    @Test("a wrong password through the engine counts a failure, and the admin listener sees the store")
    func failureAndAdminThroughTheEngine() throws {
        let store = MemorySessionStore()
        let shared = try services(store)
        defer { shared.hashing.shutdown() }
        let snapshot = EndpointHarness.snapshot(mode: .session)
        let (answer, engine) = try onEngine(snapshot, services: shared) { engine, done in
            try ask(engine, snapshot, Self.jsonLogin, body: #"{"username":"alice","password":"wrong"}"#, done)
        }
        #expect(answer?.status == 401)
        #expect(engine.counters.signInFailures == 1)

        let (listed, _) = try onEngine(snapshot, services: shared) { engine, done in
            try ask(engine, snapshot, "GET /admin/users/alice/sessions HTTP/1.1\nHost: localhost", admin: true, done)
        }
        #expect(listed?.status == 200)
        #expect(listed?.text == "{\"sessions\":[]}\n")
    }

    @Test("an engine without sign-in answers the reserved prefix with 404")
    func noSignIn() throws {
        let snapshot = EndpointHarness.snapshot(mode: .session, signIn: false)
        let (answer, _) = try onEngine(snapshot, services: nil) { engine, done in
            try ask(engine, snapshot, "GET /.gatehouse/login HTTP/1.1\nHost: app.test", done)
        }
        #expect(answer?.status == 404)
        #expect(answer?.error == "sign-in-not-configured")
    }
}
