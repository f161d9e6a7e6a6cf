/*
 * midge TLS transport: mbedTLS over the non-blocking midge_tcp socket.
 *
 * mbedTLS never touches the socket itself: its BIO callbacks go through the
 * plain TCP transport, whose "0 = would block" becomes WANT_READ/WANT_WRITE.
 * The socket stays non-blocking for the connection's whole life, so the
 * handshake is a loop over poll() bounded by the caller's timeout, and
 * send/recv keep the transport contract (0 = try later) exactly.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>

#include "tls_internal.h"

/* Used when neither cafile nor capath is given: Debian's system bundle.
 * Not the directory /etc/ssl/certs: mbedTLS parses every entry there, and
 * its hash links and the bundle itself would load each CA three times. */
#define TLS_SYSTEM_CAFILE "/etc/ssl/certs/ca-certificates.crt"

/* Personalisation string for the DRBG seed (NIST SP 800-90A section 8.7.1):
 * separates our stream from other users of the same entropy source. */
static const unsigned char tls_drbg_personal[] = "midge tls client";

/* --- options ------------------------------------------------------------ */

midge_status midge_tls_check_options(const midge_tls_options *opts, char *err, size_t errlen)
{
    char scratch[8];

    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (opts == NULL)
        return MIDGE_OK;

    const char *v = opts->tls_version;
    if (v != NULL && strcmp(v, "tlsv1.2") != 0) {
        if (strcmp(v, "tlsv1.3") == 0)
            snprintf(err, errlen,
                     "TLS version tlsv1.3 not supported: this mbedTLS (%s) speaks TLS 1.2 only "
                     "(use tlsv1.2)",
                     MBEDTLS_VERSION_STRING);
        else if (strcmp(v, "tlsv1.1") == 0 || strcmp(v, "tlsv1") == 0 ||
                 strcmp(v, "tlsv1.0") == 0)
            snprintf(err, errlen, "TLS version %s refused: obsolete; only tlsv1.2 is supported",
                     v);
        else
            snprintf(err, errlen, "unknown TLS version '%.40s': only tlsv1.2 is supported", v);
        return MIDGE_ERR_INVALID;
    }
    /* A certificate without its key (or the reverse) cannot authenticate;
     * saying so now beats a handshake failure the server explains poorly. */
    if ((opts->certfile == NULL) != (opts->keyfile == NULL)) {
        snprintf(err, errlen, "%s",
                 opts->certfile != NULL ? "client certificate given without its key file"
                                        : "client key file given without its certificate");
        return MIDGE_ERR_INVALID;
    }
    return MIDGE_OK;
}

/* --- BIO: mbedTLS's I/O through the plain TCP transport ----------------- */

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    midge_tls *tls = ctx;

    if (len > INT_MAX)
        len = INT_MAX;
    long n = tls->raw.send(tls->raw.ctx, buf, len);
    if (n > 0)
        return (int)n;
    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return n == MIDGE_ERR_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    midge_tls *tls = ctx;

    if (len > INT_MAX)
        len = INT_MAX;
    long n = tls->raw.recv(tls->raw.ctx, buf, len);
    if (n > 0)
        return (int)n;
    if (n == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    /* mbedTLS reads a 0 from its BIO as end of stream (MBEDTLS_ERR_SSL_CONN_EOF). */
    return n == MIDGE_ERR_CLOSED ? 0 : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* --- transport ----------------------------------------------------------- */

static bool tls_is_closed(int ret)
{
    return ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == MBEDTLS_ERR_SSL_CONN_EOF ||
           ret == MBEDTLS_ERR_NET_CONN_RESET;
}

/* A closed or failed connection stays so: mbedTLS must not be driven after
 * a fatal error (its state is undefined), and after close_notify it would
 * report "try later" forever, which the contract forbids for a closed
 * peer. Returns the status every later send/recv repeats. */
static long tls_broken(midge_tls *tls, int ret, const char *op)
{
    if (tls_is_closed(ret)) {
        tls->failed = MIDGE_ERR_CLOSED;
        return tls->failed;
    }
    char why[128];
    midge_tls__strerror(ret, why, sizeof why);
    midge_tls__fail(tls, "TLS %s failed: %s", op, why);
    tls->failed = MIDGE_ERR_TLS;
    return tls->failed;
}

static long tls_send(void *ctx, const uint8_t *buf, size_t len)
{
    midge_tls *tls = ctx;
    size_t n = len;

    if (tls->failed != MIDGE_OK)
        return tls->failed;
    if (len == 0)
        return 0;
    if (tls->write_pending > 0) {
        /* mbedTLS already encrypted a record of write_pending bytes and
         * only waits to flush it; the caller re-presents its unsent bytes
         * from the same start, so the same count must be asked for, or
         * mbedTLS would report the new length as sent. */
        if (len < tls->write_pending) {
            midge_tls__fail(tls, "TLS send resumed with fewer bytes than the pending record");
            return MIDGE_ERR_IO;
        }
        n = tls->write_pending;
    } else {
        int max = mbedtls_ssl_get_max_out_record_payload(&tls->ssl);
        if (max > 0 && n > (size_t)max)
            n = (size_t)max;
    }

    int r = mbedtls_ssl_write(&tls->ssl, buf, n);
    if (r > 0) {
        tls->write_pending = 0;
        return r;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ || r == 0) {
        tls->write_pending = n;
        return 0;
    }
    return tls_broken(tls, r, "write");
}

static long tls_recv(void *ctx, uint8_t *buf, size_t len)
{
    midge_tls *tls = ctx;

    if (tls->failed != MIDGE_OK)
        return tls->failed;
    if (len == 0)
        return 0;
    int r = mbedtls_ssl_read(&tls->ssl, buf, len);
    if (r > 0)
        return r;
    /* WANT_WRITE too: a record may need an answer (an alert) flushed first;
     * the next call retries it. */
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    /* 0 from mbedtls_ssl_read is end of stream; the contract reserves 0
     * for "nothing yet", so a closed peer is always an error. */
    return tls_broken(tls, r == 0 ? MBEDTLS_ERR_SSL_CONN_EOF : r, "read");
}

static int tls_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    midge_tls *tls = ctx;

    /* Decrypted bytes, or a whole record, already inside mbedTLS: poll()
     * would not see them on the socket and could sleep past them. A broken
     * connection is "ready" too, so the next recv reports it at once. */
    if (tls->failed != MIDGE_OK)
        return 1;
    if (mbedtls_ssl_get_bytes_avail(&tls->ssl) > 0 || mbedtls_ssl_check_pending(&tls->ssl))
        return 1;
    return tls->raw.wait(tls->raw.ctx, want_send, timeout_ms);
}

