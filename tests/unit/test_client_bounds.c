/*
 * The blocking client's bound (call_timeout_ms), driven by a scripted
 * transport and a fake clock: publish, subscribe, unsubscribe and ping
 * return MIDGE_TIMEOUT or MIDGE_ERR_INTERRUPTED with nothing lost, and a
 * message not taken is not queued. On the same rig, what else must not
 * get lost: a message arriving with the CONNACK before a callback is set,
 * and a publish the broker acknowledges with the wrong QoS (reported).
 *
 * The clock: this test is the platform (midge/platform.h) and supplies
 * the client's clock and idle hook itself. The clock reads real monotonic
 * time plus a skew that the fake transport adds to whenever the client
 * waits for something that is not coming, and that the idle hook adds to
 * for the backoff: a wait of 30 s costs no real time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "midge/codec_server.h"
#include "midge/midge.h"

#define NET_IN_MAX 1024
#define NET_OUT_MAX 8192
#define NET_LATER_MAX 4
#define SENT_MAX 32
/* A wait longer than this with nothing scripted would hang a real client:
 * the test fails instead. */
#define NET_WAIT_LIMIT_MS 1000000000u
/* More opener calls or waits after a stop than any bounded call makes
 * here: a call that would loop forever fails instead. */
#define NET_CALLS_MAX 2000u
/* How far past its bound a call may return (the fake clock also counts
 * real time spent, a few milliseconds). */
#define SLACK_MS 500u

static uint32_t clock_skew_ms;

static uint32_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static uint32_t fake_ms(void) { return real_ms() + clock_skew_ms; }

static uint32_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_ms();
}

/* The backoff passes without sleeping. */
static void fake_idle(void *ctx, uint32_t ms)
{
    (void)ctx;
    clock_skew_ms += ms;
}

static const midge_platform fake_platform = { fake_clock, fake_idle, NULL };

/* --- the scripted broker side --------------------------------------------- */

typedef struct net_later {
    uint32_t at; /* fake time of arrival */
    uint8_t bytes[8];
    size_t len;
} net_later;

typedef struct fake_net {
    uint8_t in[NET_IN_MAX]; /* what the broker has sent, not yet read */
    size_t in_len, in_off;
    net_later later[NET_LATER_MAX]; /* what it will send, in time order */
    size_t later_count;
    uint8_t out[NET_OUT_MAX]; /* everything the client sent, all connections */
    size_t out_len;
    size_t conn_start; /* where the current connection's bytes begin in out */
    size_t send_room;  /* bytes the socket still takes; SIZE_MAX = any */
    bool dead;         /* the connection broke: recv fails */
    bool refuse;       /* the opener fails, after open_cost_ms */
    bool silent;       /* no CONNACK for a CONNECT */
    bool session_present;
    uint8_t greeting[16]; /* sent right behind the CONNACK, same read */
    size_t greeting_len;
    uint32_t open_cost_ms;
    unsigned attempts; /* opener calls */
    unsigned opens;    /* of those, transports handed out */
    bool stop; /* a signal: waits end at once, interrupted() says true */
    unsigned stopped_waits;
} fake_net;

static long net_send(void *ctx, const uint8_t *buf, size_t len)
{
    fake_net *n = ctx;
    if (n->dead)
        return MIDGE_ERR_CLOSED;
    if (len > n->send_room)
        len = n->send_room;
    assert_true(n->out_len + len <= sizeof n->out);
    memcpy(n->out + n->out_len, buf, len);
    n->out_len += len;
    if (n->send_room != SIZE_MAX)
        n->send_room -= len;
    return (long)len;
}

static long net_recv(void *ctx, uint8_t *buf, size_t len)
{
    fake_net *n = ctx;
    if (n->dead)
        return MIDGE_ERR_CLOSED;
    size_t have = n->in_len - n->in_off;
    if (len > have)
        len = have;
    memcpy(buf, n->in + n->in_off, len);
    n->in_off += len;
    return (long)len;
}

static void net_arrive(fake_net *n, const uint8_t *bytes, size_t len)
{
    assert_true(n->in_len + len <= sizeof n->in);
    memcpy(n->in + n->in_len, bytes, len);
    n->in_len += len;
}

/* Ready at once when something can move; else time passes (skew) up to
 * the next scripted arrival or the timeout, without sleeping. */
