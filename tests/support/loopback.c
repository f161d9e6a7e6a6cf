/*
 * Loopback TCP for fake servers: bounded waits everywhere (see loopback.h).
 * Each wait is a poll() on the remaining time to one deadline, so a peer
 * that trickles bytes cannot stretch a timeout.
 */
#include "loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *loopback_result_str(loopback_result r)
{
    switch (r) {
    case LOOPBACK_OK:
        return "ok";
    case LOOPBACK_TIMEOUT:
        return "timed out";
    case LOOPBACK_CLOSED:
        return "connection closed";
    case LOOPBACK_ERROR:
        return "socket error";
    }
    return "unknown";
}

int64_t loopback_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Children spawned by a test must not inherit the test's sockets: a listener
 * kept open by a child would accept connections nobody serves. */
static void set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) {
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

int loopback_listen(uint16_t *port)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    set_cloexec(fd);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0; /* the kernel picks a free port: tests may run in parallel */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - loopback_now_ms();
    return left > 0 ? (int)left : 0;
}

/* Wait for `events` on fd until the deadline: 1 ready, 0 timed out, -1 error.
 * POLLHUP/POLLERR count as ready: the read or write that follows reports
 * what happened. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, remaining_ms(deadline));
        if (n > 0) {
            return 1;
        }
        if (n == 0) {
            return 0;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

int loopback_accept(int listener, int timeout_ms)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    for (;;) {
        if (wait_fd(listener, POLLIN, deadline) <= 0) {
            return -1;
        }
        int fd = accept(listener, NULL, NULL);
        if (fd >= 0) {
            set_cloexec(fd);
            return fd;
        }
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
            return -1;
        }
    }
}

static loopback_result classify_errno(int err)
{
    if (err == ECONNRESET || err == EPIPE || err == ENOTCONN) {
        return LOOPBACK_CLOSED;
    }
    return LOOPBACK_ERROR;
}

loopback_result loopback_read_some(int fd, uint8_t *buf, size_t cap, int timeout_ms,
                                   size_t *got)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    *got = 0;
    for (;;) {
        int ready = wait_fd(fd, POLLIN, deadline);
        if (ready == 0) {
            return LOOPBACK_TIMEOUT;
        }
        if (ready < 0) {
            return LOOPBACK_ERROR;
        }
        ssize_t n = recv(fd, buf, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            return LOOPBACK_OK;
        }
        if (n == 0) {
            return LOOPBACK_CLOSED;
        }
        if (errno != EINTR && errno != EAGAIN) {
            return classify_errno(errno);
        }
    }
}

loopback_result loopback_read_exact(int fd, uint8_t *buf, size_t len, int timeout_ms,
                                    size_t *got)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    size_t have = 0;
    loopback_result r = LOOPBACK_OK;
    while (have < len) {
        size_t n;
        r = loopback_read_some(fd, buf + have, len - have, remaining_ms(deadline), &n);
        if (r != LOOPBACK_OK) {
            break;
        }
        have += n;
    }
    if (got != NULL) {
        *got = have;
    }
    return r;
}

loopback_result loopback_write_all(int fd, const uint8_t *buf, size_t len, int timeout_ms)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    size_t done = 0;
    while (done < len) {
        int ready = wait_fd(fd, POLLOUT, deadline);
        if (ready == 0) {
            return LOOPBACK_TIMEOUT;
        }
        if (ready < 0) {
            return LOOPBACK_ERROR;
        }
        /* MSG_NOSIGNAL: a client that already hung up must show up as a
         * result, not kill the test with SIGPIPE. */
        ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            return classify_errno(errno);
        }
    }
    return LOOPBACK_OK;
}

loopback_result loopback_wait_closed(int fd, int timeout_ms, size_t *discarded)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    uint8_t sink[512];
    size_t total = 0;
    loopback_result r;
    /* One deadline for the whole wait: a client that keeps talking must not
     * keep the test alive. */
    for (;;) {
        size_t n;
        r = loopback_read_some(fd, sink, sizeof sink, remaining_ms(deadline), &n);
        if (r != LOOPBACK_OK) {
            break;
        }
        total += n;
        if (loopback_now_ms() >= deadline) {
            r = LOOPBACK_TIMEOUT;
            break;
        }
    }
    if (discarded != NULL) {
        *discarded = total;
    }
    /* A socket error other than a reset still means the connection is
     * gone, which is what the caller waits for. */
    return r == LOOPBACK_ERROR ? LOOPBACK_CLOSED : r;
}