/* Free every mbedTLS context (after tls_init_contexts) and the socket. */
static void tls_release(midge_tls *tls)
{
    if (tls->tcp_open) {
        tls->raw.close(tls->raw.ctx);
        tls->tcp_open = false;
    }
    if (!tls->live)
        return;
    mbedtls_ssl_free(&tls->ssl);
    mbedtls_ssl_config_free(&tls->conf);
    mbedtls_x509_crt_free(&tls->ca);
    mbedtls_x509_crt_free(&tls->cert);
    mbedtls_pk_free(&tls->key);
    mbedtls_ctr_drbg_free(&tls->drbg);
    mbedtls_entropy_free(&tls->entropy);
    tls->live = false;
}

static void tls_close(void *ctx)
{
    midge_tls *tls = ctx;

    /* Best effort: one non-blocking attempt at close_notify (RFC 5246
     * section 7.2.1). A full socket buffer or a dead peer just drops it. */
    if (tls->live && tls->tcp_open && tls->failed == MIDGE_OK)
        (void)mbedtls_ssl_close_notify(&tls->ssl);
    tls_release(tls);
    tls->write_pending = 0;
}

/* --- open ---------------------------------------------------------------- */

static void tls_init_contexts(midge_tls *tls)
{
    mbedtls_ssl_init(&tls->ssl);
    mbedtls_ssl_config_init(&tls->conf);
    mbedtls_x509_crt_init(&tls->ca);
    mbedtls_x509_crt_init(&tls->cert);
    mbedtls_pk_init(&tls->key);
    mbedtls_entropy_init(&tls->entropy);
    mbedtls_ctr_drbg_init(&tls->drbg);
    tls->live = true;
}