static int net_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    fake_net *n = ctx;
    if (n->dead || n->in_off < n->in_len || (want_send && n->send_room > 0))
        return 1;
    if (n->stop) {
        assert_true(++n->stopped_waits < NET_CALLS_MAX);
        return 0; /* as poll() cut short by the signal */
    }
    uint32_t now = fake_ms();
    if (n->later_count > 0) {
        net_later *l = &n->later[0];
        int32_t until = (int32_t)(l->at - now);
        if (until <= 0 || (uint32_t)until <= timeout_ms) {
            if (until > 0)
                clock_skew_ms += (uint32_t)until;
            net_arrive(n, l->bytes, l->len);
            n->later_count--;
            memmove(n->later, n->later + 1, n->later_count * sizeof *l);
            return 1;
        }
    }
    assert_true(timeout_ms < NET_WAIT_LIMIT_MS);
    clock_skew_ms += timeout_ms;
    return 0;
}

static void net_close(void *ctx) { (void)ctx; }

static midge_status net_open(void *opener, const char *host, uint16_t port, uint32_t timeout_ms,
                             midge_transport *t)
{
    fake_net *n = opener;
    (void)host;
    (void)port;
    (void)timeout_ms;
    assert_true(++n->attempts < NET_CALLS_MAX);
    if (n->refuse) {
        clock_skew_ms += n->open_cost_ms;
        return MIDGE_ERR_CONNECT;
    }
    n->opens++;
    n->dead = false;
    n->in_len = n->in_off = 0;
    n->conn_start = n->out_len;
    /* The CONNECT is sent before anything is read: answering it now is
     * the same as answering once it arrives. */
    if (!n->silent) {
        const uint8_t connack[] = {0x20, 0x02, n->session_present ? 1 : 0, 0x00};
        net_arrive(n, connack, sizeof connack);
        net_arrive(n, n->greeting, n->greeting_len);
    }
    *t = (midge_transport){net_send, net_recv, net_wait, net_close, n};
    return MIDGE_OK;
}

/* Bytes the broker will send `after_ms` from now. */
static void net_later_add(fake_net *n, uint32_t after_ms, const uint8_t *bytes, size_t len)
{
    assert_true(n->later_count < NET_LATER_MAX && len <= sizeof n->later[0].bytes);
    net_later *l = &n->later[n->later_count++];
    l->at = fake_ms() + after_ms;
    memcpy(l->bytes, bytes, len);
    l->len = len;
}

static bool net_interrupted(void *user)
{
    const fake_net *n = user;
    return n->stop;
}

/* --- what the client sent ---------------------------------------------------- */

typedef struct sent {
    uint8_t type;
    bool dup;
    uint16_t id;
    char payload[16];
} sent;

/* Decode the client's bytes from `from` on; returns the packet count. */
static size_t net_sent(const fake_net *n, size_t from, sent *list)
{
    size_t count = 0;
    while (from < n->out_len && count < SENT_MAX) {
        midge_client_packet p;
        midge_decode_result r =
            midge_codec_decode_from_client(n->out + from, n->out_len - from, &p);
        assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
        sent *s = &list[count++];
        memset(s, 0, sizeof *s);
        s->type = p.type;
        s->id = p.packet_id;
        if (p.type == MIDGE_PUBLISH) {
            s->dup = p.publish.dup;
            size_t len = p.publish.payload_len < sizeof s->payload - 1 ? p.publish.payload_len
                                                                       : sizeof s->payload - 1;
            memcpy(s->payload, p.publish.payload, len);
        }
        from += r.used;
    }
    return count;
}

static size_t count_type(const sent *list, size_t count, uint8_t type)
{
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        k += list[i].type == type;
    return k;
}

/* --- the client under test --------------------------------------------------- */

typedef struct rig {
    fake_net net;
    midge_client client;
    midge_client_config cfg;
    uint8_t tx[512];
    uint8_t rx[512];
    uint8_t store[512];
    uint16_t qos2[4];
} rig;

/* A PUBLISH of "a/b" with a 2-byte payload and a packet id is 11 bytes. */
#define RECORD_SIZE (11u + MIDGE_STORE_RECORD_OVERHEAD)

