import GatehouseHTTP
import Testing

/// A response head with the given status line and fields.
func response(_ status: String = "HTTP/1.1 200 OK", _ fields: String...) -> String {
    ([status] + fields + ["", ""]).joined(separator: "\r\n")
}

@Suite("ResponseParser")
struct ResponseParserTests {
    @Test func contentLengthBody() {
        let t = DripFeed.responses(response("HTTP/1.1 200 OK", "Content-Length: 5", "Server: x") + "hello")
        #expect(t.error == nil)
        #expect(t.messages.first?.bodyText == "hello")
        #expect(t.messages.first?.ended == true)
        guard let h = t.response else { return }
        #expect(h.status == 200)
        #expect(text(h.bytes, h.reasonRange) == "OK")
        #expect(h.framing == .length(5))
        #expect(h.keepAlive)
        #expect(lines(h.headers) == ["Content-Length: 5", "Server: x"])
    }

    @Test func headResponseHasNoBody() {
        let t = DripFeed.responses(response("HTTP/1.1 200 OK", "Content-Length: 1234"), methods: [.head])
        #expect(t.error == nil)
        #expect(t.response?.framing == BodyFraming.none)
        #expect(t.messages.first?.ended == true)
        #expect(t.messages.first?.body == [])
    }

    @Test func headThenGetPipelined() {
        let input =
            response("HTTP/1.1 200 OK", "Content-Length: 3") + response("HTTP/1.1 200 OK", "Content-Length: 3")
            + "abc"
        let t = DripFeed.responses(input, methods: [.head, .get])
        #expect(t.error == nil)
        #expect(t.messages.map(\.bodyText) == ["", "abc"])
    }

    @Test(arguments: ["HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"])
    func noContentStatuses(_ status: String) {
        let t = DripFeed.responses(response(status, "Content-Length: 100", "ETag: \"x\""))
        #expect(t.error == nil)
        #expect(t.response?.framing == BodyFraming.none)
        #expect(t.messages.first?.ended == true)
        #expect(t.messages.first?.body == [])
    }

    @Test func continueThenFinal() {
        let t = DripFeed.responses(
            response("HTTP/1.1 100 Continue") + response("HTTP/1.1 201 Created", "Content-Length: 2")
                + "ok")
        #expect(t.error == nil)
        #expect(t.responseHeads.map(\.status) == [100, 201])
        #expect(t.responseHeads.first?.framing == BodyFraming.none)
        #expect(t.messages.map(\.ended) == [false, true], "no .end after a 1xx head")
        #expect(t.messages.last?.bodyText == "ok")
    }

    @Test func switchingProtocols() {
        var parser = ResponseParser(limits: HTTPLimits())
        let head = response("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade")
        guard case .success(.responseHead(let h, let consumed)) = step(&parser, head + "\u{81}\u{05}frame") else {
            Issue.record("no head")
            return
        }
        #expect(h.status == 101)
        #expect(h.framing == .none)
        #expect(consumed == head.utf8.count, "tunnel bytes after the head are left to the caller")
        #expect(h.connectionTokens.map { text(h.bytes, $0) } == ["Upgrade"])
    }

    @Test func untilCloseEndedByInputClosed() {
        let t = DripFeed.responses(
            response("HTTP/1.1 200 OK", "Content-Type: text/plain") + "hello world",
            closeAtEnd: true)
        #expect(t.error == nil)
        #expect(t.response?.framing == .untilClose)
        #expect(t.response?.keepAlive == false)
        #expect(t.messages.first?.bodyText == "hello world")
        #expect(t.messages.first?.ended == true)
    }

