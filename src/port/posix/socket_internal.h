/*
 * midge POSIX port: what the stream transports (TCP in tcp.c, Unix-domain
 * sockets in unix.c) share. Private to src/port/posix.
 */
#ifndef MIDGE_PORT_SOCKET_INTERNAL_H
#define MIDGE_PORT_SOCKET_INTERNAL_H

#include <stdint.h>

#include "midge/port.h"

/* A non-blocking, close-on-exec socket; -1 on failure (errno set). */
int midge_posix__socket(int family, int type, int protocol);

/* Wait for a non-blocking connect() in progress on `fd` to end within
 * timeout_ms; 0 once connected, -1 on failure or time-out. */
int midge_posix__finish_connect(int fd, uint32_t timeout_ms);

/* Fill *t with send/recv/wait/close over the connected socket sock->fd
 * (transport.h's contract: the socket stays non-blocking, poll() is the
 * only sleep). The same four work for any stream socket. */
void midge_posix__stream_transport(midge_tcp *sock, midge_transport *t);

#endif /* MIDGE_PORT_SOCKET_INTERNAL_H */
