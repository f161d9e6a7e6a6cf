/*
 * The blocking client's bound (call_timeout_ms) against a real mosquitto on
 * loopback: a frozen broker (SIGSTOP) and a stopped one. Calls return
 * MIDGE_TIMEOUT within a generous multiple of the bound, and once the broker
 * is back every message a publish took arrives, and none it refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>

#include "broker.h"
#include "peer.h"

#define BOUND_MS 1000
/* A call must return within this: the bound, plus a loaded machine. */
#define RETURN_LIMIT_MS (3 * BOUND_MS)
#define DELIVERY_TIMEOUT_MS 10000
#define QUIET_MS 500
/* Messages the frozen broker's publisher can hold unacknowledged. */
#define WINDOW 4
/* Publishes tried while the broker is away; the store has room for all. */
#define DOWN_TRIES 8

/* Each test starts its own broker here; the teardown stops it, even after
 * a failed assertion. */
static test_broker broker;

static int stop_peers_and_broker(void **state)
{
    peer_teardown(state);
    return test_broker_stop(&broker);
}

static void payload_of(char *buf, size_t cap, const char *what, int i)
{
    snprintf(buf, cap, "%s-%02d", what, i);
}

/* How often `payload` arrived at p. */
static int arrivals(const peer *p, const char *payload)
{
    int n = 0;
    for (int i = 0; i < p->count && i < PEER_MAX_MESSAGES; i++) {
        if (p->got[i].len == strlen(payload) &&
            memcmp(p->got[i].payload, payload, p->got[i].len) == 0)
            n++;
    }
    return n;
}

/* Publish at QoS 1, timing the call. */
static midge_status timed_publish(peer *p, const char *topic, const char *payload,
                                  long long *spent)
{
    long long start = peer_now_ms();
    midge_status st =
        midge_client_publish(&p->client, topic, payload, strlen(payload), 1, false, NULL);
    *spent = peer_now_ms() - start;
    return st;
}

static peer *bounded_peer(uint16_t port, const char *id, bool clean)
{
    peer *p = peer_new(port, id, clean);
    assert_non_null(p);
    p->cfg.call_timeout_ms = BOUND_MS;
    p->cfg.backoff_min_ms = 50;
    p->cfg.backoff_max_ms = 200;
    return p;
}

/* (a) The window is full and the broker frozen: publish gives up at the
 * bound; after SIGCONT every message it took arrives exactly once. */
