@testable import GatehouseHTTP
import Testing

/// The inline token list behind `connectionTokens`: two tokens inline, the rest in an array, one order.
@Suite("ConnectionTokens")
struct ConnectionTokensTests {
    @Test(arguments: [0, 1, 2, 3, 7])
    func keepsEveryTokenInOrder(count: Int) {
        var tokens = ConnectionTokens()
        let ranges = (0..<count).map { ($0 * 10)..<($0 * 10 + 3 + $0) }
        for r in ranges { tokens.append(r) }
        #expect(tokens.count == count)
        #expect(tokens.isEmpty == (count == 0))
        #expect(Array(tokens) == ranges)
        #expect(tokens.map(\.count) == ranges.map(\.count))
    }

    @Test func aParsedHeadListsConnectionTokensAcrossFields() throws {
        var parser = ResponseParser(limits: HTTPLimits())
        let text = "HTTP/1.1 200 OK\r\nConnection: keep-alive, x-a\r\nConnection: x-b, x-c\r\nContent-Length: 0\r\n"
        let input = Array((text + "\r\n").utf8)
        let event = try input.withUnsafeBytes { try parser.next($0, requestMethod: .get) }
        guard case .responseHead(let head, _) = event else {
            Issue.record("no head: \(event)")
            return
        }
        #expect(head.connectionTokens.map { String(decoding: head.bytes[$0], as: UTF8.self) }
                == ["keep-alive", "x-a", "x-b", "x-c"])
    }
}