    @Test func truncatedBodiesThrowOnClose() {
        let upstreamTruncated = HTTPParseError(status: 502, reason: "upstream-truncated")
        let length = DripFeed.responses(response("HTTP/1.1 200 OK", "Content-Length: 10") + "short", closeAtEnd: true)
        #expect(length.error == upstreamTruncated)
        #expect(length.messages.first?.bodyText == "short")
        let chunk = DripFeed.responses(
            response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "5\r\nab", closeAtEnd: true)
        #expect(chunk.error == upstreamTruncated)
        let head = DripFeed.responses("HTTP/1.1 200 OK\r\nContent-Le", closeAtEnd: true)
        #expect(head.error == upstreamTruncated)
        let interim = DripFeed.responses(response("HTTP/1.1 100 Continue"), closeAtEnd: true)
        #expect(interim.error == upstreamTruncated, "a close after a 1xx truncates the exchange")
        let trailers = DripFeed.responses(
            response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "0\r\nX: 1\r\n", closeAtEnd: true)
        #expect(trailers.error == upstreamTruncated)
    }

    @Test func closeBetweenMessagesIsClean() {
        let t = DripFeed.responses(response("HTTP/1.1 200 OK", "Content-Length: 2") + "ok", closeAtEnd: true)
        #expect(t.error == nil)
        #expect(t.messages.count == 1)
        var parser = ResponseParser(limits: HTTPLimits())
        guard case .success(.needMore(0)) = Result(catching: { () throws(HTTPParseError) in try parser.inputClosed() })
        else {
            Issue.record("close before any byte should be .needMore(consumed: 0)")
            return
        }
    }

    @Test func closeRightAfterABodylessHeadEndsIt() {
        var parser = ResponseParser(limits: HTTPLimits())
        _ = step(&parser, response("HTTP/1.1 204 No Content"))
        guard case .success(.end) = Result(catching: { () throws(HTTPParseError) in try parser.inputClosed() }) else {
            Issue.record("a complete body-less response is not truncated by a close")
            return
        }
    }

    @Test func chunkedResponseWithTrailers() {
        let t = DripFeed.responses(
            response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "3;x=1\r\nabc\r\n0\r\nDigest: d\r\n\r\n")
        #expect(t.error == nil)
        #expect(t.messages.first?.bodyText == "abc")
        #expect(t.messages.first?.trailers == ["Digest: d"])
        #expect(t.response?.keepAlive == true)
    }

