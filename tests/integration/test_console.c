/*
 * The console subcommands against a real mosquitto on loopback: `midge
 * token` (the official OneNET vector), `midge send` answered by a stand-in
 * device written with the library (mqtt and onenet topics), its time-out,
 * `midge devices` over retained presence and state, and, once `midge
 * device` is built, the whole LED device driven by `midge send`, including
 * a command queued on the broker while the device was stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "broker.h"
#include "peer.h"
#include "proc.h"
#include "proc_expect.h"
#include "secrets.h"

#define RUN_TIMEOUT_MS 20000
#define WAIT_MS 10000

#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

/* The official token vector of ../shared/reference/onenet.md section 2. */
#define VECTOR_KEY SECRET_ONENET_DEVICE_KEY
#define VECTOR_TOKEN                                                                              \
    "version=2018-10-31&res=products%2F238322%2Fdevices%2Fmqtts-test-device&et=7557387130&"       \
    "method=sha1&sign=Rs0u%2FKnyoK5%2FMuKo5xKa0tW%2BWqY%3D\n"

static test_broker broker; /* the group's broker, shared by the tests below */
static char port[8];
/* A broker of one test's own, for tests that read every retained message. */
static test_broker own;
static char own_port[8];
/* Large structs: static, one per role. */
static proc run, device_proc;

static int start_broker(void **state)
{
    (void)state;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    return 0;
}

static int stop_broker(void **state)
{
    (void)state;
    return test_broker_stop(&broker);
}

static void start_own_broker(void)
{
    assert_int_equal(test_broker_start(&own, NULL), 0);
    snprintf(own_port, sizeof own_port, "%u", (unsigned)own.port);
}

/* After each test: nothing it started may outlive it, even when it failed. */
static int console_teardown(void **state)
{
    if (run.pid > 0 && !run.exited)
        proc_stop(&run);
    if (device_proc.pid > 0 && !device_proc.exited)
        proc_stop(&device_proc);
    if (own.pid > 0)
        test_broker_stop(&own);
    return peer_teardown(state);
}

/* A library client subscribed to `filter` on the group's broker: the
 * stand-in for a device. */
static peer *stand_in(const char *id, const char *filter)
{
    peer *p = peer_new(broker.port, id, true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&p->client, filter, 1), MIDGE_OK);
    return p;
}

/* 8-4-4-4-12 lower-case hex with version 4 and the RFC 4122 variant. */
static bool is_uuid_v4(const char *s)
{
    if (strlen(s) != 36 || s[14] != '4' || strchr("89ab", s[19]) == NULL)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdef", s[i]) == NULL)
            return false;
    }
    return true;
}

/* Start `midge send` (argv), let the stand-in take the request (its topic
 * must begin with `request_base`) and answer `answer` on response_base +
 * the command id; then wait for midge send to finish. */
static void send_answered(char *const argv[], peer *dev, const char *request_base,
                          const char *response_base, const char *expect_command,
                          const char *answer)
{
    char topic[PEER_TOPIC_MAX];
    size_t base_len = strlen(request_base);

    assert_int_equal(proc_start(&run, argv, NULL), 0);
    assert_int_equal(peer_wait_count(dev, 1, WAIT_MS), MIDGE_OK);
    if (dev->count != 1)
        proc_wait(&run, 1000), proc_dump(&run, "midge send (no request arrived)");
    assert_int_equal(dev->count, 1);

    const peer_message *req = &dev->got[0];
    assert_memory_equal(req->topic, request_base, base_len);
    assert_true(is_uuid_v4(req->topic + base_len));
    assert_int_equal(req->qos, 1);
    assert_int_equal(req->len, strlen(expect_command));
    assert_memory_equal(req->payload, expect_command, req->len);

    snprintf(topic, sizeof topic, "%s%s", response_base, req->topic + base_len);
    assert_int_equal(midge_client_publish(&dev->client, topic, answer, strlen(answer), 1, false,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&dev->client, WAIT_MS), MIDGE_OK);
    proc_wait(&run, RUN_TIMEOUT_MS);
}

/* --- midge token ------------------------------------------------------------ */

