import Foundation
import GatehouseTestSupport
import Testing

/// Hostile or broken responses from the upstream (a scripted server that sends raw bytes): the gateway must
/// never pass on an ambiguous response, never let a truncated one look complete, and never hand bytes left
/// over from one response to another request.
@Suite("Upstream responses the gateway must not trust")
struct UpstreamResponseTests {
    /// A gateway (one worker) whose only route goes to `upstream`.
    static func gateway(_ upstream: ScriptedUpstream, upstreamKeys: String = "") throws -> TestGateway {
        try TestGateway(configYAML: UpstreamTests.config(servers: [upstream.address], upstreamKeys: upstreamKeys))
    }

    static let get = "GET /r HTTP/1.1\r\nHost: a\r\n\r\n"

    @Test("a response with both Content-Length and Transfer-Encoding: 502")
    func responseContentLengthAndTransferEncoding() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                + "5\r\nhello\r\n0\r\n\r\n")
        let gw = try Self.gateway(upstream)
        let response = try #require(try gw.exchange(Self.get))
        #expect(response.status == 502)
        #expect(!response.bodyText.contains("hello"))
    }

    @Test("a response with two differing Content-Length values: 502")
    func responseConflictingContentLength() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!")
        let gw = try Self.gateway(upstream)
        #expect(try gw.exchange(Self.get)?.status == 502)
    }

    @Test("a response head with obs-fold, a NUL, or a bare LF: 502")
    func responseBadHeaderLines() throws {
        for bad in ["X-A: 1\r\n folded", "X-A: a\u{0}b", "X-A: 1\nX-B: 2"] {
            let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\n\(bad)\r\nContent-Length: 2\r\n\r\nhi")
            let gw = try Self.gateway(upstream)
            let response = try gw.exchange(Self.get)
            #expect(response?.status == 502, "for \(bad.debugDescription): \(response.map { "\($0.status)" } ?? "none")")
        }
    }

    @Test("a malformed status line: 502")
    func responseBadStatusLine() throws {
        for bad in ["HTTP/1.1 2OO OK", "HTTP/1.1 20 OK", "HTTP/9.9 200 OK", "ICY 200 OK"] {
            let upstream = try ScriptedUpstream(answer: "\(bad)\r\nContent-Length: 2\r\n\r\nhi")
            let gw = try Self.gateway(upstream)
            #expect(try gw.exchange(Self.get)?.status == 502, "for \(bad)")
        }
    }

    @Test("101 Switching Protocols to a request that did not ask to upgrade: 502, no tunnel")
    func unsolicitedSwitchingProtocols() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        let gw = try Self.gateway(upstream)
        let response = try #require(try gw.exchange(Self.get))
        #expect(response.status == 502)
    }

    @Test("a bad chunk size in the response body after the head went out: the client connection is cut")
    func responseBadChunkAfterHead() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n")
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send(Self.get)
        // Once the head is on its way, the only honest signal left is to close without the last chunk. (The
        // gateway may drop what it had not flushed yet: nothing at all is fine too, a complete body is not.)
        #expect(client.readResponse(timeout: 5) == nil)
        let received = String(decoding: client.readUntilClose(timeout: 5), as: UTF8.self)
        #expect(received.isEmpty || received.hasPrefix("HTTP/1.1 200"), "received: \(received)")
        #expect(!received.contains("more"), "the client saw data after the bad chunk line: \(received)")
        #expect(!received.hasSuffix("0\r\n\r\n"), "the client saw a complete chunked body: \(received)")
        #expect(client.waitForClose(timeout: 0.5))
    }

    @Test("an upstream that closes in the middle of a chunked body: the client never sees the last chunk")
    func responseTruncatedChunked() throws {
        let upstream = try ScriptedUpstream([.send(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".utf8)),
                                             .pause(50), .close])
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send(Self.get)
        #expect(client.readResponse(timeout: 5) == nil)
        let received = String(decoding: client.readUntilClose(timeout: 5), as: UTF8.self)
        #expect(received.hasPrefix("HTTP/1.1 200"))
        #expect(!received.contains("0\r\n\r\n"))
    }

    @Test("an upstream that closes before answering: 502")
    func upstreamClosesWithoutAnswer() throws {
        let upstream = try ScriptedUpstream([.close])
        let gw = try Self.gateway(upstream)
        #expect(try gw.exchange(Self.get)?.status == 502)
    }

    @Test("bytes after a complete response (in the same segment) never answer the next request")
    func trailingBytesSameSegment() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
                                                + "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned")
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        for index in 0..<3 {
            try client.send("GET /r/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = client.readResponse()
            #expect(response?.bodyText == "hi", "request \(index) got \(response?.bodyText ?? "no answer")")
        }
        // And from another client connection too (the pool is per worker, not per client).
        #expect(try gw.exchange(Self.get)?.bodyText == "hi")
    }

    @Test("bytes arriving on an idle pooled connection never answer the next request")
    func trailingBytesWhileIdle() throws {
        let upstream = try ScriptedUpstream([.send(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".utf8)), .pause(100),
                                             .send(Array("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned".utf8))])
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /r/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse()?.bodyText == "hi")
        usleep(300_000)  // the unsolicited response has reached the idle pooled connection
        try client.send("GET /r/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        let second = client.readResponse()
        #expect(second?.bodyText == "hi", "second request got \(second?.bodyText ?? "no answer")")
        #expect(upstream.connectionCount == 2, "the poisoned connection was reused")
    }

    @Test("a response head larger than the gateway accepts: 502")
    func responseHeadTooLarge() throws {
        let big = String(repeating: "v", count: 70_000)
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nX-Big: \(big)\r\nContent-Length: 2\r\n\r\nhi")
        let gw = try Self.gateway(upstream)
        #expect(try gw.exchange(Self.get)?.status == 502)
    }

    @Test("hop-by-hop fields of the response are removed, end-to-end ones kept in order")
    func responseHopByHop() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nConnection: x-secret, keep-alive\r\nKeep-Alive: timeout=5\r\n"
                                                + "X-Secret: internal\r\nSet-Cookie: a=1\r\nProxy-Authenticate: Basic\r\n"
                                                + "Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\nhi")
        let gw = try Self.gateway(upstream)
        let response = try #require(try gw.exchange(Self.get))
        #expect(response.status == 200)
        #expect(response.headers.map { "\($0.name): \($0.value)" } == ["Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Length: 2"])
        #expect(response.bodyText == "hi")
    }
}
