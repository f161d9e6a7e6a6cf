/* Shared between the TLS transport's files; not a public header. */
#ifndef MIDGE_TLS_INTERNAL_H
#define MIDGE_TLS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/tls.h"

/* Replace tls->err with one formatted line (newlines are turned into
 * spaces so that the "one line" promise holds whatever mbedTLS says). */
void midge_tls__fail(midge_tls *tls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append "; "-separated words for mbedtls_ssl_get_verify_result() flags to
 * out (a NUL-terminated string of capacity cap). `host` names the host in
 * the mismatch message. */
void midge_tls__describe_verify(uint32_t flags, const char *host, char *out, size_t cap);

/* mbedTLS's text for an error code ("SSL - ..."), or its number when the
 * library has no text for it. */
void midge_tls__strerror(int ret, char *out, size_t cap);

/* The name of a TLS alert description (RFC 5246 section 7.2), or NULL. */
const char *midge_tls__alert_name(unsigned char code);

#endif /* MIDGE_TLS_INTERNAL_H */
