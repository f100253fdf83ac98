import Foundation

/// An upstream for the auth tests that records every request's raw bytes, body and trailers included (the echo
/// upstream reports headers only), and answers each one `200` with an empty body.
///
/// Understands the two framings the gateway sends: Content-Length and chunked (up to the trailer section's
/// final CRLF). Runs on its own threads; stops listening when released.
package final class AuthCaptureUpstream: @unchecked Sendable {
    // `@unchecked`: `captured` is guarded by `lock`; the rest is immutable.
    private let listenFD: Int32
    package let port: UInt16
    private let lock = NSLock()
    private var captured: [String] = []

    package init() throws {
        let (fd, port) = try LoopbackSocket.bind(listening: 64, name: "capture upstream")
        listenFD = fd
        self.port = port
        Thread { [weak self, fd] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                guard let self else {
                    close(client)
                    return
                }
                Thread { self.serve(client) }.start()
            }
        }.start()
    }

    deinit {
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
    }

    /// "127.0.0.1:PORT".
    package var address: String { "127.0.0.1:\(port)" }

    /// Every whole request received so far, as text (bytes decoded as UTF-8), in order.
    package var requests: [String] { lock.withLock { captured } }

    /// Waits until `count` requests were captured (or `timeout`), then returns them.
    package func waitForRequests(_ count: Int, timeout: Double = 5) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while requests.count < count, Date() < deadline { usleep(10_000) }
        return requests
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        func fill() -> Bool {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 10_000) > 0 else { return false }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[..<n])
            return true
        }
        while true {
            var headEnd = RawResponse.find([13, 10, 13, 10], in: buffer, from: 0)
            while headEnd == nil {
                guard fill() else { return }
                headEnd = RawResponse.find([13, 10, 13, 10], in: buffer, from: 0)
            }
            let head = String(decoding: buffer[..<headEnd!], as: UTF8.self).lowercased()
            var end = headEnd! + 4
            if head.contains("\r\ntransfer-encoding: chunked") {
                // Chunks until the last one, then trailer lines until an empty line.
                var position = end
                var inTrailers = false
                while true {
                    guard let lineEnd = RawResponse.find([13, 10], in: buffer, from: position) else {
                        guard fill() else { return }
                        continue
                    }
                    let line = String(decoding: buffer[position..<lineEnd], as: UTF8.self)
                    if inTrailers {
                        position = lineEnd + 2
                        if line.isEmpty { break }
                        continue
                    }
                    guard let size = Int(line.split(separator: ";", omittingEmptySubsequences: false)[0], radix: 16)
                    else { return }
                    if size == 0 {
                        inTrailers = true
                        position = lineEnd + 2
                        continue
                    }
                    while buffer.count < lineEnd + 2 + size + 2 { guard fill() else { return } }
                    position = lineEnd + 2 + size + 2
                }
                end = position
            } else if let range = head.range(of: "\r\ncontent-length: ") {
                let digits = head[range.upperBound...].prefix { $0.isNumber }
                end += Int(digits) ?? 0
                while buffer.count < end { guard fill() else { return } }
            }
            let request = String(decoding: buffer[..<end], as: UTF8.self)
            buffer.removeFirst(end)
            lock.withLock { captured.append(request) }
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
            guard answer.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == answer.count
            else { return }
        }
    }
}
