/*
 * Fake OneNET servers (see fake_onenet.h; the rules come from
 * ../shared/reference/onenet.md sections 1 and 2).
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
#include <inttypes.h>
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
#include "midge/token.h"

#define CONN_MAX 8        /* connections served at once; more are refused at accept */
#define FRAME_MAX 16384   /* largest packet read whole; a device never needs more here */
#define ID_MAX 128        /* client id, product id, device name */
#define SECRET_MAX 256
#define LEGACY_SUBS_MAX 100 /* onenet.md section 1: at most 100 per client */
#define STUDIO_SUBS_MAX 15  /* onenet.md section 2 */
#define STUDIO_FILTERS_PER_PACKET 8
#define STUDIO_LEVELS_MAX 8
#define STUDIO_WILDCARD_LEVEL 5 /* wildcards allowed from this level on (1-based) */
#define LEGACY_KEEPALIVE_MIN 120
#define STUDIO_KEEPALIVE_MIN 10
#define STUDIO_KEEPALIVE_MAX 1800
#define WRITE_MS 2000     /* one write to a device */
#define POLL_MS 20        /* longest sleep: how soon a stop request is seen */
#define TOKEN_MAX 512     /* longest password read as a token */

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
    char client_id[ID_MAX];
    char subs[LEGACY_SUBS_MAX][FAKE_ONENET_TOPIC_MAX];
    size_t sub_count;
    uint8_t rx[FRAME_MAX];
    size_t have;
} conn;

