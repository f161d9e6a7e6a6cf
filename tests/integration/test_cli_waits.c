/*
 * When the tools stop waiting: `midge sub` prints every message a
 * persistent session queued while it was away (they come right behind the
 * CONNACK); `-W` bounds the connect and the CONNACK wait of `midge send` and
 * `midge sub`; `midge send` prints an answer and exits the moment it
 * arrives, even when it came with the command's PUBACK; `midge pub -q 2`
 * answered with the wrong acknowledgement ends in one line; and a
 * superfluous argument is named. Against a real mosquitto and scripted fake
 * brokers (tests/support/script_broker.h), all on loopback; every loop is
 * bounded in count and time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "broker.h"
#include "loopback.h"
#include "peer.h"
#include "proc.h"
#include "proc_expect.h"
#include "script_broker.h"

#define RUN_TIMEOUT_MS 20000
#define WAIT_MS 10000
/* Rounds of the tests whose failure was intermittent. */
#define QUEUED_ROUNDS 10
#define SEND_ROUNDS 20
/* -W of the sends that must end at the answer, and the bound each must
 * stay under: the answer, not -W, ends them. */
#define SEND_W "5"
#define SEND_BOUND_MS 2500
/* -W of the runs against a silent listener, and the margin they get. */
#define SILENT_W "2"
#define SILENT_BOUND_MS 3500

#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

static test_broker broker; /* Nagle off, as a production broker runs */
static char port[8];
static test_broker own;    /* a test's own, for the device */
static char own_port[8];
static script_broker fake;
static char fake_port[8];
static proc run, device_proc; /* large: static */

static int start_broker(void **state)
{
    test_broker_opts opts = {.extra_conf = "set_tcp_nodelay true\n"};
    (void)state;
    if (test_broker_start(&broker, &opts) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    return 0;
}

static int stop_broker(void **state)
{
    (void)state;
    return test_broker_stop(&broker);
}

/* After each test: nothing it started may outlive it, even when it failed. */
static int waits_teardown(void **state)
{
    if (run.pid > 0 && !run.exited)
        proc_stop(&run);
    if (device_proc.pid > 0 && !device_proc.exited)
        proc_stop(&device_proc);
    if (own.pid > 0)
        test_broker_stop(&own);
    script_broker_stop(&fake);
    return peer_teardown(state);
}

/* Run argv to its end; returns how long it took in ms. */
static long long timed_run(char *const argv[])
{
    long long t0 = proc_now_ms();
    proc_run(&run, argv, NULL, RUN_TIMEOUT_MS);
    return proc_now_ms() - t0;
}

static void start_fake(script_broker_fn script, void *user)
{
    assert_int_equal(script_broker_start(&fake, script, user), 0);
    snprintf(fake_port, sizeof fake_port, "%u", (unsigned)fake.port);
}

/* --- a persistent session's queue, delivered behind the CONNACK ------------ */

static void test_sub_prints_every_message_queued_while_it_was_away(void **state)
{
    char id[32], topic[32], payload[16], expected[256];
    (void)state;
    peer *pub = peer_new(broker.port, "waits-queue-pub", true);
    assert_non_null(pub);
    assert_int_equal(peer_connect(pub, NULL), MIDGE_OK);

    for (int round = 0; round < QUEUED_ROUNDS; round++) {
        snprintf(id, sizeof id, "waits-queue-%d", round);
        snprintf(topic, sizeof topic, "waits/queue/%d", round);
        /* Subscribed once, then away: -W ends it (27) with the session kept. */
        proc_run(&run, MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-c", "-i", id, "-q", "1",
                                  "-t", topic, "-W", "1"),
                 NULL, RUN_TIMEOUT_MS);
        proc_expect_exit(&run, 27, "midge sub -c (the first time)");

        expected[0] = '\0';
        for (int i = 0; i < 10; i++) {
            snprintf(payload, sizeof payload, "m%d", i);
            assert_int_equal(midge_client_publish(&pub->client, topic, payload, strlen(payload), 1,
                                                  false, NULL),
                             MIDGE_OK);
            strcat(expected, payload);
            strcat(expected, "\n");
        }
        assert_int_equal(midge_client_flush(&pub->client, WAIT_MS), MIDGE_OK);

        /* Back: the broker sends the ten right behind the CONNACK. */
        proc_run(&run, MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-c", "-i", id, "-q", "1",
                                  "-t", topic, "-C", "10", "-W", "5"),
                 NULL, RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) != 0 || strcmp(run.out, expected) != 0)
            fprintf(stderr, "round %d of %d\n", round + 1, QUEUED_ROUNDS);
        proc_expect_exit(&run, 0, "midge sub -c -C 10 (back)");
        assert_string_equal(run.out, expected);
    }
    peer_free(pub);
}

