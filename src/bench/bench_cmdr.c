/*
 * midge bench: the commander. One MQTT connection per broker, subscribed
 * to every device's replies (devices/+/cmd/response/+; onenet: the
 * platform's $onenet/{product}/+/rsp/+, as an operator), sends "toggle" at
 * a fixed rate to the devices in a scrambled order that reaches every
 * device once in each `devices` commands, and times each round trip: from
 * the moment the command is queued for sending to the moment the read
 * that brought its reply returned (CLOCK_MONOTONIC).
 *
 * A command id is the command's sequence number in hex; the reply topic
 * carries it back, and it indexes a table of send times sized for every
 * command that can be outstanding before it times out. Nothing is
 * allocated per command.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench_internal.h"
#include "bench_io.h"
#include "midge/device.h"

#define LINK_TX (64u * 1024u)
#define LINK_RX (64u * 1024u) /* the largest packet accepted */
#define LINK_STORE (1024u * 1024u) /* QoS 1/2 commands awaiting PUBACK/PUBCOMP */
#define LINK_OUT_LIMIT (64u * 1024u * 1024u)
#define LINK_QOS2_IDS 64u
#define LINK_TCP_TIMEOUT_MS 5000u
#define READ_SIZE (256u * 1024u)

/* Unacknowledged commands per connection. mosquitto drops a 3.1.1 client
 * that has more incoming QoS 2 messages between PUBLISH and PUBREL than its
 * max_inflight_messages (20 by default), so QoS 2 stays under that; QoS 1
 * is acknowledged at once and only needs a bound on the store. */
#define QOS2_WINDOW 16u
#define QOS1_WINDOW 1024u

/* Commands sent per call at most, so replies keep being read at high rates. */
#define SEND_BATCH 512u

/* Retry delay when every store is full (the broker is behind). */
#define STALL_WAIT_NS 1000000u

/* Topics (bench.h): the mqtt profile's, or the platform's for its operators. */
#define MQTT_HEAD "devices/"
#define MQTT_REQUEST "/cmd/request/"
#define MQTT_RESPONSE "/cmd/response/"
#define ONENET_HEAD "$onenet/"
#define ONENET_REQUEST "/cmd/"
#define ONENET_RESPONSE "/rsp/"
#define ONENET_STATUS "/status/"
#define TOPIC_CAP 160

enum link_state { LINK_TCP, LINK_MQTT, LINK_SUB, LINK_READY, LINK_DOWN };

struct cmdr_link {
    midge_session session;
    struct bench_link link;
    uint8_t *tx;
    uint8_t *rx;
    uint8_t *store;
    uint16_t qos2_ids[LINK_QOS2_IDS];
    unsigned index;
    enum link_state state;
    bool want_out;
    bool dirty; /* commands queued since the last flush */
    uint32_t due_ms;
    char client_id[64];
};

/* One command in flight; sent_ns 0 = free. */
struct cmd_slot {
    uint64_t sent_ns;
    uint32_t seq;
    uint32_t device;
};

struct bench_cmdr {
    const struct bench_config *cfg;
    int ep;
    struct cmdr_link links[BENCH_MAX_BROKERS];
    struct cmdr_link *cur; /* the link whose session is being driven */
    midge_status cur_failed;
    struct cmd_slot *slots;
    uint32_t mask;
    uint32_t next_seq;   /* the next command's id */
    uint32_t oldest_seq; /* no command before it can still be pending */
    uint64_t total;      /* commands the phase sends: duration x rate */
    uint64_t issued;     /* commands handled so far, sent or failed */
    uint64_t t0_ns;
    uint64_t rx_ns;      /* when the current read returned */
    uint64_t rng;
    uint32_t order_step;   /* command k goes to (order_start + k * order_step) % devices */
    uint32_t order_start;
    char head[TOPIC_CAP];  /* what every device's topics start with */
    const char *request;   /* between the device id and the command id */
    const char *response;
    char filter[TOPIC_CAP]; /* the replies */
    char status_filter[TOPIC_CAP]; /* onenet: the platform's word on each command */
    bool started;
    bool failed;
    char why[200];
    struct bench_cmdr_stats st;
    struct bench_io_limits lim;
    struct bench_scratch scratch;
    struct bench_timeline *tl;
    struct bench_hist hist;
};

