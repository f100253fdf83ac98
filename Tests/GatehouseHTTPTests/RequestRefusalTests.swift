import GatehouseHTTP
import Testing

/// A hostile or malformed input and the refusal it must get.
struct Refusal: Sendable, CustomTestStringConvertible {
    let name: String
    let raw: String
    let status: Int
    let reason: String

    init(_ name: String, _ raw: String, _ status: Int, _ reason: String) {
        self.name = name
        self.raw = raw
        self.status = status
        self.reason = reason
    }

    var testDescription: String { "\(name) → \(status) \(reason)" }
}

/// A chunked POST head followed by `body`.
func chunked(_ body: String, version: String = "HTTP/1.1") -> String {
    crlf("POST /up \(version)", "Host: a", "Transfer-Encoding: chunked", "", "") + body
}

/// A POST head with extra fields, no body.
func post(_ fields: String...) -> String {
    (["POST /up HTTP/1.1", "Host: a"] + fields + ["", ""]).joined(separator: "\r\n")
}

@Suite("RequestParser refusals")
struct RequestRefusalTests {
    static let framingCases: [Refusal] = [
        Refusal(
            "CL then TE", post("Content-Length: 5", "Transfer-Encoding: chunked") + "hello", 400,
            "content-length-with-transfer-encoding"),
        Refusal(
            "TE then CL", post("Transfer-Encoding: chunked", "Content-Length: 5") + "hello", 400,
            "content-length-with-transfer-encoding"),
        Refusal(
            "differing CL fields", post("Content-Length: 5", "Content-Length: 6"), 400, "conflicting-content-length"),
        Refusal("differing CL list", post("Content-Length: 5, 6"), 400, "conflicting-content-length"),
        Refusal("CL letters", post("Content-Length: abc"), 400, "invalid-content-length"),
        Refusal("CL sign", post("Content-Length: +5"), 400, "invalid-content-length"),
        Refusal("CL negative", post("Content-Length: -5"), 400, "invalid-content-length"),
        Refusal("CL hex", post("Content-Length: 0x5"), 400, "invalid-content-length"),
        Refusal("CL inner space", post("Content-Length: 5 5"), 400, "invalid-content-length"),
        Refusal("CL empty", post("Content-Length: "), 400, "invalid-content-length"),
        Refusal("CL empty element", post("Content-Length: 5,"), 400, "invalid-content-length"),
        Refusal("CL overflow", post("Content-Length: 9223372036854775808"), 400, "invalid-content-length"),
        Refusal("CL huge", post("Content-Length: 99999999999999999999999"), 400, "invalid-content-length"),
        Refusal("TE gzip", post("Transfer-Encoding: gzip"), 400, "transfer-encoding-not-chunked"),
        Refusal("TE chunked then gzip", post("Transfer-Encoding: chunked, gzip"), 400, "transfer-encoding-not-chunked"),
        Refusal("TE identity", post("Transfer-Encoding: identity"), 400, "transfer-encoding-not-chunked"),
        Refusal("TE gzip then chunked", post("Transfer-Encoding: gzip, chunked"), 501, "unsupported-transfer-coding"),
        Refusal(
            "TE two fields gzip, chunked", post("Transfer-Encoding: gzip", "Transfer-Encoding: chunked"), 501,
            "unsupported-transfer-coding"),
        Refusal("TE chunked twice", post("Transfer-Encoding: chunked, chunked"), 400, "chunked-applied-twice"),
        Refusal(
            "TE chunked in two fields", post("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), 400,
            "chunked-applied-twice"),
        Refusal("TE with parameter", post("Transfer-Encoding: chunked;x=1"), 400, "invalid-transfer-encoding"),
        Refusal("TE empty", post("Transfer-Encoding: "), 400, "invalid-transfer-encoding"),
        Refusal("TE empty element", post("Transfer-Encoding: chunked,"), 400, "invalid-transfer-encoding"),
        Refusal("TE quoted", post("Transfer-Encoding: \"chunked\""), 400, "invalid-transfer-encoding"),
        Refusal("TE on HTTP/1.0", chunked("0\r\n\r\n", version: "HTTP/1.0"), 400, "transfer-encoding-on-http10"),
        Refusal("CL over maxBody", post("Content-Length: 67108865"), 413, "body-too-large"),
    ]

    static let chunksCases: [Refusal] = [
        Refusal("non-hex size", chunked("zz\r\n"), 400, "invalid-chunk-size"),
        Refusal("empty size", chunked("\r\nhello\r\n"), 400, "invalid-chunk-size"),
        Refusal("18 hex digits", chunked("ffffffffffffffffff\r\n"), 400, "chunk-size-overflow"),
        Refusal("17 digits with leading zeros", chunked("00000000000000001\r\nx\r\n"), 400, "chunk-size-overflow"),
        Refusal("16 digits over Int64", chunked("8000000000000000\r\n"), 400, "chunk-size-overflow"),
        Refusal("sign", chunked("+5\r\nhello\r\n"), 400, "invalid-chunk-size"),
        Refusal("minus", chunked("-5\r\nhello\r\n"), 400, "invalid-chunk-size"),
        Refusal("0x prefix", chunked("0x5\r\nhello\r\n"), 400, "invalid-chunk-size"),
        Refusal("leading space", chunked(" 5\r\nhello\r\n"), 400, "invalid-chunk-size"),
        Refusal("trailing space", chunked("5 \r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("bare LF after size", chunked("5\nhello\r\n"), 400, "bare-lf"),
        Refusal("bare CR after size", chunked("5\rhello\r\n"), 400, "bare-cr"),
        Refusal("data then X", chunked("5\r\nhelloX\r\n"), 400, "missing-chunk-crlf"),
        Refusal("data then bare LF", chunked("5\r\nhello\n0\r\n\r\n"), 400, "missing-chunk-crlf"),
        Refusal("data then CR X", chunked("5\r\nhello\rX"), 400, "missing-chunk-crlf"),
        Refusal("data longer than size", chunked("3\r\nhello\r\n"), 400, "missing-chunk-crlf"),
        Refusal("empty extension", chunked("5;\r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("extension without value", chunked("5;a=\r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("extension two names", chunked("5;a b\r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("extension trailing space", chunked("5;a=b \r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("unterminated quote", chunked("5;a=\"x\r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("control in quote", chunked("5;a=\"\u{01}\"\r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("bare LF in extension", chunked("5;a=b\nhello\r\n"), 400, "bare-lf"),
        Refusal("bare CR in extension", chunked("5;a=b\rc\r\nhello\r\n"), 400, "bare-cr"),
        Refusal("bare LF in quoted extension", chunked("5;a=\"b\nc\"\r\nhello\r\n"), 400, "bare-lf"),
        Refusal("non-token extension name", chunked("5;a@b=c\r\nhello\r\n"), 400, "invalid-chunk-extension"),
        Refusal("trailer Content-Length", chunked("0\r\nContent-Length: 5\r\n\r\n"), 400, "forbidden-trailer-field"),
        Refusal(
            "trailer Transfer-Encoding", chunked("0\r\ntransfer-encoding: chunked\r\n\r\n"), 400,
            "forbidden-trailer-field"),
        Refusal("trailer Host", chunked("0\r\nHost: b\r\n\r\n"), 400, "forbidden-trailer-field"),
        Refusal("trailer Content_Length", chunked("0\r\nContent_Length: 5\r\n\r\n"), 400, "forbidden-trailer-field"),
        Refusal(
            "trailer transfer_encoding", chunked("0\r\ntransfer_encoding: chunked\r\n\r\n"), 400,
            "forbidden-trailer-field"),
        Refusal("trailer obs-fold", chunked("0\r\nX: a\r\n b\r\n\r\n"), 400, "obs-fold"),
        Refusal("trailer bare LF", chunked("0\r\nX: a\n\r\n"), 400, "bare-lf"),
        Refusal("trailer bad name", chunked("0\r\nX Y: a\r\n\r\n"), 400, "whitespace-before-colon"),
        Refusal("trailer control char", chunked("0\r\nX: a\u{7F}\r\n\r\n"), 400, "invalid-field-value"),
    ]

    static let fieldLinesCases: [Refusal] = [
        Refusal("bare LF ends request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare-lf"),
        Refusal("bare LF ends field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare-lf"),
        Refusal("bare LF ends head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare-lf"),
        Refusal("bare CR in field", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "bare-cr"),
        Refusal("CR CR LF", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400, "bare-cr"),
        Refusal("obs-fold", get("/", "X: a", " b"), 400, "obs-fold"),
        Refusal("tab fold", get("/", "X: a", "\tb"), 400, "obs-fold"),
        Refusal("space before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "obs-fold"),
        Refusal("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace-before-colon"),
        Refusal("tab before colon", get("/", "X\t: a"), 400, "whitespace-before-colon"),
        Refusal("empty name", get("/", ": a"), 400, "empty-field-name"),
        Refusal("non-token name", get("/", "X(Y): a"), 400, "invalid-field-name"),
        Refusal("non-ASCII name", get("/", "Xé: a"), 400, "invalid-field-name"),
        Refusal("no colon", get("/", "XYZ"), 400, "missing-colon"),
        Refusal("NUL in value", get("/", "X: a\u{00}b"), 400, "invalid-field-value"),
        Refusal("SOH in value", get("/", "X: a\u{01}b"), 400, "invalid-field-value"),
        Refusal("ESC in value", get("/", "X: \u{1B}"), 400, "invalid-field-value"),
        Refusal("DEL in value", get("/", "X: a\u{7F}"), 400, "invalid-field-value"),
        Refusal("missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing-host"),
        Refusal("two Hosts", get("/", "Host: example.com"), 400, "duplicate-host"),
        Refusal("two Hosts on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate-host"),
        Refusal("empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, "invalid-host"),
        Refusal("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid-host"),
        Refusal("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "invalid-host"),
        Refusal("Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid-host"),
        Refusal("Host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, "invalid-host"),
        Refusal("Host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "invalid-host"),
        Refusal("Host long port", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400, "invalid-host"),
        Refusal("Host bad IPv6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid-host"),
        Refusal("Host IPvFuture", "GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n", 400, "invalid-host"),
        Refusal(
            "Connection names Content-Length", post("Connection: close, Content-Length", "Content-Length: 0"), 400,
            "connection-names-framing-field"),
        Refusal(
            "Connection names Transfer-Encoding", get("/", "Connection: transfer-encoding"), 400,
            "connection-names-framing-field"),
        Refusal("Connection names Host", get("/", "Connection: HOST"), 400, "connection-names-framing-field"),
        // CGI, WSGI and PHP backends fold `_` into `-`: for them these are the framing fields.
        Refusal(
            "Transfer_Encoding", post("Transfer_Encoding: chunked", "Content-Length: 0"), 400,
            "framing-field-spelled-with-underscore"),
        Refusal(
            "content_length", post("content_length: 5", "Transfer-Encoding: chunked"), 400,
            "framing-field-spelled-with-underscore"),
        Refusal(
            "CONTENT_LENGTH alone", get("/", "CONTENT_LENGTH: 5"), 400, "framing-field-spelled-with-underscore"),
        Refusal("Connection non-token", get("/", "Connection: a b"), 400, "invalid-connection"),
        Refusal("Expect other", get("/", "Expect: 200-ok"), 417, "unsupported-expectation"),
        Refusal("Expect list", get("/", "Expect: 100-continue, x"), 417, "unsupported-expectation"),
        Refusal("too many empty lines", "\r\n\r\n\r\n\r\n\r\n" + get(), 400, "too-many-leading-empty-lines"),
        Refusal("bare LF before request line", "\n" + get(), 400, "bare-lf"),
        Refusal("CR LF then bare LF before request line", "\r\n\n" + get(), 400, "bare-lf"),
    ]

    static let requestLinesCases: [Refusal] = [
        Refusal("two spaces before target", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("two spaces before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-version"),
        Refusal("trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "invalid-version"),
        Refusal("leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-method"),
        Refusal("tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-method"),
        Refusal("non-token method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-method"),
        Refusal("method only", "GET\r\nHost: a\r\n\r\n", 400, "invalid-request-line"),
        Refusal("no version", "GET /\r\nHost: a\r\n\r\n", 400, "invalid-request-line"),
        Refusal("control in target", "GET /a\u{01}b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("DEL in target", "GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("non-ASCII target", "GET /é HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "unsupported-version"),
        Refusal("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "unsupported-version"),
        Refusal("HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "unsupported-version"),
        Refusal("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "invalid-version"),
        Refusal("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "invalid-version"),
        Refusal("HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "invalid-version"),
        Refusal("garbage version", "GET / FOO\r\nHost: a\r\n\r\n", 400, "invalid-version"),
        Refusal(
            "CONNECT", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 501,
            "connect-not-supported"),
        Refusal("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form-not-options"),
        Refusal("authority-form with GET", "GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("other scheme", "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("scheme only", "GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target"),
        Refusal("empty authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-target-authority"),
        Refusal(
            "userinfo", "GET http://user@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 400,
            "userinfo-in-target"),
        Refusal("userinfo with password", "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "userinfo-in-target"),
        Refusal("absolute-form without Host", "GET http://a/ HTTP/1.1\r\n\r\n", 400, "missing-host"),
        Refusal("encoded slash", "GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "ambiguous-path"),
        Refusal("backslash", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "ambiguous-path"),
        Refusal("encoded dots above root", "GET /%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "path-above-root"),
        Refusal("absolute-form above root", "GET http://a/../x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "path-above-root"),
        Refusal("invalid escape", "GET /%G1 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-percent-encoding"),
        Refusal("short escape", "GET /%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid-percent-encoding"),
    ]

    @Test(arguments: framingCases) func framing(_ refusal: Refusal) { check(refusal) }
    @Test(arguments: chunksCases) func chunks(_ refusal: Refusal) { check(refusal) }
    @Test(arguments: fieldLinesCases) func fieldLines(_ refusal: Refusal) { check(refusal) }
    @Test(arguments: requestLinesCases) func requestLines(_ refusal: Refusal) { check(refusal) }

    private func check(_ refusal: Refusal) {
        let transcript = DripFeed.requests(refusal.raw)
        #expect(transcript.error == HTTPParseError(status: refusal.status, reason: refusal.reason))
    }

    @Test func aRefusedParserStaysRefused() {
        var parser = RequestParser(limits: HTTPLimits())
        let refusal = HTTPParseError(status: 400, reason: "bare-lf")
        #expect(failure(step(&parser, "GET / HTTP/1.1\nHost: a\r\n\r\n")) == refusal)
        #expect(failure(step(&parser, get())) == refusal)
        #expect(!parser.isBetweenMessages)
    }
}
