/*
 * fuzz_session: one session driven through a fuzzer-chosen script.
 *
 * The session starts with small fuzzer-sized buffers and a fake clock set
 * near the 2^32 ms wrap, connects, receives a CONNACK, then runs operations
 * chosen by the input: raw broker bytes (fed whole or through the zero-copy
 * path), well-formed broker packets aimed at the ids in flight, publish at
 * QoS 0/1/2, subscribe, unsubscribe, ping, disconnect, ticks with advancing
 * time, partial draining of the pending bytes, transport loss with a
 * reconnect, reset, and holding or releasing incoming messages.
 *
 * A model kept here checks, after every step and in every callback:
 *  - pending data never exceeds tx, and lies inside it;
 *  - everything the session sends is a well-formed client packet, CONNECT
 *    first and nothing else before the CONNACK (section 3.1.4), every
 *    QoS 1/2 PUBLISH, SUBSCRIBE and UNSUBSCRIBE carrying an id the session
 *    handed out;
 *  - every traced packet decodes to exactly its own length;
 *  - midge_session_inflight() equals publishes accepted minus completions
 *    (re-read only when MIDGE_EV_SESSION_LOST says records were dropped);
 *  - packet ids are never handed out twice while in use (2.3.1);
 *  - PUBLISHED, PUBLISH_FAILED, SUBACK and UNSUBACK name ids that are
 *    outstanding; PUBLISH_FAILED comes just before CLOSED;
 *  - no QoS 1/2 message is delivered while the session is held;
 *  - a QoS 2 message is delivered once until its PUBREL (4.3.3);
 *  - after MIDGE_EV_CLOSED no event fires until the next connect, and the
 *    state is FAILED exactly when CLOSED was reported;
 *  - message pointers lie inside rx, topics are valid names.
 *
 * The id tables cover all 65536 ids, but an input touches only a few of
 * them: every id ever set is listed once in touched[], and clearing a table
 * (per input, per connection, on SESSION_LOST) visits just those ids, so
 * the cost of a clear follows the input instead of the table size.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "midge/codec_server.h"
#include "midge/session.h"

#define MAX_IDS 65536
#define WIRE_CAP 2048

typedef struct model {
    midge_session s;
    uint8_t *tx, *rx, *store;
    uint16_t *qos2_ids;
    size_t tx_size, rx_size;
    uint16_t qos2_cap;
    uint32_t now;
    midge_connect_opts opts;
    bool reply_from_callback;
    bool hold;        /* midge_session_hold() as last called */
    bool failed_pub;  /* PUBLISH_FAILED seen: CLOSED must come next */

    size_t inflight;   /* expected midge_session_inflight() */
    size_t in2_count;
    uint16_t recent[8]; /* ids to aim synthesized acks at */
    size_t recent_n;

    bool closed;     /* MIDGE_EV_CLOSED seen on this connection */
    bool connacked;  /* a CONNACK event seen on this connection */
    bool accepted;   /* ... and it accepted */

    /* Bytes "sent": parsed as a broker would, to check what goes out. */
    uint8_t wire[WIRE_CAP];
    size_t wire_len;
    size_t wire_packets;

    /* Everything from here on is cleared through touched[] (forget_all),
     * the rest of the model with memset. */

    /* Ids the model believes in flight: publishes (out[]), SUBSCRIBE and
     * UNSUBSCRIBE awaiting their ack (sub[]), incoming QoS 2 between
     * delivery and PUBREL (in2[]). maybe[] marks publishes a SESSION_LOST
     * may have dropped (the event gives only a count). */
    uint8_t out[MAX_IDS], maybe[MAX_IDS], sub[MAX_IDS], in2[MAX_IDS];
    /* Every id handed out since the last reset: a packet may still sit in
     * tx after a synthesized ack completed it, so the wire check can only
     * ask that its id was handed out at all. */
    uint8_t issued[MAX_IDS];
    /* The ids that may be nonzero in any table above, each listed once
     * (listed[id] says whether it is). Ids outside the list are zero in
     * every table. */
    uint8_t listed[MAX_IDS];
    uint16_t touched[MAX_IDS];
    size_t touched_n;
} model;