static int rig_setup(void **state)
{
    static rig r;
    memset(&r, 0, sizeof r);
    r.net.send_room = SIZE_MAX;
    r.cfg.host = "fake";
    r.cfg.port = 1883;
    r.cfg.connect.client_id = "bounds";
    r.cfg.connect.keepalive_s = 0; /* no timer but the ones under test */
    r.cfg.connect.clean_session = false;
    r.cfg.connack_timeout_ms = 10000;
    r.cfg.backoff_min_ms = 2;
    r.cfg.backoff_max_ms = 4;
    r.cfg.open = net_open;
    r.cfg.opener = &r.net;
    r.cfg.platform = &fake_platform;
    r.cfg.interrupted = net_interrupted;
    r.cfg.interrupt_user = &r.net;
    *state = &r;
    return 0;
}

static void rig_init(rig *r)
{
    midge_session_buffers bufs = {
        .tx = r->tx, .tx_size = sizeof r->tx,
        .rx = r->rx, .rx_size = sizeof r->rx,
        .store = r->store, .store_size = 2 * RECORD_SIZE, /* two in flight fill it */
        .rx_qos2_ids = r->qos2, .rx_qos2_cap = 4,
    };
    assert_int_equal(midge_client_init(&r->client, &r->cfg, &bufs), MIDGE_OK);
}

static void rig_connect(rig *r)
{
    rig_init(r);
    assert_int_equal(midge_client_connect(&r->client, NULL), MIDGE_OK);
}

static midge_status publish(rig *r, const char *payload, uint16_t *id)
{
    return midge_client_publish(&r->client, "a/b", payload, strlen(payload), 1, false, id);
}

/* Fill the store: two QoS 1 messages sent and not acknowledged. */
static void fill_store(rig *r)
{
    uint16_t id = 0;
    assert_int_equal(publish(r, "m1", &id), MIDGE_OK);
    assert_int_equal(id, 1);
    assert_int_equal(publish(r, "m2", &id), MIDGE_OK);
    assert_int_equal(id, 2);
    assert_int_equal(midge_session_inflight(&r->client.session), 2);
}

/* Fake milliseconds since `start`. */
static uint32_t since(uint32_t start) { return fake_ms() - start; }

static void assert_returned_at(uint32_t start, uint32_t bound)
{
    uint32_t spent = since(start);
    if (spent < bound || spent > bound + SLACK_MS)
        fail_msg("returned after %u ms, the bound is %u ms", (unsigned)spent, (unsigned)bound);
}

/* --- publish ------------------------------------------------------------------ */

static void test_publish_into_full_store_times_out_at_the_bound_and_takes_nothing(void **state)
{
    static const uint8_t puback1[] = {0x40, 0x02, 0x00, 0x01};
    rig *r = *state;
    sent list[SENT_MAX];
    uint16_t id = 0;

    r->cfg.call_timeout_ms = 2000;
    rig_connect(r);
    fill_store(r);

    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m3", &id), MIDGE_TIMEOUT);
    assert_returned_at(start, 2000);
    /* Nothing of m3 went anywhere; m1 and m2 wait in the store as before. */
    assert_int_equal(midge_session_inflight(&r->client.session), 2);
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBLISH), 2);
    assert_true(midge_client_is_connected(&r->client));

    /* The broker acknowledges m1: the same call goes through now. */
    net_arrive(&r->net, puback1, sizeof puback1);
    assert_int_equal(publish(r, "m3", &id), MIDGE_OK);
    assert_int_equal(id, 3);
    n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBLISH), 3);
    assert_string_equal(list[n - 1].payload, "m3");
    assert_int_equal(list[n - 1].id, 3);
}

static void test_call_timeout_zero_means_thirty_seconds(void **state)
{
    rig *r = *state;

    r->cfg.call_timeout_ms = 0;
    rig_connect(r);
    fill_store(r);
    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m3", NULL), MIDGE_TIMEOUT);
    assert_returned_at(start, 30000);
}

