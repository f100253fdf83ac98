/// Delimits one message body, shared by the request and the response parser.
///
/// It never copies payload: it reports where payload lies in the caller's input. Chunk framing
/// (size lines, the CRLF after data) is consumed silently; trailers are collected with a
/// `HeadScanner` and parsed with the same field rules as a head.
struct BodyDecoder {
    /// Where the decoder is in the body.
    enum State {
        /// Fixed length: this many payload bytes still to come; at 0 the next call reports the end.
        case fixed(remaining: Int64)
        /// Responses only: everything until the peer closes is payload.
        case untilClose
        /// Inside a chunk-size line.
        case chunkLine(ChunkLine)
        /// Inside chunk data; this many bytes of it still to come.
        case chunkData(remaining: Int64)
        /// Chunk data done; its CR must follow.
        case chunkDataCR
        /// CR after chunk data seen; LF must follow.
        case chunkDataLF
        /// After the last chunk: reading the trailer section.
        case trailers
    }

    /// What one call produced.
    enum Step {
        /// `input[range]` is payload; everything before `range.upperBound` is consumed.
        case payload(Range<Int>)
        /// All input consumed (framing bytes only, or nothing); more is needed.
        case needMore(consumed: Int)
        /// The body is complete.
        case end(trailers: HeaderFields, consumed: Int)
    }

    private(set) var state = State.fixed(remaining: 0)
    /// Chunked payload announced so far, checked against `maxPayload`.
    private var total: Int64 = 0
    /// Largest total payload (requests: `maxBody`); nil for no bound (responses).
    private let maxPayload: Int64?
    private let maxChunkLine: Int
    private var trailerScanner: HeadScanner

    /// What the trailer section is read as (a request's trailers refuse framing fields; a response's drop them).
    private let trailerKind: FieldSection.Kind

    /// - Parameter forRequests: a request body (bounded by `maxBody`; framing fields in its trailers refused), or
    ///   a response body (unbounded; such trailer fields dropped).
    init(limits: HTTPLimits, forRequests: Bool) {
        maxPayload = forRequests ? limits.maxBody : nil
        trailerKind = forRequests ? .trailers : .responseTrailers
        maxChunkLine = limits.maxChunkLine
        trailerScanner = HeadScanner(
            limits: HeadScanner.Limits(
                hasStartLine: false,
                maxStartLine: 0,
                // maxTrailers bounds the field lines; the scanner also counts the final CRLF.
                maxBytes: limits.maxTrailers < Int.max - 2 ? limits.maxTrailers + 2 : Int.max,
                maxFields: limits.maxHeaderCount,
                maxLeadingEmptyLines: 0,
                startLineTooLong: .trailersTooLarge,
                tooLarge: .trailersTooLarge,
                tooManyFields: .tooManyTrailerFields))
    }

    /// Starts a body delimited by `framing` (`.none` behaves as a zero-length body).
    mutating func start(_ framing: BodyFraming) {
        total = 0
        switch framing {
        case .none: state = .fixed(remaining: 0)
        case .length(let length): state = .fixed(remaining: length)
        case .chunked: state = .chunkLine(ChunkLine())
        case .untilClose: state = .untilClose
        }
    }

    /// True when the body is complete but its end not yet reported (so a close now truncates nothing).
    var isAtEnd: Bool {
        if case .fixed(remaining: 0) = state { return true }
        return false
    }

    /// Consumes `input` up to the next payload, the end of the body, or the end of the input.
    mutating func decode(_ input: UnsafeRawBufferPointer) throws(HTTPParseError) -> Step {
        var i = 0
        let n = input.count
        while true {
            switch state {
            case .fixed(let remaining):
                if remaining == 0 { return .end(trailers: HeaderFields(), consumed: i) }
                guard i < n else { return .needMore(consumed: i) }
                let take = Int(min(remaining, Int64(n - i)))
                state = .fixed(remaining: remaining - Int64(take))
                return .payload(i..<(i + take))
            case .untilClose:
                return i < n ? .payload(i..<n) : .needMore(consumed: i)
            case .chunkData(let remaining):
                guard i < n else { return .needMore(consumed: i) }
                let take = Int(min(remaining, Int64(n - i)))
                state = Int64(take) == remaining ? .chunkDataCR : .chunkData(remaining: remaining - Int64(take))
                return .payload(i..<(i + take))
            case .trailers:
                return try decodeTrailers(input, from: i)
            case .chunkLine, .chunkDataCR, .chunkDataLF:
                guard i < n else { return .needMore(consumed: i) }
                try feedFraming(input[i])
                i += 1
            }
        }
    }

    /// One byte of chunk framing (size line or the CRLF after data).
    private mutating func feedFraming(_ b: UInt8) throws(HTTPParseError) {
        switch state {
        case .chunkLine(var line):
            guard try line.feed(b, maxLength: maxChunkLine) else {
                state = .chunkLine(line)
                return
            }
            if line.size == 0 {
                trailerScanner.reset()
                state = .trailers
                return
            }
            if let maxPayload {
                if line.size > maxPayload - total { throw .bodyTooLarge }
                total += line.size  // cannot overflow: total <= maxPayload
            }
            state = .chunkData(remaining: line.size)
        case .chunkDataCR:
            guard b == ASCII.cr else { throw .missingChunkCRLF }
            state = .chunkDataLF
        case .chunkDataLF:
            guard b == ASCII.lf else { throw .missingChunkCRLF }
            state = .chunkLine(ChunkLine())
        case .fixed, .untilClose, .chunkData, .trailers:
            break
        }
    }

    private mutating func decodeTrailers(
        _ input: UnsafeRawBufferPointer, from i: Int
    ) throws(HTTPParseError) -> Step {
        let rest = UnsafeRawBufferPointer(rebasing: input[i...])
        switch try trailerScanner.scan(rest) {
        case .needMore(let consumed):
            return .needMore(consumed: i + consumed)
        case .complete(let bytes, let fieldCount, let consumed):
            var facts = FieldFacts()
            let fields = try FieldSection.parse(
                bytes, from: 0, expectedCount: fieldCount, kind: trailerKind, facts: &facts)
            state = .fixed(remaining: 0)
            let trailers = fields.isEmpty ? HeaderFields() : HeaderFields(storage: bytes, fields: fields)
            return .end(trailers: trailers, consumed: i + consumed)
        }
    }
}

extension BodyDecoder {
    /// One body step as the parsers report it (both parsers share this; each resets its own state on `.end`).
    mutating func nextEvent(_ input: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseEvent {
        switch try decode(input) {
        case .payload(let range): return .body(payload: range)
        case .needMore(let consumed): return .needMore(consumed: consumed)
        case .end(let trailers, let consumed): return .end(trailers: trailers, consumed: consumed)
        }
    }
}
