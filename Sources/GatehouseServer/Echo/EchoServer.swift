import Crypto
import GatehouseHTTP
package import GatehouseIO
import GatehouseProxy
import Glibc

/// `gatehouse echo`: a demo and test upstream that answers every request with JSON describing exactly what
/// it received (method, target, version, every header in order, body length and SHA-256).
///
/// Operators point a route at it to see what an application would get; the integration tests assert on
/// its answers. A few paths under `/__echo/` make it misbehave on purpose (see `EchoBehaviour`).
package final class EchoServer {
    private let loop: EventLoop
    private var listener: Listener?
    private var connections: [ObjectIdentifier: EchoConnection] = [:]
    /// One line per request received ("METHOD target"), so tests and operators can see exactly which
    /// requests reached the upstream (and that a smuggled one never did).
    fileprivate let requestLog = LogSink.standardOutput()

    /// Binds `address` (port 0 allowed) on a new loop.
    /// - Throws: `IOError` when binding fails.
    package init(address: SocketAddress) throws(IOError) {
        loop = try EventLoop()
        listener = try Listener(loop: loop, address: address) { [unowned self] fd, _ in
            let connection = EchoConnection(fd: fd, server: self)
            connections[ObjectIdentifier(connection)] = connection
        }
    }

    /// The bound address.
    package var boundAddress: SocketAddress { listener!.boundAddress }

    /// Serves until the process ends.
    package func run() {
        SignalWatcher.ignoreBrokenPipe()
        try? requestLog.start()
        loop.run()
    }

    fileprivate var eventLoop: EventLoop { loop }

    fileprivate func forget(_ connection: EchoConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
    }
}

/// One client of the echo server.
private final class EchoConnection: ConnectionDelegate {
    let connection: Connection
    unowned let server: EchoServer
    var parser = RequestParser(limits: {
        var limits = HTTPLimits()
        limits.maxBody = Int64.max / 2
        limits.pathParameters = .servlet  // an upstream takes whatever the gateway forwards, `;` included
        return limits
    }())
    var head: RequestHead?
    var hasher = SHA256()
    var bodyLength: Int64 = 0
    var tunnelling = false
    var pendingDelay: LoopTimer?

    init(fd: Int32, server: EchoServer) {
        connection = Connection(loop: server.eventLoop, fd: fd)
        self.server = server
        connection.delegate = self
        connection.enableReading()
    }

    func connectionReadable(_ connection: Connection) {
        if tunnelling {
            // After a 101, echo every byte back (a stand-in for a WebSocket server).
            connection.moveAllInput(to: connection)
            return
        }
        parseLoop()
    }

    func parseLoop() {
        while connection.isOpen, pendingDelay == nil, connection.inputCount > 0 || head != nil {
            let step = MessageReader.next(from: connection) { raw throws(HTTPParseError) in
                let event = try parser.next(raw)
                if case .body(let payload) = event { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[payload])) }
                return event
            }
            switch step {
            case .failure(let error):
                connection.write(Array("HTTP/1.1 \(error.status) Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                closeSoon()
                return
            case .success(.requestHead(let parsed, let consumed)):
                connection.discardInput(consumed)
                head = parsed
                var line = Array(parsed.bytes[parsed.methodRange])
                line.append(UInt8(ascii: " "))
                line.append(contentsOf: parsed.bytes[parsed.targetRange])
                line.append(UInt8(ascii: "\n"))
                server.requestLog.submit(line)
                hasher = SHA256()
                bodyLength = 0
                if parsed.expectsContinue { connection.write("HTTP/1.1 100 Continue\r\n\r\n") }
            case .success(.body(let payload)):
                connection.discardInput(payload.upperBound)
                bodyLength += Int64(payload.count)
            case .success(.end(_, let consumed)):
                connection.discardInput(consumed)
                guard let request = head else { return }
                head = nil
                respond(to: request)
            case .success(.needMore):
                return
            case .success(.responseHead):
                return
            }
        }
    }

    func respond(to request: RequestHead) {
        let behaviour = EchoBehaviour(path: request.normalizedPath, query: Array(request.bytes[request.queryRange]))
        let body = EchoReport.json(request, bodyLength: bodyLength, bodySHA256: hasher.finalize().hexString)
        switch behaviour {
        case .echo:
            write(status: 200, body: body, head: request)
        case .status(let code):
            write(status: code, body: body, head: request)
        case .delay(let milliseconds):
            let timer = LoopTimer(loop: server.eventLoop) { [unowned self] in
                pendingDelay = nil
                write(status: 200, body: body, head: request)
                parseLoop()
            }
            pendingDelay = timer
            timer.schedule(after: .milliseconds(milliseconds))
        case .stream(let bytes):
            streamBody(bytes, head: request)
        case .closeMidBody:
            connection.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial".utf8))
            closeSoon()
        case .upgrade:
            if request.wantsUpgrade {
                connection.write("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
                tunnelling = true
            } else {
                write(status: 426, body: body, head: request)
            }
        case .untilClose:
            connection.write(Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".utf8))
            connection.write(Array(body.utf8))
            closeSoon()
        }
    }

    func write(status: Int, body: String, head: RequestHead) {
        let bytes = Array(body.utf8)
        var text = "HTTP/1.1 \(status) Echo\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n"
        if !head.keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        connection.write(Array(text.utf8))
        if head.method != .head { connection.write(bytes) }
        if !head.keepAlive { closeSoon() }
    }

    /// Sends `count` bytes of body without holding them in memory at once (for large-download tests).
    func streamBody(_ count: Int64, head: RequestHead) {
        connection.write(Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \(count)\r\n\r\n".utf8))
        remainingStream = count
        pumpStream()
    }

    var remainingStream: Int64 = 0
    static let block = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)

    func pumpStream() {
        while remainingStream > 0, connection.outputCount < 1 << 20 {
            let n = Int(min(Int64(Self.block.count), remainingStream))
            Self.block.withUnsafeBytes { connection.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            remainingStream -= Int64(n)
        }
    }

    func connectionWritable(_ connection: Connection) {
        if remainingStream > 0 {
            pumpStream()
        } else if closing, connection.outputCount == 0 {
            finish()
        }
    }

    var closing = false
    func closeSoon() {
        closing = true
        if connection.outputCount == 0 { finish() }
    }

    func finish() {
        connection.close()
        server.forget(self)
    }

    func connectionConnected(_ connection: Connection) {}

    func connectionClosed(_ connection: Connection, eof: Bool) { finish() }
}

extension Digest {
    var hexString: String {
        var out = ""
        for byte in self { out += String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }
        return out
    }
}
