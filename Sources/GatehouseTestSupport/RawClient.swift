import Foundation

/// A blocking TCP client that sends exactly the bytes it is given (no client library cleaning them up) and
/// reads HTTP/1.1 responses back with its own small parser.
package final class RawClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var sawEOF = false

    /// Connects to 127.0.0.1:`port`.
    package init(port: UInt16) throws {
        fd = try LoopbackSocket.connect(port: port)
    }

    deinit { close(fd) }

    /// Sends raw bytes.
    package func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Sends the UTF-8 bytes of `text` (write `\r\n` explicitly).
    package func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends one byte per write, with a short pause, so the server sees every possible split.
    package func dripFeed(_ text: String, pauseMicroseconds: UInt32 = 200) throws {
        for byte in text.utf8 {
            try send([byte])
            usleep(pauseMicroseconds)
        }
    }

    /// Half-closes the sending side.
    package func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until one whole response is buffered; nil when the connection closed or `timeout` passed first.
    package func readResponse(timeout: Double = 10, headRequest: Bool = false) -> RawResponse? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let (response, used) = RawResponse.parse(buffer, headRequest: headRequest, eof: sawEOF) {
                buffer.removeFirst(used)
                return response
            }
            if sawEOF { return nil }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return nil }
            fill(timeout: remaining)
        }
    }

    /// Reads everything until the server closes (or `timeout`); returns the bytes not yet consumed.
    package func readUntilClose(timeout: Double = 10) -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        while !sawEOF, deadline.timeIntervalSinceNow > 0 { fill(timeout: deadline.timeIntervalSinceNow) }
        defer { buffer.removeAll() }
        return buffer
    }

    /// Reads until the unconsumed bytes contain `text` (true), or the connection closed or `timeout` passed (false).
    /// Nothing is consumed: a `readResponse` afterwards still sees the whole response.
    package func waitFor(_ text: String, timeout: Double = 10) -> Bool {
        let needle = Array(text.utf8)
        let deadline = Date().addingTimeInterval(timeout)
        while RawResponse.find(needle, in: buffer, from: 0) == nil {
            if sawEOF || deadline.timeIntervalSinceNow <= 0 { return false }
            fill(timeout: deadline.timeIntervalSinceNow)
        }
        return true
    }

    /// True when the server closed the connection within `timeout` (after any pending bytes).
    package func waitForClose(timeout: Double = 10) -> Bool {
        _ = readUntilClose(timeout: timeout)
        return sawEOF
    }

    private func fill(timeout: Double) {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(max(1, min(timeout * 1000, 60_000)))
        guard poll(&poller, 1, ms) > 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { sawEOF = true } else { buffer.append(contentsOf: chunk[..<n]) }
    }
}

/// One parsed HTTP response.
package struct RawResponse {
    package var status: Int
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]

    /// The first value of header `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    package var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as JSON (the echo server's report).
    package var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// The headers the echo upstream reported receiving, in order.
    package var echoedHeaders: [(String, String)] {
        guard let list = json?["headers"] as? [[String]] else { return [] }
        return list.map { ($0[0], $0[1]) }
    }

    /// Parses one response from the front of `bytes`; nil when incomplete.
    static func parse(_ bytes: [UInt8], headRequest: Bool, eof: Bool) -> (RawResponse, Int)? {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
        let headText = String(decoding: bytes[..<headEnd], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = RawResponse(status: status, headers: headers.map { (name: $0.0, value: $0.1) }, body: [])
        let bodyStart = headEnd + 4
        if headRequest || status < 200 || status == 204 || status == 304 {
            return (response, bodyStart)
        }
        if let length = response.header("content-length").flatMap(Int.init) {
            guard bytes.count >= bodyStart + length else { return nil }
            response.body = Array(bytes[bodyStart..<(bodyStart + length)])
            return (response, bodyStart + length)
        }
        if response.header("transfer-encoding")?.lowercased() == "chunked" {
            var position = bodyStart
            var body: [UInt8] = []
            while true {
                guard let lineEnd = find([13, 10], in: bytes, from: position) else { return nil }
                let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self)
                    .split(separator: ";", omittingEmptySubsequences: false)[0]
                guard let size = Int(sizeText, radix: 16) else { return nil }
                position = lineEnd + 2
                if size == 0 {
                    // Skip trailers up to the empty line.
                    while true {
                        guard let end = find([13, 10], in: bytes, from: position) else { return nil }
                        let empty = end == position
                        position = end + 2
                        if empty { break }
                    }
                    response.body = body
                    return (response, position)
                }
                guard bytes.count >= position + size + 2 else { return nil }
                body.append(contentsOf: bytes[position..<(position + size)])
                position += size + 2
            }
        }
        guard eof else { return nil }
        response.body = Array(bytes[bodyStart...])
        return (response, bytes.count)
    }

    package static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0], Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
