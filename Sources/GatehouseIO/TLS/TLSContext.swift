import COpenSSL
import Glibc

/// One certificate chain and its private key, as PEM files.
package struct TLSCertificateFiles: Sendable, Equatable {
    /// The certificate chain: the server's certificate first, then any intermediates.
    package let certificate: String
    /// The private key of the first certificate (unencrypted PEM: PKCS#8, or traditional RSA/EC).
    package let privateKey: String

    package init(certificate: String, privateKey: String) {
        self.certificate = certificate
        self.privateKey = privateKey
    }
}

/// Why a certificate could not be loaded: which one (its index in the list) and what OpenSSL said.
package struct TLSContextError: Error, Sendable, CustomStringConvertible {
    /// The index of the failing entry in the certificate list.
    package let index: Int
    package let message: String

    package init(index: Int, message: String) {
        self.index = index
        self.message = message
    }

    package var description: String { message }
}

/// The server side of TLS for one set of certificates: an OpenSSL `SSL_CTX` per certificate, configured
/// once and then only read (OpenSSL allows `SSL_new` on one context from several threads), so every worker
/// shares it. A reload builds a new one; connections keep the one they started with.
///
/// Settings: TLS 1.2 and 1.3 only; for 1.2, ECDHE with AES-GCM or ChaCha20-Poly1305 (forward secrecy and
/// AEAD only), for 1.3 OpenSSL's defaults (all AEAD); key exchange X25519, P-256 or P-384; no
/// renegotiation, no compression; server-side session cache and session tickets (resumption); ALPN
/// `http/1.1`; SNI picks among the certificates.
package final class TLSServerContext: @unchecked Sendable {
    // `@unchecked`: the contexts are configured in `init` and never changed afterwards; OpenSSL's own locks
    // guard what handshakes update (the session cache).
    private let contexts: [OpaquePointer]
    /// The SNI table the servername callback reads (points into `contexts`' storage).
    private let table: UnsafeMutablePointer<gh_sni_table>
    private let contextArray: UnsafeMutablePointer<OpaquePointer?>
    /// Each certificate's subject in OpenSSL's one-line form (`/CN=app.example.com`), for logs.
    package let subjects: [String]

    /// The TLS 1.2 cipher suites: ECDHE key exchange, AEAD ciphers only.
    package static let tls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20"
    /// The key-exchange groups offered, in preference order.
    package static let groups = "X25519:P-256:P-384"

    /// Loads every certificate and key and checks that each key matches its certificate.
    /// - Throws: `TLSContextError` naming the first entry that failed and why.
    package init(certificates: [TLSCertificateFiles]) throws(TLSContextError) {
        precondition(!certificates.isEmpty, "a TLS listener needs at least one certificate")
        var loaded: [OpaquePointer] = []
        var subjects: [String] = []
        for (index, files) in certificates.enumerated() {
            do {
                let (context, subject) = try Self.makeContext(files)
                loaded.append(context)
                subjects.append(subject)
            } catch {
                for context in loaded { SSL_CTX_free(context) }
                throw TLSContextError(index: index, message: error.message)
            }
        }
        contexts = loaded
        self.subjects = subjects
        contextArray = .allocate(capacity: loaded.count)
        for (index, context) in loaded.enumerated() { contextArray[index] = context }
        table = .allocate(capacity: 1)
        table.initialize(to: gh_sni_table(contexts: contextArray, count: Int32(loaded.count)))
        gh_ssl_ctx_install_sni(loaded[0], table)
    }

    deinit {
        for context in contexts { SSL_CTX_free(context) }
        table.deinitialize(count: 1)
        table.deallocate()
        contextArray.deallocate()
    }

    /// A new server-side `SSL` on `fd`, in accept state; nil when OpenSSL cannot allocate one.
    func makeSession(fd: Int32) -> OpaquePointer? {
        guard let ssl = SSL_new(contexts[0]) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        return ssl
    }

    private struct LoadError: Error {
        let message: String
    }

    /// One configured context with `files` loaded into it, and the certificate's subject.
    private static func makeContext(_ files: TLSCertificateFiles) throws(LoadError) -> (OpaquePointer, String) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw LoadError(message: "cannot create a TLS context: \(lastError())")
        }
        var ok = false
        defer { if !ok { SSL_CTX_free(context) } }
        guard gh_ssl_ctx_set_min_tls12(context) == 1 else {
            throw LoadError(message: "cannot set the minimum TLS version: \(lastError())")
        }
        gh_ssl_ctx_set_server_options(context)
        gh_ssl_ctx_set_modes(context)
        gh_ssl_ctx_set_read_ahead(context)
        gh_ssl_ctx_set_session_cache_server(context)
        gh_ssl_ctx_refuse_passphrase(context)
        gh_ssl_ctx_install_alpn(context)
        guard SSL_CTX_set_cipher_list(context, tls12Ciphers) == 1, gh_ssl_ctx_set_groups(context, groups) == 1 else {
            throw LoadError(message: "cannot set the cipher suites: \(lastError())")
        }
        try checkReadable(files.certificate, what: "certificate")
        try checkReadable(files.privateKey, what: "private key")
        guard SSL_CTX_use_certificate_chain_file(context, files.certificate) == 1 else {
            throw LoadError(message: "\(files.certificate): not a PEM certificate chain (\(lastError()))")
        }
        guard SSL_CTX_use_PrivateKey_file(context, files.privateKey, SSL_FILETYPE_PEM) == 1 else {
            let (text, mismatch) = lastErrorAndMismatch()
            if mismatch {
                throw LoadError(message: "\(files.privateKey) is not the private key of \(files.certificate)")
            }
            throw LoadError(message: "\(files.privateKey): not an unencrypted PEM private key (\(text))")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw LoadError(message: "\(files.privateKey) is not the private key of \(files.certificate)")
        }
        // A session ID context ties cached sessions to this gateway's contexts (OpenSSL refuses to resume
        // a session without one when contexts are switched by SNI).
        let sessionContext: StaticString = "gatehouse"
        _ = SSL_CTX_set_session_id_context(context, sessionContext.utf8Start, UInt32(sessionContext.utf8CodeUnitCount))
        var subject = ""
        if let certificate = SSL_CTX_get0_certificate(context), let name = X509_get_subject_name(certificate),
            let text = X509_NAME_oneline(name, nil, 0)
        {
            subject = String(cString: text)
            CRYPTO_free(text, #fileID, #line)
        }
        ERR_clear_error()
        ok = true
        return (context, subject)
    }

    private static func checkReadable(_ path: String, what: String) throws(LoadError) {
        guard let file = fopen(path, "rb") else {
            throw LoadError(message: "\(path): cannot read the \(what): \(String(cString: strerror(errno)))")
        }
        fclose(file)
    }

    /// The oldest error on this thread's OpenSSL error queue, as text; clears the queue.
    static func lastError() -> String {
        lastErrorAndMismatch().text
    }

    /// `lastError()`, and whether that error is a key that does not match its certificate.
    private static func lastErrorAndMismatch() -> (text: String, mismatch: Bool) {
        var buffer = [UInt8](repeating: 0, count: 256)
        let mismatch = buffer.withUnsafeMutableBufferPointer { raw in
            raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) { gh_ssl_last_error($0, raw.count) }
        }
        let text = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        return (text.isEmpty ? "unknown error" : text, mismatch == 1)
    }
}

