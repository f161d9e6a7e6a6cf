/*
 * Broker lists: the blocking client's failover over a fake transport and
 * a fake clock (the test is the platform). Each broker of the list is a
 * scripted node: down (the TCP connect fails), up (CONNACK 0), refusing
 * (CONNACK 5), or silent (it takes the connection and never answers
 * CONNACK); a host may have several addresses, each its own node. Time
 * passes only when the client waits on a transport or idles, so the
 * backoff and the CONNACK timeout are read off the clock exactly.
 *
 * Also the list parser (midge_brokers_parse) and the rules alone
 * (midge_failover), as a fleet simulator uses them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "midge/midge.h"

#define ATTEMPTS_MAX 64u
#define HOSTS_MAX 4u
#define ADDRS_MAX 3u
/* Past this many clock readings the client spins: fail rather than hang. */
#define READS_MAX 1000000u

#define CONNACK_TIMEOUT_MS 3000u
#define BACKOFF_MIN_MS 400u
#define BACKOFF_MAX_MS 3200u

typedef enum node_kind { NODE_DOWN = 0, NODE_UP, NODE_REFUSING, NODE_SILENT } node_kind;

typedef struct attempt {
    unsigned host; /* index into the rig's hosts */
    unsigned addr;
    uint32_t at;   /* the fake clock when it was made */
} attempt;

typedef struct rig {
    uint32_t now;
    unsigned reads;
    const char *hosts[HOSTS_MAX];
    unsigned addrs[HOSTS_MAX];                /* addresses per host (at least 1) */
    node_kind kinds[HOSTS_MAX][ADDRS_MAX];
    attempt attempts[ATTEMPTS_MAX];
    unsigned attempt_count;
    /* the open connection, when there is one */
    bool open;
    bool dead;           /* lost: recv fails */
    node_kind peer;
    bool connect_seen;   /* CONNECT arrived: the peer's answer is due */
    uint8_t in[4];       /* the CONNACK, once due */
    size_t in_len;
    /* what the attempt callback saw */
    midge_client_attempt seen[ATTEMPTS_MAX];
    unsigned seen_count;
    midge_platform platform;
    midge_client client;
    midge_broker brokers[HOSTS_MAX];
    uint8_t tx[256];
    uint8_t rx[256];
} rig;

static rig *the_rig;

static uint32_t rig_clock(void *ctx)
{
    rig *r = ctx;
    if (++r->reads > READS_MAX)
        fail_msg("the client spins on the clock");
    return r->now;
}

static void rig_idle(void *ctx, uint32_t ms)
{
    rig *r = ctx;
    r->now += ms;
}

static long node_send(void *ctx, const uint8_t *buf, size_t len)
{
    rig *r = ctx;
    if (r->dead)
        return MIDGE_ERR_CLOSED;
    /* The first bytes of a connection are its CONNECT (type 1). */
    if (!r->connect_seen && len > 0 && (buf[0] >> 4) == 1) {
        r->connect_seen = true;
        if (r->peer == NODE_UP || r->peer == NODE_REFUSING) {
            r->in[0] = 0x20;
            r->in[1] = 0x02;
            r->in[2] = 0x00;
            r->in[3] = r->peer == NODE_UP ? 0x00 : 0x05;
            r->in_len = 4;
        }
    }
    return (long)len;
}

static long node_recv(void *ctx, uint8_t *buf, size_t len)
{
    rig *r = ctx;
    if (r->dead)
        return MIDGE_ERR_CLOSED;
    if (r->in_len == 0)
        return 0;
    size_t n = len < r->in_len ? len : r->in_len;
    memcpy(buf, r->in, n);
    memmove(r->in, r->in + n, r->in_len - n);
    r->in_len -= n;
    return (long)n;
}

/* Nothing coming: the whole timeout passes on the fake clock. */
static int node_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    rig *r = ctx;
    if (want_send || r->dead || r->in_len > 0)
        return 1;
    r->now += timeout_ms;
    return 0;
}

static void node_close(void *ctx)
{
    rig *r = ctx;
    assert_true(r->open);
    r->open = false;
}

