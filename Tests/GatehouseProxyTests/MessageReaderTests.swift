import GatehouseHTTP
@testable import GatehouseProxy
import Testing

/// Input held in runs cut where a test says, as libevent's chains cut a connection's input.
final class RunInput: MessageInput {
    private(set) var runs: [[UInt8]]
    private(set) var joins = 0

    init(_ bytes: [UInt8], cuts: [Int]) {
        var runs: [[UInt8]] = []
        var start = 0
        for cut in cuts.sorted() + [bytes.count] where cut > start && cut <= bytes.count {
            runs.append(Array(bytes[start..<cut]))
            start = cut
        }
        self.runs = runs
    }

    var inputCount: Int { runs.reduce(0) { $0 + $1.count } }

    func withUnsafeInputBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        (runs.first ?? []).withUnsafeBytes(body)
    }

    func discardInput(_ count: Int) {
        var left = count
        while left > 0, !runs.isEmpty {
            let take = min(left, runs[0].count)
            runs[0].removeFirst(take)
            if runs[0].isEmpty { runs.removeFirst() }
            left -= take
        }
    }

    func makeInputContiguous(_ count: Int) {
        joins += 1
        var joined: [UInt8] = []
        while joined.count < count, !runs.isEmpty { joined += runs.removeFirst() }
        runs.insert(joined, at: 0)
    }
}

/// What a reader got out of some input, read the way the connection reads it.
struct ReadMessages: Equatable {
    var heads = 0
    var bodies: [[UInt8]] = []
    var trailers: [[String]] = []
    var error: String?
}

@Suite("Message reader (the parse step shared by every reader)")
struct MessageReaderTests {
    /// Reads `input` until the reader reports it needs more, dropping what every event consumed.
    func readAll(_ input: RunInput, _ parse: (UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseEvent) -> ReadMessages {
        var read = ReadMessages()
        while true {
            switch MessageReader.next(from: input, parse) {
            case .failure(let error):
                read.error = error.reason
                return read
            case .success(.needMore(let consumed)):
                #expect(consumed == 0, "a returned needMore has its bytes dropped already")
                return read
            case .success(.requestHead(_, let consumed)), .success(.responseHead(_, let consumed)):
                read.heads += 1
                read.bodies.append([])
                input.discardInput(consumed)
            case .success(.body(let payload)):
                input.withUnsafeInputBytes { read.bodies[read.bodies.count - 1] += $0[payload] }
                input.discardInput(payload.upperBound)
            case .success(.end(let fields, let consumed)):
                read.trailers.append(fields.fields.indices.map { "\(fields.name(at: $0)): \(fields.value(at: $0))" })
                input.discardInput(consumed)
            }
        }
    }

    static let requests = Array(("POST /a HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"
        + "GET /b HTTP/1.1\r\nHost: a.test\r\n\r\n"
        + "POST /c HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc").utf8)

    static let expectedRequests = ReadMessages(heads: 3, bodies: [Array("hello, world".utf8), [], Array("abc".utf8)],
                                               trailers: [["X-Sum: 1"], [], []])

    @Test("pipelined requests cut into two runs at every byte are read whole, nothing left waiting")
    func requestsCutAnywhere() {
        for cut in 0...Self.requests.count {
            let input = RunInput(Self.requests, cuts: [cut])
            var parser = RequestParser(limits: HTTPLimits())
            let read = readAll(input) { bytes throws(HTTPParseError) in try parser.next(bytes) }
            #expect(read == Self.expectedRequests, "cut at \(cut)")
            #expect(input.inputCount == 0, "cut at \(cut)")
        }
    }

    @Test("three runs, cuts one to seven bytes apart (inside size lines, CRLFs, trailers and heads)")
    func requestsInThreeRuns() {
        for first in 0..<Self.requests.count {
            for gap in 1...7 {
                let input = RunInput(Self.requests, cuts: [first, first + gap])
                var parser = RequestParser(limits: HTTPLimits())
                let read = readAll(input) { bytes throws(HTTPParseError) in try parser.next(bytes) }
                #expect(read == Self.expectedRequests, "cuts at \(first), \(first + gap)")
            }
        }
    }

    @Test("a chunked response with trailers cut at every byte")
    func responseCutAnywhere() {
        let response = Array(("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nServer-Timing: db;dur=5\r\n\r\n").utf8)
        for cut in 0...response.count {
            let input = RunInput(response, cuts: [cut])
            var parser = ResponseParser(limits: HTTPLimits())
            let read = readAll(input) { bytes throws(HTTPParseError) in try parser.next(bytes, requestMethod: .get) }
            #expect(read == ReadMessages(heads: 1, bodies: [Array("abc0123456789abcdef".utf8)],
                                         trailers: [["Server-Timing: db;dur=5"]]), "cut at \(cut)")
            #expect(input.inputCount == 0, "cut at \(cut)")
        }
    }

    @Test("a parser that keeps bytes back gets them joined to the next runs, once; then it waits")
    func joinsWhatIsKeptBack() {
        let input = RunInput(Array("0123456789ab".utf8), cuts: [3, 6])
        var calls = 0
        // Consumes nothing until it sees ten bytes at once, then reports a message of ten.
        let wantsTen = { (bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseEvent in
            calls += 1
            return bytes.count >= 10 ? .end(trailers: HeaderFields(), consumed: 10) : .needMore(consumed: 0)
        }
        let step = MessageReader.next(from: input, wantsTen)
        guard case .success(.end(_, 10)) = step else {
            Issue.record("expected the end, got \(step)")
            return
        }
        #expect(calls == 2)
        #expect(input.joins == 1)
        input.discardInput(10)
        let rest = MessageReader.next(from: input, wantsTen)
        guard case .success(.needMore(0)) = rest else {
            Issue.record("expected needMore, got \(rest)")
            return
        }
        #expect(input.runs == [Array("ab".utf8)], "all of it seen, kept, nothing joined in vain")
        #expect(input.joins == 1)
    }

    @Test("an incomplete message waits with what the parser took dropped")
    func waitsForMore() {
        let head = Array("GET / HTTP/1.1\r\nHost: a".utf8)
        let input = RunInput(head, cuts: [5, 9])
        var parser = RequestParser(limits: HTTPLimits())
        let read = readAll(input) { bytes throws(HTTPParseError) in try parser.next(bytes) }
        #expect(read == ReadMessages())
        #expect(input.inputCount == 0, "the head scanner keeps a partial head itself")

        let body = Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1".utf8)
        let partial = RunInput(body, cuts: [body.count - 3])
        var requests = RequestParser(limits: HTTPLimits())
        let got = readAll(partial) { bytes throws(HTTPParseError) in try requests.next(bytes) }
        #expect(got == ReadMessages(heads: 1, bodies: [Array("abc".utf8)]))
        #expect(partial.inputCount == 0, "the size line's first digit was consumed")
    }

    @Test("a refusal comes back as the parser threw it")
    func refusal() {
        let input = RunInput(Array("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8), cuts: [30])
        var parser = RequestParser(limits: HTTPLimits())
        let read = readAll(input) { bytes throws(HTTPParseError) in try parser.next(bytes) }
        #expect(read.heads == 1)
        #expect(read.error == "invalid-chunk-size")
    }
}
