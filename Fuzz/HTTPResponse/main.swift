// libFuzzer target: ResponseParser (Sources/GatehouseHTTP), built by `scripts/fuzz.sh http-response`.
//
// Input: byte 0 is a control byte, the rest are the bytes an upstream sends on one connection,
// after which it closes. Control bit 0 picks the method of the requests being answered (0: GET,
// 1: HEAD, for every exchange); bits 1-7 pick the offset of the single split in the third mode.
//
// The wire bytes go through three fresh parsers: whole, one byte per arrival (the caller keeps the
// unconsumed bytes and appends the next one), and split once; each run ends with `inputClosed()`.
// Besides "no crash", it checks:
// - every `consumed` lies within the bytes given, every payload range lies within them and is not
//   empty, every call makes progress, events come in the documented order (no body and no `.end`
//   after a 1xx head), `inputClosed()` only ends a message that is open, a refused parser stays
//   refused (Fuzz/Shared/HTTPFeed.swift);
// - the three runs agree exactly: the same heads (every field of ResponseHead, head bytes
//   included), the same body bytes per message, the same trailers and ends, the same outcome of
//   `inputClosed()`, or the same error status+reason;
// - every refusal is a 502; each head is self-consistent (ranges inside its bytes, status
//   100-599, no body for HEAD/1xx/204/304, a body delimited by close is not kept alive);
// - each body respects its framing: none means empty, a length is met exactly when the message
//   ends.

/// Everything a ResponseHead says, for comparing runs.
struct ResponseSummary: Equatable, CustomStringConvertible {
    var bytes: [UInt8]
    var version: HTTPVersion
    var status: Int
    var reasonRange: Range<Int>
    var fields: [HeaderFields.Field]
    var framing: BodyFraming
    var keepAlive: Bool
    var connectionTokens: [Range<Int>]

    init(_ head: ResponseHead) {
        bytes = head.bytes
        version = head.version
        status = head.status
        reasonRange = head.reasonRange
        fields = head.headers.fields
        framing = head.framing
        keepAlive = head.keepAlive
        connectionTokens = head.connectionTokens
    }

    var description: String {
        "\(version) \(status) framing=\(framing) keepAlive=\(keepAlive) fields=\(fields.count) headBytes=\(bytes.count)"
    }
}

let limits = fuzzLimits()

/// Checks what must hold for every head the parser returns.
func checkHead(_ head: ResponseHead, method: KnownMethod) {
    let n = head.bytes.count
    checkRange(head.reasonRange, n, "reason")
    for field in head.headers.fields {
        checkRange(field.name, head.headers.storage.count, "field name")
        checkRange(field.value, head.headers.storage.count, "field value")
        fuzzCheck(!field.name.isEmpty, "empty field name")
    }
    for token in head.connectionTokens { checkRange(token, n, "connection token") }
    fuzzCheck(head.bytes.suffix(4) == [0x0D, 0x0A, 0x0D, 0x0A], "head does not end in CRLF CRLF")
    fuzzCheck((100...599).contains(head.status), "status \(head.status)")
    let bodiless = method == .head || head.status < 200 || head.status == 204 || head.status == 304
    if bodiless { fuzzCheck(head.framing == .none, "framing \(head.framing) for \(method) \(head.status)") }
    if head.framing == .untilClose { fuzzCheck(!head.keepAlive, "keep-alive on a body delimited by close") }
    if head.framing == .chunked { fuzzCheck(head.version == .http11, "chunked on HTTP/1.0") }
}

/// Checks each message's body against its framing.
func checkBodies(_ transcript: FuzzTranscript<ResponseSummary>) {
    for message in transcript.messages {
        switch message.head.framing {
        case .none:
            fuzzCheck(message.body.isEmpty && message.trailers.isEmpty, "payload without framing")
        case .length(let length):
            fuzzCheck(Int64(message.body.count) <= length, "more payload than Content-Length")
            if message.ended { fuzzCheck(Int64(message.body.count) == length, "ended short of Content-Length") }
            fuzzCheck(message.trailers.isEmpty, "trailers without chunked")
        case .untilClose:
            fuzzCheck(message.trailers.isEmpty, "trailers without chunked")
        case .chunked:
            break
        }
    }
    if let error = transcript.error { fuzzCheck(error.status == 502, "upstream refusal \(error) is not a 502") }
}

func responseHooks(method: KnownMethod) -> FuzzParserHooks<ResponseSummary> {
    var parser = ResponseParser(limits: limits)
    return FuzzParserHooks(
        next: { (input) throws(HTTPParseError) in try parser.next(input, requestMethod: method) },
        close: { () throws(HTTPParseError) in try parser.inputClosed() },
        head: { event in
            guard case .responseHead(let head, let consumed) = event else { return nil }
            checkHead(head, method: method)
            return (ResponseSummary(head), consumed, head.status < 200)
        },
        betweenMessages: nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponseParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let control = bytes[0]
    let method: KnownMethod = control & 1 == 0 ? .get : .head
    let wire = Array(bytes[1...])[...]
    let split = Int(control >> 1) * wire.count / 127
    let transcript = feedThreeWays(wire, split: split, makeHooks: { responseHooks(method: method) })
    checkBodies(transcript)
    return 0
}
