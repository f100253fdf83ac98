import GatehouseSessions

/// An answer the gateway writes itself (its own endpoints, the admin listener). Not the hot path: rendered
/// per answer, small.
struct LocalResponse {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// Close the connection after this answer (a request body was refused unread, say).
    var close = false

    init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], close: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.close = close
    }

    /// What no answer of the gateway's own may be without: none is cacheable or sniffable.
    static let baseHeaders: [(String, String)] = [
        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
    ]

    static func json(_ status: Int, _ writer: JSONWriter, headers: [(String, String)] = []) -> LocalResponse {
        var body = writer.bytes
        body.append(10)
        return LocalResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// `{"error": code}` (and `error_description` when given): the OAuth 2.0 error shape.
    static func error(_ status: Int, _ code: String, description: String? = nil,
                      headers: [(String, String)] = []) -> LocalResponse {
        var writer = JSONWriter()
        writer.beginObject()
        writer.member("error", code)
        if let description { writer.member("error_description", description) }
        writer.endObject()
        return json(status, writer, headers: headers)
    }

    /// The session store could not answer: 503 with `Retry-After`, never a guess (and never a cleared cookie).
    static let storeUnavailable = LocalResponse.error(503, "temporarily_unavailable", headers: [("Retry-After", "1")])

    static func html(_ status: Int, _ page: String, headers: [(String, String)] = []) -> LocalResponse {
        LocalResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8")] + headers,
                      body: Array(page.utf8))
    }

    /// 303: after a form POST the browser follows with a GET.
    static func seeOther(_ location: String, headers: [(String, String)] = []) -> LocalResponse {
        LocalResponse(status: 303, headers: [("Location", location)] + headers)
    }

    static func noContent(headers: [(String, String)] = []) -> LocalResponse {
        LocalResponse(status: 204, headers: headers)
    }

    /// The bytes on the wire. `headOnly`: the answer to a HEAD (same head, no body).
    func serialize(close: Bool, headOnly: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + body.count)
        out.append(contentsOf: "HTTP/1.1 \(status) \(Self.reason(status))\r\n".utf8)
        for (name, value) in headers {
            out.append(contentsOf: "\(name): \(value)\r\n".utf8)
        }
        for (name, value) in Self.baseHeaders where !headers.contains(where: { $0.0 == name }) {
            out.append(contentsOf: "\(name): \(value)\r\n".utf8)
        }
        if status != 204 { out.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8) }
        if close { out.append(contentsOf: "Connection: close\r\n".utf8) }
        out.append(contentsOf: "\r\n".utf8)
        if !headOnly, status != 204 { out.append(contentsOf: body) }
        return out
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 302: return "Found"
        case 303: return "See Other"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
