@preconcurrency import Crypto
package import GatehouseAuth
import Synchronization

/// What a browser's OpenID Connect sign-in must bring back to the callback: which provider, the `state` and `nonce`
/// sent to it, the PKCE verifier, where to go afterwards, and until when this is valid.
package struct SignInFlowState: Sendable, Equatable {
    package let provider: String
    package let state: String
    package let nonce: String
    package let verifier: String
    /// The `rd` path (already checked to be on this site), or nil.
    package let redirect: String?
    /// Unix seconds.
    package let expiresAt: Int64

    package init(provider: String, state: String, nonce: String, verifier: String, redirect: String?,
                 expiresAt: Int64) {
        self.provider = provider
        self.state = state
        self.nonce = nonce
        self.verifier = verifier
        self.redirect = redirect
        self.expiresAt = expiresAt
    }

    /// A new flow: 256-bit `state` and `nonce`, a 256-bit PKCE verifier.
    package static func start(provider: String, redirect: String?, now: Int64, lifetime: Int64 = 600)
        -> SignInFlowState
    {
        SignInFlowState(provider: provider, state: Base64URL.encode(Secrets.bytes(32)),
                        nonce: Base64URL.encode(Secrets.bytes(32)), verifier: PKCE.verifier(random: Secrets.bytes(32)),
                        redirect: redirect, expiresAt: now + lifetime)
    }
}

/// Seals a ``SignInFlowState`` into the short-lived, HttpOnly pre-sign-in cookie and opens it at the callback.
///
/// `base64url(payload) "." base64url(HMAC-SHA256(key, "gh-oidc-1." base64url(payload)))`: the browser holds it but
/// cannot change a byte of it (a changed provider, state, nonce, verifier or `rd` fails the MAC, compared in
/// constant time). Not encrypted: it holds nothing a person must not see (the verifier is useless without the
/// code, which only the provider's redirect carries), and the cookie is HttpOnly.
package struct SignInFlowSealer: Sendable {
    private let key: SymmetricKey
    private static let context = Array("gh-oidc-1.".utf8)

    /// `secret`: at least 32 bytes, shared by every gateway that may receive a callback for another's sign-in.
    package init(secret: [UInt8]) {
        precondition(secret.count >= 32, "the flow cookie key needs at least 32 bytes")
        key = SymmetricKey(data: secret)
    }

    package func seal(_ flow: SignInFlowState) -> String {
        var json = JSONWriter()
        json.beginObject()
        json.member("p", flow.provider)
        json.member("s", flow.state)
        json.member("n", flow.nonce)
        json.member("v", flow.verifier)
        if let redirect = flow.redirect { json.member("r", redirect) }
        json.member("e", flow.expiresAt)
        json.endObject()
        let payload = Base64URL.encode(json.bytes)
        return payload + "." + Base64URL.encode(mac(Array(payload.utf8)))
    }

    /// Why a presented cookie was not accepted.
    package enum Refusal: String, Error, Sendable {
        case malformed = "flow-cookie-malformed"
        case tampered = "flow-cookie-tampered"
        case expired = "flow-cookie-expired"
    }

    package func open(_ text: String, now: Int64) -> Result<SignInFlowState, Refusal> {
        let bytes = Array(text.utf8)
        guard bytes.count <= 4096, let dot = bytes.firstIndex(of: UInt8(ascii: ".")),
              let tag = Base64URL.decode(bytes[(dot + 1)...])
        else { return .failure(.malformed) }
        let payload = Array(bytes[..<dot])
        guard ConstantTime.equal(tag, mac(payload)) else { return .failure(.tampered) }
        guard let json = Base64URL.decode(payload[...]), let members = try? JSONScanner.parseObject(json) else {
            return .failure(.malformed)
        }
        let object = ClaimValue.object(members)
        guard case .string(let provider)? = object.member("p"), case .string(let state)? = object.member("s"),
              case .string(let nonce)? = object.member("n"), case .string(let verifier)? = object.member("v"),
              case .integer(let expiresAt)? = object.member("e")
        else { return .failure(.malformed) }
        var redirect: String? = nil
        if case .string(let rd)? = object.member("r") { redirect = rd }
        guard now < expiresAt else { return .failure(.expired) }
        return .success(SignInFlowState(provider: provider, state: state, nonce: nonce, verifier: verifier,
                                        redirect: redirect, expiresAt: expiresAt))
    }

    private func mac(_ payload: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.context + payload, using: key))
    }
}

/// The `state` values already taken to a callback, kept until they expire: a replayed callback (the same cookie and
/// `state` again, e.g. from a leaked URL and a copied cookie) is refused even within the cookie's lifetime.
/// Shared by the workers; touched only by callbacks, never by proxied requests.
package final class UsedFlowStates: Sendable {
    private let used = Mutex<[String: Int64]>([:])
    /// Beyond this many live entries, new sign-ins are refused rather than memory growing without bound.
    package let capacity: Int

    package init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    /// True the first time `state` is presented before `expiresAt`, false after (or when full).
    package func take(_ state: String, expiresAt: Int64, now: Int64) -> Bool {
        used.withLock { used in
            if used.count >= capacity / 2 { used = used.filter { $0.value > now } }
            guard used[state] == nil, used.count < capacity else { return false }
            used[state] = expiresAt
            return true
        }
    }
}