/* --- Helpers ---------------------------------------------------------------- */

static void cmdr_fail(struct bench_cmdr *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cmdr_fail(struct bench_cmdr *c, const char *fmt, ...)
{
    va_list ap;

    if (c->failed)
        return;
    c->failed = true;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
}

/* xorshift64*: where the order of the devices starts, nothing secret. */
static uint64_t cmdr_random(struct bench_cmdr *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717u;
}

static const char *broker_name(const struct bench_cmdr *c, const struct cmdr_link *l)
{
    return c->cfg->brokers[l->index].name;
}

static void cmdr_arm(struct bench_cmdr *c, struct cmdr_link *l)
{
    bool want = l->state == LINK_TCP || bench_buf_len(l->link.out) != 0;

    if (l->link.fd < 0 || want == l->want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u),
                             .data.u64 = BENCH_EP_CMDR | l->index};
    if (epoll_ctl(c->ep, EPOLL_CTL_MOD, l->link.fd, &ev) == 0)
        l->want_out = want;
}

static void link_down(struct bench_cmdr *c, struct cmdr_link *l, midge_status st)
{
    /* A lost commander connection is an error of the run, counted as such
     * (a broker answering QoS 2 with PUBACK ends it as a protocol error). */
    if (l->state != LINK_DOWN) {
        c->st.errors++;
        cmdr_fail(c, "connection to %s lost: %s", broker_name(c, l), midge_strerror(st));
    }
    bench_link_close(&l->link);
    midge_session_transport_lost(&l->session);
    l->state = LINK_DOWN;
}

/* After driving a link's session: flush, or take the link down. */
static void link_end(struct bench_cmdr *c, struct cmdr_link *l, midge_status st)
{
    if (st == MIDGE_OK)
        st = c->cur_failed;
    if (st == MIDGE_OK)
        st = bench_io_flush(&l->link, &l->session, LINK_OUT_LIMIT, midge_clock_ms());
    c->cur = NULL;
    c->cur_failed = MIDGE_OK;
    l->dirty = false;
    if (st != MIDGE_OK) {
        link_down(c, l, st);
        return;
    }
    cmdr_arm(c, l);
}

/* --- Replies ------------------------------------------------------------------- */

static bool eat(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);

    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Digits in `base` up to `stop` (or the end); at most 10 digits. */