static unsigned rig_host(const rig *r, const char *host)
{
    for (unsigned i = 0; i < HOSTS_MAX; i++) {
        if (r->hosts[i] != NULL && strcmp(r->hosts[i], host) == 0)
            return i;
    }
    fail_msg("opener asked for an unknown host %s", host);
    return 0;
}

static midge_status rig_open_addr(void *opener, const char *host, uint16_t port, unsigned addr,
                                  uint32_t timeout_ms, midge_transport *t, bool *more)
{
    rig *r = opener;
    (void)port;
    (void)timeout_ms;
    assert_false(r->open); /* never two transports at once */
    unsigned h = rig_host(r, host);
    assert_true(addr < r->addrs[h]);
    assert_true(r->attempt_count < ATTEMPTS_MAX);
    r->attempts[r->attempt_count++] = (attempt){ h, addr, r->now };
    *more = addr + 1 < r->addrs[h];
    if (r->kinds[h][addr] == NODE_DOWN)
        return MIDGE_ERR_CONNECT;
    r->open = true;
    r->dead = false;
    r->connect_seen = false;
    r->in_len = 0;
    r->peer = r->kinds[h][addr];
    *t = (midge_transport){ node_send, node_recv, node_wait, node_close, r };
    return MIDGE_OK;
}

/* The plain opener: the first address only, as a client without
 * open_addr sees a host. */
static midge_status rig_open(void *opener, const char *host, uint16_t port, uint32_t timeout_ms,
                             midge_transport *t)
{
    bool more;
    return rig_open_addr(opener, host, port, 0, timeout_ms, t, &more);
}

static void rig_on_attempt(void *user, const midge_client_attempt *a)
{
    rig *r = user;
    assert_true(r->seen_count < ATTEMPTS_MAX);
    r->seen[r->seen_count++] = *a;
}

/* Hosts "a", "b", "c" (one address each, down until set), then init. */
static void rig_start(rig *r, size_t count, bool auto_reconnect, bool by_address)
{
    static const char *const names[] = { "a", "b", "c", "multi" };

    memset(r, 0, sizeof *r);
    the_rig = r;
    r->now = 0xffff0000u; /* the clock wraps during the tests */
    r->platform = (midge_platform){ rig_clock, rig_idle, r };
    for (unsigned i = 0; i < HOSTS_MAX; i++) {
        r->hosts[i] = names[i];
        r->addrs[i] = 1;
        r->brokers[i] = (midge_broker){ names[i], (uint16_t)(1883 + i) };
    }
    midge_client_config cfg = {
        .brokers = r->brokers,
        .broker_count = count,
        .connect = { .client_id = "failover", .keepalive_s = 60, .clean_session = true },
        .connack_timeout_ms = CONNACK_TIMEOUT_MS,
        .auto_reconnect = auto_reconnect,
        .backoff_min_ms = BACKOFF_MIN_MS,
        .backoff_max_ms = BACKOFF_MAX_MS,
        .call_timeout_ms = 60000,
        .open = rig_open,
        .open_addr = by_address ? rig_open_addr : NULL,
        .opener = r,
        .platform = &r->platform,
    };
    midge_session_buffers bufs = { .tx = r->tx, .tx_size = sizeof r->tx,
                                   .rx = r->rx, .rx_size = sizeof r->rx };
    assert_int_equal(midge_client_init(&r->client, &cfg, &bufs), MIDGE_OK);
    midge_client_set_attempt_callback(&r->client, rig_on_attempt, r);
}

/* Assert the attempts from `first` on went to these hosts, in order (each
 * named by its first letter). */
static void expect_hosts(const rig *r, unsigned first, const char *order)
{
    size_t n = strlen(order);
    assert_int_equal(r->attempt_count - first, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r->hosts[r->attempts[first + i].host][0], order[i]);
}

static const char *connected_host(const rig *r)
{
    const midge_broker *b = midge_client_broker(&r->client, NULL);
    return b != NULL ? b->host : "(none)";
}

/* The connection breaks, and the client notices: returns what the call
 * that noticed said. */
static midge_status rig_lose(rig *r)
{
    assert_true(r->open);
    r->dead = true;
    return midge_client_check_msg(&r->client);
}

/* --- connect: one pass ------------------------------------------------- */

