import Testing

@testable import GatehouseConfig

@Suite("tokens.issuers[]: keys fetched from the provider (discovery, jwks_uri)")
struct ProviderKeysConfigTests {
    static func issuer(_ lines: String, issuer: String = "https://idp.example.com/realms/a") -> String {
        TokensConfigTests.withTokens(
            """
            issuers:
              - issuer: "\(issuer)"
                audiences: legacy-app
            """ + "\n" + ConfigFixtures.indent(ConfigFixtures.indent(lines)))
    }

    @Test func discoveryNeedsNoKeyFiles() throws {
        let config = try #require(ConfigFixtures.config(Self.issuer("discovery: true")))
        let tokens = try #require(config.tokens)
        #expect(tokens.keyCacheDirectory == "var/keys")
        let issuer = tokens.issuers[0]
        #expect(issuer.keys.isEmpty)
        let provider = try #require(issuer.provider)
        #expect(provider.source
                == .discovery(url: "https://idp.example.com/realms/a/.well-known/openid-configuration"))
        #expect(provider.refresh == .seconds(3600))
        #expect(provider.caFile == nil)
    }

    @Test func jwksURIBesideKeyFilesWithCAAndRefresh() throws {
        let config = try #require(ConfigFixtures.config(Self.issuer(
            """
            jwks_uri: https://idp.example.com/certs
            ca_file: /etc/ssl/idp-ca.pem
            refresh: 10m
            keys:
              - { jwks_file: Config/keys/idp-jwks.json }
            """)))
        let issuer = try #require(config.tokens?.issuers.first)
        #expect(issuer.keys.count == 1)
        #expect(issuer.provider == ProviderKeysSection(source: .jwksURI("https://idp.example.com/certs"),
                                                       caFile: "/etc/ssl/idp-ca.pem", refresh: .seconds(600),
                                                       location: issuer.provider?.location))
    }

    @Test(arguments: [
        ("jwks_uri: http://idp.example.com/certs", "https://"),
        ("jwks_uri: https:///certs", "https://"),
        ("discovery: true\njwks_uri: https://idp.example.com/certs", "not both"),
        ("discovery: true\nrefresh: 5s", "from 1m to 24h"),
        ("discovery: true\nrefresh: 48h", "from 1m to 24h"),
        ("discovery: yes-please", "true or false"),
        ("ca_file: /etc/ssl/ca.pem\nkeys:\n  - { jwks_file: a.json }", "only with discovery"),
        ("discovery: false", "keys"),
    ])
    func refusesBadProviderSettings(_ lines: String, _ expected: String) {
        let errors = ConfigFixtures.errors(Self.issuer(lines))
        #expect(!errors.isEmpty)
        #expect(errors.contains { "\($0)".contains(expected) }, "\(errors)")
    }

    @Test func discoveryNeedsAnHTTPSIssuer() {
        let errors = ConfigFixtures.errors(Self.issuer("discovery: true", issuer: "http://idp.example.com"))
        #expect(errors.contains { "\($0)".contains("https:// issuer") }, "\(errors)")
    }
}