struct fake_onenet {
    fake_onenet_kind kind;
    int connack_delay_ms;
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
    bool events_overflowed;
    /* Legacy clean session 0: the subscription list the platform keeps. */
    bool has_session;
    char stored[LEGACY_SUBS_MAX][FAKE_ONENET_TOPIC_MAX];
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

static bool str_is(midge_str s, const char *text)
{
    return s.ptr != NULL && s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Every byte a letter, a digit or one of `extra`. */
static bool chars_ok(const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        if (!alnum(s[i]) && (s[i] == '\0' || strchr(extra, s[i]) == NULL))
            return false;
    }
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
    static fake_onenet_event spare; /* overflow sink: written, never read */
    fake_onenet_event *ev;

    if (s->event_count == FAKE_ONENET_EVENT_MAX) {
        s->events_overflowed = true;
        ev = &spare;
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

/* --- Studio token --------------------------------------------------------------- */

typedef struct token_fields {
    char version[32];
    char res[2 * ID_MAX + 32];
    char et[24];
    char method[8];
    char sign[128];
} token_fields;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %XX decoding into a NUL-terminated field; false if malformed or too long. */
static bool url_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* version=..&res=..&et=..&method=..&sign=..: each field exactly once, no
 * other field, values URL-decoded. */
static bool token_parse(const char *tok, size_t len, token_fields *f)
{
    struct {
        const char *name;
        char *dst;
        size_t cap;
        bool seen;
    } keys[] = {
        {"version", f->version, sizeof f->version, false},
        {"res", f->res, sizeof f->res, false},
        {"et", f->et, sizeof f->et, false},
        {"method", f->method, sizeof f->method, false},
        {"sign", f->sign, sizeof f->sign, false},
    };
    const size_t key_count = sizeof keys / sizeof keys[0];
    size_t pos = 0;

    while (pos <= len) {
        const char *seg = tok + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seg_len = amp != NULL ? (size_t)(amp - seg) : len - pos;
        const char *eq = memchr(seg, '=', seg_len);
        if (eq == NULL)
            return false;
        size_t name_len = (size_t)(eq - seg);
        size_t k = 0;
        while (k < key_count &&
               (strlen(keys[k].name) != name_len || memcmp(keys[k].name, seg, name_len) != 0))
            k++;
        if (k == key_count || keys[k].seen)
            return false;
        keys[k].seen = true;
        if (!url_decode(eq + 1, seg_len - name_len - 1, keys[k].dst, keys[k].cap))
            return false;
        pos += seg_len + 1;
    }
    for (size_t k = 0; k < key_count; k++) {
        if (!keys[k].seen)
            return false;
    }
    return true;
}

static bool parse_et(const char *text, uint64_t *et)
{
    size_t len = strlen(text);
    uint64_t v = 0;

    if (len == 0 || len > 19)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    *et = v;
    return true;
}

/* The sign this server expects for the token's own et and method, made by
 * the library's token module with the device key (tested separately
 * against the platform's published vector). */
static bool token_expected_sign(const fake_onenet *s, const token_fields *got, uint64_t et,
                                char *sign, size_t cap)
{
    size_t need = 0;
    token_fields want;
    bool ok = false;

    midge_token_make(NULL, 0, s->product_id, s->device_id, s->secret, got->method, et, &need);
    char *tok = malloc(need + 1);
    if (tok == NULL)
        return false;
    if (midge_token_make(tok, need + 1, s->product_id, s->device_id, s->secret, got->method, et,
                         NULL) == MIDGE_OK &&
        token_parse(tok, need, &want) && strlen(want.sign) < cap) {
        memcpy(sign, want.sign, strlen(want.sign) + 1);
        ok = true;
    }
    /* The expected token is as secret as the key: wipe it. */
    memset(tok, 0, need + 1);
    free(tok);
    return ok;
}

/* 0 when the token is good; else the CONNACK code and *why. */
static uint8_t token_check(const fake_onenet *s, const midge_connect_packet *con, conn *c,
                           const char **why)
{
    token_fields f;
    char res[sizeof f.res];
    char want_sign[sizeof f.sign];
    uint64_t et = 0;
    midge_token_method method;

    memset(&f, 0, sizeof f);
    if (con->password_len == 0 || con->password_len > TOKEN_MAX ||
        !token_parse((const char *)con->password, con->password_len, &f)) {
        *why = "token: not version=...&res=...&et=...&method=...&sign=...";
        return 4;
    }
    bool et_ok = parse_et(f.et, &et);
    c->token_et = et_ok ? et : 0;
    if (midge_token_method_parse(f.method, &method) == MIDGE_OK)
        copy_str(c->token_method, sizeof c->token_method, f.method);
    snprintf(res, sizeof res, "products/%s/devices/%s", s->product_id, s->device_id);
    if (strcmp(f.version, MIDGE_TOKEN_VERSION) != 0) {
        *why = "token: version is not " MIDGE_TOKEN_VERSION;
        return 4;
    }
    if (strcmp(f.res, res) != 0) {
        *why = "token: res is not products/{pid}/devices/{device name}";
        return 4;
    }
    if (c->token_method[0] == '\0') {
        *why = "token: method is not md5, sha1 or sha256";
        return 4;
    }
    if (!et_ok) {
        *why = "token: et is not a decimal number";
        return 4;
    }
    if (!token_expected_sign(s, &f, et, want_sign, sizeof want_sign)) {
        *why = "token: the fake server could not compute the expected sign";
        return 3;
    }
    if (strcmp(want_sign, f.sign) != 0) {
        *why = "token: sign does not verify with the device key";
        return 4;
    }
    if (et <= (uint64_t)time(NULL)) {
        *why = "token: expired (et is not in the future)";
        return 5;
    }
    return 0;
}

/* --- CONNECT ------------------------------------------------------------------------ */

/* The checks whose failure gets no CONNACK; NULL when they pass. */
static const char *connect_shape(const fake_onenet *s, const midge_connect_packet *con)
{
    bool studio = s->kind == FAKE_ONENET_STUDIO;

    if (con->protocol_level != 4)
        return "protocol level is not 4";
    if (con->username.ptr == NULL || con->password == NULL)
        return "user name and password flags must both be set";
    if (con->has_will || con->will_qos != 0 || con->will_retain)
        return "will flag, will QoS and will retain must be 0";
    if (!studio && con->keepalive_s != 0 && con->keepalive_s < LEGACY_KEEPALIVE_MIN)
        return "keepalive must be 0 or 120..65535";
    if (studio && (con->keepalive_s < STUDIO_KEEPALIVE_MIN ||
                   con->keepalive_s > STUDIO_KEEPALIVE_MAX))
        return "keepalive must be 10..1800";
    if (studio && !con->clean_session)
        return "clean session must be 1";
    if (!str_is(con->client_id, s->device_id))
        return studio ? "client id is not the device name" : "client id is not the device id";
    if (!str_is(con->username, s->product_id))
        return "user name is not the product id";
    return NULL;
}

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
    const char *why = connect_shape(s, con);

    if (why != NULL) {
        conn_close_why(s, c, FAKE_ONENET_DROPPED, "CONNECT: %s", why);
        return;
    }
    c->keepalive_s = con->keepalive_s;
    c->clean = con->clean_session;
    memcpy(c->client_id, con->client_id.ptr, con->client_id.len);
    c->client_id[con->client_id.len] = '\0';

    uint8_t code = 0;
    if (s->kind == FAKE_ONENET_STUDIO) {
        code = token_check(s, con, c, &why);
    } else if (con->password_len != strlen(s->secret) ||
               memcmp(con->password, s->secret, con->password_len) != 0) {
        code = 4;
        why = "password is not the API key";
    }
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

/* SUBACK code for one filter: 0 granted (QoS 0 is the most either service
 * grants), 0x80 refused. */
static uint8_t legacy_filter_code(const conn *c, midge_str f)
{
    /* onenet.md section 1: '$' topics cannot be subscribed; ordinary topics
     * are letters, digits and '/', without wildcards. */
    if (f.len == 0 || f.ptr[0] == '$' || !chars_ok(f.ptr, f.len, "/"))
        return MIDGE_SUBACK_FAILURE;
    if (c->sub_count >= LEGACY_SUBS_MAX)
        return MIDGE_SUBACK_FAILURE;
    return 0;
}

static uint8_t studio_filter_code(const fake_onenet *s, const conn *c, midge_str f)
{
    char base[2 * ID_MAX + 8];
    int n = snprintf(base, sizeof base, "$sys/%s/%s/", s->product_id, s->device_id);

    if (!starts_with(f.ptr, f.len, base))
        return MIDGE_SUBACK_FAILURE;
    const char *rest = f.ptr + n;
    size_t rest_len = f.len - (size_t)n;
    if (rest_len == 0 || !chars_ok(rest, rest_len, "/_-+#"))
        return MIDGE_SUBACK_FAILURE;
    /* Wildcards only from the 5th level on: $sys/{pid}/{dev}/cmd/request/+. */
    int level = 4;
    for (size_t i = 0; i < rest_len; i++) {
        if (rest[i] == '/')
            level++;
        else if ((rest[i] == '+' || rest[i] == '#') && level < STUDIO_WILDCARD_LEVEL)
            return MIDGE_SUBACK_FAILURE;
    }
    if (level > STUDIO_LEVELS_MAX)
        return MIDGE_SUBACK_FAILURE;
    if (c->sub_count >= STUDIO_SUBS_MAX)
        return MIDGE_SUBACK_FAILURE;
    return 0;
}

static void handle_subscribe(fake_onenet *s, conn *c, const midge_client_packet *pkt)
{
    const uint8_t *cursor = pkt->filters.list;
    const uint8_t *end = pkt->filters.list + pkt->filters.list_len;
    uint8_t codes[LEGACY_SUBS_MAX];
    size_t count = 0;
    midge_str f;
    uint8_t qos;

    while (midge_codec_next_filter(&cursor, end, &f, &qos)) {
        if (count == sizeof codes ||
            (s->kind == FAKE_ONENET_STUDIO && count == STUDIO_FILTERS_PER_PACKET)) {
            conn_close_why(s, c, FAKE_ONENET_VIOLATION, "more than %d filters in one SUBSCRIBE",
                           s->kind == FAKE_ONENET_STUDIO ? STUDIO_FILTERS_PER_PACKET
                                                         : LEGACY_SUBS_MAX);
            return;
        }
        uint8_t code = s->kind == FAKE_ONENET_STUDIO ? studio_filter_code(s, c, f)
                                                     : legacy_filter_code(c, f);
        fake_onenet_event *ev = event_new(s, FAKE_ONENET_SUBSCRIBE, c);
        event_topic(ev, f.ptr, f.len);
        ev->qos = qos;
        ev->code = code;
        ev->packet_id = pkt->packet_id;
        /* A filter already held is replaced, not counted twice. */
        if (code != MIDGE_SUBACK_FAILURE && !ev->cut && !conn_has_sub(c, ev->topic))
            memcpy(c->subs[c->sub_count++], ev->topic, sizeof ev->topic);
        codes[count++] = code;
    }
    session_store(s, c);

    uint8_t ack[4 + LEGACY_SUBS_MAX];
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

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

/* $dp layouts, onenet.md section 1's table; NULL when consistent. */
static const char *dp_check(const uint8_t *p, size_t len)
{
    if (len < 1)
        return "$dp without a type byte";
    unsigned type = p[0] & 0x3f;
    size_t at = 1;
    if ((type == 6 || type == 7) && (p[0] & 0x80))
        at += 6; /* YY MM DD hh mm ss */
    switch (type) {
    case 1:
    case 3:
    case 4:
    case 5:
    case 6:
        if (len < at + 2 || be16(p + at) != len - at - 2)
            return "$dp: the u16 length does not match the payload";
        return NULL;
    case 2: {
        if (len < at + 2)
            return "$dp type 2: no JSON length";
        size_t json = be16(p + at);
        at += 2 + json;
        if (len < at + 4)
            return "$dp type 2: no binary length";
        uint32_t bin = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
                       (uint32_t)p[at + 2] << 8 | p[at + 3];
        if (len - at - 4 != bin)
            return "$dp type 2: the u32 length does not match the payload";
        return NULL;
    }
    case 7:
        return len > at ? NULL : "$dp type 7 without streams";
    default:
        return "$dp: unknown type";
    }
}

/* NULL when the device may publish on this topic (legacy). */
static const char *legacy_topic_rule(const midge_publish *m)
{
    if (m->topic_len == 3 && memcmp(m->topic, "$dp", 3) == 0)
        return dp_check(m->payload, m->payload_len);
    if (starts_with(m->topic, m->topic_len, "$crsp/"))
        return m->topic_len > 6 ? NULL : "$crsp/ without a command id";
    if (m->topic_len > 0 && m->topic[0] != '$' && chars_ok(m->topic, m->topic_len, "/"))
        return NULL;
    return "publish to a topic the device may not use";
}

static const char *studio_topic_rule(const fake_onenet *s, const midge_publish *m)
{
    static const char *const allowed[] = {
        "thing/property/post", "thing/property/set_reply", "thing/property/get_reply",
        "dp/post/json",        "thing/event/post",
    };
    char base[2 * ID_MAX + 8];
    int n = snprintf(base, sizeof base, "$sys/%s/%s/", s->product_id, s->device_id);

    if (!starts_with(m->topic, m->topic_len, base))
        return "publish outside $sys/{pid}/{device name}/";
    const char *rest = m->topic + n;
    size_t rest_len = m->topic_len - (size_t)n;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (rest_len == strlen(allowed[i]) && memcmp(rest, allowed[i], rest_len) == 0)
            return NULL;
    }
    /* cmd/response/{cmdid}: one non-empty level of topic characters. */
    if (starts_with(rest, rest_len, "cmd/response/") && rest_len > 13 &&
        chars_ok(rest + 13, rest_len - 13, "_-"))
        return NULL;
    return "publish to a topic the device may not use";
}

static void handle_publish(fake_onenet *s, conn *c, const midge_publish *m)
{
    fake_onenet_event *ev = event_new(s, FAKE_ONENET_PUBLISH, c);

    event_topic(ev, m->topic, m->topic_len);
    event_payload(ev, m->payload, m->payload_len);
    ev->qos = m->qos;
    ev->retain = m->retain;
    ev->dup = m->dup;
    ev->packet_id = m->packet_id;

    /* Both services: QoS 0 or 1 from devices, no retain. */
    if (m->qos == 2) {
        conn_close_why(s, c, FAKE_ONENET_VIOLATION, "PUBLISH with QoS 2 on '%s'", ev->topic);
        return;
    }
    if (m->retain) {
        conn_close_why(s, c, FAKE_ONENET_VIOLATION, "PUBLISH with retain on '%s'", ev->topic);
        return;
    }
    const char *why =
        s->kind == FAKE_ONENET_STUDIO ? studio_topic_rule(s, m) : legacy_topic_rule(m);
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
        c->have += (size_t)n;
        conn_process(s, c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (c->state == CONN_NEW)
        conn_close_why(s, c, FAKE_ONENET_DROPPED, "closed before a CONNECT");
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
        if (++s->open_now > s->max_open)
            s->max_open = s->open_now;
        return;
    }
    close(fd); /* more connections than any single device should open */
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
        !copy_str(s->product_id, sizeof s->product_id, cfg->product_id) ||
        !copy_str(s->device_id, sizeof s->device_id, cfg->device_id) ||
        !copy_str(s->secret, sizeof s->secret, cfg->secret)) {
        free(s->events);
        free(s);
        return NULL;
    }
    s->kind = cfg->kind;
    s->connack_delay_ms = cfg->connack_delay_ms;
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
    /* onenet.md section 1: every connected device gets its own $creq
     * commands unasked; anything else needs a subscription. */
    bool deliver = c != NULL && ((s->kind == FAKE_ONENET_LEGACY &&
                                  starts_with(topic, strlen(topic), "$creq/")) ||
                                 conn_matches(c, topic));
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

const char *fake_onenet_what_str(fake_onenet_what what)
{
    switch (what) {
    case FAKE_ONENET_ACCEPTED:
        return "ACCEPTED";
    case FAKE_ONENET_REFUSED:
        return "REFUSED";
    case FAKE_ONENET_DROPPED:
        return "DROPPED";
    case FAKE_ONENET_KICKED:
        return "KICKED";
    case FAKE_ONENET_VIOLATION:
        return "VIOLATION";
    case FAKE_ONENET_SUBSCRIBE:
        return "SUBSCRIBE";
    case FAKE_ONENET_UNSUBSCRIBE:
        return "UNSUBSCRIBE";
    case FAKE_ONENET_PUBLISH:
        return "PUBLISH";
    case FAKE_ONENET_PUSHED:
        return "PUSHED";
    case FAKE_ONENET_PING:
        return "PING";
    case FAKE_ONENET_DISCONNECT:
        return "DISCONNECT";
    case FAKE_ONENET_CLOSED:
        return "CLOSED";
    case FAKE_ONENET_SERVER_DROP:
        return "SERVER_DROP";
    }
    return "?";
}

static void dump_payload(const fake_onenet_event *ev)
{
    bool text = true;

    for (size_t i = 0; i < ev->len; i++)
        text = text && ev->payload[i] >= 0x20 && ev->payload[i] < 0x7f;
    if (text) {
        fprintf(stderr, " '%.*s'", (int)ev->len, (const char *)ev->payload);
        return;
    }
    fputs(" hex", stderr);
    for (size_t i = 0; i < ev->len && i < 48; i++)
        fprintf(stderr, " %02X", ev->payload[i]);
    if (ev->len > 48)
        fputs(" ...", stderr);
}

void fake_onenet_dump(fake_onenet *s, const char *title)
{
    pthread_mutex_lock(&s->lock);
    fprintf(stderr, "---- fake %s server, port %u: %s (%zu events%s) ----\n",
            s->kind == FAKE_ONENET_STUDIO ? "Studio" : "legacy", (unsigned)s->port, title,
            s->event_count, s->events_overflowed ? ", more dropped" : "");
    for (size_t i = 0; i < s->event_count; i++) {
        const fake_onenet_event *ev = &s->events[i];
        fprintf(stderr, "%3zu c%d %-11s", i, ev->conn, fake_onenet_what_str(ev->what));
        switch (ev->what) {
        case FAKE_ONENET_ACCEPTED:
        case FAKE_ONENET_REFUSED:
            fprintf(stderr, " code %u k%u c%d sp%d et %" PRIu64 " %s", ev->code, ev->keepalive_s,
                    ev->clean_session, ev->session_present, ev->token_et, ev->token_method);
            break;
        case FAKE_ONENET_SUBSCRIBE:
            fprintf(stderr, " '%s' q%u -> 0x%02X", ev->topic, ev->qos, ev->code);
            break;
        case FAKE_ONENET_UNSUBSCRIBE:
            fprintf(stderr, " '%s'", ev->topic);
            break;
        case FAKE_ONENET_PUBLISH:
        case FAKE_ONENET_PUSHED:
            fprintf(stderr, " '%s' q%u r%d d%d m%u (%zu bytes)", ev->topic, ev->qos, ev->retain,
                    ev->dup, ev->packet_id, ev->len);
            dump_payload(ev);
            break;
        default:
            break;
        }
        if (ev->why[0] != '\0')
            fprintf(stderr, ": %s", ev->why);
        fputc('\n', stderr);
    }
    fputs("----\n", stderr);
    pthread_mutex_unlock(&s->lock);
}
