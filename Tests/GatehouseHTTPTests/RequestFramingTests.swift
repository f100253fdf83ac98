import GatehouseHTTP
import Testing

@Suite("RequestParser framing")
struct RequestFramingTests {
    @Test func getWithoutBody() {
        let t = DripFeed.requests(get("/index.html", "Accept: */*"))
        #expect(t.error == nil)
        #expect(t.messages.count == 1)
        #expect(t.messages.first?.ended == true)
        #expect(t.messages.first?.body == [])
        #expect(t.betweenMessages)
        guard let h = t.request else { return }
        #expect(h.method == .get)
        #expect(h.framing == .none)
        #expect(h.version == .http11)
        #expect(h.targetForm == .origin)
        #expect(lines(h.headers) == ["Host: example.com", "Accept: */*"])
        #expect(h.headers.storage == h.bytes)
        #expect(h.bytes == Array(get("/index.html", "Accept: */*").utf8))
    }

    @Test func contentLengthBody() {
        let t = DripFeed.requests(post("Content-Length: 11") + "hello world")
        #expect(t.error == nil)
        #expect(t.messages.first?.bodyText == "hello world")
        #expect(t.messages.first?.ended == true)
        #expect(t.request?.framing == .length(11))
    }

    @Test func contentLengthZero() {
        let t = DripFeed.requests(post("Content-Length: 0"))
        #expect(t.error == nil)
        #expect(t.request?.framing == .length(0))
        #expect(t.messages.first?.ended == true)
        #expect(t.messages.first?.body == [])
    }

    @Test func identicalContentLengthsAreOne() {
        let list = DripFeed.requests(post("Content-Length: 5, 5") + "hello")
        #expect(list.request?.framing == .length(5))
        #expect(list.messages.first?.bodyText == "hello")
        let fields = DripFeed.requests(post("Content-Length: 5", "content-length:5") + "hello")
        #expect(fields.request?.framing == .length(5))
        #expect(fields.messages.first?.bodyText == "hello")
        let zeros = DripFeed.requests(post("Content-Length: 005") + "hello")
        #expect(zeros.request?.framing == .length(5))
    }

    @Test func chunkedWithExtensionsAndTrailers() {
        let body =
            "5;name=value\r\nhello\r\n"
            + "6 ; a = \"q\\\"x;y\" ;b\t;c=tok\r\n world\r\n"
            + "A\r\n and more!\r\n"
            + "0;last\r\nX-Checksum: abc\r\nX-Other:  1 \r\n\r\n"
        let t = DripFeed.requests(chunked(body))
        #expect(t.error == nil)
        #expect(t.request?.framing == .chunked)
        #expect(t.messages.first?.bodyText == "hello world and more!")
        #expect(t.messages.first?.trailers == ["X-Checksum: abc", "X-Other: 1"])
        #expect(t.messages.first?.ended == true)
    }

    @Test func chunkedWithoutTrailersAndUppercaseHex() {
        let t = DripFeed.requests(chunked("1A\r\n" + String(repeating: "x", count: 26) + "\r\n0\r\n\r\n"))
        #expect(t.error == nil)
        #expect(t.messages.first?.body.count == 26)
        #expect(t.messages.first?.trailers == [])
    }

    @Test func chunkedTransferEncodingIsCaseInsensitive() {
        let t = DripFeed.requests(post("Transfer-Encoding: Chunked") + "0\r\n\r\n")
        #expect(t.error == nil)
        #expect(t.request?.framing == .chunked)
    }