static void test_call_timeout_uint32_max_waits_as_long_as_it_takes(void **state)
{
    static const uint8_t puback2[] = {0x40, 0x02, 0x00, 0x02};
    rig *r = *state;
    uint16_t id = 0;

    r->cfg.call_timeout_ms = UINT32_MAX;
    rig_connect(r);
    fill_store(r);
    /* Far past the default bound, the broker answers (the clock read
     * first: the answer is due 100 s after `start` or later). */
    uint32_t start = fake_ms();
    net_later_add(&r->net, 100000, puback2, sizeof puback2);
    assert_int_equal(publish(r, "m3", &id), MIDGE_OK);
    assert_true(since(start) >= 100000);
    assert_int_equal(id, 3);
}

static void test_interrupted_publish_returns_at_once_and_takes_nothing(void **state)
{
    rig *r = *state;

    r->cfg.call_timeout_ms = 60000;
    rig_connect(r);
    fill_store(r);
    r->net.stop = true;
    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m3", NULL), MIDGE_ERR_INTERRUPTED);
    assert_true(since(start) < 60000);
    assert_int_equal(midge_session_inflight(&r->client.session), 2);
    assert_true(midge_client_is_connected(&r->client));
}

/* Once taken, the message is the session's: a socket that takes nothing
 * more does not turn that into a timeout the caller would retry. */
static void test_publish_taken_returns_ok_when_the_socket_stays_full(void **state)
{
    rig *r = *state;
    const uint8_t *data;

    r->cfg.call_timeout_ms = 1000;
    rig_connect(r);
    r->net.send_room = 0;
    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m1", NULL), MIDGE_OK);
    assert_returned_at(start, 1000);
    assert_int_equal(midge_session_inflight(&r->client.session), 1);
    assert_true(midge_session_pending(&r->client.session, &data) > 0);

    /* The socket drains: the rest leaves with the next call. */
    r->net.send_room = SIZE_MAX;
    assert_int_equal(midge_client_check_msg(&r->client), MIDGE_OK);
    sent list[SENT_MAX];
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBLISH), 1);
}

/* --- reconnecting inside a call ------------------------------------------------ */

/* Break the connection and let the client notice it (check_msg reads). */
static void break_link(rig *r)
{
    r->net.dead = true;
    r->net.refuse = true;
    r->net.open_cost_ms = 100;
    assert_int_equal(midge_client_check_msg(&r->client), MIDGE_OK);
    assert_false(midge_client_is_connected(&r->client));
}

static void test_publish_while_broker_is_down_times_out_and_stored_messages_are_resent(
    void **state)
{
    rig *r = *state;
    sent list[SENT_MAX];
    uint16_t id = 0;

    r->cfg.call_timeout_ms = 1000;
    r->cfg.auto_reconnect = true;
    rig_connect(r);
    assert_int_equal(publish(r, "m1", &id), MIDGE_OK);
    break_link(r);

    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m2", NULL), MIDGE_TIMEOUT);
    assert_returned_at(start, 1000);
    assert_true(r->net.attempts >= 2); /* it kept trying within the bound */
    assert_int_equal(midge_session_inflight(&r->client.session), 1);

    /* The broker is back with the session: m1 is resent first, with DUP. */
    r->net.refuse = false;
    r->net.session_present = true;
    assert_int_equal(publish(r, "m2", &id), MIDGE_OK);
    assert_int_equal(id, 2);
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].type, MIDGE_CONNECT);
    assert_int_equal(list[1].type, MIDGE_PUBLISH);
    assert_string_equal(list[1].payload, "m1");
    assert_int_equal(list[1].id, 1);
    assert_true(list[1].dup);
    assert_string_equal(list[2].payload, "m2");
    assert_false(list[2].dup);
}

/* A broker that takes the TCP connection but never answers CONNECT: the
 * attempt ends with the call's bound, not with the CONNACK timeout. */
static void test_reconnect_attempt_inside_publish_ends_with_the_bound(void **state)
{
    rig *r = *state;

    r->cfg.call_timeout_ms = 1000;
    r->cfg.connack_timeout_ms = 20000;
    r->cfg.auto_reconnect = true;
    rig_connect(r);
    assert_int_equal(publish(r, "m1", NULL), MIDGE_OK);
    break_link(r);
    r->net.refuse = false;
    r->net.silent = true;

    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m2", NULL), MIDGE_TIMEOUT);
    assert_returned_at(start, 1000);
    assert_true(r->net.opens >= 2);
    assert_int_equal(midge_session_inflight(&r->client.session), 1);
}

