/*
 * The client on any platform: it takes its transport opener, its clock and
 * its idle hook from the configuration, and nothing from the system. Here
 * the platform is a counter that moves only when the client idles, so a
 * client that read another clock or slept another way would never see its
 * bound pass: the opener's call limit fails such a test instead of letting
 * it hang.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "midge/client.h"

/* More attempts than any bound below allows at the backoff used, and
 * more clock readings than it takes: past them the client is spinning. */
#define OPENS_MAX 200u
#define READS_MAX 1000000u

typedef struct fake_board {
    uint32_t now;        /* the platform's clock: moved by idle only */
    unsigned reads;      /* clock readings */
    unsigned idles;      /* idle hook calls */
    uint32_t idled_ms;   /* what they asked for */
    unsigned opens;      /* opener calls */
    uint32_t open_at[4]; /* the clock at the first opens */
} fake_board;

static uint32_t board_clock(void *ctx)
{
    fake_board *b = ctx;
    if (++b->reads > READS_MAX)
        fail_msg("the client spins on the clock without idling through the platform");
    return b->now;
}

/* A board would poll its network stack here; time passes as asked. */
static void board_idle(void *ctx, uint32_t ms)
{
    fake_board *b = ctx;
    b->idles++;
    b->idled_ms += ms;
    b->now += ms;
}

/* No broker answers: every attempt fails at once. */
static midge_status board_open(void *opener, const char *host, uint16_t port,
                               uint32_t timeout_ms, midge_transport *t)
{
    fake_board *b = opener;
    (void)host;
    (void)port;
    (void)timeout_ms;
    (void)t;
    if (b->opens < 4)
        b->open_at[b->opens] = b->now;
    b->opens++;
    if (b->opens > OPENS_MAX)
        fail_msg("the client keeps opening without letting time pass through the platform");
    return MIDGE_ERR_CONNECT;
}

typedef struct rig {
    fake_board board;
    midge_platform platform;
    midge_client client;
    midge_client_config cfg;
    uint8_t tx[256];
    uint8_t rx[256];
} rig;

static void rig_setup(rig *r)
{
    memset(r, 0, sizeof *r);
    r->board.now = 0xfffff000u; /* the clock wraps during the test */
    r->platform = (midge_platform){ board_clock, board_idle, &r->board };
    r->cfg.connect.client_id = "platform";
    r->cfg.open = board_open;
    r->cfg.opener = &r->board;
    r->cfg.platform = &r->platform;
}

static midge_status rig_init(rig *r)
{
    midge_session_buffers bufs = {
        .tx = r->tx, .tx_size = sizeof r->tx, .rx = r->rx, .rx_size = sizeof r->rx,
    };
    return midge_client_init(&r->client, &r->cfg, &bufs);
}

/* Each way of leaving out what the platform must give. */
static void drop_opener(rig *r) { r->cfg.open = NULL; }
static void drop_platform(rig *r) { r->cfg.platform = NULL; }
static void drop_clock(rig *r) { r->platform.clock_ms = NULL; }
static void drop_idle(rig *r) { r->platform.idle = NULL; }

static void test_init_needs_an_opener_and_a_platform(void **state)
{
    static void (*const drops[])(rig *) = { drop_opener, drop_platform, drop_clock, drop_idle };
    static rig r;
    (void)state;

    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
        rig_setup(&r);
        drops[i](&r);
        assert_int_equal(rig_init(&r), MIDGE_ERR_INVALID);
    }
    /* No host is fine: the opener decides what it needs. */
    rig_setup(&r);
    assert_int_equal(rig_init(&r), MIDGE_OK);
}

/* A failed connect reports the opener's status, at the platform's time. */
static void test_connect_uses_the_platform_opener(void **state)
{
    static rig r;
    (void)state;

    rig_setup(&r);
    assert_int_equal(rig_init(&r), MIDGE_OK);
    assert_int_equal(midge_client_connect(&r.client, NULL), MIDGE_ERR_CONNECT);
    assert_int_equal(r.board.opens, 1);
    assert_false(midge_client_is_connected(&r.client));
}

/* The reconnect backoff passes through the idle hook, measured on the
 * platform's clock, and the call's bound too: with no broker, a publish
 * returns MIDGE_TIMEOUT once the platform's clock says its bound passed. */
static void test_backoff_and_bound_pass_through_the_platform(void **state)
{
    static rig r;
    (void)state;

    rig_setup(&r);
    r.cfg.auto_reconnect = true;
    r.cfg.backoff_min_ms = 100;
    r.cfg.backoff_max_ms = 100;
    r.cfg.call_timeout_ms = 2000;
    assert_int_equal(rig_init(&r), MIDGE_OK);
    uint32_t start = r.board.now;

    assert_int_equal(midge_client_publish(&r.client, "a/b", "x", 1, 0, false, NULL),
                     MIDGE_TIMEOUT);
    assert_true(r.board.idles > 0);
    assert_true(r.board.now - start >= 2000u);
    /* Every retry came a backoff (100 ms +-25%) after the one before. */
    assert_true(r.board.opens >= 3);
    for (unsigned i = 1; i < 3; i++) {
        uint32_t gap = r.board.open_at[i] - r.board.open_at[i - 1];
        assert_in_range(gap, 75, 125);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_needs_an_opener_and_a_platform),
        cmocka_unit_test(test_connect_uses_the_platform_opener),
        cmocka_unit_test(test_backoff_and_bound_pass_through_the_platform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
