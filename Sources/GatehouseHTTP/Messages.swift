/// HTTP version of a message. Only 1.0 and 1.1 exist on this wire; anything else is refused.
package enum HTTPVersion: Sendable, Equatable {
    case http10
    case http11
}

/// The request methods the gateway treats specially; every other token is `.other` and is proxied as is.
package enum KnownMethod: Sendable, Equatable {
    case get, head, post, put, delete, options, trace, patch, connect
    case other
}

/// How a message body is delimited on the wire (RFC 9112 section 6).
package enum BodyFraming: Sendable, Equatable {
    /// No body at all (no Content-Length/Transfer-Encoding on a request; HEAD/1xx/204/304 responses).
    case none
    /// Exactly this many bytes (may be 0).
    case length(Int64)
    /// `Transfer-Encoding: chunked`.
    case chunked
    /// Responses only: the body runs until the upstream closes the connection.
    case untilClose
}

/// The form of the request target (RFC 9112 section 3.2).
package enum TargetForm: Sendable, Equatable {
    case origin      // /path?query
    case absolute    // http://host/path?query
    case authority   // host:port (CONNECT only)
    case asterisk    // * (OPTIONS only)
}

/// A parsed request head. All ranges index `bytes`, a copy of the head as received.
package struct RequestHead: Sendable {
    /// The raw head bytes (request line + header lines), which every range below points into.
    package var bytes: [UInt8]
    package var method: KnownMethod
    package var methodRange: Range<Int>
    package var targetForm: TargetForm
    /// The whole request-target as sent.
    package var targetRange: Range<Int>
    /// Absolute-form only: the authority (host[:port]) inside the target.
    ///
    /// When present it is THE authority of the request (RFC 9112 3.2.2): routing, policy and logs
    /// use it and ignore `hostRange`, even when the Host field names another host (which the
    /// parser allows).
    package var targetAuthorityRange: Range<Int>?
    /// The path of the target, normalised by `PathNormalizer` (unreserved escapes decoded, other
    /// escapes uppercased, `//`, `.` and `..` resolved); the router, the policy and the upstream all
    /// use this one. The query is not part of it (see `queryRange`). Absolute-form: the path after
    /// the authority, "/" when empty; asterisk-form: `*`.
    package var normalizedPath: [UInt8]
    /// The path routes match: `normalizedPath`, or with `server.path_parameters: servlet` the same without
    /// each segment's `;...` parameters (what Tomcat, Jetty and Spring resolve). Shares `normalizedPath`'s
    /// storage when the path has no parameter.
    package var routingPath: [UInt8]
    /// The query including its leading "?", or an empty range.
    package var queryRange: Range<Int>
    package var version: HTTPVersion
    /// The header fields; their storage is `bytes`.
    package var headers: HeaderFields
    /// The Host header value's range (nil only for HTTP/1.0 requests without Host). Ignored by
    /// callers when `targetAuthorityRange` is set.
    package var hostRange: Range<Int>?
    package var framing: BodyFraming
    /// Keep the connection open after this exchange (version default, adjusted by `Connection`).
    package var keepAlive: Bool
    /// `Expect: 100-continue` was sent (and the version is 1.1).
    package var expectsContinue: Bool
    /// `Connection: upgrade` together with an `Upgrade` header.
    package var wantsUpgrade: Bool
    /// Ranges of the tokens listed in every `Connection` header (lowercased comparison is the caller's job).
    package var connectionTokens: ConnectionTokens
    /// Some field name holds a `_` (the proxy then checks each name; most requests have none).
    package var hasUnderscoreNames: Bool
}

/// A parsed response head. All ranges index `bytes`.
package struct ResponseHead: Sendable {
    package var bytes: [UInt8]
    package var version: HTTPVersion
    package var status: Int
    package var reasonRange: Range<Int>
    package var headers: HeaderFields
    /// Framing as decided from status, the request method and the headers.
    package var framing: BodyFraming
    package var keepAlive: Bool
    package var connectionTokens: ConnectionTokens
}

/// What one call of a parser produced.
///
/// `consumed` counts input bytes the caller may now discard.
package enum ParseEvent: Sendable {
    /// Every byte of the input was consumed (or none can be until more arrive); call again with more.
    case needMore(consumed: Int)
    /// A request head is complete; the head's bytes are `consumed`.
    case requestHead(RequestHead, consumed: Int)
    /// A response head is complete.
    case responseHead(ResponseHead, consumed: Int)
    /// `input[payload]` is body payload to forward; everything before `payload.upperBound` is consumed
    /// (framing bytes before the payload, e.g. a chunk-size line, are consumed as well).
    case body(payload: Range<Int>)
    /// The message is complete; `trailers` holds chunked trailers (empty when none).
    case end(trailers: HeaderFields, consumed: Int)
}
