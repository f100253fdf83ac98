import GatehouseHTTP

/// What `/__echo/...` asks the echo server to do instead of a plain echo.
///
/// - `/__echo/status/NNN`: answer with status NNN (still the JSON echo body).
/// - `/__echo/delay/MS`: answer after MS milliseconds (for response-timeout tests).
/// - `/__echo/stream/N`: answer with N bytes of body, streamed (for large-download tests).
/// - `/__echo/close`: promise 1000 bytes, send 7, close (an upstream dying mid-response).
/// - `/__echo/until-close`: a body delimited by closing the connection (no Content-Length).
/// - `/__echo/upgrade`: accept `Upgrade: websocket` with 101, then echo raw bytes back.
enum EchoBehaviour {
    case echo
    case status(Int)
    case delay(Int)
    case stream(Int64)
    case closeMidBody
    case untilClose
    case upgrade

    init(path: [UInt8], query: [UInt8]) {
        let text = String(decoding: path, as: UTF8.self)
        let parts = text.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0] == "__echo" else {
            self = .echo
            return
        }
        switch (parts[1], parts.count > 2 ? Int(parts[2]) : nil) {
        case ("status", let code?) where (200...599).contains(code): self = .status(code)
        case ("delay", let ms?) where ms >= 0: self = .delay(ms)
        case ("stream", let n?) where n >= 0: self = .stream(Int64(n))
        case ("close", _): self = .closeMidBody
        case ("until-close", _): self = .untilClose
        case ("upgrade", _): self = .upgrade
        default: self = .echo
        }
    }
}

/// The JSON document the echo server answers with.
enum EchoReport {
    static func json(_ head: RequestHead, bodyLength: Int64, bodySHA256: String) -> String {
        var out = "{\"method\":"
        string(head.bytes[head.methodRange], into: &out)
        out += ",\"target\":"
        string(head.bytes[head.targetRange], into: &out)
        out += ",\"version\":\"" + (head.version == .http11 ? "HTTP/1.1" : "HTTP/1.0") + "\""
        out += ",\"headers\":["
        let fields = head.headers
        for index in fields.fields.indices {
            if index > 0 { out += "," }
            out += "["
            string(fields.storage[fields.fields[index].name], into: &out)
            out += ","
            string(fields.storage[fields.fields[index].value], into: &out)
            out += "]"
        }
        out += "],\"body_length\":\(bodyLength),\"body_sha256\":\"\(bodySHA256)\"}\n"
        return out
    }

    /// A JSON string literal; every byte outside printable ASCII is escaped, so the report shows hostile
    /// bytes exactly instead of passing them on.
    static func string(_ bytes: ArraySlice<UInt8>, into out: inout String) {
        out += "\""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16)
                out += "\\u00" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        out += "\""
    }
}