static void test_token_prints_the_official_vector(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("token", "--product-id", "238322", "--device-id", "mqtts-test-device",
                        "--device-key", VECTOR_KEY, "--method", "sha1", "--expires",
                        "7557387130"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge token (official vector)");
    assert_string_equal(run.out, VECTOR_TOKEN);
    assert_int_equal(run.err_len, 0);
}

static void test_token_with_bad_key_fails_in_one_line_without_echoing_it(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("token", "--product-id", "238322", "--device-id", "d", "--device-key",
                        SECRET_BAD_DEVICE_KEY, "--expires", "7557387130"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge token with a bad key");
    assert_int_equal(run.out_len, 0);
    assert_null(strstr(run.err, SECRET_BAD_DEVICE_KEY));
}

static void test_token_refuses_expires_together_with_ttl(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("token", "--product-id", "238322", "--device-id", "d", "--device-key",
                        VECTOR_KEY, "--expires", "7557387130", "--ttl", "60"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge token --expires --ttl");
    assert_null(strstr(run.err, VECTOR_KEY));
}

static void test_token_defaults_to_sha256_and_a_future_expiry(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("token", "--product-id", "238322", "--device-id", "d", "--device-key",
                        VECTOR_KEY),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge token (defaults)");
    assert_non_null(strstr(run.out, "&method=sha256&"));
    const char *et = strstr(run.out, "&et=");
    assert_non_null(et);
    assert_true(strtoull(et + 4, NULL, 10) > (unsigned long long)time(NULL));
}

/* --- midge send --------------------------------------------------------------- */

static void test_send_without_device_times_out_with_27(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp1", "-W",
                              "1", "on"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 27, "midge send to nobody");
    assert_string_equal(run.err, "midge send: no answer from lamp1 within 1 s (offline?)\n");
    assert_int_equal(run.out_len, 0);
}

static void test_send_prints_the_answer_of_the_device(void **state)
{
    (void)state;
    peer *dev = stand_in("stand-in-mqtt", "devices/lamp1/cmd/request/+");
    send_answered(MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp1",
                             "toggle"),
                  dev, "devices/lamp1/cmd/request/", "devices/lamp1/cmd/response/", "toggle",
                  "on");
    proc_expect_exit(&run, 0, "midge send toggle");
    assert_string_equal(run.out, "on\n");
    assert_int_equal(run.err_len, 0);
}

static void test_send_uses_the_given_prefix(void **state)
{
    (void)state;
    peer *dev = stand_in("stand-in-prefix", "home/hall/cmd/request/+");
    send_answered(MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp1",
                             "--prefix", "home/hall", "status"),
                  dev, "home/hall/cmd/request/", "home/hall/cmd/response/", "status", "off");
    proc_expect_exit(&run, 0, "midge send --prefix");
    assert_string_equal(run.out, "off\n");
}

static void test_send_prints_an_error_answer_and_exits_1(void **state)
{
    (void)state;
    peer *dev = stand_in("stand-in-error", "devices/lamp2/cmd/request/+");
    send_answered(MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp2",
                             "blink"),
                  dev, "devices/lamp2/cmd/request/", "devices/lamp2/cmd/response/", "blink",
                  "error: unknown command \"blink\"");
    proc_expect_exit(&run, 1, "midge send blink");
    assert_string_equal(run.out, "error: unknown command \"blink\"\n");
}

static void test_send_onenet_direct_uses_creq_and_crsp(void **state)
{
    (void)state;
    peer *dev = stand_in("stand-in-onenet", "$creq/+");
    send_answered(MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--profile", "onenet",
                             "--direct", "--device-id", "9377500", "on"),
                  dev, "$creq/", "$crsp/", "on", "on");
    proc_expect_exit(&run, 0, "midge send --profile onenet");
    assert_string_equal(run.out, "on\n");
}

static void test_send_without_command_or_device_fails_in_one_line(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp1"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge send without a command");
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "on"), NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge send without --device-id");
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", port, "--device-id", "a/#", "on"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge send with a wildcard in the device id");
    /* OneNET takes commands over HTTP: the stand-in broker must be named. */
    proc_run(&run, MIDGE_ARGV("send", "--profile", "onenet", "--device-id", "9377500", "on"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "midge send --profile onenet without -h");
}

