import GatehouseIO

/// The second-factor ledger on Redis: one `second-factor` script per accepted code, so every gateway on this
/// Redis sees a used step at once (`RedisScript.secondFactor`).
extension RedisSessionStore: SecondFactorLedger {
    package func acceptSecondFactor(user: String, step: Int64, pending: String, pendingExpiresAt: Int64, now: Int64,
                                    _ done: @escaping (Result<SecondFactorOutcome, StoreError>) -> Void) {
        let args = [prefix, Array(String(step).utf8), Array(pending.utf8),
                    Array(String(max(1, pendingExpiresAt - now)).utf8)]
        run(.secondFactor, key: keys.secondFactor(user), args: args, durable: true) { result in
            done(result.flatMap { reply in
                guard case .array(let items) = reply, case .bulk(let word)? = items.first else {
                    return .failure(StoreError("redis-bad-reply"))
                }
                switch String(decoding: word, as: UTF8.self) {
                case "accepted": return .success(.accepted)
                case "replayed": return .success(.replayed)
                case "spent": return .success(.pendingSpent)
                default: return .failure(StoreError("redis-bad-reply"))
                }
            })
        }
    }

    package func resetSecondFactor(user: String, _ done: @escaping (Result<Void, StoreError>) -> Void) {
        run(.resetSecondFactor, key: keys.secondFactor(user), args: [prefix], durable: true) { result in
            done(result.map { _ in () })
        }
    }
}
