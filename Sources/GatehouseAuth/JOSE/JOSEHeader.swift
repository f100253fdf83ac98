/// The members of a JOSE header that verification uses (RFC 7515 §4.1).
///
/// Only `alg`, `kid`, `crit` and `cty` matter. `jwk`, `jku`, `x5u`, `x5c` (and `x5t`) are read by nobody: keys
/// come only from the config, and verifying never makes a network call (RFC 8725 §3.10). `typ` is not checked
/// (RFC 7519 makes it optional). `cty: JWT` declares a nested JWT (RFC 7519 §5.2): the payload is another token,
/// not claims, so reading it as claims would trust whatever the outer signer wrapped. We refuse it.
struct JOSEHeader {
    /// The algorithm, compared exactly against the configured keys' algorithms.
    let algorithm: JWSAlgorithm
    /// The key id, for an exact lookup.
    let kid: String?
    /// The `crit` member, if any; judged after the claims, per the verification order.
    let crit: ClaimValue?

    /// Parses the decoded header.
    ///
    /// - Throws: `bad-json`/`duplicate-member` from the scanner; `malformed` for a missing or non-string `alg`
    ///   or a non-string `kid` or `cty`; `alg-none` for `none` in any case; `alg-not-allowed` for any other
    ///   unknown name; `nested-jwt` for a `cty` of `JWT` or `application/jwt` in any case.
    init(_ bytes: [UInt8]) throws(AuthFailure) {
        let members = try JSONScanner.parseObject(bytes)
        var algorithmValue: ClaimValue? = nil
        var kidValue: ClaimValue? = nil
        var crit: ClaimValue? = nil
        var contentType: ClaimValue? = nil
        for (name, value) in members {
            switch name {
            case "alg": algorithmValue = value
            case "kid": kidValue = value
            case "crit": crit = value
            case "cty": contentType = value
            default: continue
            }
        }
        switch contentType {
        case nil: break
        case .string(let type)?: if Self.isNestedJWT(type) { throw .nestedJWT }
        case _?: throw .malformed
        }
        guard case .string(let name) = algorithmValue else { throw .malformed }
        guard !JWSAlgorithm.isNone(name) else { throw .algNone }
        guard let algorithm = JWSAlgorithm(rawValue: name) else { throw .algNotAllowed }
        switch kidValue {
        case nil: kid = nil
        case .string(let value)?: kid = value
        case _?: throw .malformed
        }
        self.algorithm = algorithm
        self.crit = crit
    }

    /// `JWT`, or `application/jwt` (RFC 7515 §4.1.10 lets the `application/` be left out), compared ignoring
    /// ASCII case as media types are.
    private static func isNestedJWT(_ type: String) -> Bool {
        var lowered = type.lowercased()
        if lowered.hasPrefix("application/") { lowered.removeFirst("application/".count) }
        return lowered == "jwt"
    }

    /// Applies RFC 7515 §4.1.11: `crit`, when present, must be a non-empty array of strings (else `malformed`),
    /// and since this verifier understands no extensions, any listed name means `crit-unsupported`.
    func checkCritical() throws(AuthFailure) {
        guard let crit else { return }
        guard case .array(let names) = crit, !names.isEmpty,
            names.allSatisfy({ if case .string = $0 { true } else { false } })
        else { throw .malformed }
        throw .critUnsupported
    }
}
