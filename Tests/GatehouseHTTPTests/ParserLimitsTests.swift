import GatehouseHTTP
import Testing

@Suite("Parser limits")
struct ParserLimitsTests {
    private static func limits(_ change: (inout HTTPLimits) -> Void) -> HTTPLimits {
        var limits = HTTPLimits()
        change(&limits)
        return limits
    }

    private func refusal(
        _ raw: String, _ limits: HTTPLimits, _ status: Int, _ reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let t = DripFeed.requests(raw, limits: limits, sourceLocation: sourceLocation)
        #expect(t.error == HTTPParseError(status: status, reason: reason), sourceLocation: sourceLocation)
    }

    @Test func requestLineLimit() {
        let limits = Self.limits { $0.maxRequestLine = 30 }
        // "GET /" + 16 bytes + " HTTP/1.1" is exactly 30 bytes: accepted.
        let fits = DripFeed.requests(get("/" + String(repeating: "a", count: 16)), limits: limits)
        #expect(fits.error == nil)
        refusal(get("/" + String(repeating: "a", count: 17)), limits, 414, "request-line-too-long")
        // Refused before the line ends.
        refusal("GET /" + String(repeating: "a", count: 100), limits, 414, "request-line-too-long")
    }

    @Test func headLimit() {
        let limits = Self.limits { $0.maxHead = 64 }
        let exact = get("/", "X: " + String(repeating: "v", count: 64 - get("/", "X: ").utf8.count))
        #expect(exact.utf8.count == 64)
        #expect(DripFeed.requests(exact, limits: limits).error == nil)
        refusal(
            get("/", "X: " + String(repeating: "v", count: 65 - get("/", "X: ").utf8.count)), limits, 431,
            "head-too-large")
        // Leading empty lines are not part of the head.
        #expect(DripFeed.requests("\r\n" + exact, limits: limits).error == nil)
    }

    @Test func fieldCountLimit() {
        let limits = Self.limits { $0.maxHeaderCount = 3 }
        #expect(DripFeed.requests(get("/", "A: 1", "B: 2"), limits: limits).error == nil)
        refusal(get("/", "A: 1", "B: 2", "C: 3"), limits, 431, "too-many-fields")
    }

    @Test func contentLengthLimit() {
        let limits = Self.limits { $0.maxBody = 10 }
        #expect(DripFeed.requests(post("Content-Length: 10") + "0123456789", limits: limits).error == nil)
        let t = DripFeed.requests(post("Content-Length: 11") + "0123456789X", limits: limits)
        #expect(t.error == HTTPParseError(status: 413, reason: "body-too-large"))
        #expect(t.messages.isEmpty, "refused at head time, before any body byte")
    }

    @Test func chunkedBodyLimit() {
        let limits = Self.limits { $0.maxBody = 10 }
        #expect(DripFeed.requests(chunked("5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"), limits: limits).error == nil)
        let t = DripFeed.requests(chunked("5\r\n01234\r\n6\r\n567890\r\n0\r\n\r\n"), limits: limits)
        #expect(t.error == HTTPParseError(status: 413, reason: "body-too-large"))
        #expect(t.messages.first?.bodyText == "01234", "refused at the size line, before its data")
        refusal(chunked("7fffffffffffffff\r\n"), limits, 413, "body-too-large")
    }

    @Test func chunkLineLimit() {
        let limits = Self.limits { $0.maxChunkLine = 12 }
        #expect(DripFeed.requests(chunked("5;abcdefghij\r\nhello\r\n0\r\n\r\n"), limits: limits).error == nil)
        refusal(chunked("5;abcdefghijk\r\nhello\r\n0\r\n\r\n"), limits, 400, "chunk-line-too-long")
        refusal(chunked("0000000000005\r\nhello\r\n0\r\n\r\n"), limits, 400, "chunk-line-too-long")
    }

    @Test func trailerLimits() {
        let size = Self.limits { $0.maxTrailers = 10 }
        #expect(DripFeed.requests(chunked("0\r\nX: 12345\r\n\r\n"), limits: size).error == nil)
        refusal(chunked("0\r\nX: 123456\r\n\r\n"), size, 431, "trailers-too-large")
        let count = Self.limits { $0.maxHeaderCount = 2 }
        #expect(DripFeed.requests(chunked("0\r\nA: 1\r\nB: 2\r\n\r\n"), limits: count).error == nil)
        refusal(chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), count, 431, "too-many-trailer-fields")
    }

    /// A 1 MB header line, arriving in 4 KB reads, is refused once the head limit is crossed: the
    /// parser never holds (and the caller never has to feed) much more than `maxHead`.
    @Test func hugeHeaderLineIsRefusedWithoutBufferingIt() {
        let input = Array(("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "b", count: 1 << 20)).utf8)
        for piece in [4096, Int.max] {
            var parser = RequestParser(limits: HTTPLimits())
            let t = DripFeed.feed(input, pieces: [piece], closeAtEnd: nil) { buffer, _ throws(HTTPParseError) in
                try parser.next(buffer)
            }
            #expect(t.error == HTTPParseError(status: 431, reason: "head-too-large"))
            if piece == 4096 {
                #expect((t.fedAtError ?? .max) <= HTTPLimits().maxHead + 4096)
            }
        }
        // The same through the three DripFeed modes (byte by byte stops at the limit too).
        let t = DripFeed.requests("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + String(repeating: "b", count: 40_000))
        #expect(t.error == HTTPParseError(status: 431, reason: "head-too-large"))
    }

    @Test func manyTinyChunksAreLinear() {
        let body = String(repeating: "1;e=\"v\"\r\nx\r\n", count: 20_000) + "0\r\n\r\n"
        let t = DripFeed.requests(chunked(body), pipelined: 1)
        #expect(t.error == nil)
        #expect(t.messages.first?.body.count == 20_000)
    }
}
