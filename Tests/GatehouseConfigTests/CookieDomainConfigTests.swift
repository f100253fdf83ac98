import Testing

@testable import GatehouseConfig

@Suite("Configuration: sessions.cookie.domain")
struct CookieDomainConfigTests {
    static func yaml(cookie: String, hosts: [String] = ["app.example.com", "wiki.example.com"]) -> String {
        var text = """
            login:
              users_file: users.yaml
            sessions:
              cookie: \(cookie)
            upstreams:
              app:
                servers: ["127.0.0.1:9000"]
            routes:

            """
        for (index, host) in hosts.enumerated() {
            text += "  - name: r\(index)\n    match: { host: \"\(host)\" }\n    upstream: app\n    auth: none\n"
        }
        text += "  - name: rest\n    upstream: app\n    auth: none\n"
        return text
    }

    @Test("a parent of every route's host is read, and a host equal to it or a wildcard below it is accepted")
    func accepted() throws {
        let config = try #require(ConfigFixtures.config(Self.yaml(
            cookie: "{ domain: example.com }", hosts: ["app.example.com", "example.com", "*.wiki.example.com"])))
        #expect(config.sessions?.cookie.domain == "example.com")
        #expect(config.sessions?.cookie.domainLocation?.line == 4)
        let idn = try #require(ConfigFixtures.config(Self.yaml(cookie: "{ domain: xn--bcher-kva.example }",
                                                               hosts: ["app.xn--bcher-kva.example"])))
        #expect(idn.sessions?.cookie.domain == "xn--bcher-kva.example")
        let registrable = try #require(ConfigFixtures.config(Self.yaml(cookie: "{ domain: shop.co.uk }",
                                                                       hosts: ["www.shop.co.uk"])))
        #expect(registrable.sessions?.cookie.domain == "shop.co.uk")
        let absent = try #require(ConfigFixtures.config(Self.yaml(cookie: "{ name: gh }")))
        #expect(absent.sessions?.cookie.domain == nil)
    }

    @Test("bad domains are refused at their line with the reason",
          arguments: [
              ("co.uk", "public suffix"), ("github.io", "public suffix"), ("herokuapp.com", "public suffix"),
              ("com.au", "public suffix"), ("com", "single label"), ("localhost", "single label"),
              ("127.0.0.1", "IP address"), ("10.1.2.3", "IP address"), ("\"[::1]\"", "IP address"),
              ("\"::1\"", "IP address"), ("Example.com", "lowercase"), ("EXAMPLE.COM", "lowercase"),
              ("example.com.", "trailing dot"), (".example.com", "leading dot"), ("bücher.example", "A-labels"),
              ("exa_mple.com", "not a valid domain"), ("-x.example.com", "not a valid domain"),
              ("a..example.com", "not a valid domain"), ("\"example.com:8080\"", "port"),
              ("\"\"", "expected a domain"),
          ])
    func refused(_ value: String, _ reason: String) throws {
        let yaml = Self.yaml(cookie: "{ domain: \(value) }", hosts: [])
        let error = try #require(ConfigFixtures.singleError(yaml))
        #expect(error.key == "sessions.cookie.domain", "\(value)")
        #expect(error.location?.line == 4, "\(value)")
        #expect(error.message.contains(reason), "\(value): \(error.message)")
    }

    @Test("a route whose host is not below the domain is refused, naming the route and its key")
    func notAParent() throws {
        for host in ["app.other.com", "evilexample.com", "example.com.evil.com", "*.other.com", "com"] {
            let yaml = Self.yaml(cookie: "{ domain: example.com }", hosts: ["app.example.com", host])
            let error = try #require(ConfigFixtures.singleError(yaml), "\(host)")
            #expect(error.key == "routes[1].match.host", "\(host)")
            #expect(error.message.contains("route \"r1\""), "\(error.message)")
            #expect(error.message.contains("sessions.cookie.domain: example.com"), "\(error.message)")
            #expect(error.location?.line == 14, "\(host): \(String(describing: error.location))")
        }
    }

    @Test("a __Host- cookie cannot carry Domain: refused with the __Secure- name to use")
    func hostPrefixRefused() throws {
        let error = try #require(ConfigFixtures.singleError(Self.yaml(
            cookie: "{ name: __Host-gh, secure: true, domain: example.com }")))
        #expect(error.key == "sessions.cookie.domain")
        #expect(error.message.contains("__Secure-gh"), "\(error.message)")
        let secure = try #require(ConfigFixtures.config(Self.yaml(
            cookie: "{ name: __Secure-gh, secure: true, domain: example.com }")))
        #expect(secure.sessions?.cookie.name == "__Secure-gh")
    }
}
