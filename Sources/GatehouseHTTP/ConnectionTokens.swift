/// The tokens listed in a head's `Connection` fields, as ranges of the head's bytes, in order.
///
/// Why not an array: nearly every response (and many requests) carries `Connection: keep-alive` or
/// `close`, and an array would be one allocation per message for that one token. The first two tokens are
/// kept inline; only a third and later ones go into an array.
package struct ConnectionTokens: RandomAccessCollection, Sendable, Equatable {
    private var first: Range<Int> = 0..<0
    private var second: Range<Int> = 0..<0
    private var more: [Range<Int>] = []
    package private(set) var count = 0

    package init() {}

    package var startIndex: Int { 0 }
    package var endIndex: Int { count }

    package subscript(position: Int) -> Range<Int> {
        precondition(position >= 0 && position < count, "connection token index out of range")
        switch position {
        case 0: return first
        case 1: return second
        default: return more[position - 2]
        }
    }

    /// Adds the next token.
    package mutating func append(_ token: Range<Int>) {
        switch count {
        case 0: first = token
        case 1: second = token
        default: more.append(token)
        }
        count += 1
    }
}
