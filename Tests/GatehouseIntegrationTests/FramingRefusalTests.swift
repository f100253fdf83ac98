import Foundation
import GatehouseTestSupport
import Testing

/// SECURITY.md "HTTP/1.1 framing": every ambiguous or malformed request is refused with its status, the
/// connection is closed, and the upstream receives nothing of it (nor of anything sent after it).
@Suite("Framing refusals, sent raw through the real binary")
struct FramingRefusalTests {
    // MARK: One framing per message

    @Test("Content-Length then Transfer-Encoding: 400, closed, nothing forwarded")
    func contentLengthThenTransferEncoding() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("Transfer-Encoding then Content-Length: 400, closed, nothing forwarded")
    func transferEncodingThenContentLength() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /te-cl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                              + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("the classic CL.TE smuggling payload: 400, and the upstream never sees /smuggled")
    func classicSmuggling() throws {
        let gw = try TestGateway.simple()
        let payload = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            + "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        let client = try RawClient(port: gw.port)
        try client.send(payload)
        let response = try #require(client.readResponse(timeout: 5))
        #expect(response.status == 400)
        // Exactly one answer: the smuggled request is never answered either.
        let rest = client.readUntilClose(timeout: 5)
        #expect(rest.isEmpty, "bytes after the 400: \(String(decoding: rest, as: UTF8.self))")
        let seen = try gw.upstreamRequestLines()
        #expect(seen == [])
        #expect(!gw.echo.stdout.contains("/smuggled"))
    }

