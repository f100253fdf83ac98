// Shared by the HTTPRequest and HTTPResponse fuzz targets (compiled into each, together with every
// file of Sources/GatehouseHTTP, as one module: see scripts/fuzz.sh).
//
// `feed` drives a parser the way a connection does (Tests/GatehouseHTTPTests/DripFeed.swift): bytes
// arrive in pieces, the caller drops what each event consumed, keeps the rest and appends the next
// piece. On the way it checks the event contract, and it records a transcript that every way of
// splitting the same input must reproduce exactly. A violated check traps (`fuzzCheck`), which
// libFuzzer reports as a crash with the input saved.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `FUZZ_PRINT=1 .build-fuzz/<target> FILE` prints the transcript of each input (for seeds and
/// reproducers); off while fuzzing.
let fuzzPrint = getenv("FUZZ_PRINT") != nil

/// The limits every HTTP target uses: small, so that the fuzzer reaches each bound with inputs of a
/// few kilobytes (`-max_len=8192`).
func fuzzLimits() -> HTTPLimits {
    var limits = HTTPLimits()
    limits.maxRequestLine = 512
    limits.maxHead = 4096
    limits.maxHeaderCount = 24
    limits.maxBody = 4096
    limits.maxChunkLine = 64
    limits.maxTrailers = 512
    return limits
}

/// Traps with a message on stderr when `condition` is false. `precondition` would do the same, but
/// this spells out that the check is the point of the harness and survives every optimisation level.
@inline(__always)
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz invariant violated: \(message())") }
}

/// One message as every feeding mode must see it.
struct FuzzMessage<Head: Equatable>: Equatable {
    var head: Head
    /// A 1xx response head: no body and no `.end` follow, the next head does.
    var interim: Bool
    /// Every payload byte, concatenated (the pieces differ between modes; the bytes may not).
    var body: [UInt8] = []
    /// Trailer fields as `name ":" value` bytes.
    var trailers: [[UInt8]] = []
    var ended = false
}

/// What `inputClosed()` returned (responses only).
enum FuzzCloseOutcome: Equatable {
    case notCalled
    case idle
    case end
}

/// Everything one run produced; compared with `==` across modes.
struct FuzzTranscript<Head: Equatable>: Equatable {
    var messages: [FuzzMessage<Head>] = []
    /// The refusal that ended the run, if any.
    var error: HTTPParseError?
    /// Bytes left unconsumed when the input ran out.
    var leftover = 0
    var close = FuzzCloseOutcome.notCalled
    /// `RequestParser.isBetweenMessages` at the end (always false for responses).
    var betweenMessages = false

    var summary: String {
        var lines: [String] = []
        for (i, m) in messages.enumerated() {
            lines.append(
                "  #\(i) interim=\(m.interim) body=\(m.body.count)B trailers=\(m.trailers.count) ended=\(m.ended)\n"
                    + "     head=\(m.head)")
        }
        lines.append("  error=\(error.map(\.description) ?? "none") leftover=\(leftover) close=\(close) between=\(betweenMessages)")
        return lines.joined(separator: "\n")
    }
}

