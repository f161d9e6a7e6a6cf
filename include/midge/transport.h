/*
 * midge transport: how the client moves bytes. A struct of function pointers
 * and an opaque context, so TCP, TLS, a test's fake and a microcontroller's
 * own stack all plug in the same way.
 *
 * The contract, which every implementation must keep exactly:
 *
 *   send(ctx, buf, len)  returns the number of bytes taken (> 0, may be less
 *                        than len), 0 when the transport cannot take any byte
 *                        right now (would block: try later), or < 0 on error.
 *   recv(ctx, buf, len)  returns the number of bytes read (> 0), 0 when no
 *                        byte is available right now, or < 0 on error.
 *                        A connection closed by the peer is an error
 *                        (MIDGE_ERR_CLOSED), NEVER 0.
 *   wait(ctx, want_send, timeout_ms)
 *                        blocks until recv would return data (or, with
 *                        want_send, until send could take a byte), or until
 *                        timeout_ms passed: returns > 0 ready, 0 timed out,
 *                        < 0 error. Must report data the transport already
 *                        holds in its own buffers (TLS records) as ready.
 *   close(ctx)           releases the connection; the transport is unusable
 *                        afterwards. Safe to call once after any error.
 *
 * Negative returns are midge_status values (MIDGE_ERR_IO, MIDGE_ERR_CLOSED,
 * MIDGE_ERR_TLS...). None of the functions may be NULL.
 */
#ifndef MIDGE_TRANSPORT_H
#define MIDGE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct midge_transport {
    long (*send)(void *ctx, const uint8_t *buf, size_t len);
    long (*recv)(void *ctx, uint8_t *buf, size_t len);
    int (*wait)(void *ctx, bool want_send, uint32_t timeout_ms);
    void (*close)(void *ctx);
    void *ctx;
} midge_transport;

/* How a client (re)opens its transport: connect to host:port within
 * timeout_ms and fill *t. Returns MIDGE_OK or a failure (MIDGE_ERR_RESOLVE,
 * MIDGE_ERR_CONNECT, MIDGE_ERR_TLS...). `opener` is the caller's context. */
typedef midge_status (*midge_transport_open_fn)(void *opener, const char *host, uint16_t port,
                                                uint32_t timeout_ms, midge_transport *t);

/* The same, for one address of host: the addr-th (from 0) of those its
 * name resolves to, in the resolver's order. *more says whether another
 * address follows that one, on success and on failure alike (false when
 * the name does not resolve), so that a client can try the next address
 * after a failure that comes later than the TCP connect (TLS, CONNACK). */
typedef midge_status (*midge_transport_open_addr_fn)(void *opener, const char *host,
                                                     uint16_t port, unsigned addr,
                                                     uint32_t timeout_ms, midge_transport *t,
                                                     bool *more);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_TRANSPORT_H */
