/// Why the codec refused a message: the status the client gets, and a precise reason for logs and metrics.
///
/// A struct over a private enum (swift-nio `NIOHTTPDecoderError`), so cases can be added without breaking
/// exhaustive switches elsewhere.
package struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status the gateway answers with (400, 413, 414, 431, 501, 505); 502 for upstream responses.
    package let status: Int
    /// A short stable reason, e.g. "content-length-with-transfer-encoding".
    package let reason: String

    package init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    package var description: String { "\(status) \(reason)" }
}
