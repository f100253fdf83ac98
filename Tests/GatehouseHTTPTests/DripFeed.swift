import GatehouseHTTP
import Testing

/// Feeds raw bytes to a parser the way a connection does, and records what came out.
///
/// Every parser test goes through `DripFeed.requests` or `DripFeed.responses`, which run the same
/// input three ways and check that they agree (swift-nio `ByteToMessageDecoderVerifier`):
/// 1. whole: all bytes in one call;
/// 2. byte by byte: one new byte per arrival; the caller keeps what was not consumed and appends
///    the next byte, exactly like a real connection;
/// 3. pipelined: several copies of the input back to back in one buffer.
enum DripFeed {
    /// One message as the feeding modes must agree on it.
    struct Message {
        /// The canonical description of the head (every property; see `describe`).
        var head: String
        var body: [UInt8] = []
        /// Trailers as "name: value".
        var trailers: [String] = []
        /// `.end` was reported.
        var ended = false

        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// Everything one run produced.
    struct Transcript {
        var messages: [Message] = []
        var requestHeads: [RequestHead] = []
        var responseHeads: [ResponseHead] = []
        var error: HTTPParseError?
        /// Input bytes handed to the parser when it threw.
        var fedAtError: Int?
        /// Bytes not consumed when the input ran out.
        var leftover = 0
        /// `isBetweenMessages` at the end (requests only).
        var betweenMessages = false

        /// The parts every feeding mode must reproduce.
        var signature: String {
            let parts = messages.map { "\($0.head)|body=\($0.body)|trailers=\($0.trailers)|ended=\($0.ended)" }
            return parts.joined(separator: "\n") + "\nerror=\(error.map(\.description) ?? "none")"
        }

        /// The first request head (fails the test when there is none).
        var request: RequestHead? {
            #expect(!requestHeads.isEmpty, "no request head parsed; error: \(error.map(\.description) ?? "none")")
            return requestHeads.first
        }

        /// The first response head (fails the test when there is none).
        var response: ResponseHead? {
            #expect(!responseHeads.isEmpty, "no response head parsed; error: \(error.map(\.description) ?? "none")")
            return responseHeads.first
        }
    }

