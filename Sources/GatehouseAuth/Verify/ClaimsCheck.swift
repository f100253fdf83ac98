/// The registered claims (RFC 7519 §4.1) that verification judges, located in one pass over the payload.
struct RegisteredClaims {
    /// `iss`, any JSON type (judged by the verifier).
    var issuer: ClaimValue? = nil
    /// `sub`, any JSON type.
    var subject: ClaimValue? = nil
    /// `aud`, any JSON type.
    var audience: ClaimValue? = nil
    /// `exp`, any JSON type.
    var expiry: ClaimValue? = nil
    /// `nbf`, any JSON type.
    var notBefore: ClaimValue? = nil
    /// `iat`, any JSON type.
    var issuedAt: ClaimValue? = nil

    /// Picks the registered claims out of the top-level members (names are unique: the scanner saw to that).
    init(_ claims: [(String, ClaimValue)]) {
        for (name, value) in claims {
            switch name {
            case "iss": issuer = value
            case "sub": subject = value
            case "aud": audience = value
            case "exp": expiry = value
            case "nbf": notBefore = value
            case "iat": issuedAt = value
            default: continue
            }
        }
    }
}

/// The time, audience and type rules for claims, as pure functions of the claims, the policy and `now`.
///
/// Overflow safety: a NumericDate is accepted only within ±2^53 seconds (any real date, and every integer a
/// `Double` holds exactly), checked before any conversion, so `1e300` is `bad-claim-type` and no conversion can
/// trap. The leeway is at most 2^32 (a precondition of ``TokenVerifier``), so `claim ± leeway` cannot overflow;
/// `now` is never offset, since the injected clock is arbitrary.
enum ClaimsCheck {
    /// The largest accepted magnitude of a NumericDate, in seconds.
    static let numericDateLimit: Int64 = 1 << 53

    /// Converts a NumericDate claim (RFC 7519 §2: a JSON number, possibly fractional) to whole seconds.
    ///
    /// - Throws: `bad-claim-type` for a non-number or a number outside ±2^53.
    static func numericDate(_ value: ClaimValue) throws(AuthFailure) -> Int64 {
        switch value {
        case .integer(let seconds):
            guard seconds >= -numericDateLimit, seconds <= numericDateLimit else { throw .badClaimType }
            return seconds
        case .number(let seconds):
            let limit = Double(numericDateLimit)
            guard seconds.isFinite, seconds >= -limit, seconds <= limit else { throw .badClaimType }
            return Int64(seconds.rounded(.down))
        case .string, .bool, .null, .array, .object:
            throw .badClaimType
        }
    }

    /// Checks `exp`, `nbf` and `iat` against `now` with the leeway, in that order.
    ///
    /// - Returns: `exp`, if present.
    /// - Throws: `missing-exp`, `expired` (`now ≥ exp + leeway`), `not-yet-valid` (`now < nbf − leeway`),
    ///   `issued-in-future` (`now < iat − leeway`), or `bad-claim-type`.
    static func checkTimes(_ claims: RegisteredClaims, requireExpiry: Bool, now: Int64, leeway: Int64)
        throws(AuthFailure) -> Int64?
    {
        var expiresAt: Int64? = nil
        if let value = claims.expiry {
            let exp = try numericDate(value)
            guard now < exp + leeway else { throw .expired }
            expiresAt = exp
        } else if requireExpiry {
            throw .missingExp
        }
        if let value = claims.notBefore {
            guard now >= (try numericDate(value)) - leeway else { throw .notYetValid }
        }
        if let value = claims.issuedAt {
            guard now >= (try numericDate(value)) - leeway else { throw .issuedInFuture }
        }
        return expiresAt
    }

    /// Checks `aud` (RFC 7519 §4.1.3): a string or an array of strings, at least one of which is accepted.
    ///
    /// - Parameter accepted: the issuer's audiences; empty skips the check entirely.
    /// - Throws: `wrong-audience` when absent or unmatched; `bad-claim-type` for another JSON type or a
    ///   non-string array element.
    static func checkAudience(_ audience: ClaimValue?, accepted: [String]) throws(AuthFailure) {
        guard !accepted.isEmpty else { return }
        switch audience {
        case nil:
            throw .wrongAudience
        case .string(let value)?:
            guard accepted.contains(value) else { throw .wrongAudience }
        case .array(let values)?:
            var matched = false
            for value in values {
                guard case .string(let text) = value else { throw .badClaimType }
                if !matched && accepted.contains(text) { matched = true }
            }
            guard matched else { throw .wrongAudience }
        case _?:
            throw .badClaimType
        }
    }

    /// Reads `sub`, which must be a string when present.
    ///
    /// - Throws: `bad-claim-type` for another JSON type.
    static func subject(_ value: ClaimValue?) throws(AuthFailure) -> String? {
        switch value {
        case nil: return nil
        case .string(let text)?: return text
        case _?: throw .badClaimType
        }
    }
}