/// The client side of TLS toward one upstream: TLS 1.2 and 1.3, the server's certificate verified against
/// a CA file (or the system's trust store) and checked for the expected name. Shared by every worker.
package final class TLSClientContext: @unchecked Sendable {
    // `@unchecked`: configured in `init`, then only used to create sessions.
    private let context: OpaquePointer

    /// - Parameter caFile: PEM file of trusted CA certificates; nil: the system's default trust store.
    /// - Throws: `TLSContextError` (index 0) when the CA file cannot be loaded.
    package init(caFile: String?) throws(TLSContextError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSContextError(index: 0, message: "cannot create a TLS context: \(TLSServerContext.lastError())")
        }
        var ok = false
        defer { if !ok { SSL_CTX_free(context) } }
        guard gh_ssl_ctx_set_min_tls12(context) == 1,
            SSL_CTX_set_cipher_list(context, TLSServerContext.tls12Ciphers) == 1
        else {
            throw TLSContextError(index: 0, message: "cannot configure TLS: \(TLSServerContext.lastError())")
        }
        gh_ssl_ctx_set_client_options(context)
        gh_ssl_ctx_set_modes(context)
        gh_ssl_ctx_set_read_ahead(context)
        gh_ssl_ctx_verify_peer(context)
        if let caFile {
            guard let file = fopen(caFile, "rb") else {
                throw TLSContextError(
                    index: 0, message: "\(caFile): cannot read the CA file: \(String(cString: strerror(errno)))")
            }
            fclose(file)
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw TLSContextError(
                    index: 0, message: "\(caFile): no PEM CA certificate in it (\(TLSServerContext.lastError()))")
            }
        } else if SSL_CTX_set_default_verify_paths(context) != 1 {
            throw TLSContextError(
                index: 0, message: "cannot load the system's trusted CAs: \(TLSServerContext.lastError())")
        }
        ERR_clear_error()
        self.context = context
        ok = true
    }

    deinit { SSL_CTX_free(context) }

    /// A new client `SSL` on `fd` (connect state) that sends `serverName` as SNI (unless it is an IP address)
    /// and accepts only a certificate valid for it; nil when OpenSSL refuses.
    func makeSession(fd: Int32, serverName: String) -> OpaquePointer? {
        guard let ssl = SSL_new(context) else { return nil }
        let isIP = serverName.contains(":") || serverName.allSatisfy { $0 == "." || $0.isNumber }
        guard SSL_set_fd(ssl, fd) == 1, gh_ssl_client_set_name(ssl, serverName, isIP ? 1 : 0) == 1,
            gh_ssl_client_set_alpn(ssl) == 1
        else {
            SSL_free(ssl)
            ERR_clear_error()
            return nil
        }
        SSL_set_connect_state(ssl)
        return ssl
    }
}
