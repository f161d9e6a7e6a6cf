/*
 * midge bench: a midge_session on a non-blocking socket, with buffers that
 * cost nothing while a connection is idle.
 *
 * The session engine needs a tx and an rx buffer. A worker gives every one
 * of its devices the SAME tx and rx (one pair per worker) and keeps this
 * invariant: between two calls into the bench loop, every session's tx and
 * rx are empty. That holds because
 *   - bench_io_flush() hands all of tx to the socket, and whatever the
 *     socket does not take right now is copied to the link's own `out`
 *     queue (allocated only then, freed once written);
 *   - bench_io_read() feeds the session whole packets only (framed here
 *     with the codec's header decoder), so the session never keeps a
 *     partial packet in rx; the start of an incomplete packet waits in the
 *     link's own `in` buffer (again allocated only while it exists);
 *   - if an acknowledgement found tx full, the packet stays in rx: the
 *     reader flushes and feeds again until rx is empty.
 * The session's event callbacks run during those calls, when the shared
 * buffers belong to that one session.
 */
#ifndef MIDGE_BENCH_IO_H
#define MIDGE_BENCH_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "midge/midge.h"

/* Bytes a link owns only while it has some: data[off, len). */
struct bench_buf {
    uint32_t len;
    uint32_t off;
    uint32_t cap;
    uint8_t data[];
};

static inline size_t bench_buf_len(const struct bench_buf *b)
{
    return b != NULL ? (size_t)(b->len - b->off) : 0;
}

/* Append n bytes, growing the buffer; false (nothing appended) when it
 * would pass `limit` bytes or memory ran out. */
bool bench_buf_put(struct bench_buf **b, const void *p, size_t n, size_t limit);

/* Drop n bytes from the front; an emptied buffer is freed. */
void bench_buf_drop(struct bench_buf **b, size_t n);
void bench_buf_free(struct bench_buf **b);

struct bench_link {
    int fd;
    struct bench_buf *out; /* bytes the socket has not taken yet, in order */
    struct bench_buf *in;  /* the start of a packet still incomplete */
};

struct bench_io_limits {
    size_t rx_size;    /* the session's rx buffer: it must be empty after a read */
    size_t max_packet; /* larger packets end the connection (the session says so) */
    size_t out_limit;  /* bytes `out` may hold before the link counts as stuck */
};

/* One read buffer per process: room for an incomplete packet carried
 * over plus one read. */
struct bench_scratch {
    uint8_t *buf;
    size_t cap;
};

/* Everything the session has to send goes to the socket or to l->out;
 * the session's tx is empty afterwards. MIDGE_ERR_IO on a socket error,
 * MIDGE_ERR_NO_SPACE when `out` would pass out_limit. */
midge_status bench_io_flush(struct bench_link *l, midge_session *s, size_t out_limit,
                            uint32_t now_ms);

/* Write what waits in l->out (on EPOLLOUT). */
midge_status bench_io_write(struct bench_link *l);

/* One recv() into the scratch buffer, whole packets fed to the session
 * (events fire from here), the rest kept in l->in. *more (may be NULL)
 * says the read filled the buffer, so the socket may hold more; a short
 * read or "would block" means it is empty now. MIDGE_ERR_CLOSED when the
 * peer closed, MIDGE_ERR_IO on a socket error, or the session's own
 * failure. */
midge_status bench_io_read(struct bench_link *l, midge_session *s,
                           const struct bench_io_limits *lim, struct bench_scratch *sc,
                           uint32_t now_ms, bool *more);

/* Close the socket and free both queues. */
void bench_link_close(struct bench_link *l);

/* A non-blocking TCP socket with TCP_NODELAY, bound to the IPv4 address
 * `bind_addr` (host order; 0 = let the kernel choose), connecting to `to`.
 * Returns the descriptor (the connect is in progress or done) or -1 with
 * *err = errno. */
int bench_io_socket(const struct sockaddr *to, socklen_t to_len, uint32_t bind_addr, int *err);

/* The outcome of a non-blocking connect once the socket is writable: 0 or
 * an errno value. */
int bench_io_connect_error(int fd);

#endif /* MIDGE_BENCH_IO_H */