/* --- midge devices ------------------------------------------------------------ */

static void retain(peer *p, const char *topic, const char *payload)
{
    assert_int_equal(midge_client_publish(&p->client, topic, payload, strlen(payload), 1, true,
                                          NULL),
                     MIDGE_OK);
}

static void test_devices_lists_retained_presence_and_state_sorted(void **state)
{
    (void)state;
    start_own_broker();
    peer *p = peer_new(own.port, "retainer", true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    retain(p, "devices/porch/status", "offline");
    retain(p, "devices/porch/state", "{\"led\":\"on\"}");
    retain(p, "devices/attic/status", "online");
    retain(p, "devices/attic/state", "{\"led\":\"off\"}");
    retain(p, "devices/garage/status", "online");
    retain(p, "devices/other/thing", "ignored");
    assert_int_equal(midge_client_flush(&p->client, WAIT_MS), MIDGE_OK);

    long long t0 = proc_now_ms();
    proc_run(&run, MIDGE_ARGV("devices", "-h", "127.0.0.1", "-p", own_port), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge devices");
    assert_string_equal(run.out, "attic online off\n"
                                 "garage online ?\n"
                                 "porch offline on\n");
    /* Half a second of quiet after the retained messages, not the 5 s cap. */
    assert_true(proc_now_ms() - t0 < 4000);
}

/* Nothing retained: an empty list, one line saying so, exit 0. */
static void test_devices_on_an_empty_broker_lists_nothing(void **state)
{
    (void)state;
    start_own_broker();
    proc_run(&run, MIDGE_ARGV("devices", "-h", "127.0.0.1", "-p", own_port), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge devices on an empty broker");
    assert_int_equal(run.out_len, 0);
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "no device has reported"));
}

static void test_devices_watch_prints_changes_and_exits_0_on_sigint(void **state)
{
    (void)state;
    start_own_broker();
    peer *p = peer_new(own.port, "changer", true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    retain(p, "devices/lamp9/status", "online");
    retain(p, "devices/lamp9/state", "{\"led\":\"off\"}");
    assert_int_equal(midge_client_flush(&p->client, WAIT_MS), MIDGE_OK);

    assert_int_equal(proc_start(&run, MIDGE_ARGV("devices", "-h", "127.0.0.1", "-p", own_port,
                                                 "--watch"),
                                NULL),
                     0);
    for (int i = 0; i < 100 && strstr(run.out, "lamp9 online off\n") == NULL; i++)
        proc_pump(&run, 100);
    assert_string_equal(run.out, "lamp9 online off\n");

    retain(p, "devices/lamp9/state", "{\"led\":\"on\"}");
    retain(p, "devices/lamp9/state", "{\"led\":\"on\"}"); /* no change: no line */
    retain(p, "devices/lamp9/status", "offline");
    assert_int_equal(midge_client_flush(&p->client, WAIT_MS), MIDGE_OK);
    for (int i = 0; i < 100 && strstr(run.out, "offline") == NULL; i++)
        proc_pump(&run, 100);
    proc_pump(&run, 300);
    kill(run.pid, SIGINT);
    proc_wait(&run, 5000);
    proc_expect_exit(&run, 0, "midge devices --watch");
    assert_string_equal(run.out, "lamp9 online off\n"
                                 "lamp9 online on\n"
                                 "lamp9 offline on\n");
}

/* --- the LED device end to end -------------------------------------------- */

/* `midge device` is there once its --help exits 0. */
static bool device_built(void)
{
    proc_run(&run, MIDGE_ARGV("device", "--help"), NULL, RUN_TIMEOUT_MS);
    return proc_exit_code(&run) == 0;
}

/* Run `midge send COMMAND` against lamp1 on the test's own broker. */
static void send_expect(const char *command, const char *expected_line)
{
    char what[64];
    snprintf(what, sizeof what, "midge send %s", command);
    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", own_port, "--device-id", "lamp1",
                              (char *)command),
             NULL, RUN_TIMEOUT_MS);
    if (strcmp(run.out, expected_line) != 0)
        proc_dump(&device_proc, "midge device");
    proc_expect_exit(&run, 0, what);
    assert_string_equal(run.out, expected_line);
}

