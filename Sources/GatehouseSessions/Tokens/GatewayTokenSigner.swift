@preconcurrency import Crypto
package import GatehouseAuth

/// Signs the gateway's own access tokens (token mode) and publishes their public key.
///
/// The key is an EC P-256 (ES256) or Ed25519 (EdDSA) private key from a PEM file. Its public half is also a
/// `VerificationKey` for an issuer added to the snapshot's verifier, so routes accept the gateway's tokens through
/// the same checks as any outside issuer's, with no extra config; upstreams can verify them with the JWKS.
package struct GatewayTokenSigner: Sendable {
    private enum PrivateKey: Sendable {
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    private let key: PrivateKey
    package let kid: String
    /// `iss`, and the one `aud`, of every token.
    package let issuer: String
    package let algorithm: JWSAlgorithm
    /// The public key, for the verifier.
    package let verificationKey: VerificationKey
    /// `{"keys":[...]}` for `/.gatehouse/jwks.json`.
    package let jwksDocument: [UInt8]

    /// Loads the signing key from PEM text (`PRIVATE KEY` PKCS#8 or `EC PRIVATE KEY`).
    package init(pem text: String, kid: String, issuer: String) throws(KeyError) {
        self.kid = kid
        self.issuer = issuer
        var jwk = JSONWriter()
        jwk.beginObject()
        jwk.key("keys")
        jwk.beginArray()
        jwk.beginObject()
        let publicPEM: String
        if let ec = try? P256.Signing.PrivateKey(pemRepresentation: text) {
            key = .p256(ec)
            algorithm = .ES256
            publicPEM = ec.publicKey.pemRepresentation
            let point = Array(ec.publicKey.x963Representation)  // 04 || x || y
            jwk.member("kty", "EC")
            jwk.member("crv", "P-256")
            jwk.member("x", Base64URL.encode(point[1..<33]))
            jwk.member("y", Base64URL.encode(point[33..<65]))
        } else if let raw = Self.ed25519Seed(pem: text),
            let ed = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        {
            key = .ed25519(ed)
            algorithm = .EdDSA
            let publicRaw = Array(ed.publicKey.rawRepresentation)
            publicPEM = Self.pem(label: "PUBLIC KEY", der: Self.ed25519SPKIPrefix + publicRaw)
            jwk.member("kty", "OKP")
            jwk.member("crv", "Ed25519")
            jwk.member("x", Base64URL.encode(publicRaw))
        } else {
            throw KeyError("the signing key must be an EC P-256 or Ed25519 private key in PEM form")
        }
        jwk.member("kid", kid)
        jwk.member("alg", algorithm.rawValue)
        jwk.member("use", "sig")
        jwk.endObject()
        jwk.endArray()
        jwk.endObject()
        jwksDocument = jwk.bytes
        verificationKey = try KeyLoader.pem(publicPEM, algorithm: algorithm, kid: kid)
    }

    /// What an access token says.
    package struct Claims: Sendable {
        package let subject: String
        package let email: String?
        package let groups: [String]
        package let name: String?
        package let sessionHandle: String
        package let issuedAt: Int64
        package let expiresAt: Int64
        /// How the session signed in (`["pwd"]`, `["pwd", "otp"]`); left out of the token when empty.
        package var amr: [String] = []

        package init(subject: String, email: String?, groups: [String], name: String?, sessionHandle: String,
                     issuedAt: Int64, expiresAt: Int64) {
            self.subject = subject
            self.email = email
            self.groups = groups
            self.name = name
            self.sessionHandle = sessionHandle
            self.issuedAt = issuedAt
            self.expiresAt = expiresAt
        }
    }

    /// A compact JWS for `claims` (`typ: at+jwt`, RFC 9068), with a fresh `jti`.
    package func sign(_ claims: Claims) -> String {
        var header = JSONWriter()
        header.beginObject()
        header.member("alg", algorithm.rawValue)
        header.member("typ", "at+jwt")
        header.member("kid", kid)
        header.endObject()
        var body = JSONWriter()
        body.beginObject()
        body.member("iss", issuer)
        body.member("aud", issuer)
        body.member("sub", claims.subject)
        if let email = claims.email { body.member("email", email) }
        body.member("groups", strings: claims.groups)
        if let name = claims.name { body.member("name", name) }
        body.member("sid", claims.sessionHandle)
        if !claims.amr.isEmpty { body.member("amr", strings: claims.amr) }
        body.member("jti", Secrets.newHandle())
        body.member("iat", claims.issuedAt)
        body.member("exp", claims.expiresAt)
        body.endObject()
        return String(decoding: compact(header: header.bytes, payload: body.bytes), as: UTF8.self)
    }

    /// `base64url(header) . base64url(payload) . base64url(signature)`, signed with this key: the one place the
    /// gateway signs (access tokens here, upstream assertions in GatehouseProxy's `AssertionSigner`).
    package func compact(header: [UInt8], payload: [UInt8]) -> [UInt8] {
        var signingInput: [UInt8] = []
        signingInput.reserveCapacity((header.count + payload.count) * 4 / 3 + 100)
        Base64URL.encode(header, into: &signingInput)
        signingInput.append(UInt8(ascii: "."))
        Base64URL.encode(payload, into: &signingInput)
        let signature: [UInt8]
        switch key {
        case .p256(let ec):
            // Never fails for a valid key; the raw form is r || s, 64 bytes (RFC 7518 3.4).
            signature = Array((try! ec.signature(for: signingInput)).rawRepresentation)
        case .ed25519(let ed):
            signature = Array(try! ed.signature(for: signingInput))
        }
        signingInput.append(UInt8(ascii: "."))
        Base64URL.encode(signature, into: &signingInput)
        return signingInput
    }

    /// The one JWK of this key (`{"kty":...,"kid":...}`), for a JWKS that publishes several keys.
    package var jwk: [UInt8] {
        // `jwksDocument` is `{"keys":[` + the JWK + `]}`.
        Array(jwksDocument.dropFirst(9).dropLast(2))
    }

    // MARK: Ed25519 PEM (swift-crypto 3 reads Ed25519 keys only as raw bytes)

    /// SubjectPublicKeyInfo prefix for an Ed25519 key (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
    private static let ed25519SPKIPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    /// PKCS#8 prefix for an Ed25519 private key (RFC 8410 7): version 0, the OID, OCTET STRING { OCTET STRING (32) }.
    private static let ed25519PKCS8Prefix: [UInt8] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    private static func ed25519Seed(pem text: String) -> [UInt8]? {
        let lines = text.split(whereSeparator: \.isNewline)
        guard let begin = lines.firstIndex(of: "-----BEGIN PRIVATE KEY-----"),
            let end = lines.firstIndex(of: "-----END PRIVATE KEY-----"), begin < end
        else { return nil }
        let body = lines[(begin + 1)..<end].joined()
        guard let der = decodeStandardBase64(body), der.count == 48,
            Array(der.prefix(16)) == ed25519PKCS8Prefix
        else { return nil }
        return Array(der.suffix(32))
    }

    private static func pem(label: String, der: [UInt8]) -> String {
        var b64 = Base64URL.encode(der).replacingCharacters("-", with: "+").replacingCharacters("_", with: "/")
        while b64.utf8.count % 4 != 0 { b64 += "=" }
        return "-----BEGIN \(label)-----\n\(b64)\n-----END \(label)-----\n"
    }

    private static func decodeStandardBase64(_ text: String) -> [UInt8]? {
        var url = text.replacingCharacters("+", with: "-").replacingCharacters("/", with: "_")
        while url.hasSuffix("=") { url.removeLast() }
        return Base64URL.decode(Array(url.utf8)[...])
    }
}

extension String {
    fileprivate func replacingCharacters(_ from: Character, with to: Character) -> String {
        String(map { $0 == from ? to : $0 })
    }
}