/* table[id] = 1, one of the id tables of m. */
static void set_id(model *m, uint8_t *table, uint16_t id)
{
    table[id] = 1;
    if (!m->listed[id]) {
        m->listed[id] = 1;
        m->touched[m->touched_n++] = id;
    }
}

/* Zeroes one id table: only listed ids can be set in it. */
static void clear_table(model *m, uint8_t *table)
{
    for (size_t i = 0; i < m->touched_n; i++)
        table[m->touched[i]] = 0;
}

static void remember(model *m, uint16_t id)
{
    m->recent[m->recent_n % 8] = id;
    m->recent_n++;
}

static bool inside(const void *p, size_t n, const uint8_t *buf, size_t cap)
{
    const uint8_t *b = p;
    return n == 0 || (b >= buf && b <= buf + cap && n <= (size_t)(buf + cap - b));
}

/* An id being handed out must not already be in use. */
static void check_fresh_id(const model *m, uint16_t id)
{
    FUZZ_CHECK(id != 0);
    FUZZ_CHECK(!(m->out[id] && !m->maybe[id]));
    FUZZ_CHECK(!m->sub[id]);
}

static void forget_all(model *m)
{
    for (size_t i = 0; i < m->touched_n; i++) {
        uint16_t id = m->touched[i];
        m->out[id] = 0;
        m->maybe[id] = 0;
        m->sub[id] = 0;
        m->in2[id] = 0;
        m->issued[id] = 0;
        m->listed[id] = 0;
    }
    m->touched_n = 0;
    m->inflight = 0;
    m->in2_count = 0;
}

static void do_publish(model *m, uint8_t qos, uint8_t topic_sel, size_t payload_len);

static void on_event(void *user, const midge_event *ev)
{
    model *m = user;

    /* 'no event after FAILED': CLOSED is the last word of a connection. */
    FUZZ_CHECK(!m->closed);
    FUZZ_CHECK(!m->failed_pub || ev->type == MIDGE_EV_CLOSED);
    switch (ev->type) {
    case MIDGE_EV_CONNACK:
        FUZZ_CHECK(!m->connacked);
        m->connacked = true;
        m->accepted = ev->status == MIDGE_OK;
        FUZZ_CHECK(ev->status == -(int)ev->connack.return_code);
        /* No session on the broker: the incoming QoS 2 table is gone. */
        if (m->accepted && !ev->connack.session_present) {
            clear_table(m, m->in2);
            m->in2_count = 0;
        }
        break;
    case MIDGE_EV_MESSAGE: {
        const midge_publish *p = &ev->message;
        FUZZ_CHECK(m->accepted);
        FUZZ_CHECK(p->qos <= 2 && (p->qos == 0) == (p->packet_id == 0));
        FUZZ_CHECK(ev->packet_id == p->packet_id);
        FUZZ_CHECK(inside(p->topic, p->topic_len, m->rx, m->rx_size));
        FUZZ_CHECK(inside(p->payload, p->payload_len, m->rx, m->rx_size));
        FUZZ_CHECK(midge_topic_name_valid(p->topic, p->topic_len));
        FUZZ_CHECK(!(m->hold && p->qos != 0));
        if (p->qos == 2) {
            FUZZ_CHECK(!m->in2[p->packet_id]); /* delivered once until PUBREL */
            set_id(m, m->in2, p->packet_id);
            m->in2_count++;
            FUZZ_CHECK(m->in2_count <= m->qos2_cap);
        }
        /* The callback may publish (session.h); it must not disturb the
         * acknowledgement already queued for this message. */
        if (m->reply_from_callback)
            do_publish(m, p->qos != 0 ? 1 : 0, 0, p->payload_len % 16);
        break;
    }
    case MIDGE_EV_PUBLISH_FAILED:
        FUZZ_CHECK(ev->status == MIDGE_ERR_WRONG_ACK);
        m->failed_pub = true;
        /* fall through: the message is gone from the store all the same */
    case MIDGE_EV_PUBLISHED:
        FUZZ_CHECK(m->out[ev->packet_id]);
        m->out[ev->packet_id] = 0;
        m->maybe[ev->packet_id] = 0;
        FUZZ_CHECK(m->inflight > 0);
        m->inflight--;
        break;
    case MIDGE_EV_SUBACK:
        FUZZ_CHECK(ev->suback.count >= 1);
        FUZZ_CHECK(inside(ev->suback.codes, ev->suback.count, m->rx, m->rx_size));
        /* fall through */
    case MIDGE_EV_UNSUBACK:
        FUZZ_CHECK(m->sub[ev->packet_id]);
        m->sub[ev->packet_id] = 0;
        break;
    case MIDGE_EV_PINGRESP:
        break;
    case MIDGE_EV_SESSION_LOST:
        FUZZ_CHECK(ev->session_lost.discarded > 0);
        /* Only a count is given: re-read the store, and stop insisting on
         * the identity of the ids that were in flight. */
        FUZZ_CHECK(midge_session_inflight(&m->s) <= m->inflight);
        m->inflight = midge_session_inflight(&m->s);
        /* maybe[] = out[], over the only ids either can be set for. */
        for (size_t i = 0; i < m->touched_n; i++)
            m->maybe[m->touched[i]] = m->out[m->touched[i]];
        clear_table(m, m->in2);
        m->in2_count = 0;
        break;
    case MIDGE_EV_CLOSED:
        FUZZ_CHECK(ev->status < 0);
        FUZZ_CHECK(!m->failed_pub || ev->status == MIDGE_ERR_WRONG_ACK);
        m->closed = true;
        m->failed_pub = false;
        break;
    default:
        FUZZ_CHECK(!"unknown event");
    }
}

