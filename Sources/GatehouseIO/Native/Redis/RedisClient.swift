import CHiredis
import CLibevent

/// One reply from Redis, as hiredis 0.14 reads RESP2. Copied out of hiredis's reply object before the callback
/// returns (hiredis frees it then).
package enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case array([RedisReply])
    /// A null bulk string or a null array (hiredis does not tell them apart).
    case null
}

/// Why a `RedisClient` could not start connecting.
package struct RedisClientError: Error, Sendable, Equatable, CustomStringConvertible {
    package let message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}

/// One hiredis async context on one event loop, over Swift values: the only file that imports hiredis.
///
/// What it does: `redisAsyncConnect` to a numeric address, TCP keep-alive, attach to the loop's `event_base`
/// with hiredis's libevent adapter (so the base never leaves GatehouseIO), then commands whose replies arrive
/// as `RedisReply` values in closures, in the order sent. What it does not: handshakes, timeouts, reconnects,
/// queueing while connecting (hiredis buffers commands sent before the TCP connect completes); the owner
/// (GatehouseSessions' `RedisConnection`) does those.
///
/// Threading: everything, including every callback, runs on `loop`'s thread. Create the client on that
/// thread, or before the loop runs.
///
/// Endings: when hiredis ends the connection by itself (the connect failed, the server closed the socket, a
/// read failed) `onEnd` runs once and nothing else afterwards: the replies still owed are dropped (the owner
/// fails its calls). `close()` ends it from this side with no callback at all. Either way the client is spent;
/// a reconnect makes a new one.
///
/// C callbacks: hiredis gets plain `@convention(c)` trampolines (below). The context's `data` field holds this
/// object, unretained; `close()`, `deinit` and every ending clear `data` before hiredis frees the context, so a
/// callback that hiredis runs while freeing it (each unanswered command gets a NULL reply, then the disconnect
/// callback) finds `data == nil` and does nothing. A command's `privdata` is an id (a counter, never reused),
/// not a pointer: a late or repeated callback can only miss in the table of pending replies. When hiredis ends
/// the connection it is already freeing the context, so the client only forgets it; and a context is never
/// freed from inside hiredis's connect callback (hiredis goes on using it after that callback returns).
package final class RedisClient {
    /// How the connection ended by itself.
    package enum Ending: Sendable, Equatable {
        /// The TCP connect failed (refused, unreachable); hiredis's message.
        case connectFailed(String)
        /// The connection broke after connecting (the server closed it, a read or write failed).
        case lost(String)
    }

    private struct Pending {
        let onReply: (RedisReply) -> Void
        /// A subscription's callback stays for every push; a command's is used once.
        let persistent: Bool
    }

    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var pending: [UInt: Pending] = [:]
    private var nextID: UInt = 1
    private let onEnd: (Ending) -> Void

    /// Starts connecting to `address` (an IPv4 or IPv6 literal; see `HostResolver`) on `port`.
    /// - Parameter onEnd: runs once, on the loop, when hiredis ends the connection (not after `close()`).
    /// - Throws: `RedisClientError` when hiredis cannot create the context or attach it to the loop.
    package init(loop: EventLoop, address: String, port: Int, onEnd: @escaping (Ending) -> Void)
        throws(RedisClientError)
    {
        self.onEnd = onEnd
        guard let ac = redisAsyncConnect(address, Int32(port)) else {
            throw RedisClientError("redisAsyncConnect failed")
        }
        if ac.pointee.err != 0 {
            let message = Self.errorString(ac)
            redisAsyncFree(ac)
            throw RedisClientError(message)
        }
        ac.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        _ = withUnsafeMutablePointer(to: &ac.pointee.c) { redisEnableKeepAlive($0) }
        guard redisLibeventAttach(ac, loop.base) == REDIS_OK else {
            ac.pointee.data = nil
            redisAsyncFree(ac)
            throw RedisClientError("cannot attach to the event loop")
        }
        redisAsyncSetConnectCallback(ac, redisConnectTrampoline)
        redisAsyncSetDisconnectCallback(ac, redisDisconnectTrampoline)
        context = ac
    }

    deinit {
        close()
    }

    /// False once the connection ended or was closed.
    package var isOpen: Bool { context != nil }

    /// Replies still owed (commands sent and not answered, plus a subscription).
    package var pendingReplies: Int { pending.count }

    /// Sends `args` (command name first; hiredis copies them before returning); `onReply` runs once with the
    /// reply (an error reply is `.error`). False, and `onReply` never runs, when the client is spent or hiredis
    /// refuses the command.
    package func send(_ args: [[UInt8]], onReply: @escaping (RedisReply) -> Void) -> Bool {
        issue(args, Pending(onReply: onReply, persistent: false))
    }

    /// Sends `SUBSCRIBE`-like `args`; `onPush` runs for the subscription's confirmation and every message
    /// after it (each an array such as `["message", channel, payload]`), until the connection ends.
    package func subscribe(_ args: [[UInt8]], onPush: @escaping (RedisReply) -> Void) -> Bool {
        issue(args, Pending(onReply: onPush, persistent: true))
    }

    /// Ends the connection from this side: no callback of it runs again, replies owed are dropped. Idempotent;
    /// safe inside a reply callback (hiredis then frees the context once the callback returns).
    package func close() {
        guard let ac = context else { return }
        context = nil
        pending.removeAll()
        ac.pointee.data = nil
        redisAsyncFree(ac)
    }

    // MARK: Sending

    /// `redisAsyncCommandArgv` with the arguments laid out in one buffer.
    private func issue(_ args: [[UInt8]], _ entry: Pending) -> Bool {
        guard let ac = context, !args.isEmpty else { return false }
        let id = nextID
        nextID &+= 1
        var flat: [UInt8] = []
        var lengths: [Int] = []
        lengths.reserveCapacity(args.count)
        for arg in args {
            flat.append(contentsOf: arg)
            lengths.append(arg.count)
        }
        flat.append(0)  // never an empty buffer, so there is always a base address
        // Registered first: hiredis never calls back from inside redisAsyncCommandArgv, but a refusal undoes it.
        pending[id] = entry
        let sent = flat.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                var pointers: [UnsafePointer<CChar>?] = []
                pointers.reserveCapacity(args.count)
                var offset = 0
                for length in lengths {
                    pointers.append(chars.baseAddress! + offset)
                    offset += length
                }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { argvlen in
                        redisAsyncCommandArgv(ac, redisReplyTrampoline, UnsafeMutableRawPointer(bitPattern: id),
                                              Int32(args.count), argv.baseAddress, argvlen.baseAddress) == REDIS_OK
                    }
                }
            }
        }
        if !sent { pending[id] = nil }
        return sent
    }

    // MARK: hiredis callbacks (via the trampolines)

    fileprivate func didReply(_ ac: UnsafeMutablePointer<redisAsyncContext>, id: UInt,
                              reply: UnsafeMutablePointer<redisReply>?) {
        guard ac == context else { return }
        guard let reply else {
            // hiredis is tearing the context down (the server closed the socket, or a read failed).
            end(ac, .lost(Self.errorString(ac)))
            return
        }
        guard let entry = pending[id] else { return }
        if !entry.persistent { pending[id] = nil }
        entry.onReply(Self.convert(reply))
    }

    fileprivate func didConnect(_ ac: UnsafeMutablePointer<redisAsyncContext>, ok: Bool) {
        guard ac == context, !ok else { return }
        // hiredis frees the context right after this callback: only forget it here.
        end(ac, .connectFailed(Self.errorString(ac)))
    }

    fileprivate func didDisconnect(_ ac: UnsafeMutablePointer<redisAsyncContext>) {
        guard ac == context else { return }
        end(ac, .lost(ac.pointee.err != 0 ? Self.errorString(ac) : "disconnected"))
    }

    /// hiredis is freeing `ac`: let go of it without freeing it, then tell the owner.
    private func end(_ ac: UnsafeMutablePointer<redisAsyncContext>, _ ending: Ending) {
        ac.pointee.data = nil
        context = nil
        pending.removeAll()
        onEnd(ending)
    }

    // MARK: Helpers

    private static func errorString(_ ac: UnsafeMutablePointer<redisAsyncContext>) -> String {
        if let errstr = ac.pointee.errstr, errstr.pointee != 0 { return String(cString: errstr) }
        return "error \(ac.pointee.err)"
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = r.str, r.len > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: r.len))
        }
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(r.integer)
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<r.elements).map { index in
                elements[index].map(convert) ?? .null
            })
        default: return .null
        }
    }
}

