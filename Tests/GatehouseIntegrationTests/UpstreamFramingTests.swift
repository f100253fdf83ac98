import Foundation
import GatehouseTestSupport
import Testing

/// How an upstream's response body is framed toward the client: a chunked (or close-delimited) upstream body
/// reaches an HTTP/1.1 client as valid chunked framing, built by the gateway itself, and an HTTP/1.0 client as
/// a body delimited by the close; upstream bytes never become framing; malformed responses are refused, said
/// so in the log, and their connection is never reused. The upstream is a scripted server sending exact bytes.
@Suite("Upstream response framing toward the client")
struct UpstreamFramingTests {
    /// A gateway (one worker, access log on stdout) whose only route goes to `upstream`.
    static func gateway(_ upstream: ScriptedUpstream) throws -> TestGateway {
        try TestGateway(configYAML: UpstreamTests.config(servers: [upstream.address])
            .replacingOccurrences(of: "path: off", with: "path: stdout"))
    }

    static let chunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"

    /// `pieces` as chunked body framing, with `trailers` (field lines, each ending in CRLF) after the last chunk.
    static func chunked(_ pieces: [[UInt8]], trailers: String = "") -> [UInt8] {
        var out: [UInt8] = []
        for piece in pieces {
            out += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
        }
        return out + Array("0\r\n\(trailers)\r\n".utf8)
    }

    static func chunked(_ pieces: [String], trailers: String = "") -> String {
        String(decoding: chunked(pieces.map { Array($0.utf8) }, trailers: trailers), as: UTF8.self)
    }

    /// The access-log lines of the gateway once `count` of them were written.
    static func logLines(_ gw: TestGateway, count: Int) -> [String] {
        gw.gateway.waitForStdout { $0.split(separator: "\n").filter { $0.contains("\"status\"") }.count >= count }
            .split(separator: "\n").map(String.init).filter { $0.contains("\"status\"") }
    }

    /// Splits a raw response into its head text and the bytes after the head.
    static func split(_ raw: [UInt8]) -> (head: String, body: [UInt8])? {
        guard let end = RawResponse.find([13, 10, 13, 10], in: raw, from: 0) else { return nil }
        return (String(decoding: raw[..<end], as: UTF8.self), Array(raw[(end + 4)...]))
    }

    // MARK: Chunked upstream, HTTP/1.1 client

    @Test("a chunked response reaches an HTTP/1.1 client as valid chunked framing, and the connection goes on")
    func chunkedTiny() throws {
        let upstream = try ScriptedUpstream(answer: Self.chunkedHead + Self.chunked(["hel", "lo"]))
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        for index in 0..<2 {
            try client.send("GET /tiny/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse(timeout: 5), "request \(index): no valid response")
            #expect(response.status == 200)
            #expect(response.bodyText == "hello")
            #expect(response.header("Transfer-Encoding") == "chunked")
            #expect(response.header("Content-Length") == nil)
        }
    }

    @Test("64 KiB in one chunk and 5 MiB in chunks of every size arrive whole and correctly framed",
          arguments: [1, 65_536, 5 << 20])
    func chunkedSizes(size: Int) throws {
        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var pieces: [[UInt8]] = []
        var offset = 0
        var step = size <= 65_536 ? size : 1
        while offset < size {
            let take = min(step, size - offset)
            pieces.append(Array(payload[offset..<(offset + take)]))
            offset += take
            step = step * 7 + 3  // 1, 10, 73, ... up to MiB-sized chunks
        }
        let upstream = try ScriptedUpstream([.send(Array(Self.chunkedHead.utf8) + Self.chunked(pieces))])
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse(timeout: 20), "no valid response for \(size) bytes")
        #expect(response.body.count == size)
        #expect(response.body == payload)
    }

