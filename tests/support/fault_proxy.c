/*
 * TCP fault proxy for tests (see fault_proxy.h).
 *
 * One thread, one poll() loop over the listening socket, a wake-up pipe and
 * both sockets of every connection. All sockets are non-blocking; each
 * direction of a connection has its own buffer, so a stalled or slowed
 * direction never holds up the other one.
 *
 * Control calls change settings under the mutex and write a byte into the
 * wake-up pipe. The thread takes its snapshot of the settings *after* each
 * poll() returns, so bytes that reach the proxy after a control call
 * returned are always handled under the new settings. Calls that need an
 * answer (reset, clear) also wait for the iteration that served them.
 */
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The thread rereads its settings at least this often, even when idle. */
#define POLL_MAX_MS 50
/* A cut waits at most this long for its last bytes to be acknowledged
 * before the RST (an RST discards unacknowledged data). */
#define CUT_DRAIN_MS 200
/* How long a control call waits for the thread to serve it. */
#define CONTROL_WAIT_MS 5000
#define LISTEN_BACKLOG 64
/* Each fd is polled once per iteration: one wake-up pipe, one listener
 * and two sockets per connection. */
#define POLL_SLOTS (2 + 2 * FAULT_PROXY_MAX_CONNS)
/* Bytes drained from the wake-up pipe per iteration (the pipe only says
 * "look again": how many bytes it holds does not matter). */
#define WAKE_DRAIN 64

/* One direction of one connection: bytes read from `from`, to be sent. */
typedef struct fp_flow {
    uint8_t buf[FAULT_PROXY_BUF];
    size_t off, len;        /* unsent bytes are buf[off..len) */
    bool eof;               /* the source sent FIN */
    bool shut;              /* the FIN was passed on */
    long long next_send_ms; /* byte mode: no send before this */
    unsigned long long moved;
} fp_flow;

typedef struct fp_conn {
    bool used;
    int cfd; /* the client's side */
    int sfd; /* the server's side */
    bool connecting;
    bool cutting;
    long long cut_deadline_ms;
    bool sent_server_byte; /* a server byte reached the client */
    long long accepted_ms;
    fp_flow up;   /* cfd -> sfd */
    fp_flow down; /* sfd -> cfd */
} fp_conn;

typedef struct fp_settings {
    unsigned stall;
    unsigned bytes;
    unsigned gap_ms;
    unsigned cut_dirs;
    unsigned long cut_n;
    unsigned chaos_min_ms, chaos_max_ms;
    unsigned chaos_hold_ms;
    uint32_t chaos_seed;
    unsigned chaos_gen; /* changes whenever chaos is (re)configured */
    bool refuse;
} fp_settings;

struct fault_proxy {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int listen_fd;
    int wake_rd, wake_wr;
    uint16_t port;
    uint16_t server_port;

    /* Shared with the control calls: under `lock`. */
    fp_settings set;
    bool stop;
    bool running;
    unsigned req;  /* bumped by calls that wait for an iteration */
    unsigned done; /* the last `req` an iteration finished serving */
    bool reset_pending;
    int reset_result;
    bool clear_pending;
    fault_proxy_stats shared;
    long long accept_log[FAULT_PROXY_ACCEPT_LOG];
    size_t accept_head, accept_count;

    /* The thread's own. */
    fp_settings cur;
    fp_conn conns[FAULT_PROXY_MAX_CONNS];
    fault_proxy_stats stats;
    long long recover_from_ms; /* -1: no reset waiting for a recovery */
    unsigned chaos_gen_seen;
    long long next_chaos_ms;
    bool chaos_holding;       /* client -> server held until chaos_reset_ms */
    long long chaos_reset_ms;
    uint32_t rng;
};

long long fault_proxy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fp_fail(const char *what)
{
    fprintf(stderr, "fault_proxy: %s: %s\n", what, strerror(errno));
}