    @Test func keepAliveAndVersions() {
        #expect(DripFeed.responses(response("HTTP/1.0 200 OK", "Content-Length: 0")).response?.keepAlive == false)
        #expect(
            DripFeed.responses(response("HTTP/1.0 200 OK", "Content-Length: 0", "Connection: keep-alive"))
                .response?.keepAlive == true)
        #expect(
            DripFeed.responses(response("HTTP/1.1 200 OK", "Content-Length: 0", "Connection: close"))
                .response?.keepAlive == false)
        #expect(DripFeed.responses(response("HTTP/1.0 200 OK", "Content-Length: 0")).response?.version == .http10)
    }

    /// A 204 may carry neither Content-Length nor Transfer-Encoding: one that declares a body may send it later,
    /// so its connection is not kept (its framing stays "no body").
    @Test(arguments: [("Content-Length: 5", false), ("Transfer-Encoding: chunked", false), ("Content-Length: 0", true),
                      ("X-None: 1", true)])
    func noContentDeclaringABodyIsNotKeptAlive(_ field: String, _ keptAlive: Bool) {
        let t = DripFeed.responses(response("HTTP/1.1 204 No Content", field))
        #expect(t.error == nil)
        #expect(t.response?.framing == BodyFraming.none)
        #expect(t.response?.keepAlive == keptAlive)
    }

    @Test(arguments: ["HTTP/1.1 200 OK", "HTTP/1.1 200 ", "HTTP/1.1 200", "HTTP/1.1 404 Not  Found\t(really)"])
    func statusLineForms(_ line: String) {
        let t = DripFeed.responses(response(line, "Content-Length: 0"))
        #expect(t.error == nil)
        let reason = line.count > 13 ? String(line.dropFirst(13)) : ""
        #expect(t.response.map { text($0.bytes, $0.reasonRange) } == reason)
    }

    static let refusalCases: [Refusal] = [
        Refusal(
            "CL then TE", response("HTTP/1.1 200 OK", "Content-Length: 3", "Transfer-Encoding: chunked"), 502,
            "content-length-with-transfer-encoding"),
        Refusal(
            "TE then CL", response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 3"), 502,
            "content-length-with-transfer-encoding"),
        Refusal(
            "CL+TE on a HEAD-less 304",
            response(
                "HTTP/1.1 304 Not Modified", "Content-Length: 3",
                "Transfer-Encoding: chunked"), 502, "content-length-with-transfer-encoding"),
        Refusal(
            "differing CL", response("HTTP/1.1 200 OK", "Content-Length: 3", "Content-Length: 4"), 502,
            "conflicting-content-length"),
        Refusal("bad CL", response("HTTP/1.1 200 OK", "Content-Length: 3a"), 502, "invalid-content-length"),
        Refusal(
            "TE gzip", response("HTTP/1.1 200 OK", "Transfer-Encoding: gzip"), 502, "transfer-encoding-not-chunked"),
        Refusal(
            "TE gzip, chunked", response("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked"), 502,
            "unsupported-transfer-coding"),
        Refusal(
            "TE on 1.0", response("HTTP/1.0 200 OK", "Transfer-Encoding: chunked"), 502,
            "transfer-encoding-on-http10"),
        Refusal("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 502, "invalid-status-line"),
        Refusal("status 600", "HTTP/1.1 600 Odd\r\n\r\n", 502, "invalid-status-code"),
        Refusal("status 099", "HTTP/1.1 099 Odd\r\n\r\n", 502, "invalid-status-code"),
        Refusal("no space after code", "HTTP/1.1 200OK\r\n\r\n", 502, "invalid-status-line"),
        Refusal("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", 502, "unsupported-version"),
        Refusal("lowercase version", "http/1.1 200 OK\r\n\r\n", 502, "invalid-status-line"),
        Refusal("garbage", "garbage garbage\r\n\r\n", 502, "invalid-status-line"),
        Refusal("short", "HTTP\r\n\r\n", 502, "invalid-status-line"),
        Refusal("control in reason", "HTTP/1.1 200 O\u{01}K\r\n\r\n", 502, "invalid-status-line"),
        Refusal("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 502, "bare-lf"),
        Refusal("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", 502, "bare-cr"),
        Refusal("obs-fold", response("HTTP/1.1 200 OK", "X: a", " b"), 502, "obs-fold"),
        Refusal("space before colon", response("HTTP/1.1 200 OK", "X : a"), 502, "whitespace-before-colon"),
        Refusal("control in value", response("HTTP/1.1 200 OK", "X: \u{00}"), 502, "invalid-field-value"),
        Refusal(
            "Connection names CL", response("HTTP/1.1 200 OK", "Connection: content-length", "Content-Length: 0"),
            502, "connection-names-framing-field"),
        Refusal(
            "leading empty line", "\r\n" + response("HTTP/1.1 200 OK", "Content-Length: 0"), 502,
            "too-many-leading-empty-lines"),
        Refusal(
            "bad chunk size", response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "xyz\r\n", 502,
            "invalid-chunk-size"),
        Refusal(
            "huge chunk size", response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "ffffffffffffffffff\r\n",
            502, "chunk-size-overflow"),
        Refusal(
            "chunk without CRLF", response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked") + "1\r\nab", 502,
            "missing-chunk-crlf"),
    ]

    /// A framing or routing field in an upstream's trailers is dropped, not a reason to lose the whole answer
    /// (RFC 9110 6.5.1); in a request's trailers it stays a refusal (RequestRefusalTests).
    @Test func forbiddenTrailerFieldsAreDropped() {
        let t = DripFeed.responses(
            response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")
                + "5\r\nhello\r\n0\r\nContent-Length: 99\r\nX-Sum: 1\r\nTransfer_Encoding: chunked\r\n"
                + "Transfer-Encoding: chunked\r\nHost: x\r\n\r\n")
        #expect(t.error == nil)
        #expect(t.messages.first?.bodyText == "hello")
        #expect(t.messages.first?.trailers == ["X-Sum: 1"])
    }

    @Test(arguments: refusalCases) func refusals(_ refusal: Refusal) {
        let t = DripFeed.responses(refusal.raw)
        #expect(t.error == HTTPParseError(status: refusal.status, reason: refusal.reason))
    }

    @Test func limits() {
        var limits = HTTPLimits()
        limits.maxRequestLine = 20
        let long = DripFeed.responses("HTTP/1.1 200 " + String(repeating: "x", count: 10) + "\r\n\r\n", limits: limits)
        #expect(long.error == HTTPParseError(status: 502, reason: "status-line-too-long"))
        limits = HTTPLimits()
        limits.maxHead = 40
        let big = DripFeed.responses(
            response("HTTP/1.1 200 OK", "X: " + String(repeating: "y", count: 40)), limits: limits)
        #expect(big.error == HTTPParseError(status: 502, reason: "head-too-large"))
        limits = HTTPLimits()
        limits.maxBody = 1
        let body = DripFeed.responses(response("HTTP/1.1 200 OK", "Content-Length: 5") + "hello", limits: limits)
        #expect(body.error == nil, "maxBody bounds requests only")
    }

    @Test func aRefusedParserStaysRefused() {
        var parser = ResponseParser(limits: HTTPLimits())
        let refusal = HTTPParseError(status: 502, reason: "bare-lf")
        #expect(failure(step(&parser, "HTTP/1.1 200 OK\n")) == refusal)
        #expect(failure(step(&parser, response())) == refusal)
        #expect(failure(Result(catching: { () throws(HTTPParseError) in try parser.inputClosed() })) == refusal)
    }
}

@Suite("ResponseParser between messages")
struct ResponseParserBetweenMessagesTests {
    /// Feeds `text` and parses until nothing more comes of it (a body's end is reported on a call after its
    /// last byte, so parsing goes on with empty input); returns whether the last event was the end.
    func feed(_ parser: inout ResponseParser, _ text: String) throws -> Bool {
        var bytes = Array(text.utf8)
        while true {
            let event = try bytes.withUnsafeBytes { try parser.next($0, requestMethod: .get) }
            switch event {
            case .needMore(let consumed):
                bytes.removeFirst(consumed)
                if consumed == 0 || bytes.isEmpty { return false }
            case .responseHead(_, let consumed):
                bytes.removeFirst(consumed)
            case .body(let payload):
                bytes.removeFirst(payload.upperBound)
            case .end(_, let consumed):
                bytes.removeFirst(consumed)
                if bytes.isEmpty { return true }
            case .requestHead:
                return false
            }
        }
    }

    /// The upstream pool keeps a parser that says it is between messages, so it must say so only then.
    @Test func onlyAfterACompleteFinalResponse() throws {
        var parser = ResponseParser(limits: HTTPLimits())
        #expect(parser.isBetweenMessages)
        #expect(try !feed(&parser, "HTTP/1.1 200 OK\r\nContent-"))
        #expect(!parser.isBetweenMessages)  // half a head
        #expect(try !feed(&parser, "Length: 3\r\n\r\nab"))
        #expect(!parser.isBetweenMessages)  // in the body
        #expect(try feed(&parser, "c"))
        #expect(parser.isBetweenMessages)  // the response ended
        #expect(try !feed(&parser, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"))
        #expect(!parser.isBetweenMessages)  // a final response is still owed after a 1xx
        #expect(try feed(&parser, "HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(parser.isBetweenMessages)
    }
}