/* A loss schedules a retry time; a close on purpose must not leave that
 * time behind: 30 days on, the millisecond clock has moved past 2^31 and an
 * old retry time would read as weeks ahead, stalling every reconnect. */
static void test_abort_weeks_after_a_loss_reconnects_at_once(void **state)
{
    rig *r = *state;
    uint16_t id = 0;

    r->cfg.call_timeout_ms = 1500;
    r->cfg.auto_reconnect = true;
    rig_connect(r);
    break_link(r); /* a loss: a retry time is set */
    r->net.refuse = false;
    assert_int_equal(publish(r, "m1", &id), MIDGE_OK); /* back */
    unsigned opens = r->net.opens;
    clock_skew_ms += 30u * 24u * 3600u * 1000u;
    assert_int_equal(midge_client_abort(&r->client), MIDGE_OK);

    uint32_t start = fake_ms();
    assert_int_equal(publish(r, "m2", &id), MIDGE_OK);
    assert_true(since(start) < 1500);
    assert_int_equal(r->net.opens, opens + 1);
}

/* --- subscribe, unsubscribe, ping ----------------------------------------------- */

static void test_subscribe_without_suback_times_out_at_the_shorter_bound(void **state)
{
    rig *r = *state;

    r->cfg.call_timeout_ms = 1500;
    r->cfg.connack_timeout_ms = 5000;
    rig_connect(r);
    uint32_t start = fake_ms();
    assert_int_equal(midge_client_subscribe(&r->client, "s/#", 1), MIDGE_TIMEOUT);
    assert_returned_at(start, 1500);
    assert_int_equal(r->client.sub_count, 0); /* not granted: not renewed */
    assert_true(midge_client_is_connected(&r->client));

    /* The CONNACK timeout still bounds the SUBACK wait when shorter. */
    r->cfg.call_timeout_ms = 5000;
    r->cfg.connack_timeout_ms = 1500;
    rig_connect(r);
    start = fake_ms();
    assert_int_equal(midge_client_subscribe(&r->client, "s/#", 1), MIDGE_TIMEOUT);
    assert_returned_at(start, 1500);
}

static void test_subscribe_while_broker_is_down_waits_for_it_within_the_bound(void **state)
{
    static const uint8_t suback[] = {0x90, 0x03, 0x00, 0x01, 0x01};
    rig *r = *state;

    r->cfg.call_timeout_ms = 1000;
    r->cfg.auto_reconnect = true;
    rig_connect(r);
    break_link(r);
    uint32_t start = fake_ms();
    assert_int_equal(midge_client_subscribe(&r->client, "s/#", 1), MIDGE_TIMEOUT);
    assert_returned_at(start, 1000);

    /* Back again: the subscription is made on the new connection. */
    r->net.refuse = false;
    net_later_add(&r->net, 10, suback, sizeof suback);
    assert_int_equal(midge_client_subscribe(&r->client, "s/#", 1), MIDGE_OK);
    assert_int_equal(r->client.sub_count, 1);
}

static void test_interrupted_subscribe_and_unsubscribe_stop_waiting(void **state)
{
    rig *r = *state;

    r->cfg.call_timeout_ms = 60000;
    rig_connect(r);
    r->net.stop = true;
    uint32_t start = fake_ms();
    assert_int_equal(midge_client_subscribe(&r->client, "s/#", 1), MIDGE_ERR_INTERRUPTED);
    assert_int_equal(midge_client_unsubscribe(&r->client, "s/#"), MIDGE_ERR_INTERRUPTED);
    assert_true(since(start) < 60000);
    assert_true(midge_client_is_connected(&r->client));
}

static void test_unsubscribe_without_unsuback_times_out_and_forgets_the_filter(void **state)
{
    static const uint8_t suback[] = {0x90, 0x03, 0x00, 0x01, 0x01};
    rig *r = *state;

    r->cfg.call_timeout_ms = 1000;
    rig_connect(r);
    net_arrive(&r->net, suback, sizeof suback);
    assert_int_equal(midge_client_subscribe(&r->client, "s/#", 1), MIDGE_OK);
    assert_int_equal(r->client.sub_count, 1);
    uint32_t start = fake_ms();
    assert_int_equal(midge_client_unsubscribe(&r->client, "s/#"), MIDGE_TIMEOUT);
    assert_returned_at(start, 1000);
    assert_int_equal(r->client.sub_count, 0);
}

