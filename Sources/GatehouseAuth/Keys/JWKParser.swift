@preconcurrency internal import Crypto
internal import _CryptoExtras

/// Turns a JWK or JWKS document (RFC 7517, RFC 7518 §6, RFC 8037) into verification keys.
///
/// The document goes through the same strict ``JSONScanner`` as tokens (duplicate members refused). Every
/// member we read must have the right JSON type; base64url members must be canonical and unpadded; EC
/// coordinates must have the curve's exact length. Unknown members are ignored, as RFC 7517 §4 asks.
enum JWKParser {
    /// Larger documents are refused before parsing; real JWKS are a few KiB.
    static let maxDocumentBytes = 1 << 20

    /// Parses a JWK or JWKS document; see ``KeyLoader/jwks(_:)``.
    static func parse(_ json: String) throws(KeyError) -> [VerificationKey] {
        let bytes = Array(json.utf8)
        guard bytes.count <= maxDocumentBytes else { throw KeyError("JWKS document is larger than 1 MiB") }
        let top: [(String, ClaimValue)]
        do {
            top = try JSONScanner.parseObject(bytes)
        } catch {
            throw KeyError("JWKS document is not strict JSON (\(error.reason))")
        }
        let document = ClaimValue.object(top)
        var keys: [VerificationKey] = []
        if let set = document.member("keys") {
            guard case .array(let entries) = set else { throw KeyError("JWKS 'keys' must be an array") }
            for (index, entry) in entries.enumerated() {
                guard case .object(let members) = entry else { throw KeyError("JWKS key #\(index) is not an object") }
                if let key = try parseKey(members, index: index) { keys.append(key) }
            }
        } else if document.member("kty") != nil {
            if let key = try parseKey(top, index: 0) { keys.append(key) }
        } else {
            throw KeyError("document is neither a JWK (no 'kty') nor a JWKS (no 'keys')")
        }
        guard !keys.isEmpty else { throw KeyError("JWKS holds no signature verification keys") }
        return keys
    }

