/// A sign-in throttle every gateway shares (the Redis store is one): the counts of `SignInThrottle`, kept where
/// all gateways see them, so N gateways allow the failures of one, not N times as many.
///
/// Unlike the local throttle, an attempt is counted when it starts (`reserve`) and taken back when it turns out
/// right (`release`): two guesses in flight on two gateways cannot both pass a limit that has room for one.
/// Same loop rule as `SessionStore`: call on the store's loop; `done` runs there.
package protocol SharedSignInThrottle: AnyObject {
    /// `.success(nil)`: the attempt may go ahead and is now counted against `address` and `user`;
    /// `.success(seconds)`: refused, retry after that long; `.failure`: the shared count cannot be read now.
    func reserveSignIn(address: String, user: String, maxFailures: Int, window: Int64, now: Int64,
                       _ done: @escaping (Result<Int64?, StoreError>) -> Void)

    /// Takes back the attempt reserved at `reservedAt`: it signed in (`signedIn`: the user's count is cleared
    /// too, as the local throttle does) or was never made (the hashing pool was full).
    func releaseSignIn(address: String, user: String, reservedAt: Int64, signedIn: Bool)
}
