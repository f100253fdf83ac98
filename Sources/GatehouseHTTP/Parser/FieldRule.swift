/// The header fields whose meaning the codec decides itself, in one table (nginx `ngx_http_headers_in[]`).
///
/// Every other field is carried through untouched. None of these may appear in trailers: each one
/// has to be known before the body is read (RFC 9110 section 6.5.1).
enum FieldRule: Sendable {
    /// `Host`: exactly one, valid `uri-host [":" port]`.
    case host
    /// `Content-Length`: digits, identical if repeated.
    case contentLength
    /// `Transfer-Encoding`: exactly `chunked`.
    case transferEncoding
    /// `Connection`: tokens; adjusts keep-alive and must not name framing fields.
    case connection
    /// `Expect`: only `100-continue`.
    case expect
    /// `Upgrade`: its presence (with `Connection: upgrade`) asks for an upgrade.
    case upgrade

    /// The table: lowercase field name, rule.
    private static let table: [(name: StaticString, rule: FieldRule)] = [
        ("host", .host),
        ("content-length", .contentLength),
        ("transfer-encoding", .transferEncoding),
        ("connection", .connection),
        ("expect", .expect),
        ("upgrade", .upgrade),
    ]

    /// The rule for the field whose name is `bytes[name]`, if it has one.
    static func lookup(_ name: Range<Int>, in bytes: [UInt8]) -> FieldRule? {
        for entry in table where equalsIgnoringCase(bytes, name, entry.name) {
            return entry.rule
        }
        return nil
    }

    /// The rule whose name `bytes[name]` spells with `_` for `-` (`Transfer_Encoding`): not the field for
    /// HTTP, but the field itself for CGI, WSGI and PHP backends, which fold `_` and `-` alike.
    static func lookupUnderscoreSpelling(_ name: Range<Int>, in bytes: [UInt8]) -> FieldRule? {
        for entry in table where equalsIgnoringCase(bytes, name, entry.name, underscoreAsDash: true) {
            return entry.rule
        }
        return nil
    }
}