static bool number(const char **p, const char *end, unsigned base, char stop, uint32_t *out)
{
    uint64_t v = 0;
    int digits = 0;

    for (; *p < end && **p != stop && digits <= 10; (*p)++, digits++) {
        char ch = **p;
        unsigned d = (ch >= '0' && ch <= '9')                  ? (unsigned)(ch - '0')
                     : (base == 16 && ch >= 'a' && ch <= 'f') ? (unsigned)(ch - 'a' + 10)
                                                               : base;
        if (d >= base)
            return false;
        v = v * base + d;
    }
    if (digits == 0 || digits > 10 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* <head><prefix>-<w>-<n><response><hex seq> -> device and sequence. */
static bool parse_reply(const struct bench_cmdr *c, const midge_publish *m, uint32_t *g,
                        uint32_t *seq)
{
    const struct bench_config *cfg = c->cfg;
    const char *p = m->topic;
    const char *end = p + m->topic_len;
    uint32_t w = 0, n = 0;

    if (!eat(&p, end, c->head) || !eat(&p, end, cfg->id_prefix) || !eat(&p, end, "-") ||
        !number(&p, end, 10, '-', &w) || !eat(&p, end, "-") || !number(&p, end, 10, '/', &n) ||
        !eat(&p, end, c->response) || !number(&p, end, 16, '\0', seq))
        return false;
    if (w >= cfg->workers || n >= bench_worker_devices(cfg, w))
        return false;
    *g = n * cfg->workers + w;
    return true;
}

/* onenet: the platform's status of a command. {"errno":0,...} is its
 * progress; anything else a refusal, which ends the run with its text
 * (the plugin's README lists them): a device of the fleet is not in the
 * registry, or not online. */
static bool cmdr_on_status(struct bench_cmdr *c, const midge_publish *m)
{
    static const char ok[] = "{\"errno\":0,";
    static const char error_key[] = "\"error\":\"";
    size_t head = strlen(c->head);

    if (!c->cfg->onenet || m->topic_len <= head || memcmp(m->topic, c->head, head) != 0)
        return false;
    const char *level = memchr(m->topic + head, '/', m->topic_len - head);
    size_t rest = (size_t)(m->topic + m->topic_len - (level != NULL ? level : m->topic));
    if (level == NULL || rest <= strlen(ONENET_STATUS) ||
        memcmp(level, ONENET_STATUS, strlen(ONENET_STATUS)) != 0)
        return false;
    const char *text = (const char *)m->payload;
    if (m->payload_len >= sizeof ok - 1 && memcmp(text, ok, sizeof ok - 1) == 0)
        return true;
    /* The error's text, up to its closing quote (at most 120 bytes shown). */
    const char *end = text + m->payload_len;
    const char *at = NULL;
    for (const char *p = text; p + sizeof error_key - 1 <= end; p++) {
        if (memcmp(p, error_key, sizeof error_key - 1) == 0) {
            at = p + sizeof error_key - 1;
            break;
        }
    }
    const char *close = at != NULL ? memchr(at, '"', (size_t)(end - at)) : NULL;
    int len = close != NULL && close - at <= 120 ? (int)(close - at) : 0;
    c->st.errors++;
    cmdr_fail(c, "the platform refused a command: %.*s", len, len > 0 ? at : "(unreadable)");
    return true;
}

static void cmdr_on_reply(struct bench_cmdr *c, const midge_publish *m)
{
    uint32_t g = 0, seq = 0;

    if (cmdr_on_status(c, m))
        return;
    if (!parse_reply(c, m, &g, &seq)) {
        c->st.unmatched++;
        return;
    }
    struct cmd_slot *s = &c->slots[seq & c->mask];
    /* A repeated reply (QoS 1 resend, a device answering a redelivery)
     * finds its slot already free. */
    if (s->sent_ns == 0 || s->seq != seq || s->device != g) {
        c->st.unmatched++;
        return;
    }
    uint64_t rtt = c->rx_ns > s->sent_ns ? c->rx_ns - s->sent_ns : 0;
    bench_hist_add(&c->hist, rtt);
    bench_timeline_add(c->tl, s->sent_ns - c->t0_ns, rtt);
    s->sent_ns = 0;
    c->st.replies++;
    /* The device's answer is the LED state; anything else is its error. */
    bool on = false;
    if (!midge_device_led_parse(m->payload, m->payload_len, &on))
        c->st.errors++;
}

static void cmdr_on_event(void *user, const midge_event *ev)
{
    struct bench_cmdr *c = user;
    struct cmdr_link *l = c->cur;

    if (l == NULL)
        return;
    switch (ev->type) {
    case MIDGE_EV_CONNACK: {
        if (ev->status != MIDGE_OK) {
            cmdr_fail(c, "%s refused the commander: %s", broker_name(c, l),
                      midge_strerror(ev->status));
            return;
        }
        /* onenet: a refused command (a device not in the registry) is
         * told on the status topic, at QoS 0: only refusals matter. */
        midge_subscription subs[] = {{.filter = c->filter, .qos = c->cfg->qos},
                                     {.filter = c->status_filter, .qos = 0}};
        c->cur_failed = midge_session_subscribe(&l->session, subs, c->cfg->onenet ? 2u : 1u,
                                                NULL, midge_clock_ms());
        l->state = LINK_SUB;
        break;
    }
    case MIDGE_EV_SUBACK:
        if (ev->suback.count == 0 || ev->suback.codes[0] == MIDGE_SUBACK_FAILURE ||
            ev->suback.codes[ev->suback.count - 1] == MIDGE_SUBACK_FAILURE) {
            cmdr_fail(c, "%s refused the subscription to %s", broker_name(c, l), c->filter);
            return;
        }
        l->state = LINK_READY;
        break;
    case MIDGE_EV_MESSAGE:
        cmdr_on_reply(c, &ev->message);
        break;
    default:
        break;
    }
}

/* -d: the commander's packets (devices are too many to trace). The
 * session hands its own user (the commander) to the trace: pass on the
 * caller's. */
static void cmdr_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    const struct bench_cmdr *c = user;

    c->cfg->opts->trace(c->cfg->opts->trace_user, outgoing, packet, len);
}

/* --- Connections --------------------------------------------------------------- */

static bool link_open(struct bench_cmdr *c, unsigned b, char *why, size_t cap)
{
    struct cmdr_link *l = &c->links[b];
    const struct bench_broker *br = &c->cfg->brokers[b];
    int err = 0;

    l->index = b;
    l->link.fd = -1;
    l->tx = malloc(LINK_TX);
    l->rx = malloc(LINK_RX);
    l->store = malloc(LINK_STORE);
    if (l->tx == NULL || l->rx == NULL || l->store == NULL) {
        snprintf(why, cap, "out of memory");
        return false;
    }
    /* Touched now: with the devices in this process, pages first touched
     * while they connect would count as their memory. */
    memset(l->tx, 0, LINK_TX);
    memset(l->rx, 0, LINK_RX);
    memset(l->store, 0, LINK_STORE);
    midge_session_buffers bufs = {
        .tx = l->tx, .tx_size = LINK_TX, .rx = l->rx, .rx_size = LINK_RX,
        .store = l->store, .store_size = LINK_STORE,
        .rx_qos2_ids = l->qos2_ids, .rx_qos2_cap = LINK_QOS2_IDS,
    };
    midge_session_init(&l->session, &bufs, cmdr_on_event, c);
    if (c->cfg->opts->trace != NULL)
        midge_session_set_trace(&l->session, cmdr_trace);
    snprintf(l->client_id, sizeof l->client_id, "%s-cmd-%ld-%u", c->cfg->id_prefix,
             (long)getpid(), b);
    l->link.fd = bench_io_socket((const struct sockaddr *)&br->addr, br->addr_len, 0, &err);
    if (l->link.fd < 0) {
        snprintf(why, cap, "%s: %s", br->name, strerror(err));
        return false;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = BENCH_EP_CMDR | b};
    if (epoll_ctl(c->ep, EPOLL_CTL_ADD, l->link.fd, &ev) != 0) {
        snprintf(why, cap, "epoll: %s", strerror(errno));
        return false;
    }
    l->want_out = true;
    l->state = LINK_TCP;
    l->due_ms = midge_clock_ms() + LINK_TCP_TIMEOUT_MS;
    return true;
}

static void link_tcp_up(struct bench_cmdr *c, struct cmdr_link *l)
{
    const struct bench_options *o = c->cfg->opts;
    int e = bench_io_connect_error(l->link.fd);

    if (e != 0) {
        cmdr_fail(c, "cannot connect to %s: %s", broker_name(c, l), strerror(e));
        link_down(c, l, MIDGE_ERR_CONNECT);
        return;
    }
    midge_connect_opts co = {.client_id = l->client_id,
                             .username = c->cfg->onenet ? c->cfg->product_id : o->username,
                             .password = o->password, .keepalive_s = o->keepalive_s,
                             .clean_session = true};
    c->cur = l;
    midge_status st = midge_session_connect(&l->session, &co, midge_clock_ms());
    l->state = LINK_MQTT;
    link_end(c, l, st);
}

void bench_cmdr_io(struct bench_cmdr *c, unsigned b, uint32_t events)
{
    struct cmdr_link *l = &c->links[b];
    midge_status st = MIDGE_OK;

    if (b >= c->cfg->broker_count || l->state == LINK_DOWN)
        return;
    if (l->state == LINK_TCP) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            link_tcp_up(c, l);
        return;
    }
    if (events & EPOLLOUT)
        st = bench_io_write(&l->link);
    c->cur = l;
    if (st == MIDGE_OK && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        c->rx_ns = bench_now_ns();
        st = bench_io_read(&l->link, &l->session, &c->lim, &c->scratch, midge_clock_ms(),
                           NULL);
    }
    link_end(c, l, st);
}

