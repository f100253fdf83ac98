import GatehouseIO
import GatehouseTestSupport
import Glibc
import XCTest

/// The hiredis wrapper against a real redis-server (Debian's) on its own port, and against a stand-in server
/// that breaks off mid-reply. The loop runs on the test thread; each test stops it when its replies are in.
final class RedisClientTests: XCTestCase {
    private var server: RedisServerProcess!

    override func setUpWithError() throws {
        server = try RedisServerProcess()
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    /// Sends `commands` in one pipeline and returns the replies, in order.
    private func replies(to commands: [[String]]) throws -> [RedisReply] {
        let loop = try EventLoop()
        var ended: RedisClient.Ending?
        let client = try RedisClient(loop: loop, address: "127.0.0.1", port: server.port) { ending in
            ended = ending
            loop.stop()
        }
        defer { client.close() }
        var got: [RedisReply] = []
        for command in commands {
            XCTAssertTrue(client.send(command.map(b)) { reply in
                got.append(reply)
                if got.count == commands.count { loop.stop() }
            })
        }
        runLoop(loop)
        XCTAssertNil(ended)
        XCTAssertEqual(client.pendingReplies, 0)
        return got
    }

    func testEveryReplyKind() throws {
        let got = try replies(to: [
            ["SET", "k", "v"],
            ["GET", "k"],
            ["GET", "missing"],
            ["INCR", "n"],
            ["INCR", "k"],
            ["RPUSH", "list", "a", "", "c"],
            ["LRANGE", "list", "0", "-1"],
            ["LRANGE", "nothing", "0", "-1"],
            ["EVAL", "return {1, {'x', false}, redis.status_reply('FINE')}", "0"],
            ["NOSUCHCOMMAND"],
        ])
        XCTAssertEqual(got.count, 10)
        guard got.count == 10 else { return }
        XCTAssertEqual(got[0], .status("OK"))
        XCTAssertEqual(got[1], .bulk(b("v")))
        XCTAssertEqual(got[2], .null)
        XCTAssertEqual(got[3], .integer(1))
        guard case .error(let message) = got[4] else { return XCTFail("INCR of a string: \(got[4])") }
        XCTAssertTrue(message.hasPrefix("ERR"), message)
        XCTAssertEqual(got[5], .integer(3))
        XCTAssertEqual(got[6], .array([.bulk(b("a")), .bulk([]), .bulk(b("c"))]))
        XCTAssertEqual(got[7], .array([]))
        // Lua false is a null bulk; a nested table a nested array.
        XCTAssertEqual(got[8], .array([.integer(1), .array([.bulk(b("x")), .null]), .status("FINE")]))
        guard case .error(let unknown) = got[9] else { return XCTFail("unknown command: \(got[9])") }
        XCTAssertTrue(unknown.contains("unknown command"), unknown)
    }

    func testBinaryArgumentsAndRepliesRoundTrip() throws {
        let bytes: [UInt8] = [0, 1, 2, 13, 10, 255, 0, 36]
        let loop = try EventLoop()
        let client = try RedisClient(loop: loop, address: "127.0.0.1", port: server.port) { _ in loop.stop() }
        defer { client.close() }
        var got: RedisReply?
        _ = client.send([b("SET"), bytes, bytes]) { _ in }
        _ = client.send([b("GET"), bytes]) { reply in
            got = reply
            loop.stop()
        }
        runLoop(loop)
        XCTAssertEqual(got, .bulk(bytes))
    }

    func testPipelinedRepliesComeBackInOrder() throws {
        let got = try replies(to: (0..<200).map { ["ECHO", "\($0)"] })
        XCTAssertEqual(got, (0..<200).map { RedisReply.bulk(b("\($0)")) })
    }

    func testSubscriptionGetsEveryMessage() throws {
        let loop = try EventLoop()
        let subscriber = try RedisClient(loop: loop, address: "127.0.0.1", port: server.port) { _ in loop.stop() }
        let publisher = try RedisClient(loop: loop, address: "127.0.0.1", port: server.port) { _ in loop.stop() }
        defer {
            subscriber.close()
            publisher.close()
        }
        var pushes: [RedisReply] = []
        XCTAssertTrue(subscriber.subscribe([b("SUBSCRIBE"), b("chan")]) { push in
            pushes.append(push)
            if pushes.count == 1 {
                for n in 0..<3 { _ = publisher.send([b("PUBLISH"), b("chan"), b("m\(n)")]) { _ in } }
            }
            if pushes.count == 4 { loop.stop() }
        })
        runLoop(loop)
        XCTAssertEqual(pushes.first, .array([.bulk(b("subscribe")), .bulk(b("chan")), .integer(1)]))
        XCTAssertEqual(Array(pushes.dropFirst()), (0..<3).map {
            RedisReply.array([.bulk(b("message")), .bulk(b("chan")), .bulk(b("m\($0)"))])
        })
        XCTAssertEqual(subscriber.pendingReplies, 1, "the subscription's callback stays")
    }

    func testARefusedConnectEndsWithConnectFailed() throws {
        let (fd, port) = try LoopbackSocket.bind(listening: nil, name: "refusing port")
        defer { close(fd) }
        let loop = try EventLoop()
        var ended: RedisClient.Ending?
        var replied = false
        let client = try RedisClient(loop: loop, address: "127.0.0.1", port: Int(port)) { ending in
            ended = ending
            loop.stop()
        }
        // hiredis queues a command sent before the connect completes; it is dropped, never answered.
        XCTAssertTrue(client.send([b("PING")]) { _ in replied = true })
        runLoop(loop)
        guard case .connectFailed(let message) = ended else { return XCTFail("ended: \(String(describing: ended))") }
        XCTAssertTrue(message.contains("refused"), message)
        XCTAssertFalse(replied)
        XCTAssertFalse(client.isOpen)
        XCTAssertFalse(client.send([b("PING")]) { _ in }, "a spent client refuses commands")
    }

    func testAServerThatClosesMidReplyEndsTheConnection() throws {
        let (listener, port) = try LoopbackSocket.bind(listening: 4, name: "half-reply server")
        defer { close(listener) }
        // Answers the first command with half a bulk string, then closes.
        let standIn = try LoopThread(name: "half-reply") {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 256)
            _ = read(fd, &buffer, buffer.count)
            let half = Array("$10\r\nabc".utf8)
            _ = write(fd, half, half.count)
            close(fd)
        }
        defer { standIn.join() }
        let loop = try EventLoop()
        var ended: RedisClient.Ending?
        var replies: [RedisReply] = []
        let client = try RedisClient(loop: loop, address: "127.0.0.1", port: Int(port)) { ending in
            ended = ending
            loop.stop()
        }
        XCTAssertTrue(client.send([b("GET"), b("k")]) { replies.append($0) })
        XCTAssertTrue(client.send([b("GET"), b("j")]) { replies.append($0) })
        runLoop(loop)
        guard case .lost = ended else { return XCTFail("ended: \(String(describing: ended))") }
        XCTAssertEqual(replies, [], "no reply for a cut-off answer, nor for the one after it")
        XCTAssertFalse(client.isOpen)
        XCTAssertEqual(client.pendingReplies, 0)
    }