static void test_connect_tries_each_broker_in_list_order_at_once(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 3, false, false);
    r.kinds[2][0] = NODE_UP;
    uint32_t start = r.now;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    expect_hosts(&r, 0, "abc");
    /* No backoff between the brokers of a pass. */
    assert_int_equal(r.attempts[2].at, start);
    assert_string_equal(connected_host(&r), "c");
    assert_int_equal(r.seen_count, 2);
    assert_int_equal(r.seen[0].status, MIDGE_ERR_CONNECT);
    assert_false(r.seen[0].pass_over);
    assert_int_equal(r.seen[1].index, 1);
}

static void test_failed_pass_reports_the_failure_that_got_furthest(void **state)
{
    static rig r;
    (void)state;

    /* down, refusing, silent: the refusal is the brokers' own answer. */
    rig_start(&r, 3, false, false);
    r.kinds[1][0] = NODE_REFUSING;
    r.kinds[2][0] = NODE_SILENT;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_REFUSED_NOT_AUTHORIZED);
    expect_hosts(&r, 0, "abc");
    assert_int_equal(r.seen_count, 3);
    assert_int_equal(r.seen[2].status, MIDGE_ERR_CONNACK_TIMEOUT);
    assert_true(r.seen[2].pass_over);
    assert_false(r.seen[1].pass_over);
    assert_false(midge_client_retry_now(&r.client));
    assert_null(midge_client_broker(&r.client, NULL));

    /* The next pass starts where the failed one did. */
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_REFUSED_NOT_AUTHORIZED);
    expect_hosts(&r, 3, "abc");
}

static void test_node_that_never_answers_connack_is_left_after_the_timeout(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 2, false, false);
    r.kinds[0][0] = NODE_SILENT;
    r.kinds[1][0] = NODE_UP;
    uint32_t start = r.now;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    expect_hosts(&r, 0, "ab");
    assert_int_equal(r.seen[0].status, MIDGE_ERR_CONNACK_TIMEOUT);
    /* b was tried the moment a's CONNACK timeout ran out. */
    assert_int_equal(r.attempts[1].at - start, CONNACK_TIMEOUT_MS);
    assert_string_equal(connected_host(&r), "b");
}

static void test_each_address_of_a_host_is_tried_under_the_same_rules(void **state)
{
    static rig r;
    (void)state;

    /* "multi" has three addresses: silent, refusing, up. */
    rig_start(&r, 3, false, true);
    r.brokers[0] = r.brokers[3];
    r.addrs[3] = 3;
    r.kinds[3][0] = NODE_SILENT;
    r.kinds[3][1] = NODE_REFUSING;
    r.kinds[3][2] = NODE_UP;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    assert_int_equal(r.attempt_count, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(r.attempts[i].host, 3);
        assert_int_equal(r.attempts[i].addr, i);
    }
    unsigned addr = 9;
    assert_non_null(midge_client_broker(&r.client, &addr));
    assert_int_equal(addr, 2);
    assert_int_equal(r.seen[1].status, MIDGE_REFUSED_NOT_AUTHORIZED);
    assert_int_equal(r.seen[1].addr, 1);

    /* Lost on its last address: the rest of the list is tried at once
     * (b and c, down), which ends the pass the loss began. */
    assert_int_equal(rig_lose(&r), MIDGE_ERR_CLOSED);
    assert_true(midge_client_retry_now(&r.client));
    r.kinds[3][2] = NODE_DOWN;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_ERR_CLOSED);
    expect_hosts(&r, 3, "bc");
    /* The next pass: every address of "multi" again, then b and c. */
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_REFUSED_NOT_AUTHORIZED);
    expect_hosts(&r, 5, "mmmbc");
}

/* --- auto_reconnect: losses, wrap-around, backoff ------------------------ */

/* Poll until connected; returns how long it took on the fake clock (to
 * within the 100 ms a poll may wait for input after connecting). */
static uint32_t poll_until_connected(rig *r)
{
    uint32_t start = r->now;
    for (int i = 0; i < 200 && !midge_client_is_connected(&r->client); i++) {
        midge_status st = midge_client_poll(&r->client, 100);
        assert_true(st == MIDGE_OK || st == MIDGE_TIMEOUT);
    }
    assert_true(midge_client_is_connected(&r->client));
    return r->now - start;
}

