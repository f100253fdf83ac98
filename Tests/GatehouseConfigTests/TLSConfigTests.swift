import Testing

@testable import GatehouseConfig

/// `server.tls`: TLS listeners and their certificates (the files themselves are loaded by the snapshot
/// compiler; the integration tests cover that).
@Suite("server.tls")
struct TLSConfigTests {
    @Test("listen addresses and certificates are read in file order, each entry keeping its location")
    func readsSection() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.withServer("""
            listen: ["127.0.0.1:8080"]
            tls:
              listen: ["0.0.0.0:8443", "[::]:8443"]
              certificates:
                - { certificate: a.crt, private_key: a.key }
                - certificate: /etc/b.crt
                  private_key: /etc/b.key
            """)))
        let tls = try #require(config.server.tls)
        #expect(tls.listen.map(\.description) == ["0.0.0.0:8443", "[::]:8443"])
        #expect(tls.certificates.map(\.certificate) == ["a.crt", "/etc/b.crt"])
        #expect(tls.certificates.map(\.privateKey) == ["a.key", "/etc/b.key"])
        #expect(tls.certificates.map(\.keyPath) == ["server.tls.certificates[0]", "server.tls.certificates[1]"])
        #expect(tls.certificates.map(\.location.line) == [6, 7])
        #expect(config.server.listen.map(\.description) == ["127.0.0.1:8080"])
    }

    @Test("without tls, or with tls: null, there is no TLS listener")
    func absent() throws {
        #expect(try #require(ConfigFixtures.config(ConfigFixtures.minimal)).server.tls == nil)
        #expect(try #require(ConfigFixtures.config(ConfigFixtures.withServer("tls:"))).server.tls == nil)
    }

    @Test("listen: [] turns plain HTTP off, but only when tls is given")
    func tlsOnly() throws {
        let config = try #require(ConfigFixtures.config(ConfigFixtures.withServer("""
            listen: []
            tls:
              listen: 0.0.0.0:443
              certificates: [{ certificate: a.crt, private_key: a.key }]
            """)))
        #expect(config.server.listen.isEmpty)
        #expect(config.server.tls?.listen.map(\.description) == ["0.0.0.0:443"])
        let error = try #require(ConfigFixtures.singleError(ConfigFixtures.withServer("listen: []")))
        #expect(error.key == "server.listen")
        #expect(error.message == "at least one address is required")
    }

    @Test("an address cannot be both plain and TLS, nor listed twice")
    func addressConflicts() throws {
        let errors = ConfigFixtures.errors(ConfigFixtures.withServer("""
            listen: ["127.0.0.1:8443"]
            tls:
              listen: ["127.0.0.1:8443", "127.0.0.1:9443", "127.0.0.1:9443"]
              certificates: [{ certificate: a.crt, private_key: a.key }]
            """))
        #expect(errors.map(\.description) == [
            "test.yaml:4: server.tls.listen[2]: 127.0.0.1:9443 is listed twice",
        ])
        let conflict = try #require(ConfigFixtures.singleError(ConfigFixtures.withServer("""
            listen: ["127.0.0.1:8443"]
            tls:
              listen: ["127.0.0.1:8443"]
              certificates: [{ certificate: a.crt, private_key: a.key }]
            """)))
        #expect(conflict.description == "test.yaml:4: server.tls.listen[0]: 127.0.0.1:8443 is also in server.listen; "
                + "an address is either plain HTTP or TLS")
    }

    @Test("missing and misspelt keys, empty lists and wrong shapes are reported with their key")
    func problems() throws {
        let errors = ConfigFixtures.errors(ConfigFixtures.withServer("""
            tls:
              certificates:
                - { certificate: a.crt, privte_key: a.key }
                - a.crt
                - { certificate: "", private_key: b.key }
            """))
        #expect(errors.map(\.description) == [
            "test.yaml:3: server.tls.listen: missing required key",
            "test.yaml:4: server.tls.certificates[0].private_key: missing required key",
            "test.yaml:4: server.tls.certificates[0].privte_key: unknown key; did you mean \"private_key\"?",
            "test.yaml:5: server.tls.certificates[1]: expected a mapping, got \"a.crt\"",
            "test.yaml:6: server.tls.certificates[2].certificate: expected a file path, got an empty string",
        ])
        let empty = try #require(ConfigFixtures.singleError(ConfigFixtures.withServer("""
            tls: { listen: "127.0.0.1:0", certificates: [] }
            """)))
        #expect(empty.description == "test.yaml:2: server.tls.certificates: at least one certificate is required")
        // The single-certificate spelling of other servers is not a second syntax: it points at the list.
        let single = ConfigFixtures.errors(ConfigFixtures.withServer("""
            tls: { listen: "127.0.0.1:0", certificate: a.crt }
            """))
        #expect(single.map(\.description) == [
            "test.yaml:2: server.tls.certificates: missing required key",
            "test.yaml:2: server.tls.certificate: unknown key; did you mean \"certificates\"?",
        ])
    }

    @Test("upstreams.NAME.tls: true, false, or { ca_file, server_name }")
    func upstreamTLS() throws {
        func upstream(_ tls: String) -> String {
            """
            upstreams:
              app:
                servers: ["app.internal:443"]
                tls: \(tls)
            routes:
              - name: app
                upstream: app
                auth: none
            """
        }
        let plain = try #require(ConfigFixtures.config(upstream("false")))
        #expect(plain.upstreams[0].tls == nil)
        let system = try #require(ConfigFixtures.config(upstream("true")))
        #expect(system.upstreams[0].tls?.caFile == nil)
        #expect(system.upstreams[0].tls?.serverName == nil)
        #expect(system.upstreams[0].tls?.keyPath == "upstreams.app.tls")
        let pinned = try #require(ConfigFixtures.config(upstream("{ ca_file: /etc/ca.pem, server_name: app.example.com }")))
        #expect(pinned.upstreams[0].tls?.caFile == "/etc/ca.pem")
        #expect(pinned.upstreams[0].tls?.serverName == "app.example.com")
        #expect(ConfigFixtures.errors(upstream("yes")).map(\.description)
                == ["test.yaml:4: upstreams.app.tls: expected true or false, got \"yes\"; write true"])
        #expect(ConfigFixtures.errors(upstream("{ ca_fle: x }")).map(\.description)
                == ["test.yaml:4: upstreams.app.tls.ca_fle: unknown key; did you mean \"ca_file\"?"])
        #expect(ConfigFixtures.errors(upstream("{ server_name: \"bad name\" }")).map(\.key) == ["upstreams.app.tls.server_name"])
    }
}
