@testable import GatehouseProxy
import Testing

/// `rd` after sign-in, logout and account actions (`RedirectTarget`): paths on this site always; with
/// `sessions.cookie.domain` URLs on that domain and only there.
@Suite("rd: where a sign-in may send the browser")
struct RedirectTargetTests {
    static func check(_ rd: String, domain: String? = "example.com", secure: Bool = true, port: Int? = nil) -> String? {
        RedirectTarget.check(rd, domain: domain, secure: secure, requestPort: port)
    }

    @Test("allowed with domain example.com", arguments: [
        "https://wiki.example.com/x", "https://example.com/", "https://example.com", "https://a.b.example.com/p?q=1#f",
        "https://WIKI.Example.com/x", "https://wiki.example.com:443/x", "/app/page?x=1", "/",
    ])
    func allowed(_ rd: String) {
        #expect(Self.check(rd) == rd)
    }

    @Test("refused with domain example.com", arguments: [
        "https://evil.com", "https://example.com.evil.com", "https://evilexample.com/", "//evil.com",
        "//wiki.example.com/x", "https://user@evil.com", "https://wiki.example.com@evil.com/",
        "https://user:pw@wiki.example.com/", "https:\\\\evil.com", "https:/\\evil.com", "/\\evil.com",
        "https://wiki.example.com\\@evil.com", "https://evil.com\\.example.com", "http://wiki.example.com/x",
        "https://wiki.example.com/x\r\nSet-Cookie: a=b", "https://wiki.example.com/x\nX: y", "/x\r\n",
        "https://wiki.example.com/a b", "https://wiki.example.com/\u{0}", "https://wiki.example.com:8443/x",
        "https://wiki.example.com:0443x/", "https://wiki.example.com:/x", "https://%65vil.com/",
        "https://wiki%2eexample.com/", "https://[::1]/", "https://127.0.0.1/", "https://wiki.example.com./x",
        "https://-x.example.com/", "https:///x", "https://", "javascript:alert(1)", "ftp://wiki.example.com/",
        "HTTPS://wiki.example.com/", "https://wiki.exämple.com/", "wiki.example.com/x", "",
        "https://wiki.example.com/" + String(repeating: "a", count: 2048),
    ])
    func refused(_ rd: String) {
        #expect(Self.check(rd) == nil, "\(rd.debugDescription)")
    }

    @Test("http:// only when the cookie is not Secure; a port only the default or the request's own")
    func schemesAndPorts() {
        #expect(Self.check("http://wiki.example.com/x", secure: false) == "http://wiki.example.com/x")
        #expect(Self.check("https://wiki.example.com/x", secure: false) == "https://wiki.example.com/x")
        #expect(Self.check("http://wiki.example.com:80/x", secure: false) != nil)
        #expect(Self.check("http://wiki.example.com:443/x", secure: false) == nil)
        #expect(Self.check("http://wiki.example.com:8080/x", secure: false, port: 8080) != nil)
        #expect(Self.check("http://wiki.example.com:8081/x", secure: false, port: 8080) == nil)
        #expect(Self.check("https://wiki.example.com:8443/x", port: 8443) != nil)
        #expect(RedirectTarget.port(ofHost: "app.example.com:8443") == 8443)
        #expect(RedirectTarget.port(ofHost: "app.example.com") == nil)
        #expect(RedirectTarget.port(ofHost: "[::1]") == nil)
    }

    @Test("without a cookie domain only paths on this site, as before")
    func withoutDomain() {
        #expect(Self.check("/app", domain: nil) == "/app")
        #expect(Self.check("https://wiki.example.com/x", domain: nil) == nil)
        #expect(Self.check("//evil.com", domain: nil) == nil)
        #expect(SignInEndpoints.safeRedirect("https://example.com/") == nil)
    }
}