static void test_lost_connection_moves_to_the_next_broker_and_wraps_around(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 3, true, false);
    for (unsigned i = 0; i < 3; i++)
        r.kinds[i][0] = NODE_UP;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    assert_string_equal(connected_host(&r), "a");

    /* a, b, c each lost in turn: the next one at once, then a again. */
    const char *next = "bca";
    for (unsigned i = 0; i < 3; i++) {
        uint32_t lost_at = r.now;
        rig_lose(&r);
        poll_until_connected(&r);
        assert_int_equal(connected_host(&r)[0], next[i]);
        assert_int_equal(r.attempts[r.attempt_count - 1].at, lost_at);
    }
    expect_hosts(&r, 0, "abca");
}

static void test_no_failback_while_connected(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 3, true, false);
    r.kinds[1][0] = NODE_UP;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    assert_string_equal(connected_host(&r), "b");
    /* a comes back: the client stays on b for as long as b lasts. */
    r.kinds[0][0] = NODE_UP;
    for (int i = 0; i < 5; i++) {
        r.now += 10000;
        midge_client_check_msg(&r.client);
    }
    assert_string_equal(connected_host(&r), "b");
    expect_hosts(&r, 0, "ab");
}

static void test_backoff_after_each_failed_pass_and_reset_by_connack(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 3, true, false);
    r.kinds[0][0] = NODE_UP;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    r.kinds[0][0] = NODE_DOWN;
    rig_lose(&r);

    /* Three passes fail: b, c (the pass a's loss began), then a b c, a b c. */
    while (r.attempt_count < 1 + 2 + 3 + 3)
        assert_int_equal(midge_client_poll(&r.client, 50), MIDGE_TIMEOUT);
    expect_hosts(&r, 1, "bcabcabc");
    /* Within a pass: at once. Between passes: the backoff, +-25%, doubling. */
    const attempt *t = r.attempts;
    assert_int_equal(t[2].at, t[1].at);
    assert_int_equal(t[4].at, t[3].at);
    assert_int_equal(t[5].at, t[3].at);
    uint32_t gap1 = t[3].at - t[2].at, gap2 = t[6].at - t[5].at;
    assert_in_range(gap1, BACKOFF_MIN_MS * 3 / 4, BACKOFF_MIN_MS * 5 / 4 + 50);
    assert_in_range(gap2, BACKOFF_MIN_MS * 2 * 3 / 4, BACKOFF_MIN_MS * 2 * 5 / 4 + 50);

    /* c answers: connected, and the backoff starts again from its minimum. */
    r.kinds[2][0] = NODE_UP;
    poll_until_connected(&r);
    assert_string_equal(connected_host(&r), "c");
    r.kinds[2][0] = NODE_DOWN;
    unsigned before = r.attempt_count;
    rig_lose(&r);
    while (r.attempt_count < before + 2 + 3)
        assert_int_equal(midge_client_poll(&r.client, 50), MIDGE_TIMEOUT);
    expect_hosts(&r, before, "abcab");
    uint32_t gap = r.attempts[before + 2].at - r.attempts[before + 1].at;
    assert_in_range(gap, BACKOFF_MIN_MS * 3 / 4, BACKOFF_MIN_MS * 5 / 4 + 50);
}

static void test_one_broker_backs_off_after_every_loss(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 1, true, false);
    r.kinds[0][0] = NODE_UP;
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_OK);
    assert_int_equal(rig_lose(&r), MIDGE_OK);
    /* The loss was the whole pass: no retry at once. */
    assert_false(midge_client_retry_now(&r.client));
    uint32_t took = poll_until_connected(&r);
    assert_in_range(took, BACKOFF_MIN_MS * 3 / 4, BACKOFF_MIN_MS * 5 / 4 + 100);
}

