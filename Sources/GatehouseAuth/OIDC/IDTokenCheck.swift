/// Why an ID token from a provider's token endpoint was refused (OpenID Connect Core 1.0 §3.1.3.7); the reason is
/// for logs, the person sees only that sign-in failed.
package struct IDTokenFailure: Error, Sendable, Equatable, CustomStringConvertible {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// The checks an ID token passes beyond those of any JWT of its issuer.
///
/// ``TokenVerifier`` (with the provider's keys from discovery and `aud` = the client ID) has checked the signature,
/// `iss`, `aud`, `exp`/`nbf`/`iat` with leeway, `crit` and the algorithm against the keys. Here: the algorithm is
/// on the provider's allow-list (asymmetric only: an HMAC token "signed" with the client secret or with a public key
/// is never accepted), `sub` and `iat` are present, `azp` is the client when present and required when `aud` names
/// several audiences, and `nonce` equals the one bound to this browser's sign-in (constant time).
package enum IDTokenCheck {
    /// The asymmetric algorithms; the default allow-list.
    package static let asymmetric: Set<JWSAlgorithm> = [.RS256, .RS384, .RS512, .PS256, .PS384, .PS512, .ES256,
                                                         .ES384, .ES512, .EdDSA]

    package static func verify(_ token: [UInt8], verifier: TokenVerifier, clientID: String, nonce: String,
                               allowed: Set<JWSAlgorithm> = asymmetric, now: Int64)
        -> Result<VerifiedToken, IDTokenFailure>
    {
        // The header's alg first: an HS256 or `none` token never reaches a key.
        guard let dot = token.firstIndex(of: UInt8(ascii: ".")),
              let headerBytes = Base64URL.decode(token[..<dot])
        else { return .failure(IDTokenFailure("id-token-malformed")) }
        let header: JOSEHeader
        do {
            header = try JOSEHeader(headerBytes)
        } catch {
            return .failure(IDTokenFailure("id-token-\(error.reason)"))
        }
        guard allowed.contains(header.algorithm), !header.algorithm.isHMAC else {
            return .failure(IDTokenFailure("id-token-alg-not-allowed"))
        }
        let verified: VerifiedToken
        switch verifier.verify(token[...], now: now) {
        case .failure(let failure): return .failure(IDTokenFailure("id-token-\(failure.reason)"))
        case .success(let token): verified = token
        }
        guard verified.subject != nil else { return .failure(IDTokenFailure("id-token-no-sub")) }
        switch verified.claim("iat") {
        case .integer?, .number?: break
        default: return .failure(IDTokenFailure("id-token-no-iat"))
        }
        var audiences = 0
        switch verified.claim("aud") {
        case .string?: audiences = 1
        case .array(let items)?: audiences = items.count
        default: return .failure(IDTokenFailure("id-token-wrong-audience"))
        }
        switch verified.claim("azp") {
        case nil:
            if audiences > 1 { return .failure(IDTokenFailure("id-token-no-azp")) }
        case .string(let azp)?:
            if azp != clientID { return .failure(IDTokenFailure("id-token-wrong-azp")) }
        case _?:
            return .failure(IDTokenFailure("id-token-wrong-azp"))
        }
        guard case .string(let presented)? = verified.claim("nonce"),
              ConstantTime.equal(Array(presented.utf8), Array(nonce.utf8))
        else { return .failure(IDTokenFailure("id-token-wrong-nonce")) }
        return .success(verified)
    }
}

extension JWSAlgorithm {
    var isHMAC: Bool { family == .hmac }
}
