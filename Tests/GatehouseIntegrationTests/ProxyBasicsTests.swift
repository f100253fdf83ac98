import Foundation
import GatehouseTestSupport
import Testing

@Suite("Proxy basics through the real binary")
struct ProxyBasicsTests {
    @Test("a GET reaches the echo upstream with forwarding headers and comes back")
    func simpleGet() throws {
        let gw = try TestGateway(configYAML: TestGateway.simpleConfig())
        let client = try RawClient(port: gw.port)
        try client.send("GET /hello?x=1 HTTP/1.1\r\nHost: app.test\r\nX-Custom: yes\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        let json = try #require(response.json)
        #expect(json["method"] as? String == "GET")
        #expect(json["target"] as? String == "/hello?x=1")
        let headers = response.echoedHeaders
        #expect(headers.map(\.0) == ["Host", "X-Custom",
            "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP"])
        #expect(headers.first { $0.0 == "X-Forwarded-For" }?.1 == "127.0.0.1")
        #expect(headers.first { $0.0 == "Host" }?.1 == "app.test")
    }
}
