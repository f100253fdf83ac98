/// One signed-in device: what the store keeps for a session.
///
/// A cookie session is found by the hash of its cookie; a token-mode session (a refresh-token family) by the
/// hash of its current refresh token, and its access tokens carry `handle` as `sid`. Times are Unix seconds.
package struct SessionRecord: Sendable, Equatable {
    /// How the session's holder proves it.
    package enum Kind: String, Sendable, Equatable {
        /// A session cookie.
        case cookie
        /// Access JWTs plus a rotating refresh token (login.mode: token).
        case token
    }

    /// SHA-256 of the session ID (cookie kind); for the token kind, of a random ID that never leaves the store.
    package let key: SessionKey
    /// The public name of this session (device lists, DELETE /.gatehouse/sessions/{handle}, a JWT's `sid`).
    /// Random, unrelated to the secret.
    package let handle: String
    package let kind: Kind
    package let user: String
    package let email: String?
    package let groups: [String]
    package let displayName: String?
    package let createdAt: Int64
    /// Last request seen (sliding idle expiry). Persisted at most about once a minute.
    package var lastSeenAt: Int64
    /// Hard end, whatever the activity (`absolute_ttl` after sign-in).
    package let expiresAt: Int64
    /// Seconds of inactivity after which the session ends; 0 = no idle expiry.
    package let idleTimeout: Int64
    /// As sent at sign-in, truncated to 256 bytes.
    package let userAgent: String
    /// The client address at sign-in.
    package let clientAddress: String
    /// Token kind: SHA-256 of the current refresh token (rotated on every refresh).
    package var refreshKey: SessionKey?
    /// A sign-in through an outside OpenID provider: which one, and its session (back-channel logout finds the
    /// session by it; RP-initiated logout sends the ID token back as `id_token_hint`). Nil for the users file.
    package let provider: ProviderLink?
    /// How the user proved who they are (RFC 8176 `amr` values): `["pwd"]` for a password, `["pwd", "otp"]` with
    /// a TOTP code after it; empty for a provider sign-in and for sessions stored before the field existed.
    package var amr: [String] = []

    package init(key: SessionKey, handle: String, kind: Kind, user: String, email: String?, groups: [String],
                 displayName: String?, createdAt: Int64, lastSeenAt: Int64, expiresAt: Int64, idleTimeout: Int64,
                 userAgent: String, clientAddress: String, refreshKey: SessionKey? = nil,
                 provider: ProviderLink? = nil) {
        self.key = key
        self.handle = handle
        self.kind = kind
        self.user = user
        self.email = email
        self.groups = groups
        self.displayName = displayName
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
        self.idleTimeout = idleTimeout
        self.userAgent = userAgent
        self.clientAddress = clientAddress
        self.refreshKey = refreshKey
        self.provider = provider
    }

    /// True when the session may still be used at `now`.
    package func isLive(at now: Int64) -> Bool {
        if now >= expiresAt { return false }
        if idleTimeout > 0, now - lastSeenAt >= idleTimeout { return false }
        return true
    }

    /// The moment it ends if nobody uses it again (what a TTL in Redis is set to).
    package var endsAt: Int64 {
        idleTimeout > 0 ? min(expiresAt, lastSeenAt + idleTimeout) : expiresAt
    }
}

/// What a session signed in through an OpenID provider remembers of that sign-in.
package struct ProviderLink: Sendable, Equatable {
    /// `login.oidc.providers[].name`.
    package let name: String
    /// The ID token's `sid` (the provider's session), when it sent one.
    package let sid: String?
    /// The ID token's `sub` at that provider (whatever claim names the user here).
    package let subject: String
    /// The raw ID token, for `id_token_hint`; nil when it was larger than ``maxIDTokenBytes``.
    package let idToken: String?

    /// Larger ID tokens are not kept (a session record stays small); RP-initiated logout then sends no hint.
    package static let maxIDTokenBytes = 8 * 1024
    /// `sid` and `sub` longer than this are not indexed (they name keys in Redis): such a sign-in keeps no link.
    package static let maxIdentifierBytes = 255

    /// Nil when `subject` or `sid` is empty or too long (such a session cannot be found by a logout token, which
    /// must then carry what we could not keep); an oversized `idToken` is dropped, the rest kept.
    package init?(name: String, sid: String?, subject: String, idToken: String?) {
        guard !subject.isEmpty, subject.utf8.count <= Self.maxIdentifierBytes,
              sid.map({ !$0.isEmpty && $0.utf8.count <= Self.maxIdentifierBytes }) ?? true
        else { return nil }
        self.name = name
        self.sid = sid
        self.subject = subject
        self.idToken = idToken.flatMap { $0.utf8.count <= Self.maxIDTokenBytes && !$0.isEmpty ? $0 : nil }
    }
}