    @Test("two differing Content-Length fields: 400")
    func duplicateDifferingContentLength() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /dup-cl HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", status: 400)
    }

    @Test("one Content-Length field listing differing values: 400")
    func contentLengthListDiffering() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /cl-list HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", status: 400)
    }

    @Test("Transfer-Encoding: gzip (last coding not chunked): 400")
    func transferEncodingGzip() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /te-gzip HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"
                              + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("Transfer-Encoding: chunked, gzip (chunked not last): 400")
    func transferEncodingChunkedThenGzip() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /te-chunked-gzip HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                              + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("Transfer-Encoding on an HTTP/1.0 request: 400")
    func transferEncodingOnHTTP10() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /te-10 HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    // MARK: Chunk framing

    @Test("chunk size that is not hex (zz): 400, nothing forwarded")
    func badChunkSize() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /bad-chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "zz\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("chunk size overflowing 64 bits (ffffffffffffffffffff): 400, nothing forwarded")
    func overflowingChunkSize() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /overflow-chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
                          status: 400)
    }

    // MARK: Header lines

    @Test("bare LF line endings: 400")
    func bareLF() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET /bare-lf HTTP/1.1\nHost: a\n\n", status: 400)
    }

    @Test("a bare LF in the middle of an otherwise CRLF head: 400")
    func bareLFInsideHead() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET /bare-lf-mixed HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n", status: 400)
    }

    @Test("obs-fold (a header line continued on the next line): 400")
    func obsFold() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET /obs-fold HTTP/1.1\r\nHost: a\r\nX-A: one\r\n  two\r\n\r\n", status: 400)
    }

    @Test("whitespace between a field name and the colon: 400")
    func whitespaceBeforeColon() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /ws-colon HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", status: 400)
    }

    @Test("NUL in a field value: 400")
    func nulInValue() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, Array("GET /nul HTTP/1.1\r\nHost: a\r\nX-A: a".utf8) + [0] + Array("b\r\n\r\n".utf8),
                          status: 400)
    }

    @Test("other control characters in a field value (0x01, ESC, DEL, bare CR): 400 each")
    func controlCharactersInValue() throws {
        let gw = try TestGateway.simple()
        for control: UInt8 in [0x01, 0x1b, 0x7f, 0x0d] {
            try expectRefused(gw, Array("GET /ctl HTTP/1.1\r\nHost: a\r\nX-A: a".utf8) + [control] + Array("b\r\n\r\n".utf8),
                              status: 400)
        }
    }

    // MARK: Limits

    @Test("a head over max_request_head: 431")
    func headTooLarge() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_request_head: 1KiB\n    max_request_line: 512")
        let big = String(repeating: "v", count: 2000)
        try expectRefused(gw, "GET /big-head HTTP/1.1\r\nHost: a\r\nX-Big: \(big)\r\n\r\n", status: 431)
    }

    @Test("many small headers adding up over max_request_head: 431")
    func manyHeadersTooLarge() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_request_head: 1KiB\n    max_request_line: 512")
        let fields = (0..<60).map { "X-F\($0): 0123456789\r\n" }.joined()
        try expectRefused(gw, "GET /many-headers HTTP/1.1\r\nHost: a\r\n\(fields)\r\n", status: 431)
    }

    @Test("a request target over max_request_line: 414")
    func requestLineTooLong() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_request_line: 256")
        let path = "/" + String(repeating: "a", count: 1000)
        try expectRefused(gw, "GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n", status: 414)
    }

    @Test("Content-Length over max_body: 413 answered from the head alone, before any body byte is sent")
    func contentLengthOverMaxBody() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_body: 1KiB")
        // Only the head: the answer must not wait for a body.
        try expectRefused(gw, "POST /too-big HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n", status: 413)
    }

    @Test("a chunked body growing over max_body: 413, closed, the rest never forwarded")
    func chunkedBodyOverMaxBody() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_body: 1KiB")
        let first = String(repeating: "a", count: 512)
        let second = String(repeating: "b", count: 1024)
        let client = try RawClient(port: gw.port)
        try client.send("POST /growing HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "200\r\n\(first)\r\n400\r\n\(second)\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try #require(client.readResponse(timeout: 5))
        #expect(response.status == 413)
        #expect(client.waitForClose(timeout: 5))
        // The body is streamed, so the head may legitimately have reached the upstream before the size line
        // that went over; the upstream connection is then dropped mid-body. What must never happen: a
        // complete request or the smuggled one.
        let seen = try gw.upstreamRequestLines()
        #expect(seen.allSatisfy { $0 == "POST /growing" }, "the upstream received: \(seen)")
    }

    @Test("Content-Length over max_body with the body (holding a request) right behind: 413, the body never parsed")
    func earlyAnswerWithBodyFollowing() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_body: 1KiB")
        let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        let body = String(repeating: smuggled, count: 60)  // 2 KiB of requests as the body
        try expectRefused(gw, "POST /too-big HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)",
                          status: 413)
    }

    @Test("Expect: 100-continue with a Content-Length over max_body: 413, never a 100")
    func expectContinueOverMaxBody() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_body: 1KiB")
        let client = try RawClient(port: gw.port)
        try client.send("PUT /big HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        let response = try #require(client.readResponse(timeout: 5))
        #expect(response.status == 413)
        #expect(client.waitForClose(timeout: 5))
        #expect(try gw.upstreamRequestLines() == [])
    }

    @Test("more header fields than max_header_count: 431")
    func tooManyHeaderFields() throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_header_count: 10")
        let fields = (0..<12).map { "X-F\($0): 1\r\n" }.joined()
        try expectRefused(gw, "GET /count HTTP/1.1\r\nHost: a\r\n\(fields)\r\n", status: 431)
    }

    // MARK: Request line and Host

    @Test("HTTP/1.1 without Host, or with two Host fields: 400")
    func missingOrDuplicateHost() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET /no-host HTTP/1.1\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /bad-host HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400)
    }

    @Test("malformed request lines: 400; an unsupported major version: 505")
    func malformedRequestLines() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET  /double-space HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "G@T /bad-method HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /no-version\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /v2 HTTP/2.0\r\nHost: a\r\n\r\n", status: 505)
    }

    // MARK: Chunk lines and trailers

    @Test("a chunk-size line ending in a bare LF, or a bare LF inside a chunk extension: 400")
    func chunkLineBareLF() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /chunk-lf HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "5\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "POST /ext-lf HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "5;a=b\nc\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("chunk data not followed by CRLF: 400")
    func chunkDataWithoutCRLF() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "POST /no-crlf HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + "5\r\nhelloXX0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("trailers go through the header checks: a framing field, a NUL or obs-fold in a trailer: 400")
    func badTrailers() throws {
        let gw = try TestGateway.simple()
        for trailer in ["Content-Length: 5", "Transfer-Encoding: chunked", "X-T: a\u{0}b", "X-T: 1\r\n folded", "X-T : 1"] {
            try expectRefused(gw, "POST /trailer HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  + "5\r\nhello\r\n0\r\n\(trailer)\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
                              status: 400)
        }
    }

    // MARK: Paths

    @Test("%2e%2e climbing above the root: 400")
    func encodedDotDotAboveRoot() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /a/%2E%2e/%2e%2E/etc HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /a/../../etc HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    @Test("an encoded slash (/a%2fb): 400")
    func encodedSlash() throws {
        let gw = try TestGateway.simple()
        try expectRefused(gw, "GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
        try expectRefused(gw, "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", status: 400)
    }

    // MARK: After a refusal

    @Test("a refusal on a kept-alive connection: the earlier answer stands, the rest is dropped")
    func refusalAfterGoodRequest() throws {
        let gw = try TestGateway.simple()
        let client = try RawClient(port: gw.port)
        try client.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try #require(client.readResponse())
        #expect(first.status == 200)
        #expect(first.json?["target"] as? String == "/first")
        let second = try #require(client.readResponse())
        #expect(second.status == 400)
        #expect(client.waitForClose(timeout: 5))
        #expect(try gw.upstreamRequestLines() == ["GET /first"])
    }
}