static void test_ping_into_a_full_socket_times_out_and_is_sent_later(void **state)
{
    rig *r = *state;
    sent list[SENT_MAX];
    const uint8_t *data;

    r->cfg.call_timeout_ms = 1000;
    rig_connect(r);
    r->net.send_room = 0;
    uint32_t start = fake_ms();
    assert_int_equal(midge_client_ping(&r->client), MIDGE_TIMEOUT);
    assert_returned_at(start, 1000);
    assert_int_equal(midge_session_pending(&r->client.session, &data), 2);

    r->net.send_room = SIZE_MAX;
    assert_int_equal(midge_client_check_msg(&r->client), MIDGE_OK);
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PINGREQ), 1);
}

/* tx full of QoS 0 bytes the socket will not take: ping waits for room
 * like every bounded call, then times out. */
static void test_ping_into_a_full_tx_waits_for_room_within_the_bound(void **state)
{
    rig *r = *state;
    char big[248];
    const uint8_t *data;

    r->cfg.call_timeout_ms = 1000;
    rig_connect(r);
    r->net.send_room = 0;
    memset(big, 'x', sizeof big);
    /* Two PUBLISHes of 256 bytes (1 + 2 length bytes + 2 + "a/b" + 248)
     * fill the 512-byte tx exactly; the socket takes none of it. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(midge_client_publish(&r->client, "a/b", big, sizeof big, 0, false, NULL),
                         MIDGE_OK);
    assert_int_equal(midge_session_pending(&r->client.session, &data), sizeof r->tx);
    uint32_t start = fake_ms();
    assert_int_equal(midge_client_ping(&r->client), MIDGE_TIMEOUT);
    assert_returned_at(start, 1000);
}

/* --- nothing acknowledged is lost ----------------------------------------------- */

typedef struct seen {
    size_t messages;
    char payload[8];
    size_t failed;
    uint16_t failed_id;
} seen;

static void seen_message(void *user, const midge_publish *msg)
{
    seen *k = user;
    k->messages++;
    size_t n = msg->payload_len < sizeof k->payload - 1 ? msg->payload_len
                                                        : sizeof k->payload - 1;
    memcpy(k->payload, msg->payload, n);
    k->payload[n] = '\0';
}

static void seen_event(void *user, const midge_event *ev)
{
    seen *k = user;
    if (ev->type == MIDGE_EV_PUBLISH_FAILED) {
        k->failed++;
        k->failed_id = ev->packet_id;
        assert_int_equal(ev->status, MIDGE_ERR_WRONG_ACK);
    }
}

/* A persistent session's queued message comes in the CONNACK's read, while
 * connect is still running and no callback is set yet. */
static void test_message_with_the_connack_waits_unacknowledged_for_a_callback(void **state)
{
    static const uint8_t queued[] = {0x32, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x05, 'q'};
    rig *r = *state;
    sent list[SENT_MAX];
    seen k = {0};

    r->net.session_present = true;
    memcpy(r->net.greeting, queued, sizeof queued);
    r->net.greeting_len = sizeof queued;
    rig_connect(r);
    assert_int_equal(midge_client_check_msg(&r->client), MIDGE_OK);
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBACK), 0);

    midge_client_set_callback(&r->client, seen_message, &k);
    assert_int_equal(midge_client_check_msg(&r->client), MIDGE_OK);
    assert_int_equal(k.messages, 1);
    assert_string_equal(k.payload, "q");
    n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBACK), 1);
    assert_int_equal(list[n - 1].type, MIDGE_PUBACK);
    assert_int_equal(list[n - 1].id, 5);
}

/* midge_client_hold: messages wait; the PUBACKs of our publishes do not. */
static void test_held_client_reads_acks_and_delivers_after_release(void **state)
{
    static const uint8_t incoming[] = {0x32, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x09, 'h',
                                       0x40, 0x02, 0x00, 0x01};
    rig *r = *state;
    sent list[SENT_MAX];
    seen k = {0};

    rig_connect(r);
    midge_client_set_callback(&r->client, seen_message, &k);
    midge_client_hold(&r->client, true);
    assert_int_equal(publish(r, "m1", NULL), MIDGE_OK);
    net_arrive(&r->net, incoming, sizeof incoming);
    assert_int_equal(midge_client_flush(&r->client, 1000), MIDGE_OK);
    assert_int_equal(k.messages, 0);
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBACK), 0);

    midge_client_hold(&r->client, false);
    assert_int_equal(midge_client_poll(&r->client, 1000), MIDGE_OK);
    assert_int_equal(k.messages, 1);
    n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(list[n - 1].type, MIDGE_PUBACK);
    assert_int_equal(list[n - 1].id, 9);
}

