import Foundation
import GatehouseTestSupport
import Testing

/// Traefik and Envoy are not packaged here, so their side of docs/forward-auth.md is checked by sending the gateway
/// exactly the request each of them sends for the documented config, and by applying to the answer exactly the
/// header selection each of them applies (Traefik `authResponseHeaders`, Envoy `allowed_upstream_headers`).
///
/// Traefik ForwardAuth (v2/v3, `trustForwardHeader: false`): always `GET` to the address's path, `Host` of the
/// address, every client header copied (but hop-by-hop ones), and `X-Forwarded-Method`, `-Proto`, `-Host`,
/// `-Uri`, `-For`, `-Port`, `-Server`, `X-Real-Ip` set by Traefik. A 2xx lets the request through with the
/// `authResponseHeaders` copied over the client's headers of those names; anything else is relayed to the client
/// as is (a 302 to the login page included).
///
/// Envoy ext_authz HTTP service (`path_prefix: /.gatehouse/auth`): the original method, `path_prefix` followed by
/// the original path and query, the original `:authority` as `Host`, `Content-Length: 0`, the headers the
/// `allowed_headers` patterns let through (and Envoy's own `x-envoy-expected-rq-timeout-ms`). A 2xx lets the
/// request through with the `allowed_upstream_headers` copied; a denial is relayed with its status and headers.
@Suite("Forward auth: the exact requests of Traefik ForwardAuth and Envoy ext_authz, and what they copy")
struct ForwardAuthProxyShapeTests {
    /// The documented Traefik middleware's `authResponseHeaders`.
    static let traefikCopies = ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups"]
    /// The documented Envoy `allowed_upstream_headers` (exact, lowercase: Envoy matches header names lowercase).
    static let envoyCopies = ["x-auth-user", "x-auth-email", "x-auth-groups"]

    /// Traefik's request for a client's `GET uri` on `app.test` over https from 203.0.113.7.
    static func traefik(_ uri: String, method: String = "GET", client: [String] = []) -> String {
        var text = "GET /.gatehouse/auth HTTP/1.1\r\nHost: gatehouse:8080\r\nUser-Agent: curl/8.5.0\r\n"
        for header in client { text += header + "\r\n" }
        text += "Accept-Encoding: gzip\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: app.test\r\n"
            + "X-Forwarded-Method: \(method)\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Proto: https\r\n"
            + "X-Forwarded-Server: traefik-7d9f\r\nX-Forwarded-Uri: \(uri)\r\nX-Real-Ip: 203.0.113.7\r\n"
        return text + "\r\n"
    }

    /// Envoy's check request for a client's `method path` on `app.test`, with the allowed client headers.
    static func envoy(_ path: String, method: String = "GET", client: [String] = []) -> String {
        var text = "\(method) /.gatehouse/auth\(path) HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n"
        for header in client { text += header + "\r\n" }
        return text + "x-envoy-expected-rq-timeout-ms: 500\r\n\r\n"
    }

    /// The headers Traefik copies onto the upstream request from a 2xx answer.
    static func traefikCopied(_ response: RawResponse) -> [String] {
        traefikCopies.compactMap { name in response.header(name).map { "\(name): \($0)" } }
    }

    /// The headers Envoy adds to the upstream request from a 2xx answer (names matched exactly, lowercased).
    static func envoyCopied(_ response: RawResponse) -> [String] {
        response.headers.filter { envoyCopies.contains($0.name.lowercased()) }.map { "\($0.name.lowercased()): \($0.value)" }
    }