    @Test("a 256 MiB chunked download the client does not read is paused, not buffered; then it flows to the end")
    func chunkedSlowReaderBackpressure() throws {
        let chunk = Array("10000\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "c"), count: 65_536) + [13, 10]
        let upstream = try ScriptedUpstream([.send(Array(Self.chunkedHead.utf8)), .sendRepeated(chunk, count: 4096),
                                             .send(Array("0\r\n\r\n".utf8))])
        let gw = try Self.gateway(upstream)
        let client = try BulkClient(port: gw.port)
        try client.send("GET /huge HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(try client.readHead().status == 200)
        usleep(1_500_000)  // the upstream keeps sending; the gateway must stop reading it
        let stalledKiB = gw.gateway.residentKiB ?? 0
        #expect(stalledKiB < 64 * 1024, "gateway RSS with a stalled reader: \(stalledKiB) KiB")
        // The client framing (the payload plus the gateway's chunk lines), read until the gateway closes.
        let received = client.drainBody(length: .max)
        #expect(received > 256 << 20 && received < (256 << 20) + (4 << 20), "received \(received) bytes")
        print("256 MiB chunked download: stalled gateway RSS \(stalledKiB) KiB, chunk framing \(received - (256 << 20)) bytes")
    }

    @Test("chunk data that looks like the last chunk and a second response stays body bytes")
    func chunkDataIsNeverFraming() throws {
        let forged = "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned"
        let upstream = try ScriptedUpstream(answer: Self.chunkedHead + Self.chunked([forged]))
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        for index in 0..<2 {
            try client.send("GET /forged/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse(timeout: 5), "request \(index): no valid response")
            #expect(response.bodyText == forged, "request \(index) got body \(response.bodyText.debugDescription)")
        }
    }

    @Test("trailers are forwarded to a chunked client without hop-by-hop fields; Trailer announces them")
    func trailersForwarded() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                + Self.chunked(["hello"], trailers: "X-Checksum: abc\r\nKeep-Alive: timeout=5\r\n"))
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /trailers HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        let raw = client.readUntilClose(timeout: 5)
        let (head, body) = try #require(Self.split(raw))
        #expect(head.contains("\r\nTrailer: X-Checksum"))
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.hasSuffix("\r\n0\r\nX-Checksum: abc\r\n\r\n"), "body framing: \(text.debugDescription)")
        #expect(!text.contains("Keep-Alive"))
    }

    @Test("a framing field in the upstream's trailers is dropped: the client gets the whole answer, never a cut one")
    func forbiddenTrailerFieldDropped() throws {
        let upstream = try ScriptedUpstream(answer: Self.chunkedHead
                                                + Self.chunked(["hello"], trailers: "Content-Length: 99\r\nX-Sum: 1\r\n"))
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /trailers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        let raw = client.readUntilClose(timeout: 5)
        let (_, body) = try #require(Self.split(raw))
        #expect(String(decoding: body, as: UTF8.self) == "5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n")
    }

    @Test("Server-Sent Events from a chunked upstream reach the client one by one, before the upstream sends more")
    func eventsStreamedAsTheyArrive() throws {
        let next = DispatchSemaphore(value: 0)
        let last = DispatchSemaphore(value: 0)
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        let upstream = try ScriptedUpstream([
            .send(Array((head + "f\r\ndata: event-1\n\n\r\n").utf8)), .wait(next),
            .send(Array("f\r\ndata: event-2\n\n\r\n".utf8)), .wait(last),
            .send(Array("0\r\n\r\n".utf8)),
        ])
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /events HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n")
        // The upstream waits for the test after each event: the gateway must not wait for more data.
        #expect(client.waitFor("f\r\ndata: event-1\n\n\r\n", timeout: 5), "the first event did not arrive on its own")
        next.signal()
        #expect(client.waitFor("f\r\ndata: event-2\n\n\r\n", timeout: 5), "the second event did not arrive on its own")
        last.signal()
        let response = try #require(client.readResponse(timeout: 5))
        #expect(response.bodyText == "data: event-1\n\ndata: event-2\n\n")
    }

    @Test("a close-delimited upstream body reaches an HTTP/1.1 client chunked")
    func untilCloseRechunked() throws {
        let upstream = try ScriptedUpstream([.send(Array("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close".utf8)), .close])
        let gw = try Self.gateway(upstream)
        let response = try #require(try gw.exchange("GET /close HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 5))
        #expect(response.header("Transfer-Encoding") == "chunked")
        #expect(response.bodyText == "until close")
    }

    // MARK: HTTP/1.0 clients

