package import Foundation

/// A misbehaving upstream for tests: a loopback TCP server that answers every request head it reads with the
/// same scripted bytes, exactly as given (so it can send what no real server library would: conflicting
/// framing, bad chunk sizes, trailing bytes after a response, an unsolicited 101).
///
/// Request bodies are not read; scripts are meant for body-less requests. Runs on its own threads; stops
/// (closing the listening socket) when released.
package final class ScriptedUpstream: @unchecked Sendable {
    /// One step of the answer to a request.
    package enum Step: Sendable {
        /// Send these bytes.
        case send([UInt8])
        /// Send these bytes `count` times (a large body without holding it in memory).
        case sendRepeated([UInt8], count: Int)
        /// Pause (milliseconds).
        case pause(Int)
        /// Close the connection (the remaining requests on it get nothing).
        case close
        /// Wait until the test signals (to prove the gateway forwarded what came before without waiting for more).
        case wait(DispatchSemaphore)
    }

    // `@unchecked`: `requestLines` is guarded by `lock`; the rest is immutable.
    private let listenFD: Int32
    package let port: UInt16
    private let script: [Step]
    private let lock = NSLock()
    private var lines: [String] = []
    private var connections = 0

    /// Listens on 127.0.0.1 (ephemeral port); answers each request head with `script`.
    package init(_ script: [Step]) throws {
        self.script = script
        let (fd, port) = try LoopbackSocket.bind(listening: 64, name: "scripted upstream")
        listenFD = fd
        self.port = port
        let thread = Thread { [weak self, fd] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                guard let self else {
                    close(client)
                    return
                }
                self.lock.withLock { self.connections += 1 }
                Thread { self.serve(client) }.start()
            }
        }
        thread.start()
    }

    /// A script that sends `text` (UTF-8, write `\r\n` explicitly) and keeps the connection open.
    package convenience init(answer text: String) throws {
        try self.init([.send(Array(text.utf8))])
    }

    deinit {
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
    }

    /// "127.0.0.1:PORT".
    package var address: String { "127.0.0.1:\(port)" }

    /// The request lines received so far ("GET /x HTTP/1.1"), in order.
    package var requestLines: [String] { lock.withLock { lines } }

    /// How many connections were accepted so far.
    package var connectionCount: Int { lock.withLock { connections } }

    /// Sends every byte; false when the peer is gone.
    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            // Read one request head.
            var headEnd: Int?
            while headEnd == nil {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 10_000) > 0 else { return }
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                buffer.append(contentsOf: chunk[..<n])
                headEnd = RawResponse.find([13, 10, 13, 10], in: buffer, from: 0)
            }
            let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
            buffer.removeFirst(headEnd! + 4)
            let line = head.components(separatedBy: "\r\n").first ?? ""
            lock.withLock { lines.append(line) }
            for step in script {
                switch step {
                case .send(let bytes):
                    if !sendAll(fd, bytes) { return }
                case .sendRepeated(let bytes, let count):
                    for _ in 0..<count where !sendAll(fd, bytes) { return }
                case .pause(let milliseconds):
                    usleep(UInt32(milliseconds) * 1000)
                case .close:
                    return
                case .wait(let signal):
                    signal.wait()
                }
            }
        }
    }
}
