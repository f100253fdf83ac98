/// Every bound the codec enforces, in one place (swift-nio's `NIOHTTPDecoderLimitConfiguration`).
package struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (method SP target SP version); a longer target gets 414.
    package var maxRequestLine: Int = 8 * 1024
    /// Longest request/response head in bytes (start line + all header lines + final CRLF); over it: 431.
    package var maxHead: Int = 32 * 1024
    /// Most header fields in one head; over it: 431.
    package var maxHeaderCount: Int = 100
    /// Largest request body; over it: 413 (before reading any body when Content-Length says so).
    package var maxBody: Int64 = 64 * 1024 * 1024
    /// Longest chunk-size line including extensions; over it: 400.
    package var maxChunkLine: Int = 4096
    /// Largest total size of chunked trailers; over it: 431.
    package var maxTrailers: Int = 8 * 1024
    /// Not a bound but a reading the codec must make: what a `;` in a request path means.
    package var pathParameters: PathParameters = .refuse

    package init() {}
}

/// What a `;` in a request path means (`server.path_parameters`). Servlet containers (Tomcat, Jetty, Spring)
/// remove `;...` from every segment before they resolve the path, other servers keep it as part of the name:
/// `/private;jsessionid=1/x` is `/private/x` to the first kind and not to the second.
package enum PathParameters: Sendable, Equatable {
    /// A `;` or `%3B` in the path is refused with 400 (the default): the gateway cannot know which reading
    /// the upstream makes.
    case refuse
    /// The servlet reading: routing sees each segment without its parameters (`RequestHead.routingPath`);
    /// the upstream receives the normalised path with them.
    case servlet
}
