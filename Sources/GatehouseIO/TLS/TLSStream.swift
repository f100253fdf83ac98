import COpenSSL
import Glibc

/// The server side of one TLS connection: an OpenSSL `SSL` reading and writing the socket directly (its
/// own socket BIO, no memory BIOs in between). `Connection` owns it and drives it from its events; this
/// type only translates OpenSSL's return codes into what the connection must wait for.
final class TLSStream {
    /// What one handshake step, read or write achieved.
    enum Outcome {
        /// `n` bytes were read or written (0 for a finished handshake).
        case done(Int)
        /// Try again once the socket is readable.
        case wantRead
        /// Try again once the socket is writable.
        case wantWrite
        /// The peer closed the TLS session (close_notify, or a TCP EOF at a record boundary).
        case closed
        /// A protocol or socket error; the session is unusable.
        case failed
    }

    private var ssl: OpaquePointer?
    /// Keeps the context (and, on a server, the SNI table the handshake reads) alive as long as this session.
    private let context: AnyObject

    /// A server session on `fd`; nil when OpenSSL cannot allocate one.
    init?(context: TLSServerContext, fd: Int32) {
        guard let ssl = context.makeSession(fd: fd) else { return nil }
        self.ssl = ssl
        self.context = context
    }

    /// A client session on `fd` expecting a certificate for `serverName`; nil when OpenSSL refuses.
    init?(context: TLSClientContext, fd: Int32, serverName: String) {
        guard let ssl = context.makeSession(fd: fd, serverName: serverName) else { return nil }
        self.ssl = ssl
        self.context = context
    }

    deinit { free() }

    /// Frees the session (the socket itself belongs to the connection).
    func free() {
        if let ssl { SSL_free(ssl) }
        ssl = nil
    }

    /// Advances the handshake.
    func handshake() -> Outcome {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        return rc == 1 ? .done(0) : outcome(rc)
    }

    /// Decrypts application data into `buffer` (at most one record's worth per call).
    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Outcome {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let n = SSL_read(ssl, buffer, Int32(min(count, Int(Int32.max))))
        return n > 0 ? .done(Int(n)) : outcome(n)
    }

    /// Encrypts and sends `count` bytes as one record; after `.wantWrite`/`.wantRead`, the caller must
    /// retry with the same count (the bytes may have moved: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
    func write(_ bytes: UnsafeRawPointer, count: Int) -> Outcome {
        guard let ssl else { return .failed }
        ERR_clear_error()
        let n = SSL_write(ssl, bytes, Int32(count))
        return n > 0 ? .done(Int(n)) : outcome(n)
    }

    /// Whether OpenSSL holds received bytes not yet returned by `read` (read-ahead buffers whole socket reads).
    var hasPendingInput: Bool {
        guard let ssl else { return false }
        return SSL_has_pending(ssl) == 1
    }

    /// Sends close_notify, best effort (the connection is closing either way).
    func sendCloseNotify() {
        guard let ssl else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func outcome(_ rc: Int32) -> Outcome {
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ:
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            // Leave no error behind for the next connection served by this thread.
            ERR_clear_error()
            return .failed
        }
    }
}