static int fp_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void fp_nodelay(int fd)
{
    int one = 1;
    /* Best effort: without it byte mode still sends one byte per call. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* close() with SO_LINGER 0: the peer gets an RST, not a FIN. */
static void fp_close_rst(int fd)
{
    struct linger lg = {1, 0};
    if (fd < 0)
        return;
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void fp_wake(fault_proxy *p)
{
    char b = 1;
    /* A full pipe already guarantees a wake-up: EAGAIN is fine. */
    ssize_t n = write(p->wake_wr, &b, 1);
    (void)n;
}

/* xorshift32: a deterministic chaos schedule per seed. */
static uint32_t fp_random(fault_proxy *p)
{
    uint32_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p->rng = x;
    return x;
}

static long long fp_chaos_delay(fault_proxy *p)
{
    unsigned lo = p->cur.chaos_min_ms;
    unsigned hi = p->cur.chaos_max_ms < lo ? lo : p->cur.chaos_max_ms;
    return lo + (long long)(fp_random(p) % (hi - lo + 1u));
}

/* --- connections ---------------------------------------------------------- */

static unsigned long fp_live(const fault_proxy *p)
{
    unsigned long n = 0;
    for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++)
        n += p->conns[i].used;
    return n;
}

static void fp_conn_release(fp_conn *c)
{
    c->used = false;
    c->cfd = c->sfd = -1;
}

/* Ended by a peer: a FIN both ways (plain close) or an error (the other
 * side gets an RST, as a router dropping the connection would cause). */
static void fp_conn_end(fault_proxy *p, fp_conn *c, bool error)
{
    if (error) {
        fp_close_rst(c->cfd);
        fp_close_rst(c->sfd);
    } else {
        close(c->cfd);
        if (c->sfd >= 0)
            close(c->sfd);
    }
    p->stats.closed++;
    fp_conn_release(c);
}

/* Reset by the proxy itself (reset, chaos, cut, refusal). */
static void fp_conn_reset(fault_proxy *p, fp_conn *c, long long now)
{
    fp_close_rst(c->cfd);
    fp_close_rst(c->sfd);
    p->stats.resets++;
    if (p->recover_from_ms < 0)
        p->recover_from_ms = now;
    fp_conn_release(c);
}

static int fp_reset_all(fault_proxy *p, long long now)
{
    int n = 0;
    for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++) {
        if (p->conns[i].used) {
            fp_conn_reset(p, &p->conns[i], now);
            n++;
        }
    }
    return n;
}

static void fp_log_accept(fault_proxy *p, long long now)
{
    pthread_mutex_lock(&p->lock);
    p->accept_log[p->accept_head] = now;
    p->accept_head = (p->accept_head + 1) % FAULT_PROXY_ACCEPT_LOG;
    if (p->accept_count < FAULT_PROXY_ACCEPT_LOG)
        p->accept_count++;
    pthread_mutex_unlock(&p->lock);
}

/* Start the server side of a fresh connection. Returns false when the
 * server cannot be reached at all (the caller resets the client). */
static bool fp_dial(fault_proxy *p, fp_conn *c)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    if (fp_nonblock(fd) != 0) {
        close(fd);
        return false;
    }
    fp_nodelay(fd);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(p->server_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        c->connecting = false;
    } else if (errno == EINPROGRESS) {
        c->connecting = true;
    } else {
        close(fd);
        return false;
    }
    c->sfd = fd;
    return true;
}

static void fp_accept(fault_proxy *p, long long now)
{
    int fd = accept(p->listen_fd, NULL, NULL);
    fp_conn *c = NULL;

    if (fd < 0)
        return; /* EAGAIN, or a client that gave up already */
    p->stats.accepted++;
    fp_log_accept(p, now);
    if (fp_nonblock(fd) != 0) {
        fp_close_rst(fd);
        p->stats.closed++;
        return;
    }
    fp_nodelay(fd);
    if (p->cur.refuse) {
        fp_close_rst(fd);
        p->stats.resets++;
        return;
    }
    for (int i = 0; i < FAULT_PROXY_MAX_CONNS && c == NULL; i++) {
        if (!p->conns[i].used)
            c = &p->conns[i];
    }
    if (c == NULL) {
        fp_close_rst(fd);
        p->stats.overflow++;
        return;
    }
    /* The flows' buffers are large: clear only the bookkeeping. */
    c->used = true;
    c->cfd = fd;
    c->sfd = -1;
    c->cutting = false;
    c->sent_server_byte = false;
    c->accepted_ms = now;
    c->up.off = c->up.len = 0;
    c->up.eof = c->up.shut = false;
    c->up.next_send_ms = 0;
    c->up.moved = 0;
    c->down.off = c->down.len = 0;
    c->down.eof = c->down.shut = false;
    c->down.next_send_ms = 0;
    c->down.moved = 0;
    if (!fp_dial(p, c)) {
        fp_close_rst(fd);
        p->stats.server_refused++;
        fp_conn_release(c);
    }
}

