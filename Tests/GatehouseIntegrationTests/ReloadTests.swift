import Foundation
import GatehouseTestSupport
import Testing

@Suite("SIGHUP reload of the real binary")
struct ReloadTests {
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

    @Test("listeners added or removed by a reload are opened or closed; open connections on a removed one go on")
    func reloadChangesListeners() throws {
        let gw = try TestGateway(configYAML: TestGateway.simpleConfig())
        let first = gw.port
        let (probe, second) = try LoopbackSocket.bind(listening: nil, name: "second listener")
        close(probe)
        let kept = try RawClient(port: first)
        try kept.send("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(kept.readResponse()?.status == 200)

        // Add a second listener.
        let both = TestGateway.simpleConfig().replacingOccurrences(
            of: "listen: [\"127.0.0.1:0\"]", with: "listen: [\"127.0.0.1:\(first)\", \"127.0.0.1:\(second)\"]")
        try gw.rewriteConfig(both)
        gw.gateway.signal(SIGHUP)
        #expect(eventually { gw.gateway.stderr.contains("listening on 127.0.0.1:\(second)") })
        #expect(eventually {
            guard let c = try? RawClient(port: second), (try? c.send("GET /b HTTP/1.1\r\nHost: a\r\n\r\n")) != nil
            else { return false }
            return c.readResponse()?.status == 200
        })

        // Remove the first: new connections are refused, the open one keeps being served.
        let onlySecond = TestGateway.simpleConfig().replacingOccurrences(
            of: "listen: [\"127.0.0.1:0\"]", with: "listen: [\"127.0.0.1:\(second)\"]")
        try gw.rewriteConfig(onlySecond)
        gw.gateway.signal(SIGHUP)
        #expect(eventually { gw.gateway.stderr.contains("stopped listening on 127.0.0.1:\(first)") })
        #expect(eventually { (try? RawClient(port: first)) == nil }, "the removed listener still accepts")
        try kept.send("GET /c HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(kept.readResponse()?.status == 200)

        // An added listener without a port, or on a port in use, refuses the whole reload.
        let (busy, busyPort) = try LoopbackSocket.bind(listening: 4, name: "busy")
        defer { close(busy) }
        try gw.rewriteConfig(TestGateway.simpleConfig(routes: "  - name: x\n    match: { path_prefix: / }\n    upstream: app\n    auth: none")
            .replacingOccurrences(of: "listen: [\"127.0.0.1:0\"]",
                                  with: "listen: [\"127.0.0.1:\(second)\", \"127.0.0.1:\(busyPort)\"]"))
        gw.gateway.signal(SIGHUP)
        #expect(eventually { gw.gateway.stderr.contains("cannot listen on 127.0.0.1:\(busyPort)") })
        #expect(gw.gateway.stderr.contains("reload refused"))
    }
}
