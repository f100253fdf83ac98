import Foundation
import GatehouseTestSupport
import Testing

/// `Connection: Upgrade` + `Upgrade: websocket`: the 101 comes back, then the connection is a byte tunnel.
@Suite("WebSocket upgrade through the real binary")
struct UpgradeTests {
    @Test("101 Switching Protocols, then bytes are echoed back through the tunnel")
    func websocketTunnel() throws {
        let gw = try TestGateway.simple()
        let client = try BulkClient(port: gw.port)
        try client.send("GET /__echo/upgrade HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let head = try client.readHead(timeout: 5)
        #expect(head.status == 101)
        #expect(head.headers.first { $0.name.lowercased() == "upgrade" }?.value.lowercased() == "websocket")
        #expect(head.headers.first { $0.name.lowercased() == "connection" }?.value.lowercased() == "upgrade")
        // Not HTTP any more: arbitrary bytes (here something that looks like a request, and binary) go through.
        let first = Array("GET /not-parsed HTTP/1.1\r\n\r\n".utf8)
        try client.send(first)
        #expect(try client.readBody(length: first.count, timeout: 5) == first)
        let binary: [UInt8] = (0..<4096).map { UInt8($0 % 256) }
        try client.send(binary)
        #expect(try client.readBody(length: binary.count, timeout: 5) == binary)
        #expect(try gw.upstreamRequestLines() == ["GET /__echo/upgrade"])
    }

    @Test("the Upgrade request reaches the upstream with Connection: upgrade and Upgrade re-added")
    func upgradeHeadersForwarded() throws {
        let gw = try TestGateway.simple()
        let client = try BulkClient(port: gw.port)
        // A plain echo path answers 200 with the JSON report even to an upgrade request, so the gateway must
        // then treat the connection as ordinary HTTP again.
        try client.send("GET /ws-report HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let head = try client.readHead(timeout: 5)
        #expect(head.status == 200)
        let length = try #require(head.headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) })
        let body = try client.readBody(length: length)
        let json = try #require((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])
        let headers = (json["headers"] as? [[String]]) ?? []
        #expect(headers == [
            ["Host", "a"], ["X-Forwarded-For", "127.0.0.1"], ["X-Forwarded-Proto", "http"], ["X-Forwarded-Host", "a"],
            ["X-Real-IP", "127.0.0.1"],
            ["Connection", "upgrade"], ["Upgrade", "websocket"],
        ])
    }

    @Test("Upgrade without Connection: upgrade is not an upgrade: the field is dropped, no tunnel opens")
    func upgradeWithoutConnectionToken() throws {
        let gw = try TestGateway.simple()
        // The echo only switches protocols when asked (426 otherwise): the gateway must not have asked.
        let response = try #require(try gw.exchange("GET /__echo/upgrade HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"))
        #expect(response.status == 426)
        #expect(echoed(response, "Upgrade") == nil)
    }

    static let h2cUpgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"

    @Test("Upgrade: h2c is never offered upstream: no Upgrade, no HTTP2-Settings, the request goes on as HTTP/1.1",
          arguments: [h2cUpgrade, "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
                      "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\n", "Connection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n"])
    func h2cNeverForwarded(fields: String) throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange("GET /h2c HTTP/1.1\r\nHost: a\r\n\(fields)\r\n"))
        #expect(response.status == 200)
        #expect(echoed(response, "Upgrade") == nil)
        #expect(echoed(response, "HTTP2-Settings") == nil)
        #expect(echoed(response, "Connection") == nil)
    }

    @Test("an upstream that would switch to h2c anyway gets no tunnel: its 101 is answered 502")
    func h2cSwitchRefused() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        let gw = try UpstreamResponseTests.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /private HTTP/1.1\r\nHost: a\r\n\(Self.h2cUpgrade)\r\n")
        #expect(client.readResponse(timeout: 5)?.status == 502)
    }

    @Test("a WebSocket request the upstream switches to another protocol: 502, no tunnel")
    func switchToOtherProtocolRefused() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        let gw = try UpstreamResponseTests.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(client.readResponse(timeout: 5)?.status == 502)
    }

    @Test("tunnel_idle_timeout 1s: traffic either way keeps a tunnel open, a second of silence closes it")
    func tunnelIdleTimeout() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    tunnel_idle_timeout: 1s")
        let client = try RawClient(port: gw.port)
        try client.send("GET /__echo/upgrade HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(client.readResponse(timeout: 5)?.status == 101)
        for index in 0..<5 {  // 2.5 s of traffic, longer than the timeout
            usleep(500_000)
            try client.send("ping-\(index);")
            #expect(client.waitFor("ping-\(index);", timeout: 5), "message \(index) was not echoed")
        }
        let start = Date()
        #expect(client.waitForClose(timeout: 5))
        let took = elapsed(since: start)
        #expect(took >= 0.8 && took < 3, "closed after \(took) s of silence")
    }
}
