/*
 * Fake OneNET servers (see fake_onenet.h; the rules come from
 * ../shared/reference/onenet.md sections 1 and 2).
 *
 * This file is the server: sockets, the thread, the record of events. What
 * the platform allows is in fake_onenet_rules.c; the event listing for
 * failing tests in fake_onenet_dump.c.
 *
 * One thread serves every connection with poll(). It holds the lock for
 * everything except the poll itself, so the test thread can push, drop and
 * read events at any moment between two batches; a socket is only ever
 * closed under the lock, and a slot is only reused by the server thread,
 * so a descriptor polled in one batch is checked against its slot before
 * it is touched.
 */
#include "fake_onenet.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loopback.h"
#include "midge/codec_server.h"
#include "fake_onenet_rules.h"

#define CONN_MAX 8       /* connections served at once; more are refused at accept */
#define FRAME_MAX 16384  /* largest packet read whole; a device never needs more here */
#define ID_MAX 128       /* client id, product id, device name */
#define SECRET_MAX 256
#define SUBS_MAX 100     /* filters kept per connection (the legacy limit, the larger) */
#define WRITE_MS 2000    /* one write to a device */
#define POLL_MS 20       /* longest sleep: how soon a stop request is seen */

typedef enum conn_state {
    CONN_FREE = 0,
    CONN_NEW,  /* accepted, CONNECT not yet read */
    CONN_HOLD, /* CONNECT accepted, CONNACK due at connack_at */
    CONN_LIVE  /* CONNACK 0 sent */
} conn_state;

typedef struct conn {
    conn_state state;
    int fd;
    int serial;
    bool clean;
    bool session_present;
    uint16_t keepalive_s;
    uint64_t token_et;
    char token_method[8];
    int64_t connack_at;
    int64_t last_rx_ms; /* when the device last sent a byte */
    char client_id[ID_MAX];
    char subs[SUBS_MAX][FAKE_ONENET_TOPIC_MAX];
    size_t sub_count;
    uint8_t rx[FRAME_MAX];
    size_t have;
} conn;

struct fake_onenet {
    fake_onenet_kind kind;
    fake_onenet_identity id; /* points at the three strings below */
    int connack_delay_ms;
    int keepalive_unit_ms;
    char product_id[ID_MAX];
    char device_id[ID_MAX];
    char secret[SECRET_MAX];
    int listener;
    uint16_t port;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool stopping;
    conn conns[CONN_MAX];
    int serials;
    int open_now;
    int max_open;
    fake_onenet_event *events;
    size_t event_count;
    fake_onenet_event spare; /* where events beyond the record go: written, never read */
    /* Legacy clean session 0: the subscription list the platform keeps. */
    bool has_session;
    char stored[SUBS_MAX][FAKE_ONENET_TOPIC_MAX];
    size_t stored_count;
};

/* --- Small helpers ----------------------------------------------------------- */

static bool copy_str(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap)
        return false;
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

static conn *live_conn(fake_onenet *s)
{
    for (int i = 0; i < CONN_MAX; i++) {
        if (s->conns[i].state == CONN_LIVE)
            return &s->conns[i];
    }
    return NULL;
}

/* --- Events (lock held) -------------------------------------------------------- */

static fake_onenet_event *event_new(fake_onenet *s, fake_onenet_what what, const conn *c)
{
    fake_onenet_event *ev;

    if (s->event_count == FAKE_ONENET_EVENT_MAX) {
        ev = &s->spare;
    } else {
        ev = &s->events[s->event_count++];
    }
    memset(ev, 0, sizeof *ev);
    ev->what = what;
    ev->conn = c != NULL ? c->serial : 0;
    ev->at_ms = loopback_now_ms();
    pthread_cond_broadcast(&s->changed);
    return ev;
}

static void event_topic(fake_onenet_event *ev, const char *topic, size_t len)
{
    if (len >= sizeof ev->topic) {
        len = sizeof ev->topic - 1;
        ev->cut = true;
    }
    memcpy(ev->topic, topic, len);
    ev->topic[len] = '\0';
}

