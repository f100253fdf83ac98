@preconcurrency import Crypto
import Foundation

/// Verifies a compact JWS against a JWKS document as an upstream would: the key chosen by `kid`, ES256 (P-256,
/// raw r||s) or EdDSA (Ed25519), with swift-crypto and Foundation's JSON, never the gateway's own JOSE code.
package enum JWKSCheck {
    package struct Verified {
        package let header: [String: Any]
        package let claims: [String: Any]
    }

    /// The header and claims of `jwt` when its signature verifies with the key of `jwks` its `kid` names; a
    /// description of what failed otherwise.
    package static func verify(_ jwt: String, jwks: [UInt8]) -> Result<Verified, TestFailure> {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = decode(parts[0]), let payloadBytes = decode(parts[1]),
            let signature = decode(parts[2]),
            let header = (try? JSONSerialization.jsonObject(with: Data(headerBytes))) as? [String: Any],
            let claims = (try? JSONSerialization.jsonObject(with: Data(payloadBytes))) as? [String: Any]
        else { return .failure(TestFailure("not a compact JWS: \(jwt)")) }
        guard let document = (try? JSONSerialization.jsonObject(with: Data(jwks))) as? [String: Any],
            let keys = document["keys"] as? [[String: Any]]
        else { return .failure(TestFailure("not a JWKS: \(String(decoding: jwks, as: UTF8.self))")) }
        guard let kid = header["kid"] as? String, let jwk = keys.first(where: { $0["kid"] as? String == kid }) else {
            return .failure(TestFailure("no key for kid \(header["kid"] ?? "-") in the JWKS"))
        }
        let input = Data(parts[0].utf8) + Data(".".utf8) + Data(parts[1].utf8)
        let valid: Bool
        switch (header["alg"] as? String, jwk["kty"] as? String) {
        case ("ES256", "EC"):
            guard let x = (jwk["x"] as? String).flatMap({ decode(Substring($0)) }),
                let y = (jwk["y"] as? String).flatMap({ decode(Substring($0)) }),
                let key = try? P256.Signing.PublicKey(x963Representation: [4] + x + y),
                let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return .failure(TestFailure("bad EC key or signature")) }
            valid = key.isValidSignature(ecdsa, for: input)
        case ("EdDSA", "OKP"):
            guard let x = (jwk["x"] as? String).flatMap({ decode(Substring($0)) }),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x)
            else { return .failure(TestFailure("bad OKP key")) }
            valid = key.isValidSignature(signature, for: input)
        default:
            return .failure(TestFailure("unexpected alg \(header["alg"] ?? "-") for key type \(jwk["kty"] ?? "-")"))
        }
        guard valid else { return .failure(TestFailure("the signature does not verify")) }
        return .success(Verified(header: header, claims: claims))
    }

    /// Base64url without padding, strictly.
    package static func decode(_ text: Substring) -> [UInt8]? {
        guard !text.contains("=") else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