/* Commands older than the time-out will not be answered any more. */
static void cmdr_expire(struct bench_cmdr *c, uint64_t now)
{
    const uint64_t timeout = (uint64_t)BENCH_COMMAND_TIMEOUT_MS * 1000000u;

    /* At most one pass over the table. */
    for (uint32_t k = 0; k <= c->mask && c->oldest_seq != c->next_seq; k++) {
        struct cmd_slot *s = &c->slots[c->oldest_seq & c->mask];
        if (s->sent_ns != 0 && s->seq == c->oldest_seq) {
            if (now - s->sent_ns < timeout)
                return;
            s->sent_ns = 0;
            c->st.timeouts++;
        }
        c->oldest_seq++;
    }
}

void bench_cmdr_tick(struct bench_cmdr *c)
{
    uint32_t now_ms = midge_clock_ms();

    for (unsigned b = 0; b < c->cfg->broker_count; b++) {
        struct cmdr_link *l = &c->links[b];
        if (l->state == LINK_TCP && (int32_t)(now_ms - l->due_ms) >= 0) {
            cmdr_fail(c, "cannot connect to %s: timed out", broker_name(c, l));
            link_down(c, l, MIDGE_ERR_CONNECT);
            continue;
        }
        if (l->state == LINK_DOWN || l->state == LINK_TCP ||
            midge_session_next_timeout(&l->session, now_ms) != 0)
            continue;
        c->cur = l;
        link_end(c, l, midge_session_tick(&l->session, now_ms));
    }
    cmdr_expire(c, bench_now_ns());
}