/* Every packet queued or decoded is whole and well-formed. */
static void on_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    model *m = user;
    midge_decode_result r;

    if (outgoing) {
        midge_client_packet cp;
        r = midge_codec_decode_from_client(packet, len, &cp);
        FUZZ_CHECK(r.outcome == MIDGE_DECODE_COMPLETE && r.used == len);
        /* PUBCOMP ends an incoming QoS 2 exchange (4.3.3 method B). */
        if (cp.type == MIDGE_PUBCOMP && m->in2[cp.packet_id]) {
            m->in2[cp.packet_id] = 0;
            m->in2_count--;
        }
    } else {
        midge_packet p;
        r = midge_codec_decode(packet, len, &p);
        FUZZ_CHECK(r.outcome == MIDGE_DECODE_COMPLETE && r.used == len);
    }
}

/* The broker's view of the bytes handed to the transport. */
static void wire_take(model *m, const uint8_t *data, size_t n)
{
    FUZZ_CHECK(m->wire_len + n <= WIRE_CAP);
    memcpy(m->wire + m->wire_len, data, n);
    m->wire_len += n;
    size_t off = 0;
    for (;;) {
        midge_client_packet cp;
        midge_decode_result r =
            midge_codec_decode_from_client(m->wire + off, m->wire_len - off, &cp);
        FUZZ_CHECK(r.outcome != MIDGE_DECODE_MALFORMED);
        if (r.outcome != MIDGE_DECODE_COMPLETE)
            break;
        /* 3.1.0-1 / 3.1.4: CONNECT first; nothing else until CONNACK. */
        FUZZ_CHECK((m->wire_packets == 0) == (cp.type == MIDGE_CONNECT));
        FUZZ_CHECK(cp.type == MIDGE_CONNECT || m->accepted);
        /* Not PUBREL: a PUBREC for an unknown id is answered with PUBREL
         * on purpose (session_rx.c, section 4.3.3). */
        if ((cp.type == MIDGE_PUBLISH && cp.publish.qos != 0) || cp.type == MIDGE_SUBSCRIBE ||
            cp.type == MIDGE_UNSUBSCRIBE)
            FUZZ_CHECK(m->issued[cp.packet_id]);
        m->wire_packets++;
        off += r.used;
    }
    memmove(m->wire, m->wire + off, m->wire_len - off);
    m->wire_len -= off;
}

