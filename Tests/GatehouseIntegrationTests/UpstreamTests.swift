import Foundation
import GatehouseTestSupport
import Testing

/// Upstream behaviour: server choice, failures before and during a response, timeouts, connection reuse.
@Suite("Upstreams through the real binary")
struct UpstreamTests {
    /// A one-route config whose upstream `app` has `servers` and the extra upstream keys given.
    static func config(servers: [String], upstreamKeys: String = "") -> String {
        let list = servers.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
            server:
              listen: ["127.0.0.1:0"]
              workers: 1
            access_log:
              path: off
            upstreams:
              app:
                servers: [\(list)]
            \(upstreamKeys)
            routes:
              - name: all
                upstream: app
                auth: none
            """
    }

    @Test("two servers take turns (round-robin)")
    func roundRobin() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@", "@UPSTREAM2@"],
                                                         upstreamKeys: "    keepalive: 0"),
                                 extraUpstreams: 1)
        let client = try RawClient(port: gw.port)
        var order: [Int?] = []
        for index in 0..<6 {
            try client.send("GET /rr/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse()?.status == 200)
            order.append(gw.answeringEcho("GET /rr/\(index)"))
        }
        let first = try #require(order[0])
        #expect(order == (0..<6).map { ($0 + first) % 2 }, "servers answered in order \(order)")
    }

    @Test("a server that refuses connections is skipped; requests succeed through the other")
    func refusingServerSkipped() throws {
        let dead = try RefusingPort()
        let gw = try TestGateway(configYAML: Self.config(servers: [dead.address, "@UPSTREAM@"],
                                                         upstreamKeys: "    keepalive: 0"))
        let client = try RawClient(port: gw.port)
        for index in 0..<4 {
            try client.send("GET /skip/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = client.readResponse()
            #expect(response?.status == 200, "request \(index): \(response.map { "\($0.status)" } ?? "no answer")")
        }
        #expect(try gw.upstreamRequestLines() == (0..<4).map { "GET /skip/\($0)" })
    }

    @Test("the only server is down: 502")
    func onlyServerDown() throws {
        let dead = try RefusingPort()
        let gw = try TestGateway(configYAML: Self.config(servers: [dead.address]))
        let start = Date()
        let response = try #require(try gw.exchange("GET /down HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(response.status == 502)
        #expect(response.json?["error"] as? String == "bad_gateway")
        #expect(elapsed(since: start) < 3)
    }

    @Test("response_timeout 300ms against a 2 s upstream: 504, well before the upstream answers")
    func responseTimeout() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@"],
                                                         upstreamKeys: "    response_timeout: 300ms"))
        let start = Date()
        let response = try #require(try gw.exchange("GET /__echo/delay/2000 HTTP/1.1\r\nHost: a\r\n\r\n"))
        let took = elapsed(since: start)
        #expect(response.status == 504)
        #expect(response.json?["error"] as? String == "gateway_timeout")
        #expect(took >= 0.25 && took < 1.8, "answered after \(took) s")
    }

    @Test("the upstream dies mid-response: the client connection is closed and the body is not complete")
    func upstreamDiesMidResponse() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@"]))
        let client = try RawClient(port: gw.port)
        try client.send("GET /__echo/close HTTP/1.1\r\nHost: a\r\n\r\n")
        // The echo promises 1000 bytes and sends 7: no complete response can be read...
        #expect(client.readResponse(timeout: 5) == nil)
        // What did arrive is the head the upstream sent and its 7 bytes, nothing more...
        let received = String(decoding: client.readUntilClose(timeout: 5), as: UTF8.self)
        // ...and then the gateway closed the connection.
        #expect(client.waitForClose(timeout: 0.5))
        #expect(received.hasPrefix("HTTP/1.1 200"), "received: \(received)")
        #expect(received.contains("Content-Length: 1000"))
        #expect(received.hasSuffix("\r\n\r\npartial"), "received: \(received)")
    }

    @Test("a close-delimited upstream body reaches an HTTP/1.1 client chunked, complete, on a kept connection")
    func untilCloseRechunked() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@"]))
        let client = try RawClient(port: gw.port)
        try client.send("GET /__echo/until-close HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.header("transfer-encoding")?.lowercased() == "chunked")
        #expect(response.header("content-length") == nil)
        let json = try #require(response.json, "the re-chunked body is not the whole JSON document")
        #expect(json["target"] as? String == "/__echo/until-close")
        // Chunked framing makes the end explicit, so the client connection can carry on.
        try client.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.json?["target"] as? String == "/after")
    }

    @Test("a close-delimited upstream body reaches an HTTP/1.0 client as is, then the connection closes")
    func untilCloseHTTP10() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@"]))
        let client = try RawClient(port: gw.port)
        try client.send("GET /__echo/until-close HTTP/1.0\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.header("transfer-encoding") == nil)
        #expect(response.json?["target"] as? String == "/__echo/until-close")
        #expect(client.waitForClose(timeout: 5))
    }

    @Test("upstream connections are reused: many sequential requests work and few upstream connections open")
    func keepAliveReuse() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@"]))
        let client = try RawClient(port: gw.port)
        for index in 0..<40 {
            try client.send("GET /reuse/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = client.readResponse()
            #expect(response?.json?["target"] as? String == "/reuse/\(index)")
        }
        // Separate client connections share the worker's pool too.
        for index in 0..<10 {
            #expect(try gw.exchange("GET /fresh/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")?.status == 200)
        }
        // With reuse, the gateway holds one connection to the echo and has closed none (no TIME_WAIT on
        // its side); without reuse there would be one closed connection per request.
        let sockets = TCPTable.connections(toPort: gw.echo.port)
        #expect(sockets.established <= 2, "established: \(sockets.established)")
        #expect(sockets.timeWait <= 2, "closed upstream connections: \(sockets.timeWait)")
    }

    @Test("keepalive: 0 opens a fresh upstream connection per request, and requests still work")
    func keepAliveDisabled() throws {
        let gw = try TestGateway(configYAML: Self.config(servers: ["@UPSTREAM@"], upstreamKeys: "    keepalive: 0"))
        let client = try RawClient(port: gw.port)
        for index in 0..<10 {
            try client.send("GET /noreuse/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse()?.json?["target"] as? String == "/noreuse/\(index)")
        }
        let sockets = TCPTable.connections(toPort: gw.echo.port)
        #expect(sockets.timeWait + sockets.established >= 9)
    }

    @Test("pooled connections to an upstream that restarted are not reused blindly: the next request works")
    func upstreamRestarted() throws {
        let first = try GatehouseProcess.startEcho()
        let port = first.port
        let gw = try TestGateway(configYAML: Self.config(servers: ["127.0.0.1:\(port)"]))
        let client = try RawClient(port: gw.port)
        try client.send("GET /before HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        // The pooled connection now leads to a dead process; a new one listens on the same port.
        first.terminate()
        let second = try GatehouseProcess(["echo", "--listen", "127.0.0.1:\(port)"])
        try client.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = client.readResponse()
        #expect(response?.status == 200)
        #expect(response?.json?["target"] as? String == "/after")
        #expect(second.waitForStdout { $0.contains("GET /after\n") }.contains("GET /after\n"))
    }
}

/// Counts loopback TCP sockets whose remote port is `port`, from /proc/net/tcp.
enum TCPTable {
    static func connections(toPort port: UInt16) -> (established: Int, timeWait: Int) {
        guard let text = readProcFile("/proc/net/tcp") else { return (0, 0) }
        let wanted = String(format: ":%04X", port)
        var established = 0
        var timeWait = 0
        for line in text.split(separator: "\n").dropFirst() {
            let columns = line.split(separator: " ")
            guard columns.count > 3, columns[2].hasSuffix(wanted) else { continue }
            if columns[3] == "01" { established += 1 }
            if columns[3] == "06" { timeWait += 1 }
        }
        return (established, timeWait)
    }
}
