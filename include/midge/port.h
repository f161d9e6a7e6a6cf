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

/* midge_transport_open_fn over midge_tcp_open; `opener` is a midge_tcp *. */
midge_status midge_tcp_opener(void *opener, const char *host, uint16_t port,
                              uint32_t timeout_ms, midge_transport *t);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_PORT_H */