/* --- Sending commands ----------------------------------------------------------- */

/* Queue one command; false when the connection's store is full. */
static bool cmdr_send_one(struct bench_cmdr *c, uint64_t now_ns, uint32_t now_ms)
{
    const struct bench_config *cfg = c->cfg;
    uint64_t k = c->issued % cfg->devices;
    uint32_t g = (uint32_t)((c->order_start + k * c->order_step) % cfg->devices);
    struct cmdr_link *l = &c->links[g % cfg->broker_count];
    char topic[TOPIC_CAP];

    if (l->state != LINK_READY)
        return false;
    if (cfg->qos != 0 &&
        midge_session_inflight(&l->session) >= (cfg->qos == 2 ? QOS2_WINDOW : QOS1_WINDOW)) {
        c->st.stalls++;
        return false;
    }
    uint32_t seq = c->next_seq;
    int n = snprintf(topic, sizeof topic, "%s%s-%u-%u%s%x", c->head, cfg->id_prefix,
                     g % cfg->workers, g / cfg->workers, c->request, seq);
    midge_publish m = {.topic = topic, .topic_len = (uint16_t)n, .qos = cfg->qos,
                       .payload = (const uint8_t *)BENCH_COMMAND,
                       .payload_len = strlen(BENCH_COMMAND)};
    c->cur = l;
    midge_status st = midge_session_publish(&l->session, &m, NULL, now_ms);
    c->cur = NULL;
    if (st == MIDGE_AGAIN) {
        c->st.stalls++;
        return false;
    }
    c->issued++;
    if (st != MIDGE_OK) {
        c->st.errors++;
        return true;
    }
    struct cmd_slot *s = &c->slots[seq & c->mask];
    /* The table holds every command that can be pending before it times
     * out; a slot still busy here means its command is long overdue. */
    if (s->sent_ns != 0)
        c->st.timeouts++;
    *s = (struct cmd_slot){.sent_ns = now_ns, .seq = seq, .device = g};
    c->next_seq++;
    c->st.sent++;
    l->dirty = true;
    return true;
}

void bench_cmdr_start(struct bench_cmdr *c)
{
    c->started = true;
    c->t0_ns = bench_now_ns();
}

/* When command k (from 0) is due: t0 + k / rate seconds. */
static uint64_t due_at(const struct bench_cmdr *c, uint64_t k)
{
    uint64_t rate = c->cfg->rate;

    return c->t0_ns + k / rate * 1000000000u + k % rate * 1000000000u / rate;
}

uint64_t bench_cmdr_send_due(struct bench_cmdr *c)
{
    if (!c->started || c->failed || c->issued >= c->total)
        return UINT64_MAX;
    uint64_t now = bench_now_ns();
    uint32_t now_ms = midge_clock_ms();
    bool stalled = false;

    for (unsigned k = 0; k < SEND_BATCH && c->issued < c->total; k++) {
        if (due_at(c, c->issued) > now)
            break;
        if (!cmdr_send_one(c, now, now_ms)) {
            stalled = true;
            break;
        }
    }
    for (unsigned b = 0; b < c->cfg->broker_count; b++) {
        struct cmdr_link *l = &c->links[b];
        if (l->dirty && l->state != LINK_DOWN) {
            c->cur = l;
            link_end(c, l, MIDGE_OK);
        }
    }
    if (c->issued >= c->total)
        return UINT64_MAX;
    uint64_t next = due_at(c, c->issued);
    if (stalled)
        return STALL_WAIT_NS;
    return next > now ? next - now : 0;
}

