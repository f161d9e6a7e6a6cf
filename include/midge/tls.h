/*
 * midge TLS: a midge_transport over mbedTLS (2.28, as Debian 12 ships it)
 * on top of a midge_tcp connection. Not part of the no-heap core: mbedTLS
 * allocates its record buffers and parsed certificates on the heap.
 *
 * Security rules, none of which an option can turn off:
 *   - the server's certificate chain is always verified against the CA
 *     certificates given (cafile and/or capath; the system bundle
 *     /etc/ssl/certs/ca-certificates.crt when neither is given);
 *   - the host name is sent as SNI and checked against the certificate;
 *     `insecure` skips ONLY this host-name check, never the chain;
 *   - TLS 1.2 only: Debian's mbedTLS 2.28 has no TLS 1.3, and 1.0/1.1 are
 *     refused as obsolete;
 *   - a TLS failure never falls back to plain TCP.
 *
 * Host names are compared with the certificate's dNSName entries (or its CN
 * when it has no subjectAltName). mbedTLS 2.28 does not read iPAddress
 * entries: connect by name ("localhost", "broker.example"), or use
 * `insecure` when only an address is known.
 *
 * RAM per connection, measured with Debian's mbedTLS 2.28.3 defaults
 * (MBEDTLS_SSL_MAX_CONTENT_LEN 16384, no variable buffer length) against a
 * mosquitto TLS 1.2 listener: ECDHE-RSA with AES-GCM, 2048-bit RSA keys,
 * a one-certificate cafile (tests/tls/test_tls_memory.c prints the figures
 * of a build; heap counted in requested bytes, allocator overhead apart):
 *
 *                                   server auth    + client certificate
 *   sizeof(midge_tls)                 41 080 B          41 080 B
 *   heap held while connected         42 866 B          46 535 B
 *   heap peak during the handshake    48 522 B          53 263 B
 *
 * So about 84 KiB per connection, 95 KiB at the handshake's peak. Of the
 * struct, 37 960 B are mbedtls_entropy_context: Debian's build enables
 * MBEDTLS_HAVEGE_C, whose 36 880 B state lives inside it (a build without
 * HAVEGE needs about 4.1 KiB for the whole struct). Of the held heap, 2 x 16.7 KiB
 * are the input and output record buffers; the rest is the parsed CA and
 * peer certificates and the session. The heap is all released by close.
 * The system bundle (no cafile, no capath) holds about 600 KiB of parsed
 * CAs for the connection's life: give a cafile with only the CA that signs
 * the broker's certificate wherever memory counts.
 *
 * Error reporting: every failure leaves one line in the midge_tls (see
 * midge_tls_last_error) naming the reason: "certificate not trusted
 * (unknown CA)", "certificate expired", "host name mismatch: ...", the
 * mbedTLS error text of a failed handshake, an unreadable file. The line
 * never holds key material.
 */
#ifndef MIDGE_TLS_H
#define MIDGE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "midge/port.h"
#include "midge/status.h"
#include "midge/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest error line kept, terminating NUL included. */
#define MIDGE_TLS_ERROR_MAX 256

/* What a TLS connection trusts and presents. Every string may be NULL and
 * must stay valid while the options are in use (the opener reads them on
 * every reconnect). */
typedef struct midge_tls_options {
    const char *cafile;   /* PEM file of trusted CA certificates */
    const char *capath;   /* directory of PEM CA certificates */
    const char *certfile; /* client certificate (PEM), needs keyfile */
    const char *keyfile;  /* client private key (PEM, not encrypted) */
    bool insecure;        /* skip the host-name check only; the chain is still verified */
    const char *tls_version; /* NULL or "tlsv1.2"; anything else is refused */
    const char *bind_address; /* local address the TCP socket binds first; NULL = any */
} midge_tls_options;

/* One TLS connection. Caller-owned (static, stack or heap), fields private.
 * midge_tls_open() initialises every field; the struct need not be zeroed
 * first. */
typedef struct midge_tls {
    midge_tcp tcp;              /* the socket underneath */
    midge_transport raw;        /* plain TCP transport over `tcp` */
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;        /* trusted CA certificates */
    mbedtls_x509_crt cert;      /* own certificate, when given */
    mbedtls_pk_context key;     /* own private key, when given */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool live;                  /* the mbedTLS contexts above are initialised */
    bool tcp_open;
    size_t write_pending;       /* bytes of a record mbedTLS holds after WANT_WRITE */
    midge_status failed;        /* MIDGE_OK, or what every later send/recv returns */
    char err[MIDGE_TLS_ERROR_MAX];
} midge_tls;

/* Check options without connecting (the CLI calls it while parsing its
 * flags). Returns MIDGE_OK, or MIDGE_ERR_INVALID with one line in err
 * (when err is not NULL): an unsupported tls_version, a keyfile without a
 * certfile or the reverse. */
midge_status midge_tls_check_options(const midge_tls_options *opts, char *err, size_t errlen);

/* Connect to host:port over TCP (midge_tcp_open_from: every resolved
 * address, from opts->bind_address when set),
 * then run the TLS handshake with SNI and host-name verification set to
 * `host`, all within timeout_ms. On MIDGE_OK *t is a transport over `tls`
 * (send/recv/wait/close per transport.h). On failure everything is already
 * released, t is untouched and midge_tls_last_error() says why; the status
 * is MIDGE_ERR_INVALID (options), MIDGE_ERR_RESOLVE, MIDGE_ERR_CONNECT or
 * MIDGE_ERR_TLS. Do not call it on a tls that is still open. */
midge_status midge_tls_open(midge_tls *tls, const midge_tls_options *opts, const char *host,
                            uint16_t port, uint32_t timeout_ms, midge_transport *t);

/* The last failure as one line ("" when there was none). Valid until the
 * next call on `tls`. */
const char *midge_tls_last_error(const midge_tls *tls);

/* Context for midge_tls_opener: the connection and its options (copied by
 * value; the strings they point to must outlive the client). */
typedef struct midge_tls_opener_ctx {
    midge_tls *tls;
    midge_tls_options options;
} midge_tls_opener_ctx;

/* midge_transport_open_fn over midge_tls_open: set a client's cfg.open to
 * midge_tls_opener and cfg.opener to a midge_tls_opener_ctx *. */
midge_status midge_tls_opener(void *opener, const char *host, uint16_t port, uint32_t timeout_ms,
                              midge_transport *t);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_TLS_H */