static void check_steady(model *m)
{
    const uint8_t *data = NULL;
    size_t n = midge_session_pending(&m->s, &data);

    FUZZ_CHECK(n <= m->tx_size);
    FUZZ_CHECK(n == 0 || inside(data, n, m->tx, m->tx_size));
    FUZZ_CHECK(midge_session_inflight(&m->s) == m->inflight);
    FUZZ_CHECK((midge_session_state(&m->s) == MIDGE_SESSION_FAILED) == m->closed);
    FUZZ_CHECK(midge_session_is_connected(&m->s) ==
               (midge_session_state(&m->s) == MIDGE_SESSION_CONNECTED));
    uint32_t next = midge_session_next_timeout(&m->s, m->now);
    if (midge_session_state(&m->s) == MIDGE_SESSION_CONNECTED && m->opts.keepalive_s != 0)
        FUZZ_CHECK(next <= (uint32_t)m->opts.keepalive_s * 1500u);
}

static const char *const topics[] = {"t/a", "dev/1/state", "$SYS/x", "a/+", ""};

static void do_publish(model *m, uint8_t qos, uint8_t topic_sel, size_t payload_len)
{
    static const uint8_t payload[64] = "0123456789abcdef0123456789abcdef0123456789abcdef012345678";
    midge_publish msg = {0};
    uint16_t id = 0xFFFF;

    msg.topic = topics[topic_sel % 5];
    msg.topic_len = (uint16_t)strlen(msg.topic);
    msg.qos = qos;
    msg.payload = payload;
    msg.payload_len = payload_len % sizeof payload;
    midge_status st = midge_session_publish(&m->s, &msg, &id, m->now);
    if (st != MIDGE_OK) {
        FUZZ_CHECK(st == MIDGE_AGAIN || st == MIDGE_ERR_NOT_CONNECTED ||
                   st == MIDGE_ERR_NO_SPACE || st == MIDGE_ERR_INVALID);
        return;
    }
    if (qos == 0) {
        FUZZ_CHECK(id == 0);
        return;
    }
    check_fresh_id(m, id);
    set_id(m, m->out, id);
    m->maybe[id] = 0;
    set_id(m, m->issued, id);
    m->inflight++;
    remember(m, id);
}

static void do_subscribe(model *m, fuzz_input *in, bool unsub)
{
    static const char *const filters[] = {"t/#", "+/state", "dev/1/cmd/+", "#", "bad/#/x"};
    uint8_t sel = fuzz_u8(in);
    size_t count = 1 + (sel & 1);
    midge_subscription subs[2];
    const char *names[2];
    uint16_t id = 0;

    for (size_t i = 0; i < count; i++) {
        names[i] = filters[(sel >> (1 + 3 * i)) % 5];
        subs[i].filter = names[i];
        subs[i].qos = (uint8_t)((sel >> 7) + i);
    }
    midge_status st = unsub ? midge_session_unsubscribe(&m->s, names, count, &id, m->now)
                            : midge_session_subscribe(&m->s, subs, count, &id, m->now);
    if (st != MIDGE_OK)
        return;
    check_fresh_id(m, id);
    set_id(m, m->sub, id);
    set_id(m, m->issued, id);
    remember(m, id);
}

static void drain(model *m, size_t want)
{
    const uint8_t *data = NULL;
    size_t n = midge_session_pending(&m->s, &data);

    if (want > n)
        want = n;
    if (want != 0)
        wire_take(m, data, want);
    midge_session_sent(&m->s, want, m->now);
}

static void feed(model *m, const uint8_t *bytes, size_t n)
{
    size_t used = 0;
    midge_status st = midge_session_feed(&m->s, bytes, n, &used, m->now);

    FUZZ_CHECK(used <= n);
    FUZZ_CHECK(st <= MIDGE_OK || st == MIDGE_AGAIN);
}

