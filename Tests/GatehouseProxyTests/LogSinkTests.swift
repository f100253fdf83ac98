import Foundation
import GatehouseIO
@testable import GatehouseProxy
import Testing

@Suite("Log sink: a blocked output drops and counts, never blocks the caller")
struct LogSinkTests {
    /// A FIFO whose read end is open but not read: the sink's writer fills the pipe (64 KiB) and then blocks.
    final class BlockedOutput {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logsink-\(UUID().uuidString)")
        let path: String
        let reader: Int32

        init() throws {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            path = directory.appendingPathComponent("out").path
            guard mkfifo(path, 0o600) == 0 else { throw TestFailure("mkfifo failed") }
            reader = open(path, O_RDONLY | O_NONBLOCK)
            guard reader >= 0 else { throw TestFailure("cannot open the FIFO") }
        }

        /// Reads until `count` bytes arrived, nothing came for `quiet` seconds, or 10 s passed.
        func read(upTo count: Int = .max, quiet: Double = 10) -> [UInt8] {
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            let deadline = Date().addingTimeInterval(10)
            var lastByte = Date()
            while received.count < count, Date() < deadline, Date().timeIntervalSince(lastByte) < quiet {
                let n = Glibc.read(reader, &chunk, chunk.count)
                if n > 0 {
                    received += chunk[0..<n]
                    lastByte = Date()
                } else {
                    usleep(1000)
                }
            }
            return received
        }

        deinit {
            close(reader)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test("a reader that stops reading: batches past the queue bound are refused and their lines counted")
    func blockedOutputCountsDroppedLines() throws {
        let output = try BlockedOutput()
        let sink = try LogSink.file(output.path, maxPending: 64 << 10)
        try sink.start()
        let batch = [UInt8](repeating: UInt8(ascii: "x"), count: 8 << 10)
        var refused = 0
        var submitted = 0
        // Pipe (64 KiB) + queue (64 KiB) hold ~16 batches; the rest are refused (a submit that waited for the
        // output would never return: nothing reads it).
        while submitted < 200 {
            if !sink.submit(batch, lines: 10) { refused += 1 }
            submitted += 1
        }
        #expect(refused >= 150, "only \(refused) of \(submitted) batches refused")
        #expect(sink.droppedLines == refused * 10)

        // Reading again lets the writer finish; what it accepted arrives whole.
        #expect(output.read(upTo: (submitted - refused) * batch.count).count == (submitted - refused) * batch.count)
        sink.close()
    }

    @Test("the diagnostics sink says how many lines it lost once its output takes bytes again")
    func droppedLinesAreNoted() throws {
        let output = try BlockedOutput()
        let sink = try LogSink.file(output.path, maxPending: 16 << 10, notesDrops: true)
        try sink.start()
        let line = Array((String(repeating: "x", count: 1023) + "\n").utf8)
        var refused = 0
        for _ in 0..<500 where !sink.submit(line) { refused += 1 }
        #expect(refused > 0)
        let text = String(decoding: output.read(quiet: 1), as: UTF8.self)
        #expect(text.hasSuffix("gatehouse: \(refused) log line(s) dropped: the output was blocked\n"), "\(text.suffix(200))")
        sink.close()
    }

    @Test("a worker's access-log batch counts the lines the sink dropped (the metric)")
    func accessLogBatchCountsDroppedLines() throws {
        let output = try BlockedOutput()
        let sink = try LogSink.file(output.path, maxPending: 16 << 10)
        try sink.start()
        let loop = try EventLoop()
        let batch = AccessLogBatch(sink: sink, loop: loop)
        let peer = PeerInfo(address: try SocketAddress(parsing: "192.0.2.7:4000"), hostBytes: Array("192.0.2.7".utf8),
                            trusted: false)
        for _ in 0..<2_000 {
            for _ in 0..<10 { batch.appendRefusal(peer: peer, status: 400, reason: "bad-request") }
            batch.flush()
        }
        #expect(batch.droppedLines > 0)
        #expect(batch.droppedLines % 10 == 0)
        #expect(batch.droppedLines == sink.droppedLines)
        _ = output.read(quiet: 0.5)  // let the writer finish before closing
        sink.close()
    }
}
