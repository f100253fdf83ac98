package import GatehouseAuth

/// The two messages of the authorization code flow the gateway sends (OpenID Connect Core 1.0 §3.1.2.1 and
/// §3.1.3.1, with PKCE), and the token endpoint's answer as the gateway reads it.
package enum AuthorizationCodeFlow {
    /// The URL the browser is sent to: `response_type=code`, the client, the callback, the scopes, `state`,
    /// `nonce` and the S256 code challenge.
    package static func authorizationURL(endpoint: String, clientID: String, redirectURI: String, scopes: [String],
                                         flow: SignInFlowState) -> String {
        let parameters = [
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI),
            ("scope", scopes.joined(separator: " ")), ("state", flow.state), ("nonce", flow.nonce),
            ("code_challenge", PKCE.challenge(for: flow.verifier)), ("code_challenge_method", "S256"),
        ]
        let query = parameters.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
        return endpoint + (endpoint.contains("?") ? "&" : "?") + query
    }

    /// The token request body (`application/x-www-form-urlencoded`). The client authenticates with HTTP Basic
    /// (`client_secret_basic`, the default of §9), see ``basicAuthorization(clientID:secret:)``.
    package static func tokenRequestBody(code: String, redirectURI: String, verifier: String) -> [UInt8] {
        let parameters = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
                          ("code_verifier", verifier)]
        return Array(parameters.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&").utf8)
    }

    /// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1: each part form-encoded first).
    package static func basicAuthorization(clientID: String, secret: String) -> String {
        "Basic " + base64(Array("\(formEncode(clientID)):\(formEncode(secret))".utf8))
    }

    /// What the token endpoint answered.
    package enum TokenAnswer: Equatable, Sendable {
        case tokens(idToken: String, accessToken: String?)
        /// An OAuth error (`error`, RFC 6749 §5.2), or why the answer could not be read.
        case refused(String)
    }

    package static func readTokenAnswer(status: Int, body: [UInt8]) -> TokenAnswer {
        guard let members = try? JSONScanner.parseObject(body) else {
            return .refused("token-endpoint-\(status)-not-json")
        }
        let object = ClaimValue.object(members)
        if case .string(let error)? = object.member("error") {
            let code = error.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f && $0 != "\"" }
                ? String(error.prefix(64)) : "invalid"
            return .refused("token-endpoint-\(code)")
        }
        guard status == 200 else { return .refused("token-endpoint-\(status)") }
        guard case .string(let idToken)? = object.member("id_token"), !idToken.isEmpty else {
            return .refused("token-endpoint-no-id-token")
        }
        if case .string(let type)? = object.member("token_type"), type.lowercased() != "bearer" {
            return .refused("token-endpoint-token-type")
        }
        var access: String? = nil
        if case .string(let token)? = object.member("access_token") { access = token }
        return .tokens(idToken: idToken, accessToken: access)
    }

    /// `application/x-www-form-urlencoded` for one value: unreserved characters kept, everything else `%XX`.
    package static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF")
                out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
            }
        }
        return out
    }

    private static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let b0 = Int(chunk[chunk.startIndex])
            let b1 = chunk.count > 1 ? Int(chunk[chunk.startIndex + 1]) : 0
            let b2 = chunk.count > 2 ? Int(chunk[chunk.startIndex + 2]) : 0
            out.append(alphabet[b0 >> 2])
            out.append(alphabet[((b0 & 3) << 4) | (b1 >> 4)])
            out.append(chunk.count > 1 ? alphabet[((b1 & 15) << 2) | (b2 >> 6)] : "=")
            out.append(chunk.count > 2 ? alphabet[b2 & 63] : "=")
            index += 3
        }
        return out
    }
}