    func testAServerKillingTheConnectionEndsIt() throws {
        let loop = try EventLoop()
        var ended: RedisClient.Ending?
        let client = try RedisClient(loop: loop, address: "127.0.0.1", port: server.port) { ending in
            ended = ending
            loop.stop()
        }
        _ = client.send([b("CLIENT"), b("SETNAME"), b("victim")]) { _ in
            _ = try? self.server.cli("CLIENT", "KILL", "SKIPME", "no", "TYPE", "normal")
        }
        runLoop(loop)
        guard case .lost = ended else { return XCTFail("ended: \(String(describing: ended))") }
    }

    func testCloseInsideAReplyDropsTheRestWithoutCallbacks() throws {
        let loop = try EventLoop()
        var ended = false
        var replies = 0
        // Runs a little after the close, so any stray callback would have come by then.
        let stop = LoopTimer(loop: loop) { loop.stop() }
        var client: RedisClient? = try RedisClient(loop: loop, address: "127.0.0.1", port: server.port) { _ in
            ended = true
        }
        for _ in 0..<5 {
            _ = client!.send([b("PING")]) { _ in
                replies += 1
                // The owner lets go of the client inside its own callback: hiredis frees it after the callback.
                client?.close()
                client = nil
                stop.schedule(after: .milliseconds(100))
            }
        }
        runLoop(loop)
        XCTAssertEqual(replies, 1)
        XCTAssertFalse(ended, "close() calls no ending back")
    }
}
