/// The strict, incremental HTTP/1.1 request parser (RFC 9112), one per client connection.
///
/// Feed it whatever bytes have arrived; it reports what they complete. Input may be split at any
/// byte. The caller drops the `consumed` bytes of each event and calls again with what is left plus
/// what arrived since; the parser keeps the bytes of an unfinished head itself (its buffer's
/// capacity is reused across messages), so the caller never has to hold more than one read.
///
/// Events of one message, in order:
/// ```
/// .needMore* .requestHead .(body | needMore)* .end      then the next pipelined request
/// ```
/// `.end` comes on the call after the head for a message without body (`.none`, `.length(0)`),
/// with `consumed: 0`. Body payload is never copied: `.body(payload:)` is a range of the input.
///
/// Every refusal is an `HTTPParseError` carrying the status to answer (400, 413, 414, 417, 431,
/// 501, 505) and a stable reason. After a refusal the parser is spent: every later call throws the
/// same error, because the framing of the connection can no longer be trusted.
///
/// Memory is bounded by `HTTPLimits.maxHead` (head) and `maxTrailers` (trailers); time is linear
/// in the input, each byte being scanned a constant number of times.
package struct RequestParser {
    /// What the parser is doing.
    private enum State {
        /// Reading a head (possibly not a byte of it yet).
        case head
        /// A head was returned; delimiting its body (or reporting the end of a body-less message).
        case body
        /// A refusal was thrown; it is thrown again on every call.
        case failed(HTTPParseError)
    }

    private let limits: HTTPLimits
    private var state = State.head
    private var scanner: HeadScanner
    private var body: BodyDecoder

    /// A parser for a new connection.
    ///
    /// - Parameter limits: Every bound the parser enforces.
    package init(limits: HTTPLimits) {
        self.limits = limits
        scanner = HeadScanner(
            limits: HeadScanner.Limits(
                hasStartLine: true,
                maxStartLine: limits.maxRequestLine,
                maxBytes: limits.maxHead,
                maxFields: limits.maxHeaderCount,
                maxLeadingEmptyLines: Self.maxLeadingEmptyLines,
                startLineTooLong: .requestLineTooLong,
                tooLarge: .headTooLarge,
                tooManyFields: .tooManyFields))
        body = BodyDecoder(limits: limits, forRequests: true)
    }

    /// Empty lines (CRLF) ignored before a request line (RFC 9112 2.2 asks for at least one; some
    /// clients send a stray CRLF after a POST body). More than this is refused.
    static let maxLeadingEmptyLines = 4

    /// True when no byte of a next request has been consumed: the connection is idle.
    ///
    /// The caller uses it to choose between the idle timeout and the header-read deadline. A
    /// skipped empty line counts as a started request, so the (shorter) header deadline applies.
    package var isBetweenMessages: Bool {
        switch state {
        case .head: return !scanner.hasConsumedBytes
        case .body, .failed: return false
        }
    }

    /// Parses as much of `input` as makes one event.
    ///
    /// - Parameter input: The bytes received and not yet consumed, borrowed for this call only.
    /// - Returns: The next event; see the type's documentation for the order.
    /// - Throws: `HTTPParseError` with the status to answer; the connection must then be closed.
    package mutating func next(_ input: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseEvent {
        do throws(HTTPParseError) {
            switch state {
            case .failed(let error):
                throw error
            case .head:
                switch try scanner.scan(input) {
                case .needMore(let consumed):
                    return .needMore(consumed: consumed)
                case .complete(let bytes, let fieldCount, let consumed):
                    let head = try RequestHead(
                        parsing: bytes, fieldCount: fieldCount, limits: limits, reusing: scanner.takeFieldArray())
                    scanner.recycle(fields: head.headers.fields)
                    body.start(head.framing)
                    state = .body
                    return .requestHead(head, consumed: consumed)
                }
            case .body:
                let event = try body.nextEvent(input)
                if case .end = event { state = .head }
                return event
            }
        } catch {
            state = .failed(error)
            throw error
        }
    }
}
