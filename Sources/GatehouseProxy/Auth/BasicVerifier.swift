import GatehouseAuth
import GatehouseIO
import GatehouseSessions

/// The answer to a `PendingPassword`.
enum PasswordCheck {
    /// The pair is right, the account enabled: the identity (remembered in the worker's cache).
    case verified(Identity)
    /// Unknown user, wrong password or a disabled account (counted by the throttle): 401.
    case wrong
    /// Too many failures from this address or against this user: 429 with `Retry-After`.
    case throttled(retryAfter: Int64)
    /// The hashing threads are saturated: 503 with `Retry-After` (nothing was counted).
    case busy(retryAfter: Int64)
}

/// Checks the passwords of `Authorization: Basic` the way the login form does (`SignInCall.login`): the same
/// throttle (this process's `SignInThrottle`, and the shared one when the store is Redis: reserved before the
/// hash, given back on success), the same hashing threads (never the loop), the dummy hash for unknown names so
/// timing tells nothing. A success is remembered in the worker's `BasicCredentialCache`.
///
/// One per worker, used on its loop only; completions come back there.
final class BasicVerifier {
    let cache: BasicCredentialCache
    private let services: SessionServices
    private let store: (any SessionStore)?
    private let passwords: PasswordChecker
    /// Passwords hashed for Basic by this worker (metrics: what the cache did not save).
    private(set) var hashes = 0
    /// Basic attempts refused by the throttle.
    private(set) var throttled = 0
    /// Wrong pairs.
    private(set) var failures = 0

    init(services: SessionServices, store: (any SessionStore)?, passwords: PasswordChecker,
         cache: BasicCredentialCache = BasicCredentialCache()) {
        self.services = services
        self.store = store
        self.passwords = passwords
        self.cache = cache
    }

    /// The pipeline's view: this cache, the users as loaded now.
    var context: BasicContext {
        let services = self.services
        return BasicContext(cache: cache, users: { services.users }, epoch: { services.userStatusEpoch })
    }

    /// Checks `pending` for a client at `address` (the throttle key); `done` runs on the loop, exactly once.
    func check(_ pending: PendingPassword, address: String, now: Int64, _ done: @escaping (PasswordCheck) -> Void) {
        let throttle = services.throttle
        if let wait = throttle.retryAfter(address: address, user: pending.user, now: now) {
            throttled += 1
            done(.throttled(retryAfter: wait))
            return
        }
        guard let shared = store as? any SharedSignInThrottle, throttle.maxFailures > 0 else {
            hash(pending, address: address, reservedAt: nil, done)
            return
        }
        shared.reserveSignIn(address: address, user: pending.user, maxFailures: throttle.maxFailures,
                             window: throttle.window, now: now) { [self] result in
            switch result {
            case .success(let wait?):
                throttled += 1
                done(.throttled(retryAfter: wait))
            case .success(nil):
                hash(pending, address: address, reservedAt: now, done)
            case .failure:
                // As the login form: this gateway's own count (checked above) still bounds the guesses.
                hash(pending, address: address, reservedAt: nil, done)
            }
        }
    }

    private func hash(_ pending: PendingPassword, address: String, reservedAt: Int64?,
                      _ done: @escaping (PasswordCheck) -> Void) {
        let users = services.users
        let epoch = services.userStatusEpoch
        let account = users.account(named: pending.user)
        let encoded = account?.passwordHash ?? users.dummyHash
        let password = pending.password
        let queueWait = passwords.maxQueueWait
        hashes += 1
        let queued = passwords.submit({ PasswordHash.verify(password, against: encoded) }) { [self] outcome in
            guard case .finished(let ok) = outcome else {
                done(.busy(retryAfter: queueWait))
                return
            }
            let now = Int64(Clocks.wallClock().seconds)
            guard ok, let account, !account.disabled else {
                failures += 1
                services.throttle.recordFailure(address: address, user: pending.user, now: now)
                done(.wrong)
                return
            }
            services.throttle.recordSuccess(address: address, user: pending.user)
            if let reservedAt, let shared = store as? any SharedSignInThrottle {
                shared.releaseSignIn(address: address, user: pending.user, reservedAt: reservedAt, signedIn: true)
            }
            // The users file says yes; an administrator's disable (kept in the store) may still say no.
            guard let store else { return accept(account, pending, users: users, epoch: epoch, now: now, done) }
            store.isDisabled(account.name) { [self] result in
                switch result {
                case .success(false): accept(account, pending, users: users, epoch: epoch, now: now, done)
                case .success(true): done(.wrong)
                case .failure: done(.busy(retryAfter: 1))  // fail closed: never a pass the store could not confirm
                }
            }
        }
        if !queued {
            hashes -= 1
            if let reservedAt, let shared = store as? any SharedSignInThrottle {
                shared.releaseSignIn(address: address, user: pending.user, reservedAt: reservedAt, signedIn: false)
            }
            done(.busy(retryAfter: 1))
        }
    }

    /// A right pair of an enabled user: remembered under the directory and epoch the check started with (a reload
    /// or a disable meanwhile empties the cache at its next use), then the identity.
    private func accept(_ account: UserAccount, _ pending: PendingPassword, users: UserDirectory, epoch: UInt64,
                        now: Int64, _ done: @escaping (PasswordCheck) -> Void) {
        let identity = BasicCredentialCache.identity(of: account)
        if pending.cacheTTL > 0 {
            cache.insert(user: pending.user.utf8, password: pending.password, identity: identity, now: now,
                         directory: users, epoch: epoch)
        }
        done(.verified(identity))
    }
}
