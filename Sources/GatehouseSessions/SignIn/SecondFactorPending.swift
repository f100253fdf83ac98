import Crypto
import GatehouseAuth

/// A sign-in whose password was right and whose TOTP code is still to come: who, from where, where to go after,
/// until when, and a nonce that makes it single-use (`SecondFactorLedger`). No session exists yet.
package struct SecondFactorPending: Sendable, Equatable {
    package let user: String
    /// The client it was issued to (`ClientAddress.throttleKey`): a cookie carried to another network is refused.
    package let client: String
    /// The `rd` path (already checked to be on this site), or nil.
    package let redirect: String?
    /// Unix seconds.
    package let expiresAt: Int64
    package let nonce: String

    /// Five minutes to open an authenticator app and type six digits.
    package static let lifetime: Int64 = 300

    package init(user: String, client: String, redirect: String?, expiresAt: Int64, nonce: String) {
        self.user = user
        self.client = client
        self.redirect = redirect
        self.expiresAt = expiresAt
        self.nonce = nonce
    }

    /// A new pending sign-in with a 128-bit nonce.
    package static func start(user: String, client: String, redirect: String?, now: Int64) -> SecondFactorPending {
        SecondFactorPending(user: user, client: client, redirect: redirect, expiresAt: now + lifetime,
                            nonce: Base64URL.encode(Secrets.bytes(16)))
    }

    /// Why a presented pending cookie was refused (logged; the person is sent back to the password).
    package enum Refusal: String, Error, Sendable {
        case malformed = "second-factor-state-malformed"
        case tampered = "second-factor-state-tampered"
        case expired = "second-factor-state-expired"
        case otherClient = "second-factor-state-other-client"
        case unknownUser = "second-factor-state-unknown-user"
    }

    /// The cookie value: `base64url(payload) "." base64url(HMAC-SHA256(k, "gh-2fa-1." base64url(payload)))`.
    ///
    /// `k` = SHA-256 of a label, the user's TOTP secret and their password hash: every gateway with the same users
    /// file derives it (no key to configure or share), nobody without the TOTP secret can forge one, and a
    /// re-enrolment or a password change voids every pending sign-in of that user. Not encrypted: it holds
    /// nothing secret, and the cookie is HttpOnly.
    package func seal(secret: [UInt8], passwordHash: String) -> String {
        var json = JSONWriter()
        json.beginObject()
        json.member("u", user)
        json.member("c", client)
        if let redirect { json.member("r", redirect) }
        json.member("e", expiresAt)
        json.member("n", nonce)
        json.endObject()
        let payload = Base64URL.encode(json.bytes)
        let tag = Self.mac(Array(payload.utf8), secret: secret, passwordHash: passwordHash)
        return payload + "." + Base64URL.encode(tag)
    }

    /// Opens a cookie value. `account` finds the TOTP secret and password hash of the user it names (nil: no such
    /// user, or one without a second factor); the tag is checked before anything in the payload is trusted.
    package static func open(_ text: String, client: String, now: Int64,
                             account: (String) -> (secret: [UInt8], passwordHash: String)?)
        -> Result<SecondFactorPending, Refusal>
    {
        let bytes = Array(text.utf8)
        guard bytes.count <= 4096, let dot = bytes.firstIndex(of: UInt8(ascii: ".")),
              let tag = Base64URL.decode(bytes[(dot + 1)...]), tag.count == 32,
              let json = Base64URL.decode(bytes[..<dot]), let members = try? JSONScanner.parseObject(json)
        else { return .failure(.malformed) }
        let object = ClaimValue.object(members)
        guard case .string(let user)? = object.member("u"), case .string(let issuedTo)? = object.member("c"),
              case .integer(let expiresAt)? = object.member("e"), case .string(let nonce)? = object.member("n")
        else { return .failure(.malformed) }
        guard let keys = account(user) else { return .failure(.unknownUser) }
        let expected = mac(Array(bytes[..<dot]), secret: keys.secret, passwordHash: keys.passwordHash)
        guard ConstantTime.equal(tag, expected) else { return .failure(.tampered) }
        guard now < expiresAt else { return .failure(.expired) }
        guard issuedTo == client else { return .failure(.otherClient) }
        var redirect: String? = nil
        if case .string(let rd)? = object.member("r") { redirect = rd }
        return .success(SecondFactorPending(user: user, client: issuedTo, redirect: redirect, expiresAt: expiresAt,
                                            nonce: nonce))
    }

    private static let context = Array("gh-2fa-1.".utf8)

    private static func mac(_ payload: [UInt8], secret: [UInt8], passwordHash: String) -> [UInt8] {
        var keyMaterial = SHA256()
        keyMaterial.update(data: Array("gatehouse second-factor pending v1".utf8))
        keyMaterial.update(data: [UInt8(truncatingIfNeeded: secret.count)] + secret)
        keyMaterial.update(data: Array(passwordHash.utf8))
        let key = SymmetricKey(data: Array(keyMaterial.finalize()))
        return Array(HMAC<SHA256>.authenticationCode(for: context + payload, using: key))
    }
}
