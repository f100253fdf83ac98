// libFuzzer target: RequestParser (Sources/GatehouseHTTP), built by `scripts/fuzz.sh http-request`.
//
// Input: byte 0 is a control byte, the rest are the bytes a client sends on one connection.
// The control byte picks the offset of the single split in the third feeding mode.
//
// The wire bytes go through three fresh parsers: whole, one byte per arrival (the caller keeps the
// unconsumed bytes and appends the next one), and split once. Besides "no crash", it checks:
// - every `consumed` lies within the bytes given, every payload range lies within them and is not
//   empty, every call makes progress, events come in the documented order, a refused parser stays
//   refused (Fuzz/Shared/HTTPFeed.swift);
// - the three runs agree exactly: the same heads (every field of RequestHead, head bytes included),
//   the same body bytes per message, the same trailers and ends, or the same error status+reason;
// - each head is self-consistent: ranges inside its bytes, the normalised path is canonical
//   (normalising it again changes nothing), HTTP/1.1 has a Host, Content-Length within maxBody;
// - each body respects its framing: none means empty, a length is met exactly when the message
//   ends, and no body exceeds maxBody.

/// Everything a RequestHead says, for comparing runs.
struct RequestSummary: Equatable, CustomStringConvertible {
    var bytes: [UInt8]
    var method: KnownMethod
    var methodRange: Range<Int>
    var targetForm: TargetForm
    var targetRange: Range<Int>
    var targetAuthorityRange: Range<Int>?
    var normalizedPath: [UInt8]
    var queryRange: Range<Int>
    var version: HTTPVersion
    var fields: [HeaderFields.Field]
    var hostRange: Range<Int>?
    var framing: BodyFraming
    var keepAlive: Bool
    var expectsContinue: Bool
    var wantsUpgrade: Bool
    var connectionTokens: [Range<Int>]

    init(_ head: RequestHead) {
        bytes = head.bytes
        method = head.method
        methodRange = head.methodRange
        targetForm = head.targetForm
        targetRange = head.targetRange
        targetAuthorityRange = head.targetAuthorityRange
        normalizedPath = head.normalizedPath
        queryRange = head.queryRange
        version = head.version
        fields = head.headers.fields
        hostRange = head.hostRange
        framing = head.framing
        keepAlive = head.keepAlive
        expectsContinue = head.expectsContinue
        wantsUpgrade = head.wantsUpgrade
        connectionTokens = head.connectionTokens
    }

    var description: String {
        let target = String(decoding: bytes[targetRange], as: UTF8.self)
        let path = String(decoding: normalizedPath, as: UTF8.self)
        return "\(method) \(target) path=\(path) \(version) framing=\(framing) keepAlive=\(keepAlive) "
            + "fields=\(fields.count) headBytes=\(bytes.count)"
    }
}

let limits = fuzzLimits()

/// Checks what must hold for every head the parser returns.
func checkHead(_ head: RequestHead) {
    let n = head.bytes.count
    checkRange(head.methodRange, n, "method")
    checkRange(head.targetRange, n, "target")
    checkRange(head.targetAuthorityRange, n, "target authority")
    checkRange(head.queryRange, n, "query")
    checkRange(head.hostRange, n, "host")
    for field in head.headers.fields {
        checkRange(field.name, head.headers.storage.count, "field name")
        checkRange(field.value, head.headers.storage.count, "field value")
        fuzzCheck(!field.name.isEmpty, "empty field name")
    }
    for token in head.connectionTokens { checkRange(token, n, "connection token") }
    fuzzCheck(head.methodRange.lowerBound == 0 && !head.methodRange.isEmpty, "method range \(head.methodRange)")
    fuzzCheck(!head.targetRange.isEmpty, "empty target")
    fuzzCheck(head.bytes.suffix(4) == [0x0D, 0x0A, 0x0D, 0x0A], "head does not end in CRLF CRLF")
    fuzzCheck(head.version == .http10 || head.hostRange != nil, "HTTP/1.1 head without Host")
    fuzzCheck(head.method != .connect, "CONNECT accepted")

    switch head.framing {
    case .length(let length): fuzzCheck(length >= 0 && length <= limits.maxBody, "Content-Length \(length) accepted")
    case .untilClose: fatalError("fuzz invariant violated: a request delimited by close")
    case .none, .chunked: break
    }
    if head.framing == .chunked { fuzzCheck(head.version == .http11, "chunked on HTTP/1.0") }

    // The normalised path is the one canonical form: normalising it again is the identity.
    switch head.targetForm {
    case .asterisk:
        fuzzCheck(head.normalizedPath == [UInt8(ascii: "*")], "asterisk-form path")
        fuzzCheck(head.method == .options, "asterisk-form on \(head.method)")
    case .origin, .absolute, .authority:
        fuzzCheck(head.normalizedPath.first == UInt8(ascii: "/"), "path without leading slash")
        let again = Result { () throws(HTTPParseError) in try PathNormalizer.normalize(head.normalizedPath[...]) }
        guard case .success(let twice) = again, twice == head.normalizedPath else {
            let path = String(decoding: head.normalizedPath, as: UTF8.self)
            let result = again.map { String(decoding: $0, as: UTF8.self) }
            fatalError("fuzz invariant violated: normalised path \(path) is not canonical: normalising it again gives \(result)")
        }
    }
}

/// Checks each message's body against its framing and the body limit.
func checkBodies(_ transcript: FuzzTranscript<RequestSummary>) {
    for message in transcript.messages {
        fuzzCheck(message.body.count <= limits.maxBody, "body of \(message.body.count) bytes accepted")
        switch message.head.framing {
        case .none:
            fuzzCheck(message.body.isEmpty && message.trailers.isEmpty, "payload without framing")
        case .length(let length):
            fuzzCheck(message.body.count <= length, "more payload than Content-Length")
            if message.ended { fuzzCheck(message.body.count == length, "ended short of Content-Length") }
            fuzzCheck(message.trailers.isEmpty, "trailers without chunked")
        case .chunked, .untilClose:
            break
        }
    }
}

func requestHooks() -> FuzzParserHooks<RequestSummary> {
    var parser = RequestParser(limits: limits)
    return FuzzParserHooks(
        next: { (input) throws(HTTPParseError) in try parser.next(input) },
        close: nil,
        head: { event in
            guard case .requestHead(let head, let consumed) = event else { return nil }
            checkHead(head)
            return (RequestSummary(head), consumed, false)
        },
        betweenMessages: { parser.isBetweenMessages })
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let control = bytes[0]
    let wire = Array(bytes[1...])[...]
    let transcript = feedThreeWays(wire, split: splitOffset(control, of: wire.count), makeHooks: requestHooks)
    checkBodies(transcript)
    return 0
}
