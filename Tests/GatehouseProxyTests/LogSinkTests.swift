import Foundation
import GatehouseIO
import Testing

@Suite("Log sink: a blocked output drops and counts, never blocks the caller")
struct LogSinkTests {
    @Test("a reader that stops reading: batches past the queue bound are refused and their lines counted")
    func blockedOutputCountsDroppedLines() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logsink-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("out").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // The read end, open but never read while batches are submitted: the pipe fills, the writer blocks.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let sink = try LogSink.file(fifo, maxPending: 64 << 10)
        try sink.start()
        let batch = [UInt8](repeating: UInt8(ascii: "x"), count: 8 << 10)
        var refused = 0
        var submitted = 0
        // Pipe (64 KiB) + queue (64 KiB) hold ~16 batches; the rest must be refused at once, not wait.
        let started = Date()
        while submitted < 200 {
            if !sink.submit(batch, lines: 10) { refused += 1 }
            submitted += 1
        }
        #expect(Date().timeIntervalSince(started) < 5, "submit waited on the blocked output")
        #expect(refused >= 150, "only \(refused) of \(submitted) batches refused")
        #expect(sink.droppedLines == refused * 10)

        // Reading again lets the writer finish; what it accepted arrives whole.
        var received = 0
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let deadline = Date().addingTimeInterval(10)
        while received < (submitted - refused) * batch.count, Date() < deadline {
            let n = read(reader, &chunk, chunk.count)
            if n > 0 { received += n } else { usleep(1000) }
        }
        #expect(received == (submitted - refused) * batch.count)
        sink.close()
    }
}