/* "cannot read PATH: <reason>": errno says more than mbedTLS's FILE_IO. */
static void tls_fail_file(midge_tls *tls, const char *what, const char *path, int ret)
{
    char why[128];

    if (access(path, R_OK) != 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else
        midge_tls__strerror(ret, why, sizeof why);
    midge_tls__fail(tls, "cannot load %s %s: %s", what, path, why);
}

/* The CA certificates: cafile and capath may both be given; with neither,
 * the system bundle. A file given that parses only partly still fails: a
 * typo in a trust anchor should not pass silently. */
static midge_status tls_load_ca(midge_tls *tls, const midge_tls_options *opts)
{
    const char *cafile = opts->cafile;
    const char *capath = opts->capath;
    int r;

    if (cafile == NULL && capath == NULL)
        cafile = TLS_SYSTEM_CAFILE;
    if (cafile != NULL) {
        r = mbedtls_x509_crt_parse_file(&tls->ca, cafile);
        /* The system bundle is not ours to fix: a CA in it that mbedTLS
         * cannot parse is skipped, as long as others loaded. */
        if (r > 0 && opts->cafile == NULL && tls->ca.version != 0)
            r = 0;
        if (r != 0) {
            tls_fail_file(tls, "CA file", cafile, r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT);
            return MIDGE_ERR_TLS;
        }
    }
    if (capath != NULL) {
        /* A directory is read leniently (a store holds odd files), but it
         * must yield at least one certificate. */
        r = mbedtls_x509_crt_parse_path(&tls->ca, capath);
        if (r < 0 || tls->ca.version == 0) {
            tls_fail_file(tls, "CA directory", capath, r < 0 ? r : MBEDTLS_ERR_X509_FILE_IO_ERROR);
            return MIDGE_ERR_TLS;
        }
    }
    return MIDGE_OK;
}

/* Client certificate and key, checked to belong together. */
static midge_status tls_load_identity(midge_tls *tls, const midge_tls_options *opts)
{
    int r;

    if (opts->certfile == NULL)
        return MIDGE_OK;
    r = mbedtls_x509_crt_parse_file(&tls->cert, opts->certfile);
    if (r != 0) {
        tls_fail_file(tls, "client certificate", opts->certfile,
                      r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT);
        return MIDGE_ERR_TLS;
    }
    r = mbedtls_pk_parse_keyfile(&tls->key, opts->keyfile, NULL);
    if (r == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
        midge_tls__fail(tls, "cannot load key file %s: it is encrypted (not supported)",
                        opts->keyfile);
        return MIDGE_ERR_TLS;
    }
    if (r != 0) {
        tls_fail_file(tls, "key file", opts->keyfile, r);
        return MIDGE_ERR_TLS;
    }
    if (mbedtls_pk_check_pair(&tls->cert.pk, &tls->key) != 0) {
        midge_tls__fail(tls, "key file %s does not match client certificate %s", opts->keyfile,
                        opts->certfile);
        return MIDGE_ERR_TLS;
    }
    r = mbedtls_ssl_conf_own_cert(&tls->conf, &tls->cert, &tls->key);
    if (r != 0) {
        char why[128];
        midge_tls__strerror(r, why, sizeof why);
        midge_tls__fail(tls, "cannot use client certificate: %s", why);
        return MIDGE_ERR_TLS;
    }
    return MIDGE_OK;
}

/* `insecure`: clear only the name-mismatch bit of the server's own
 * certificate (depth 0); every other verdict on every link of the chain
 * stands. */
static int tls_verify_skip_name(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)ctx;
    (void)crt;
    if (depth == 0)
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

static midge_status tls_configure(midge_tls *tls, const midge_tls_options *opts, const char *host)
{
    char why[128];
    int r;

    r = mbedtls_ctr_drbg_seed(&tls->drbg, mbedtls_entropy_func, &tls->entropy,
                              tls_drbg_personal, sizeof tls_drbg_personal - 1);
    if (r != 0)
        goto fail_mbedtls;
    r = mbedtls_ssl_config_defaults(&tls->conf, MBEDTLS_SSL_IS_CLIENT,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0)
        goto fail_mbedtls;
    /* TLS 1.2 exactly: 1.0/1.1 are obsolete (RFC 8996), 1.3 absent in 2.28. */
    mbedtls_ssl_conf_min_version(&tls->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&tls->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    /* REQUIRED, always: no option leads to OPTIONAL or NONE. */
    mbedtls_ssl_conf_authmode(&tls->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_rng(&tls->conf, mbedtls_ctr_drbg_random, &tls->drbg);
    if (opts->insecure)
        mbedtls_ssl_conf_verify(&tls->conf, tls_verify_skip_name, tls);

    if (tls_load_ca(tls, opts) != MIDGE_OK || tls_load_identity(tls, opts) != MIDGE_OK)
        return MIDGE_ERR_TLS;
    mbedtls_ssl_conf_ca_chain(&tls->conf, &tls->ca, NULL);

    r = mbedtls_ssl_setup(&tls->ssl, &tls->conf);
    if (r != 0)
        goto fail_mbedtls;
    /* Both SNI and the name the certificate must carry. */
    r = mbedtls_ssl_set_hostname(&tls->ssl, host);
    if (r != 0)
        goto fail_mbedtls;
    mbedtls_ssl_set_bio(&tls->ssl, tls, tls_bio_send, tls_bio_recv, NULL);
    return MIDGE_OK;

fail_mbedtls:
    midge_tls__strerror(r, why, sizeof why);
    midge_tls__fail(tls, "TLS setup failed: %s", why);
    return MIDGE_ERR_TLS;
}

/* The likely cause of a refusal without a certificate verdict, from how
 * far the handshake got: the server asked for a client certificate
 * (CertificateRequest, RFC 5246 section 7.4.4) that we do not have, or it
 * never answered our hello at all (not a TLS listener). */
static const char *tls_refusal_hint(const midge_tls *tls, const midge_tls_options *opts)
{
    if (tls->ssl.client_auth && opts->certfile == NULL)
        return ": it asked for a client certificate and none was given (--cert/--key)";
    if (tls->ssl.state <= MBEDTLS_SSL_SERVER_HELLO)
        return " before answering the TLS hello (is it a TLS listener?)";
    return "";
}

/* Why the handshake stopped, in one line. */
static void tls_explain_handshake(midge_tls *tls, const midge_tls_options *opts, const char *host,
                                  uint16_t port, int ret)
{
    char why[200] = "";

    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        midge_tls__describe_verify(mbedtls_ssl_get_verify_result(&tls->ssl), host, why,
                                   sizeof why);
    } else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && tls->ssl.in_msg != NULL) {
        /* The alert's description byte is the clearest account the server
         * gives of its refusal; mbedTLS 2.28 leaves it at in_msg[1]. */
        unsigned char code = tls->ssl.in_msg[1];
        const char *name = midge_tls__alert_name(code);
        snprintf(why, sizeof why, "the server sent alert %s (%u)%s", name ? name : "unknown",
                 (unsigned)code, tls_refusal_hint(tls, opts));
    } else if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_NET_CONN_RESET) {
        snprintf(why, sizeof why, "the server closed the connection%s",
                 tls_refusal_hint(tls, opts));
    } else {
        midge_tls__strerror(ret, why, sizeof why);
    }
    midge_tls__fail(tls, "TLS handshake with %s:%u failed: %s", host, (unsigned)port, why);
}

