/// Why a back-channel logout token was refused; the reason goes to the log, the metric and the 400's
/// `error_description`.
package struct LogoutTokenFailure: Error, Sendable, Equatable, CustomStringConvertible {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// A logout token that passed every check: what it names and its replay identity.
package struct LogoutToken: Sendable, Equatable {
    package let issuer: String
    package let sid: String?
    package let subject: String?
    package let jti: String
    /// `iat`, Unix seconds.
    package let issuedAt: Int64
}

/// The checks of OpenID Connect Back-Channel Logout 1.0 §2.6 on a logout token, strictly.
///
/// In order, cheap first: the header's `alg` is on the provider's allow-list and asymmetric (`none` and every
/// HMAC refused before a key is looked at: a token "signed" with the client secret or with a public key as an
/// HMAC secret never passes); ``TokenVerifier`` (the provider's keys, `aud` = the client, with `exp` optional)
/// checks the signature, `iss`, `aud`, `crit`, `exp`/`nbf` and `iat` not in the future, all with leeway. Then
/// here: `iat` present and not older than `maxAge` (plus leeway); `jti` a non-empty string; `events` a JSON object
/// whose `http://schemas.openid.net/event/backchannel-logout` member is a JSON object; `sid` or `sub` present (as
/// strings); `nonce` absent (§2.4: so an ID token can never pass as a logout token). Replay of `jti` is the
/// store's check (``LogoutToken/replayKey``), made after this one.
package enum LogoutTokenCheck {
    package static let event = "http://schemas.openid.net/event/backchannel-logout"
    /// How old (by `iat`) a logout token may be: it is sent at once, so minutes are plenty; also how long its
    /// `jti` must be remembered.
    package static let defaultMaxAge: Int64 = 300

    /// The unverified `iss` of `token` (the payload's), to pick the provider whose keys then verify it; nil when
    /// the token cannot even be read that far.
    package static func unverifiedIssuer(_ token: [UInt8]) -> String? {
        let parts = token.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]),
              let members = try? JSONScanner.parseObject(payload),
              case .string(let issuer)? = ClaimValue.object(members).member("iss")
        else { return nil }
        return issuer
    }

    package static func verify(_ token: [UInt8], verifier: TokenVerifier, allowed: Set<JWSAlgorithm>, now: Int64,
                               maxAge: Int64 = defaultMaxAge) -> Result<LogoutToken, LogoutTokenFailure> {
        guard let dot = token.firstIndex(of: UInt8(ascii: ".")), let headerBytes = Base64URL.decode(token[..<dot])
        else { return .failure(LogoutTokenFailure("malformed")) }
        let header: JOSEHeader
        do {
            header = try JOSEHeader(headerBytes)
        } catch {
            return .failure(LogoutTokenFailure(error.reason))
        }
        guard allowed.contains(header.algorithm), !header.algorithm.isHMAC else {
            return .failure(LogoutTokenFailure("alg-not-allowed"))
        }
        let verified: VerifiedToken
        switch verifier.verify(token[...], now: now) {
        case .failure(let failure): return .failure(LogoutTokenFailure(failure.reason))
        case .success(let token): verified = token
        }
        let issuedAt: Int64
        switch verified.claim("iat") {
        case .integer(let value)?: issuedAt = value
        case .number(let value)? where value.isFinite && abs(value) < 1e15: issuedAt = Int64(value)
        default: return .failure(LogoutTokenFailure("no-iat"))
        }
        guard now - issuedAt <= maxAge + verifier.leewaySeconds else { return .failure(LogoutTokenFailure("too-old")) }
        guard case .string(let jti)? = verified.claim("jti"), !jti.isEmpty, jti.utf8.count <= 256 else {
            return .failure(LogoutTokenFailure("no-jti"))
        }
        guard case .object(let events)? = verified.claim("events") else {
            return .failure(LogoutTokenFailure("no-events"))
        }
        guard case .object? = events.first(where: { $0.0 == event })?.1 else {
            return .failure(LogoutTokenFailure("no-logout-event"))
        }
        guard verified.claim("nonce") == nil else { return .failure(LogoutTokenFailure("nonce-present")) }
        var sid: String?
        switch verified.claim("sid") {
        case nil: break
        case .string(let value)? where !value.isEmpty: sid = value
        case _?: return .failure(LogoutTokenFailure("bad-sid"))
        }
        let subject = verified.subject.flatMap { $0.isEmpty ? nil : $0 }
        guard sid != nil || subject != nil else { return .failure(LogoutTokenFailure("no-sid-or-sub")) }
        return .success(LogoutToken(issuer: verified.issuer, sid: sid, subject: subject, jti: jti,
                                    issuedAt: issuedAt))
    }
}

extension LogoutToken {
    /// What the store remembers against replay: issuer and `jti` (a `jti` is unique per issuer only). Hex of
    /// SHA-256 would hide nothing secret; the plain text keeps logs and Redis keys readable, bounded by the
    /// 256-byte `jti` cap and the configured issuers.
    package var replayKey: String { issuer + " " + jti }

    /// Until when a replay must be refused: after that, `iat` is too old anyway.
    package func replayWindowEnd(maxAge: Int64 = LogoutTokenCheck.defaultMaxAge, leeway: Int64) -> Int64 {
        issuedAt + maxAge + leeway + 1
    }
}
