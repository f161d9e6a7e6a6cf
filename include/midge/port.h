/*
 * midge port: what touches the operating system (POSIX here). Not part of
 * the no-heap core; a microcontroller port supplies its own (see
 * platform.h for what the client needs, src/port/lwip/ for a transport).
 */
#ifndef MIDGE_PORT_H
#define MIDGE_PORT_H

#include "midge/platform.h"
#include "midge/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic milliseconds (CLOCK_MONOTONIC); wraps after ~49 days, which the
 * session's wrap-safe comparisons allow. */
uint32_t midge_clock_ms(void);

/* The POSIX platform for midge_client_config.platform: midge_clock_ms and
 * nanosleep(2). */
extern const midge_platform midge_posix_platform;

/* A plain TCP connection. Holds the socket; caller-owned (static or stack). */
typedef struct midge_tcp {
    int fd;
} midge_tcp;

/* Resolve `host` with getaddrinfo (IPv4 and IPv6) and try every address it
 * returns, in order, with a non-blocking connect bounded by timeout_ms per
 * address; TCP_NODELAY on success. Fills *t with send/recv/wait/close over
 * `tcp`. Returns MIDGE_OK, MIDGE_ERR_RESOLVE or MIDGE_ERR_CONNECT. */
midge_status midge_tcp_open(midge_tcp *tcp, const char *host, uint16_t port,
                            uint32_t timeout_ms, midge_transport *t);

/* midge_tcp_open, with the socket bound to `bind_address` (a local name
 * or address, resolved in the family of each destination address; NULL =
 * any) before it connects. MIDGE_ERR_BIND when no destination could be
 * tried because the local address would not bind. */
midge_status midge_tcp_open_from(midge_tcp *tcp, const char *host, uint16_t port,
                                 const char *bind_address, uint32_t timeout_ms,
                                 midge_transport *t);

/* midge_transport_open_fn over midge_tcp_open; `opener` is a midge_tcp *. */
midge_status midge_tcp_opener(void *opener, const char *host, uint16_t port,
                              uint32_t timeout_ms, midge_transport *t);

/* Context for midge_tcp_bound_opener; bind_address must outlive the client. */
typedef struct midge_tcp_opener_ctx {
    midge_tcp *tcp;
    const char *bind_address;
} midge_tcp_opener_ctx;

/* midge_transport_open_fn over midge_tcp_open_from; `opener` is a
 * midge_tcp_opener_ctx *. */
midge_status midge_tcp_bound_opener(void *opener, const char *host, uint16_t port,
                                    uint32_t timeout_ms, midge_transport *t);

/* A Unix-domain stream socket at `path` (a broker's `listener 0 PATH`),
 * connected within timeout_ms, with the same socket struct and the same
 * send/recv/wait/close as TCP. MIDGE_ERR_INVALID for an empty path or one
 * longer than sockaddr_un holds (107 bytes on Linux), MIDGE_ERR_CONNECT
 * when nothing listens there. */
midge_status midge_unix_open(midge_tcp *sock, const char *path, uint32_t timeout_ms,
                             midge_transport *t);

/* midge_transport_open_fn over midge_unix_open: `opener` is a midge_tcp *,
 * and the client's host is the socket's path (its port is not used). */
midge_status midge_unix_opener(void *opener, const char *host, uint16_t port,
                               uint32_t timeout_ms, midge_transport *t);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_PORT_H */
