/// Parses the field lines of a complete head or trailer section (RFC 9112 section 5).
///
/// `HeadScanner` has already checked that every line ends in CRLF and holds no other CR or LF; this
/// pass checks the grammar of each line (`field-name ":" OWS field-value OWS`) and hands the fields
/// that the codec itself interprets to `FieldFacts` through the per-header rule table.
enum FieldSection {
    /// Where the section is: headers may carry framing and routing fields, trailers may not.
    enum Kind {
        case headers
        /// A request's trailers: a framing or routing field there is refused (it can only be a smuggling attempt).
        case trailers
        /// An upstream response's trailers: such a field is dropped instead (RFC 9110 6.5.1 lets a recipient
        /// ignore what a trailer may not carry). The chunks framed the body already, and the client must not
        /// lose a complete answer over a field that means nothing there.
        case responseTrailers
    }

    /// Parses field lines starting at `start` (the first byte after the start line's CRLF) up to the
    /// empty line that ends the section.
    ///
    /// - Parameters:
    ///   - bytes: The whole section; ranges in the result index it.
    ///   - start: Offset of the first field line.
    ///   - expectedCount: The scanner's field count, used to size the result once.
    ///   - kind: Headers or trailers.
    ///   - facts: Collects what the interpreted fields say.
    ///   - storage: An empty array whose storage the result may reuse (`HeadScanner.takeFieldArray`).
    /// - Returns: The fields in arrival order, OWS excluded from values.
    /// - Throws: The refusal for the first malformed line.
    static func parse(
        _ bytes: [UInt8], from start: Int, expectedCount: Int, kind: Kind, facts: inout FieldFacts,
        reusing storage: consuming [HeaderFields.Field] = []
    ) throws(HTTPParseError) -> [HeaderFields.Field] {
        var fields = storage
        fields.reserveCapacity(expectedCount)
        var failure: HTTPParseError?
        // One pass over the raw buffer (no bounds check per byte in release builds; debug builds keep them):
        // every line ends in CRLF (the scanner's guarantee), so each loop below stops at a CR inside `bytes`.
        bytes.withUnsafeBufferPointer { buffer in
            let classes = TokenTables.classTable
            var p = start
            while buffer[p] != ASCII.cr {
                do throws(HTTPParseError) {
                    let field = try parseLine(buffer, at: p, classes: classes)
                    p = field.lineEnd + 2
                    if field.underscore {
                        facts.underscoreNames = true
                        if let rule = FieldRule.lookupUnderscoreSpelling(field.field.name, in: bytes) {
                            switch kind {
                            case .headers:
                                if rule == .contentLength || rule == .transferEncoding {
                                    facts.framingSpelledWithUnderscore = true
                                }
                            case .trailers: throw .forbiddenTrailerField
                            case .responseTrailers: continue
                            }
                        }
                    } else if let rule = FieldRule.lookup(field.field.name, in: buffer) {
                        switch kind {
                        case .headers: try facts.apply(rule, value: field.field.value, in: bytes)
                        case .trailers: throw .forbiddenTrailerField
                        case .responseTrailers: continue
                        }
                    }
                    fields.append(field.field)
                } catch {
                    failure = error
                    return
                }
            }
        }
        if let failure { throw failure }
        return fields
    }

    /// Parses the field line at `p`; returns the field, whether its name holds a `_`, and the offset of the
    /// CR ending it.
    @inline(__always)
    private static func parseLine(
        _ bytes: UnsafeBufferPointer<UInt8>, at p: Int, classes: UnsafePointer<ByteClass>
    ) throws(HTTPParseError) -> (field: HeaderFields.Field, underscore: Bool, lineEnd: Int) {
        let first = bytes[p]
        if first == ASCII.space || first == ASCII.tab { throw .obsFold }
        if first == ASCII.colon { throw .emptyFieldName }
        var q = p
        var underscore = false
        while classes[Int(bytes[q])].contains(.tchar) {
            underscore = underscore || bytes[q] == ASCII.underscore
            q += 1
        }
        let name = p..<q
        switch bytes[q] {
        case ASCII.colon: break
        case ASCII.space, ASCII.tab: throw .whitespaceBeforeColon
        case ASCII.cr: throw .missingColon
        default: throw .invalidFieldName
        }
        q += 1
        while classes[Int(bytes[q])].contains(.whitespace) { q += 1 }
        let valueStart = q
        var valueEnd = q
        // Eight bytes at a time while all eight are VCHAR (0x21-0x7E): the usual runs of a value, and a token
        // or cookie of hundreds of bytes. A word with anything else (SP, HTAB, obs-text, a control, the CR)
        // is read one byte at a time (the table decides each exactly), then words again.
        let raw = UnsafeRawBufferPointer(bytes)
        value: while true {
            while q + 8 <= raw.count, Self.isAllVisibleASCII(raw.loadUnaligned(fromByteOffset: q, as: UInt64.self)) {
                q += 8
                valueEnd = q
            }
            let wordEnd = min(q + 8, raw.count)
            while q < wordEnd {
                if bytes[q] == ASCII.cr { break value }
                let byteClass = classes[Int(bytes[q])]
                if byteClass.contains(.fieldVChar) {
                    valueEnd = q + 1
                } else if !byteClass.contains(.whitespace) {
                    throw .invalidFieldValue
                }
                q += 1
            }
        }
        return (HeaderFields.Field(name: name, value: valueStart..<valueEnd), underscore, q)
    }

    /// True when each byte of `word` is in 0x21-0x7E: none below 0x21 (the exact `hasless(x, 0x21)` test,
    /// `(x - 0x2121..) & ~x & 0x8080..`), none with the high bit, none equal to 0x7F.
    @inline(__always)
    static func isAllVisibleASCII(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let below = (word &- ones &* 0x21) & ~word & highs
        let del = word ^ (ones &* 0x7F)
        let isDel = (del &- ones) & ~del & highs
        return (below | isDel | (word & highs)) == 0
    }
}