static void test_publish_into_full_window_of_frozen_broker_times_out_and_loses_nothing(
    void **state)
{
    static const char topic[] = "bounds/frozen";
    char payload[WINDOW + 1][16];
    long long spent;
    peer *sub, *pub, *other;
    (void)state;
    assert_int_equal(test_broker_start(&broker, NULL), 0);

    sub = bounded_peer(broker.port, "bounds-frozen-sub", true);
    assert_int_equal(peer_connect(sub, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&sub->client, topic, 1), MIDGE_OK);
    other = bounded_peer(broker.port, "bounds-frozen-other", true);
    assert_int_equal(peer_connect(other, NULL), MIDGE_OK);

    pub = bounded_peer(broker.port, "bounds-frozen-pub", true);
    for (int i = 0; i <= WINDOW; i++)
        payload_of(payload[i], sizeof payload[i], "frozen", i);
    /* Room for exactly WINDOW of these messages (equal sizes). */
    size_t packet = 2 + 2 + strlen(topic) + 2 + strlen(payload[0]);
    pub->bufs.store_size = WINDOW * (packet + MIDGE_STORE_RECORD_OVERHEAD);
    assert_int_equal(peer_connect(pub, NULL), MIDGE_OK);

    assert_int_equal(test_broker_pause(&broker), 0);
    for (int i = 0; i < WINDOW; i++) {
        assert_int_equal(timed_publish(pub, topic, payload[i], &spent), MIDGE_OK);
        assert_true(spent < RETURN_LIMIT_MS);
    }
    assert_int_equal(timed_publish(pub, topic, payload[WINDOW], &spent), MIDGE_TIMEOUT);
    assert_true(spent >= BOUND_MS);
    assert_true(spent < RETURN_LIMIT_MS);
    assert_int_equal(midge_session_inflight(&pub->client.session), WINDOW);
    assert_true(midge_client_is_connected(&pub->client));

    /* A SUBACK that cannot come is bounded the same way. */
    long long start = peer_now_ms();
    assert_int_equal(midge_client_subscribe(&other->client, "bounds/other", 1), MIDGE_TIMEOUT);
    spent = peer_now_ms() - start;
    assert_true(spent >= BOUND_MS && spent < RETURN_LIMIT_MS);

    assert_int_equal(test_broker_resume(&broker), 0);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_wait_count(sub, WINDOW, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    assert_int_equal(sub->count, WINDOW);
    /* In order, each once. */
    for (int i = 0; i < WINDOW; i++) {
        assert_int_equal(sub->got[i].len, strlen(payload[i]));
        assert_memory_equal(sub->got[i].payload, payload[i], sub->got[i].len);
    }

    /* The message refused at the bound was never queued: sent now, once. */
    assert_int_equal(timed_publish(pub, topic, payload[WINDOW], &spent), MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_wait_count(sub, WINDOW + 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    assert_int_equal(sub->count, WINDOW + 1);
    assert_int_equal(arrivals(sub, payload[WINDOW]), 1);
    peer_free(other);
    peer_free(pub);
    peer_free(sub);
}

/* (b) auto_reconnect on and the broker gone: publish gives up at the bound
 * instead of retrying forever. Once the broker is back (with the sessions
 * it saved), the next publish goes through and every message taken before
 * arrives, at least once as QoS 1 promises; the ones refused never do. */
static void test_publish_while_broker_is_down_times_out_and_stored_messages_arrive_later(
    void **state)
{
    static const char topic[] = "bounds/down";
    test_broker_opts opts = {.extra_conf = "persistence true\n", .user = NULL, .password = NULL};
    char payload[DOWN_TRIES][16];
    bool taken[DOWN_TRIES] = {false};
    int tried = 0;
    long long spent;
    peer *sub, *pub;
    (void)state;
    assert_int_equal(test_broker_start(&broker, &opts), 0);

    /* Persistent sessions on both sides: the broker keeps the subscriber's
     * queue and the publisher's in-flight ids across its restart. */
    sub = bounded_peer(broker.port, "bounds-down-sub", false);
    sub->cfg.auto_reconnect = true;
    assert_int_equal(peer_connect(sub, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&sub->client, topic, 1), MIDGE_OK);
    pub = bounded_peer(broker.port, "bounds-down-pub", false);
    pub->cfg.auto_reconnect = true;
    assert_int_equal(peer_connect(pub, NULL), MIDGE_OK);

    assert_int_equal(test_broker_halt(&broker), 0);
    midge_status st = MIDGE_OK;
    while (tried < DOWN_TRIES && st != MIDGE_TIMEOUT) {
        payload_of(payload[tried], sizeof payload[tried], "down", tried);
        st = timed_publish(pub, topic, payload[tried], &spent);
        /* Taken before the loss was seen, or refused at the bound. */
        assert_true(st == MIDGE_OK || st == MIDGE_TIMEOUT);
        assert_true(spent < RETURN_LIMIT_MS);
        if (st == MIDGE_TIMEOUT)
            assert_true(spent >= BOUND_MS);
        taken[tried++] = st == MIDGE_OK;
    }
    assert_int_equal(st, MIDGE_TIMEOUT);
    size_t kept = midge_session_inflight(&pub->client.session);
    print_message("bounds: %d publishes while the broker was down, %zu taken before the "
                  "loss was seen\n",
                  tried, kept);

    assert_int_equal(test_broker_restart(&broker), 0);
    assert_int_equal(timed_publish(pub, topic, "after", &spent), MIDGE_OK);
    assert_true(spent < RETURN_LIMIT_MS);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);

    int want = 1;
    for (int i = 0; i < tried; i++)
        want += taken[i];
    assert_int_equal((size_t)want, kept + 1);
    assert_int_equal(peer_wait_count(sub, want, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    for (int i = 0; i < tried; i++) {
        if (taken[i])
            assert_true(arrivals(sub, payload[i]) >= 1);
        else
            assert_int_equal(arrivals(sub, payload[i]), 0);
    }
    assert_true(arrivals(sub, "after") >= 1);
    peer_free(pub);
    peer_free(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_publish_into_full_window_of_frozen_broker_times_out_and_loses_nothing, stop_peers_and_broker),
        cmocka_unit_test_teardown(test_publish_while_broker_is_down_times_out_and_stored_messages_arrive_later, stop_peers_and_broker),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
