import GatehouseHTTP
import Testing

@Suite("PathNormalizer")
struct PathNormalizerTests {
    private func normalize(_ path: String, _ parameters: PathParameters = .refuse) -> Result<String, HTTPParseError> {
        let bytes = Array(path.utf8)
        return Result { () throws(HTTPParseError) in
            String(decoding: try PathNormalizer.normalize(bytes[...], parameters: parameters), as: UTF8.self)
        }
    }

    @Test(arguments: [
        ("/", "/"),
        ("/a/./b/../c", "/a/c"),
        ("/a/%2e%2e/b", "/b"),
        ("/a/%2E%2e/b", "/b"),
        ("/a/.%2e/b", "/b"),
        ("//a///b", "/a/b"),
        ("/%7e", "/~"),
        ("/%7Euser/%41%5a%30%2D%2e%5F", "/~user/AZ0-._"),
        ("/a%3ab", "/a%3Ab"),
        ("/a%3Ab%c3%a9", "/a%3Ab%C3%A9"),
        ("/%25", "/%25"),
        ("/%2541", "/%2541"),
        ("/a/", "/a/"),
        ("/a//", "/a/"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/a/b/..", "/a/"),
        ("/.", "/"),
        ("/./", "/"),
        ("/a/...", "/a/..."),
        ("/a/.b/..c", "/a/.b/..c"),
        ("/a/b/../../c/", "/c/"),
        ("/a/%2e", "/a/"),
    ])
    func normalizes(_ input: String, _ expected: String) {
        #expect(normalize(input) == .success(expected))
    }

    @Test(arguments: [
        ("/..", "path-above-root"),
        ("/%2e%2e/x", "path-above-root"),
        ("/a/../../x", "path-above-root"),
        ("/a/b/../%2E%2E/..", "path-above-root"),
        ("/a%2fb", "ambiguous-path"),
        ("/a%2Fb", "ambiguous-path"),
        ("/a%5cb", "ambiguous-path"),
        ("/a%5Cb", "ambiguous-path"),
        ("/a\\b", "ambiguous-path"),
        ("/a%00b", "ambiguous-path"),
        ("/public/..;/admin", "path-parameter"),
        ("/public/.;x/admin", "path-parameter"),
        ("/public/%2e%2e;/admin", "path-parameter"),
        ("/private;jsessionid=1/x", "path-parameter"),
        ("/private;/x", "path-parameter"),
        ("/private/x;", "path-parameter"),
        ("/private%3bjsessionid=1/x", "path-parameter"),
        ("/private%3B/x", "path-parameter"),
        ("/%G1", "invalid-percent-encoding"),
        ("/%4", "invalid-percent-encoding"),
        ("/%", "invalid-percent-encoding"),
        ("/a%4g", "invalid-percent-encoding"),
        ("/%u002e", "invalid-percent-encoding"),
        ("a/b", "invalid-target"),
        ("", "invalid-target"),
        ("/a b", "invalid-target"),
        ("/a?b", "invalid-target"),
        ("/a#b", "invalid-target"),
    ])
    func refuses(_ input: String, _ reason: String) {
        #expect(normalize(input) == .failure(HTTPParseError(status: 400, reason: reason)))
    }

    /// `server.path_parameters: servlet`: `;` passes, and the dot-like segments servlet containers would
    /// resolve after removing parameters are refused.
    @Test(arguments: [
        ("/a;b/c", "/a;b/c", "/a/c"),
        ("/private;jsessionid=1/x", "/private;jsessionid=1/x", "/private/x"),
        ("/private;a=1;b=2", "/private;a=1;b=2", "/private"),
        ("/cars;color=red/../private/", "/private/", "/private/"),
        ("/a/b;v=1.0", "/a/b;v=1.0", "/a/b"),
        ("/a%3Bb/c", "/a%3Bb/c", "/a%3Bb/c"),
    ])
    func servletParameters(_ input: String, _ forwarded: String, _ routed: String) throws {
        #expect(normalize(input, .servlet) == .success(forwarded))
        let normalized = try PathNormalizer.normalize(Array(input.utf8)[...], parameters: .servlet)
        #expect(String(decoding: PathNormalizer.withoutParameters(normalized), as: UTF8.self) == routed)
    }

    @Test(arguments: ["/public/..;/admin", "/public/.;x/admin", "/public/%2e%2e;/admin", "/a/;x/../b", "/;x/b"])
    func servletRefusesDotAndEmptySegmentsWithParameters(_ input: String) {
        #expect(normalize(input, .servlet) == .failure(HTTPParseError(status: 400, reason: "ambiguous-path")))
    }

    @Test func linearOnManyDotSegments() {
        // 100 000 pushes and pops: linear, and the result is the root.
        let path = "/" + String(repeating: "a/../", count: 100_000)
        #expect(normalize(path) == .success("/"))
        let deep = String(repeating: "/a", count: 50_000) + String(repeating: "/..", count: 50_000)
        #expect(normalize(deep) == .success("/"))
    }
}
