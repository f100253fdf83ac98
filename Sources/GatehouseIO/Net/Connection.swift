import CLibevent
import Glibc

/// What a connection reports to its owner. All calls happen on the connection's loop.
package protocol ConnectionDelegate: AnyObject {
    /// New bytes are in the input buffer.
    func connectionReadable(_ connection: Connection)
    /// The output buffer has been flushed to the kernel (below the low watermark, which is 0).
    func connectionWritable(_ connection: Connection)
    /// An outgoing connect finished.
    func connectionConnected(_ connection: Connection)
    /// The peer closed (`eof`) or the socket failed; `timedOut` is never set (timeouts are our own timers).
    func connectionClosed(_ connection: Connection, eof: Bool)
}

/// One TCP connection as a libevent bufferevent: bytes stay in evbuffers and move between connections
/// without passing through Swift arrays.
///
/// Ownership: the owner holds the `Connection` strongly and sets `delegate`; `close()` frees the socket and
/// drops the delegate, breaking the cycle. Bufferevents use `BEV_OPT_DEFER_CALLBACKS`, so writing never
/// re-enters the delegate from inside a call.
package final class Connection {
    private var bev: OpaquePointer?
    private var input: OpaquePointer?
    private var output: OpaquePointer?
    /// Receives this connection's events; cleared by `close()`.
    package var delegate: (any ConnectionDelegate)?
    /// Whether the socket is still open.
    package var isOpen: Bool { bev != nil }

    /// Wraps an accepted socket on `loop`. Reading starts when `enableReading()` is called.
    package init(loop: EventLoop, fd: Int32) {
        setup(bufferevent_socket_new(loop.base, fd, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue | BEV_OPT_DEFER_CALLBACKS.rawValue)))
    }

    /// Starts a non-blocking connect to `address`; `connectionConnected` or `connectionClosed` follows.
    /// - Throws: `IOError` when the connect fails at once.
    package init(loop: EventLoop, connectingTo address: SocketAddress) throws(IOError) {
        setup(bufferevent_socket_new(loop.base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue | BEV_OPT_DEFER_CALLBACKS.rawValue)))
        let rc = address.withSockaddr { sa, length in
            bufferevent_socket_connect(bev, UnsafeMutablePointer(mutating: sa), length)
        }
        if rc != 0 {
            close()
            throw IOError("connect to \(address) failed")
        }
    }

    private func setup(_ created: OpaquePointer?) {
        bev = created
        input = bufferevent_get_input(created)
        output = bufferevent_get_output(created)
        bufferevent_setcb(created, readTrampoline, writeTrampoline, eventTrampoline,
                          Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        close()
    }

    /// Closes the socket at once (unsent output is dropped) and forgets the delegate.
    package func close() {
        if let bev {
            bufferevent_free(bev)
            self.bev = nil
            input = nil
            output = nil
        }
        delegate = nil
    }

    package func enableReading() {
        if let bev { bufferevent_enable(bev, Int16(EV_READ | EV_WRITE)) }
    }

    /// Stops reading from the socket (backpressure); bytes already buffered stay in `input`.
    package func disableReading() {
        if let bev { bufferevent_disable(bev, Int16(EV_READ)) }
    }

    /// Half-closes: no more bytes will be sent, but the peer's last bytes can still be read (lingering close).
    package func shutdownWrite() {
        guard let bev else { return }
        shutdown(bufferevent_getfd(bev), Int32(SHUT_WR))
    }

    /// Sets TCP_NODELAY on the socket (after a connect completes).
    package func setNoDelay() {
        guard let bev else { return }
        var one: Int32 = 1
        setsockopt(bufferevent_getfd(bev), Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    // MARK: Input

    /// Bytes waiting in the input buffer.
    package var inputCount: Int { input.map { evbuffer_get_length($0) } ?? 0 }

    /// Calls `body` with the first contiguous run of input bytes (possibly fewer than `inputCount`),
    /// without copying. The pointer is valid only inside `body`.
    package func withUnsafeInputBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let input else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        var extent = iovec()
        let n = evbuffer_peek(input, -1, nil, &extent, 1)
        guard n > 0 else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body(UnsafeRawBufferPointer(start: extent.iov_base, count: extent.iov_len))
    }

    /// Makes the first `count` input bytes contiguous (used when a parser needs more than one run).
    package func makeInputContiguous(_ count: Int) {
        if let input { evbuffer_pullup(input, count) }
    }

    /// Discards the first `count` input bytes.
    package func discardInput(_ count: Int) {
        if let input, count > 0 { evbuffer_drain(input, count) }
    }

    /// Moves the first `count` input bytes to the output of `other`, without copying the data.
    package func moveInput(_ count: Int, to other: Connection) {
        guard let input, let out = other.output, count > 0 else { return }
        evbuffer_remove_buffer(input, out, count)
    }

    /// Moves every input byte to the output of `other`.
    package func moveAllInput(to other: Connection) {
        guard let input, let out = other.output else { return }
        evbuffer_add_buffer(out, input)
    }

    // MARK: Output

    /// Bytes queued but not yet written to the socket.
    package var outputCount: Int { output.map { evbuffer_get_length($0) } ?? 0 }

    /// Queues bytes for writing (copied into the output buffer).
    package func write(_ bytes: UnsafeRawBufferPointer) {
        guard let output, bytes.count > 0 else { return }
        evbuffer_add(output, bytes.baseAddress, bytes.count)
    }

    /// Queues the bytes of an array.
    package func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Queues a static string (no allocation).
    package func write(_ text: StaticString) {
        text.withUTF8Buffer { write(UnsafeRawBufferPointer($0)) }
    }

    // MARK: Callbacks

    func didRead() { delegate?.connectionReadable(self) }
    func didWrite() { delegate?.connectionWritable(self) }
    func didEvent(_ what: Int16) {
        if what & Int16(BEV_EVENT_CONNECTED) != 0 {
            delegate?.connectionConnected(self)
        } else if what & Int16(BEV_EVENT_EOF | BEV_EVENT_ERROR) != 0 {
            delegate?.connectionClosed(self, eof: what & Int16(BEV_EVENT_EOF) != 0)
        }
    }
}
