package import GatehouseIO

/// The embedded store is its own backend: one shared, thread-safe object that every worker uses directly
/// (reads from memory, never a wait). Each loop gets a thin face on it that delivers the completions of changes,
/// which wait for the writer's commit, back on that loop.
extension EmbeddedSessionStore: SessionBackend {
    package func store(for loop: EventLoop) -> any SessionStore { face(for: loop) }
}

/// A completion that crosses to the writer thread: only for direct calls on the shared store (tests, tools),
/// whose callers accept a completion on the writer thread.
struct UncheckedCompletion: @unchecked Sendable {
    let body: (Bool) -> Void
    init(_ body: @escaping (Bool) -> Void) { self.body = body }
}

/// One loop's face on the shared embedded store. Lookups answer at once; changes answer on this loop once the
/// writer has committed them (`LoopExecutor`). Made on the loop's thread or before the loop runs, like the
/// loop's other events.
///
/// `@unchecked Sendable` (the backend keeps faces in a `Mutex` for every thread to find): nothing in it changes
/// after `init`, the shared store is thread-safe, and the loop reference is only compared, never used.
final class LoopFace: SessionStore, ProviderSessionStore, @unchecked Sendable {
    private let store: EmbeddedSessionStore
    weak let loop: EventLoop?
    private let delivery: EmbeddedSessionStore.Delivery?

    init(store: EmbeddedSessionStore, loop: EventLoop) {
        self.store = store
        self.loop = loop
        delivery = (try? LoopExecutor(loop: loop)).map { .loop($0) }
    }

    /// Without an executor (no eventfd could be made) a change cannot be answered on this loop: it fails.
    private func withDelivery<T>(_ done: @escaping (Result<T, StoreError>) -> Void,
                                 _ body: (EmbeddedSessionStore.Delivery) -> Void) {
        guard let delivery else { return done(.failure(StoreError("no-loop-executor"))) }
        body(delivery)
    }

    func lookup(_ key: SessionKey, now: Int64) -> SessionLookup { store.lookup(key, now: now) }

    func fetch(_ key: SessionKey, now: Int64, _ done: @escaping (SessionLookup) -> Void) {
        done(store.lookup(key, now: now))
    }

    func create(_ record: SessionRecord, maxPerUser: Int, now: Int64,
                _ done: @escaping (Result<[String], StoreError>) -> Void) {
        withDelivery(done) { store.create(record, maxPerUser: maxPerUser, now: now, delivery: $0, done) }
    }

    func delete(_ key: SessionKey, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        withDelivery(done) { store.delete(key, delivery: $0, done) }
    }

    func delete(handle: String, of user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        withDelivery(done) { store.delete(handle: handle, of: user, delivery: $0, done) }
    }

    func sessions(of user: String, now: Int64, _ done: @escaping (Result<[SessionRecord], StoreError>) -> Void) {
        store.sessions(of: user, now: now, done)
    }

    func deleteAll(of user: String, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        withDelivery(done) { store.deleteAll(of: user, delivery: $0, done) }
    }

    func rotateRefresh(_ presented: SessionKey, next: SessionKey, now: Int64,
                       _ done: @escaping (Result<RefreshOutcome, StoreError>) -> Void) {
        withDelivery(done) { store.rotateRefresh(presented, next: next, now: now, delivery: $0, done) }
    }

    func setDisabled(_ user: String, _ disabled: Bool, _ done: @escaping (Result<Int, StoreError>) -> Void) {
        withDelivery(done) { store.setDisabled(user, disabled, delivery: $0, done) }
    }

    func isDisabled(_ user: String, _ done: @escaping (Result<Bool, StoreError>) -> Void) {
        store.isDisabled(user, done)
    }

    func signedInUsers(now: Int64, limit: Int, _ done: @escaping (Result<SignedInUsers, StoreError>) -> Void) {
        store.signedInUsers(now: now, limit: limit, done)
    }

    func endProviderSessions(_ match: ProviderSessionMatch, logoutToken: String, until: Int64, now: Int64,
                             _ done: @escaping (Result<ProviderLogoutOutcome, StoreError>) -> Void) {
        withDelivery(done) {
            store.endProviderSessions(match, logoutToken: logoutToken, until: until, now: now, delivery: $0, done)
        }
    }

    /// `handler` runs on this face's loop, whichever worker ended the session.
    func onSessionsEnded(_ handler: @escaping ([String]) -> Void) {
        guard case .loop(let executor)? = delivery else { return }
        store.listenForEnded(ObjectIdentifier(self), executor.callback(handler))
    }
}

/// A handler for ended sessions of a direct user of the shared store (tests, tools), which accepts being called
/// on whichever thread ends a session.
struct UncheckedEndedHandler: @unchecked Sendable {
    let body: ([String]) -> Void
    init(_ body: @escaping ([String]) -> Void) { self.body = body }
}

extension LoopFace: SecondFactorLedger {
    func acceptSecondFactor(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64,
                            _ done: @escaping (Result<SecondFactorOutcome, StoreError>) -> Void) {
        withDelivery(done) {
            store.acceptSecondFactor(user: user, step: step, pending: pending, pendingExpiresAt: pendingExpiresAt,
                                     now: now, delivery: $0, done)
        }
    }

    func resetSecondFactor(user: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        withDelivery(done) { store.resetSecondFactor(user: user, delivery: $0, done) }
    }
}

/// Direct calls on the shared store (tests, tools): completions on the writer thread, as its other changes.
extension EmbeddedSessionStore: SecondFactorLedger {
    package func acceptSecondFactor(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64,
                                    _ done: @escaping (Result<SecondFactorOutcome, StoreError>) -> Void) {
        acceptSecondFactor(user: user, step: step, pending: pending, pendingExpiresAt: pendingExpiresAt, now: now,
                           delivery: .writerThread, done)
    }

    package func resetSecondFactor(user: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        resetSecondFactor(user: user, delivery: .writerThread, done)
    }
}
