/// The request line: `method SP request-target SP HTTP-version CRLF` (RFC 9112 section 3).
///
/// Exactly one SP between the parts, a token for the method, and a target of visible ASCII only.
/// Ranges index the head bytes; `end` is the offset of the CR that ends the line.
struct RequestLine {
    var method: KnownMethod
    var methodRange: Range<Int>
    var targetRange: Range<Int>
    var version: HTTPVersion
    var end: Int

    /// Parses the first line of `bytes`, which `HeadScanner` guarantees to end in CRLF.
    init(parsing bytes: [UInt8]) throws(HTTPParseError) {
        var i = 0
        while TokenTables.isIn(bytes[i], .tchar) { i += 1 }
        guard i > 0 else { throw .invalidMethod }
        methodRange = 0..<i
        guard bytes[i] == ASCII.space else { throw bytes[i] == ASCII.cr ? .invalidRequestLine : .invalidMethod }
        i += 1
        let targetStart = i
        while TokenTables.isIn(bytes[i], .targetChar) { i += 1 }
        targetRange = targetStart..<i
        guard !targetRange.isEmpty else { throw .invalidTarget }
        guard bytes[i] == ASCII.space else { throw bytes[i] == ASCII.cr ? .invalidRequestLine : .invalidTarget }
        i += 1
        let versionStart = i
        while bytes[i] != ASCII.cr { i += 1 }
        end = i
        version = try parseVersion(bytes, versionStart..<i, unsupported: .unsupportedVersion, invalid: .invalidVersion)
        method = KnownMethod.parse(bytes, methodRange)
    }
}

/// The status line: `HTTP-version SP 3DIGIT SP reason-phrase CRLF` (RFC 9112 section 4).
///
/// Also accepted: `HTTP/1.1 200 CRLF` without the last SP, which some servers send. Every refusal
/// is a 502 (the client is not at fault).
struct StatusLine {
    var version: HTTPVersion
    var status: Int
    var reasonRange: Range<Int>
    var end: Int

    /// Parses the first line of `bytes`.
    init(parsing bytes: [UInt8]) throws(HTTPParseError) {
        // A complete head is at least "HTTP/1.1 200\r\n\r\n"; shorter is garbage.
        guard bytes.count >= 16 else { throw .invalidStatusLine }
        let space = 8
        version = try parseVersion(
            bytes, 0..<space, unsupported: .unsupportedVersion.asUpstream, invalid: .invalidStatusLine)
        guard bytes[space] == ASCII.space else { throw .invalidStatusLine }
        var code = 0
        for i in (space + 1)..<(space + 4) {
            guard TokenTables.isIn(bytes[i], .digit) else { throw .invalidStatusLine }
            code = code * 10 + Int(bytes[i] - 0x30)
        }
        guard code >= 100 && code <= 599 else { throw .invalidStatusCode }
        status = code
        var i = space + 4
        if bytes[i] == ASCII.space {
            i += 1
        } else if bytes[i] != ASCII.cr {
            throw .invalidStatusLine
        }
        let reasonStart = i
        while bytes[i] != ASCII.cr {
            let classes = TokenTables.classes[Int(bytes[i])]
            guard classes.contains(.fieldVChar) || classes.contains(.whitespace) else { throw .invalidStatusLine }
            i += 1
        }
        reasonRange = reasonStart..<i
        end = i
    }
}

/// `HTTP/1.0` or `HTTP/1.1`; another well-formed `HTTP/x.y` throws `unsupported`, anything else `invalid`.
private func parseVersion(
    _ bytes: [UInt8], _ range: Range<Int>, unsupported: HTTPParseError, invalid: HTTPParseError
) throws(HTTPParseError) -> HTTPVersion {
    guard range.count == 8, equalsExactly(bytes, range.lowerBound..<(range.lowerBound + 5), "HTTP/") else {
        throw invalid
    }
    let major = bytes[range.lowerBound + 5]
    let dot = bytes[range.lowerBound + 6]
    let minor = bytes[range.lowerBound + 7]
    guard TokenTables.isIn(major, .digit), dot == ASCII.dot, TokenTables.isIn(minor, .digit) else { throw invalid }
    guard major == UInt8(ascii: "1") else { throw unsupported }
    switch minor {
    case UInt8(ascii: "0"): return .http10
    case UInt8(ascii: "1"): return .http11
    default: throw unsupported
    }
}

/// True when `bytes[range]` equals `literal` exactly (case-sensitive).
func equalsExactly(_ bytes: [UInt8], _ range: Range<Int>, _ literal: StaticString) -> Bool {
    guard range.count == literal.utf8CodeUnitCount else { return false }
    return literal.withUTF8Buffer { want in
        var j = 0
        for i in range {
            if bytes[i] != want[j] { return false }
            j += 1
        }
        return true
    }
}

extension KnownMethod {
    /// Methods are case-sensitive (RFC 9110 section 9.1): `get` is a token like any other, `.other`.
    private static let table: [(name: StaticString, method: KnownMethod)] = [
        ("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put), ("DELETE", .delete),
        ("OPTIONS", .options), ("TRACE", .trace), ("PATCH", .patch), ("CONNECT", .connect),
    ]

    /// The method named by `bytes[range]`, a token already validated.
    static func parse(_ bytes: [UInt8], _ range: Range<Int>) -> KnownMethod {
        for entry in table where equalsExactly(bytes, range, entry.name) { return entry.method }
        return .other
    }
}