/* --- moving bytes --------------------------------------------------------- */

static bool fp_dir_on(unsigned set, unsigned dir) { return (set & dir) != 0; }

/* Bytes this flow may still forward before the connection is cut;
 * (size_t)-1 when no cut applies. */
static size_t fp_cut_budget(const fault_proxy *p, const fp_conn *c, unsigned dir)
{
    unsigned long long moved = 0;
    if (p->cur.cut_n == 0 || !fp_dir_on(p->cur.cut_dirs, dir))
        return (size_t)-1;
    if (fp_dir_on(p->cur.cut_dirs, FAULT_UP))
        moved += c->up.moved;
    if (fp_dir_on(p->cur.cut_dirs, FAULT_DOWN))
        moved += c->down.moved;
    return moved >= p->cur.cut_n ? 0 : (size_t)(p->cur.cut_n - moved);
}

static bool fp_cut_due(const fault_proxy *p, const fp_conn *c)
{
    return p->cur.cut_n != 0 && p->cur.cut_dirs != 0 &&
           (fp_cut_budget(p, c, FAULT_UP) == 0 || fp_cut_budget(p, c, FAULT_DOWN) == 0);
}

/* May this flow send now? (Not stalled, not being cut, byte pause over.) */
static bool fp_may_send(const fault_proxy *p, const fp_conn *c, const fp_flow *f, unsigned dir,
                        long long now)
{
    if (c->connecting || c->cutting || f->off == f->len)
        return false;
    if (fp_dir_on(p->cur.stall, dir) || (dir == FAULT_UP && p->chaos_holding))
        return false;
    if (fp_dir_on(p->cur.bytes, dir) && now < f->next_send_ms)
        return false;
    return fp_cut_budget(p, c, dir) > 0;
}

/* Read what `from` offers into the flow. Returns -1 on a socket error. */
static int fp_fill(fp_flow *f, int from)
{
    if (f->eof)
        return 0;
    if (f->off == f->len) {
        f->off = f->len = 0;
    } else if (f->len == sizeof f->buf && f->off > 0) {
        memmove(f->buf, f->buf + f->off, f->len - f->off);
        f->len -= f->off;
        f->off = 0;
    }
    if (f->len == sizeof f->buf)
        return 0; /* full: the source waits (TCP flow control) */
    ssize_t n = recv(from, f->buf + f->len, sizeof f->buf - f->len, 0);
    if (n > 0) {
        f->len += (size_t)n;
        return 0;
    }
    if (n == 0) {
        f->eof = true;
        return 0;
    }
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
}

/* Send from the flow to `to` as the settings allow. Returns -1 on error. */
static int fp_drain(fault_proxy *p, fp_conn *c, fp_flow *f, unsigned dir, int to, long long now)
{
    if (!fp_may_send(p, c, f, dir, now))
        return 0;
    size_t len = f->len - f->off;
    size_t budget = fp_cut_budget(p, c, dir);
    bool bytewise = fp_dir_on(p->cur.bytes, dir);
    if (bytewise)
        len = 1;
    if (len > budget)
        len = budget;
    ssize_t n = send(to, f->buf + f->off, len, MSG_NOSIGNAL);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    f->off += (size_t)n;
    f->moved += (unsigned long long)n;
    if (dir == FAULT_UP) {
        p->stats.bytes_up += (unsigned long long)n;
        p->stats.sends_up++;
    } else {
        p->stats.bytes_down += (unsigned long long)n;
        p->stats.sends_down++;
    }
    if (bytewise)
        f->next_send_ms = now + (p->cur.gap_ms ? p->cur.gap_ms : 1);
    if (dir == FAULT_DOWN && n > 0 && !c->sent_server_byte) {
        c->sent_server_byte = true;
        if (p->recover_from_ms >= 0 && c->accepted_ms >= p->recover_from_ms) {
            long long gap = now - p->recover_from_ms;
            p->stats.last_recovery_ms = gap;
            if (gap > p->stats.worst_recovery_ms)
                p->stats.worst_recovery_ms = gap;
            p->stats.recoveries++;
            p->recover_from_ms = -1;
        }
    }
    return 0;
}

