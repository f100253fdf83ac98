import CLibevent
import Glibc

/// A listening socket on one loop, bound with SO_REUSEPORT so every worker can own one on the same port.
///
/// Each accepted socket is handed to `onAccept` with its peer address; the listener keeps no state per
/// connection.
///
/// Out of descriptors (EMFILE, ENFILE) or kernel memory, `accept` fails while the connection stays queued, so
/// the level-triggered listening socket would be readable again at once: the loop would spin at 100% CPU
/// and libevent would log every failure. Instead the listener stops accepting for `backoff` (nginx's
/// `accept_mutex_delay`, HAProxy's paused listeners), tells `onAcceptError`, and accepts again when the
/// timer fires or when its owner calls `retryNow()` (a connection closed, so a descriptor is free).
package final class Listener {
    private var listener: OpaquePointer?
    private let onAccept: (Int32, SocketAddress) -> Void
    /// The address actually bound (port 0 in the config becomes the kernel's choice).
    package let boundAddress: SocketAddress
    /// Called with `errno` when an accept failed and the listener backed off.
    package var onAcceptError: ((Int32) -> Void)?
    /// How long accepting stops after a failed accept.
    package static let backoffMilliseconds = 100
    private static let backoff: Duration = .milliseconds(backoffMilliseconds)
    private var backoffTimer: LoopTimer!
    /// Stopped by the owner (`hold()`: its connection limit is reached) until `release()`.
    private var held = false
    private var enabled = true

    /// Binds `address` on `loop` and starts accepting.
    /// - Throws: `IOError` when the address cannot be bound.
    /// - Parameter reusePort: share the port with other sockets (every worker's listener, and a new process
    ///   taking over); false for a socket that must be the only one (the admin listener).
    package init(loop: EventLoop, address: SocketAddress, backlog: Int32 = 1024, reusePort: Bool = true,
                 onAccept: @escaping (Int32, SocketAddress) -> Void) throws(IOError) {
        self.onAccept = onAccept
        var flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC
        if reusePort { flags |= LEV_OPT_REUSEABLE_PORT }
        let created: OpaquePointer? = address.withSockaddr { sa, length in
            evconnlistener_new_bind(loop.base, nil, nil, UInt32(flags), backlog, sa, length)
        }
        guard let created else { throw IOError("cannot listen on \(address): \(String(cString: strerror(errno)))") }
        let fd = evconnlistener_get_fd(created)
        var ss = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &ss) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> SocketAddress in
                getsockname(fd, sa, &length)
                return SocketAddress(sockaddr: sa, length: Int(length))
            }
        }
        boundAddress = bound
        listener = created
        evconnlistener_set_cb(created, listenerTrampoline, Unmanaged.passUnretained(self).toOpaque())
        evconnlistener_set_error_cb(created, listenerErrorTrampoline)
        backoffTimer = LoopTimer(loop: loop) { [unowned self] in updateEnabled() }
    }

    /// Whether accepting is stopped now (backing off, or held).
    package var isPaused: Bool { !enabled }

    /// Stops accepting until `release()`; queued connections wait in the kernel's backlog.
    package func hold() {
        held = true
        updateEnabled()
    }

    /// Accepts again (unless still backing off from a failed accept).
    package func release() {
        held = false
        updateEnabled()
    }

    /// Ends a backoff early: a descriptor was just freed, so the next queued connection may fit now.
    package func retryNow() {
        guard backoffTimer.isScheduled else { return }
        backoffTimer.cancel()
        updateEnabled()
    }

    private func updateEnabled() {
        guard let listener else { return }
        let wanted = !held && !backoffTimer.isScheduled
        guard wanted != enabled else { return }
        enabled = wanted
        if wanted { evconnlistener_enable(listener) } else { evconnlistener_disable(listener) }
    }

    /// `accept` failed with something other than a retriable error (libevent retries EINTR, EAGAIN and
    /// ECONNABORTED itself): back off, whatever it was, so a persistent failure never spins the loop.
    func didFailAccept(errno code: Int32) {
        backoffTimer.schedule(after: Self.backoff)
        updateEnabled()
        onAcceptError?(code)
    }

    deinit {
        close()
    }

    /// Checks that `address` can be bound now, with the options every worker's listener uses (a reload checks
    /// the listeners it adds before it applies anything).
    /// - Throws: `IOError` naming the address and the reason.
    package static func checkBindable(_ address: SocketAddress) throws(IOError) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError("cannot listen on \(address): socket() failed") }
        defer { Glibc.close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = address.withSockaddr { sa, length in bind(fd, sa, socklen_t(length)) }
        guard rc == 0 else { throw IOError("cannot listen on \(address): \(String(cString: strerror(errno)))") }
    }

    /// Accepts what the kernel has already queued, then closes (a graceful drain). Closing a listening socket
    /// resets the connections still in its accept queue; with SO_REUSEPORT another process (the new binary) may
    /// be taking new ones, so those queued here are taken first and answered. A connection that completes its
    /// handshake between this last accept and the close is still reset unless `net.ipv4.tcp_migrate_req` is 1.
    package func acceptQueuedThenClose() {
        if let listener {
            let fd = evconnlistener_get_fd(listener)
            while true {
                var ss = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let accepted = withUnsafeMutablePointer(to: &ss) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                        let client = accept(fd, sa, &length)
                        if client >= 0 {
                            // As evconnlistener makes them: non-blocking, close-on-exec.
                            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                            didAccept(fd: client, address: sa, length: Int32(length))
                        }
                        return client
                    }
                }
                if accepted < 0 { break }
            }
        }
        close()
    }

    /// Stops accepting and closes the socket (connections already accepted are not affected).
    package func close() {
        backoffTimer?.cancel()
        onAcceptError = nil
        if let listener {
            evconnlistener_free(listener)
            self.listener = nil
        }
    }

    func didAccept(fd: Int32, address: UnsafeMutablePointer<sockaddr>, length: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        onAccept(fd, SocketAddress(sockaddr: address, length: Int(length)))
    }
}

private let listenerTrampoline: @convention(c) (
    OpaquePointer?, Int32, UnsafeMutablePointer<sockaddr>?, Int32, UnsafeMutableRawPointer?
) -> Void = { _, fd, address, length, arg in
    Unmanaged<Listener>.fromOpaque(arg!).takeUnretainedValue().didAccept(fd: fd, address: address!, length: length)
}

private let listenerErrorTrampoline: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, arg in
    let code = errno
    Unmanaged<Listener>.fromOpaque(arg!).takeUnretainedValue().didFailAccept(errno: code)
}