// The trampolines hiredis calls. Each finds its `RedisClient` in the context's `data` (unretained; nil once the
// client has let go of the context) and forwards on the loop thread it was called on, keeping the client alive
// for the call (an owner may drop its last reference inside a callback).

private let redisReplyTrampoline: @convention(c) (UnsafeMutablePointer<redisAsyncContext>?, UnsafeMutableRawPointer?,
                                                  UnsafeMutableRawPointer?) -> Void = { ac, reply, privdata in
    guard let ac, let data = ac.pointee.data else { return }
    let client = Unmanaged<RedisClient>.fromOpaque(data).takeUnretainedValue()
    withExtendedLifetime(client) {
        client.didReply(ac, id: UInt(bitPattern: privdata), reply: reply?.assumingMemoryBound(to: redisReply.self))
    }
}

private let redisConnectTrampoline: @convention(c) (UnsafePointer<redisAsyncContext>?, Int32) -> Void = { ac, status in
    guard let ac, let data = ac.pointee.data else { return }
    let client = Unmanaged<RedisClient>.fromOpaque(data).takeUnretainedValue()
    withExtendedLifetime(client) { client.didConnect(UnsafeMutablePointer(mutating: ac), ok: status == REDIS_OK) }
}

private let redisDisconnectTrampoline: @convention(c) (UnsafePointer<redisAsyncContext>?, Int32) -> Void = { ac, _ in
    guard let ac, let data = ac.pointee.data else { return }
    let client = Unmanaged<RedisClient>.fromOpaque(data).takeUnretainedValue()
    withExtendedLifetime(client) { client.didDisconnect(UnsafeMutablePointer(mutating: ac)) }
}
