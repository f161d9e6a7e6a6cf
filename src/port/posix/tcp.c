/*
 * midge POSIX port: a plain TCP transport.
 *
 * The socket stays non-blocking for its whole life: send and recv never
 * block, and the only place the thread sleeps is poll() in tcp_wait(). That
 * keeps the transport contract of transport.h exact (0 = would block).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "midge/port.h"
#include "socket_internal.h"

/* Not every POSIX system has MSG_NOSIGNAL (macOS uses SO_NOSIGPIPE); there
 * the application must ignore SIGPIPE itself. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static long tcp_send(void *ctx, const uint8_t *buf, size_t len)
{
    midge_tcp *tcp = ctx;

    if (len == 0)
        return 0;
    for (;;) {
        ssize_t n = send(tcp->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0)
            return (long)n;
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        /* EPIPE/ECONNRESET: the peer went away while we were writing. */
        if (errno == EPIPE || errno == ECONNRESET)
            return MIDGE_ERR_CLOSED;
        return MIDGE_ERR_IO;
    }
}

static long tcp_recv(void *ctx, uint8_t *buf, size_t len)
{
    midge_tcp *tcp = ctx;

    if (len == 0)
        return 0;
    for (;;) {
        ssize_t n = recv(tcp->fd, buf, len, 0);
        if (n > 0)
            return (long)n;
        /* End of stream. The contract reserves 0 for "nothing yet", so an
         * orderly close must surface as an error or it would look idle. */
        if (n == 0)
            return MIDGE_ERR_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == ECONNRESET)
            return MIDGE_ERR_CLOSED;
        return MIDGE_ERR_IO;
    }
}

/* poll() takes an int of milliseconds; longer waits are cut to INT_MAX
 * (about 24 days), which every caller treats as "no limit". */
static int tcp_poll_ms(uint32_t timeout_ms)
{
    return timeout_ms > (uint32_t)INT_MAX ? INT_MAX : (int)timeout_ms;
}

static int tcp_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    midge_tcp *tcp = ctx;
    struct pollfd pfd = { .fd = tcp->fd, .events = POLLIN };

    if (want_send)
        pfd.events |= POLLOUT;
    int r = poll(&pfd, 1, tcp_poll_ms(timeout_ms));
    /* A signal cut the wait short: report "nothing ready" so the caller
     * re-checks its own conditions (a CLI's stop flag) before waiting again. */
    if (r < 0)
        return errno == EINTR ? 0 : MIDGE_ERR_IO;
    if (r == 0)
        return 0;
    if (pfd.revents & POLLNVAL)
        return MIDGE_ERR_IO;
    /* POLLERR and POLLHUP count as ready: the next recv reports the cause. */
    return 1;
}

static void tcp_close(void *ctx)
{
    midge_tcp *tcp = ctx;

    if (tcp->fd >= 0)
        close(tcp->fd);
    tcp->fd = -1;
}

void midge_posix__stream_transport(midge_tcp *sock, midge_transport *t)
{
    t->send = tcp_send;
    t->recv = tcp_recv;
    t->wait = tcp_wait;
    t->close = tcp_close;
    t->ctx = sock;
}

int midge_posix__socket(int family, int type, int protocol)
{
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
#else
    int fd = socket(family, type, protocol);
    if (fd < 0)
        return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
#endif
}

int midge_posix__finish_connect(int fd, uint32_t timeout_ms)
{
    uint32_t start = midge_clock_ms();

    for (;;) {
        uint32_t spent = midge_clock_ms() - start;
        if (spent >= timeout_ms)
            return -1;
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int r = poll(&pfd, 1, tcp_poll_ms(timeout_ms - spent));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        break;
    }
    /* Writable means the handshake ended; SO_ERROR says how. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
        return -1;
    return 0;
}

/* Bind `fd` to the first address `bind_address` resolves to in the
 * family of the destination (mosquitto's -A); false when none binds. */
static bool tcp_bind_local(int fd, const struct addrinfo *dest, const char *bind_address)
{
    struct addrinfo hints = { .ai_family = dest->ai_family, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *list = NULL;
    bool bound = false;

    if (getaddrinfo(bind_address, NULL, &hints, &list) != 0)
        return false;
    for (const struct addrinfo *ai = list; ai != NULL && !bound; ai = ai->ai_next)
        bound = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    freeaddrinfo(list);
    return bound;
}

/* Connect one address; returns the socket, -1 when the connect failed,
 * -2 when the local address could not be bound. */
static int tcp_connect_one(const struct addrinfo *ai, const char *bind_address,
                           uint32_t timeout_ms)
{
    int fd = midge_posix__socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return -1;

    if (bind_address != NULL && !tcp_bind_local(fd, ai, bind_address)) {
        close(fd);
        return -2;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            goto fail;
        if (midge_posix__finish_connect(fd, timeout_ms) != 0)
            goto fail;
    }
    /* MQTT packets are small and latency-bound (PINGREQ, acks): no Nagle. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;

fail:
    close(fd);
    return -1;
}

midge_status midge_tcp_open(midge_tcp *tcp, const char *host, uint16_t port,
                            uint32_t timeout_ms, midge_transport *t)
{
    return midge_tcp_open_from(tcp, host, port, NULL, timeout_ms, t);
}

midge_status midge_tcp_open_from(midge_tcp *tcp, const char *host, uint16_t port,
                                 const char *bind_address, uint32_t timeout_ms,
                                 midge_transport *t)
{
    bool unbound = false;

    if (tcp == NULL || host == NULL || t == NULL)
        return MIDGE_ERR_INVALID;
    tcp->fd = -1;

    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, service, &hints, &list) != 0 || list == NULL)
        return MIDGE_ERR_RESOLVE;

    /* Every address in resolver order: "localhost" usually gives ::1 first
     * while many brokers listen on 127.0.0.1 only. */
    for (const struct addrinfo *ai = list; ai != NULL && tcp->fd < 0; ai = ai->ai_next) {
        int fd = tcp_connect_one(ai, bind_address, timeout_ms);
        unbound |= fd == -2;
        tcp->fd = fd < 0 ? -1 : fd;
    }
    freeaddrinfo(list);
    /* No address connected; if one could not even bind, that is the
     * likelier cause (an -A address this host does not have). */
    if (tcp->fd < 0)
        return unbound ? MIDGE_ERR_BIND : MIDGE_ERR_CONNECT;

    midge_posix__stream_transport(tcp, t);
    return MIDGE_OK;
}

midge_status midge_tcp_opener(void *opener, const char *host, uint16_t port,
                              uint32_t timeout_ms, midge_transport *t)
{
    return midge_tcp_open(opener, host, port, timeout_ms, t);
}

midge_status midge_tcp_bound_opener(void *opener, const char *host, uint16_t port,
                                    uint32_t timeout_ms, midge_transport *t)
{
    midge_tcp_opener_ctx *o = opener;

    if (o == NULL)
        return MIDGE_ERR_INVALID;
    return midge_tcp_open_from(o->tcp, host, port, o->bind_address, timeout_ms, t);
}
