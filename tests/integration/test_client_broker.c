/*
 * The client library against a real mosquitto on loopback: delivery at each
 * QoS, retained messages, wills, persistent sessions, refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "peer.h"
#include "secrets.h"

#define DELIVERY_TIMEOUT_MS 10000
/* How long to keep listening to see that no duplicate arrives. */
#define QUIET_MS 500

static test_broker broker;

static int start_broker(void **state)
{
    (void)state;
    return test_broker_start(&broker, NULL);
}

static int stop_broker(void **state)
{
    (void)state;
    return test_broker_stop(&broker);
}

/* A connected peer with a fresh clean session, or a failed test. */
static peer *connected(const char *id)
{
    peer *p = peer_new(broker.port, id, true);
    bool present = true;
    assert_non_null(p);
    assert_int_equal(peer_connect(p, &present), MIDGE_OK);
    assert_false(present);
    return p;
}

static void publish_and_expect_once(uint8_t pub_qos, uint8_t sub_qos, uint8_t expect_qos)
{
    char topic[64];
    char id[32];
    static const char payload[] = "hello \x01\x02 midge";
    size_t len = sizeof payload - 1;
    peer *sub, *pub;

    snprintf(topic, sizeof topic, "int/qos/%u/%u", pub_qos, sub_qos);
    snprintf(id, sizeof id, "int-sub-%u-%u", pub_qos, sub_qos);
    sub = connected(id);
    snprintf(id, sizeof id, "int-pub-%u-%u", pub_qos, sub_qos);
    pub = connected(id);
    assert_int_equal(midge_client_subscribe(&sub->client, topic, sub_qos), MIDGE_OK);

    assert_int_equal(midge_client_publish(&pub->client, topic, payload, len, pub_qos, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(midge_session_inflight(&pub->client.session), 0);

    assert_int_equal(peer_wait_count(sub, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    assert_int_equal(sub->count, 1);
    assert_string_equal(sub->got[0].topic, topic);
    assert_int_equal(sub->got[0].len, len);
    assert_memory_equal(sub->got[0].payload, payload, len);
    assert_int_equal(sub->got[0].qos, expect_qos);
    assert_false(sub->got[0].retain);
    assert_false(sub->got[0].dup);

    assert_int_equal(midge_client_disconnect(&pub->client), MIDGE_OK);
    assert_int_equal(midge_client_disconnect(&sub->client), MIDGE_OK);
    peer_free(pub);
    peer_free(sub);
}

static void test_qos0_message_reaches_subscriber_once_at_qos0(void **state)
{
    (void)state;
    publish_and_expect_once(0, 2, 0);
}

static void test_qos1_message_reaches_subscriber_once_at_qos1(void **state)
{
    (void)state;
    publish_and_expect_once(1, 2, 1);
}

static void test_qos2_message_reaches_subscriber_once_at_qos2(void **state)
{
    (void)state;
    publish_and_expect_once(2, 2, 2);
}

static void test_qos2_message_is_downgraded_to_the_subscription_qos1(void **state)
{
    (void)state;
    publish_and_expect_once(2, 1, 1);
}

static void test_subscriber_receives_its_own_publish(void **state)
{
    peer *p;
    (void)state;
    p = connected("int-self");
    assert_int_equal(midge_client_subscribe(&p->client, "int/self", 1), MIDGE_OK);
    assert_int_equal(midge_client_publish(&p->client, "int/self", "me", 2, 1, false, NULL),
                     MIDGE_OK);
    assert_int_equal(peer_wait_count(p, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(p->count, 1);
    assert_memory_equal(p->got[0].payload, "me", 2);
    peer_free(p);
}

static void test_large_payload_arrives_intact(void **state)
{
    static uint8_t payload[3000];
    peer *sub, *pub;
    (void)state;
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    sub = connected("int-large-sub");
    pub = connected("int-large-pub");
    assert_int_equal(midge_client_subscribe(&sub->client, "int/large", 1), MIDGE_OK);
    assert_int_equal(
        midge_client_publish(&pub->client, "int/large", payload, sizeof payload, 1, false, NULL),
        MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_wait_count(sub, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(sub->count, 1);
    assert_int_equal(sub->got[0].len, sizeof payload);
    assert_memory_equal(sub->got[0].payload, payload, sizeof payload);
    peer_free(pub);
    peer_free(sub);
}

static void test_retained_message_reaches_later_subscriber_with_retain_flag(void **state)
{
    peer *pub, *sub;
    (void)state;
    pub = connected("int-retain-pub");
    assert_int_equal(
        midge_client_publish(&pub->client, "int/retained", "kept", 4, 1, true, NULL), MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);

    sub = connected("int-retain-sub");
    assert_int_equal(midge_client_subscribe(&sub->client, "int/retained", 2), MIDGE_OK);
    assert_int_equal(peer_wait_count(sub, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(sub->count, 1);
    assert_string_equal(sub->got[0].topic, "int/retained");
    assert_int_equal(sub->got[0].len, 4);
    assert_memory_equal(sub->got[0].payload, "kept", 4);
    assert_true(sub->got[0].retain);
    assert_int_equal(sub->got[0].qos, 1);

    /* An empty retained message clears it (section 3.3.1.3). */
    assert_int_equal(midge_client_publish(&pub->client, "int/retained", "", 0, 1, true, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    peer_free(pub);
    peer_free(sub);

    sub = connected("int-retain-sub2");
    assert_int_equal(midge_client_subscribe(&sub->client, "int/retained", 2), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    assert_int_equal(sub->count, 0);
    peer_free(sub);
}

/* A peer that watches `topic` for a will. */
static peer *will_watcher(const char *id, const char *topic)
{
    peer *w = connected(id);
    assert_int_equal(midge_client_subscribe(&w->client, topic, 1), MIDGE_OK);
    return w;
}

static void expect_will(peer *w, const char *topic, const char *payload)
{
    assert_int_equal(peer_wait_count(w, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(w->count, 1);
    assert_string_equal(w->got[0].topic, topic);
    assert_int_equal(w->got[0].len, strlen(payload));
    assert_memory_equal(w->got[0].payload, payload, strlen(payload));
    assert_int_equal(w->got[0].qos, 1);
}

static void test_will_is_published_when_client_process_is_killed(void **state)
{
    int ready[2];
    char byte = 0;
    int st = 0;
    struct pollfd pfd;
    pid_t child;
    peer *w;
    (void)state;

    w = will_watcher("int-will-watch-kill", "int/will/kill");
    assert_int_equal(pipe(ready), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* The child: connect with a will, report, then wait to be killed. */
        peer *v = peer_new(broker.port, "int-will-victim-kill", true);
        close(ready[0]);
        if (v == NULL || peer_init(v) != MIDGE_OK ||
            midge_client_set_last_will(&v->client, "int/will/kill", "gone", 4, 1, false) !=
                MIDGE_OK ||
            midge_client_connect(&v->client, NULL) != MIDGE_OK)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        for (int i = 0; i < 600; i++) /* at most 60 s */
            usleep(100000);
        _exit(3);
    }
    close(ready[1]);
    pfd.fd = ready[0];
    pfd.events = POLLIN;
    pfd.revents = 0;
    assert_int_equal(poll(&pfd, 1, DELIVERY_TIMEOUT_MS), 1);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    assert_int_equal(byte, 'r');

    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, &st, 0), child);
    expect_will(w, "int/will/kill", "gone");
    peer_free(w);
}

static void test_will_is_published_when_socket_is_cut_without_disconnect(void **state)
{
    peer *w, *v;
    (void)state;
    w = will_watcher("int-will-watch-cut", "int/will/cut");
    v = peer_new(broker.port, "int-will-victim-cut", true);
    assert_non_null(v);
    assert_int_equal(peer_init(v), MIDGE_OK);
    assert_int_equal(
        midge_client_set_last_will(&v->client, "int/will/cut", "cut off", 7, 1, false), MIDGE_OK);
    assert_int_equal(midge_client_connect(&v->client, NULL), MIDGE_OK);

    /* Cut the TCP connection under the client: FIN without DISCONNECT. */
    assert_int_equal(shutdown(v->tcp.fd, SHUT_RDWR), 0);
    expect_will(w, "int/will/cut", "cut off");

    /* The client notices on its next call and reports a failure. */
    assert_true(midge_client_poll(&v->client, 2000) < 0);
    assert_false(midge_client_is_connected(&v->client));
    peer_free(v);
    peer_free(w);
}

static void test_will_is_published_after_abort(void **state)
{
    peer *w, *v;
    (void)state;
    w = will_watcher("int-will-watch-abort", "int/will/abort");
    v = peer_new(broker.port, "int-will-victim-abort", true);
    assert_non_null(v);
    assert_int_equal(peer_init(v), MIDGE_OK);
    assert_int_equal(
        midge_client_set_last_will(&v->client, "int/will/abort", "aborted", 7, 1, false),
        MIDGE_OK);
    assert_int_equal(midge_client_connect(&v->client, NULL), MIDGE_OK);

    assert_int_equal(midge_client_abort(&v->client), MIDGE_OK);
    assert_false(midge_client_is_connected(&v->client));
    expect_will(w, "int/will/abort", "aborted");
    assert_int_equal(midge_client_abort(&v->client), MIDGE_ERR_NOT_CONNECTED);
    peer_free(v);
    peer_free(w);
}

static void test_will_is_not_published_after_clean_disconnect(void **state)
{
    peer *w, *v;
    (void)state;
    w = will_watcher("int-will-watch-clean", "int/will/clean");
    v = peer_new(broker.port, "int-will-victim-clean", true);
    assert_non_null(v);
    assert_int_equal(peer_init(v), MIDGE_OK);
    assert_int_equal(midge_client_set_last_will(&v->client, "int/will/clean", "x", 1, 1, false),
                     MIDGE_OK);
    assert_int_equal(midge_client_connect(&v->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_disconnect(&v->client), MIDGE_OK);
    assert_false(midge_client_is_connected(&v->client));
    assert_int_equal(peer_idle(w, 1000), MIDGE_OK);
    assert_int_equal(w->count, 0);
    peer_free(v);
    peer_free(w);
}

static void test_persistent_session_receives_qos1_and_qos2_messages_queued_offline(void **state)
{
    const midge_subscription subs[] = {{"int/persist/one", 1}, {"int/persist/two", 2}};
    uint8_t granted[2] = {0xff, 0xff};
    bool present = true;
    peer *sub, *pub;
    (void)state;

    sub = peer_new(broker.port, "int-persist-sub", false);
    assert_non_null(sub);
    assert_int_equal(peer_connect(sub, &present), MIDGE_OK);
    assert_false(present);
    assert_int_equal(midge_client_subscribe_many(&sub->client, subs, 2, granted), MIDGE_OK);
    assert_int_equal(granted[0], 1);
    assert_int_equal(granted[1], 2);
    assert_int_equal(midge_client_disconnect(&sub->client), MIDGE_OK);
    peer_free(sub);

    pub = connected("int-persist-pub");
    assert_int_equal(midge_client_publish(&pub->client, "int/persist/one", "q1", 2, 1, false,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_publish(&pub->client, "int/persist/two", "q2", 2, 2, false,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    peer_free(pub);

    /* A new client struct: nothing remembered locally, all from the broker. */
    sub = peer_new(broker.port, "int-persist-sub", false);
    assert_non_null(sub);
    present = false;
    assert_int_equal(peer_connect(sub, &present), MIDGE_OK);
    assert_true(present);
    assert_int_equal(peer_wait_count(sub, 2, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    assert_int_equal(sub->count, 2);
    /* mosquitto keeps the order of one session's queue. */
    assert_string_equal(sub->got[0].topic, "int/persist/one");
    assert_memory_equal(sub->got[0].payload, "q1", 2);
    assert_int_equal(sub->got[0].qos, 1);
    assert_string_equal(sub->got[1].topic, "int/persist/two");
    assert_memory_equal(sub->got[1].payload, "q2", 2);
    assert_int_equal(sub->got[1].qos, 2);
    assert_int_equal(midge_client_disconnect(&sub->client), MIDGE_OK);
    peer_free(sub);

    /* A clean session afterwards discards the stored one. */
    sub = peer_new(broker.port, "int-persist-sub", true);
    assert_non_null(sub);
    present = true;
    assert_int_equal(peer_connect(sub, &present), MIDGE_OK);
    assert_false(present);
    peer_free(sub);
}

static void test_unsubscribed_topic_is_no_longer_delivered(void **state)
{
    peer *sub, *pub;
    (void)state;
    sub = connected("int-unsub-sub");
    pub = connected("int-unsub-pub");
    assert_int_equal(midge_client_subscribe(&sub->client, "int/unsub", 1), MIDGE_OK);
    assert_int_equal(midge_client_unsubscribe(&sub->client, "int/unsub"), MIDGE_OK);
    assert_int_equal(midge_client_publish(&pub->client, "int/unsub", "no", 2, 1, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(sub, QUIET_MS), MIDGE_OK);
    assert_int_equal(sub->count, 0);
    peer_free(pub);
    peer_free(sub);
}

static void test_ping_is_answered_by_the_broker(void **state)
{
    peer *p;
    (void)state;
    p = connected("int-ping");
    assert_int_equal(midge_client_ping(&p->client), MIDGE_OK);
    assert_int_equal(peer_idle(p, 300), MIDGE_OK);
    assert_true(midge_client_is_connected(&p->client));
    peer_free(p);
}

static void test_connect_to_port_without_listener_fails_with_connect_error(void **state)
{
    uint16_t port = test_broker_free_port();
    peer *p;
    (void)state;
    assert_true(port != 0);
    p = peer_new(port, "int-nobody", true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_ERR_CONNECT);
    assert_false(midge_client_is_connected(&p->client));
    peer_free(p);
}

static void test_broker_with_passwords_refuses_bad_login_and_accepts_good_one(void **state)
{
    test_broker_opts opts = {.extra_conf = NULL, .user = "alice", .password = SECRET_LIBRARY_PASSWORD};
    test_broker auth;
    peer *p;
    midge_status st;
    (void)state;
    assert_int_equal(test_broker_start(&auth, &opts), 0);

    p = peer_new(auth.port, "int-auth-anon", true);
    assert_non_null(p);
    st = peer_connect(p, NULL);
    assert_true(midge_status_is_refusal(st));
    assert_false(midge_client_is_connected(&p->client));
    peer_free(p);

    p = peer_new(auth.port, "int-auth-bad", true);
    assert_non_null(p);
    p->cfg.connect.username = "alice";
    p->cfg.connect.password = SECRET_WRONG_PASSWORD;
    st = peer_connect(p, NULL);
    assert_true(midge_status_is_refusal(st));
    peer_free(p);

    p = peer_new(auth.port, "int-auth-good", true);
    assert_non_null(p);
    p->cfg.connect.username = "alice";
    p->cfg.connect.password = SECRET_LIBRARY_PASSWORD;
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_disconnect(&p->client), MIDGE_OK);
    peer_free(p);

    assert_int_equal(test_broker_stop(&auth), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_qos0_message_reaches_subscriber_once_at_qos0, peer_teardown),
        cmocka_unit_test_teardown(test_qos1_message_reaches_subscriber_once_at_qos1, peer_teardown),
        cmocka_unit_test_teardown(test_qos2_message_reaches_subscriber_once_at_qos2, peer_teardown),
        cmocka_unit_test_teardown(test_qos2_message_is_downgraded_to_the_subscription_qos1, peer_teardown),
        cmocka_unit_test_teardown(test_subscriber_receives_its_own_publish, peer_teardown),
        cmocka_unit_test_teardown(test_large_payload_arrives_intact, peer_teardown),
        cmocka_unit_test_teardown(test_retained_message_reaches_later_subscriber_with_retain_flag, peer_teardown),
        cmocka_unit_test_teardown(test_will_is_published_when_client_process_is_killed, peer_teardown),
        cmocka_unit_test_teardown(test_will_is_published_after_abort, peer_teardown),
        cmocka_unit_test_teardown(test_will_is_published_when_socket_is_cut_without_disconnect, peer_teardown),
        cmocka_unit_test_teardown(test_will_is_not_published_after_clean_disconnect, peer_teardown),
        cmocka_unit_test_teardown(test_persistent_session_receives_qos1_and_qos2_messages_queued_offline, peer_teardown),
        cmocka_unit_test_teardown(test_unsubscribed_topic_is_no_longer_delivered, peer_teardown),
        cmocka_unit_test_teardown(test_ping_is_answered_by_the_broker, peer_teardown),
        cmocka_unit_test_teardown(test_connect_to_port_without_listener_fails_with_connect_error, peer_teardown),
        cmocka_unit_test_teardown(test_broker_with_passwords_refuses_bad_login_and_accepts_good_one, peer_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, start_broker, stop_broker);
}
