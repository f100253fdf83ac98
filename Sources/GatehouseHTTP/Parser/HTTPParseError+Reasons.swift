/// Every refusal of the parsers, one stable kebab-case reason each.
///
/// Request-side refusals carry the status the client gets. `ResponseParser` re-throws the same
/// reasons with status 502 (see `asUpstream`), so logs name the precise fault on both sides.
extension HTTPParseError {
    // MARK: Line framing (head, trailers, chunk lines)
    static let bareLF = HTTPParseError(status: 400, reason: "bare-lf")
    static let bareCR = HTTPParseError(status: 400, reason: "bare-cr")
    static let tooManyEmptyLines = HTTPParseError(status: 400, reason: "too-many-leading-empty-lines")

    // MARK: Start lines
    static let invalidMethod = HTTPParseError(status: 400, reason: "invalid-method")
    static let invalidRequestLine = HTTPParseError(status: 400, reason: "invalid-request-line")
    static let invalidTarget = HTTPParseError(status: 400, reason: "invalid-target")
    static let invalidVersion = HTTPParseError(status: 400, reason: "invalid-version")
    static let unsupportedVersion = HTTPParseError(status: 505, reason: "unsupported-version")
    static let connectNotSupported = HTTPParseError(status: 501, reason: "connect-not-supported")
    static let asteriskFormNotOptions = HTTPParseError(status: 400, reason: "asterisk-form-not-options")
    static let userinfoInTarget = HTTPParseError(status: 400, reason: "userinfo-in-target")
    static let invalidTargetAuthority = HTTPParseError(status: 400, reason: "invalid-target-authority")
    static let invalidStatusLine = HTTPParseError(status: 502, reason: "invalid-status-line")
    static let invalidStatusCode = HTTPParseError(status: 502, reason: "invalid-status-code")

    // MARK: Field lines
    static let obsFold = HTTPParseError(status: 400, reason: "obs-fold")
    static let emptyFieldName = HTTPParseError(status: 400, reason: "empty-field-name")
    static let invalidFieldName = HTTPParseError(status: 400, reason: "invalid-field-name")
    static let whitespaceBeforeColon = HTTPParseError(status: 400, reason: "whitespace-before-colon")
    static let missingColon = HTTPParseError(status: 400, reason: "missing-colon")
    static let invalidFieldValue = HTTPParseError(status: 400, reason: "invalid-field-value")
    static let forbiddenTrailerField = HTTPParseError(status: 400, reason: "forbidden-trailer-field")

    // MARK: Field semantics
    static let contentLengthWithTransferEncoding = HTTPParseError(
        status: 400, reason: "content-length-with-transfer-encoding")
    static let conflictingContentLength = HTTPParseError(status: 400, reason: "conflicting-content-length")
    static let invalidContentLength = HTTPParseError(status: 400, reason: "invalid-content-length")
    static let invalidTransferEncoding = HTTPParseError(status: 400, reason: "invalid-transfer-encoding")
    static let transferEncodingNotChunked = HTTPParseError(status: 400, reason: "transfer-encoding-not-chunked")
    static let chunkedAppliedTwice = HTTPParseError(status: 400, reason: "chunked-applied-twice")
    static let unsupportedTransferCoding = HTTPParseError(status: 501, reason: "unsupported-transfer-coding")
    static let transferEncodingOnHTTP10 = HTTPParseError(status: 400, reason: "transfer-encoding-on-http10")
    static let missingHost = HTTPParseError(status: 400, reason: "missing-host")
    static let duplicateHost = HTTPParseError(status: 400, reason: "duplicate-host")
    static let invalidHost = HTTPParseError(status: 400, reason: "invalid-host")
    static let invalidConnection = HTTPParseError(status: 400, reason: "invalid-connection")
    static let connectionNamesFramingField = HTTPParseError(status: 400, reason: "connection-names-framing-field")
    /// `Content_Length`, `Transfer_Encoding`: CGI-style backends read them as the framing field.
    static let framingFieldSpelledWithUnderscore = HTTPParseError(
        status: 400, reason: "framing-field-spelled-with-underscore")
    static let unsupportedExpectation = HTTPParseError(status: 417, reason: "unsupported-expectation")

    // MARK: Path
    static let ambiguousPath = HTTPParseError(status: 400, reason: "ambiguous-path")
    /// A `;` (or `%3B`) in the path while `server.path_parameters` is `refuse`.
    static let pathParameter = HTTPParseError(status: 400, reason: "path-parameter")
    static let invalidPercentEncoding = HTTPParseError(status: 400, reason: "invalid-percent-encoding")
    static let pathAboveRoot = HTTPParseError(status: 400, reason: "path-above-root")

    // MARK: Chunked framing
    static let invalidChunkSize = HTTPParseError(status: 400, reason: "invalid-chunk-size")
    static let chunkSizeOverflow = HTTPParseError(status: 400, reason: "chunk-size-overflow")
    static let invalidChunkExtension = HTTPParseError(status: 400, reason: "invalid-chunk-extension")
    static let chunkLineTooLong = HTTPParseError(status: 400, reason: "chunk-line-too-long")
    static let missingChunkCRLF = HTTPParseError(status: 400, reason: "missing-chunk-crlf")

    // MARK: Limits
    static let requestLineTooLong = HTTPParseError(status: 414, reason: "request-line-too-long")
    static let statusLineTooLong = HTTPParseError(status: 502, reason: "status-line-too-long")
    static let headTooLarge = HTTPParseError(status: 431, reason: "head-too-large")
    static let tooManyFields = HTTPParseError(status: 431, reason: "too-many-fields")
    static let trailersTooLarge = HTTPParseError(status: 431, reason: "trailers-too-large")
    static let tooManyTrailerFields = HTTPParseError(status: 431, reason: "too-many-trailer-fields")
    static let bodyTooLarge = HTTPParseError(status: 413, reason: "body-too-large")

    // MARK: Upstream
    static let upstreamTruncated = HTTPParseError(status: 502, reason: "upstream-truncated")

    /// The same refusal as seen from the upstream side: the client gets 502 whatever the fault.
    var asUpstream: HTTPParseError { HTTPParseError(status: 502, reason: reason) }
}
