extension ResponseHead {
    /// Builds the head from its complete bytes, deciding the framing per RFC 9112 section 6.3.
    ///
    /// - Parameters:
    ///   - bytes: The head as `HeadScanner` delivered it.
    ///   - fieldCount: The number of field lines the scanner counted.
    ///   - fieldStorage: An empty array the field index may reuse.
    ///   - requestMethod: The method of the request this answers (a HEAD response has no body).
    /// - Throws: The refusal for the first fault found, with the request-side status (the response
    ///   parser turns every refusal into a 502).
    init(parsing bytes: [UInt8], fieldCount: Int, requestMethod: KnownMethod,
         reusing fieldStorage: consuming [HeaderFields.Field] = []) throws(HTTPParseError) {
        let line = try StatusLine(parsing: bytes)
        var facts = FieldFacts()
        let fields = try FieldSection.parse(
            bytes, from: line.end + 2, expectedCount: fieldCount, kind: .headers, facts: &facts,
            reusing: fieldStorage)
        // Validated even when the status or method says "no body": an upstream that sends
        // ambiguous framing is not trusted with the rest of the connection either.
        let declared = try facts.declaredFraming(version: line.version)
        let framing: BodyFraming
        if case .head = requestMethod {
            framing = .none
        } else if line.status < 200 || line.status == 204 || line.status == 304 {
            framing = .none
        } else {
            framing = declared ?? .untilClose
        }
        var keepAlive = facts.keepAlive(version: line.version)
        if case .untilClose = framing { keepAlive = false }
        // A 204 may carry neither field (RFC 9110 8.6, RFC 9112 6.1): one that declares a body may still send
        // it, later, and those bytes must never be read as the next response on this connection.
        if line.status == 204, facts.hasTransferEncoding || (facts.contentLength ?? 0) > 0 { keepAlive = false }
        self.init(
            bytes: bytes,
            version: line.version,
            status: line.status,
            reasonRange: line.reasonRange,
            headers: HeaderFields(storage: bytes, fields: fields),
            framing: framing,
            keepAlive: keepAlive,
            connectionTokens: facts.connectionTokens)
    }
}
