/*
 * midge bench: sessions on non-blocking sockets (see bench_io.h for why
 * every device of a worker can share one tx and one rx buffer).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_io.h"

/* A flush round empties tx; pending() refills it from the QoS 1/2 store,
 * at least one record per round. A store holds far fewer records than
 * this, and tx stays empty whenever the loop ends. */
#define FLUSH_ROUNDS 4096

/* Queues start at this size and double. */
#define BUF_MIN 64u

/* --- Byte queues ------------------------------------------------------------ */

static size_t buf_grow_cap(size_t cap, size_t need)
{
    size_t c = cap < BUF_MIN ? BUF_MIN : cap;

    while (c < need)
        c *= 2;
    return c;
}

bool bench_buf_put(struct bench_buf **b, const void *p, size_t n, size_t limit)
{
    struct bench_buf *q = *b;
    size_t held = bench_buf_len(q);

    if (n == 0)
        return true;
    if (held + n > limit || held + n > UINT32_MAX / 2)
        return false;
    /* Slide the live bytes to the front before growing: a queue that is
     * written and drained in turns then never grows past its peak. */
    if (q != NULL && q->off != 0) {
        memmove(q->data, q->data + q->off, held);
        q->len = (uint32_t)held;
        q->off = 0;
    }
    if (q == NULL || q->cap < held + n) {
        size_t cap = buf_grow_cap(q != NULL ? q->cap : 0, held + n);
        struct bench_buf *grown = realloc(q, sizeof *q + cap);
        if (grown == NULL)
            return false;
        if (q == NULL)
            grown->len = grown->off = 0;
        grown->cap = (uint32_t)cap;
        q = grown;
        *b = q;
    }
    memcpy(q->data + q->len, p, n);
    q->len += (uint32_t)n;
    return true;
}

void bench_buf_free(struct bench_buf **b)
{
    free(*b);
    *b = NULL;
}

void bench_buf_drop(struct bench_buf **b, size_t n)
{
    struct bench_buf *q = *b;

    if (q == NULL)
        return;
    if (n >= bench_buf_len(q)) {
        bench_buf_free(b);
        return;
    }
    q->off += (uint32_t)n;
}

/* --- Sending ------------------------------------------------------------------ */

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

midge_status bench_io_flush(struct bench_link *l, midge_session *s, size_t out_limit,
                            uint32_t now_ms)
{
    const uint8_t *data = NULL;

    for (int round = 0; round < FLUSH_ROUNDS; round++) {
        size_t n = midge_session_pending(s, &data);
        size_t done = 0;
        if (n == 0)
            return MIDGE_OK;
        /* Bytes already queued go first: TCP order is packet order. */
        if (bench_buf_len(l->out) == 0) {
            ssize_t w = send(l->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && !would_block(errno))
                return MIDGE_ERR_IO;
            done = w > 0 ? (size_t)w : 0;
        }
        if (done < n && !bench_buf_put(&l->out, data + done, n - done, out_limit))
            return MIDGE_ERR_NO_SPACE;
        /* Handed over, to the kernel or to our queue: tx is free again. */
        midge_session_sent(s, n, now_ms);
    }
    return MIDGE_OK;
}

