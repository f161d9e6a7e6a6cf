/*
 * midge bench: one worker and its share of the devices, either in a
 * process of its own (bench_fleet_run) or inside the coordinating
 * process's loop (bench_fleet_open and the calls after it).
 *
 * Each device is the same session engine and device logic `midge device`
 * runs (mqtt or onenet profile, LED simulated by the state in
 * midge_device), on a non-blocking socket served by one epoll loop. Edge-triggered: a socket is
 * registered once, for input and output, and never modified, which saves
 * an epoll_ctl per connect and per blocked write; the price is reading
 * until the socket is drained (a short read says it is).
 *
 * Memory per device is one slot of a single table, allocated after the
 * "before" RSS reading and touched only when the device first connects:
 *
 *   midge_session        136 B  protocol state (the engine's own struct)
 *   midge_device         624 B  of which 512 B are the 64-slot dedupe ring
 *   link, timers, state   48 B  socket, three queue pointers, deadline, flags
 *   QoS 1 store         ~104 B  sized per run for the largest outputs in
 *                               flight at once (presence + state after
 *                               CONNACK, or reply + state for a command)
 *   client id            ~14 B  borrowed by the device configuration
 *                        -----
 *                       ~928 B  (x86-64, ids like bench-2-16666)
 *
 * The session's tx and rx buffers are the worker's, shared by every device
 * (bench_io.h says why that is safe). A device owns heap bytes only while
 * it holds partial data: output the socket would not take, the start of an
 * incomplete packet, or outputs waiting for room in its store.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"
#include "bench_io.h"
#include "midge/device.h"

/* Connects in flight (TCP handshake to SUBACK) per broker, across all
 * workers. mosquitto listens with a backlog of 100: more handshakes than
 * that waiting for accept() get their SYNs dropped and retried a second
 * later, which costs far more than a smaller window. */
#define CONNECT_WINDOW_PER_BROKER 96u
#define CONNECT_WINDOW_MIN 8u

#define TCP_TIMEOUT_MS 5000u     /* handshake */
#define SUBACK_TIMEOUT_MS 10000u /* CONNACK to SUBACK */
#define BACKOFF_BASE_MS 50u
#define BACKOFF_MAX_SHIFT 6u     /* 50 ms doubling up to 3.2 s */

#define SWEEP_MS 100u            /* keepalive and deadline checks */
#define PROGRESS_MS 100u         /* progress reports to the parent (the ramp plot) */
#define EPOLL_BATCH 1024
#define OUT_LIMIT (64u * 1024u)  /* queued output before a device counts as stuck */
#define DEFER_LIMIT 4096u        /* outputs waiting for store room */
#define DEFER_ROUNDS 64          /* outputs retried per acknowledgement */
#define SHARED_TX 4096u
#define READ_SIZE 16384u
#define READS_PER_EVENT 64       /* x READ_SIZE: more from one device is a flood */
#define DEV_QOS2_IDS 2u          /* commands arrive at QoS <= 1 (subscribed at 1) */
#define OUT_BUF 1024u            /* device outputs: topics and payloads of one call */
#define CMDID_MAX 8u             /* the commander's ids: up to 8 hex digits */

/* Extra lifetime beyond the connect deadline and command phase, so a
 * worker whose parent vanished without closing the socket still ends. */
#define WORKER_GRACE_MS 120000u

enum dev_state {
    DEV_NEW = 0, /* never started: slot untouched */
    DEV_WAIT,    /* in the retry ring until due_ms */
    DEV_TCP,     /* TCP handshake in progress */
    DEV_MQTT,    /* CONNECT sent, awaiting CONNACK */
    DEV_SUB,     /* SUBSCRIBE sent, awaiting SUBACK */
    DEV_ONLINE
};

struct bench_dev {
    midge_session session;
    midge_device device;
    struct bench_link link;
    struct bench_buf *defer; /* outputs that found the store full, in order */
    uint32_t due_ms;         /* retry time (WAIT) or deadline (TCP, SUB) */
    uint16_t qos2_ids[DEV_QOS2_IDS];
    uint8_t state;
    uint8_t failures; /* connects failed in a row: the backoff exponent */
    /* then: store[store_size], id[id_cap] (see struct bench_fleet.slot) */
};

/* A deferred output: this header, the topic, the payload. */
struct defer_rec {
    uint16_t topic_len;
    uint8_t qos;
    uint8_t retain;
    uint32_t payload_len;
};