    /// Runs `input` through fresh `RequestParser`s three ways; returns the whole-input transcript.
    static func requests(
        _ input: String, limits: HTTPLimits = HTTPLimits(), pipelined copies: Int = 3,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Transcript {
        let bytes = Array(input.utf8)
        let run = { (bytes: [UInt8], piece: Int) -> Transcript in
            var parser = RequestParser(limits: limits)
            var transcript = feed(bytes, pieces: [piece], closeAtEnd: nil) { (input, _) throws(HTTPParseError) in
                try parser.next(input)
            }
            transcript.betweenMessages = parser.isBetweenMessages
            return transcript
        }
        return verify(bytes, copies: copies, sourceLocation: sourceLocation, run: run)
    }

    /// Runs `input` through fresh `ResponseParser`s three ways; returns the whole-input transcript.
    ///
    /// - Parameters:
    ///   - methods: The request method of each exchange, cycled (so pipelined copies line up).
    ///   - closeAtEnd: Call `inputClosed()` when the input runs out (no pipelined run then, since a
    ///     close ends the connection).
    static func responses(
        _ input: String, methods: [KnownMethod] = [.get], closeAtEnd: Bool = false,
        limits: HTTPLimits = HTTPLimits(), sourceLocation: SourceLocation = #_sourceLocation
    ) -> Transcript {
        let bytes = Array(input.utf8)
        let run = { (bytes: [UInt8], piece: Int) -> Transcript in
            var parser = ResponseParser(limits: limits)
            let close: () throws(HTTPParseError) -> ParseEvent = { () throws(HTTPParseError) in
                try parser.inputClosed()
            }
            return feed(bytes, pieces: [piece], closeAtEnd: closeAtEnd ? close : nil) {
                (input, exchange) throws(HTTPParseError) in
                try parser.next(input, requestMethod: methods[exchange % methods.count])
            }
        }
        return verify(bytes, copies: closeAtEnd ? 1 : 3, sourceLocation: sourceLocation, run: run)
    }

    /// Runs the three modes and compares them.
    private static func verify(
        _ bytes: [UInt8], copies: Int, sourceLocation: SourceLocation,
        run: ([UInt8], Int) -> Transcript
    ) -> Transcript {
        let whole = run(bytes, Int.max)
        let dripped = run(bytes, 1)
        #expect(dripped.signature == whole.signature, "byte-by-byte differs from whole", sourceLocation: sourceLocation)
        let complete = whole.error == nil && whole.leftover == 0 && (whole.messages.last?.ended ?? false)
        guard copies > 1, complete || whole.error != nil else { return whole }
        let piped = run(Array([[UInt8]](repeating: bytes, count: copies).joined()), Int.max)
        var expected = whole
        if whole.error == nil {
            expected.messages = Array([[Message]](repeating: whole.messages, count: copies).joined())
        }
        #expect(piped.signature == expected.signature, "pipelined copies differ", sourceLocation: sourceLocation)
        return whole
    }

    /// Feeds `input` like a connection, until it is used up or refused: arrival `k` brings
    /// `pieces[k]` bytes (the last size repeats).
    ///
    /// Checks the event contract on the way: `consumed` within what was given, payload non-empty
    /// and within the input, and progress on every call.
    static func feed(
        _ input: [UInt8], pieces: [Int], closeAtEnd: (() throws(HTTPParseError) -> ParseEvent)?,
        next: (UnsafeRawBufferPointer, Int) throws(HTTPParseError) -> ParseEvent
    ) -> Transcript {
        var transcript = Transcript()
        var pending: [UInt8] = []
        var fed = 0
        var exchange = 0
        var idleCalls = 0
        var arrivals = 0
        while true {
            let result = pending.withUnsafeBytes { buffer in
                Result { () throws(HTTPParseError) in try next(buffer, exchange) }
            }
            let event: ParseEvent
            switch result {
            case .success(let e): event = e
            case .failure(let error):
                transcript.error = error
                transcript.fedAtError = fed
                return transcript
            }
            let before = pending.count
            if case .needMore(let consumed) = event {
                #expect(consumed >= 0 && consumed <= pending.count)
                pending.removeFirst(min(max(consumed, 0), pending.count))
                if fed == input.count {
                    transcript.leftover = pending.count
                    if let closeAtEnd { finishClosed(&transcript, closeAtEnd) }
                    return transcript
                }
                let take = min(pieces[min(arrivals, pieces.count - 1)], input.count - fed)
                arrivals += 1
                pending.append(contentsOf: input[fed..<(fed + take)])
                fed += take
                idleCalls = 0
                continue
            }
            guard record(event, in: &transcript, pending: &pending) else { return transcript }
            if case .end = event { exchange += 1 }
            idleCalls = pending.count == before ? idleCalls + 1 : 0
            if idleCalls > 3 {
                Issue.record("parser makes no progress")
                return transcript
            }
        }
    }

    /// Records a head, payload or end event and drops the bytes it consumed.
    private static func record(_ event: ParseEvent, in transcript: inout Transcript, pending: inout [UInt8]) -> Bool {
        var consumed = 0
        switch event {
        case .needMore:
            return true
        case .requestHead(let head, let c):
            transcript.requestHeads.append(head)
            transcript.messages.append(Message(head: describe(head)))
            consumed = c
        case .responseHead(let head, let c):
            transcript.responseHeads.append(head)
            transcript.messages.append(Message(head: describe(head)))
            consumed = c
        case .body(let payload):
            guard !payload.isEmpty, payload.lowerBound >= 0, payload.upperBound <= pending.count,
                !transcript.messages.isEmpty
            else {
                Issue.record("bad payload range \(payload) for \(pending.count) bytes")
                return false
            }
            transcript.messages[transcript.messages.count - 1].body.append(contentsOf: pending[payload])
            consumed = payload.upperBound
        case .end(let trailers, let c):
            guard !transcript.messages.isEmpty else {
                Issue.record(".end without a head")
                return false
            }
            transcript.messages[transcript.messages.count - 1].ended = true
            transcript.messages[transcript.messages.count - 1].trailers = lines(trailers)
            consumed = c
        }
        guard consumed >= 0 && consumed <= pending.count else {
            Issue.record("consumed \(consumed) of \(pending.count) bytes")
            return false
        }
        pending.removeFirst(consumed)
        return true
    }

    private static func finishClosed(
        _ transcript: inout Transcript, _ close: () throws(HTTPParseError) -> ParseEvent
    ) {
        do throws(HTTPParseError) {
            if case .end(let trailers, _) = try close(), !transcript.messages.isEmpty {
                transcript.messages[transcript.messages.count - 1].ended = true
                transcript.messages[transcript.messages.count - 1].trailers = lines(trailers)
            }
        } catch {
            transcript.error = error
        }
    }
}

// MARK: - Descriptions

/// "name: value" for every field.
func lines(_ fields: HeaderFields) -> [String] {
    fields.fields.indices.map { "\(fields.name(at: $0)): \(fields.value(at: $0))" }
}

/// The text of `bytes[range]`.
func text(_ bytes: [UInt8], _ range: Range<Int>?) -> String? {
    range.map { String(decoding: bytes[$0], as: UTF8.self) }
}

/// Every property of a request head, for comparing runs.
func describe(_ h: RequestHead) -> String {
    let tokens = h.connectionTokens.map { text(h.bytes, $0) ?? "" }
    let path = String(decoding: h.normalizedPath, as: UTF8.self)
    return """
        \(h.method) \(text(h.bytes, h.methodRange)!) \(h.targetForm) \(text(h.bytes, h.targetRange)!) \
        authority=\(text(h.bytes, h.targetAuthorityRange) ?? "-") path=\(path) \
        query=\(text(h.bytes, h.queryRange)!) \(h.version) host=\(text(h.bytes, h.hostRange) ?? "-") \
        framing=\(h.framing) keepAlive=\(h.keepAlive) continue=\(h.expectsContinue) upgrade=\(h.wantsUpgrade) \
        connection=\(tokens) fields=\(lines(h.headers))
        """
}

/// Every property of a response head, for comparing runs.
func describe(_ h: ResponseHead) -> String {
    let tokens = h.connectionTokens.map { text(h.bytes, $0) ?? "" }
    return """
        \(h.version) \(h.status) reason=\(text(h.bytes, h.reasonRange)!) framing=\(h.framing) \
        keepAlive=\(h.keepAlive) connection=\(tokens) fields=\(lines(h.headers))
        """
}

/// Joins lines with CRLF: `crlf("GET / HTTP/1.1", "Host: a", "", "")` is a complete head.
func crlf(_ lines: String...) -> String {
    lines.joined(separator: "\r\n")
}

/// A minimal valid request head with extra field lines.
func get(_ target: String = "/", _ fields: String...) -> String {
    (["GET \(target) HTTP/1.1", "Host: example.com"] + fields + ["", ""]).joined(separator: "\r\n")
}

/// One call of `parser.next` on `input`, for tests that drive a parser by hand.
func step(_ parser: inout RequestParser, _ input: String) -> Result<ParseEvent, HTTPParseError> {
    Array(input.utf8).withUnsafeBytes { buffer in
        Result { () throws(HTTPParseError) in try parser.next(buffer) }
    }
}

/// One call of `parser.next` on `input`, for tests that drive a parser by hand.
func step(_ parser: inout ResponseParser, _ input: String, _ method: KnownMethod = .get) -> Result<
    ParseEvent, HTTPParseError
> {
    Array(input.utf8).withUnsafeBytes { buffer in
        Result { () throws(HTTPParseError) in try parser.next(buffer, requestMethod: method) }
    }
}

/// The error of `result`, if it failed.
func failure<T>(_ result: Result<T, HTTPParseError>) -> HTTPParseError? {
    if case .failure(let error) = result { return error }
    return nil
}
