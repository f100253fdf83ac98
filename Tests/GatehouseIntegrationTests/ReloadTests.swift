import Foundation
import GatehouseTestSupport
import Testing

@Suite("SIGHUP reload of the real binary")
struct ReloadTests {
    /// Waits until `condition` holds or `seconds` pass.
    func eventually(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    @Test("a reload adds a route while a keep-alive connection stays open, and applies new limits to its next request")
    func reloadKeepsConnections() throws {
        let gw = try TestGateway(configYAML: TestGateway.simpleConfig(
            routes: "  - name: old\n    match: { path_prefix: /old }\n    upstream: app\n    auth: none"))
        let client = try RawClient(port: gw.port)
        try client.send("GET /new HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.status == 404)

        try gw.rewriteConfig(TestGateway.simpleConfig(
            server: "  limits: { max_request_head: 1KiB, max_request_line: 512 }",
            routes: "  - name: old\n    match: { path_prefix: /old }\n    upstream: app\n    auth: none\n"
                + "  - name: new\n    match: { path_prefix: /new }\n    upstream: app\n    auth: none"))
        gw.gateway.signal(SIGHUP)
        #expect(eventually { gw.gateway.stderr.contains("reloaded") })

        // The same connection: the new route answers, and the new head limit applies.
        try client.send("GET /new HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        let big = String(repeating: "x", count: 2000)
        try client.send("GET /new HTTP/1.1\r\nHost: a\r\nX-Big: \(big)\r\n\r\n")
        #expect(client.readResponse()?.status == 431)
    }

    @Test("a broken config on SIGHUP is refused with file:line, and the old config keeps serving")
    func brokenReloadKeepsOldConfig() throws {
        let gw = try TestGateway(configYAML: TestGateway.simpleConfig())
        try gw.rewriteConfig("server:\n  listn: [1]\n")
        gw.gateway.signal(SIGHUP)
        #expect(eventually { gw.gateway.stderr.contains("reload refused") })
        #expect(gw.gateway.stderr.contains("gatehouse.yaml:2: server.listn: unknown key"))
        let client = try RawClient(port: gw.port)
        try client.send("GET /still HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
    }
}