/// Hooks the request and response targets plug into `feed`.
struct FuzzParserHooks<Head: Equatable> {
    /// One `next` call on the bytes not yet consumed.
    var next: (UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseEvent
    /// `inputClosed()`, for responses; nil for requests.
    var close: (() throws(HTTPParseError) -> ParseEvent)?
    /// Turns a head event into its comparable summary (and checks the head); nil for other events.
    var head: (ParseEvent) -> (summary: Head, consumed: Int, interim: Bool)?
    /// `RequestParser.isBetweenMessages`, read when the input has run out; nil for responses.
    var betweenMessages: (() -> Bool)?
}

/// Feeds `input` in arrivals of `pieces[k]` bytes (the last size repeats) until it is used up or
/// refused, checking the event contract at every call.
func feed<Head: Equatable>(
    _ input: ArraySlice<UInt8>, pieces: [Int], hooks: FuzzParserHooks<Head>
) -> FuzzTranscript<Head> {
    var transcript = FuzzTranscript<Head>()
    var buffer: [UInt8] = []
    buffer.reserveCapacity(min(input.count, 1 << 16))
    var start = 0  // buffer[..<start] is consumed
    var fed = input.startIndex
    var arrivals = 0
    var idleCalls = 0
    // Bounds the loop whatever the parser does: every call must consume a byte, or complete an event
    // that needs none (`.end` after a head), or ask for more.
    var calls = 0
    let maxCalls = 4 * (input.count + 16) + 64

    while true {
        calls += 1
        fuzzCheck(calls <= maxCalls, "parser loops: \(calls) calls for \(input.count) bytes")
        let available = buffer.count - start
        let result = buffer.withUnsafeBytes { all in
            let view = UnsafeRawBufferPointer(rebasing: all[start...])
            return Result { () throws(HTTPParseError) in try hooks.next(view) }
        }
        let event: ParseEvent
        switch result {
        case .failure(let error):
            transcript.error = error
            checkSpent(hooks, error)
            return transcript
        case .success(let e):
            event = e
        }

        var consumed = 0
        switch event {
        case .needMore(let c):
            fuzzCheck(c >= 0 && c <= available, "needMore consumed \(c) of \(available)")
            start += c
            if fed == input.endIndex {
                transcript.leftover = buffer.count - start
                transcript.betweenMessages = hooks.betweenMessages?() ?? false
                if let close = hooks.close { finishClosed(&transcript, close, hooks) }
                return transcript
            }
            let take = min(pieces[min(arrivals, pieces.count - 1)], input.endIndex - fed)
            arrivals += 1
            if start > 0 && start * 2 >= buffer.count {  // the caller drops what was consumed
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: input[fed..<(fed + take)])
            fed += take
            idleCalls = 0
            continue
        case .requestHead, .responseHead:
            guard let (summary, c, interim) = hooks.head(event) else {
                fatalError("fuzz invariant violated: head event of the wrong kind: \(event)")
            }
            fuzzCheck(c > 0 && c <= available, "head consumed \(c) of \(available)")
            if let last = transcript.messages.last {
                fuzzCheck(last.ended || last.interim, "a head before the previous message ended")
            }
            transcript.messages.append(FuzzMessage(head: summary, interim: interim))
            consumed = c
        case .body(let payload):
            fuzzCheck(!payload.isEmpty, "empty payload \(payload)")
            fuzzCheck(payload.lowerBound >= 0 && payload.upperBound <= available,
                "payload \(payload) outside the \(available) bytes given")
            let index = transcript.messages.count - 1
            fuzzCheck(index >= 0 && !transcript.messages[index].ended && !transcript.messages[index].interim,
                "payload outside a message body")
            transcript.messages[index].body.append(
                contentsOf: buffer[(start + payload.lowerBound)..<(start + payload.upperBound)])
            consumed = payload.upperBound
        case .end(let trailers, let c):
            fuzzCheck(c >= 0 && c <= available, "end consumed \(c) of \(available)")
            let index = transcript.messages.count - 1
            fuzzCheck(index >= 0 && !transcript.messages[index].ended && !transcript.messages[index].interim,
                ".end outside a message")
            transcript.messages[index].ended = true
            transcript.messages[index].trailers = fieldLines(trailers)
            consumed = c
        }
        start += consumed
        idleCalls = consumed == 0 ? idleCalls + 1 : 0
        fuzzCheck(idleCalls <= 3, "parser makes no progress")
    }
}

/// After a refusal the parser is spent: every later call throws the same error.
private func checkSpent<Head>(_ hooks: FuzzParserHooks<Head>, _ error: HTTPParseError) {
    let again = Result { () throws(HTTPParseError) in try hooks.next(UnsafeRawBufferPointer(start: nil, count: 0)) }
    guard case .failure(let second) = again, second == error else {
        fatalError("fuzz invariant violated: parser not spent after \(error): \(again)")
    }
}

private func finishClosed<Head>(
    _ transcript: inout FuzzTranscript<Head>, _ close: () throws(HTTPParseError) -> ParseEvent,
    _ hooks: FuzzParserHooks<Head>
) {
    let result = Result { () throws(HTTPParseError) in try close() }
    switch result {
    case .failure(let error):
        transcript.error = error
        checkSpent(hooks, error)
    case .success(.needMore(let consumed)):
        fuzzCheck(consumed == 0, "inputClosed needMore consumed \(consumed)")
        if let last = transcript.messages.last {
            fuzzCheck(last.ended, "inputClosed reported idle inside a message")
        }
        transcript.close = .idle
    case .success(.end(let trailers, let consumed)):
        fuzzCheck(consumed == 0 && trailers.count == 0, "inputClosed end consumed \(consumed)")
        let index = transcript.messages.count - 1
        fuzzCheck(index >= 0 && !transcript.messages[index].ended && !transcript.messages[index].interim,
            "inputClosed ended no message")
        transcript.messages[index].ended = true
        transcript.close = .end
    case .success(let other):
        fatalError("fuzz invariant violated: inputClosed returned \(other)")
    }
}

/// `name ":" value` for every field.
func fieldLines(_ fields: HeaderFields) -> [[UInt8]] {
    fields.fields.map { field in
        checkRange(field.name, fields.storage.count, "trailer name")
        checkRange(field.value, fields.storage.count, "trailer value")
        return Array(fields.storage[field.name]) + [UInt8(ascii: ":")] + Array(fields.storage[field.value])
    }
}

func checkRange(_ range: Range<Int>?, _ count: Int, _ what: String) {
    guard let range else { return }
    fuzzCheck(range.lowerBound >= 0 && range.upperBound <= count, "\(what) range \(range) outside \(count) bytes")
}

/// Runs `input` whole, one byte per arrival and split once at `split`, and checks that the three
/// transcripts agree. Returns the whole-input transcript.
func feedThreeWays<Head: Equatable>(
    _ input: ArraySlice<UInt8>, split: Int, makeHooks: () -> FuzzParserHooks<Head>
) -> FuzzTranscript<Head> {
    let whole = feed(input, pieces: [Int.max], hooks: makeHooks())
    let dripped = feed(input, pieces: [1], hooks: makeHooks())
    if dripped != whole {
        fatalError("fuzz invariant violated: byte-by-byte differs from whole\nwhole:\n\(whole.summary)\nbyte-by-byte:\n\(dripped.summary)")
    }
    let halves = feed(input, pieces: [split, Int.max], hooks: makeHooks())
    if halves != whole {
        fatalError("fuzz invariant violated: split at \(split) differs from whole\nwhole:\n\(whole.summary)\nsplit:\n\(halves.summary)")
    }
    if fuzzPrint { print("\(input.count) wire bytes, split at \(split):\n\(whole.summary)") }
    return whole
}

/// The split offset that control byte `b` selects in `count` wire bytes: 0 (everything in the second
/// arrival) through `count` (everything in the first), spread evenly.
func splitOffset(_ b: UInt8, of count: Int) -> Int {
    Int(b) * count / 255
}
