import Foundation
import GatehouseTestSupport
import Testing

/// Framing that must work: keep-alive, pipelining, bodies by length and by chunks, 100-continue, HEAD,
/// bodiless statuses, extension methods, and a request fed one byte per write.
@Suite("Framing that must work through the real binary")
struct FramingTests {
    @Test("three sequential requests on one keep-alive connection")
    func keepAliveSequential() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        for index in 1...3 {
            try client.send("GET /seq/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            #expect(response.header("connection") == nil)
            #expect(response.json?["target"] as? String == "/seq/\(index)")
        }
        #expect(try gw.upstreamRequestLines() == ["GET /seq/1", "GET /seq/2", "GET /seq/3"])
    }

    @Test("three pipelined requests in one write are answered in order")
    func pipelined() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /pipe/1 HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "POST /pipe/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
                        + "GET /pipe/3 HTTP/1.1\r\nHost: a\r\n\r\n")
        var targets: [String] = []
        for _ in 1...3 {
            let response = try #require(client.readResponse())
            #expect(response.status == 200)
            targets.append(response.json?["target"] as? String ?? "?")
            if targets.last == "/pipe/2" { #expect(response.json?["body_sha256"] as? String == helloWorldSHA256) }
        }
        #expect(targets == ["/pipe/1", "/pipe/2", "/pipe/3"])
    }

    @Test("a POST with a Content-Length body arrives whole (length and SHA-256)")
    func contentLengthBody() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world"))
        #expect(response.status == 200)
        let json = try #require(response.json)
        #expect(json["method"] as? String == "POST")
        #expect(json["body_length"] as? Int == 11)
        #expect(json["body_sha256"] as? String == helloWorldSHA256)
        #expect(response.echoedHeaders.map(\.0)
                == ["Host", "Content-Type", "Content-Length",
                    "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP"])
        #expect(echoed(response, "Content-Length") == "11")
    }

    @Test("a chunked upload with chunk extensions and trailers arrives whole")
    func chunkedWithExtensionsAndTrailers() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5;ext=1\r\nhello\r\n"
                        + "1;name=\"quoted value\"\r\n \r\n"
                        + "5\r\nworld\r\n"
                        + "0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        let json = try #require(response.json)
        #expect(json["body_length"] as? Int == 11)
        #expect(json["body_sha256"] as? String == helloWorldSHA256)
        #expect(echoed(response, "Transfer-Encoding") == "chunked")
        #expect(echoed(response, "Content-Length") == nil)
        // The connection is still usable afterwards: the trailers were consumed as part of the message.
        try client.send("GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.json?["target"] as? String == "/after")
    }

    @Test("Expect: 100-continue: 100 first, the final answer after the body")
    func expectContinue() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("POST /continue HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
        let interim = try #require(client.readResponse(timeout: 5))
        #expect(interim.status == 100)
        try client.send("hello world")
        let final = try #require(client.readResponse())
        #expect(final.status == 200)
        let json = try #require(final.json)
        #expect(json["body_length"] as? Int == 11)
        #expect(json["body_sha256"] as? String == helloWorldSHA256)
        // Expect is hop-by-hop here: the gateway answered it itself.
        #expect(echoed(final, "Expect") == nil)
    }

    @Test("HEAD: no body, Content-Length kept, the connection stays in sync")
    func head() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("HEAD /page HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse(headRequest: true))
        #expect(response.status == 200)
        let length = try #require(response.header("content-length").flatMap(Int.init))
        #expect(length > 0)
        #expect(response.header("transfer-encoding") == nil)
        // If any body byte had followed the HEAD answer, this response would not parse as the next one.
        try client.send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        let next = try #require(client.readResponse())
        #expect(next.status == 200)
        #expect(next.json?["target"] as? String == "/next")
    }

    @Test("HEAD to an upstream that (wrongly) sends a body anyway: 502, no body, the next answer is intact")
    func headWithUpstreamBody() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        // The echo's stream path ignores HEAD and sends its 100000 bytes regardless, in the same write as the head.
        try client.send("HEAD /__echo/stream/100000 HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse(headRequest: true))
        #expect(response.status == 502)
        try client.send("GET /after-head HTTP/1.1\r\nHost: a\r\n\r\n")
        let next = try #require(client.readResponse())
        #expect(next.status == 200)
        #expect(next.json?["target"] as? String == "/after-head")
    }

    @Test("500 pipelined requests in one write (more than a head's worth of bytes) are all answered, in order")
    func manyPipelined() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        let count = 500
        try client.send((0..<count).map { "GET /many/\($0) HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n" }.joined())
        var answered = 0
        for index in 0..<count {
            guard let response = client.readResponse(timeout: 10) else { break }
            guard response.json?["target"] as? String == "/many/\(index)" else {
                Issue.record("answer \(index) was for \(response.json?["target"] ?? "?")")
                break
            }
            answered += 1
        }
        #expect(answered == count)
    }

    @Test("204 with a body from the upstream: 502, no body reaches the client, the connection stays in sync")
    func status204() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        // The echo sends its JSON body even with 204 (and 304): a body where none may be is refused.
        try client.send("GET /__echo/status/204 HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 502)
        #expect(!response.bodyText.contains("target"))
        #expect(response.header("transfer-encoding") == nil)
        try client.send("GET /after-204 HTTP/1.1\r\nHost: a\r\n\r\n")
        let next = try #require(client.readResponse())
        #expect(next.status == 200)
        #expect(next.json?["target"] as? String == "/after-204")
    }

    @Test("304 with a body from the upstream: 502, no body reaches the client, the connection stays in sync")
    func status304() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /__echo/status/304 HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 502)
        #expect(!response.bodyText.contains("target"))
        #expect(response.header("transfer-encoding") == nil)
        try client.send("GET /after-304 HTTP/1.1\r\nHost: a\r\n\r\n")
        let next = try #require(client.readResponse())
        #expect(next.status == 200)
        #expect(next.json?["target"] as? String == "/after-304")
    }

    @Test("a WebDAV method (PROPFIND) with a body is forwarded as is")
    func webDAVMethod() throws {
        let gw = try TestGateway.simple()
        let response = try #require(try gw.exchange(
            "PROPFIND /dav/folder/ HTTP/1.1\r\nHost: a\r\nDepth: 1\r\nContent-Length: 11\r\n\r\nhello world"))
        #expect(response.status == 200)
        let json = try #require(response.json)
        #expect(json["method"] as? String == "PROPFIND")
        #expect(json["target"] as? String == "/dav/folder/")
        #expect(json["body_sha256"] as? String == helloWorldSHA256)
        #expect(echoed(response, "Depth") == "1")
    }

    @Test("a whole request fed one byte per write (head, chunked body, trailers)")
    func dripFed() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.dripFeed("POST /drip?q=1 HTTP/1.1\r\nHost: a\r\nX-Drip: yes\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + "6;e=v\r\nhello \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n"
                            + "GET /drip-2 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        let first = try #require(client.readResponse())
        #expect(first.status == 200)
        #expect(first.json?["target"] as? String == "/drip?q=1")
        #expect(first.json?["body_sha256"] as? String == helloWorldSHA256)
        #expect(echoed(first, "X-Drip") == "yes")
        let second = try #require(client.readResponse())
        #expect(second.json?["target"] as? String == "/drip-2")
    }

    @Test("an HTTP/1.0 request is answered and then the connection is closed")
    func http10() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /old HTTP/1.0\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.json?["target"] as? String == "/old")
        #expect(client.waitForClose(timeout: 5))
    }

    @Test("Connection: close on a request: answered, then closed")
    func connectionClose() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 200)
        #expect(response.header("connection")?.lowercased() == "close")
        #expect(client.waitForClose(timeout: 5))
    }

    @Test("a request pipelined after Connection: close is never read, answered or forwarded")
    func nothingAfterConnectionClose() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.json?["target"] as? String == "/last")
        #expect(client.readUntilClose(timeout: 5).isEmpty)
        #expect(try gw.upstreamRequestLines() == ["GET /last"])
    }
}
