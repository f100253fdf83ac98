import GatehouseHTTP

/// A request the gateway answers itself: its head, its (small, fully read) body, and when it started.
///
/// The connection keeps it while a `LocalResponder` makes the answer, which may take a while (a password hash
/// on the pool, a store call). The responder's completion goes back to the connection
/// (`ClientConnection.finishLocal`), which checks that it still waits for this very request, so a client that
/// left in the meantime is simply not answered. The responder itself never sees the connection.
final class LocalRequest {
    let head: RequestHead
    let headBytes: Int
    let startedAt: UInt64
    let endpoint: OwnEndpoint
    var body: [UInt8] = []
    var bodyComplete = false

    /// The largest body a gateway endpoint reads (a login form, a refresh request).
    static let bodyLimit = 16 * 1024

    init(head: RequestHead, headBytes: Int, startedAt: UInt64, endpoint: OwnEndpoint) {
        self.head = head
        self.headBytes = headBytes
        self.startedAt = startedAt
        self.endpoint = endpoint
    }

    /// The value of the first header named `name` (lowercase), as text.
    func header(_ name: StaticString) -> String? { head.headers.first(name) }

    /// The query parameter `name`, percent-decoded.
    func queryParameter(_ name: String) -> String? {
        var query = head.bytes[head.queryRange]
        if query.first == UInt8(ascii: "?") { query = query.dropFirst() }
        return FormFields.parse(Array(query))[name]
    }
}