/* Pass a FIN on once everything before it was sent. */
static int fp_pass_fin(fp_flow *f, int to)
{
    if (!f->eof || f->shut || f->off != f->len)
        return 0;
    f->shut = true;
    if (shutdown(to, SHUT_WR) != 0 && errno != ENOTCONN)
        return -1;
    return 0;
}

static bool fp_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return true;
    return err != 0;
}

/* Bytes sent on fd but not yet acknowledged by the peer. */
static int fp_unacked(int fd)
{
    int n = 0;
    if (ioctl(fd, SIOCOUTQ, &n) != 0)
        return 0;
    return n;
}

/* One connection after poll(): finish connecting, read, send, pass FINs,
 * end it when both directions are done, cut it when its budget is spent. */
static void fp_service(fault_proxy *p, fp_conn *c, short crev, short srev, long long now)
{
    if (c->connecting) {
        if (srev == 0)
            goto client_side;
        if (fp_socket_error(c->sfd)) {
            fp_close_rst(c->cfd);
            close(c->sfd);
            p->stats.server_refused++;
            fp_conn_release(c);
            return;
        }
        c->connecting = false;
    }
    if (c->cutting) {
        if ((fp_unacked(c->cfd) == 0 && fp_unacked(c->sfd) == 0) || now >= c->cut_deadline_ms) {
            p->stats.cuts++;
            fp_conn_reset(p, c, now);
        }
        return;
    }
    /* POLLERR on TCP means an error is pending (an RST came in). */
    if ((crev | srev) & POLLERR)
        goto error;
    if ((srev & (POLLIN | POLLHUP)) && fp_fill(&c->down, c->sfd) != 0)
        goto error;

client_side:
    if ((crev & POLLERR) || ((crev & (POLLIN | POLLHUP)) && fp_fill(&c->up, c->cfd) != 0))
        goto error;
    if (c->connecting)
        return;
    if (fp_drain(p, c, &c->up, FAULT_UP, c->sfd, now) != 0 ||
        fp_drain(p, c, &c->down, FAULT_DOWN, c->cfd, now) != 0)
        goto error;
    if (fp_cut_due(p, c)) {
        c->cutting = true;
        c->cut_deadline_ms = now + CUT_DRAIN_MS;
        return;
    }
    if (fp_pass_fin(&c->up, c->sfd) != 0 || fp_pass_fin(&c->down, c->cfd) != 0)
        goto error;
    if (c->up.shut && c->down.shut)
        fp_conn_end(p, c, false);
    return;

error:
    fp_conn_end(p, c, true);
}

/* --- the thread ------------------------------------------------------------ */

static short fp_want(const fault_proxy *p, const fp_conn *c, bool client, long long now)
{
    const fp_flow *in = client ? &c->up : &c->down;   /* read from this fd */
    const fp_flow *out = client ? &c->down : &c->up;  /* sent to this fd */
    unsigned out_dir = client ? FAULT_DOWN : FAULT_UP;
    short ev = 0;

    if (!client && c->connecting)
        return POLLOUT;
    if (c->cutting)
        return 0;
    if (!in->eof && in->len - in->off < sizeof in->buf)
        ev |= POLLIN;
    if (fp_may_send(p, c, out, out_dir, now))
        ev |= POLLOUT;
    return ev;
}

