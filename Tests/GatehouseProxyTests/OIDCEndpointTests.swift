@preconcurrency import Crypto
import GatehouseAuth
import GatehouseIO
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// OpenID Connect sign-in through the endpoints, with a token endpoint answered by the test (no sockets): the
/// start redirect, the callback's checks, the code exchange with PKCE, and the session it ends in.
@Suite("Local endpoints: OpenID Connect start and callback (no sockets)")
struct OIDCEndpointTests {
    static let issuer = "https://idp.test"
    static let client = "gw-client"
    static let signingKey = P256.Signing.PrivateKey()

    static func oidc(metadata: Bool = true, usersFile: Bool = false, providers: [String] = ["corp"]) -> OIDCSettings {
        let key = try! KeyLoader.pem(signingKey.publicKey.pemRepresentation, algorithm: nil, kid: "k1")
        let verifier = TokenVerifier(issuers: [IssuerPolicy(issuer: issuer, audiences: [client], keys: [key],
                                                            provider: ProviderKeyHook {})], leewaySeconds: 30)
        let text = #"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/jwks","#
            + #""authorization_endpoint":"https://idp.test/authorize","token_endpoint":"https://idp.test/token"}"#
        let document = try! ProviderMetadata.parse(Array(text.utf8), expectedIssuer: issuer)
        return OIDCSettings(providers: providers.map { name in
            OIDCSettings.Provider(
                name: name, title: "Sign in with \(name)", issuer: issuer, clientID: client, clientSecret: "s3cret",
                scopes: ["openid", "email"], redirectURI: "https://gw.test/.gatehouse/oidc/callback/\(name)",
                userClaim: "preferred_username", emailClaim: "email", groupsClaim: "groups", nameClaim: "name",
                allowedEmailDomains: [], allowedGroups: [], caFile: nil, metadata: metadata ? document : nil,
                verifier: verifier, algorithms: IDTokenCheck.asymmetric)
        }, sealer: SignInFlowSealer(secret: Array(repeating: 1, count: 32)), hasUsersFile: usersFile, leewaySeconds: 30)
    }

    static func harness(_ oidc: OIDCSettings = oidc()) -> EndpointHarness {
        let harness = EndpointHarness()
        let base = harness.snapshot
        harness.snapshot = ProxySnapshot(
            limits: base.limits, timeouts: base.timeouts, trustedProxies: base.trustedProxies, upstreams: [],
            routes: base.routes, accessLogEnabled: false, signIn: base.signIn, oidc: oidc)
        return harness
    }

