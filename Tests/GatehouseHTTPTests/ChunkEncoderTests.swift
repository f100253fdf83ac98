import Foundation
import GatehouseHTTP
import Testing

/// The chunk encoder, checked byte for byte and by round trips: through the project's own decoder (both parsers,
/// fed whole and in pieces) and through two decoders that share no code with it (Python's `http.client` reading
/// from a socket, and the third-party suite's strict `httpcheck.decode_chunked`).
@Suite("Chunk encoder")
struct ChunkEncoderTests {
    /// Body sizes around the hex digit boundaries and the buffer sizes that matter (16 KiB TLS records,
    /// 64 KiB evbuffer reads), up to 70000 bytes.
    static let sizes = [0, 1, 2, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 16384, 65535, 65536, 65537, 70000]
    /// Chunk sizes a body is cut into (nil: one chunk); one-byte chunks only for the smaller bodies.
    static let splits: [Int?] = [nil, 1, 7, 4096, 16384]
    static let trailerSets: [[(String, String)]] = [[], [("X-Checksum", "sha256=abc"), ("Server-Timing", "db;dur=53")]]

    /// Payload bytes: every byte value, CR, LF and a fake last chunk (`0\r\n\r\n`) included, in no simple period.
    static let pattern: [UInt8] = {
        let fake = Array("0\r\n\r\n".utf8)
        return (0..<70000).map { i in i % 97 < fake.count ? fake[i % 97] : UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8) }
    }()

    /// One round-trip case: a payload, how it is cut into chunks, and the trailers after it.
    struct Case: CustomStringConvertible {
        let size: Int
        let split: Int?
        let trailers: [(String, String)]

        var description: String { "size \(size), split \(split.map(String.init) ?? "whole"), \(trailers.count) trailers" }

        var payload: [UInt8] { Array(ChunkEncoderTests.pattern[..<size]) }

        var trailerFields: HeaderFields {
            var fields = HeaderFields()
            for (name, value) in trailers { fields.append(name: name, value: value) }
            return fields
        }

        /// The payload as chunks of `split` bytes (the last one shorter), then the last chunk with the trailers.
        var body: [UInt8] {
            var out: [UInt8] = []
            let data = payload
            let step = split ?? max(size, 1)
            data.withUnsafeBytes { raw in
                for start in stride(from: 0, to: size, by: step) {
                    ChunkEncoder.appendChunk(UnsafeRawBufferPointer(rebasing: raw[start..<min(start + step, size)]), to: &out)
                }
            }
            ChunkEncoder.appendLastChunk(trailers: trailerFields, to: &out)
            return out
        }

        var trailerLines: [String] { trailers.map { "\($0.0): \($0.1)" } }
    }

    static var cases: [Case] {
        sizes.flatMap { size in
            splits.filter { split in split.map { $0 < size && ($0 > 1 || size <= 4097) } ?? true }.flatMap { split in
                trailerSets.map { Case(size: size, split: split, trailers: $0) }
            }
        }
    }

    @Test("chunk sizes are lowercase hex without leading zeros")
    func hex() {
        for (value, expected) in [(0, "0"), (1, "1"), (15, "f"), (16, "10"), (0x1a2b, "1a2b"), (70000, "11170"),
                                  (Int.max, "7fffffffffffffff")] {
            var out: [UInt8] = []
            ChunkEncoder.appendHex(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == expected)
        }
    }

    @Test("framing bytes: size line, data CRLF, last chunk, trailers, final CRLF")
    func bytes() {
        var out: [UInt8] = []
        Array("hello, world!!!!!".utf8).withUnsafeBytes { ChunkEncoder.appendChunk($0, to: &out) }
        ChunkEncoder.appendChunk(UnsafeRawBufferPointer(start: nil, count: 0), to: &out)  // nothing: would end the body
        ChunkEncoder.appendHeader(size: 3, to: &out)
        out.append(contentsOf: "abc".utf8)
        ChunkEncoder.appendDataEnd(to: &out)
        var trailers = HeaderFields()
        trailers.append(name: "X-Keep", value: "1")
        trailers.append(name: "X-Drop", value: "2")
        trailers.append(name: "Server-Timing", value: "a;dur=1")
        ChunkEncoder.appendLastChunk(trailers: trailers, keeping: { fields, index in !fields.nameEquals(index, "x-drop") },
                                     to: &out)
        #expect(String(decoding: out, as: UTF8.self)
            == "11\r\nhello, world!!!!!\r\n3\r\nabc\r\n0\r\nX-Keep: 1\r\nServer-Timing: a;dur=1\r\n\r\n")
        var empty: [UInt8] = []
        ChunkEncoder.appendLastChunk(to: &empty)
        #expect(String(decoding: empty, as: UTF8.self) == "0\r\n\r\n")
    }

    @Test("appending reuses the caller's buffer: no growth once it has the capacity")
    func reusesScratch() {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(256)
        let base = scratch.withUnsafeBufferPointer { $0.baseAddress }
        var trailers = HeaderFields()
        trailers.append(name: "X-Checksum", value: "sha256=abc")
        for size in [1, 0xffff, Int.max] {
            scratch.removeAll(keepingCapacity: true)
            ChunkEncoder.appendHeader(size: size, to: &scratch)
            ChunkEncoder.appendLastChunk(trailers: trailers, to: &scratch)
            #expect(scratch.withUnsafeBufferPointer { $0.baseAddress } == base)
        }
    }

    @Test("round trip through the response and the request parser, whole and in pieces")
    func ownDecoder() {
        for testCase in Self.cases {
            let body = testCase.body
            let response = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + body
            let request = Array("POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + body
            // Arrivals of 5, 1, then 4093 bytes at a time: splits land inside size lines, data and trailers.
            for pieces in [[Int.max], [5, 1, 4093]] {
                var responses = ResponseParser(limits: HTTPLimits())
                let fromResponse = DripFeed.feed(response, pieces: pieces, closeAtEnd: nil) { (input, _) throws(HTTPParseError) in
                    try responses.next(input, requestMethod: .get)
                }
                var limits = HTTPLimits()
                limits.maxBody = 1 << 20
                var requests = RequestParser(limits: limits)
                let fromRequest = DripFeed.feed(request, pieces: pieces, closeAtEnd: nil) { (input, _) throws(HTTPParseError) in
                    try requests.next(input)
                }
                for transcript in [fromResponse, fromRequest] {
                    #expect(transcript.error == nil, "\(testCase), pieces \(pieces)")
                    #expect(transcript.leftover == 0, "\(testCase), pieces \(pieces)")
                    #expect(transcript.messages.count == 1, "\(testCase), pieces \(pieces)")
                    guard let message = transcript.messages.first else { continue }
                    #expect(message.ended, "\(testCase), pieces \(pieces)")
                    #expect(message.body == testCase.payload, "\(testCase), pieces \(pieces)")
                    #expect(message.trailers == testCase.trailerLines, "\(testCase), pieces \(pieces)")
                }
            }
        }
    }

    /// Reads each case's response with `http.client` over a socketpair and with the strict decoder of
    /// Tests/ThirdParty/httpcheck.py; prints one verdict line per case.
    static let pythonReader = """
        import http.client, socket, sys, threading
        sys.path.insert(0, sys.argv[1])
        import httpcheck
        source = open(sys.argv[2], "rb")
        while True:
            line = source.readline()
            if not line:
                break
            payload_length, message_length = map(int, line.split())
            payload = source.read(payload_length)
            message = source.read(message_length)
            writer, reader = socket.socketpair()
            def send():
                writer.sendall(message)
                writer.shutdown(socket.SHUT_WR)
            sending = threading.Thread(target=send)
            sending.start()
            try:
                response = http.client.HTTPResponse(reader)
                response.begin()
                body = response.read()
                reading = f"http.client {'ok' if body == payload else f'differs ({len(body)} bytes)'}"
            except (http.client.HTTPException, ValueError) as error:
                reading = f"http.client refused: {error!r:.80}"
            reader.shutdown(socket.SHUT_RD)
            sending.join()
            writer.close()
            reader.close()
            try:
                strict, trailers, after = httpcheck.decode_chunked(message.partition(b"\\r\\n\\r\\n")[2])
                verdict = f"strict {'ok' if strict == payload else f'differs ({len(strict)} bytes)'}; " \\
                          f"trailers {[t.decode('latin-1') for t in trailers]}; after {len(after)}"
            except ValueError as error:
                verdict = f"strict refused: {error}"
            print(f"{reading}; {verdict}", flush=True)
        """

    @Test("round trip through Python's http.client (from a socket) and a strict independent decoder")
    func independentDecoders() throws {
        let cases = Self.cases
        var input: [UInt8] = []
        for testCase in cases {
            let message = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + testCase.body
            input += Array("\(testCase.size) \(message.count)\n".utf8) + testCase.payload + message
        }
        let thirdParty = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ThirdParty").path
        // The cases go through a file, not a pipe: a reader that dies early cannot take this process with it.
        let casesFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("chunk-encoder-cases-\(getpid()).bin")
        try Data(input).write(to: casesFile)
        defer { try? FileManager.default.removeItem(at: casesFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.pythonReader, thirdParty, casesFile.path]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Verdicts are short and stderr is read after stdout: both fit a pipe's buffer, no deadlock.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3: \(String(decoding: errors, as: UTF8.self))")
        let verdicts = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(verdicts.count == cases.count)
        for (testCase, verdict) in zip(cases, verdicts) {
            let trailers = "[" + testCase.trailerLines.map { "'\($0)'" }.joined(separator: ", ") + "]"
            #expect(verdict == "http.client ok; strict ok; trailers \(trailers); after 0", "\(testCase)")
        }
    }
}