static void new_connection(model *m)
{
    m->closed = false;
    m->connacked = false;
    m->accepted = false;
    m->wire_len = 0;
    m->wire_packets = 0;
    clear_table(m, m->sub); /* never resent (4.4) */
}

/* Transport gone, a new one opened, CONNECT drained, a CONNACK answered. */
static void reconnect(model *m, uint8_t how)
{
    if (how & 1)
        midge_session_transport_lost(&m->s);
    new_connection(m);
    if (midge_session_connect(&m->s, &m->opts, m->now) != MIDGE_OK)
        return;
    drain(m, m->tx_size);
    /* Mostly accepted, sometimes refused or invalid; session present as
     * the fuzzer says, even where the broker must not say so. */
    uint8_t code = (how >> 1) < 100 ? 0 : (uint8_t)((how >> 1) % 7);
    uint8_t connack[4] = {0x20, 0x02, (uint8_t)((how >> 7) & 1), code};
    if (code != 0)
        connack[2] = 0;
    feed(m, connack, sizeof connack);
}

/* A well-formed broker packet for an id in flight (or near one), so that
 * the acknowledgement paths are reached without the fuzzer having to
 * guess two-byte ids. */
static void synth(model *m, fuzz_input *in)
{
    uint8_t kind = fuzz_u8(in);
    uint8_t pick = fuzz_u8(in);
    uint16_t id = m->recent_n != 0 ? m->recent[pick % 8 % (m->recent_n < 8 ? m->recent_n : 8)]
                                   : 1;
    uint8_t pkt[16];
    size_t n = 4;

    if (pick & 0x80)
        id = (uint16_t)(1 + (pick & 3)); /* small ids collide on purpose */
    pkt[1] = 2;
    pkt[2] = (uint8_t)(id >> 8);
    pkt[3] = (uint8_t)id;
    switch (kind % 8) {
    case 0:
        pkt[0] = 0x40; /* PUBACK */
        break;
    case 1:
        pkt[0] = 0x50; /* PUBREC */
        break;
    case 2:
        pkt[0] = 0x62; /* PUBREL */
        break;
    case 3:
        pkt[0] = 0x70; /* PUBCOMP */
        break;
    case 4:
        pkt[0] = 0x90; /* SUBACK, two codes */
        pkt[1] = 4;
        pkt[4] = kind & 0x10 ? 0x80 : 1;
        pkt[5] = 0;
        n = 6;
        break;
    case 5:
        pkt[0] = 0xB0; /* UNSUBACK */
        break;
    case 6:
        pkt[0] = 0xD0; /* PINGRESP */
        pkt[1] = 0;
        n = 2;
        break;
    default: {
        /* PUBLISH "t/a" at QoS 0..2, retain as chosen, 3 payload bytes. */
        uint8_t qos = (kind >> 3) % 3;
        pkt[0] = (uint8_t)(0x30 | qos << 1 | ((kind >> 5) & 1));
        size_t k = 2;
        pkt[k++] = 0;
        pkt[k++] = 3;
        memcpy(pkt + k, "t/a", 3);
        k += 3;
        if (qos != 0) {
            pkt[k++] = (uint8_t)(id >> 8);
            pkt[k++] = (uint8_t)id;
        }
        memcpy(pkt + k, "xyz", 3);
        k += 3;
        pkt[1] = (uint8_t)(k - 2);
        n = k;
        break;
    }
    }
    feed(m, pkt, n);
}