struct bench_fleet {
    const struct bench_config *cfg;
    unsigned w;
    uint32_t count;
    size_t slot;       /* bytes per device in the table */
    size_t store_size; /* QoS 1 store per device */
    size_t id_cap;
    uint8_t *devs;
    uint32_t *retry; /* ring of device numbers in DEV_WAIT, FIFO */
    uint32_t retry_head, retry_len;
    int ep;
    uint64_t tag;  /* epoll data of device i: tag | i */
    bench_fleet_post_fn post;
    void *post_user;
    uint8_t *tx; /* shared by every session of this worker */
    uint8_t *rx;
    struct bench_io_limits lim;
    struct bench_scratch scratch;
    midge_device_out out;
    uint8_t out_buf[OUT_BUF];
    struct bench_dev *cur;    /* the device whose session is being driven */
    midge_status cur_failed;  /* set by its callbacks: drop the connection */
    uint32_t now_ms;
    uint32_t next_new;        /* devices 0..next_new-1 have been started */
    uint32_t inflight;        /* in TCP, MQTT or SUB */
    uint32_t window;
    uint64_t rng;
    struct bench_fleet_stats st;
    uint64_t start_ns;
    uint32_t progress_ms;
    uint32_t sweep_ms;  /* the last sweep step */
    uint32_t sweep_pos; /* the next device it looks at */
    bool ready_sent;
    bool fatal;
    bool failed_sent;
    bool closed;
    char reason[160];
};

/* --- Small helpers ---------------------------------------------------------- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* struct sched_attr as the kernel defines it (SCHED_ATTR_SIZE_VER0);
 * glibc has neither the struct nor a wrapper for sched_setattr. */
struct slice_attr {
    uint32_t size;
    uint32_t policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime; /* for SCHED_OTHER: the requested slice in ns */
    uint64_t deadline;
    uint64_t period;
};

bool bench_short_slice(void)
{
    /* The policy stays SCHED_OTHER and the nice value stays what it is;
     * only the slice changes, which needs no privilege. Older kernels
     * ignore the runtime of a SCHED_OTHER thread. */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno != 0)
        return false;
    struct slice_attr a = {.size = sizeof a, .policy = SCHED_OTHER, .nice = nice,
                           .runtime = BENCH_SLICE_NS};
    return syscall(SYS_sched_setattr, 0, &a, 0u) == 0;
}

uint64_t bench_rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static bool time_due(uint32_t now, uint32_t when) { return (int32_t)(now - when) >= 0; }

static struct bench_dev *dev_at(const struct bench_fleet *f, uint32_t i)
{
    return (struct bench_dev *)(f->devs + (size_t)i * f->slot);
}

static uint32_t dev_index(const struct bench_fleet *f, const struct bench_dev *d)
{
    return (uint32_t)(((const uint8_t *)d - f->devs) / f->slot);
}

static uint8_t *dev_store(struct bench_dev *d) { return (uint8_t *)(d + 1); }

static char *dev_id(const struct bench_fleet *f, struct bench_dev *d)
{
    return (char *)(d + 1) + f->store_size;
}

static void fleet_fatal(struct bench_fleet *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first fatal error is the one reported. */
static void fleet_fatal(struct bench_fleet *f, const char *fmt, ...)
{
    va_list ap;

    if (f->fatal)
        return;
    f->fatal = true;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof f->reason, fmt, ap);
    va_end(ap);
}

static void fleet_send(struct bench_fleet *f, uint32_t type)
{
    struct bench_msg m;

    memset(&m, 0, sizeof m);
    m.type = type;
    m.worker = f->w;
    m.stats = f->st;
    snprintf(m.reason, sizeof m.reason, "%s", f->reason);
    f->post(f->post_user, &m);
}

/* xorshift64: jitter for the backoff, nothing that needs to be unpredictable. */
static uint32_t fleet_random(struct bench_fleet *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return (uint32_t)(f->rng >> 32);
}

/* --- Sizing ------------------------------------------------------------------- */

static size_t publish_record(const char *topic, size_t payload_len)
{
    midge_publish m = {.topic = topic, .topic_len = (uint16_t)strlen(topic), .qos = 1,
                       .packet_id = 1, .payload = (const uint8_t *)"", .payload_len = payload_len};

    return MIDGE_STORE_RECORD_OVERHEAD + midge_codec_size_publish(&m);
}