/* --- -W bounds the connect ---------------------------------------------------- */

/* A listener that completes TCP handshakes (the kernel does) and never
 * answers a byte: CONNECT waits for a CONNACK that never comes. `args`
 * follow "-h 127.0.0.1 -p PORT". */
static void run_against_silent_listener(const char *cmd, char *const args[], const char *what)
{
    char *argv[16] = {MIDGE_BINARY, (char *)cmd, "-h", "127.0.0.1", "-p"};
    char silent[8];
    uint16_t p;
    size_t n = 6;
    int listener = loopback_listen(&p);
    assert_true(listener >= 0);
    snprintf(silent, sizeof silent, "%u", (unsigned)p);
    argv[5] = silent;
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    long long spent = timed_run(argv);
    close(listener);
    proc_expect_one_line_failure(&run, 27, what);
    if (spent >= SILENT_BOUND_MS)
        fprintf(stderr, "%s took %lld ms\n", what, spent);
    assert_true(spent < SILENT_BOUND_MS);
    assert_non_null(strstr(run.err, "no CONNACK"));
    assert_int_equal(run.out_len, 0);
}

static void test_send_w_bounds_the_connack_wait(void **state)
{
    (void)state;
    run_against_silent_listener("send",
                                (char *[]){"--device-id", "lamp1", "-W", SILENT_W, "on", NULL},
                                "midge send -W 2 against a silent listener");
}

static void test_sub_w_bounds_the_connack_wait(void **state)
{
    (void)state;
    run_against_silent_listener("sub", (char *[]){"-t", "a/b", "-W", SILENT_W, NULL},
                                "midge sub -W 2 against a silent listener");
}

/* --- an answer is printed the moment it arrives ------------------------------- */

/* The answer's topic, from the SUBSCRIBE of the current connection. */
static char answer_topic[160];

/* CONNACK; SUBACK; the command's PUBACK and the device's answer in one
 * write, as a broker that forwards at once sends them. */
static size_t script_answer_with_puback(void *user, unsigned conn, const midge_client_packet *pkt,
                                        uint8_t *out, size_t cap)
{
    size_t len = 0;
    (void)user;
    (void)conn;
    switch (pkt->type) {
    case MIDGE_CONNECT:
        script_put_connack(out, cap, &len);
        break;
    case MIDGE_SUBSCRIBE:
        script_first_filter(pkt, answer_topic, sizeof answer_topic);
        script_put_suback(out, cap, &len, pkt);
        break;
    case MIDGE_PUBLISH:
        script_put_ack(out, cap, &len, MIDGE_PUBACK, pkt->packet_id);
        script_put_publish(out, cap, &len, answer_topic, strlen(answer_topic), "on", 0, 0);
        break;
    default:
        break;
    }
    return len;
}

static void send_rounds_end_at_the_answer(const char *send_port, const char *what)
{
    for (int round = 0; round < SEND_ROUNDS; round++) {
        long long spent =
            timed_run(MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", (char *)send_port,
                                 "--device-id", "lamp1", "-W", SEND_W, "toggle"));
        proc_expect_exit(&run, 0, what);
        assert_true(strcmp(run.out, "on\n") == 0 || strcmp(run.out, "off\n") == 0);
        if (spent >= SEND_BOUND_MS)
            fprintf(stderr, "%s: round %d of %d took %lld ms\n", what, round + 1, SEND_ROUNDS,
                    spent);
        assert_true(spent < SEND_BOUND_MS);
    }
}

