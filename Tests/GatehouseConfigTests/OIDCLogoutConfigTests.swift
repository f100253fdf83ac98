import Testing

@testable import GatehouseConfig

@Suite("login.oidc.providers[].logout: provider-side sign-out")
struct OIDCLogoutConfigTests {
    static func provider(_ logout: String?) -> String {
        var text = """
            login:
              oidc:
                base_url: https://app.example.com
                providers:
                  - name: corp
                    issuer: https://idp.example.com
                    client_id: app
                    client_secret_env: CORP_SECRET
            """
        if let logout { text += "\n        logout: " + logout }
        return text + "\n" + ConfigFixtures.minimal
    }

    @Test func rpInitiatedLogoutIsOnByDefaultWithOurLoginPageAsTheReturn() throws {
        let config = try #require(ConfigFixtures.config(Self.provider(nil)))
        let logout = try #require(config.login?.oidc?.providers.first?.logout)
        #expect(logout == OIDCLogoutSection(rpInitiated: true, postLogoutRedirectURI: nil))
    }

    @Test func bothKeysAreRead() throws {
        let config = try #require(ConfigFixtures.config(Self.provider(
            #"{ rp_initiated: false, post_logout_redirect_uri: "https://app.example.com/bye?x=1" }"#)))
        #expect(config.login?.oidc?.providers.first?.logout
                == OIDCLogoutSection(rpInitiated: false, postLogoutRedirectURI: "https://app.example.com/bye?x=1"))
    }

    @Test(arguments: [
        ("{ rp_initiated: maybe }", "true or false"),
        ("{ post_logout_redirect_uri: /relative }", "absolute"),
        ("{ post_logout_redirect_uri: \"https://app.example.com/#frag\" }", "absolute"),
        ("{ post_logout_redirect_uri: \"javascript:alert(1)\" }", "absolute"),
        ("{ backchannel: off }", "backchannel"),
        ("yes", "mapping"),
    ])
    func badLogoutSettingsAreRefused(_ logout: String, _ expected: String) {
        let errors = ConfigFixtures.errors(Self.provider(logout))
        #expect(!errors.isEmpty)
        #expect(errors.contains { "\($0)".contains(expected) }, "\(errors)")
    }
}