/* The store must hold what a device has in flight at once in the common
 * case: presence and state after CONNACK, or a reply and the state after a
 * command (onenet: the $dp data point after CONNACK, or a $crsp reply and
 * the data point). Rarer overlaps (a second command before the first's
 * PUBACKs) wait in the device's defer queue. */
static size_t fleet_store_size(bool onenet, const char *longest_id)
{
    char topic[160];
    size_t need;

    if (onenet) {
        /* The type byte, the length, {"led":0}. */
        size_t state = publish_record("$dp", 3u + strlen("{\"led\":0}"));
        snprintf(topic, sizeof topic, "$crsp/%0*x", (int)CMDID_MAX, 0u);
        need = state + publish_record(topic, strlen("off"));
    } else {
        snprintf(topic, sizeof topic, "devices/%s/state", longest_id);
        size_t state = publish_record(topic, strlen("{\"led\":\"off\"}"));
        snprintf(topic, sizeof topic, "devices/%s/status", longest_id);
        size_t presence = publish_record(topic, strlen("offline"));
        snprintf(topic, sizeof topic, "devices/%s/cmd/response/%0*x", longest_id,
                 (int)CMDID_MAX, 0u);
        size_t reply = publish_record(topic, strlen("off"));
        need = state + (presence > reply ? presence : reply);
    }
    return (need + 7u) & ~(size_t)7u;
}

static bool fleet_layout(struct bench_fleet *f)
{
    char longest[96];
    int n = snprintf(longest, sizeof longest, "%s-%u-%u", f->cfg->id_prefix, f->w,
                     f->count > 0 ? f->count - 1u : 0u);

    if (n <= 0 || (size_t)n >= sizeof longest)
        return false;
    f->id_cap = (size_t)n + 1u;
    f->store_size = fleet_store_size(f->cfg->onenet, longest);
    f->slot = (sizeof(struct bench_dev) + f->store_size + f->id_cap + 7u) & ~(size_t)7u;
    return true;
}

/* --- Connection lifecycle ------------------------------------------------------ */

static void retry_push(struct bench_fleet *f, uint32_t i)
{
    /* Every device is in the ring at most once (only in DEV_WAIT), so a
     * ring of `count` entries never overflows. */
    f->retry[(f->retry_head + f->retry_len) % f->count] = i;
    f->retry_len++;
}

/* The connection is gone: close it and schedule the next attempt. */
static void dev_drop(struct bench_fleet *f, struct bench_dev *d)
{
    bench_link_close(&d->link);
    bench_buf_free(&d->defer);
    midge_session_transport_lost(&d->session);
    if (d->state == DEV_ONLINE) {
        f->st.online--;
        f->st.disconnects++;
    } else {
        f->inflight--;
        f->st.retries++;
    }
    if (d->failures < BACKOFF_MAX_SHIFT)
        d->failures++;
    uint32_t wait = BACKOFF_BASE_MS << (d->failures - 1u);
    d->due_ms = f->now_ms + wait + fleet_random(f) % (wait / 2u + 1u);
    d->state = DEV_WAIT;
    retry_push(f, dev_index(f, d));
}

static void fleet_on_event(void *user, const midge_event *ev);

static bool dev_init(struct bench_fleet *f, struct bench_dev *d, uint32_t i)
{
    const struct bench_options *o = f->cfg->opts;
    midge_device_config cfg;
    const char *why = NULL;
    char *id = dev_id(f, d);

    snprintf(id, f->id_cap, "%s-%u-%u", f->cfg->id_prefix, f->w, i);
    midge_device_config_init(&cfg);
    cfg.profile = f->cfg->onenet ? MIDGE_DEVICE_PROFILE_ONENET : MIDGE_DEVICE_PROFILE_MQTT;
    cfg.device_id = id;
    /* onenet: the product's id and master key, as the tutorial's device. */
    cfg.product_id = f->cfg->product_id;
    cfg.username = f->cfg->onenet ? NULL : o->username;
    cfg.secret = o->password;
    cfg.keepalive_s = o->keepalive_s;
    cfg.clean_session = o->clean_session;
    if (midge_device_init(&d->device, &cfg, &why) != MIDGE_OK) {
        fleet_fatal(f, "device %s: %s", id, why != NULL ? why : "invalid configuration");
        return false;
    }
    midge_session_buffers bufs = {
        .tx = f->tx, .tx_size = SHARED_TX,
        .rx = f->rx, .rx_size = BENCH_DEV_MAX_PACKET,
        .store = dev_store(d), .store_size = f->store_size,
        .rx_qos2_ids = d->qos2_ids, .rx_qos2_cap = DEV_QOS2_IDS,
    };
    midge_session_init(&d->session, &bufs, fleet_on_event, f);
    d->link.fd = -1;
    d->state = DEV_WAIT;
    return true;
}