midge_status bench_io_write(struct bench_link *l)
{
    size_t n = bench_buf_len(l->out);

    if (n == 0)
        return MIDGE_OK;
    ssize_t w = send(l->fd, l->out->data + l->out->off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        return would_block(errno) ? MIDGE_OK : MIDGE_ERR_IO;
    bench_buf_drop(&l->out, (size_t)w);
    return MIDGE_OK;
}

/* --- Receiving ---------------------------------------------------------------- */

/* Length of the whole packets at the start of buf[0, len). Bytes the codec
 * calls malformed, and a packet announcing more than max_packet, are
 * passed on whole: the session then ends the connection with its own
 * reason (protocol error, too big) instead of this loop inventing one.
 * Every round moves past at least a 2-byte header. */
static size_t frame_whole(const uint8_t *buf, size_t len, size_t max_packet)
{
    size_t off = 0;

    while (off < len) {
        uint8_t first = 0;
        uint32_t remaining = 0;
        size_t header = 0;
        midge_decode_result r =
            midge_codec_decode_header(buf + off, len - off, &first, &remaining, &header);
        if (r.outcome == MIDGE_DECODE_MALFORMED)
            return len;
        if (r.outcome == MIDGE_DECODE_NEED_MORE)
            return off;
        size_t size = header + remaining;
        if (size > max_packet)
            return len;
        if (size > len - off)
            return off;
        off += size;
    }
    return off;
}

static bool rx_empty(midge_session *s, const struct bench_io_limits *lim)
{
    uint8_t *p = NULL;

    return midge_session_rx_space(s, &p) == lim->rx_size;
}

/* Feed whole packets. A packet whose acknowledgement found tx full stays
 * in rx (back-pressure); flushing always empties tx, so the next round
 * takes it. Each round consumes bytes or clears that one condition. */
static midge_status feed_whole(struct bench_link *l, midge_session *s,
                               const struct bench_io_limits *lim, const uint8_t *buf,
                               size_t len, uint32_t now_ms)
{
    size_t done = 0;

    for (size_t round = 0; round <= len + 1; round++) {
        size_t used = 0;
        midge_status st = midge_session_feed(s, buf + done, len - done, &used, now_ms);
        if (st != MIDGE_OK)
            return st;
        done += used;
        if (done == len && rx_empty(s, lim))
            return MIDGE_OK;
        st = bench_io_flush(l, s, lim->out_limit, now_ms);
        if (st != MIDGE_OK)
            return st;
    }
    /* Not reachable while the session keeps its contract; never leave
     * bytes in a shared rx. */
    return MIDGE_ERR_STATE;
}

midge_status bench_io_read(struct bench_link *l, midge_session *s,
                           const struct bench_io_limits *lim, struct bench_scratch *sc,
                           uint32_t now_ms, bool *more)
{
    size_t carry = bench_buf_len(l->in);

    if (more != NULL)
        *more = false;

    if (carry >= sc->cap)
        return MIDGE_ERR_TOO_BIG;
    if (carry != 0)
        memcpy(sc->buf, l->in->data + l->in->off, carry);
    ssize_t n = recv(l->fd, sc->buf + carry, sc->cap - carry, MSG_DONTWAIT);
    if (n == 0)
        return MIDGE_ERR_CLOSED;
    if (n < 0)
        return would_block(errno) ? MIDGE_OK : MIDGE_ERR_IO;

    if (more != NULL)
        *more = (size_t)n == sc->cap - carry;
    size_t total = carry + (size_t)n;
    size_t whole = frame_whole(sc->buf, total, lim->max_packet);
    midge_status st = feed_whole(l, s, lim, sc->buf, whole, now_ms);
    if (st != MIDGE_OK)
        return st;
    bench_buf_free(&l->in);
    if (whole < total && !bench_buf_put(&l->in, sc->buf + whole, total - whole, lim->max_packet))
        return MIDGE_ERR_TOO_BIG;
    return MIDGE_OK;
}

void bench_link_close(struct bench_link *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    bench_buf_free(&l->out);
    bench_buf_free(&l->in);
}

/* --- Sockets ---------------------------------------------------------------- */

int bench_io_socket(const struct sockaddr *to, socklen_t to_len, uint32_t bind_addr, int *err)
{
    int one = 1;
    int fd = socket(to->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        *err = errno;
        return -1;
    }
    /* Commands and replies are single small packets: Nagle would hold a
     * reply back until the previous one is acknowledged. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind_addr != 0) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(bind_addr);
        /* Without this, bind() picks the port for the source address alone,
         * so one address runs out after ~28,000 ports whatever the broker;
         * with it, connect() picks the port for the whole 4-tuple. */
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)&a, sizeof a) != 0)
            goto fail;
    }
    if (connect(fd, to, to_len) != 0 && errno != EINPROGRESS)
        goto fail;
    return fd;

fail:
    *err = errno;
    close(fd);
    return -1;
}

int bench_io_connect_error(int fd)
{
    int e = 0;
    socklen_t len = sizeof e;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        return errno;
    return e;
}