    static func idToken(nonce: String, user: String = "dana", aud: String = client, now: Int64) -> String {
        func b64(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }
        let header = b64(#"{"alg":"ES256","kid":"k1"}"#)
        let claims = b64(#"{"iss":"\#(issuer)","aud":"\#(aud)","sub":"u-1","preferred_username":"\#(user)","#
                         + #""email":"dana@example.com","groups":["eng"],"iat":\#(now),"exp":\#(now + 300),"#
                         + #""nonce":"\#(nonce)"}"#)
        let signature = try! signingKey.signature(for: Array("\(header).\(claims)".utf8)).rawRepresentation
        return "\(header).\(claims).\(Base64URL.encode(Array(signature)))"
    }

    static func parameter(_ name: String, in url: String) -> String? {
        let query = url.split(separator: "?", maxSplits: 1).last.map(String.init) ?? ""
        for pair in query.split(separator: "&") where pair.hasPrefix(name + "=") {
            return String(pair.dropFirst(name.count + 1)).removingPercentEncoding()
        }
        return nil
    }

    /// Starts a sign-in; returns (Location, flow cookie value).
    static func start(_ harness: EndpointHarness, rd: String = "/app/") throws -> (String, String) {
        let answer = try harness.one("GET /.gatehouse/oidc/start?provider=corp&rd=\(rd) HTTP/1.1\nHost: gw.test")
        #expect(answer.status == 302)
        let cookie = try #require(answer.header("Set-Cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("Path=/.gatehouse/oidc/") && cookie.contains("SameSite=Lax"))
        #expect(cookie.contains("Max-Age=600"))
        return (try #require(answer.header("Location")), try #require(answer.cookieValue("gatehouse_oidc")))
    }

    @Test func startSendsTheBrowserToTheProviderWithPKCE() throws {
        let (location, _) = try Self.start(Self.harness())
        #expect(location.hasPrefix("https://idp.test/authorize?response_type=code&client_id=gw-client"))
        #expect(Self.parameter("redirect_uri", in: location) == "https://gw.test/.gatehouse/oidc/callback/corp")
        #expect(Self.parameter("code_challenge_method", in: location) == "S256")
        #expect(Self.parameter("state", in: location)?.utf8.count == 43)
        #expect(Self.parameter("nonce", in: location)?.utf8.count == 43)
        #expect(Self.parameter("scope", in: location) == "openid email")
    }

    @Test func startRefusesAnUnknownProviderAndWaitsForDiscovery() throws {
        let harness = Self.harness()
        #expect(try harness.one("GET /.gatehouse/oidc/start?provider=evil HTTP/1.1\nHost: gw.test").status == 404)
        let waiting = Self.harness(Self.oidc(metadata: false))
        let answer = try waiting.one("GET /.gatehouse/oidc/start?provider=corp HTTP/1.1\nHost: gw.test")
        #expect(answer.status == 503 && answer.error == "oidc-provider-unavailable")
    }

    @Test func aCallbackExchangesTheCodeWithTheVerifierAndSignsIn() throws {
        let harness = Self.harness()
        let (location, cookie) = try Self.start(harness)
        let state = try #require(Self.parameter("state", in: location))
        let nonce = try #require(Self.parameter("nonce", in: location))
        let challenge = try #require(Self.parameter("code_challenge", in: location))
        var sent: HTTPSRequest?
        harness.outbound = { request in
            sent = request
            return .success(HTTPSResponse(status: 200, headers: [], body: Array(
                #"{"token_type":"Bearer","access_token":"at","id_token":"\#(Self.idToken(nonce: nonce, now: harness.now))"}"#.utf8)))
        }
        let answer = try harness.one("GET /.gatehouse/oidc/callback/corp?code=c0de&state=\(state) HTTP/1.1\n"
                                     + "Host: gw.test\nCookie: gatehouse_oidc=\(cookie)")
        #expect(answer.status == 303, "\(answer.error ?? "")")
        #expect(answer.header("Location") == "/app/")
        let cookies = answer.response.headers.filter { $0.0 == "Set-Cookie" }.map(\.1)
        #expect(cookies.contains { $0.hasPrefix("gh_session=") && $0.contains("HttpOnly") })
        #expect(cookies.contains { $0.hasPrefix("gatehouse_oidc=;") && $0.contains("Max-Age=0") })
        // The token request: the code, the registered callback, and the verifier whose S256 is the challenge.
        let request = try #require(sent)
        #expect(request.url == "https://idp.test/token")
        #expect(request.headers.contains { $0.name == "Authorization" && $0.value.hasPrefix("Basic ") })
        let body = String(decoding: request.formBody ?? [], as: UTF8.self)
        let verifier = try #require(Self.parameter("code_verifier", in: "?" + body))
        #expect(PKCE.challenge(for: verifier) == challenge)
        #expect(body.contains("grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fgw.test"))
        // A normal session of the user the ID token names.
        var users: [String] = []
        harness.store.sessions(of: "dana", now: harness.now) { result in
            if case .success(let records) = result { users = records.map(\.user) }
        }
        #expect(users == ["dana"])

        // The same callback again: refused, the state was taken once.
        let replay = try harness.one("GET /.gatehouse/oidc/callback/corp?code=c0de&state=\(state) HTTP/1.1\n"
                                     + "Host: gw.test\nCookie: gatehouse_oidc=\(cookie)")
        #expect(replay.status == 400 && replay.error == "oidc-state-replayed")
    }

    @Test(arguments: [
        ("no-cookie", "oidc-no-flow-cookie"), ("tampered", "oidc-flow-cookie-tampered"),
        ("other-state", "oidc-state-mismatch"), ("other-provider", "oidc-provider-mismatch"),
        ("provider-error", "oidc-provider-access_denied"), ("no-code", "oidc-no-code"),
        ("wrong-nonce", "oidc-id-token-wrong-nonce"), ("wrong-audience", "oidc-id-token-wrong-audience"),
        ("token-error", "oidc-token-endpoint-invalid_grant"), ("provider-down", "oidc-token-endpoint: connect failed"),
    ])
    func aBadCallbackIsRefusedWithItsReason(_ bad: String, _ reason: String) throws {
        let harness = Self.harness(Self.oidc(providers: ["corp", "other"]))
        let (location, realCookie) = try Self.start(harness)
        var state = try #require(Self.parameter("state", in: location))
        let nonce = try #require(Self.parameter("nonce", in: location))
        var cookie = "Cookie: gatehouse_oidc=\(realCookie)"
        var path = "/.gatehouse/oidc/callback/corp"
        var query = "code=c0de"
        switch bad {
        case "no-cookie": cookie = "X-None: 1"
        case "tampered": cookie = "Cookie: gatehouse_oidc=\(realCookie.dropLast(3))AAA"
        case "other-state": state = String(state.reversed())
        case "other-provider": path = "/.gatehouse/oidc/callback/other"
        case "provider-error": query = "error=access_denied"
        case "no-code": query = "code="
        default: break
        }
        harness.outbound = { _ in
            switch bad {
            case "token-error":
                return .success(HTTPSResponse(status: 400, headers: [], body: Array(#"{"error":"invalid_grant"}"#.utf8)))
            case "provider-down":
                return .failure(HTTPSFailure("connect failed"))
            default:
                let token = Self.idToken(nonce: bad == "wrong-nonce" ? "another" : nonce,
                                         aud: bad == "wrong-audience" ? "someone-else" : Self.client, now: harness.now)
                return .success(HTTPSResponse(status: 200, headers: [], body: Array(#"{"id_token":"\#(token)"}"#.utf8)))
            }
        }
        let answer = try harness.one("GET \(path)?\(query)&state=\(state) HTTP/1.1\nHost: gw.test\n\(cookie)")
        #expect(answer.status >= 400)
        #expect(answer.error == reason)
        #expect(answer.cookieValue("gh_session") == nil)
    }

    @Test func theLoginPageListsProvidersOrGoesStraightToTheOnlyOne() throws {
        let only = try Self.harness().one("GET /.gatehouse/login?rd=/x HTTP/1.1\nHost: gw.test")
        #expect(only.status == 302)
        #expect(only.header("Location") == "/.gatehouse/oidc/start?provider=corp&rd=%2Fx")
        let both = try Self.harness(Self.oidc(usersFile: true)).one("GET /.gatehouse/login HTTP/1.1\nHost: gw.test")
        #expect(both.status == 200)
        #expect(both.text.contains("href=\"/.gatehouse/oidc/start?provider=corp\""))
        #expect(both.text.contains("name=\"password\""))
        let noForm = try Self.harness(Self.oidc(providers: ["a", "b"])).one("GET /.gatehouse/login HTTP/1.1\nHost: gw.test")
        #expect(noForm.text.contains("provider=a") && noForm.text.contains("provider=b"))
        #expect(!noForm.text.contains("name=\"password\""))
        // No users file: the password form's endpoint does not exist.
        let post = try Self.harness().one("POST /.gatehouse/login HTTP/1.1\nHost: gw.test\n"
                                          + "Content-Type: application/json", body: #"{"username":"a","password":"b"}"#)
        #expect(post.status == 404)
    }
}

extension String {
    /// `%XX` decoded (the test's own, independent of the gateway's form decoder).
    fileprivate func removingPercentEncoding() -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