static void dev_start(struct bench_fleet *f, uint32_t i)
{
    const struct bench_config *c = f->cfg;
    struct bench_dev *d = dev_at(f, i);
    uint32_t g = i * c->workers + f->w;
    const struct bench_broker *b = &c->brokers[g % c->broker_count];
    uint32_t bind = c->bind_count != 0 ? c->bind_first + g % c->bind_count : 0;
    int err = 0;

    if (d->state == DEV_NEW && !dev_init(f, d, i))
        return;
    f->st.attempts++;
    f->inflight++;
    d->state = DEV_TCP;
    d->due_ms = f->now_ms + TCP_TIMEOUT_MS;
    d->link.fd = bench_io_socket((const struct sockaddr *)&b->addr, b->addr_len, bind, &err);
    if (d->link.fd < 0) {
        if (err == EMFILE || err == ENFILE)
            fleet_fatal(f, "out of file descriptors at %u devices (%s)", f->st.online,
                        strerror(err));
        /* Ports used up or the broker not listening (yet): try again later. */
        dev_drop(f, d);
        return;
    }
    /* The first EPOLLOUT edge says the handshake is over; later ones, that
     * a socket which refused bytes takes them again. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u64 = f->tag | i};
    if (epoll_ctl(f->ep, EPOLL_CTL_ADD, d->link.fd, &ev) != 0) {
        fleet_fatal(f, "epoll: %s", strerror(errno));
        dev_drop(f, d);
    }
}

/* Start connects while the window has room: due retries first, then
 * devices never started. */
static void fleet_start_more(struct bench_fleet *f)
{
    while (f->inflight < f->window && !f->fatal) {
        if (f->retry_len != 0 && time_due(f->now_ms, dev_at(f, f->retry[f->retry_head])->due_ms)) {
            uint32_t i = f->retry[f->retry_head];
            f->retry_head = (f->retry_head + 1u) % f->count;
            f->retry_len--;
            dev_start(f, i);
        } else if (f->next_new < f->count) {
            dev_start(f, f->next_new++);
        } else {
            return;
        }
    }
}

/* Run one step of device d's session: the callbacks may flag a failure. */
static void dev_begin(struct bench_fleet *f, struct bench_dev *d)
{
    f->cur = d;
    f->cur_failed = MIDGE_OK;
}

/* After a step: flush, and drop the connection if anything failed. */
static void dev_end(struct bench_fleet *f, struct bench_dev *d, midge_status st)
{
    if (st == MIDGE_OK)
        st = f->cur_failed;
    if (st == MIDGE_OK)
        st = bench_io_flush(&d->link, &d->session, OUT_LIMIT, f->now_ms);
    f->cur = NULL;
    if (st != MIDGE_OK)
        dev_drop(f, d);
}

/* The handshake ended. A failed one shows as EPOLLERR/EPOLLHUP, or else
 * as the error of the first send: no getsockopt(SO_ERROR) needed. */
static void dev_tcp_up(struct bench_fleet *f, struct bench_dev *d, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        dev_drop(f, d);
        return;
    }
    dev_begin(f, d);
    midge_status st = midge_device_connect(&d->device, &f->out);
    if (st == MIDGE_OK)
        st = midge_session_connect(&d->session, &f->out.connect, f->now_ms);
    if (st != MIDGE_OK) {
        fleet_fatal(f, "CONNECT for %s: %s", dev_id(f, d), midge_strerror(st));
        dev_end(f, d, st);
        return;
    }
    d->state = DEV_MQTT;
    dev_end(f, d, MIDGE_OK);
}

/* --- Device outputs --------------------------------------------------------------- */