    @Test func pipelinedGetPostGet() {
        let input =
            get("/one") + post("Content-Length: 4") + "body" + get("/three")
            + chunked("3\r\nabc\r\n0\r\n\r\n")
        let t = DripFeed.requests(input)
        #expect(t.error == nil)
        #expect(t.messages.count == 4)
        #expect(t.messages.allSatisfy { $0.ended })
        #expect(t.messages.map(\.bodyText) == ["", "body", "", "abc"])
        #expect(
            t.requestHeads.map { String(decoding: $0.normalizedPath, as: UTF8.self) } == [
                "/one", "/up", "/three", "/up",
            ])
        #expect(t.betweenMessages)
    }

    @Test func leadingEmptyLinesAreIgnored() {
        let t = DripFeed.requests("\r\n\r\n" + get("/x"))
        #expect(t.error == nil)
        #expect(t.request.map { String(decoding: $0.normalizedPath, as: UTF8.self) } == "/x")
        #expect(t.request?.bytes == Array(get("/x").utf8))
        // A stray CRLF after a body, as some clients send, before the next request.
        let after = DripFeed.requests(post("Content-Length: 2") + "ok\r\n" + get("/next"))
        #expect(after.error == nil)
        #expect(after.messages.count == 2)
    }

    @Test func endComesOnTheCallAfterTheHead() {
        var parser = RequestParser(limits: HTTPLimits())
        let input = get() + "GET /partial"
        guard case .success(.requestHead(_, let consumed)) = step(&parser, input) else {
            Issue.record("no head")
            return
        }
        #expect(consumed == get().utf8.count)
        guard case .success(.end(let trailers, 0)) = step(&parser, "GET /partial") else {
            Issue.record("no end")
            return
        }
        #expect(trailers.count == 0)
        guard case .success(.needMore(12)) = step(&parser, "GET /partial") else {
            Issue.record("partial head not consumed")
            return
        }
    }

    @Test func isBetweenMessagesTracksIdleness() {
        var parser = RequestParser(limits: HTTPLimits())
        #expect(parser.isBetweenMessages)
        _ = step(&parser, "")
        #expect(parser.isBetweenMessages)
        _ = step(&parser, "\r\n")
        #expect(!parser.isBetweenMessages, "an empty line starts the header deadline")
        _ = step(&parser, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n")
        #expect(!parser.isBetweenMessages)
        _ = step(&parser, "\r\n")  // head complete
        #expect(!parser.isBetweenMessages)
        _ = step(&parser, "o")
        #expect(!parser.isBetweenMessages)
        _ = step(&parser, "k")
        #expect(!parser.isBetweenMessages)
        guard case .success(.end) = step(&parser, "") else {
            Issue.record("no end")
            return
        }
        #expect(parser.isBetweenMessages)
    }

    @Test func bodyPayloadRangesPointIntoTheInput() {
        var parser = RequestParser(limits: HTTPLimits())
        _ = step(&parser, chunked(""))
        // Size line and payload in one input: the payload range starts after the size line.
        guard case .success(.body(let payload)) = step(&parser, "4;x=y\r\nabcd\r\n0\r\n\r\n") else {
            Issue.record("no payload")
            return
        }
        #expect(payload == 7..<11)
        guard case .success(.end(_, let consumed)) = step(&parser, "\r\n0\r\n\r\n") else {
            Issue.record("no end")
            return
        }
        #expect(consumed == 7)
    }

    @Test func randomSplitsAgreeWithWholeInput() {
        let input = Array(
            ("\r\n" + get("/a/./b", "Connection: keep-alive") + post("Content-Length: 10") + "0123456789"
                + chunked("3;x=\"y\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n")).utf8)
        let whole = feedRequests(input, pieces: [Int.max])
        var seed: UInt64 = 42
        for _ in 0..<200 {
            var pieces: [Int] = []
            var left = input.count
            while left > 0 {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let size = min(left, Int(seed >> 59) + 1)
                pieces.append(size)
                left -= size
            }
            #expect(feedRequests(input, pieces: pieces).signature == whole.signature)
        }
        #expect(whole.error == nil && whole.messages.count == 3)
    }

    /// Feeds `input` in the given piece sizes.
    private func feedRequests(_ input: [UInt8], pieces: [Int]) -> DripFeed.Transcript {
        var parser = RequestParser(limits: HTTPLimits())
        return DripFeed.feed(input, pieces: pieces, closeAtEnd: nil) { buffer, _ throws(HTTPParseError) in
            try parser.next(buffer)
        }
    }
}
