import Foundation
import GatehouseTestSupport
import Testing

/// TLS termination through the real binary, with certificates made by the `openssl` command for each test
/// and `openssl s_client` as the client.
@Suite("TLS listeners of the real binary")
struct TLSTests {
    /// A gateway with a plain and a TLS listener; certificates `a` (a.test, www.a.test) and `b` (b.test and
    /// *.b.test), `a` first (the default).
    final class Fixture {
        let certificates: TestCertificates
        let gateway: TestGateway

        init(server: String = "") throws {
            certificates = try TestCertificates()
            let a = try certificates.make("a", commonName: "a.test", names: ["a.test", "www.a.test"])
            let b = try certificates.make("b", commonName: "b.test", names: ["b.test", "*.b.test"])
            gateway = try TestGateway(configYAML: TestGateway.simpleConfig(server: """
                  tls:
                    listen: ["127.0.0.1:0"]
                    certificates:
                      - { certificate: "\(a.certificate)", private_key: "\(a.privateKey)" }
                      - { certificate: "\(b.certificate)", private_key: "\(b.privateKey)" }
                \(server)
                """))
        }

        var tlsPort: UInt16 {
            get throws { try #require(gateway.gateway.tlsPort, "no TLS listener in:\n\(gateway.gateway.stderr)") }
        }

        /// One request over TLS with `Connection: close`.
        func request(_ path: String, serverName: String? = "a.test", options: [String] = [],
                     host: String = "app.test") throws -> TLSClient.Result {
            try TLSClient.run(port: try tlsPort, serverName: serverName, options: options,
                              request: "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
        }

        /// The subject of the certificate a handshake with `serverName` gets.
        func subject(serverName: String?) throws -> String? {
            try request("/subject", serverName: serverName).peerCertificate
        }
    }

    @Test("TLS 1.3: handshake, request, and the upstream sees X-Forwarded-Proto: https (plain listener: http)")
    func tls13() throws {
        let fixture = try Fixture()
        let result = try fixture.request("/over-tls13", options: ["-tls1_3"])
        #expect(result.connected, "s_client: \(result.info)")
        #expect(result.protocolVersion == "TLSv1.3")
        let response = try #require(result.response, "received: \(String(decoding: result.received, as: UTF8.self))")
        #expect(response.status == 200)
        #expect(response.json?["target"] as? String == "/over-tls13")
        #expect(echoed(response, "X-Forwarded-Proto") == "https")
        #expect(echoed(response, "Host") == "app.test")

        let plain = try #require(try fixture.gateway.exchange("GET /plain HTTP/1.1\r\nHost: app.test\r\n\r\n"))
        #expect(echoed(plain, "X-Forwarded-Proto") == "http")
    }

    @Test("TLS 1.2 with an ECDHE AEAD suite; a client's own X-Forwarded-Proto is replaced")
    func tls12() throws {
        let fixture = try Fixture()
        let result = try TLSClient.run(
            port: try fixture.tlsPort, serverName: "a.test", options: ["-tls1_2"],
            request: "GET /over-tls12 HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n")
        #expect(result.protocolVersion == "TLSv1.2", "s_client: \(result.info)")
        let cipher = try #require(result.cipher)
        #expect(cipher.hasPrefix("ECDHE-") && (cipher.contains("GCM") || cipher.contains("CHACHA20")), "\(cipher)")
        let response = try #require(result.response)
        #expect(response.status == 200)
        #expect(response.echoedHeaders.filter { $0.0 == "X-Forwarded-Proto" }.map(\.1) == ["https"])
    }

    @Test("SNI picks the certificate whose names match (exact or wildcard); no or an unknown name gets the first")
    func sni() throws {
        let fixture = try Fixture()
        #expect(try fixture.subject(serverName: "a.test") == "CN = a.test")
        #expect(try fixture.subject(serverName: "www.a.test") == "CN = a.test")
        #expect(try fixture.subject(serverName: "b.test") == "CN = b.test")
        #expect(try fixture.subject(serverName: "api.b.test") == "CN = b.test")
        #expect(try fixture.subject(serverName: "deep.api.b.test") == "CN = a.test")
        #expect(try fixture.subject(serverName: "unknown.test") == "CN = a.test")
        #expect(try fixture.subject(serverName: nil) == "CN = a.test")
    }

    @Test("TLS 1.0 and 1.1 are refused with a protocol_version alert; so are non-ECDHE or non-AEAD suites")
    func oldProtocolsRefused() throws {
        let fixture = try Fixture()
        let port = try fixture.tlsPort
        // SECLEVEL=0: let the client offer what its own defaults no longer allow, so the refusal is the server's.
        for version in ["-tls1", "-tls1_1"] {
            let result = try TLSClient.run(port: port, serverName: "a.test",
                                           options: [version, "-cipher", "DEFAULT:@SECLEVEL=0"],
                                           request: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 10)
            #expect(result.status != 0)
            #expect(!result.connected)
            #expect(result.info.contains("alert protocol version"), "\(version): \(result.info)")
            #expect(result.received.isEmpty)
        }
        for cipher in ["AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384"] {
            let result = try TLSClient.run(port: port, serverName: "a.test", options: ["-tls1_2", "-cipher", cipher],
                                           timeout: 10)
            #expect(!result.connected, "\(cipher) was accepted")
            #expect(result.info.contains("alert handshake failure"), "\(cipher): \(result.info)")
        }
        // The listener still works afterwards.
        #expect(try fixture.request("/after").response?.status == 200)
    }

    @Test("plain HTTP sent to the TLS port: the connection is closed, nothing is answered or forwarded")
    func plainHTTPOnTLSPort() throws {
        let fixture = try Fixture()
        let client = try RawClient(port: try fixture.tlsPort)
        try client.send("GET /plain-on-tls HTTP/1.1\r\nHost: app.test\r\n\r\n")
        let start = Date()
        let bytes = client.readUntilClose(timeout: 5)
        #expect(elapsed(since: start) < 4, "the connection was not closed")
        #expect(!String(decoding: bytes, as: UTF8.self).contains("HTTP/1.1"))
        #expect(fixture.gateway.gateway.process.isRunning)
        #expect(try fixture.request("/after").response?.status == 200)
        #expect(try fixture.gateway.upstreamRequestLines() == ["GET /after"])
    }

    @Test("a client that never completes the handshake is closed at the header timeout")
    func stalledHandshake() throws {
        let fixture = try Fixture(server: "  limits: { header_timeout: 1s }")
        let client = try RawClient(port: try fixture.tlsPort)
        let start = Date()
        #expect(client.waitForClose(timeout: 5))
        #expect(elapsed(since: start) < 4)
    }

    @Test("keep-alive: several requests on one TLS connection, a 2 MiB upload and a 5 MB download")
    func keepAliveAndBodies() throws {
        let fixture = try Fixture()
        let body = [UInt8]((0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        var request = Array("GET /first HTTP/1.1\r\nHost: app.test\r\n\r\n".utf8)
        request += Array("POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        request += Array("GET /__echo/stream/5000000 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n".utf8)
        let result = try TLSClient.run(port: try fixture.tlsPort, serverName: "a.test", request: request, timeout: 30)
        let responses = result.responses
        #expect(responses.map(\.status) == [200, 200, 200], "s_client: \(result.info)")
        guard responses.count == 3 else { return }
        #expect(responses[0].json?["target"] as? String == "/first")
        #expect(responses[1].json?["body_length"] as? Int == body.count)
        #expect(responses[1].json?["body_sha256"] as? String == sha256Hex(body))
        #expect(responses[2].body.count == 5_000_000)
    }

    @Test("SIGHUP re-reads the certificates: new connections get the new one; a broken one keeps the old")
    func reloadCertificates() throws {
        let fixture = try Fixture()
        #expect(try fixture.subject(serverName: "a.test") == "CN = a.test")
        // Same paths, new contents.
        try fixture.certificates.make("a", commonName: "renewed.a.test", names: ["a.test", "www.a.test"])
        fixture.gateway.gateway.signal(SIGHUP)
        #expect(eventually { fixture.gateway.gateway.stderr.contains("reloaded") })
        #expect(try fixture.subject(serverName: "a.test") == "CN = renewed.a.test")
        #expect(try fixture.subject(serverName: "b.test") == "CN = b.test")

        // A certificate file that is not PEM: the reload is refused with the entry's file:line, and the
        // certificate in use stays.
        try "not a certificate\n".write(toFile: fixture.certificates.path("a").certificate, atomically: true,
                                        encoding: .utf8)
        fixture.gateway.gateway.signal(SIGHUP)
        #expect(eventually { fixture.gateway.gateway.stderr.contains("reload refused") })
        let stderr = fixture.gateway.gateway.stderr
        #expect(stderr.contains("gatehouse.yaml:7: server.tls.certificates[0]:"), "\(stderr)")
        #expect(try fixture.subject(serverName: "a.test") == "CN = renewed.a.test")

        // Dropping server.tls while its listeners run is refused too (they must never serve plain HTTP).
        try fixture.gateway.rewriteConfig(TestGateway.simpleConfig())
        fixture.gateway.gateway.signal(SIGHUP)
        #expect(eventually { fixture.gateway.gateway.stderr.contains("removing TLS needs a restart") })
        #expect(try fixture.subject(serverName: "b.test") == "CN = b.test")
    }

    @Test("a TLS-only gateway (listen: []) serves HTTPS and nothing else")
    func tlsOnly() throws {
        let certificates = try TestCertificates()
        let a = try certificates.make("a", commonName: "a.test", names: ["a.test"])
        let gateway = try TestGateway(configYAML: TestGateway.simpleConfig().replacingOccurrences(
            of: "  listen: [\"127.0.0.1:0\"]\n",
            with: "  listen: []\n  tls: { listen: \"127.0.0.1:0\", certificates: "
                + "[{ certificate: \"\(a.certificate)\", private_key: \"\(a.privateKey)\" }] }\n"))
        let listening = gateway.gateway.stderr.split(separator: "\n").filter { $0.contains("listening on") }
        #expect(listening.count == 1 && listening[0].hasSuffix("(TLS)"), "\(listening)")
        #expect(gateway.port == gateway.gateway.tlsPort)
        let result = try TLSClient.run(port: gateway.port, serverName: "a.test",
                                       request: "GET /only HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        #expect(result.response.map { echoed($0, "X-Forwarded-Proto") } == "https")
    }

    @Test("check-config loads the files: missing file, key of another certificate, each at its entry's line")
    func checkConfigFiles() throws {
        let certificates = try TestCertificates()
        let a = try certificates.make("a", commonName: "a.test", names: ["a.test"])
        let b = try certificates.make("b", commonName: "b.test", names: ["b.test"])
        func check(_ entries: String) throws -> CommandResult {
            let path = certificates.directory.appendingPathComponent("check.yaml").path
            try """
                server:
                  listen: []
                  tls:
                    listen: ["127.0.0.1:0"]
                    certificates:
                \(entries)
                upstreams:
                  app:
                    servers: ["127.0.0.1:9000"]
                routes:
                  - name: all
                    upstream: app
                    auth: none
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return try runGatehouse(["check-config", "--config", path])
        }
        let good = try check("      - { certificate: \(a.certificate), private_key: \(a.privateKey) }")
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.contains(": ok"))

        let missing = try check("""
                  - { certificate: \(a.certificate), private_key: \(a.privateKey) }
                  - { certificate: \(certificates.directory.path)/none.crt, private_key: \(b.privateKey) }
            """)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("check.yaml:7: server.tls.certificates[1]: "), "\(missing.stderr)")
        #expect(missing.stderr.contains("none.crt: cannot read the certificate: No such file or directory"))

        let mismatch = try check("      - { certificate: \(a.certificate), private_key: \(b.privateKey) }")
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("check.yaml:6: server.tls.certificates[0]: \(b.privateKey) is not the "
                                         + "private key of \(a.certificate)"), "\(mismatch.stderr)")
    }

    @Test("TLS to an upstream: its certificate is verified against ca_file and server_name; a failure is a 502")
    func upstreamTLS() throws {
        let backend = try Fixture()  // a gateway with a TLS listener in front of an echo upstream
        let port = try backend.tlsPort
        let a = backend.certificates.path("a")
        let b = backend.certificates.path("b")
        func front(_ tls: String) throws -> TestGateway {
            try TestGateway(configYAML: TestGateway.simpleConfig(upstream: "    tls: \(tls)")
                .replacingOccurrences(of: "@UPSTREAM@", with: "127.0.0.1:\(port)"))
        }
        func status(_ tls: String, _ path: String) throws -> (Int?, RawResponse?) {
            let response = try front(tls).exchange(
                "GET \(path) HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
            return (response?.status, response)
        }
        let good = try front("{ ca_file: \"\(a.certificate)\", server_name: a.test }")
        let client = try RawClient(port: good.port)
        try client.send("GET /upstream-tls HTTP/1.1\r\nHost: app.test\r\n\r\n")
        let response = client.readResponse()
        #expect(response?.status == 200)
        #expect(response?.json?["target"] as? String == "/upstream-tls")
        #expect(response.map { echoed($0, "X-Forwarded-Proto") } == "https")  // the backend saw TLS
        // Bodies both ways through the TLS upstream connection, on the same client connection.
        let body = [UInt8]((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        try client.send(Array("POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        let upload = client.readResponse(timeout: 30)
        #expect(upload?.json?["body_length"] as? Int == body.count)
        #expect(upload?.json?["body_sha256"] as? String == sha256Hex(body))
        try client.send("GET /__echo/stream/6000000 HTTP/1.1\r\nHost: app.test\r\n\r\n")
        #expect(client.readResponse(timeout: 30)?.body.count == 6_000_000)
        // A subjectAltName other than the CN; SNI picks the second certificate for b.test.
        #expect(try status("{ ca_file: \"\(a.certificate)\", server_name: www.a.test }", "/san").0 == 200)
        #expect(try status("{ ca_file: \"\(b.certificate)\", server_name: b.test }", "/sni").0 == 200)
        // The certificate does not name the server, is not signed by the CA given, or by a system CA.
        #expect(try status("{ ca_file: \"\(a.certificate)\", server_name: other.test }", "/wrong-name").0 == 502)
        #expect(try status("{ ca_file: \"\(b.certificate)\", server_name: a.test }", "/wrong-ca").0 == 502)
        #expect(try status("true", "/system-cas").0 == 502)
        #expect(try backend.gateway.upstreamRequestLines()
                == ["GET /upstream-tls", "POST /upload", "GET /__echo/stream/6000000", "GET /san", "GET /sni"])
    }

    @Test("check-config: a missing upstream CA file is reported at upstreams.NAME.tls")
    func upstreamCAFileMissing() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gh-up-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TestGateway.simpleConfig(upstream: "    tls: { ca_file: /nonexistent/ca.pem }")
            .replacingOccurrences(of: "@UPSTREAM@", with: "127.0.0.1:9")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try runGatehouse(["check-config", "--config", path])
        #expect(result.status != 0)
        #expect(result.stderr.contains(": upstreams.app.tls: /nonexistent/ca.pem: cannot read the CA file: "
                                       + "No such file or directory"), "\(result.stderr)")
    }

    @Test("a sign-in over TLS gets a Secure session cookie (cookie.secure: auto); over plain HTTP it does not")
    func secureCookieOverTLS() throws {
        let certificates = try TestCertificates()
        let pair = try certificates.make("gw", commonName: "gw.test", names: ["gw.test"])
        let tls = "  tls: { listen: \"127.0.0.1:0\", certificates: "
            + "[{ certificate: \"\(pair.certificate)\", private_key: \"\(pair.privateKey)\" }] }\n"
        let yaml = SessionFixture.config().replacingOccurrences(of: "  workers: 2\n", with: "  workers: 2\n" + tls)
        #expect(yaml.contains("tls: {"))
        let gw = try SessionGateway(yaml, files: ["users.yaml": try SessionFixture.usersFile()])
        let body = "username=alice&password=correct%20horse%20battery%20staple"
        let result = try TLSClient.run(
            port: try #require(gw.gateway.gateway.tlsPort), serverName: "gw.test",
            request: "POST /.gatehouse/login HTTP/1.1\r\nHost: gw.test\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n" + body)
        let response = try #require(result.response, "s_client: \(result.info)")
        #expect(response.status == 303, "\(response.status) \(response.bodyText)")
        let setCookie = try #require(response.header("Set-Cookie"))
        #expect(setCookie.components(separatedBy: "; ").contains("Secure"), "\(setCookie)")
        let plain = try gw.signIn("alice", SessionFixture.alicePassword)
        #expect(plain.status == 303)
        #expect(!(plain.header("Set-Cookie") ?? "Secure").contains("Secure"))
    }

    @Test("a chunked upload whose TLS record boundary falls inside the chunk framing is forwarded, not left waiting")
    func chunkFramingAcrossRecords() throws {
        // s_client sends its input as 16 KiB records; the gateway reads every record that has arrived into
        // buffer runs of its own, so the body's bytes reach the parser in two runs cut at that boundary. A parser
        // that took the whole first run (ending in framing) must go on with the second, not wait for the client.
        let fixture = try Fixture(server: "  limits:\n    body_timeout: 3s")
        let head = "POST /chunked-over-tls HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n"
            + "Connection: close\r\n\r\n"
        // Record boundary after the data's CR, after its CRLF, and after the last chunk's "0".
        for intoFraming in 1...3 {
            let size = 16384 - head.utf8.count - "3fff\r\n".utf8.count - intoFraming
            let request = head + String(size, radix: 16) + "\r\n" + String(repeating: "x", count: size) + "\r\n0\r\n\r\n"
            let result = try TLSClient.run(port: try fixture.tlsPort, serverName: "a.test", request: request)
            let response = try #require(result.response, "s_client: \(result.info)")
            #expect(response.status == 200, "boundary \(intoFraming) into the framing: \(response.status)")
            #expect((response.json?["body_length"] as? NSNumber)?.intValue == size)
        }
    }
}