/* Milliseconds poll() may sleep: byte-mode pauses, cuts and chaos wake it. */
static int fp_timeout(const fault_proxy *p, long long now)
{
    long long t = POLL_MAX_MS;
    for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++) {
        const fp_conn *c = &p->conns[i];
        if (!c->used)
            continue;
        if (c->cutting)
            t = 1;
        const fp_flow *fl[2] = {&c->up, &c->down};
        for (int k = 0; k < 2; k++) {
            if (fl[k]->off != fl[k]->len && fl[k]->next_send_ms > now &&
                fl[k]->next_send_ms - now < t)
                t = fl[k]->next_send_ms - now;
        }
    }
    if (p->cur.chaos_max_ms > 0) {
        long long at = p->chaos_holding ? p->chaos_reset_ms : p->next_chaos_ms;
        if (at - now < t)
            t = at - now;
    }
    return t < 0 ? 0 : (int)t;
}

/* Take the control calls' settings and requests (under the lock). */
static void fp_take_control(fault_proxy *p, bool *reset, bool *clear, unsigned *req, bool *stop)
{
    pthread_mutex_lock(&p->lock);
    p->cur = p->set;
    *reset = p->reset_pending;
    *clear = p->clear_pending;
    p->reset_pending = p->clear_pending = false;
    *req = p->req;
    *stop = p->stop;
    pthread_mutex_unlock(&p->lock);
}

static void fp_publish(fault_proxy *p, unsigned req, bool reset, int reset_n)
{
    pthread_mutex_lock(&p->lock);
    p->stats.live = fp_live(p);
    p->shared = p->stats;
    if (reset)
        p->reset_result = reset_n;
    p->done = req;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Chaos: at each random moment, optionally hold client -> server for a
 * random 0..hold ms first (what the client sent then, acknowledgements
 * included, dies with the connection), then reset everything. */
static void fp_chaos(fault_proxy *p, long long now)
{
    if (p->cur.chaos_max_ms == 0) {
        p->chaos_holding = false;
        return;
    }
    if (p->chaos_gen_seen != p->cur.chaos_gen) {
        p->chaos_gen_seen = p->cur.chaos_gen;
        p->chaos_holding = false;
        p->rng = p->cur.chaos_seed ? p->cur.chaos_seed : 0x6d696467u;
        p->next_chaos_ms = now + fp_chaos_delay(p);
        return;
    }
    if (p->chaos_holding) {
        if (now < p->chaos_reset_ms)
            return;
        p->chaos_holding = false;
    } else {
        if (now < p->next_chaos_ms)
            return;
        if (p->cur.chaos_hold_ms > 0) {
            p->chaos_holding = true;
            p->chaos_reset_ms = now + (long long)(fp_random(p) % (p->cur.chaos_hold_ms + 1u));
            return;
        }
    }
    fp_reset_all(p, now);
    p->next_chaos_ms = now + fp_chaos_delay(p);
}

static void *fp_thread(void *arg)
{
    fault_proxy *p = arg;
    long long start = fault_proxy_now_ms();
    struct pollfd fds[POLL_SLOTS];
    int cidx[FAULT_PROXY_MAX_CONNS], sidx[FAULT_PROXY_MAX_CONNS];

    /* Bounded by the stop flag and, failing that, by FAULT_PROXY_MAX_RUN_MS. */
    while (fault_proxy_now_ms() - start < FAULT_PROXY_MAX_RUN_MS) {
        long long now = fault_proxy_now_ms();
        nfds_t n = 0;

        fds[n++] = (struct pollfd){.fd = p->wake_rd, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++) {
            fp_conn *c = &p->conns[i];
            cidx[i] = sidx[i] = -1;
            if (!c->used)
                continue;
            /* A socket shut both ways has nothing more to say: poll()
             * skips a negative fd (its POLLHUP would spin the loop). */
            cidx[i] = (int)n;
            fds[n++] = (struct pollfd){.fd = (c->up.eof && c->down.shut) ? -1 : c->cfd,
                                       .events = fp_want(p, c, true, now)};
            sidx[i] = (int)n;
            fds[n++] = (struct pollfd){.fd = (c->down.eof && c->up.shut) ? -1 : c->sfd,
                                       .events = fp_want(p, c, false, now)};
        }
        if (poll(fds, n, fp_timeout(p, now)) < 0 && errno != EINTR) {
            fp_fail("poll");
            break;
        }

        bool reset, clear, stop;
        unsigned req;
        int reset_n = 0;
        fp_take_control(p, &reset, &clear, &req, &stop);
        if (stop)
            break;
        now = fault_proxy_now_ms();
        if (fds[0].revents) {
            char junk[WAKE_DRAIN];
            ssize_t r = read(p->wake_rd, junk, sizeof junk);
            (void)r;
        }
        if (clear) {
            memset(&p->stats, 0, sizeof p->stats);
            p->stats.worst_recovery_ms = p->stats.last_recovery_ms = -1;
            p->recover_from_ms = -1;
        }
        if (reset)
            reset_n = fp_reset_all(p, now);
        fp_chaos(p, now);
        for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++) {
            fp_conn *c = &p->conns[i];
            /* cidx < 0: accepted in this iteration, or reset above. */
            if (!c->used || cidx[i] < 0)
                continue;
            fp_service(p, c, fds[cidx[i]].revents, fds[sidx[i]].revents, now);
        }
        if (fds[1].revents & POLLIN)
            fp_accept(p, now);
        fp_publish(p, req, reset, reset_n);
    }

    for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++) {
        if (p->conns[i].used)
            fp_conn_end(p, &p->conns[i], false);
    }
    pthread_mutex_lock(&p->lock);
    p->running = false;
    p->stats.live = 0;
    p->shared = p->stats;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* --- control --------------------------------------------------------------- */

