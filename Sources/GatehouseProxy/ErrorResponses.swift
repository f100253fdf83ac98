/// The gateway's own answers (every refusal maps to exactly one of these), pre-rendered once per process.
///
/// Bodies are small JSON documents that never echo request data. Each exists in a keep-alive and a
/// closing variant, so answering costs one buffer copy and no formatting.
package enum ErrorResponses {
    /// The answer for `status`, ending the connection when `close` is true.
    static func bytes(status: Int, close: Bool) -> [UInt8] {
        let table = close ? closing : keepAlive
        return table[status] ?? table[500]!
    }

    private static let statuses: [(Int, String, String)] = [
        (400, "Bad Request", "bad_request"),
        (403, "Forbidden", "forbidden"),
        (404, "Not Found", "not_found"),
        (408, "Request Timeout", "request_timeout"),
        (413, "Content Too Large", "content_too_large"),
        (414, "URI Too Long", "uri_too_long"),
        (417, "Expectation Failed", "expectation_failed"),
        (431, "Request Header Fields Too Large", "request_header_fields_too_large"),
        (500, "Internal Server Error", "internal_error"),
        (501, "Not Implemented", "not_implemented"),
        (502, "Bad Gateway", "bad_gateway"),
        (503, "Service Unavailable", "service_unavailable"),
        (504, "Gateway Timeout", "gateway_timeout"),
        (505, "HTTP Version Not Supported", "http_version_not_supported"),
    ]

    private static let keepAlive = render(close: false)
    private static let closing = render(close: true)

    private static func render(close: Bool) -> [Int: [UInt8]] {
        var table: [Int: [UInt8]] = [:]
        for (status, reason, code) in statuses {
            let body = "{\"status\":\(status),\"error\":\"\(code)\"}\n"
            var head = "HTTP/1.1 \(status) \(reason)\r\n"
            head += "Content-Type: application/json\r\n"
            head += "Content-Length: \(body.utf8.count)\r\n"
            head += "Cache-Control: no-store\r\n"
            head += "X-Content-Type-Options: nosniff\r\n"
            if close { head += "Connection: close\r\n" }
            table[status] = Array((head + "\r\n" + body).utf8)
        }
        return table
    }

    /// The status line and headers of `status` only (for HEAD requests: same headers, no body).
    static func headOnly(status: Int, close: Bool) -> [UInt8] {
        withoutBody(bytes(status: status, close: close))
    }

    /// A rendered answer cut after its head (HEAD requests keep the Content-Length a GET would get).
    static func withoutBody(_ response: [UInt8]) -> [UInt8] {
        var i = 0
        while i + 3 < response.count {
            if response[i] == 13, response[i + 1] == 10, response[i + 2] == 13, response[i + 3] == 10 {
                return Array(response[..<(i + 4)])
            }
            i += 1
        }
        return response
    }
}