/* A PUBLISH of "a/b", QoS 1, id `id`, with a payload of `len` bytes of 'p'
 * (at most 120: a one-byte remaining length); returns its size. */
static size_t publish1(uint8_t *out, uint16_t id, size_t len)
{
    size_t n = 0;
    out[n++] = 0x32;
    out[n++] = (uint8_t)(2 + 3 + 2 + len);
    memcpy(out + n, "\x00\x03" "a/b", 5);
    n += 5;
    out[n++] = (uint8_t)(id >> 8);
    out[n++] = (uint8_t)id;
    memset(out + n, 'p', len);
    return n + len;
}

/* The broker sends more held messages than rx holds ahead of the PUBACK a
 * flush waits for (as mosquitto sends a client's whole queue): they are
 * dropped unacknowledged, the PUBACK read, and the connection renewed
 * once the hold ends, so that the broker sends them again. */
static void test_held_messages_ahead_of_an_awaited_puback_are_dropped_and_come_again(void **state)
{
    static const uint8_t puback1[] = {0x40, 0x02, 0x00, 0x01};
    rig *r = *state;
    uint8_t burst[4 * 140];
    size_t n = 0;
    sent list[SENT_MAX];
    seen k = {0};

    rig_connect(r);
    assert_int_equal(publish(r, "m1", NULL), MIDGE_OK);
    /* Four 129-byte messages: three fill rx (512) with the fourth's start. */
    for (uint16_t id = 1; id <= 4; id++)
        n += publish1(burst + n, id, 120);
    net_arrive(&r->net, burst, n);
    net_arrive(&r->net, puback1, sizeof puback1);
    assert_int_equal(midge_client_flush(&r->client, 1000), MIDGE_OK);
    assert_int_equal(midge_session_inflight(&r->client.session), 0);
    size_t sent_n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, sent_n, MIDGE_PUBACK), 0);

    /* A callback now, but the fourth must not overtake the three. */
    midge_client_set_callback(&r->client, seen_message, &k);
    assert_int_equal(midge_client_poll(&r->client, 100), MIDGE_ERR_HELD_DROPPED);
    assert_false(midge_client_is_connected(&r->client));
    assert_int_equal(k.messages, 0);

    /* The broker sends them again after the CONNACK (section 4.4). */
    r->net.session_present = true;
    r->net.greeting_len = publish1(r->net.greeting, 1, 4);
    r->net.greeting[0] |= 0x08; /* DUP */
    assert_int_equal(midge_client_connect(&r->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_check_msg(&r->client), MIDGE_OK);
    assert_int_equal(k.messages, 1);
    sent_n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, sent_n, MIDGE_PUBACK), 1);
}

/* A broker that downgrades QoS 2 answers PUBACK: flush says so, the
 * message is not resent, the next flush is clean. */
static void wrong_ack_is_reported(rig *r, bool auto_reconnect)
{
    static const uint8_t puback1[] = {0x40, 0x02, 0x00, 0x01};
    sent list[SENT_MAX];
    seen k = {0};

    r->cfg.auto_reconnect = auto_reconnect;
    r->cfg.call_timeout_ms = 5000;
    rig_connect(r);
    midge_client_set_event_callback(&r->client, seen_event, &k);
    assert_int_equal(midge_client_publish(&r->client, "a/b", "m1", 2, 2, false, NULL), MIDGE_OK);
    net_arrive(&r->net, puback1, sizeof puback1);
    r->net.session_present = true;
    assert_int_equal(midge_client_flush(&r->client, 5000), MIDGE_ERR_WRONG_ACK);
    assert_int_equal(k.failed, 1);
    assert_int_equal(k.failed_id, 1);
    assert_int_equal(midge_session_inflight(&r->client.session), 0);
    assert_int_equal(midge_client_flush(&r->client, 5000), MIDGE_OK);

    /* Connected again (by hand, or once the backoff passed): m1 is not
     * sent again. */
    if (!auto_reconnect)
        assert_int_equal(midge_client_connect(&r->client, NULL), MIDGE_OK);
    for (int i = 0; i < 100 && !midge_client_is_connected(&r->client); i++) {
        midge_status st = midge_client_poll(&r->client, 10);
        assert_true(st == MIDGE_OK || st == MIDGE_TIMEOUT);
    }
    assert_true(midge_client_is_connected(&r->client));
    assert_int_equal(r->net.opens, 2);
    size_t n = net_sent(&r->net, r->net.conn_start, list);
    assert_int_equal(count_type(list, n, MIDGE_PUBLISH), 0);
}

