/// What the fields of one head say about framing, routing and the connection.
///
/// Filled field by field by `FieldSection` through `FieldRule`; the request and response parsers
/// then turn it into framing and keep-alive decisions. Refusals that concern one field are thrown
/// as soon as that field is seen; those that concern a combination are thrown by `declaredFraming`.
struct FieldFacts {
    /// The `Host` value of the first Host field.
    var hostRange: Range<Int>?
    /// How many Host fields were seen (more than one is refused by the request parser).
    var hostCount = 0
    /// The Content-Length value, when present (all occurrences are identical).
    var contentLength: Int64?
    /// Whether any Transfer-Encoding field was seen.
    var hasTransferEncoding = false
    /// Number of transfer codings listed across all Transfer-Encoding fields.
    var codingCount = 0
    /// How many of them are `chunked`.
    var chunkedCount = 0
    /// Whether the last listed coding is `chunked`.
    var lastCodingIsChunked = false
    /// Ranges of the tokens of every Connection field.
    var connectionTokens = ConnectionTokens()
    var connectionClose = false
    var connectionKeepAlive = false
    var connectionUpgrade = false
    /// `Expect: 100-continue` was sent.
    var expectsContinue = false
    /// An Upgrade field was sent.
    var hasUpgrade = false
    /// Some field name holds a `_` (the proxy then looks at each name; most heads have none).
    var underscoreNames = false
    /// `Content_Length` or `Transfer_Encoding` was sent (refused in requests).
    var framingSpelledWithUnderscore = false

    /// Records one interpreted field.
    mutating func apply(_ rule: FieldRule, value: Range<Int>, in bytes: [UInt8]) throws(HTTPParseError) {
        switch rule {
        case .host:
            guard HostSyntax.isValid(bytes, value) else { throw .invalidHost }
            hostCount += 1
            if hostRange == nil { hostRange = value }
        case .contentLength:
            try applyContentLength(value, in: bytes)
        case .transferEncoding:
            try applyTransferEncoding(value, in: bytes)
        case .connection:
            try applyConnection(value, in: bytes)
        case .expect:
            guard equalsIgnoringCase(bytes, value, "100-continue") else { throw .unsupportedExpectation }
            expectsContinue = true
        case .upgrade:
            hasUpgrade = true
        }
    }

    /// `Content-Length = 1*DIGIT`; a list of identical values (`5, 5`) is taken as one (RFC 9110 8.6).
    private mutating func applyContentLength(_ value: Range<Int>, in bytes: [UInt8]) throws(HTTPParseError) {
        var elements = ListElements(bytes, value)
        while let element = elements.next() {
            guard !element.isEmpty else { throw .invalidContentLength }
            var length: Int64 = 0
            for i in element {
                guard TokenTables.isIn(bytes[i], .digit) else { throw .invalidContentLength }
                let (times10, o1) = length.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(bytes[i] - 0x30))
                guard !o1, !o2 else { throw .invalidContentLength }
                length = sum
            }
            if let previous = contentLength, previous != length { throw .conflictingContentLength }
            contentLength = length
        }
    }

    /// Each coding is a bare token (no parameters: we only ever accept `chunked`, which has none).
    private mutating func applyTransferEncoding(_ value: Range<Int>, in bytes: [UInt8]) throws(HTTPParseError) {
        hasTransferEncoding = true
        var elements = ListElements(bytes, value)
        while let element = elements.next() {
            guard allIn(bytes, element, .tchar) else { throw .invalidTransferEncoding }
            codingCount += 1
            lastCodingIsChunked = equalsIgnoringCase(bytes, element, "chunked")
            if lastCodingIsChunked { chunkedCount += 1 }
        }
    }

    /// Connection tokens; empty list elements are skipped (RFC 9110 section 5.6.1).
    private mutating func applyConnection(_ value: Range<Int>, in bytes: [UInt8]) throws(HTTPParseError) {
        var elements = ListElements(bytes, value)
        while let token = elements.next() {
            if token.isEmpty { continue }
            guard allIn(bytes, token, .tchar) else { throw .invalidConnection }
            if equalsIgnoringCase(bytes, token, "close") {
                connectionClose = true
            } else if equalsIgnoringCase(bytes, token, "keep-alive") {
                connectionKeepAlive = true
            } else if equalsIgnoringCase(bytes, token, "upgrade") {
                connectionUpgrade = true
            } else if equalsIgnoringCase(bytes, token, "content-length")
                || equalsIgnoringCase(bytes, token, "transfer-encoding") || equalsIgnoringCase(bytes, token, "host")
            {
                // Removing these as hop-by-hop would change the framing or the routing downstream.
                throw .connectionNamesFramingField
            }
            connectionTokens.append(token)
        }
    }

    /// The framing the fields declare, or nil when they declare none (no Content-Length, no
    /// Transfer-Encoding). Refuses every ambiguous combination (RFC 9112 section 6.3).
    func declaredFraming(version: HTTPVersion) throws(HTTPParseError) -> BodyFraming? {
        if hasTransferEncoding {
            if contentLength != nil { throw .contentLengthWithTransferEncoding }
            if case .http10 = version { throw .transferEncodingOnHTTP10 }
            if codingCount == 0 { throw .invalidTransferEncoding }
            if chunkedCount > 1 { throw .chunkedAppliedTwice }
            if !lastCodingIsChunked { throw .transferEncodingNotChunked }
            if codingCount > 1 { throw .unsupportedTransferCoding }
            return .chunked
        }
        if let contentLength { return .length(contentLength) }
        return nil
    }

    /// Whether the connection stays open: the version's default, adjusted by Connection tokens
    /// (`close` wins over `keep-alive`).
    func keepAlive(version: HTTPVersion) -> Bool {
        if connectionClose { return false }
        switch version {
        case .http11: return true
        case .http10: return connectionKeepAlive
        }
    }
}
