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
}
