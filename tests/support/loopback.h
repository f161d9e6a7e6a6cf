/*
 * Loopback TCP for fake servers in tests: a listener on 127.0.0.1 with a
 * port the kernel picks, and socket I/O where every wait is bounded by a
 * timeout so a misbehaving client under test can never hang a test.
 *
 * Outcomes of the I/O helpers:
 *   LOOPBACK_OK       all requested bytes moved / the expected event happened
 *   LOOPBACK_TIMEOUT  the deadline passed first
 *   LOOPBACK_CLOSED   the peer closed the connection (EOF, reset, broken pipe)
 *   LOOPBACK_ERROR    any other socket error
 */
#ifndef MIDGE_TEST_LOOPBACK_H
#define MIDGE_TEST_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>

typedef enum loopback_result {
    LOOPBACK_OK = 0,
    LOOPBACK_TIMEOUT,
    LOOPBACK_CLOSED,
    LOOPBACK_ERROR
} loopback_result;

const char *loopback_result_str(loopback_result r);

/* Monotonic milliseconds, for deadlines. */
int64_t loopback_now_ms(void);

/* Listen on 127.0.0.1 port 0; *port receives the port chosen. Returns the
 * listening fd (close-on-exec), or -1. */
int loopback_listen(uint16_t *port);

/* Accept one connection within timeout_ms. Returns the connected fd
 * (close-on-exec, blocking), or -1 on timeout or error. */
int loopback_accept(int listener, int timeout_ms);

/* Read exactly `len` bytes within timeout_ms. *got (may be NULL) receives
 * the bytes read, also on failure, so a caller can show what did arrive. */
loopback_result loopback_read_exact(int fd, uint8_t *buf, size_t len, int timeout_ms,
                                    size_t *got);

/* Read what is available (at least one byte) within timeout_ms; *got
 * receives the count. */
loopback_result loopback_read_some(int fd, uint8_t *buf, size_t cap, int timeout_ms,
                                   size_t *got);

/* Write all `len` bytes. Never raises SIGPIPE. */
loopback_result loopback_write_all(int fd, const uint8_t *buf, size_t len, int timeout_ms);

/* Wait until the peer closes, discarding whatever it sends meanwhile:
 * LOOPBACK_CLOSED when it did, LOOPBACK_TIMEOUT when it was still connected
 * at the deadline. *discarded (may be NULL) counts the bytes thrown away. */
loopback_result loopback_wait_closed(int fd, int timeout_ms, size_t *discarded);

#endif /* MIDGE_TEST_LOOPBACK_H */
