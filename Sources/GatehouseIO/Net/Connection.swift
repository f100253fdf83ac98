import CLibevent
import Glibc

/// What a connection reports to its owner. All calls happen on the connection's loop, never from inside
/// one of the connection's own methods (so a delegate can write, close or move bytes freely).
package protocol ConnectionDelegate: AnyObject {
    /// New bytes are in the input buffer.
    func connectionReadable(_ connection: Connection)
    /// The output buffer, which held bytes, has been fully written to the kernel.
    func connectionWritable(_ connection: Connection)
    /// An outgoing connect finished.
    func connectionConnected(_ connection: Connection)
    /// The peer closed (`eof`) or the socket failed.
    func connectionClosed(_ connection: Connection, eof: Bool)
}

/// One non-blocking TCP socket with an input and an output evbuffer: bytes stay in evbuffers and move
/// between connections without passing through Swift arrays.
///
/// Why not bufferevents: a bufferevent registers its write event with epoll whenever output is queued and
/// removes it once drained (two `epoll_ctl` per response), asks the kernel how many bytes are readable
/// before every read (`FIONREAD`), and defers callbacks by a loop pass. Here writes are coalesced and
/// attempted directly once the current callback returns (`EventLoop.flushPending`); the write event is
/// registered only when the kernel pushes back (EAGAIN), as nginx does. Reads use one `read(2)` into
/// reserved evbuffer space.
///
/// TLS (server side) lives here too, not in a layer above: a connection accepted on a TLS listener has a
/// `TLSStream` whose OpenSSL session reads and writes the socket itself. Reads decrypt (`SSL_read`) into
/// the same reserved evbuffer space; the coalesced output goes out as records (`SSL_write` of up to 16 KiB
/// of contiguous output); OpenSSL's WANT_READ/WANT_WRITE arm the matching event. The handshake completes
/// before the delegate's first `connectionReadable`, so the owner only ever sees plaintext. Plain TCP pays
/// one check of `tls` per read and per flush.
///
/// Ownership: the owner holds the `Connection` strongly and sets `delegate`; `close()` frees the socket and
/// drops the delegate, breaking the cycle.
package final class Connection {
    /// `unowned(unsafe)`: a connection cannot outlive its loop anyway (its events belong to the loop's
    /// `event_base`, which `close()` and `deinit` call into), and a checked `unowned` paid an atomic strong
    /// retain and release on every write (`scheduleFlush`, several per request).
    private unowned(unsafe) let loop: EventLoop
    private var fd: Int32
    private let input: OpaquePointer
    private let output: OpaquePointer
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var reading = false
    private var writeArmed = false
    private var connecting = false
    /// A write failed; the next read pass reports the close.
    private var failed = false
    /// Queued in the loop's pending-flush list.
    private var isPendingFlush = false
    /// The TLS session of a connection accepted on a TLS listener; nil for plain TCP.
    private var tls: TLSStream?
    /// The TLS handshake has not finished: nothing is read for, or written by, the owner yet.
    private var handshaking = false
    /// A TLS read (or the handshake) is blocked on writability.
    private var tlsReadWantsWrite = false
    /// A TLS write is blocked on readability.
    private var tlsWriteWantsRead = false
    /// The length of a TLS record write that must be retried exactly (0: none pending).
    private var tlsPendingWrite = 0
    /// The largest plaintext written as one TLS record (the record size limit).
    private static let tlsRecordSize = 16384
    /// This side started the TLS session (an upstream connection): `connectionConnected` follows the
    /// handshake, and output waits for it.
    private var tlsClient = false
    /// Whether the connection was accepted on a TLS listener (fixed for its life; true even once closed).
    package let isTLS: Bool
    /// Receives this connection's events; cleared by `close()`.
    package var delegate: (any ConnectionDelegate)? {
        get { owner }
        set { owner = newValue }
    }
    /// Storage behind `delegate`, read on every event: private, so it is not checked for exclusive access at
    /// run time (a stored property visible to other modules is, on each access).
    private var owner: (any ConnectionDelegate)?
    /// Whether the socket is still open.
    package var isOpen: Bool { fd >= 0 }

    /// Wraps an accepted (non-blocking) socket on `loop`. Reading starts when `enableReading()` is called.
    package init(loop: EventLoop, fd: Int32) {
        self.loop = loop
        self.fd = fd
        isTLS = false
        input = evbuffer_new()
        output = evbuffer_new()
        makeEvents()
    }

    /// Wraps an accepted socket on a TLS listener: the handshake with `tls`'s certificates runs once
    /// reading is enabled, before the delegate hears of any byte. A connection whose session cannot be
    /// created reports `connectionClosed` from the loop.
    package init(loop: EventLoop, fd: Int32, tls context: TLSServerContext) {
        self.loop = loop
        self.fd = fd
        isTLS = true
        input = evbuffer_new()
        output = evbuffer_new()
        makeEvents()
        handshaking = true
        if let stream = TLSStream(context: context, fd: fd) {
            tls = stream
        } else {
            failed = true
            event_active(readEvent, Int32(EV_READ), 0)
        }
    }

    /// Starts a non-blocking connect to `address`; `connectionConnected` or `connectionClosed` follows.
    /// - Throws: `IOError` when no socket can be created.
    package convenience init(loop: EventLoop, connectingTo address: SocketAddress) throws(IOError) {
        try self.init(loop: loop, connectingTo: address, client: nil)
    }

    /// Starts a non-blocking connect to `address` and, once connected, a TLS handshake that verifies the
    /// server's certificate for `serverName`; `connectionConnected` follows the handshake. A failed
    /// handshake (a certificate that does not verify included) is reported as `connectionClosed`.
    /// - Throws: `IOError` when no socket can be created.
    package convenience init(loop: EventLoop, connectingTo address: SocketAddress, tls context: TLSClientContext,
                             serverName: String) throws(IOError) {
        try self.init(loop: loop, connectingTo: address, client: (context, serverName))
    }

    /// An outgoing connection, plain or (with `client`) TLS.
    private init(loop: EventLoop, connectingTo address: SocketAddress,
                 client: (context: TLSClientContext, serverName: String)?) throws(IOError) {
        self.loop = loop
        isTLS = client != nil
        input = evbuffer_new()
        output = evbuffer_new()
        fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                    | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            // Every stored property is set, so throwing runs `deinit`, which frees the buffers; freeing them
            // here too was a double free that aborted the process once descriptors ran out.
            throw IOError("socket() failed: \(String(cString: strerror(errno)))")
        }
        makeEvents()
        connecting = true
        if let client {
            tlsClient = true
            handshaking = true
            guard let stream = TLSStream(context: client.context, fd: fd, serverName: client.serverName) else {
                failed = true
                event_active(readEvent, Int32(EV_READ), 0)
                return
            }
            tls = stream
        }
        startConnect(to: address)
    }

    private func startConnect(to address: SocketAddress) {
        let rc = address.withSockaddr { sa, length in Glibc.connect(fd, sa, socklen_t(length)) }
        if rc != 0, errno != EINPROGRESS {
            // Reported from the loop like any other failure, never from inside this initialiser.
            failed = true
            event_active(readEvent, Int32(EV_READ), 0)
            return
        }
        // Completion (or refusal) shows up as writability.
        event_add(writeEvent, nil)
        writeArmed = true
    }

    private func makeEvents() {
        let me = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(loop.base, fd, Int16(EV_READ | EV_PERSIST), connectionReadTrampoline, me)
        writeEvent = event_new(loop.base, fd, Int16(EV_WRITE | EV_PERSIST), connectionWriteTrampoline, me)
    }

    deinit {
        close()
        evbuffer_free(input)
        evbuffer_free(output)
    }

    /// Closes the socket at once (unsent output is dropped) and forgets the delegate.
    package func close() {
        if let readEvent { event_free(readEvent) }
        if let writeEvent { event_free(writeEvent) }
        readEvent = nil
        writeEvent = nil
        tls?.free()
        tls = nil
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
        reading = false
        writeArmed = false
        owner = nil
    }

    package func enableReading() {
        guard fd >= 0, !reading else { return }
        reading = true
        event_add(readEvent, nil)
        // Records OpenSSL already took off the socket raise no event of their own.
        if let tls, !handshaking, tls.hasPendingInput { event_active(readEvent, Int32(EV_READ), 0) }
    }

    /// Stops reading from the socket (backpressure); bytes already buffered stay in the input.
    package func disableReading() {
        guard fd >= 0, reading else { return }
        reading = false
        event_del(readEvent)
    }

    /// Sets TCP_NODELAY (after a connect completes).
    package func setNoDelay() {
        guard fd >= 0 else { return }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Half-closes: no more bytes will be sent, but the peer's last bytes can still be read (lingering close).
    package func shutdownWrite() {
        guard fd >= 0 else { return }
        if let tls, !handshaking, !failed { tls.sendCloseNotify() }
        shutdown(fd, Int32(SHUT_WR))
    }

    // MARK: Input

    /// Bytes waiting in the input buffer.
    package var inputCount: Int { evbuffer_get_length(input) }

    /// Calls `body` with the first contiguous run of input bytes (possibly fewer than `inputCount`),
    /// without copying. The pointer is valid only inside `body`.
    package func withUnsafeInputBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var extent = iovec()
        let n = evbuffer_peek(input, -1, nil, &extent, 1)
        guard n > 0 else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return body(UnsafeRawBufferPointer(start: extent.iov_base, count: extent.iov_len))
    }

    /// Makes the first `count` input bytes contiguous (used when a parser needs more than one run).
    package func makeInputContiguous(_ count: Int) {
        evbuffer_pullup(input, count)
    }

    /// Discards the first `count` input bytes.
    package func discardInput(_ count: Int) {
        if count > 0 { evbuffer_drain(input, count) }
    }

    /// Moves the first `count` input bytes to the output of `other`, without copying the data.
    package func moveInput(_ count: Int, to other: Connection) {
        guard count > 0, other.fd >= 0 else { return }
        evbuffer_remove_buffer(input, other.output, count)
        other.scheduleFlush()
    }

    /// Moves every input byte to the output of `other`.
    package func moveAllInput(to other: Connection) {
        guard other.fd >= 0 else { return }
        evbuffer_add_buffer(other.output, input)
        other.scheduleFlush()
    }

    // MARK: Output

    /// Bytes queued but not yet written to the socket.
    package var outputCount: Int { evbuffer_get_length(output) }

    /// Queues bytes for writing (copied into the output buffer); they go out when the current callback ends.
    package func write(_ bytes: UnsafeRawBufferPointer) {
        guard fd >= 0, bytes.count > 0 else { return }
        evbuffer_add(output, bytes.baseAddress, bytes.count)
        scheduleFlush()
    }

    /// Queues the bytes of an array.
    package func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Queues a static string (no allocation).
    package func write(_ text: StaticString) {
        text.withUTF8Buffer { write(UnsafeRawBufferPointer($0)) }
    }

    private func scheduleFlush() {
        loop.assertInLoop()  // debug builds: connections are confined to their loop
        guard !isPendingFlush, !writeArmed else { return }  // an armed write event flushes by itself
        isPendingFlush = true
        loop.enqueueFlush(self)
    }

    /// Writes as much output as the kernel takes. Arms the write event when it pushes back; tells the
    /// delegate when the output has drained. Called by the loop after a callback, and on writability.
    func flush() {
        isPendingFlush = false
        guard fd >= 0, !connecting else { return }
        if tls != nil {
            flushTLS()
            return
        }
        var wrote = false
        while evbuffer_get_length(output) > 0 {
            let n = evbuffer_write(output, fd)
            if n > 0 {
                wrote = true
                continue
            }
            if n < 0, errno == EINTR { continue }
            if n < 0, errno != EAGAIN {
                failWrite()
                return
            }
            if !writeArmed {
                writeArmed = true
                event_add(writeEvent, nil)
            }
            return
        }
        if writeArmed {
            writeArmed = false
            event_del(writeEvent)
        }
        if wrote { owner?.connectionWritable(self) }
    }

    /// The peer is gone; report it from the read side, as a normal loop event.
    private func failWrite() {
        failed = true
        evbuffer_drain(output, evbuffer_get_length(output))
        event_active(readEvent, Int32(EV_READ), 0)
    }

    // MARK: Events

    func didBecomeReadable() {
        guard fd >= 0 else { return }
        if failed {
            disableReading()
            owner?.connectionClosed(self, eof: false)
            return
        }
        if let tls {
            readTLS(tls)
            return
        }
        var space = iovec()
        guard evbuffer_reserve_space(input, 16384, &space, 1) >= 1 else { return }
        let n = read(fd, space.iov_base, space.iov_len)
        if n > 0 {
            space.iov_len = n
            evbuffer_commit_space(input, &space, 1)
            owner?.connectionReadable(self)
        } else if n == 0 {
            disableReading()
            owner?.connectionClosed(self, eof: true)
        } else if errno != EAGAIN, errno != EINTR {
            disableReading()
            owner?.connectionClosed(self, eof: false)
        }
    }

    func didBecomeWritable() {
        guard fd >= 0 else { return }
        if connecting {
            connecting = false
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                writeArmed = false
                event_del(writeEvent)
                owner?.connectionClosed(self, eof: false)
                return
            }
            if let tls {
                // TCP is up; the owner hears of the connection once the TLS handshake has completed.
                readTLS(tls)
                guard fd >= 0 else { return }
            } else {
                owner?.connectionConnected(self)
                guard fd >= 0 else { return }
            }
        }
        if let tls, tlsReadWantsWrite {
            tlsReadWantsWrite = false
            readTLS(tls)
            guard fd >= 0 else { return }
        }
        flush()
    }

    // MARK: TLS

    /// Readable (or a blocked read's writability): finishes the handshake, then decrypts up to 16 KiB of
    /// application data into the input and tells the delegate.
    private func readTLS(_ tls: TLSStream) {
        if tlsWriteWantsRead {
            tlsWriteWantsRead = false
            if !reading { event_del(readEvent) }
            flushTLS()
            guard fd >= 0, !failed else { return }
        }
        if handshaking {
            guard !connecting else { return }
            switch tls.handshake() {
            case .done:
                handshaking = false
                if tlsClient {
                    owner?.connectionConnected(self)
                    guard fd >= 0 else { return }
                    flushTLS()
                    guard fd >= 0, !failed else { return }
                }
            case .wantRead:
                return
            case .wantWrite:
                waitForWritability()
                return
            case .closed, .failed:
                // A client that is not speaking TLS (plain HTTP to a TLS port), an old protocol version, no
                // shared cipher: nothing to answer in HTTP; close.
                failed = true
                disableReading()
                owner?.connectionClosed(self, eof: false)
                return
            }
        }
        guard reading else { return }
        var total = 0
        var more = false
        var ended: Bool? = nil  // eof: true when the peer closed, false on an error
        reads: while total < Self.tlsRecordSize {
            var space = iovec()
            guard evbuffer_reserve_space(input, Self.tlsRecordSize, &space, 1) >= 1 else { break }
            switch tls.read(into: space.iov_base, count: space.iov_len) {
            case .done(let n):
                space.iov_len = n
                evbuffer_commit_space(input, &space, 1)
                total += n
                // Nothing buffered in OpenSSL: the socket's next bytes will raise an event (no read that
                // would only return EAGAIN).
                more = tls.hasPendingInput
                if !more { break reads }
            case .wantRead:
                more = false
                break reads
            case .wantWrite:
                more = false
                waitForWritability()
                break reads
            case .closed:
                ended = true
                break reads
            case .failed:
                ended = false
                break reads
            }
        }
        if total > 0 {
            if ended == false { failed = true }
            owner?.connectionReadable(self)
            guard fd >= 0 else { return }
            // Whatever follows (more records, or the end) is handled in the next pass, as plain TCP would.
            if (reading && more) || ended != nil { event_active(readEvent, Int32(EV_READ), 0) }
            return
        }
        if let eof = ended {
            if !eof { failed = true }
            disableReading()
            owner?.connectionClosed(self, eof: eof)
        }
    }

    /// Writes the output as TLS records: up to 16 KiB of contiguous output per `SSL_write`, joining small
    /// pieces (a response head and the start of its body) into one record.
    private func flushTLS() {
        guard let tls else { return }
        if handshaking {
            // Nothing can be sent before the handshake; output now means the owner gave up on this client
            // (a timeout): close instead.
            if !tlsClient, evbuffer_get_length(output) > 0 {
                failWrite()
            } else if writeArmed, !tlsReadWantsWrite, !connecting {
                writeArmed = false
                event_del(writeEvent)
            }
            return
        }
        var wrote = false
        while true {
            let available = evbuffer_get_length(output)
            if available == 0 { break }
            var length = tlsPendingWrite
            if length == 0 {
                let wanted = min(available, Self.tlsRecordSize)
                var first = iovec()
                _ = evbuffer_peek(output, -1, nil, &first, 1)
                // A large first chunk goes as it is; small ones are joined (one copy, fewer records).
                length = first.iov_len >= wanted ? wanted : (first.iov_len >= 4096 ? first.iov_len : wanted)
            }
            guard let bytes = evbuffer_pullup(output, length) else {
                failWrite()
                return
            }
            switch tls.write(bytes, count: length) {
            case .done(let n):
                evbuffer_drain(output, n)
                tlsPendingWrite = 0
                wrote = true
            case .wantWrite:
                tlsPendingWrite = length
                if !writeArmed {
                    writeArmed = true
                    event_add(writeEvent, nil)
                }
                return
            case .wantRead:
                tlsPendingWrite = length
                tlsWriteWantsRead = true
                if !reading { event_add(readEvent, nil) }
                return
            case .closed, .failed:
                failWrite()
                return
            }
        }
        if writeArmed, !tlsReadWantsWrite {
            writeArmed = false
            event_del(writeEvent)
        }
        if wrote { owner?.connectionWritable(self) }
    }

    /// A TLS read or handshake step needs to write first: wait for writability.
    private func waitForWritability() {
        tlsReadWantsWrite = true
        if !writeArmed {
            writeArmed = true
            event_add(writeEvent, nil)
        }
    }
}

private let connectionReadTrampoline: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
    let connection = Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue()
    let loop = connection.loopForTrampoline
    connection.didBecomeReadable()
    loop.flushPending()
}

private let connectionWriteTrampoline: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
    let connection = Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue()
    let loop = connection.loopForTrampoline
    connection.didBecomeWritable()
    loop.flushPending()
}

extension Connection {
    /// The loop, kept alive across a callback that may release this connection.
    fileprivate var loopForTrampoline: EventLoop { loop }
}