static void test_wrong_ack_ends_the_connection_and_flush_returns_it(void **state)
{
    wrong_ack_is_reported(*state, false);
}

static void test_wrong_ack_is_reported_by_flush_across_auto_reconnect(void **state)
{
    wrong_ack_is_reported(*state, true);
}

/* --- wait_msg ----------------------------------------------------------------- */

static void test_wait_msg_has_no_bound_but_can_be_interrupted(void **state)
{
    static const uint8_t message[] = {0x30, 0x05, 0x00, 0x01, 'x', 'h', 'i'};
    rig *r = *state;

    r->cfg.call_timeout_ms = 1000;
    rig_connect(r);
    /* Past the bound of the other calls: still waiting. */
    uint32_t start = fake_ms();
    net_later_add(&r->net, 5000, message, sizeof message);
    assert_int_equal(midge_client_wait_msg(&r->client), MIDGE_OK);
    assert_true(since(start) >= 5000);

    r->net.stop = true;
    assert_int_equal(midge_client_wait_msg(&r->client), MIDGE_ERR_INTERRUPTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_publish_into_full_store_times_out_at_the_bound_and_takes_nothing, rig_setup),
        cmocka_unit_test_setup(test_call_timeout_zero_means_thirty_seconds, rig_setup),
        cmocka_unit_test_setup(test_call_timeout_uint32_max_waits_as_long_as_it_takes, rig_setup),
        cmocka_unit_test_setup(test_interrupted_publish_returns_at_once_and_takes_nothing, rig_setup),
        cmocka_unit_test_setup(test_publish_taken_returns_ok_when_the_socket_stays_full, rig_setup),
        cmocka_unit_test_setup(test_publish_while_broker_is_down_times_out_and_stored_messages_are_resent, rig_setup),
        cmocka_unit_test_setup(test_reconnect_attempt_inside_publish_ends_with_the_bound, rig_setup),
        cmocka_unit_test_setup(test_subscribe_without_suback_times_out_at_the_shorter_bound, rig_setup),
        cmocka_unit_test_setup(test_subscribe_while_broker_is_down_waits_for_it_within_the_bound, rig_setup),
        cmocka_unit_test_setup(test_interrupted_subscribe_and_unsubscribe_stop_waiting, rig_setup),
        cmocka_unit_test_setup(test_unsubscribe_without_unsuback_times_out_and_forgets_the_filter, rig_setup),
        cmocka_unit_test_setup(test_ping_into_a_full_socket_times_out_and_is_sent_later, rig_setup),
        cmocka_unit_test_setup(test_ping_into_a_full_tx_waits_for_room_within_the_bound, rig_setup),
        cmocka_unit_test_setup(test_abort_weeks_after_a_loss_reconnects_at_once, rig_setup),
        cmocka_unit_test_setup(test_wait_msg_has_no_bound_but_can_be_interrupted, rig_setup),
        cmocka_unit_test_setup(test_message_with_the_connack_waits_unacknowledged_for_a_callback, rig_setup),
        cmocka_unit_test_setup(test_held_client_reads_acks_and_delivers_after_release, rig_setup),
        cmocka_unit_test_setup(test_held_messages_ahead_of_an_awaited_puback_are_dropped_and_come_again, rig_setup),
        cmocka_unit_test_setup(test_wrong_ack_ends_the_connection_and_flush_returns_it, rig_setup),
        cmocka_unit_test_setup(test_wrong_ack_is_reported_by_flush_across_auto_reconnect, rig_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
