import Foundation
import GatehouseTestSupport
import Testing

/// Client-side deadlines: a head that never completes (slowloris), an idle keep-alive connection, a
/// stalled body.
@Suite("Client timeouts through the real binary")
struct TimeoutTests {
    @Test("header_timeout 1s: half a head then silence gets 408 and a close")
    func headerTimeout() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    header_timeout: 1s")
        let client = try RawClient(port: gw.port)
        let start = Date()
        try client.send("GET /slow HTTP/1.1\r\nHost: a\r\nX-Half: ")
        let response = try #require(client.readResponse(timeout: 6))
        let took = elapsed(since: start)
        #expect(response.status == 408)
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(took >= 0.9 && took < 4, "408 after \(took) s")
        #expect(client.waitForClose(timeout: 5))
        #expect(try gw.upstreamRequestLines() == [])
    }

    @Test("header_timeout is a total deadline: a byte every 300 ms does not keep the head alive")
    func headerTimeoutIsTotal() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    header_timeout: 1s")
        let client = try RawClient(port: gw.port)
        let start = Date()
        try client.send("GET /drip HTTP/1.1\r\nHost: a\r\n")
        var refused = false
        for _ in 0..<15 where !refused {
            usleep(300_000)
            do { try client.send("X") } catch { refused = true }
            if elapsed(since: start) > 2 { break }
        }
        let rest = String(decoding: client.readUntilClose(timeout: 4), as: UTF8.self)
        #expect(rest.hasPrefix("HTTP/1.1 408"), "got: \(rest.prefix(40))")
        #expect(elapsed(since: start) < 5)
    }

    @Test("idle_timeout 1s: an idle keep-alive connection is closed without a response")
    func idleTimeout() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    idle_timeout: 1s")
        let client = try RawClient(port: gw.port)
        try client.send("GET /once HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        let start = Date()
        let leftover = client.readUntilClose(timeout: 5)
        let took = elapsed(since: start)
        #expect(leftover.isEmpty, "unexpected bytes: \(String(decoding: leftover, as: UTF8.self))")
        #expect(took >= 0.8 && took < 4, "closed after \(took) s")
    }

    @Test("idle_timeout 1s: a connection that never sends anything is closed without a response")
    func idleTimeoutBeforeFirstRequest() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    idle_timeout: 1s")
        let client = try RawClient(port: gw.port)
        let start = Date()
        #expect(client.readUntilClose(timeout: 5).isEmpty)
        let took = elapsed(since: start)
        #expect(took >= 0.8 && took < 4, "closed after \(took) s")
    }

    /// The second case is the one the defaults used to get wrong: the upstream's response_timeout ran out first
    /// (504), though the upstream was only waiting for the body the client did not send.
    @Test("body_timeout: a body that stops arriving gets 408 and a close, even under a shorter response_timeout",
          arguments: [("1s", "", 1.0), ("2s", "    response_timeout: 1s", 2.0)])
    func bodyTimeout(bodyTimeout: String, upstream: String, seconds: Double) throws {
        let gw = try TestGateway.simple(server: "  limits:\n    body_timeout: \(bodyTimeout)", upstream: upstream)
        let client = try RawClient(port: gw.port)
        let start = Date()
        try client.send("POST /stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a little")
        let response = try #require(client.readResponse(timeout: 6))
        let took = elapsed(since: start)
        #expect(response.status == 408)
        #expect(took >= seconds - 0.1 && took < seconds + 3, "408 after \(took) s")
        #expect(client.waitForClose(timeout: 5))
    }

    @Test("an upload slower than response_timeout but steady is not cut off: the response timeout starts after the body")
    func slowUploadOutlivesResponseTimeout() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    body_timeout: 2s", upstream: "    response_timeout: 1s")
        let client = try RawClient(port: gw.port)
        try client.send("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n")
        for byte in "abcdefgh" {  // 2.4 s in all
            usleep(300_000)
            try client.send(String(byte))
        }
        let response = try #require(client.readResponse(timeout: 6))
        #expect(response.status == 200)
        #expect(response.json?["body_length"] as? Int == 8)
    }
}
