import Foundation

/// A blocking TCP client for large bodies: it streams uploads from one reused block and counts downloads
/// without keeping them, so a gigabyte passes through the test process in constant memory (`RawClient`
/// buffers whole responses and is meant for small ones).
package final class BulkClient {
    private let fd: Int32
    /// Bytes received after the last head and not yet handed out.
    private var pending: [UInt8] = []
    private var readBuffer: UnsafeMutableRawBufferPointer

    /// Connects to 127.0.0.1:`port`; sends block at most `sendTimeout` seconds without progress.
    package init(port: UInt16, sendTimeout: Int = 30) throws {
        fd = try LoopbackSocket.connect(port: port)
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        var timeout = timeval(tv_sec: sendTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        readBuffer.deallocate()
    }

    /// Sends raw bytes (blocking).
    package func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try send($0) }
    }

    package func send(_ text: String) throws { try send(Array(text.utf8)) }

    private func send(_ raw: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            guard n > 0 else { throw TestFailure("send failed after \(offset) bytes: errno \(errno)") }
            offset += n
        }
    }

    /// Sends `total` bytes of `fill`, one `blockSize` block at a time; as chunks (`size CRLF data CRLF`,
    /// then the last chunk) when `chunked`. Calls `progress` with the payload bytes sent after each block.
    package func sendBody(total: Int64, fill: UInt8 = 0, blockSize: Int = 1 << 20, chunked: Bool,
                          progress: (Int64) -> Void = { _ in }) throws {
        let block = [UInt8](repeating: fill, count: blockSize)
        var sent: Int64 = 0
        while sent < total {
            let n = Int(min(Int64(blockSize), total - sent))
            if chunked { try send(String(n, radix: 16) + "\r\n") }
            try block.withUnsafeBytes { try send(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            if chunked { try send("\r\n") }
            sent += Int64(n)
            progress(sent)
        }
        if chunked { try send("0\r\n\r\n") }
    }

    /// Receives into the read buffer; returns the count, 0 at EOF, nil on timeout.
    private func receive(timeout: Double) -> Int? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(max(1, min(timeout * 1000, 60_000)))
        guard poll(&poller, 1, ms) > 0 else { return nil }
        let n = recv(fd, readBuffer.baseAddress, readBuffer.count, 0)
        return max(0, n)
    }

    /// Waits until the peer closes the connection (EOF or reset), discarding what arrives first; false when it
    /// is still open after `timeout` seconds.
    package func waitForClose(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return false }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(1, min(remaining * 1000, 60_000)))) > 0 else { continue }
            if recv(fd, readBuffer.baseAddress, readBuffer.count, 0) <= 0 { return true }
        }
    }

    /// Reads one response head (status line and fields). Bytes after it stay pending for the body.
    package func readHead(timeout: Double = 10) throws -> (status: Int, headers: [(name: String, value: String)]) {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let end = RawResponse.find([13, 10, 13, 10], in: pending, from: 0) {
                let text = String(decoding: pending[..<end], as: UTF8.self)
                pending.removeFirst(end + 4)
                var lines = text.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
                    throw TestFailure("bad status line: \(text)")
                }
                let headers = lines.compactMap { line -> (name: String, value: String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                return (status, headers)
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0, let n = receive(timeout: remaining) else { throw TestFailure("no response head in \(timeout)s") }
            guard n > 0 else { throw TestFailure("connection closed before a response head") }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[..<n]))
        }
    }

    /// Reads and drops up to `length` body bytes; returns how many arrived before EOF or a `stallTimeout`
    /// without progress. Calls `progress` with the running count after each read.
    package func drainBody(length: Int64, stallTimeout: Double = 10, progress: (Int64) -> Void = { _ in }) -> Int64 {
        var count = Int64(min(Int64(pending.count), length))
        pending.removeFirst(Int(count))
        while count < length {
            guard let n = receive(timeout: stallTimeout), n > 0 else { break }
            count += Int64(n)
            progress(count)
        }
        return count
    }

    /// Reads a body of exactly `length` bytes into memory (for small bodies).
    package func readBody(length: Int, timeout: Double = 10) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        while pending.count < length {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0, let n = receive(timeout: remaining), n > 0 else {
                throw TestFailure("body ended after \(pending.count) of \(length) bytes")
            }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: readBuffer[..<n]))
        }
        defer { pending.removeFirst(length) }
        return Array(pending[..<length])
    }
}
