import GatehouseHTTP
import Testing

@Suite("RequestParser semantics")
struct RequestSemanticsTests {
    private func head(_ raw: String, sourceLocation: SourceLocation = #_sourceLocation) -> RequestHead? {
        let t = DripFeed.requests(raw, sourceLocation: sourceLocation)
        #expect(t.error == nil, sourceLocation: sourceLocation)
        return t.requestHeads.first
    }

    private func path(_ h: RequestHead?) -> String? {
        h.map { String(decoding: $0.normalizedPath, as: UTF8.self) }
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false),
    ])
    func keepAlive(_ raw: String, _ expected: Bool) {
        #expect(head(raw)?.keepAlive == expected)
    }

    @Test func connectionTokensAreTrimmedRanges() {
        let h = head(get("/", "Connection: keep-alive , X-Foo,,\tUpgrade ", "Connection: te"))
        #expect(
            h.map { h in h.connectionTokens.map { text(h.bytes, $0)! } } == ["keep-alive", "X-Foo", "Upgrade", "te"])
        #expect(h?.wantsUpgrade == false, "Connection: upgrade without an Upgrade field")
    }

    @Test func expectContinue() {
        #expect(head(get("/", "Expect: 100-continue"))?.expectsContinue == true)
        #expect(head(get("/", "Expect: 100-Continue"))?.expectsContinue == true)
        #expect(head(get("/"))?.expectsContinue == false)
        #expect(head("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")?.expectsContinue == false)
    }

    @Test func upgrade() {
        #expect(head(get("/ws", "Connection: Upgrade", "Upgrade: websocket"))?.wantsUpgrade == true)
        #expect(head(get("/ws", "Upgrade: websocket", "Connection: keep-alive, upgrade"))?.wantsUpgrade == true)
        #expect(head(get("/ws", "Upgrade: websocket"))?.wantsUpgrade == false)
        #expect(head(get("/ws", "Connection: upgrade"))?.wantsUpgrade == false)
        #expect(head("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n")?.wantsUpgrade == false)
    }

    @Test func absoluteForm() {
        let h = head("GET hTTp://Api.Example:8080/a/../b%3a?x=1&y=%zz HTTP/1.1\r\nHost: other.example\r\n\r\n")
        #expect(h?.targetForm == .absolute)
        #expect(h.flatMap { text($0.bytes, $0.targetAuthorityRange) } == "Api.Example:8080")
        #expect(h.flatMap { text($0.bytes, $0.hostRange) } == "other.example")
        #expect(path(h) == "/b%3A")
        #expect(h.flatMap { text($0.bytes, $0.queryRange) } == "?x=1&y=%zz")

        let bare = head("GET HTTPS://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n")
        #expect(path(bare) == "/")
        #expect(bare?.queryRange.isEmpty == true)
        let queryOnly = head("GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n")
        #expect(path(queryOnly) == "/")
        #expect(queryOnly.flatMap { text($0.bytes, $0.queryRange) } == "?q")
        let ipv6 = head("GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
        #expect(ipv6.flatMap { text($0.bytes, $0.targetAuthorityRange) } == "[::1]:80")
    }

    @Test func originFormQueryAndPath() {
        let h = head(get("/a/./b/../c//d?x=%2f&y=/../z"))
        #expect(path(h) == "/a/c/d")
        #expect(h.flatMap { text($0.bytes, $0.queryRange) } == "?x=%2f&y=/../z")
        #expect(h.flatMap { text($0.bytes, $0.targetRange) } == "/a/./b/../c//d?x=%2f&y=/../z")
        #expect(h?.targetAuthorityRange == nil)

        let noQuery = head(get("/p"))
        #expect(noQuery.map { $0.queryRange.isEmpty && $0.queryRange.lowerBound == $0.targetRange.upperBound } == true)
        #expect(path(head(get("/a/%2e%2e/b"))) == "/b")
        #expect(path(head(get("//a///b"))) == "/a/b")
        #expect(path(head(get("/%7euser"))) == "/~user")
        #expect(path(head(get("/a%3ab"))) == "/a%3Ab")
        #expect(path(head(get("/a/./b/../c"))) == "/a/c")
    }

    @Test func asteriskForm() {
        let h = head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(h?.targetForm == .asterisk)
        #expect(h?.method == .options)
        #expect(path(h) == "*")
        #expect(h?.queryRange.isEmpty == true)
    }

    @Test(arguments: [
        ("GET", KnownMethod.get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete),
        ("OPTIONS", .options), ("TRACE", .trace), ("PATCH", .patch), ("PROPFIND", .other), ("get", .other),
        ("M-SEARCH", .other), ("X~!#$%&'*+.^_`|", .other),
    ])
    func methods(_ name: String, _ method: KnownMethod) {
        let h = head("\(name) /x HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(h?.method == method)
        #expect(h.flatMap { text($0.bytes, $0.methodRange) } == name)
    }

    @Test func hostForms() {
        for host in ["a", "a.example", "a.example:8443", "[::1]", "[2001:db8::1]:443", "10.0.0.1:80", "my_host"] {
            let h = head("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n")
            #expect(h.flatMap { text($0.bytes, $0.hostRange) } == host)
        }
        let http10 = head("GET / HTTP/1.0\r\n\r\n")
        #expect(http10?.hostRange == nil)
        #expect(http10?.version == .http10)
        #expect(
            head("GET / HTTP/1.1\r\nhOsT:  a.example \r\n\r\n").flatMap { text($0.bytes, $0.hostRange) } == "a.example")
    }

    @Test func fieldValues() {
        let h = head(get("/", "X-Empty:", "X-Trim: \t a \t b \t ", "X-Obs: café", "X-Tab:\tv"))
        #expect(
            h.map { lines($0.headers) } == [
                "Host: example.com", "X-Empty: ", "X-Trim: a \t b", "X-Obs: café", "X-Tab: v",
            ])
    }
}