static bool defer_push(struct bench_dev *d, const midge_publish *m)
{
    struct defer_rec h = {.topic_len = m->topic_len, .qos = m->qos, .retain = m->retain,
                          .payload_len = (uint32_t)m->payload_len};
    size_t need = sizeof h + h.topic_len + h.payload_len;

    if (bench_buf_len(d->defer) + need > DEFER_LIMIT)
        return false;
    return bench_buf_put(&d->defer, &h, sizeof h, DEFER_LIMIT) &&
           bench_buf_put(&d->defer, m->topic, h.topic_len, DEFER_LIMIT) &&
           bench_buf_put(&d->defer, m->payload, h.payload_len, DEFER_LIMIT);
}

/* Queue the device's PUBLISHes in order; what finds the store full waits
 * for the next acknowledgement. */
static void dev_publish(struct bench_fleet *f, struct bench_dev *d, const midge_publish *msgs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (bench_buf_len(d->defer) == 0) {
            midge_status st = midge_session_publish(&d->session, &msgs[k], NULL, f->now_ms);
            if (st == MIDGE_OK)
                continue;
            if (st != MIDGE_AGAIN) {
                f->st.errors++;
                continue;
            }
        }
        if (!defer_push(d, &msgs[k]))
            f->st.errors++;
    }
}

static void dev_publish_deferred(struct bench_fleet *f, struct bench_dev *d)
{
    for (int k = 0; k < DEFER_ROUNDS && bench_buf_len(d->defer) != 0; k++) {
        struct defer_rec h;
        const uint8_t *p = d->defer->data + d->defer->off;
        memcpy(&h, p, sizeof h);
        midge_publish m = {.topic = (const char *)p + sizeof h, .topic_len = h.topic_len,
                           .qos = h.qos, .retain = h.retain,
                           .payload = p + sizeof h + h.topic_len, .payload_len = h.payload_len};
        midge_status st = midge_session_publish(&d->session, &m, NULL, f->now_ms);
        if (st == MIDGE_AGAIN)
            return;
        if (st != MIDGE_OK)
            f->st.errors++;
        bench_buf_drop(&d->defer, sizeof h + h.topic_len + h.payload_len);
    }
}

/* --- Session events ------------------------------------------------------------- */

static void dev_online(struct bench_fleet *f, struct bench_dev *d)
{
    d->state = DEV_ONLINE;
    d->failures = 0;
    f->inflight--;
    f->st.online++;
}

static void dev_on_connack(struct bench_fleet *f, struct bench_dev *d, const midge_event *ev)
{
    if (ev->status != MIDGE_OK) {
        fleet_fatal(f, "the broker refused %s: %s", dev_id(f, d), midge_strerror(ev->status));
        return;
    }
    midge_status st = midge_device_on_connack(&d->device, &f->out);
    /* onenet: commands are pushed without a subscription. */
    bool subscribe = st == MIDGE_OK && f->out.sub_count != 0;
    if (subscribe)
        st = midge_session_subscribe(&d->session, f->out.subs, f->out.sub_count, NULL, f->now_ms);
    if (st != MIDGE_OK) {
        f->st.errors++;
        f->cur_failed = st;
        return;
    }
    dev_publish(f, d, f->out.msgs, f->out.msg_count);
    d->state = DEV_SUB;
    d->due_ms = f->now_ms + SUBACK_TIMEOUT_MS;
    if (!subscribe)
        dev_online(f, d);
}

static void dev_on_suback(struct bench_fleet *f, struct bench_dev *d, const midge_event *ev)
{
    for (size_t k = 0; k < ev->suback.count; k++) {
        if (ev->suback.codes[k] == MIDGE_SUBACK_FAILURE) {
            fleet_fatal(f, "the broker refused the subscription of %s", dev_id(f, d));
            return;
        }
    }
    if (d->state == DEV_SUB)
        dev_online(f, d);
}

static void dev_on_message(struct bench_fleet *f, struct bench_dev *d, const midge_publish *msg)
{
    if (midge_device_handle(&d->device, msg, &f->out) != MIDGE_OK) {
        f->st.errors++;
        return;
    }
    dev_publish(f, d, f->out.msgs, f->out.msg_count);
}

static void fleet_on_event(void *user, const midge_event *ev)
{
    struct bench_fleet *f = user;
    struct bench_dev *d = f->cur;

    if (d == NULL)
        return;
    switch (ev->type) {
    case MIDGE_EV_CONNACK:
        dev_on_connack(f, d, ev);
        break;
    case MIDGE_EV_SUBACK:
        dev_on_suback(f, d, ev);
        break;
    case MIDGE_EV_MESSAGE:
        dev_on_message(f, d, &ev->message);
        break;
    case MIDGE_EV_PUBLISHED:
        dev_publish_deferred(f, d);
        break;
    default:
        /* CLOSED comes back as a status; pings need nothing. */
        break;
    }
}