    static let html = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    @Test("Traefik: a bearer passes with the authResponseHeaders; a spoofed client identity header is not copied")
    func traefikAllowed() throws {
        let gw = try ForwardAuthTests.gateway()
        let response = try #require(try gw.send(Self.traefik("/api/orders?id=7", client: [
            "Accept: application/json", "Authorization: Bearer \(authToken())", "X-Auth-User: mallory"])))
        #expect(response.status == 200, "\(response.status) \(response.bodyText)")
        #expect(Self.traefikCopied(response)
                == ["X-Auth-User: alice", "X-Auth-Email: alice@example.com", "X-Auth-Groups: staff"])
        // A public route: 200 and nothing to copy (Traefik then leaves the client's headers; the docs strip them).
        let open = try #require(try gw.send(Self.traefik("/public/x", client: ["X-Auth-User: mallory"])))
        #expect(open.status == 200)
        #expect(Self.traefikCopied(open).isEmpty)
    }

    @Test("Traefik: what it relays: 401 with the challenge, 403, and a browser's 302 to the login page with rd")
    func traefikDenied() throws {
        let gw = try ForwardAuthTests.gateway()
        let none = try #require(try gw.send(Self.traefik("/api/x", client: ["Accept: application/json"])))
        #expect(none.status == 401)
        #expect(none.header("WWW-Authenticate") == #"Bearer realm="gatehouse""#)
        #expect(Self.traefikCopied(none).isEmpty)
        let forbidden = try #require(try gw.send(Self.traefik("/ops/x", client: ["Authorization: Bearer \(authToken())"])))
        #expect(forbidden.status == 403)
        let browser = try #require(try gw.send(Self.traefik("/web/orders?tab=2", client: [Self.html])))
        #expect(browser.status == 302)
        #expect(browser.header("Location") == "/.gatehouse/login?rd=/web/orders%3Ftab%3D2")
        // Traefik's method header is the original method: a DELETE is decided as a DELETE.
        let delete = try #require(try gw.send(Self.traefik("/ops/x", method: "DELETE", client: [
            "Authorization: Bearer \(authToken(extra: ",\"groups\":[\"ops\"]"))"])))
        #expect(delete.status == 200)
    }

    @Test("Envoy: the original path after path_prefix; allowed_upstream_headers copies exactly the identity")
    func envoyAllowed() throws {
        let gw = try ForwardAuthTests.gateway()
        let response = try #require(try gw.send(Self.envoy("/api/orders?id=7", client: [
            "authorization: Bearer \(authToken())", "accept: application/json"])))
        #expect(response.status == 200, "\(response.status) \(response.bodyText)")
        #expect(Self.envoyCopied(response)
                == ["x-auth-user: alice", "x-auth-email: alice@example.com", "x-auth-groups: staff"])
        // Envoy keeps the original method: a POST check request (empty body) is decided as the POST.
        let post = try #require(try gw.send(Self.envoy("/api/orders", method: "POST", client: [
            "authorization: Bearer \(authToken())"])))
        #expect(post.status == 200, "\(post.status) \(post.bodyText)")
        #expect(Self.envoyCopied(post).count == 3)
    }

    @Test("Envoy: denials it relays: 401 with the challenge, 403, a browser's 302; traversal is never a 200")
    func envoyDenied() throws {
        let gw = try ForwardAuthTests.gateway()
        let none = try #require(try gw.send(Self.envoy("/api/x")))
        #expect(none.status == 401)
        #expect(none.header("WWW-Authenticate") == #"Bearer realm="gatehouse""#)
        let forbidden = try #require(try gw.send(Self.envoy("/ops/x", client: ["authorization: Bearer \(authToken())"])))
        #expect(forbidden.status == 403)
        #expect(Self.envoyCopied(forbidden).isEmpty)
        let browser = try #require(try gw.send(Self.envoy("/web/a?b=c", client: [Self.html])))
        #expect(browser.status == 302)
        #expect(browser.header("Location") == "/.gatehouse/login?rd=/web/a%3Fb%3Dc")
        // Un-normalised `..` (Envoy without `normalize_path: true`) climbs out of /.gatehouse/auth before the decision
        // endpoint sees it: the gateway's parser resolves the whole target first. Never a 200 (the docs set
        // normalize_path, so Envoy resolves it itself).
        let traversal = try #require(try gw.send(Self.envoy("/../../etc/passwd")))
        #expect(traversal.status != 200)
    }
}
