extension RequestHead {
    /// Builds the head from its complete bytes (request line through the final CRLF), applying
    /// every request-side rule of SECURITY.md "HTTP/1.1 framing".
    ///
    /// - Parameters:
    ///   - bytes: The head as `HeadScanner` delivered it: every line ends in CRLF.
    ///   - fieldCount: The number of field lines the scanner counted.
    ///   - fieldStorage: An empty array the field index may reuse.
    ///   - limits: For the body bound (413 before any body byte is read).
    /// - Throws: The refusal for the first fault found.
    init(parsing bytes: [UInt8], fieldCount: Int, limits: HTTPLimits,
         reusing fieldStorage: consuming [HeaderFields.Field] = []) throws(HTTPParseError) {
        let line = try RequestLine(parsing: bytes)
        if case .connect = line.method { throw .connectNotSupported }
        let target = try RequestTarget(parsing: bytes, line.targetRange, method: line.method)
        var facts = FieldFacts()
        let fields = try FieldSection.parse(
            bytes, from: line.end + 2, expectedCount: fieldCount, kind: .headers, facts: &facts,
            reusing: fieldStorage)
        try Self.checkHost(facts, version: line.version)
        if facts.framingSpelledWithUnderscore { throw .framingFieldSpelledWithUnderscore }
        let framing = try facts.declaredFraming(version: line.version) ?? .none
        if case .length(let length) = framing, length > limits.maxBody { throw .bodyTooLarge }

        let normalizedPath: [UInt8]
        switch target.form {
        case .asterisk: normalizedPath = [ASCII.asterisk]
        case .origin, .absolute, .authority:
            normalizedPath = target.path.isEmpty
                ? [ASCII.slash] : try PathNormalizer.normalize(bytes[target.path], parameters: limits.pathParameters)
        }
        // Only the servlet reading lets a `;` through; the copy without parameters is made only then.
        var routingPath = normalizedPath
        if case .servlet = limits.pathParameters, normalizedPath.contains(ASCII.semicolon) {
            routingPath = PathNormalizer.withoutParameters(normalizedPath)
        }
        let isHTTP11 = line.version == .http11
        self.init(
            bytes: bytes,
            method: line.method,
            methodRange: line.methodRange,
            targetForm: target.form,
            targetRange: line.targetRange,
            targetAuthorityRange: target.authority,
            normalizedPath: normalizedPath,
            routingPath: routingPath,
            queryRange: target.query,
            version: line.version,
            headers: HeaderFields(storage: bytes, fields: fields),
            hostRange: facts.hostRange,
            framing: framing,
            keepAlive: facts.keepAlive(version: line.version),
            // RFC 9110 10.1.1 and 7.8: both are ignored in HTTP/1.0 requests.
            expectsContinue: isHTTP11 && facts.expectsContinue,
            wantsUpgrade: isHTTP11 && facts.connectionUpgrade && facts.hasUpgrade,
            connectionTokens: facts.connectionTokens,
            hasUnderscoreNames: facts.underscoreNames)
    }

    /// RFC 9112 3.2: HTTP/1.1 needs exactly one Host; HTTP/1.0 may omit it but not repeat it.
    private static func checkHost(_ facts: FieldFacts, version: HTTPVersion) throws(HTTPParseError) {
        if facts.hostCount > 1 { throw .duplicateHost }
        if facts.hostCount == 0, case .http11 = version { throw .missingHost }
    }
}