uint64_t bench_cmdr_outstanding(const struct bench_cmdr *c)
{
    uint64_t done = c->st.replies + c->st.timeouts;

    return c->st.sent > done ? c->st.sent - done : 0;
}

/* --- Life ------------------------------------------------------------------------ */

static uint32_t gcd(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The order of the devices: a step coprime to their number visits each
 * once per round; about 0.618 of it apart, neighbours in the order are
 * far apart in number (and so on other workers and brokers). */
static void order_init(struct bench_cmdr *c)
{
    uint32_t n = c->cfg->devices;
    uint32_t step = (uint32_t)((uint64_t)n * 2654435769u >> 32) | 1u;

    while (gcd(step, n) != 1)
        step++;
    c->order_step = step % n;
    c->order_start = (uint32_t)(cmdr_random(c) % n);
}

/* The profile's topics (bench.h). */
static bool topics_init(struct bench_cmdr *c)
{
    const struct bench_config *cfg = c->cfg;
    int n = cfg->onenet ? snprintf(c->head, sizeof c->head, ONENET_HEAD "%s/", cfg->product_id)
                        : snprintf(c->head, sizeof c->head, MQTT_HEAD);

    c->request = cfg->onenet ? ONENET_REQUEST : MQTT_REQUEST;
    c->response = cfg->onenet ? ONENET_RESPONSE : MQTT_RESPONSE;
    int m = snprintf(c->filter, sizeof c->filter, "%s+%s+", c->head, c->response);
    int k = snprintf(c->status_filter, sizeof c->status_filter, "%s+%s+", c->head, ONENET_STATUS);
    return n > 0 && (size_t)n < sizeof c->head && m > 0 && (size_t)m < sizeof c->filter &&
           k > 0 && (size_t)k < sizeof c->status_filter;
}

static uint32_t table_size(uint32_t rate)
{
    /* Every command of the last time-out period, plus one second of slack. */
    uint64_t need = (uint64_t)rate * (BENCH_COMMAND_TIMEOUT_MS / 1000u + 1u);
    uint32_t size = 1024;

    while (size < need && size < (1u << 24))
        size *= 2;
    return size;
}

struct bench_cmdr *bench_cmdr_create(const struct bench_config *cfg, int epfd, char *why,
                                     size_t cap)
{
    struct bench_cmdr *c = calloc(1, sizeof *c);
    uint32_t size = table_size(cfg->rate);

    if (c == NULL) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->ep = epfd;
    for (unsigned b = 0; b < BENCH_MAX_BROKERS; b++)
        c->links[b].link.fd = -1;
    c->mask = size - 1u;
    c->next_seq = c->oldest_seq = 1;
    c->total = (uint64_t)cfg->rate * cfg->duration_s;
    c->st.planned = c->total;
    c->rng = bench_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1du;
    order_init(c);
    if (!topics_init(c)) {
        snprintf(why, cap, "--product-id too long");
        bench_cmdr_destroy(c);
        return NULL;
    }
    c->slots = calloc(size, sizeof *c->slots);
    c->tl = malloc(sizeof *c->tl);
    c->scratch.cap = LINK_RX + READ_SIZE;
    c->scratch.buf = malloc(c->scratch.cap);
    c->lim = (struct bench_io_limits){.rx_size = LINK_RX, .max_packet = LINK_RX,
                                      .out_limit = LINK_OUT_LIMIT};
    bench_hist_reset(&c->hist);
    if (c->slots == NULL || c->tl == NULL || c->scratch.buf == NULL) {
        snprintf(why, cap, "out of memory");
        bench_cmdr_destroy(c);
        return NULL;
    }
    memset(c->scratch.buf, 0, c->scratch.cap);
    bench_timeline_init(c->tl, (uint64_t)cfg->duration_s * 1000000000u);
    for (unsigned b = 0; b < cfg->broker_count; b++) {
        if (!link_open(c, b, why, cap)) {
            bench_cmdr_destroy(c);
            return NULL;
        }
    }
    return c;
}

bool bench_cmdr_ready(const struct bench_cmdr *c)
{
    for (unsigned b = 0; b < c->cfg->broker_count; b++) {
        if (c->links[b].state != LINK_READY)
            return false;
    }
    return true;
}

bool bench_cmdr_failed(const struct bench_cmdr *c, const char **why)
{
    *why = c->why;
    return c->failed;
}

/* Empty retained messages on the presence and state topics of every
 * device of broker l->index (device g is on broker g % brokers), whatever
 * became of it: one that lost its connection left its will ("offline")
 * retained. QoS 0: the DISCONNECT behind them on the same connection keeps
 * the order. tx is moved to the link's queue whenever it fills. */
static midge_status link_clear(struct bench_cmdr *c, struct cmdr_link *l, uint32_t now_ms)
{
    static const char *const kinds[] = {"status", "state"};
    const struct bench_config *cfg = c->cfg;
    char topic[TOPIC_CAP];

    /* onenet: the platform's tree is the platform's (bench.h). */
    if (cfg->onenet)
        return MIDGE_OK;
    for (uint32_t g = l->index; g < cfg->devices; g += cfg->broker_count) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            int n = snprintf(topic, sizeof topic, "devices/%s-%u-%u/%s", cfg->id_prefix,
                             g % cfg->workers, g / cfg->workers, kinds[k]);
            midge_publish m = {.topic = topic, .topic_len = (uint16_t)n, .qos = 0,
                               .retain = true, .payload = (const uint8_t *)"", .payload_len = 0};
            midge_status st = midge_session_publish(&l->session, &m, NULL, now_ms);
            if (st == MIDGE_AGAIN) {
                st = bench_io_flush(&l->link, &l->session, LINK_OUT_LIMIT, now_ms);
                if (st == MIDGE_OK)
                    st = midge_session_publish(&l->session, &m, NULL, now_ms);
            }
            if (st != MIDGE_OK)
                return st;
        }
    }
    return MIDGE_OK;
}

