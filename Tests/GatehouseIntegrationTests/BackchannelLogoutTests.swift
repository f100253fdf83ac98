import Foundation
import GatehouseTestSupport
import Testing

/// `POST /.gatehouse/oidc/backchannel-logout` through the real binary, with raw bytes: the body cap, framing, the
/// method, the media type and unverifiable tokens. The provider here is never reachable (its keys never arrive), so
/// a token naming it is answered 503, never accepted unchecked. Logout tokens that verify, the sessions they end and
/// two gateways on one Redis: Tests/ThirdParty/test_oidc_provider.py (a real provider), OIDCLogoutEndpointTests and
/// ProviderSessionStoreTests.
@Suite("back-channel logout endpoint through the real gateway (hostile bytes)", .serialized)
struct BackchannelLogoutTests {
    static let issuer = "https://127.0.0.1:9/unreachable"

    static func gateway() throws -> SessionGateway {
        try SessionFixture.gateway(login: """
            oidc:
              base_url: http://gw.test
              providers:
                - name: corp
                  issuer: "\(issuer)"
                  client_id: gw-client
                  client_secret_env: CORP_SECRET
            """, environment: ["CORP_SECRET": "s3cret"])
    }

    static func b64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func token(iss: String) -> String {
        b64(#"{"alg":"RS256","kid":"k"}"#) + "."
            + b64(#"{"iss":"\#(iss)","aud":"gw-client","iat":1,"jti":"j","sub":"u","events":{}}"#) + ".c2ln"
    }

    static func post(_ gw: SessionGateway, body: String, type: String = "application/x-www-form-urlencoded",
                     framing: String? = nil) throws -> RawResponse {
        let frame = framing ?? "Content-Length: \(body.utf8.count)\r\n"
        return try gw.send("POST /.gatehouse/oidc/backchannel-logout HTTP/1.1\r\nHost: gw.test\r\n"
                           + "Content-Type: \(type)\r\n" + frame + "\r\n" + body)
    }

    @Test func refusalsAndTheBodyCap() throws {
        let gw = try Self.gateway()
        // Another issuer: 400 with the reason, never forwarded, never cacheable.
        let foreign = try Self.post(gw, body: "logout_token=" + Self.token(iss: "https://evil.test"))
        #expect(foreign.status == 400)
        #expect(foreign.json?["error"] as? String == "invalid_request")
        #expect(foreign.json?["error_description"] as? String == "wrong-issuer")
        #expect(foreign.header("Cache-Control") == "no-store")
        #expect(try Self.post(gw, body: "logout_token=a.b.c").status == 400)
        #expect(try Self.post(gw, body: "other=1").json?["error_description"] as? String == "no-logout-token")
        #expect(try Self.post(gw, body: #"{"logout_token":"x"}"#, type: "application/json")
            .json?["error_description"] as? String == "not-a-form")
        // Chunked framing is read like any body.
        let body = "logout_token=" + Self.token(iss: "https://evil.test")
        let chunked = try Self.post(gw, body: String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n",
                                    framing: "Transfer-Encoding: chunked\r\n")
        #expect(chunked.status == 400 && chunked.json?["error_description"] as? String == "wrong-issuer")
        // The configured provider, whose keys have not arrived: 503 (the provider retries), never accepted.
        let unverifiable = try Self.post(gw, body: "logout_token=" + Self.token(iss: Self.issuer))
        #expect(unverifiable.status == 503)
        #expect(unverifiable.header("Retry-After") != nil)
        // Over the cap: 413, before the body is read.
        let huge = try gw.send("POST /.gatehouse/oidc/backchannel-logout HTTP/1.1\r\nHost: gw.test\r\n"
                               + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\n"
                               + "logout_token=")
        #expect(huge.status == 413)
        let get = try gw.get("/.gatehouse/oidc/backchannel-logout")
        #expect(get.status == 405 && get.header("Allow") == "POST")
        // The refusals are counted.
        let metrics = try gw.sendAdmin("GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n").bodyText
        #expect(metrics.contains("gatehouse_oidc_backchannel_logout_refusals_total 5"), "\(metrics)")
        #expect(metrics.contains("gatehouse_oidc_backchannel_logouts_total 0"))
    }
}