static void test_send_exits_when_the_answer_comes_with_the_puback(void **state)
{
    (void)state;
    start_fake(script_answer_with_puback, NULL);
    send_rounds_end_at_the_answer(fake_port, "midge send, answer in the PUBACK's segment");
    script_broker_stop(&fake);
    assert_int_equal(fake.connections, SEND_ROUNDS);
    assert_int_equal(fake.packets[MIDGE_PUBLISH], SEND_ROUNDS);
}

static bool device_built(void)
{
    proc_run(&run, MIDGE_ARGV("device", "--help"), NULL, RUN_TIMEOUT_MS);
    return proc_exit_code(&run) == 0;
}

static void test_send_to_a_device_exits_at_its_answer(void **state)
{
    test_broker_opts opts = {.extra_conf = "set_tcp_nodelay true\n"};
    (void)state;
    if (!device_built())
        skip();
    assert_int_equal(test_broker_start(&own, &opts), 0);
    snprintf(own_port, sizeof own_port, "%u", (unsigned)own.port);
    assert_int_equal(proc_start(&device_proc,
                                MIDGE_ARGV("device", "--device-id", "lamp1", "-q", "-h",
                                           "127.0.0.1", "-p", own_port),
                                NULL),
                     0);
    /* The device is up once it answers; a first send may find it starting. */
    for (int i = 0; i < 20; i++) {
        proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", own_port, "--device-id",
                                  "lamp1", "-W", "1", "status"),
                 NULL, RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) == 0)
            break;
    }
    proc_expect_exit(&run, 0, "midge send status (device up)");
    send_rounds_end_at_the_answer(own_port, "midge send toggle to midge device");
}

/* --- the wrong acknowledgement ------------------------------------------------ */

/* One line and a failure status, bounded, once the PUBLISH went out. */
static void test_pub_qos2_answered_with_puback_fails_in_one_line(void **state)
{
    (void)state;
    start_fake(script_puback_everything, NULL);
    long long t0 = proc_now_ms();
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", fake_port, "-q", "2", "-t", "a/b",
                              "-m", "x"),
             NULL, 45000);
    long long spent = proc_now_ms() - t0;
    script_broker_stop(&fake);
    proc_expect_one_line_failure(&run, 1, "midge pub -q 2 answered with PUBACK");
    /* The line names the limit and what to do about it. */
    assert_non_null(strstr(run.err, "does not support QoS 2; use -q 1"));
    assert_int_equal(fake.packets[MIDGE_PUBLISH], 1);
    /* The session ends the connection as soon as the PUBACK comes. */
    if (spent >= 3000)
        fprintf(stderr, "midge pub -q 2 took %lld ms to fail\n", spent);
    assert_true(spent < 3000);
}

/* --- usage --------------------------------------------------------------------- */

static void test_send_names_the_unexpected_extra_argument(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp1",
                              "status", "blah"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge send status blah");
    assert_non_null(strstr(run.err, "unexpected argument 'blah'"));
    assert_null(strstr(run.err, "argument 'status'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sub_prints_every_message_queued_while_it_was_away,
                                  waits_teardown),
        cmocka_unit_test_teardown(test_send_w_bounds_the_connack_wait, waits_teardown),
        cmocka_unit_test_teardown(test_sub_w_bounds_the_connack_wait, waits_teardown),
        cmocka_unit_test_teardown(test_send_exits_when_the_answer_comes_with_the_puback,
                                  waits_teardown),
        cmocka_unit_test_teardown(test_send_to_a_device_exits_at_its_answer, waits_teardown),
        cmocka_unit_test_teardown(test_pub_qos2_answered_with_puback_fails_in_one_line,
                                  waits_teardown),
        cmocka_unit_test_teardown(test_send_names_the_unexpected_extra_argument, waits_teardown),
    };
    return cmocka_run_group_tests(tests, start_broker, stop_broker);
}