/* Poll `midge devices` until it prints exactly `expected` (retained
 * presence changes a moment after the device connects or dies). */
static void devices_expect(const char *expected)
{
    for (int i = 0; i < 20; i++) {
        proc_run(&run, MIDGE_ARGV("devices", "-h", "127.0.0.1", "-p", own_port), NULL,
                 RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) == 0 && strcmp(run.out, expected) == 0)
            return;
        proc_pump(&device_proc, 250);
    }
    proc_dump(&run, "midge devices");
    assert_string_equal(run.out, expected);
}

static void test_device_obeys_send_and_shows_in_devices(void **state)
{
    (void)state;
    if (!device_built())
        skip();
    start_own_broker();
    assert_int_equal(proc_start(&device_proc,
                                MIDGE_ARGV("device", "--device-id", "lamp1", "--led", "sim", "-h",
                                           "127.0.0.1", "-p", own_port),
                                NULL),
                     0);
    devices_expect("lamp1 online off\n");

    send_expect("on", "on\n");
    send_expect("off", "off\n");
    send_expect("toggle", "on\n");
    send_expect("toggle", "off\n");
    send_expect("status", "off\n");
    devices_expect("lamp1 online off\n");

    /* A crash: the broker publishes the will, the last state stays. */
    kill(device_proc.pid, SIGKILL);
    proc_wait(&device_proc, 5000);
    devices_expect("lamp1 offline off\n");
}

/* A device with a persistent session (-c) misses nothing: a command sent
 * while it is stopped waits on the broker and is carried out when it is
 * back, though `midge send` gave up on the answer. */
static void test_command_sent_while_offline_is_carried_out_on_return(void **state)
{
    char *const device_argv[] = {MIDGE_BINARY, "device", "--device-id", "lamp1", "-c", "-h",
                                 "127.0.0.1", "-p", own_port, NULL};
    (void)state;
    if (!device_built())
        skip();
    start_own_broker();
    assert_int_equal(proc_start(&device_proc, device_argv, NULL), 0);
    devices_expect("lamp1 online off\n");
    proc_stop(&device_proc); /* SIGTERM: a clean stop keeps the session */
    devices_expect("lamp1 offline off\n");

    proc_run(&run, MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", own_port, "--device-id", "lamp1",
                              "-W", "1", "on"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 27, "midge send to a stopped device");

    assert_int_equal(proc_start(&device_proc, device_argv, NULL), 0);
    devices_expect("lamp1 online on\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_token_prints_the_official_vector, console_teardown),
        cmocka_unit_test_teardown(test_token_with_bad_key_fails_in_one_line_without_echoing_it, console_teardown),
        cmocka_unit_test_teardown(test_token_refuses_expires_together_with_ttl, console_teardown),
        cmocka_unit_test_teardown(test_token_defaults_to_sha256_and_a_future_expiry, console_teardown),
        cmocka_unit_test_teardown(test_send_without_device_times_out_with_27, console_teardown),
        cmocka_unit_test_teardown(test_send_prints_the_answer_of_the_device, console_teardown),
        cmocka_unit_test_teardown(test_send_uses_the_given_prefix, console_teardown),
        cmocka_unit_test_teardown(test_send_prints_an_error_answer_and_exits_1, console_teardown),
        cmocka_unit_test_teardown(test_send_onenet_direct_uses_creq_and_crsp, console_teardown),
        cmocka_unit_test_teardown(test_send_without_command_or_device_fails_in_one_line, console_teardown),
        cmocka_unit_test_teardown(test_devices_lists_retained_presence_and_state_sorted, console_teardown),
        cmocka_unit_test_teardown(test_devices_on_an_empty_broker_lists_nothing, console_teardown),
        cmocka_unit_test_teardown(test_devices_watch_prints_changes_and_exits_0_on_sigint, console_teardown),
        cmocka_unit_test_teardown(test_device_obeys_send_and_shows_in_devices, console_teardown),
        cmocka_unit_test_teardown(test_command_sent_while_offline_is_carried_out_on_return, console_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, start_broker, stop_broker);
}
