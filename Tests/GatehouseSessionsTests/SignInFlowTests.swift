import GatehouseAuth
import Testing

@testable import GatehouseSessions

/// The pre-sign-in cookie of an OpenID Connect sign-in, replayed states, and the messages of the code flow.
@Suite struct SignInFlowTests {
    static let sealer = SignInFlowSealer(secret: Array(repeating: 7, count: 32))
    static let flow = SignInFlowState(provider: "corp", state: "st-1", nonce: "no-1", verifier: "ve-1",
                                      redirect: "/app/?x=1", expiresAt: 2_000)

    @Test func sealsAndOpens() throws {
        let sealed = Self.sealer.seal(Self.flow)
        #expect(try Self.sealer.open(sealed, now: 1_999).get() == Self.flow)
        let started = SignInFlowState.start(provider: "corp", redirect: nil, now: 100)
        #expect(started.expiresAt == 700)
        #expect(started.state.utf8.count == 43 && started.nonce.utf8.count == 43 && started.verifier.utf8.count == 43)
        #expect(started.state != SignInFlowState.start(provider: "corp", redirect: nil, now: 100).state)
        #expect(try Self.sealer.open(Self.sealer.seal(started), now: 100).get() == started)
    }

    @Test func refusesExpiredTamperedForeignAndMalformedCookies() {
        let sealed = Self.sealer.seal(Self.flow)
        #expect(Self.sealer.open(sealed, now: 2_000) == .failure(.expired))
        // Every single changed character of the payload or the tag.
        var bytes = Array(sealed.utf8)
        for index in [0, 5, bytes.count / 2, bytes.count - 1] {
            let original = bytes[index]
            bytes[index] = original == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let outcome = Self.sealer.open(String(decoding: bytes, as: UTF8.self), now: 1_000)
            #expect(outcome == .failure(.tampered) || outcome == .failure(.malformed), "index \(index)")
            bytes[index] = original
        }
        // Another provider, or a later expiry, re-encoded with the old tag.
        let forged = SignInFlowState(provider: "other", state: "st-1", nonce: "no-1", verifier: "ve-1",
                                     redirect: "/app/?x=1", expiresAt: 9_999_999)
        let tag = sealed.split(separator: ".")[1]
        let payload = Self.sealer.seal(forged).split(separator: ".")[0]
        #expect(Self.sealer.open("\(payload).\(tag)", now: 1_000) == .failure(.tampered))
        // Sealed by another gateway's key.
        let foreign = SignInFlowSealer(secret: Array(repeating: 8, count: 32)).seal(Self.flow)
        #expect(Self.sealer.open(foreign, now: 1_000) == .failure(.tampered))
        #expect(Self.sealer.open("", now: 1_000) == .failure(.malformed))
        #expect(Self.sealer.open("no-dot", now: 1_000) == .failure(.malformed))
        #expect(Self.sealer.open(String(repeating: "a", count: 5000) + ".b", now: 1_000) == .failure(.malformed))
    }

    @Test func aStateIsTakenOnce() {
        let used = UsedFlowStates(capacity: 4)
        #expect(used.take("a", expiresAt: 50, now: 10))
        #expect(!used.take("a", expiresAt: 50, now: 11))
        #expect(used.take("b", expiresAt: 20, now: 11))
        // Full: expired entries are dropped first; past capacity new states are refused.
        #expect(used.take("c", expiresAt: 60, now: 30))
        #expect(used.take("d", expiresAt: 60, now: 30))
        #expect(used.take("e", expiresAt: 60, now: 30))
        #expect(!used.take("f", expiresAt: 60, now: 30))
        #expect(!used.take("a", expiresAt: 60, now: 30))
    }

    @Test func authorizationURLCarriesStateNonceAndTheS256Challenge() {
        let flow = SignInFlowState(provider: "corp", state: "s t", nonce: "n&1", verifier: PKCE.verifier(random: Array(0..<32)),
                                   redirect: nil, expiresAt: 1)
        let url = AuthorizationCodeFlow.authorizationURL(
            endpoint: "https://idp.example/authorize", clientID: "my app", redirectURI: "https://gw.example/cb",
            scopes: ["openid", "email"], flow: flow)
        #expect(url == "https://idp.example/authorize?response_type=code&client_id=my%20app"
                + "&redirect_uri=https%3A%2F%2Fgw.example%2Fcb&scope=openid%20email&state=s%20t&nonce=n%261"
                + "&code_challenge=6oZqdX5MOLq_qBJ8vppAnT4fk6AP8UiP9zX8-Rev_9A&code_challenge_method=S256")
        #expect(AuthorizationCodeFlow.authorizationURL(endpoint: "https://idp.example/a?tenant=1", clientID: "c",
                                                       redirectURI: "r", scopes: ["openid"], flow: flow)
                .hasPrefix("https://idp.example/a?tenant=1&response_type=code"))
    }

    @Test func tokenRequestAndClientAuthentication() {
        let body = AuthorizationCodeFlow.tokenRequestBody(code: "c/1", redirectURI: "https://gw/cb", verifier: "v")
        #expect(String(decoding: body, as: UTF8.self)
                == "grant_type=authorization_code&code=c%2F1&redirect_uri=https%3A%2F%2Fgw%2Fcb&code_verifier=v")
        // Python: base64(b"my%20client:s%3Acret").
        #expect(AuthorizationCodeFlow.basicAuthorization(clientID: "my client", secret: "s:cret")
                == "Basic bXklMjBjbGllbnQ6cyUzQWNyZXQ=")
    }

    @Test(arguments: [
        (200, #"{"id_token":"a.b.c","access_token":"x","token_type":"Bearer"}"#,
         AuthorizationCodeFlow.TokenAnswer.tokens(idToken: "a.b.c", accessToken: "x")),
        (400, #"{"error":"invalid_grant"}"#, .refused("token-endpoint-invalid_grant")),
        (200, #"{"access_token":"x"}"#, .refused("token-endpoint-no-id-token")),
        (200, #"{"id_token":"a.b.c","token_type":"mac"}"#, .refused("token-endpoint-token-type")),
        (500, "<html>", .refused("token-endpoint-500-not-json")),
        (502, "{}", .refused("token-endpoint-502")),
    ])
    func readsTheTokenEndpointAnswer(_ status: Int, _ body: String, _ expected: AuthorizationCodeFlow.TokenAnswer) {
        #expect(AuthorizationCodeFlow.readTokenAnswer(status: status, body: Array(body.utf8)) == expected)
    }
}