/* Write what the link has queued, waiting for the socket up to `end_ms`. */
static midge_status link_drain(struct cmdr_link *l, uint32_t end_ms)
{
    while (bench_buf_len(l->link.out) != 0) {
        int32_t left = (int32_t)(end_ms - midge_clock_ms());
        if (left <= 0)
            return MIDGE_TIMEOUT;
        struct pollfd p = {.fd = l->link.fd, .events = POLLOUT};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return MIDGE_ERR_IO;
        midge_status st = bench_io_write(&l->link);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

bool bench_cmdr_finish(struct bench_cmdr *c)
{
    uint32_t now_ms = midge_clock_ms();
    uint32_t end_ms = now_ms + BENCH_CLEAR_TIMEOUT_MS;
    bool cleared = true;

    for (unsigned b = 0; b < c->cfg->broker_count; b++) {
        struct cmdr_link *l = &c->links[b];
        midge_status st = MIDGE_ERR_NOT_CONNECTED;
        if (l->state == LINK_READY) {
            c->cur = l;
            st = link_clear(c, l, now_ms);
            if (st == MIDGE_OK)
                st = midge_session_disconnect(&l->session, now_ms);
            if (st == MIDGE_OK)
                st = bench_io_flush(&l->link, &l->session, LINK_OUT_LIMIT, now_ms);
            if (st == MIDGE_OK)
                st = link_drain(l, end_ms);
            c->cur = NULL;
        }
        cleared = cleared && st == MIDGE_OK;
        bench_link_close(&l->link);
        l->state = LINK_DOWN;
    }
    return cleared;
}

void bench_cmdr_destroy(struct bench_cmdr *c)
{
    if (c == NULL)
        return;
    for (unsigned b = 0; b < BENCH_MAX_BROKERS; b++) {
        struct cmdr_link *l = &c->links[b];
        bench_link_close(&l->link);
        free(l->tx);
        free(l->rx);
        free(l->store);
    }
    free(c->slots);
    free(c->tl);
    free(c->scratch.buf);
    free(c);
}

const struct bench_cmdr_stats *bench_cmdr_stats(const struct bench_cmdr *c) { return &c->st; }

const struct bench_hist *bench_cmdr_hist(const struct bench_cmdr *c) { return &c->hist; }

const struct bench_timeline *bench_cmdr_timeline(const struct bench_cmdr *c) { return c->tl; }