/* --- The loop --------------------------------------------------------------------- */

/* Edge-triggered input: read until a short read shows the socket empty. */
static midge_status dev_read_all(struct bench_fleet *f, struct bench_dev *d)
{
    for (int k = 0; k < READS_PER_EVENT; k++) {
        bool more = false;
        midge_status st =
            bench_io_read(&d->link, &d->session, &f->lim, &f->scratch, f->now_ms, &more);
        if (st != MIDGE_OK || !more)
            return st;
    }
    /* A device is sent a few small packets; this much at once is abuse. */
    return MIDGE_ERR_TOO_BIG;
}

static void dev_io(struct bench_fleet *f, struct bench_dev *d, uint32_t events)
{
    if (d->state == DEV_TCP) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            dev_tcp_up(f, d, events);
        return;
    }
    if (d->link.fd < 0)
        return;
    midge_status st = MIDGE_OK;
    if (events & EPOLLOUT)
        st = bench_io_write(&d->link);
    dev_begin(f, d);
    if (st == MIDGE_OK && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        st = dev_read_all(f, d);
    dev_end(f, d, st);
}

/* Keepalive, CONNACK time-out, and the deadlines of our own steps. A pass
 * over every device walks the whole table (a cache miss per device: about
 * a millisecond at 10,000), so it is spread over SWEEP_MS: each step looks
 * at the share of devices that the time since the last step is worth.
 * Every started device is still seen about once per SWEEP_MS, and no step
 * holds the loop (and the replies waiting on it) for long. */
static void fleet_sweep(struct bench_fleet *f)
{
    uint32_t elapsed = f->now_ms - f->sweep_ms;

    if (elapsed == 0 || f->next_new == 0)
        return;
    f->sweep_ms = f->now_ms;
    uint64_t quota = (uint64_t)f->next_new * elapsed / SWEEP_MS + 1u;
    if (quota > f->next_new)
        quota = f->next_new;
    for (uint64_t k = 0; k < quota; k++) {
        if (f->sweep_pos >= f->next_new)
            f->sweep_pos = 0;
        struct bench_dev *d = dev_at(f, f->sweep_pos++);
        if ((d->state == DEV_TCP || d->state == DEV_SUB) && time_due(f->now_ms, d->due_ms)) {
            dev_drop(f, d);
            continue;
        }
        if (d->state < DEV_MQTT || midge_session_next_timeout(&d->session, f->now_ms) != 0)
            continue;
        dev_begin(f, d);
        dev_end(f, d, midge_session_tick(&d->session, f->now_ms));
    }
}

static void fleet_report(struct bench_fleet *f)
{
    if (!f->ready_sent && f->st.online == f->count) {
        f->st.connect_ns = bench_now_ns() - f->start_ns;
        /* Freed queues should not count as device memory. */
        malloc_trim(0);
        f->st.rss_after = bench_rss_bytes();
        f->ready_sent = true;
        /* From here on the worker answers commands: short slices. */
        (void)bench_short_slice();
        fleet_send(f, BENCH_MSG_READY);
        f->progress_ms = f->now_ms;
        return;
    }
    if (f->now_ms - f->progress_ms >= PROGRESS_MS) {
        f->progress_ms = f->now_ms;
        fleet_send(f, BENCH_MSG_PROGRESS);
    }
}

static int fleet_wait_ms(const struct bench_fleet *f)
{
    if (f->inflight < f->window && (f->next_new < f->count || f->retry_len != 0))
        return f->next_new < f->count ? 0 : 10;
    /* Online and idle: the sweep's slices need a few wake-ups a second,
     * and any command or reply wakes the loop anyway. */
    return f->ready_sent ? (int)(SWEEP_MS / 4u) : 20;
}

int bench_fleet_step(struct bench_fleet *f, uint32_t now_ms)
{
    if (f->closed)
        return -1;
    f->now_ms = now_ms;
    if (!f->fatal) {
        fleet_start_more(f);
        fleet_sweep(f);
        fleet_report(f);
    }
    if (f->fatal) {
        if (!f->failed_sent) {
            f->failed_sent = true;
            fleet_send(f, BENCH_MSG_FAILED);
        }
        return -1;
    }
    return fleet_wait_ms(f);
}

