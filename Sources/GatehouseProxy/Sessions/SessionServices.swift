package import GatehouseIO
package import GatehouseSessions
import Synchronization

/// What every worker shares for sign-in and sessions, for the life of the process (a config reload does not
/// replace it): the session backend, the users (replaced when the users file changes), the failed-sign-in
/// throttle, the password-hashing threads and the revocation list.
package final class SessionServices: Sendable {
    package let backend: any SessionBackend
    package let revocations: RevocationList
    package let throttle: SignInThrottle
    /// Password hashes run here, never on an event loop.
    package let hashing: BlockingPool
    private let directory: Mutex<UserDirectory>
    /// Moves whenever an administrator disables or enables a user (`/admin/users/NAME/disable`): every worker's
    /// cache of verified Basic passwords is emptied at its next use, so a disabled user is refused at once.
    private let userStatus = Atomic<UInt64>(0)
    /// Outbound HTTPS (the OpenID providers' token endpoints), never on an event loop; nil without `login.oidc`.
    package let outbound: BlockingPool?

    package init(backend: any SessionBackend, revocations: RevocationList, throttle: SignInThrottle,
                 hashing: BlockingPool, users: UserDirectory, outbound: BlockingPool? = nil) {
        self.outbound = outbound
        self.backend = backend
        self.revocations = revocations
        self.throttle = throttle
        self.hashing = hashing
        directory = Mutex(users)
    }

    /// See `userStatus`.
    package var userStatusEpoch: UInt64 { userStatus.load(ordering: .acquiring) }

    /// An administrator disabled or enabled a user.
    package func noteUserStatusChanged() {
        userStatus.add(1, ordering: .releasing)
    }

    /// The users as last loaded.
    package var users: UserDirectory { directory.withLock { $0 } }

    /// Installs a reloaded users file; returns the previous directory.
    package func replaceUsers(_ users: UserDirectory) -> UserDirectory {
        directory.withLock { current in
            let old = current
            current = users
            return old
        }
    }
}
