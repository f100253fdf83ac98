package import GatehouseHTTP
package import GatehouseIO

/// A connection's buffered input as a parser sees it: libevent keeps it in chains, so it is read one
/// contiguous run at a time, dropped from the front as the parser consumes it, and joined when the parser
/// needs to see more at once. `Connection` is one; the unit tests use a fake with runs cut anywhere.
package protocol MessageInput: AnyObject {
    /// Bytes buffered in all runs.
    var inputCount: Int { get }
    /// Calls `body` with the first contiguous run (possibly fewer than `inputCount` bytes).
    func withUnsafeInputBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R
    func discardInput(_ count: Int)
    /// Joins the first `count` bytes into one run.
    func makeInputContiguous(_ count: Int)
}

extension Connection: MessageInput {}

/// The one step between a connection's bytes and a parser, shared by every reader of HTTP messages: the
/// client side (heads, bodies forwarded or read by the gateway's own endpoints), the upstream side (responses)
/// and the echo upstream.
package enum MessageReader {
    /// The parser's next event from `input`, after every "need more" the buffered bytes can already satisfy.
    ///
    /// `parse` sees the first contiguous run only. When it asks for more, the bytes it consumed are dropped
    /// here and it runs again while bytes it has not seen are buffered: on the next run if it consumed the
    /// whole run, on the input made contiguous if it kept some back (what it reads, a head or a trailer
    /// section, spans runs). So a `.needMore` returned means the parser has seen every buffered byte and the
    /// peer must send more; its consumed bytes are already dropped, and it carries 0. Every other event is
    /// returned as the parser reported it: the caller drops what it consumed.
    package static func next(
        from input: some MessageInput, _ parse: (UnsafeRawBufferPointer) throws(HTTPParseError) -> ParseEvent
    ) -> Result<ParseEvent, HTTPParseError> {
        while true {
            var seen = 0
            let step: Result<ParseEvent, HTTPParseError> = input.withUnsafeInputBytes { bytes in
                seen = bytes.count
                do throws(HTTPParseError) {
                    return .success(try parse(bytes))
                } catch {
                    return .failure(error)
                }
            }
            guard case .success(.needMore(let consumed)) = step else { return step }
            input.discardInput(consumed)
            let buffered = input.inputCount
            let unconsumed = seen - consumed  // seen, kept back by the parser (part of a head, say)
            if buffered <= unconsumed { return .success(.needMore(consumed: 0)) }
            // Unseen bytes follow: run the parser on them, joined to what it kept back if anything.
            // (Ends: each pass consumes bytes or joins; once joined, the parser sees all of them.)
            if unconsumed > 0 || seen == 0 { input.makeInputContiguous(buffered) }
        }
    }
}