void bench_fleet_io(struct bench_fleet *f, uint32_t i, uint32_t events, uint32_t now_ms)
{
    if (f->closed || f->fatal || i >= f->next_new)
        return;
    f->now_ms = now_ms;
    dev_io(f, dev_at(f, i), events);
}

/* Empty retained messages on the device's presence and state topics: the
 * broker then forgets both (MQTT 3.1.1 section 3.3.1.3), and a bench leaves
 * no trace of its devices behind. QoS 0 on the device's own connection,
 * ahead of its DISCONNECT, so nothing it published earlier can overtake
 * them. */
static void dev_clear_retained(struct bench_fleet *f, struct bench_dev *d)
{
    static const char *const kinds[] = {"status", "state"};
    char topic[160];

    /* onenet: the platform's tree is the platform's (bench.h). */
    if (f->cfg->onenet)
        return;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int n = snprintf(topic, sizeof topic, "devices/%s/%s", dev_id(f, d), kinds[k]);
        midge_publish m = {.topic = topic, .topic_len = (uint16_t)n, .qos = 0, .retain = true,
                           .payload = (const uint8_t *)"", .payload_len = 0};
        if (midge_session_publish(&d->session, &m, NULL, f->now_ms) != MIDGE_OK)
            f->st.errors++;
    }
}

/* A clean exit for every connected device: its retained presence and
 * state removed, DISCONNECT (so the broker sends no will), then close,
 * without waiting for the broker. */
static void fleet_shutdown(struct bench_fleet *f)
{
    f->now_ms = midge_clock_ms();
    for (uint32_t i = 0; i < f->next_new; i++) {
        struct bench_dev *d = dev_at(f, i);
        const midge_device_stats *ds = midge_device_get_stats(&d->device);
        f->st.commands += ds->commands;
        f->st.commanded += ds->commands != 0;
        f->st.duplicates += ds->duplicates;
        f->st.rejected += ds->rejected;
        /* From SUB on the broker has accepted the connection. */
        if (d->state == DEV_ONLINE || d->state == DEV_SUB) {
            dev_begin(f, d);
            dev_clear_retained(f, d);
            (void)midge_session_disconnect(&d->session, f->now_ms);
            (void)bench_io_flush(&d->link, &d->session, OUT_LIMIT, f->now_ms);
            f->cur = NULL;
        }
        bench_link_close(&d->link);
        bench_buf_free(&d->defer);
    }
}

static bool fleet_setup(struct bench_fleet *f)
{
    f->tx = malloc(SHARED_TX);
    f->rx = malloc(BENCH_DEV_MAX_PACKET);
    f->scratch.cap = BENCH_DEV_MAX_PACKET + READ_SIZE;
    f->scratch.buf = malloc(f->scratch.cap);
    if (f->tx == NULL || f->rx == NULL || f->scratch.buf == NULL)
        return false;
    /* Touched now, so the worker's fixed buffers are not counted as the
     * devices' memory below. */
    memset(f->tx, 0, SHARED_TX);
    memset(f->rx, 0, BENCH_DEV_MAX_PACKET);
    memset(f->scratch.buf, 0, f->scratch.cap);
    f->lim = (struct bench_io_limits){.rx_size = BENCH_DEV_MAX_PACKET,
                                      .max_packet = BENCH_DEV_MAX_PACKET,
                                      .out_limit = OUT_LIMIT};
    midge_device_out_init(&f->out, f->out_buf, sizeof f->out_buf);
    /* The device table last: RSS growth from here on is the devices'. */
    f->st.rss_before = bench_rss_bytes();
    f->devs = calloc(f->count, f->slot);
    f->retry = calloc(f->count, sizeof *f->retry);
    return f->devs != NULL && f->retry != NULL;
}

static void fleet_release(struct bench_fleet *f)
{
    free(f->devs);
    free(f->retry);
    free(f->tx);
    free(f->rx);
    free(f->scratch.buf);
    f->devs = f->tx = f->rx = f->scratch.buf = NULL;
    f->retry = NULL;
}