static int fp_listen(fault_proxy *p)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        fp_fail("socket");
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0; /* the kernel picks a free port */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0 || fp_nonblock(fd) != 0) {
        fp_fail("listen on 127.0.0.1");
        close(fd);
        return -1;
    }
    p->listen_fd = fd;
    p->port = ntohs(sa.sin_port);
    return 0;
}

fault_proxy *fault_proxy_start(uint16_t server_port)
{
    pthread_condattr_t ca;
    int pipefd[2];
    fault_proxy *p = calloc(1, sizeof *p);

    if (p == NULL) {
        fprintf(stderr, "fault_proxy: out of memory\n");
        return NULL;
    }
    p->server_port = server_port;
    p->listen_fd = p->wake_rd = p->wake_wr = -1;
    p->recover_from_ms = -1;
    p->stats.worst_recovery_ms = p->stats.last_recovery_ms = -1;
    p->shared = p->stats;
    for (int i = 0; i < FAULT_PROXY_MAX_CONNS; i++)
        fp_conn_release(&p->conns[i]);
    if (pipe(pipefd) != 0) {
        fp_fail("pipe");
        free(p);
        return NULL;
    }
    p->wake_rd = pipefd[0];
    p->wake_wr = pipefd[1];
    if (fp_nonblock(p->wake_rd) != 0 || fp_nonblock(p->wake_wr) != 0 || fp_listen(p) != 0)
        goto fail;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    p->running = true;
    if (pthread_create(&p->thread, NULL, fp_thread, p) != 0) {
        fprintf(stderr, "fault_proxy: cannot start its thread\n");
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        goto fail;
    }
    return p;

fail:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    close(p->wake_rd);
    close(p->wake_wr);
    free(p);
    return NULL;
}

void fault_proxy_stop(fault_proxy *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_mutex_unlock(&p->lock);
    fp_wake(p);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake_rd);
    close(p->wake_wr);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

uint16_t fault_proxy_port(const fault_proxy *p) { return p->port; }

/* Wait, with the lock held, until an iteration started after this call
 * has finished. Returns false on time-out or a stopped thread. */
static bool fp_sync_locked(fault_proxy *p)
{
    struct timespec until;
    unsigned target = ++p->req;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CONTROL_WAIT_MS / 1000;
    fp_wake(p);
    /* Bounded: each wait ends by the deadline at the latest. */
    while ((int)(p->done - target) < 0 && p->running) {
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            return false;
    }
    return (int)(p->done - target) >= 0;
}

