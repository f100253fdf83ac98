import GatehouseHTTP
import GatehouseIO

/// One worker's access-log lines (JSON, one per request), batched in memory and handed to the `LogSink`
/// thread every 200 ms or every 32 KiB, so no loop ever waits on a disk or a pipe.
final class AccessLogBatch {
    private let sink: LogSink
    private var buffer: [UInt8] = []
    private var lines = 0
    /// Lines the sink refused because it was too far behind (stdout blocked); read by the metrics.
    private(set) var droppedLines = 0
    private var timer: LoopTimer!

    init(sink: LogSink, loop: EventLoop) {
        self.sink = sink
        buffer.reserveCapacity(64 * 1024)
        timer = LoopTimer(loop: loop) { [unowned self] in flush() }
    }

    func flush() {
        timer.cancel()
        guard !buffer.isEmpty else { return }
        if !sink.submit(buffer, lines: lines) { droppedLines += lines }
        buffer.removeAll(keepingCapacity: true)
        lines = 0
    }

    func append(head: RequestHead, peer: PeerInfo, status: Int, bytesIn: Int64, bytesOut: Int64,
                durationNanoseconds: UInt64, route: String?, upstream: String?, error: String?) {
        startLine(peer: peer)
        key("method")
        string(head.bytes[head.methodRange])
        if let host = head.targetAuthorityRange ?? head.hostRange {
            key("host")
            string(head.bytes[host])
        }
        key("path")
        string(head.normalizedPath[...])
        if !head.queryRange.isEmpty {
            key("query")
            string(head.bytes[head.queryRange])
        }
        key("status")
        number(Int64(status))
        key("bytes_in")
        number(bytesIn)
        key("bytes_out")
        number(bytesOut)
        key("duration_ms")
        let micros = Int64(durationNanoseconds / 1000)
        number(micros / 1000)
        buffer.append(UInt8(ascii: "."))
        let fraction = micros % 1000
        if fraction < 100 { buffer.append(UInt8(ascii: "0")) }
        if fraction < 10 { buffer.append(UInt8(ascii: "0")) }
        number(fraction)
        if let route {
            key("route")
            string(route.utf8)
        }
        if let upstream {
            key("upstream")
            string(upstream.utf8)
        }
        if let error {
            key("error")
            string(error.utf8)
        }
        endLine()
    }

    func appendRefusal(peer: PeerInfo, status: Int, reason: String) {
        startLine(peer: peer)
        key("status")
        number(Int64(status))
        key("error")
        string(reason.utf8)
        endLine()
    }

    private func startLine(peer: PeerInfo) {
        let (seconds, millis) = Clocks.wallClock()
        HeaderRewrite.append("{\"time\":\"", to: &buffer)
        Clocks.appendRFC3339(seconds: seconds, milliseconds: millis, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
        key("client")
        string(peer.hostBytes[...])
    }

    private func endLine() {
        HeaderRewrite.append("}\n", to: &buffer)
        lines += 1
        if buffer.count >= 32 * 1024 {
            flush()
        } else if !timer.isScheduled {
            timer.schedule(after: .milliseconds(200))
        }
    }

    private func key(_ name: StaticString) {
        HeaderRewrite.append(",\"", to: &buffer)
        HeaderRewrite.append(name, to: &buffer)
        HeaderRewrite.append("\":", to: &buffer)
    }

    private func number(_ value: Int64) {
        if value < 0 {
            buffer.append(UInt8(ascii: "-"))
            HeaderRewrite.appendDecimal(-value, to: &buffer)
        } else {
            HeaderRewrite.appendDecimal(value, to: &buffer)
        }
    }

    /// A JSON string; bytes outside printable ASCII and the two JSON metacharacters are \u-escaped, so a
    /// hostile path can never break a line or forge a field.
    private func string(_ bytes: some Sequence<UInt8>) {
        buffer.append(UInt8(ascii: "\""))
        let hex: StaticString = "0123456789abcdef"
        for b in bytes {
            if b >= 0x20, b < 0x7f, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\") {
                buffer.append(b)
            } else {
                HeaderRewrite.append("\\u00", to: &buffer)
                hex.withUTF8Buffer { h in
                    buffer.append(h[Int(b >> 4)])
                    buffer.append(h[Int(b & 0xf)])
                }
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }
}
