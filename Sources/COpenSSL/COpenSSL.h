// The OpenSSL 3 (libssl) API the gateway's TLS termination uses. Only GatehouseIO imports this module.
//
// System headers first, for the same reason as in CLibevent.h (one definition of each glibc struct).
// Many OpenSSL calls are macros over SSL_ctrl/SSL_CTX_ctrl that Swift cannot import; the small inline
// functions below give them a callable form.
#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <unistd.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

static inline int gh_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

/// No renegotiation, no compression, server cipher preference, and an EOF without close_notify read as
/// an ordinary EOF (HTTP framing, not the TLS layer, decides whether a message was complete).
static inline void gh_ssl_ctx_set_server_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE
                             | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1
                             | SSL_OP_NO_TLSv1_1);
}

/// Partial writes off (one SSL_write = one record), a moving write buffer allowed (the evbuffer may move
/// its bytes between a WANT_WRITE and the retry), buffers released while a connection is idle, and no
/// chain building per handshake: the chain sent is exactly the certificate file's (server certificate,
/// then its intermediates), as nginx does. Without NO_AUTO_CHAIN, OpenSSL verifies a chain through the
/// trust store on every handshake of a certificate file without intermediates (a signature check each).
static inline void gh_ssl_ctx_set_modes(SSL_CTX *ctx) {
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
}

static inline void gh_ssl_ctx_set_read_ahead(SSL_CTX *ctx) {
    SSL_CTX_set_read_ahead(ctx, 1);
}

static inline void gh_ssl_ctx_set_session_cache_server(SSL_CTX *ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
}

/// The certificates a TLS listener serves, in the order the config lists them: SNI picks the first whose
/// names (subjectAltName DNS entries, wildcards included, else the subject CN) match the server name the
/// client sent; a client that sends none, or a name no certificate has, gets the first one.
typedef struct {
    SSL_CTX **contexts;
    int count;
} gh_sni_table;

static inline int gh_servername_callback(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    const gh_sni_table *table = (const gh_sni_table *)arg;
    if (table == NULL || table->count < 2) return SSL_TLSEXT_ERR_OK;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL) return SSL_TLSEXT_ERR_OK;
    size_t length = strlen(name);
    for (int i = 0; i < table->count; i++) {
        X509 *certificate = SSL_CTX_get0_certificate(table->contexts[i]);
        if (certificate != NULL && X509_check_host(certificate, name, length, 0, NULL) == 1) {
            if (i != 0) SSL_set_SSL_CTX(ssl, table->contexts[i]);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

/// Installs the SNI choice on the context every handshake starts with (the first certificate's).
static inline void gh_ssl_ctx_install_sni(SSL_CTX *ctx, gh_sni_table *table) {
    SSL_CTX_set_tlsext_servername_callback(ctx, gh_servername_callback);
    SSL_CTX_set_tlsext_servername_arg(ctx, table);
}

/// ALPN: "http/1.1" when the client offers it; a client that offers only other protocols (say "h2")
/// gets no ALPN answer rather than a fatal alert, and speaks HTTP/1.1 like a client without ALPN.
static inline int gh_alpn_select_callback(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                          const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int length = in[i];
        if (i + 1 + length > inlen) break;
        if (length == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)length;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + length;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static inline void gh_ssl_ctx_install_alpn(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, gh_alpn_select_callback, NULL);
}

/// Refuses to prompt for a passphrase: an encrypted private key fails to load instead of blocking the
/// process on a terminal read.
static inline int gh_no_passphrase_callback(char *buffer, int size, int rwflag, void *userdata) {
    (void)buffer;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

static inline void gh_ssl_ctx_refuse_passphrase(SSL_CTX *ctx) {
    SSL_CTX_set_default_passwd_cb(ctx, gh_no_passphrase_callback);
}

static inline int gh_ssl_ctx_set_groups(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

/// The oldest error on this thread's queue (usually the cause) as text ("" when there is none); clears the
/// queue. Returns 1 when that error says a private key does not match its certificate.
static inline int gh_ssl_last_error(char *buffer, size_t size) {
    unsigned long code = ERR_get_error();
    unsigned long next;
    while ((next = ERR_get_error()) != 0) { (void)next; }
    if (size > 0) buffer[0] = 0;
    if (code == 0) return 0;
    ERR_error_string_n(code, buffer, size);
    return ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
}

/// Client side (TLS to upstreams): SNI, the name the certificate must carry (a DNS name, or an IP
/// address checked against the certificate's IP entries), ALPN http/1.1. Returns 1 on success.
static inline int gh_ssl_client_set_name(SSL *ssl, const char *name, int is_ip) {
    if (is_ip) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        return X509_VERIFY_PARAM_set1_ip_asc(param, name);
    }
    if (SSL_set_tlsext_host_name(ssl, name) != 1) return 0;
    return SSL_set1_host(ssl, name);
}

static inline int gh_ssl_client_set_alpn(SSL *ssl) {
    static const unsigned char protocols[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    return SSL_set_alpn_protos(ssl, protocols, sizeof(protocols)) == 0;
}

static inline void gh_ssl_ctx_verify_peer(SSL_CTX *ctx) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
}

/// Client contexts: no renegotiation, no compression; an EOF without close_notify is an ordinary EOF
/// (HTTP framing decides whether a response was complete).
static inline void gh_ssl_ctx_set_client_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
}