static void event_payload(fake_onenet_event *ev, const uint8_t *payload, size_t len)
{
    if (len > sizeof ev->payload) {
        len = sizeof ev->payload;
        ev->cut = true;
    }
    if (len > 0)
        memcpy(ev->payload, payload, len);
    ev->len = len;
}

static void event_why(fake_onenet_event *ev, const char *fmt, va_list ap)
{
    vsnprintf(ev->why, sizeof ev->why, fmt, ap);
}

/* --- Connections (lock held) ----------------------------------------------------- */

static void conn_close(fake_onenet *s, conn *c)
{
    uint8_t sink[512];

    /* Half-close first and drain what the device already sent: closing a
     * socket with unread bytes resets it, and the reset could overtake a
     * CONNACK still on its way. */
    shutdown(c->fd, SHUT_WR);
    while (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    close(c->fd);
    c->fd = -1;
    c->state = CONN_FREE;
    c->have = 0;
    c->sub_count = 0;
    s->open_now--;
}

static void conn_close_why(fake_onenet *s, conn *c, fake_onenet_what what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record why, then close. */
static void conn_close_why(fake_onenet *s, conn *c, fake_onenet_what what, const char *fmt, ...)
{
    va_list ap;
    fake_onenet_event *ev = event_new(s, what, c);

    va_start(ap, fmt);
    event_why(ev, fmt, ap);
    va_end(ap);
    conn_close(s, c);
}

/* False (and the connection closed) when the device is gone. */
static bool conn_send(fake_onenet *s, conn *c, const uint8_t *bytes, size_t len)
{
    loopback_result r = loopback_write_all(c->fd, bytes, len, WRITE_MS);

    if (r == LOOPBACK_OK)
        return true;
    conn_close_why(s, c, FAKE_ONENET_CLOSED, "writing to the device: %s", loopback_result_str(r));
    return false;
}

static bool conn_has_sub(const conn *c, const char *filter)
{
    for (size_t i = 0; i < c->sub_count; i++) {
        if (strcmp(c->subs[i], filter) == 0)
            return true;
    }
    return false;
}

static bool conn_matches(const conn *c, const char *topic)
{
    for (size_t i = 0; i < c->sub_count; i++) {
        if (midge_topic_matches(c->subs[i], strlen(c->subs[i]), topic, strlen(topic)))
            return true;
    }
    return false;
}

/* Legacy clean session 0: the platform's copy follows every change. */
static void session_store(fake_onenet *s, const conn *c)
{
    if (s->kind != FAKE_ONENET_LEGACY || c->clean)
        return;
    memcpy(s->stored, c->subs, sizeof s->stored);
    s->stored_count = c->sub_count;
    s->has_session = true;
}

/* --- CONNECT ------------------------------------------------------------------------ */

/* The platform keeps one login per client id: the older one goes. */
static void kick_others(fake_onenet *s, const conn *keep)
{
    for (int i = 0; i < CONN_MAX; i++) {
        conn *o = &s->conns[i];
        if (o == keep || (o->state != CONN_HOLD && o->state != CONN_LIVE))
            continue;
        if (strcmp(o->client_id, keep->client_id) == 0)
            conn_close_why(s, o, FAKE_ONENET_KICKED, "client id '%s' logged in on connection %d",
                           keep->client_id, keep->serial);
    }
}

static void send_refusal(fake_onenet *s, conn *c, uint8_t code, const char *why)
{
    uint8_t ack[4];
    midge_status st;
    fake_onenet_event *ev = event_new(s, FAKE_ONENET_REFUSED, c);

    ev->code = code;
    ev->keepalive_s = c->keepalive_s;
    ev->clean_session = c->clean;
    ev->token_et = c->token_et;
    memcpy(ev->token_method, c->token_method, sizeof ev->token_method);
    snprintf(ev->why, sizeof ev->why, "%s", why);
    size_t n = midge_codec_encode_connack(ack, sizeof ack, false, code, &st);
    if (conn_send(s, c, ack, n))
        conn_close(s, c);
}

static void handle_connect(fake_onenet *s, conn *c, const midge_connect_packet *con)
{
    const char *why = fake_onenet_rule_connect(&s->id, con);
    fake_onenet_login login;

    if (why != NULL) {
        conn_close_why(s, c, FAKE_ONENET_DROPPED, "CONNECT: %s", why);
        return;
    }
    c->keepalive_s = con->keepalive_s;
    c->clean = con->clean_session;
    memcpy(c->client_id, con->client_id.ptr, con->client_id.len);
    c->client_id[con->client_id.len] = '\0';

    uint8_t code = fake_onenet_rule_password(&s->id, con, &login, &why);
    c->token_et = login.token_et;
    memcpy(c->token_method, login.token_method, sizeof c->token_method);
    if (code != 0) {
        send_refusal(s, c, code, why);
        return;
    }
    kick_others(s, c);
    if (c->clean || s->kind == FAKE_ONENET_STUDIO) {
        s->has_session = false;
        s->stored_count = 0;
    } else if (s->has_session) {
        memcpy(c->subs, s->stored, sizeof c->subs);
        c->sub_count = s->stored_count;
        c->session_present = true;
    }
    session_store(s, c);
    c->state = CONN_HOLD;
    c->connack_at = loopback_now_ms() + s->connack_delay_ms;
}

static void send_connack(fake_onenet *s, conn *c)
{
    uint8_t ack[4];
    midge_status st;
    size_t n = midge_codec_encode_connack(ack, sizeof ack, c->session_present, 0, &st);
    fake_onenet_event *ev = event_new(s, FAKE_ONENET_ACCEPTED, c);

    ev->keepalive_s = c->keepalive_s;
    ev->clean_session = c->clean;
    ev->session_present = c->session_present;
    ev->token_et = c->token_et;
    memcpy(ev->token_method, c->token_method, sizeof ev->token_method);
    snprintf(ev->topic, sizeof ev->topic, "%s", c->client_id);
    if (conn_send(s, c, ack, n))
        c->state = CONN_LIVE;
}

/* --- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------ */

static void handle_subscribe(fake_onenet *s, conn *c, const midge_client_packet *pkt)
{
    const uint8_t *cursor = pkt->filters.list;
    const uint8_t *end = pkt->filters.list + pkt->filters.list_len;
    size_t per_packet = fake_onenet_rule_filters_per_packet(&s->id);
    uint8_t codes[SUBS_MAX];
    size_t count = 0;
    midge_str f;
    uint8_t qos;

    while (midge_codec_next_filter(&cursor, end, &f, &qos)) {
        if (count == per_packet || count == sizeof codes) {
            conn_close_why(s, c, FAKE_ONENET_VIOLATION, "more than %zu filters in one SUBSCRIBE",
                           count);
            return;
        }
        uint8_t code = fake_onenet_rule_filter(&s->id, f, c->sub_count);
        fake_onenet_event *ev = event_new(s, FAKE_ONENET_SUBSCRIBE, c);
        event_topic(ev, f.ptr, f.len);
        ev->qos = qos;
        ev->code = code;
        ev->packet_id = pkt->packet_id;
        /* A filter already held is replaced, not counted twice. */
        if (code != MIDGE_SUBACK_FAILURE && !ev->cut && !conn_has_sub(c, ev->topic) &&
            c->sub_count < SUBS_MAX)
            memcpy(c->subs[c->sub_count++], ev->topic, sizeof ev->topic);
        codes[count++] = code;
    }
    session_store(s, c);

    uint8_t ack[4 + SUBS_MAX];
    midge_status st;
    size_t n = midge_codec_encode_suback(ack, sizeof ack, pkt->packet_id, codes, count, &st);
    conn_send(s, c, ack, n);
}

static void handle_unsubscribe(fake_onenet *s, conn *c, const midge_client_packet *pkt)
{
    const uint8_t *cursor = pkt->filters.list;
    const uint8_t *end = pkt->filters.list + pkt->filters.list_len;
    midge_str f;

    while (midge_codec_next_filter(&cursor, end, &f, NULL)) {
        fake_onenet_event *ev = event_new(s, FAKE_ONENET_UNSUBSCRIBE, c);
        event_topic(ev, f.ptr, f.len);
        ev->packet_id = pkt->packet_id;
        for (size_t i = 0; i < c->sub_count; i++) {
            if (strcmp(c->subs[i], ev->topic) == 0) {
                memmove(c->subs[i], c->subs[i + 1], (c->sub_count - i - 1) * sizeof c->subs[0]);
                c->sub_count--;
                break;
            }
        }
    }
    session_store(s, c);

    uint8_t ack[4];
    midge_status st;
    size_t n = midge_codec_encode_unsuback(ack, sizeof ack, pkt->packet_id, &st);
    conn_send(s, c, ack, n);
}

/* --- PUBLISH from the device ------------------------------------------------------------ */

static void handle_publish(fake_onenet *s, conn *c, const midge_publish *m)
{
    fake_onenet_event *ev = event_new(s, FAKE_ONENET_PUBLISH, c);

    event_topic(ev, m->topic, m->topic_len);
    event_payload(ev, m->payload, m->payload_len);
    ev->qos = m->qos;
    ev->retain = m->retain;
    ev->dup = m->dup;
    ev->packet_id = m->packet_id;

    const char *why = fake_onenet_rule_publish(&s->id, m);
    if (why != NULL) {
        conn_close_why(s, c, FAKE_ONENET_VIOLATION, "%s: '%s'", why, ev->topic);
        return;
    }
    if (m->qos == 1) {
        uint8_t ack[4];
        midge_status st;
        size_t n = midge_codec_encode_ack(ack, sizeof ack, MIDGE_PUBACK, m->packet_id, &st);
        conn_send(s, c, ack, n);
    }
}

/* --- One packet ------------------------------------------------------------------------ */

static const char *type_name(uint8_t type)
{
    static const char *const names[16] = {
        "type 0",    "CONNECT",  "CONNACK",     "PUBLISH",  "PUBACK",  "PUBREC",
        "PUBREL",    "PUBCOMP",  "SUBSCRIBE",   "SUBACK",   "UNSUBSCRIBE",
        "UNSUBACK",  "PINGREQ",  "PINGRESP",    "DISCONNECT", "type 15",
    };
    return names[type & 0x0f];
}

static void handle_live(fake_onenet *s, conn *c, const midge_client_packet *pkt)
{
    uint8_t out[4];
    midge_status st;

    switch (pkt->type) {
    case MIDGE_CONNECT:
        conn_close_why(s, c, FAKE_ONENET_VIOLATION, "a second CONNECT on one connection");
        return;
    case MIDGE_PUBLISH:
        handle_publish(s, c, &pkt->publish);
        return;
    case MIDGE_SUBSCRIBE:
        handle_subscribe(s, c, pkt);
        return;
    case MIDGE_UNSUBSCRIBE:
        handle_unsubscribe(s, c, pkt);
        return;
    case MIDGE_PINGREQ:
        event_new(s, FAKE_ONENET_PING, c);
        conn_send(s, c, out, midge_codec_encode_pingresp(out, sizeof out, &st));
        return;
    case MIDGE_DISCONNECT:
        event_new(s, FAKE_ONENET_DISCONNECT, c);
        conn_close(s, c);
        return;
    default:
        /* The server only sends QoS 0: no acknowledgement can be due.
         * onenet.md section 2: Studio disconnects for unknown ids. */
        if (s->kind == FAKE_ONENET_STUDIO)
            conn_close_why(s, c, FAKE_ONENET_VIOLATION, "%s for an unknown packet id %u",
                           type_name(pkt->type), pkt->packet_id);
        return;
    }
}

static void handle_packet(fake_onenet *s, conn *c, const uint8_t *bytes, size_t len)
{
    midge_client_packet pkt;
    midge_decode_result res = midge_codec_decode_from_client(bytes, len, &pkt);

    if (res.outcome != MIDGE_DECODE_COMPLETE || res.used != len) {
        conn_close_why(s, c, c->state == CONN_NEW ? FAKE_ONENET_DROPPED : FAKE_ONENET_VIOLATION,
                       "malformed %s: %s", type_name(bytes[0] >> 4),
                       res.outcome == MIDGE_DECODE_MALFORMED ? midge_malformed_str(res.reason)
                                                            : "length mismatch");
        return;
    }
    if (c->state == CONN_NEW) {
        if (pkt.type != MIDGE_CONNECT) {
            conn_close_why(s, c, FAKE_ONENET_DROPPED, "first packet is %s, not CONNECT",
                           type_name(pkt.type));
            return;
        }
        handle_connect(s, c, &pkt.connect);
        return;
    }
    handle_live(s, c, &pkt);
}

/* Cut whole packets out of the connection's buffer and handle them. */
static void conn_process(fake_onenet *s, conn *c)
{
    while (c->state != CONN_FREE && c->have > 0) {
        uint8_t first;
        uint32_t remaining;
        size_t header;

        /* onenet.md: nothing may be sent before CONNACK. */
        if (c->state == CONN_HOLD) {
            conn_close_why(s, c, FAKE_ONENET_VIOLATION,
                           "%s sent before the CONNACK arrived", type_name(c->rx[0] >> 4));
            return;
        }
        midge_decode_result h =
            midge_codec_decode_header(c->rx, c->have, &first, &remaining, &header);
        if (h.outcome == MIDGE_DECODE_NEED_MORE)
            return;
        if (h.outcome == MIDGE_DECODE_MALFORMED) {
            conn_close_why(s, c,
                           c->state == CONN_NEW ? FAKE_ONENET_DROPPED : FAKE_ONENET_VIOLATION,
                           "malformed fixed header: %s", midge_malformed_str(h.reason));
            return;
        }
        size_t total = header + remaining;
        if (total > FRAME_MAX) {
            conn_close_why(s, c, FAKE_ONENET_VIOLATION,
                           "%s of %zu bytes, more than the fake server reads",
                           type_name(first >> 4), total);
            return;
        }
        if (c->have < total)
            return;
        handle_packet(s, c, c->rx, total);
        if (c->state == CONN_FREE)
            return;
        memmove(c->rx, c->rx + total, c->have - total);
        c->have -= total;
    }
}

static void conn_read(fake_onenet *s, conn *c)
{
    ssize_t n = recv(c->fd, c->rx + c->have, sizeof c->rx - c->have, MSG_DONTWAIT);

    if (n > 0) {
        c->last_rx_ms = loopback_now_ms();
        c->have += (size_t)n;
        conn_process(s, c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (c->state == CONN_NEW)
        conn_close_why(s, c, FAKE_ONENET_DROPPED, "closed before a CONNECT");
    else if (c->state == CONN_HOLD)
        conn_close_why(s, c, FAKE_ONENET_CLOSED, "closed while its CONNACK was held");
    else
        conn_close_why(s, c, FAKE_ONENET_CLOSED, "%s",
                       n == 0 ? "closed without DISCONNECT" : strerror(errno));
}

static void accept_one(fake_onenet *s)
{
    int fd = loopback_accept(s->listener, 0);
    if (fd < 0)
        return;
    for (int i = 0; i < CONN_MAX; i++) {
        conn *c = &s->conns[i];
        if (c->state != CONN_FREE)
            continue;
        memset(c, 0, offsetof(conn, subs));
        c->sub_count = 0;
        c->have = 0;
        c->fd = fd;
        c->state = CONN_NEW;
        c->serial = ++s->serials;
        c->last_rx_ms = loopback_now_ms();
        if (++s->open_now > s->max_open)
            s->max_open = s->open_now;
        return;
    }
    close(fd); /* more connections than any single device should open */
}

/* onenet.md section 2: dropped after 1.5 x keepalive without upstream
 * traffic (any packet counts, not only PINGREQ). */
static void check_keepalive(fake_onenet *s, conn *c, int64_t now)
{
    int64_t limit = (int64_t)c->keepalive_s * s->keepalive_unit_ms * 3 / 2;

    if (c->keepalive_s > 0 && now - c->last_rx_ms > limit)
        conn_close_why(s, c, FAKE_ONENET_VIOLATION,
                       "nothing sent for 1.5 x keepalive (%u s)", c->keepalive_s);
}

/* --- The thread -------------------------------------------------------------------------- */

static int poll_timeout(fake_onenet *s)
{
    int64_t now = loopback_now_ms();
    int ms = POLL_MS;

    for (int i = 0; i < CONN_MAX; i++) {
        if (s->conns[i].state == CONN_HOLD) {
            int64_t left = s->conns[i].connack_at - now;
            if (left < ms)
                ms = left > 0 ? (int)left : 0;
        }
    }
    return ms;
}

static void *serve(void *arg)
{
    fake_onenet *s = arg;

    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct pollfd fds[CONN_MAX + 1];
        int slot[CONN_MAX + 1];
        nfds_t n = 0;
        for (int i = 0; i < CONN_MAX; i++) {
            if (s->conns[i].state == CONN_FREE)
                continue;
            fds[n] = (struct pollfd){s->conns[i].fd, POLLIN, 0};
            slot[n++] = i;
        }
        fds[n] = (struct pollfd){s->listener, POLLIN, 0};
        slot[n++] = -1;
        int timeout = poll_timeout(s);

        pthread_mutex_unlock(&s->lock);
        int ready = poll(fds, n, timeout);
        pthread_mutex_lock(&s->lock);

        /* Connections first: a device's FIN is seen before its next SYN. */
        for (nfds_t k = 0; ready > 0 && k < n; k++) {
            if (fds[k].revents == 0)
                continue;
            if (slot[k] < 0) {
                accept_one(s);
                continue;
            }
            conn *c = &s->conns[slot[k]];
            /* Dropped by the test meanwhile: not ours to read any more. */
            if (c->state != CONN_FREE && c->fd == fds[k].fd)
                conn_read(s, c);
        }
        int64_t now = loopback_now_ms();
        for (int i = 0; i < CONN_MAX; i++) {
            if (s->conns[i].state == CONN_HOLD && s->conns[i].connack_at <= now)
                send_connack(s, &s->conns[i]);
            else if (s->conns[i].state == CONN_LIVE)
                check_keepalive(s, &s->conns[i], now);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- Public ------------------------------------------------------------------------------- */

fake_onenet *fake_onenet_start(const fake_onenet_config *cfg)
{
    fake_onenet *s = calloc(1, sizeof *s);
    pthread_condattr_t attr;

    if (s == NULL)
        return NULL;
    s->listener = -1;
    s->events = calloc(FAKE_ONENET_EVENT_MAX, sizeof *s->events);
    if (s->events == NULL || cfg == NULL || cfg->connack_delay_ms < 0 ||
        cfg->keepalive_unit_ms < 0 ||
        !copy_str(s->product_id, sizeof s->product_id, cfg->product_id) ||
        !copy_str(s->device_id, sizeof s->device_id, cfg->device_id) ||
        !copy_str(s->secret, sizeof s->secret, cfg->secret)) {
        free(s->events);
        free(s);
        return NULL;
    }
    s->kind = cfg->kind;
    s->id = (fake_onenet_identity){cfg->kind, s->product_id, s->device_id, s->secret};
    s->connack_delay_ms = cfg->connack_delay_ms;
    s->keepalive_unit_ms = cfg->keepalive_unit_ms > 0 ? cfg->keepalive_unit_ms : 1000;
    for (int i = 0; i < CONN_MAX; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    /* Waits are measured on the monotonic clock, like every deadline here. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &attr);
    pthread_condattr_destroy(&attr);

    s->listener = loopback_listen(&s->port);
    if (s->listener < 0 || pthread_create(&s->thread, NULL, serve, s) != 0) {
        fake_onenet_stop(s);
        return NULL;
    }
    s->thread_started = true;
    return s;
}

void fake_onenet_stop(fake_onenet *s)
{
    if (s == NULL)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; i < CONN_MAX; i++) {
        if (s->conns[i].state != CONN_FREE)
            conn_close(s, &s->conns[i]);
    }
    if (s->listener >= 0)
        close(s->listener);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    memset(s->secret, 0, sizeof s->secret);
    free(s->events);
    free(s);
}

uint16_t fake_onenet_port(const fake_onenet *s)
{
    return s->port;
}

size_t fake_onenet_count(fake_onenet *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->event_count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

bool fake_onenet_get(fake_onenet *s, size_t i, fake_onenet_event *out)
{
    pthread_mutex_lock(&s->lock);
    bool ok = i < s->event_count;
    if (ok)
        *out = s->events[i];
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static bool event_fits(const fake_onenet_event *ev, fake_onenet_what what, const char *topic)
{
    return ev->what == what && (topic == NULL || strcmp(ev->topic, topic) == 0);
}

bool fake_onenet_next(fake_onenet *s, size_t *cursor, fake_onenet_what what,
                      const char *topic, int timeout_ms, fake_onenet_event *out)
{
    struct timespec deadline;
    size_t i = *cursor;
    bool found = false;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (; i < s->event_count; i++) {
            if (event_fits(&s->events[i], what, topic)) {
                found = true;
                break;
            }
        }
        if (found || timeout_ms <= 0 ||
            pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    /* One last look after a timeout: an event may have come with it. */
    for (; !found && i < s->event_count; i++) {
        if (event_fits(&s->events[i], what, topic)) {
            found = true;
            break;
        }
    }
    if (found) {
        if (out != NULL)
            *out = s->events[i];
        *cursor = i + 1;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

size_t fake_onenet_tally(fake_onenet *s, fake_onenet_what what, const char *topic)
{
    size_t n = 0;

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->event_count; i++)
        n += event_fits(&s->events[i], what, topic);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int fake_onenet_live(fake_onenet *s)
{
    pthread_mutex_lock(&s->lock);
    conn *c = live_conn(s);
    int serial = c != NULL ? c->serial : 0;
    pthread_mutex_unlock(&s->lock);
    return serial;
}

int fake_onenet_max_open(fake_onenet *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->max_open;
    pthread_mutex_unlock(&s->lock);
    return n;
}

bool fake_onenet_push(fake_onenet *s, const char *topic, const void *payload, size_t len)
{
    midge_publish m = {topic, (uint16_t)strlen(topic), 0, false, false, 0, payload, len};
    bool ok = false;

    pthread_mutex_lock(&s->lock);
    conn *c = live_conn(s);
    /* Legacy $creq/... comes unasked; anything else needs a subscription. */
    bool deliver =
        c != NULL && (fake_onenet_rule_unasked(&s->id, topic) || conn_matches(c, topic));
    size_t size = deliver ? midge_codec_size_publish(&m) : 0;
    uint8_t *bytes = size > 0 ? malloc(size) : NULL;
    if (bytes != NULL) {
        midge_status st;
        size_t n = midge_codec_encode_publish(bytes, size, &m, &st);
        fake_onenet_event *ev = event_new(s, FAKE_ONENET_PUSHED, c);
        event_topic(ev, topic, strlen(topic));
        event_payload(ev, payload, len);
        ok = n == size && conn_send(s, c, bytes, n);
        free(bytes);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

bool fake_onenet_send_raw(fake_onenet *s, const uint8_t *bytes, size_t len)
{
    pthread_mutex_lock(&s->lock);
    conn *c = live_conn(s);
    bool ok = c != NULL && conn_send(s, c, bytes, len);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

bool fake_onenet_drop(fake_onenet *s)
{
    pthread_mutex_lock(&s->lock);
    conn *c = live_conn(s);
    if (c != NULL)
        conn_close_why(s, c, FAKE_ONENET_SERVER_DROP, "closed by the test");
    pthread_mutex_unlock(&s->lock);
    return c != NULL;
}