/* Drive the handshake until done, failed, or the deadline. */
static midge_status tls_handshake(midge_tls *tls, const midge_tls_options *opts, const char *host,
                                  uint16_t port, uint32_t start, uint32_t timeout_ms)
{
    for (;;) {
        int r = mbedtls_ssl_handshake(&tls->ssl);
        if (r == 0)
            return MIDGE_OK;
        if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
            tls_explain_handshake(tls, opts, host, port, r);
            return MIDGE_ERR_TLS;
        }
        uint32_t spent = midge_clock_ms() - start;
        if (spent >= timeout_ms)
            break;
        int w = tls->raw.wait(tls->raw.ctx, r == MBEDTLS_ERR_SSL_WANT_WRITE, timeout_ms - spent);
        if (w < 0) {
            midge_tls__fail(tls, "TLS handshake with %s:%u failed: %s", host, (unsigned)port,
                            midge_strerror(w));
            return MIDGE_ERR_TLS;
        }
    }
    midge_tls__fail(tls, "TLS handshake with %s:%u timed out after %u ms", host, (unsigned)port,
                    (unsigned)timeout_ms);
    return MIDGE_ERR_TLS;
}

midge_status midge_tls_open(midge_tls *tls, const midge_tls_options *opts, const char *host,
                            uint16_t port, uint32_t timeout_ms, midge_transport *t)
{
    static const midge_tls_options none;
    uint32_t start = midge_clock_ms();
    midge_status st;

    if (tls == NULL || host == NULL || t == NULL)
        return MIDGE_ERR_INVALID;
    if (opts == NULL)
        opts = &none;
    /* Whatever the struct held before is not ours to free (see tls.h). */
    memset(tls, 0, sizeof *tls);
    tls->tcp.fd = -1;

    if (midge_tls_check_options(opts, tls->err, sizeof tls->err) != MIDGE_OK)
        return MIDGE_ERR_INVALID;

    /* Certificates first: a bad path fails before any packet is sent. */
    tls_init_contexts(tls);
    st = tls_configure(tls, opts, host);
    if (st != MIDGE_OK)
        goto fail;

    st = midge_tcp_open_from(&tls->tcp, host, port, opts->bind_address, timeout_ms, &tls->raw);
    if (st != MIDGE_OK) {
        midge_tls__fail(tls, "cannot connect to %s:%u: %s", host, (unsigned)port,
                        midge_strerror(st));
        goto fail;
    }
    tls->tcp_open = true;

    st = tls_handshake(tls, opts, host, port, start, timeout_ms);
    if (st != MIDGE_OK)
        goto fail;

    tls->err[0] = '\0';
    t->send = tls_send;
    t->recv = tls_recv;
    t->wait = tls_wait;
    t->close = tls_close;
    t->ctx = tls;
    return MIDGE_OK;

fail:
    /* No fallback to plain TCP: the socket goes with the TLS state. */
    tls_release(tls);
    return st;
}

const char *midge_tls_last_error(const midge_tls *tls)
{
    return tls != NULL ? tls->err : "";
}

midge_status midge_tls_opener(void *opener, const char *host, uint16_t port, uint32_t timeout_ms,
                              midge_transport *t)
{
    midge_tls_opener_ctx *o = opener;

    if (o == NULL || o->tls == NULL)
        return MIDGE_ERR_INVALID;
    return midge_tls_open(o->tls, &o->options, host, port, timeout_ms, t);
}
