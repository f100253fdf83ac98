import GatehouseIO

/// The shared sign-in throttle on the session store's own command connection (one `throttle` script per call,
/// see `RedisScript.throttle`).
extension RedisSessionStore: SharedSignInThrottle {
    package func reserveSignIn(address: String, user: String, maxFailures: Int, window: Int64, now: Int64,
                               _ done: @escaping (Result<Int64?, StoreError>) -> Void) {
        throttle("reserve", address: address, user: user, maxFailures: maxFailures, window: window, now: now) {
            result in
            done(result.flatMap { reply in
                guard case .array(let items) = reply, case .integer(let wait)? = items.first else {
                    return .failure(StoreError("redis-bad-reply"))
                }
                return .success(wait > 0 ? wait : nil)
            })
        }
    }

    package func releaseSignIn(address: String, user: String, reservedAt: Int64, signedIn: Bool) {
        throttle(signedIn ? "release" : "cancel", address: address, user: user, maxFailures: 1, window: 1,
                 now: reservedAt) { _ in }
    }
}
