/// What presenting a right TOTP code did (`SecondFactorLedger.acceptSecondFactor`).
package enum SecondFactorOutcome: Sendable, Equatable {
    /// The step was after every step accepted for the user before, and the pending sign-in was fresh: both are
    /// now recorded as used.
    case accepted
    /// A code of this step or an earlier one was already accepted for this user (a replayed or shoulder-surfed
    /// code, or a second sign-in within one 30-second window): refused.
    case replayed
    /// The pending sign-in (the sealed "password passed" cookie) already completed once: refused.
    case pendingSpent
}

/// Where the gateway remembers which TOTP codes were used: per user, the last accepted time step (RFC 6238
/// section 5.2: "the verifier MUST NOT accept the second attempt of the OTP after the successful validation"),
/// and the pending sign-ins already completed. Every session backend is one; on Redis the check and the record
/// are one script, so two gateways cannot both accept one code.
///
/// Same loop rule as `SessionStore`: call on the store's loop; `done` runs there.
package protocol SecondFactorLedger: AnyObject {
    /// Atomically: refuses when `step` is not after the user's last accepted step, or `pending` (the pending
    /// sign-in's nonce) was already spent; otherwise records both (`pending` until `pendingExpiresAt`).
    func acceptSecondFactor(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64,
                            _ done: @escaping (Result<SecondFactorOutcome, StoreError>) -> Void)

    /// Forgets the user's last accepted step (the admin's second-factor reset, before a re-enrolment).
    func resetSecondFactor(user: String, _ done: @escaping (Result<Void, StoreError>) -> Void)
}

/// The ledger's state for the in-process stores (memory and embedded): plain values the store keeps under its
/// own lock.
struct SecondFactorSteps {
    /// The last accepted step per user name (bounded by the users file: only a right code adds an entry).
    private(set) var lastStep: [String: Int64] = [:]
    /// Spent pending nonces -> when they would have expired anyway.
    private var spent: [String: Int64] = [:]
    /// Beyond this many live spent nonces the oldest are dropped first by expiry; each needs a right code.
    static let spentCapacity = 100_000

    mutating func accept(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64)
        -> SecondFactorOutcome
    {
        if let last = lastStep[user], step <= last { return .replayed }
        if let until = spent[pending], until > now { return .pendingSpent }
        if spent.count >= Self.spentCapacity { spent = spent.filter { $0.value > now } }
        lastStep[user] = step
        spent[pending] = pendingExpiresAt
        return .accepted
    }

    /// A step read back from the file (embedded store).
    mutating func restore(user: String, step: Int64) {
        lastStep[user] = max(step, lastStep[user] ?? step)
    }

    mutating func reset(user: String) -> Bool {
        lastStep.removeValue(forKey: user) != nil
    }
}
