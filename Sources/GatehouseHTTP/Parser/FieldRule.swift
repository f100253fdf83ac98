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
    ///
    /// By the name's length first (every field of every head comes here, and most have a length no rule
    /// has); debug builds check each answer against `table`.
    static func lookup(_ name: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> FieldRule? {
        func named(_ lowercase: StaticString) -> Bool {
            lowercase.withUTF8Buffer { want in
                for k in 0..<want.count where asciiLower(bytes[name.lowerBound + k]) != want[k] { return false }
                return true
            }
        }
        let rule: FieldRule?
        switch name.count {
        case 4: rule = named("host") ? .host : nil
        case 6: rule = named("expect") ? .expect : nil
        case 7: rule = named("upgrade") ? .upgrade : nil
        case 10: rule = named("connection") ? .connection : nil
        case 14: rule = named("content-length") ? .contentLength : nil
        case 17: rule = named("transfer-encoding") ? .transferEncoding : nil
        default: rule = nil
        }
        assert(rule == table.first(where: { $0.name.utf8CodeUnitCount == name.count && named($0.name) })?.rule,
               "FieldRule.lookup disagrees with the table")
        return rule
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