static void run(model *m, fuzz_input *in)
{
    while (in->left > 0) {
        uint8_t op = fuzz_u8(in);
        size_t n = 0;
        const uint8_t *bytes;
        uint8_t *space = NULL;

        switch (op % 13) {
        case 0: /* raw broker bytes, copied in */
            bytes = fuzz_run8(in, &n);
            feed(m, bytes, n);
            break;
        case 1: /* raw broker bytes, zero-copy */
            bytes = fuzz_run8(in, &n);
            {
                size_t room = midge_session_rx_space(&m->s, &space);
                FUZZ_CHECK(room <= m->rx_size);
                if (n > room)
                    n = room;
                if (n != 0)
                    memcpy(space, bytes, n);
                midge_status st = midge_session_received(&m->s, n, m->now);
                FUZZ_CHECK(st <= MIDGE_OK);
            }
            break;
        case 2:
        case 3: {
            uint8_t a = fuzz_u8(in);
            do_publish(m, a % 3, (uint8_t)(a >> 2), fuzz_u8(in));
            break;
        }
        case 4:
            do_subscribe(m, in, false);
            break;
        case 5:
            do_subscribe(m, in, true);
            break;
        case 6: /* time passes: up to about 65 s, then the timers run */
            m->now += fuzz_u16(in);
            (void)midge_session_tick(&m->s, m->now);
            break;
        case 7:
        case 8:
            drain(m, fuzz_u16(in) % 512);
            break;
        case 9:
            reconnect(m, fuzz_u8(in));
            break;
        case 10:
            (void)midge_session_ping(&m->s, m->now);
            break;
        case 11:
            synth(m, in);
            break;
        default: {
            uint8_t what = fuzz_u8(in);
            if (what < 8) {
                midge_session_reset(&m->s);
                forget_all(m);
                new_connection(m);
            } else if (what < 64) {
                (void)midge_session_disconnect(&m->s, m->now);
            } else if (what < 96) {
                /* Hold or release; a release takes effect on the next
                 * receive, here one with no bytes. */
                m->hold = (what & 1) != 0;
                midge_session_hold(&m->s, m->hold);
                FUZZ_CHECK(midge_session_received(&m->s, 0, m->now) <= MIDGE_OK);
            } else {
                synth(m, in);
            }
            break;
        }
        }
        check_steady(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static model m; /* ~500 KB of id tables: static, and zero at start */
    fuzz_input in = fuzz_input_make(data, size);

    /* The previous input's ids, then everything before the tables. */
    forget_all(&m);
    memset(&m, 0, offsetof(model, out));
    uint8_t c0 = fuzz_u8(&in), c1 = fuzz_u8(&in), c2 = fuzz_u8(&in), c3 = fuzz_u8(&in);
    m.tx_size = 32 + (c0 % 64) * 4u;
    m.rx_size = 4 + c1;
    size_t store_size = (c2 % 32) * 16u;
    m.qos2_cap = c3 % 5;
    static const uint16_t keepalives[4] = {0, 1, 5, 60};
    m.opts.client_id = "fuzz-client";
    m.opts.keepalive_s = keepalives[(c3 >> 3) & 3];
    m.opts.clean_session = (c3 & 0x80) != 0;
    m.reply_from_callback = (c3 & 0x40) != 0;
    /* Start near the wrap of the millisecond clock (DESIGN.md: wrap-safe). */
    m.now = 0xFFFF0000u + (uint32_t)fuzz_u8(&in) * 256u;

    /* Exact-size heap buffers: AddressSanitizer sees any overrun. */
    m.tx = malloc(m.tx_size);
    m.rx = malloc(m.rx_size);
    m.store = store_size != 0 ? malloc(store_size) : NULL;
    m.qos2_ids = m.qos2_cap != 0 ? malloc(m.qos2_cap * sizeof *m.qos2_ids) : NULL;
    FUZZ_CHECK(m.tx != NULL && m.rx != NULL);
    midge_session_buffers bufs = {m.tx,    m.tx_size, m.rx,       m.rx_size,
                                  m.store, store_size, m.qos2_ids, m.qos2_cap};
    midge_session_init(&m.s, &bufs, on_event, &m);
    midge_session_set_trace(&m.s, on_trace);

    /* Connected and acknowledged before the script starts. */
    reconnect(&m, 0);
    check_steady(&m);
    run(&m, &in);

    free(m.tx);
    free(m.rx);
    free(m.store);
    free(m.qos2_ids);
    return 0;
}