static void test_refusal_is_returned_only_once_every_broker_refused_or_failed(void **state)
{
    static rig r;
    (void)state;

    rig_start(&r, 2, true, false);
    r.kinds[0][0] = NODE_REFUSING;
    r.kinds[1][0] = NODE_UP;
    /* a refuses, b takes the publish's connection. */
    assert_int_equal(midge_client_publish(&r.client, "t", "x", 1, 0, false, NULL), MIDGE_OK);
    assert_string_equal(connected_host(&r), "b");
    r.kinds[1][0] = NODE_DOWN;
    rig_lose(&r);
    assert_int_equal(midge_client_publish(&r.client, "t", "x", 1, 0, false, NULL),
                     MIDGE_REFUSED_NOT_AUTHORIZED);
}

/* --- the rules alone, and the parser ------------------------------------- */

static void test_failover_rotated_start_and_pass(void **state)
{
    midge_failover f;
    (void)state;

    /* A fleet's device 4 of 3 brokers starts at its own, broker 1. */
    midge_failover_init(&f, 3, 4);
    assert_int_equal(midge_failover_item(&f), 1);
    assert_false(midge_failover_failed(&f, MIDGE_ERR_CONNECT));
    assert_int_equal(midge_failover_item(&f), 2);
    assert_false(midge_failover_failed(&f, MIDGE_ERR_CONNACK_TIMEOUT));
    assert_int_equal(midge_failover_item(&f), 0);
    assert_true(midge_failover_failed(&f, MIDGE_ERR_CONNECT));
    assert_int_equal(midge_failover_item(&f), 1);
    assert_true(midge_failover_pass_over(&f));
    assert_int_equal(midge_failover_status(&f), MIDGE_ERR_CONNACK_TIMEOUT);
    midge_failover_attempt(&f);
    assert_false(midge_failover_pass_over(&f));
    midge_failover_connected(&f);
    assert_int_equal(midge_failover_item(&f), 1);
}

static void test_brokers_parse_items_and_ports(void **state)
{
    char text[] = "a,b:1884,[::1]:1885,[fe80::2],::3,10.0.0.4:65535";
    midge_broker out[8];
    size_t n = 0;
    (void)state;

    assert_int_equal(midge_brokers_parse(text, 1883, out, 8, &n), MIDGE_OK);
    assert_int_equal(n, 6);
    static const char *const hosts[] = { "a", "b", "::1", "fe80::2", "::3", "10.0.0.4" };
    static const uint16_t ports[] = { 1883, 1884, 1885, 1883, 1883, 65535 };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(out[i].host, hosts[i]);
        assert_int_equal(out[i].port, ports[i]);
    }
}

static void test_brokers_parse_refuses_bad_items(void **state)
{
    static const char *const bad[] = { "", "a,", ",a", "a,,b", "a:", "a:0", "a:65536",
                                       "a:x", "[::1", "[::1]x", "[]:1", ":1883", "a,b:-1" };
    static const size_t at[] = { 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    midge_broker out[4];
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[32];
        size_t n = 99;
        strcpy(text, bad[i]);
        assert_int_equal(midge_brokers_parse(text, 1883, out, 4, &n), MIDGE_ERR_INVALID);
        assert_int_equal(n, at[i]);
    }
    char many[] = "a,b,c";
    size_t n = 0;
    assert_int_equal(midge_brokers_parse(many, 1883, out, 2, &n), MIDGE_ERR_NO_SPACE);
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_tries_each_broker_in_list_order_at_once),
        cmocka_unit_test(test_failed_pass_reports_the_failure_that_got_furthest),
        cmocka_unit_test(test_node_that_never_answers_connack_is_left_after_the_timeout),
        cmocka_unit_test(test_each_address_of_a_host_is_tried_under_the_same_rules),
        cmocka_unit_test(test_lost_connection_moves_to_the_next_broker_and_wraps_around),
        cmocka_unit_test(test_no_failback_while_connected),
        cmocka_unit_test(test_backoff_after_each_failed_pass_and_reset_by_connack),
        cmocka_unit_test(test_one_broker_backs_off_after_every_loss),
        cmocka_unit_test(test_refusal_is_returned_only_once_every_broker_refused_or_failed),
        cmocka_unit_test(test_failover_rotated_start_and_pass),
        cmocka_unit_test(test_brokers_parse_items_and_ports),
        cmocka_unit_test(test_brokers_parse_refuses_bad_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
