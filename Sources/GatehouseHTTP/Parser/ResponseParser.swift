/// The strict, incremental HTTP/1.1 response parser, one per upstream connection.
///
/// Same contract as `RequestParser` (input split anywhere, `consumed` to drop, payload as ranges),
/// with the response rules of RFC 9112 section 6.3 for framing: no body for a HEAD request or a
/// 1xx/204/304 status; `chunked`; Content-Length; otherwise the body runs until the upstream
/// closes, which the caller reports with `inputClosed()`.
///
/// A 1xx head (100 Continue, 101 Switching Protocols) is reported on its own with framing `.none`
/// and is *not* followed by `.end`: the final response head comes next. After a 101 the caller
/// stops using the parser (the connection is no longer HTTP).
///
/// Every refusal has status 502: a malformed response is the upstream's fault, never the client's.
/// After a refusal the parser is spent and throws the same error again.
package struct ResponseParser {
    /// What the parser is doing.
    private enum State {
        /// Reading a head (possibly not a byte of it yet).
        case head
        /// A final head was returned; delimiting its body (or reporting the end of a body-less one).
        case body
        /// A refusal was thrown; it is thrown again on every call.
        case failed(HTTPParseError)
    }

    private var state = State.head
    /// A 1xx head was reported and the final head has not begun: the exchange is under way.
    private var awaitingFinalHead = false
    private var scanner: HeadScanner
    private var body: BodyDecoder

    /// A parser for a new upstream connection.
    ///
    /// - Parameter limits: `maxRequestLine` bounds the status line, `maxHead`/`maxHeaderCount` the
    ///   head, `maxChunkLine`/`maxTrailers` the chunked framing. `maxBody` does not apply: response
    ///   bodies are streamed, never buffered.
    package init(limits: HTTPLimits) {
        scanner = HeadScanner(
            limits: HeadScanner.Limits(
                hasStartLine: true,
                maxStartLine: limits.maxRequestLine,
                maxBytes: limits.maxHead,
                maxFields: limits.maxHeaderCount,
                // RFC 9112 2.2 tolerates empty lines before a request line only.
                maxLeadingEmptyLines: 0,
                startLineTooLong: .statusLineTooLong,
                tooLarge: .headTooLarge,
                tooManyFields: .tooManyFields))
        body = BodyDecoder(limits: limits, forRequests: false)
    }

    /// Parses as much of `input` as makes one event.
    ///
    /// - Parameters:
    ///   - input: The bytes received and not yet consumed, borrowed for this call only.
    ///   - requestMethod: The method of the request being answered; it matters only when a head
    ///     completes (a HEAD request's response has no body whatever its headers say).
    /// - Returns: `.responseHead`, then `.body`/`.needMore` events and `.end` (none after a 1xx head).
    /// - Throws: `HTTPParseError` with status 502; the upstream connection must then be closed.
    package mutating func next(
        _ input: UnsafeRawBufferPointer, requestMethod: KnownMethod
    ) throws(HTTPParseError) -> ParseEvent {
        do throws(HTTPParseError) {
            switch state {
            case .failed(let error):
                throw error
            case .head:
                switch try scanner.scan(input) {
                case .needMore(let consumed):
                    return .needMore(consumed: consumed)
                case .complete(let bytes, let fieldCount, let consumed):
                    let head = try ResponseHead(
                        parsing: bytes, fieldCount: fieldCount, requestMethod: requestMethod,
                        reusing: scanner.takeFieldArray())
                    scanner.recycle(fields: head.headers.fields)
                    awaitingFinalHead = head.status < 200
                    if !awaitingFinalHead {
                        body.start(head.framing)
                        state = .body
                    }
                    return .responseHead(head, consumed: consumed)
                }
            case .body:
                let event = try body.nextEvent(input)
                if case .end = event { state = .head }
                return event
            }
        } catch {
            let upstreamError = error.asUpstream
            state = .failed(upstreamError)
            throw upstreamError
        }
    }

    /// True when no byte of a response is pending and no final head is awaited: the parser is then as a new one
    /// (the upstream pool keeps it for the connection's next exchange instead of building another).
    package var isBetweenMessages: Bool {
        switch state {
        case .head: return !scanner.hasConsumedBytes && !awaitingFinalHead
        case .body, .failed: return false
        }
    }

    /// Readies the parser for the connection's next response: kept when between messages, else replaced by a new
    /// one with `limits`. Mutating, so a caller holding the parser in a class property works on it in place (a
    /// read of `isBetweenMessages` from there copies the whole parser out first).
    package mutating func prepareForNextResponse(limits: HTTPLimits) {
        if !isBetweenMessages { self = ResponseParser(limits: limits) }
    }

    /// Reports that the upstream closed the connection (after every received byte was passed to `next`).
    ///
    /// - Returns: `.end` when that close completes the message (a body delimited by the close, or a
    ///   complete body whose end was not reported yet); `.needMore(consumed: 0)` when no byte of a
    ///   response had arrived (the caller decides whether an unanswered request may be retried).
    /// - Throws: "upstream-truncated" (502) when a head, a length-/chunk-delimited body, or the
    ///   final response after a 1xx was cut short.
    package mutating func inputClosed() throws(HTTPParseError) -> ParseEvent {
        switch state {
        case .failed(let error):
            throw error
        case .head:
            if !scanner.hasConsumedBytes && !awaitingFinalHead { return .needMore(consumed: 0) }
        case .body:
            if case .untilClose = body.state {
                state = .head
                return .end(trailers: HeaderFields(), consumed: 0)
            }
            if body.isAtEnd {
                state = .head
                return .end(trailers: HeaderFields(), consumed: 0)
            }
        }
        state = .failed(.upstreamTruncated)
        throw .upstreamTruncated
    }
}