struct bench_fleet *bench_fleet_open(const struct bench_config *cfg, unsigned w, int epfd,
                                     uint64_t tag, bench_fleet_post_fn post, void *user)
{
    static struct bench_fleet fleet; /* one per process; too big for the stack */
    struct bench_fleet *f = &fleet;
    unsigned window = CONNECT_WINDOW_PER_BROKER * cfg->broker_count / cfg->workers;

    memset(f, 0, sizeof *f);
    f->cfg = cfg;
    f->w = w;
    f->ep = epfd;
    f->tag = tag;
    f->post = post;
    f->post_user = user;
    f->count = bench_worker_devices(cfg, w);
    f->window = window < CONNECT_WINDOW_MIN ? CONNECT_WINDOW_MIN : window;
    f->start_ns = bench_now_ns();
    f->rng = f->start_ns ^ ((uint64_t)w << 32) ^ 0x9e3779b97f4a7c15u;
    f->now_ms = f->progress_ms = f->sweep_ms = midge_clock_ms();
    f->st.devices = f->count;
    /* Reported as FAILED by the first step. */
    if (f->count == 0 || !fleet_layout(f) || !fleet_setup(f))
        fleet_fatal(f, "worker %u: out of memory", w);
    return f;
}

void bench_fleet_close(struct bench_fleet *f)
{
    if (f->closed)
        return;
    if (f->fatal) {
        if (!f->failed_sent) {
            f->failed_sent = true;
            fleet_send(f, BENCH_MSG_FAILED);
        }
    } else {
        fleet_shutdown(f);
        fleet_send(f, BENCH_MSG_FINAL);
    }
    /* Sockets a fatal error left open close with the table. */
    for (uint32_t i = 0; i < f->next_new && f->devs != NULL; i++) {
        struct bench_dev *d = dev_at(f, i);
        bench_link_close(&d->link);
        bench_buf_free(&d->defer);
    }
    fleet_release(f);
    f->closed = true;
}

/* --- A worker process ------------------------------------------------------------- */

/* Messages to the coordinating process over the socket pair. A parent that
 * stopped reading is gone; the worker ends anyway. */
static void post_socket(void *user, const struct bench_msg *m)
{
    const int *fd = user;

    (void)send(*fd, m, sizeof *m, MSG_NOSIGNAL);
}

/* STOP from the parent, or the parent gone. */
static void worker_ctl(struct bench_fleet *f, int ctl, bool *stop)
{
    struct bench_msg m;
    ssize_t n = recv(ctl, &m, sizeof m, MSG_DONTWAIT);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        fleet_fatal(f, "the coordinating process went away");
        return;
    }
    if (n == (ssize_t)sizeof m && m.type == BENCH_MSG_STOP)
        *stop = true;
}

int bench_fleet_run(const struct bench_config *cfg, unsigned w, int ctl_fd)
{
    static int ctl;
    struct epoll_event evs[EPOLL_BATCH];
    uint64_t limit_ms = (uint64_t)cfg->connect_deadline_ms + cfg->duration_s * 1000u +
                        WORKER_GRACE_MS;
    bool stop = false;
    int ep = epoll_create1(EPOLL_CLOEXEC);

    ctl = ctl_fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BENCH_EP_WORKER};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ctl_fd, &ev) != 0) {
        struct bench_msg m = {.type = BENCH_MSG_FAILED, .worker = w};
        snprintf(m.reason, sizeof m.reason, "epoll: %s", strerror(errno));
        post_socket(&ctl, &m);
        return 1;
    }
    struct bench_fleet *f = bench_fleet_open(cfg, w, ep, BENCH_EP_DEV, post_socket, &ctl);
    uint32_t start_ms = f->now_ms;

    /* Bounded by STOP, the parent's departure, or the run's longest life. */
    while (!stop && !f->fatal) {
        uint32_t now_ms = midge_clock_ms();
        if (now_ms - start_ms >= limit_ms) {
            fleet_fatal(f, "worker %u ran past the longest possible run", w);
            break;
        }
        int wait = bench_fleet_step(f, now_ms);
        if (f->fatal)
            break;
        int n = epoll_wait(ep, evs, EPOLL_BATCH, wait);
        if (n < 0 && errno != EINTR) {
            fleet_fatal(f, "epoll_wait: %s", strerror(errno));
            break;
        }
        now_ms = midge_clock_ms();
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == BENCH_EP_WORKER)
                worker_ctl(f, ctl_fd, &stop);
            else
                bench_fleet_io(f, (uint32_t)tag, evs[k].events, now_ms);
        }
    }
    bool ok = !f->fatal;
    bench_fleet_close(f);
    close(ep);
    return ok ? 0 : 1;
}