    /// Parses a JWKS fetched from an identity provider: a key that cannot be used (junk, unsupported type, too
    /// small, symmetric) is skipped with a reason instead of refusing the whole set, since one odd key at a
    /// provider must not stop every token of that provider from verifying. `oct` keys are never taken from a
    /// provider: a shared secret published at a URL would let anyone sign.
    ///
    /// - Returns: the usable keys (never empty) and one reason per skipped key.
    /// - Throws: `KeyError` when the document is not a JWKS or holds no usable key.
    static func parseProvider(_ bytes: [UInt8]) throws(KeyError) -> (keys: [VerificationKey], skipped: [String]) {
        guard bytes.count <= maxDocumentBytes else { throw KeyError("JWKS document is larger than 1 MiB") }
        let top: [(String, ClaimValue)]
        do {
            top = try JSONScanner.parseObject(bytes)
        } catch {
            throw KeyError("JWKS document is not strict JSON (\(error.reason))")
        }
        guard case .array(let entries)? = ClaimValue.object(top).member("keys") else {
            throw KeyError("JWKS document has no 'keys' array")
        }
        var keys: [VerificationKey] = []
        var skipped: [String] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(let members) = entry else {
                skipped.append("JWK #\(index) is not an object")
                continue
            }
            if case .string("oct")? = ClaimValue.object(members).member("kty") {
                skipped.append("JWK #\(index): a symmetric ('oct') key is never taken from a provider")
                continue
            }
            do {
                if let key = try parseKey(members, index: index) { keys.append(key) }
            } catch {
                skipped.append(error.message)
            }
        }
        guard !keys.isEmpty else {
            throw KeyError("JWKS holds no usable signature verification key"
                           + (skipped.isEmpty ? "" : " (\(skipped.joined(separator: "; ")))"))
        }
        return (keys, skipped)
    }

    /// One JWK's members, with typed accessors that name the key in their errors.
    private struct JWK {
        let members: [(String, ClaimValue)]
        let label: String

        /// A string member, or `nil` when absent; any other type is an error.
        func string(_ name: String) throws(KeyError) -> String? {
            guard let value = members.first(where: { $0.0 == name })?.1 else { return nil }
            guard case .string(let text) = value else { throw KeyError("\(label): '\(name)' must be a string") }
            return text
        }

        /// A required string member.
        func requiredString(_ name: String) throws(KeyError) -> String {
            guard let text = try string(name) else { throw KeyError("\(label): missing '\(name)'") }
            return text
        }

        /// A required base64url member, decoded; `count`, if given, is the exact decoded length.
        func bytes(_ name: String, count: Int? = nil) throws(KeyError) -> [UInt8] {
            let text = try requiredString(name)
            guard let decoded = Base64URL.decode(Array(text.utf8)[...]), !decoded.isEmpty else {
                throw KeyError("\(label): '\(name)' is not canonical unpadded base64url")
            }
            if let count, decoded.count != count {
                throw KeyError("\(label): '\(name)' must be \(count) bytes, not \(decoded.count)")
            }
            return decoded
        }
    }

    /// Parses one key; returns `nil` for keys that are skipped (`"use": "enc"`).
    private static func parseKey(_ members: [(String, ClaimValue)], index: Int) throws(KeyError) -> VerificationKey? {
        var jwk = JWK(members: members, label: "JWK #\(index)")
        let kid = try jwk.string("kid")
        if let kid { jwk = JWK(members: members, label: "JWK #\(index) (kid '\(kid)')") }
        switch try jwk.string("use") {
        case nil, "sig": break
        case "enc": return nil
        case let other?: throw KeyError("\(jwk.label): unsupported 'use' value '\(other)'")
        }
        let algorithm: JWSAlgorithm?
        if let name = try jwk.string("alg") {
            guard let known = JWSAlgorithm(rawValue: name) else {
                throw KeyError("\(jwk.label): 'alg' \(name) is not a supported JWS algorithm")
            }
            algorithm = known
        } else {
            algorithm = nil
        }
        switch try jwk.requiredString("kty") {
        case "RSA":
            let n = try jwk.bytes("n")
            let e = try jwk.bytes("e")
            let key = try KeyLoader.build("\(jwk.label) RSA key") { () throws -> _RSA.Signing.PublicKey in
                try _RSA.Signing.PublicKey(n: n, e: e)
            }
            do {
                return try KeyLoader.rsaKey(key, algorithm: algorithm ?? .RS256, kid: kid)
            } catch {
                throw KeyError("\(jwk.label): \(error.message)")
            }
        case "EC":
            return try ecKey(jwk, algorithm: algorithm, kid: kid)
        case "OKP":
            let curve = try jwk.requiredString("crv")
            guard curve == "Ed25519" else { throw KeyError("\(jwk.label): OKP curve '\(curve)' is not supported") }
            do {
                return try KeyLoader.ed25519Key(raw: try jwk.bytes("x", count: 32), given: algorithm, kid: kid)
            } catch {
                throw KeyError("\(jwk.label): \(error.message)")
            }
        case "oct":
            guard let algorithm else { throw KeyError("\(jwk.label): an 'oct' key needs 'alg' (HS256, HS384, HS512)") }
            let secret = try jwk.bytes("k")
            do {
                return try KeyLoader.hmac(secret: secret, algorithm: algorithm, kid: kid)
            } catch {
                throw KeyError("\(jwk.label): \(error.message)")
            }
        case let other:
            throw KeyError("\(jwk.label): unsupported 'kty' '\(other)'")
        }
    }

    /// Builds an EC key from `crv`, `x` and `y`; the crypto library checks that the point is on the curve.
    private static func ecKey(_ jwk: JWK, algorithm: JWSAlgorithm?, kid: String?) throws(KeyError) -> VerificationKey {
        let curve = try jwk.requiredString("crv")
        let coordinateBytes: Int
        let curveAlgorithm: JWSAlgorithm
        switch curve {
        case "P-256": (coordinateBytes, curveAlgorithm) = (32, .ES256)
        case "P-384": (coordinateBytes, curveAlgorithm) = (48, .ES384)
        case "P-521": (coordinateBytes, curveAlgorithm) = (66, .ES512)
        default: throw KeyError("\(jwk.label): EC curve '\(curve)' is not supported")
        }
        let point = [0x04] + (try jwk.bytes("x", count: coordinateBytes)) + (try jwk.bytes("y", count: coordinateBytes))
        let what = "\(jwk.label) \(curve) point"
        let material: KeyMaterial
        switch curveAlgorithm {
        case .ES256:
            material = .p256(try KeyLoader.build(what) { try P256.Signing.PublicKey(x963Representation: point) })
        case .ES384:
            material = .p384(try KeyLoader.build(what) { try P384.Signing.PublicKey(x963Representation: point) })
        default:
            material = .p521(try KeyLoader.build(what) { try P521.Signing.PublicKey(x963Representation: point) })
        }
        do {
            return try KeyLoader.ecKey(material, curveAlgorithm: curveAlgorithm, given: algorithm, kid: kid)
        } catch {
            throw KeyError("\(jwk.label): \(error.message)")
        }
    }
}
