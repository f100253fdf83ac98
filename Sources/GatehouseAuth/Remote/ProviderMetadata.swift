/// The parts of an OpenID provider's discovery document (`<issuer>/.well-known/openid-configuration`, OpenID
/// Connect Discovery 1.0 §3) the gateway uses.
///
/// Parsed with the strict ``JSONScanner`` (duplicate members refused). The document's `issuer` must equal the
/// configured one exactly (§4.3: otherwise a provider could hand out another issuer's keys), and every endpoint
/// must be `https://` (a downgraded endpoint is refused, not followed).
package struct ProviderMetadata: Sendable, Equatable {
    package let issuer: String
    package let jwksURI: String
    package let authorizationEndpoint: String?
    package let tokenEndpoint: String?
    package let endSessionEndpoint: String?
    /// `id_token_signing_alg_values_supported`, when given.
    package let idTokenAlgorithms: [String]
    /// `code_challenge_methods_supported`, when given.
    package let codeChallengeMethods: [String]

    /// Larger documents are refused (real ones are a few KiB).
    package static let maxDocumentBytes = 256 << 10

    /// The discovery URL for an issuer (RFC 8414 §5 / OIDC Discovery §4: appended to the issuer path).
    package static func discoveryURL(for issuer: String) -> String {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/.well-known/openid-configuration"
    }

    /// Parses and checks a discovery document.
    ///
    /// - Throws: `KeyError` naming the problem (not JSON, wrong issuer, missing or non-https `jwks_uri`, ...).
    package static func parse(_ bytes: [UInt8], expectedIssuer: String) throws(KeyError) -> ProviderMetadata {
        guard bytes.count <= maxDocumentBytes else {
            throw KeyError("discovery document is larger than \(maxDocumentBytes >> 10) KiB")
        }
        let members: [(String, ClaimValue)]
        do {
            members = try JSONScanner.parseObject(bytes)
        } catch {
            throw KeyError("discovery document is not strict JSON (\(error.reason))")
        }
        let document = ClaimValue.object(members)
        func string(_ name: String, required: Bool = false) throws(KeyError) -> String? {
            guard let value = document.member(name) else {
                if required { throw KeyError("discovery document has no '\(name)'") }
                return nil
            }
            guard case .string(let text) = value else { throw KeyError("discovery '\(name)' must be a string") }
            return text
        }
        func endpoint(_ name: String, required: Bool = false) throws(KeyError) -> String? {
            guard let url = try string(name, required: required) else { return nil }
            guard isHTTPS(url) else { throw KeyError("discovery '\(name)' is not an https:// URL: \(url)") }
            return url
        }
        func strings(_ name: String) throws(KeyError) -> [String] {
            guard let value = document.member(name) else { return [] }
            guard case .array(let items) = value else { throw KeyError("discovery '\(name)' must be an array") }
            var out: [String] = []
            for item in items {
                guard case .string(let text) = item else { throw KeyError("discovery '\(name)' must hold strings") }
                out.append(text)
            }
            return out
        }
        let issuer = try string("issuer", required: true)!
        guard issuer == expectedIssuer else {
            throw KeyError("discovery document names issuer \"\(issuer)\", not the configured \"\(expectedIssuer)\"")
        }
        return ProviderMetadata(
            issuer: issuer, jwksURI: try endpoint("jwks_uri", required: true)!,
            authorizationEndpoint: try endpoint("authorization_endpoint"),
            tokenEndpoint: try endpoint("token_endpoint"), endSessionEndpoint: try endpoint("end_session_endpoint"),
            idTokenAlgorithms: try strings("id_token_signing_alg_values_supported"),
            codeChallengeMethods: try strings("code_challenge_methods_supported"))
    }

    /// `https://host...` with a non-empty host.
    package static func isHTTPS(_ url: String) -> Bool {
        guard url.hasPrefix("https://") else { return false }
        let rest = url.dropFirst(8)
        guard let first = rest.first, first != "/", first != "?", first != "#" else { return false }
        return !url.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7f }
    }
}