    @Test("an HTTP/1.0 client gets a chunked upstream body delimited by the close, never Transfer-Encoding",
          arguments: ["", "Connection: keep-alive\r\n"])
    func http10ClientCloseDelimited(connection: String) throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                + Self.chunked(["hel", "lo"], trailers: "X-Checksum: abc\r\n"))
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /old HTTP/1.0\r\nHost: a\r\n\(connection)\r\n")
        let raw = client.readUntilClose(timeout: 5)
        let (head, body) = try #require(Self.split(raw), "no response head")
        #expect(head.hasPrefix("HTTP/1.1 200 "))
        #expect(!head.lowercased().contains("transfer-encoding"), "head: \(head)")
        #expect(!head.lowercased().contains("trailer"), "head: \(head)")
        #expect(!head.lowercased().contains("content-length"), "head: \(head)")
        #expect(head.contains("\r\nConnection: close"), "head: \(head)")
        #expect(String(decoding: body, as: UTF8.self) == "hello")
    }

    // MARK: Third-party client

    static let curl = "/usr/bin/curl"

    @Test("curl reads a chunked response through the gateway (plain, --raw, and as HTTP/1.0)")
    func curlReadsChunked() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.curl) else {
            throw TestFailure("curl is missing: scripts/install-deps.sh installs it")
        }
        let body = String(repeating: "0123456789abcdef", count: 5000)  // 80,000 bytes
        let upstream = try ScriptedUpstream(answer: Self.chunkedHead + Self.chunked(["first ", body, " last"]))
        let gw = try Self.gateway(upstream)
        let url = "http://127.0.0.1:\(gw.port)/curl"
        let plain = try runTool(Self.curl, ["-sS", "--max-time", "10", url])
        #expect(plain.status == 0, "curl failed with exit status \(plain.status)")
        #expect(plain.output == "first " + body + " last")
        let raw = try runTool(Self.curl, ["-sS", "--raw", "--max-time", "10", url])
        #expect(raw.status == 0)
        #expect(raw.output.hasPrefix("6\r\nfirst \r\n") || raw.output.range(of: "^[0-9a-f]+\r\nfirst ", options: .regularExpression) != nil,
                "raw: \(raw.output.prefix(40).debugDescription)")
        #expect(raw.output.hasSuffix(" last\r\n0\r\n\r\n"))
        let old = try runTool(Self.curl, ["-sS", "--http1.0", "--raw", "--max-time", "10", url])
        #expect(old.status == 0)
        #expect(old.output == "first " + body + " last")
    }

    // MARK: Malformed responses

    @Test("a bad chunk size right after the head: 502 (the client had no status line yet), reason logged")
    func badChunkSizeBeforeHeadSent() throws {
        let upstream = try ScriptedUpstream(answer: Self.chunkedHead + "zz\r\nhello\r\n0\r\n\r\n")
        let gw = try Self.gateway(upstream)
        let response = try #require(try gw.exchange("GET /bad HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 5))
        #expect(response.status == 502)
        let line = try #require(Self.logLines(gw, count: 1).first)
        #expect(line.contains("\"status\":502") && line.contains("invalid-chunk-size"), "log: \(line)")
    }

    @Test("two differing Content-Length values: 502 with the reason in the log")
    func conflictingLengthsLogged() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        let gw = try Self.gateway(upstream)
        #expect(try gw.exchange("GET /cl HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 5)?.status == 502)
        let line = try #require(Self.logLines(gw, count: 1).first)
        #expect(line.contains("\"status\":502") && line.contains("conflicting-content-length"), "log: \(line)")
    }

    @Test("a body after a 204, a 304 or a HEAD answer: 502, reason logged, the connection never reused",
          arguments: [("GET", "HTTP/1.1 204 No Content\r\n\r\n"),
                      ("GET", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
                      ("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n")])
    func bodyOnBodilessResponse(method: String, head: String) throws {
        let upstream = try ScriptedUpstream(answer: head + "smuggle")
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        for index in 0..<2 {
            try client.send("\(method) /bodiless/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse(timeout: 5, headRequest: method == "HEAD"), "request \(index)")
            #expect(response.status == 502, "request \(index) got \(response.status)")
        }
        let lines = Self.logLines(gw, count: 2)
        #expect(lines.allSatisfy { $0.contains("\"status\":502") && $0.contains("upstream-body-on-bodiless-response") },
                "log: \(lines)")
        #expect(upstream.connectionCount == 2, "a connection with stray bytes was reused")
    }

    @Test("a well-formed 204 and HEAD answer pass, and their connection is reused")
    func bodilessReused() throws {
        let upstream = try ScriptedUpstream(answer: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        for index in 0..<3 {
            try client.send("\(index == 1 ? "HEAD" : "GET") /fine/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(client.readResponse(timeout: 5, headRequest: index == 1)?.status == 204, "request \(index)")
        }
        #expect(upstream.connectionCount == 1)
    }

    @Test("a 204 that declares a body (its bytes arrive later) is answered, and its connection is not reused")
    func declaredBodyOn204NotReused() throws {
        let upstream = try ScriptedUpstream([.send(Array("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n".utf8)),
                                             .pause(1000), .send(Array("hello".utf8))])
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        for index in 0..<2 {
            try client.send("GET /late/\(index) HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try #require(client.readResponse(timeout: 5), "request \(index)")
            #expect(response.status == 204, "request \(index) got \(response.status)")
        }
        #expect(upstream.connectionCount == 2, "the 204 connection was reused while its body was still coming")
    }

    @Test("a bad chunk after the head went out: the client connection is closed and the log names the fault, not 200")
    func badChunkAfterHeadLogged() throws {
        let upstream = try ScriptedUpstream([.send(Array((Self.chunkedHead + "5\r\nhello\r\n").utf8)), .pause(200),
                                             .send(Array("zz\r\nmore\r\n0\r\n\r\n".utf8))])
        let gw = try Self.gateway(upstream)
        let client = try RawClient(port: gw.port)
        try client.send("GET /cut HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(client.readResponse(timeout: 5) == nil)
        let received = String(decoding: client.readUntilClose(timeout: 5), as: UTF8.self)
        #expect(received.hasPrefix("HTTP/1.1 200"))
        #expect(!received.contains("more"))
        let line = try #require(Self.logLines(gw, count: 1).first)
        #expect(!line.contains("\"status\":200"), "log: \(line)")
        #expect(line.contains("invalid-chunk-size"), "log: \(line)")
    }
}