/* Settings change under the lock; the wake-up makes the thread take them
 * before it moves another byte. */
static void fp_lock(fault_proxy *p) { pthread_mutex_lock(&p->lock); }

static void fp_unlock_wake(fault_proxy *p)
{
    pthread_mutex_unlock(&p->lock);
    fp_wake(p);
}

void fault_proxy_pass(fault_proxy *p)
{
    fp_lock(p);
    p->set.stall = p->set.bytes = p->set.cut_dirs = 0;
    p->set.cut_n = 0;
    p->set.chaos_max_ms = p->set.chaos_min_ms = p->set.chaos_hold_ms = 0;
    p->set.refuse = false;
    fp_unlock_wake(p);
}

void fault_proxy_stall(fault_proxy *p, unsigned dirs)
{
    fp_lock(p);
    p->set.stall = dirs & FAULT_BOTH;
    fp_unlock_wake(p);
}

void fault_proxy_byte_mode(fault_proxy *p, unsigned dirs, unsigned gap_ms)
{
    fp_lock(p);
    p->set.bytes = dirs & FAULT_BOTH;
    p->set.gap_ms = gap_ms ? gap_ms : 1;
    fp_unlock_wake(p);
}

void fault_proxy_cut_after(fault_proxy *p, unsigned dirs, unsigned long n)
{
    fp_lock(p);
    p->set.cut_dirs = dirs & FAULT_BOTH;
    p->set.cut_n = n;
    fp_unlock_wake(p);
}

void fault_proxy_chaos(fault_proxy *p, unsigned min_ms, unsigned max_ms, uint32_t seed)
{
    fault_proxy_chaos_hold(p, min_ms, max_ms, 0, seed);
}

void fault_proxy_chaos_hold(fault_proxy *p, unsigned min_ms, unsigned max_ms, unsigned hold_ms,
                            uint32_t seed)
{
    fp_lock(p);
    p->set.chaos_min_ms = min_ms;
    p->set.chaos_max_ms = max_ms;
    p->set.chaos_hold_ms = hold_ms;
    p->set.chaos_seed = seed;
    p->set.chaos_gen++;
    fp_unlock_wake(p);
}

void fault_proxy_refuse(fault_proxy *p, bool on)
{
    fp_lock(p);
    p->set.refuse = on;
    fp_unlock_wake(p);
}

int fault_proxy_reset_all(fault_proxy *p)
{
    int n;
    pthread_mutex_lock(&p->lock);
    p->reset_pending = true;
    n = fp_sync_locked(p) ? p->reset_result : -1;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void fault_proxy_clear_stats(fault_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    p->clear_pending = true;
    p->accept_head = p->accept_count = 0;
    (void)fp_sync_locked(p);
    pthread_mutex_unlock(&p->lock);
}

void fault_proxy_get_stats(fault_proxy *p, fault_proxy_stats *out)
{
    pthread_mutex_lock(&p->lock);
    /* Counters as of an iteration that started after this call. */
    (void)fp_sync_locked(p);
    *out = p->shared;
    pthread_mutex_unlock(&p->lock);
}

size_t fault_proxy_accept_times(fault_proxy *p, long long *ms, size_t max)
{
    size_t n;
    pthread_mutex_lock(&p->lock);
    n = p->accept_count < max ? p->accept_count : max;
    /* The newest n, oldest first. */
    for (size_t i = 0; i < n; i++) {
        size_t back = n - i;
        ms[i] = p->accept_log[(p->accept_head + FAULT_PROXY_ACCEPT_LOG - back) %
                              FAULT_PROXY_ACCEPT_LOG];
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

bool fault_proxy_wait_live(fault_proxy *p, unsigned long live, int timeout_ms)
{
    long long deadline = fault_proxy_now_ms() + timeout_ms;
    fault_proxy_stats st;
    for (;;) {
        fault_proxy_get_stats(p, &st);
        if (st.live == live)
            return true;
        if (fault_proxy_now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
