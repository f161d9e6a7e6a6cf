/*
 * `midge device --profile onenet` against the fake legacy OneNET server
 * (onenet.md section 1): the seed tutorial's board, checked from the
 * platform's side of the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "device_run.h"

/* The seed tutorial's identity. Test values, not anyone's credentials. */
#define DEVICE_ID "9377500"
#define PRODUCT_ID "91025"
#define APIKEY "y7zd=7wNaObdfRYhxQn7D5jiDnI="

#define WAIT_MS 5000
#define QUIET_MS 500
/* The fake holds each CONNACK this long: a device that sends anything
 * before it has its CONNACK is caught. */
#define CONNACK_DELAY_MS 100

/* Five console commands, as the platform would send them. */
#define UUID_ON "3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4"
#define UUID_OFF "c01cc820-72b2-50e2-ab0c-6954d35796ef"
#define UUID_TOGGLE1 "e2f94a0b-7363-56ec-b87c-1d5d02dc4774"
#define UUID_TOGGLE2 "9aa4a04f-eb90-503f-b14f-6f0575869c23"
#define UUID_STATUS "5b0c3d6e-1f2a-4b8c-9d7e-0a1b2c3d4e5f"

/* $dp type 3 (onenet.md section 1): 03, the JSON length as a big-endian
 * u16 (9), then the JSON. */
static const uint8_t dp_on[] = {0x03, 0x00, 0x09, '{', '"', 'l', 'e', 'd', '"', ':', '1', '}'};
static const uint8_t dp_off[] = {0x03, 0x00, 0x09, '{', '"', 'l', 'e', 'd', '"', ':', '0', '}'};

static const char *const tutorial[] = {"--profile", "onenet", "--device-id", DEVICE_ID,
                                       "--product-id", PRODUCT_ID, "-P", APIKEY, "--led", "sim",
                                       NULL};

static device_run run;

static int server_up(void **state)
{
    fake_onenet_config cfg = {FAKE_ONENET_LEGACY, PRODUCT_ID, DEVICE_ID, APIKEY, CONNACK_DELAY_MS};
    (void)state;
    memset(&run, 0, sizeof run);
    run.server = fake_onenet_start(&cfg);
    return run.server != NULL ? 0 : -1;
}

static int server_down(void **state)
{
    (void)state;
    if (run.started)
        run_stop(&run);
    fake_onenet_stop(run.server);
    run.server = NULL;
    return 0;
}

/* An assertion that shows the device's output and the server's events
 * when it fails. */
#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        bool expect_ok = (cond);                                                            \
        if (!expect_ok)                                                                     \
            run_dump(&run, #cond);                                                          \
        assert_true(expect_ok);                                                             \
    } while (0)

static void start(const char *const *extra)
{
    assert_true(run_start(&run, tutorial, extra));
}

/* Started and online: CONNACK accepted and the first state report seen
 * (which is also what proves the device waited for its CONNACK). */
static void start_online(const char *const *extra, fake_onenet_event *accepted)
{
    fake_onenet_event ev;

    start(extra);
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, accepted != NULL ? accepted : &ev));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
}

static bool payload_is(const fake_onenet_event *ev, const void *bytes, size_t len)
{
    return ev->len == len && memcmp(ev->payload, bytes, len) == 0;
}

static bool text_is(const fake_onenet_event *ev, const char *text)
{
    return payload_is(ev, text, strlen(text));
}

/* Nothing the rules forbid happened, and only one connection ever lived. */
static void expect_clean_record(void)
{
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_VIOLATION, NULL) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_DROPPED, NULL) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_KICKED, NULL) == 0);
    EXPECT(fake_onenet_max_open(run.server) == 1);
}

static void expect_no_secret(void)
{
    EXPECT(strstr(run.p.err, APIKEY) == NULL);
    EXPECT(strstr(run.p.out, APIKEY) == NULL);
    /* Not even a recognisable part of it. */
    EXPECT(strstr(run.p.err, "y7zd=7wN") == NULL);
}

/* Push a $creq command and expect its reply (and, when `report` is not
 * NULL, the $dp report after it). */
static void command(const char *uuid, const char *cmd, const char *reply, const uint8_t *report)
{
    char creq[64];
    char crsp[64];
    fake_onenet_event ev;

    snprintf(creq, sizeof creq, "$creq/%s", uuid);
    snprintf(crsp, sizeof crsp, "$crsp/%s", uuid);
    EXPECT(fake_onenet_push(run.server, creq, cmd, strlen(cmd)));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, crsp, WAIT_MS, &ev));
    EXPECT(text_is(&ev, reply));
    EXPECT(ev.qos <= 1 && !ev.retain);
    if (report != NULL) {
        EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
        EXPECT(payload_is(&ev, report, sizeof dp_on));
    }
}

/* --- Tests ------------------------------------------------------------------------------ */

static void test_device_logs_in_with_the_tutorial_identity(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, &ev);
    /* The fake checked level 4, client id, user name, API key, both flags,
     * no will: ACCEPTED means all of them were right. */
    EXPECT(ev.keepalive_s == 0 || ev.keepalive_s >= 120);
    EXPECT(strcmp(ev.topic, DEVICE_ID) == 0);
    EXPECT(run_alive(&run));
    /* No subscription without -t: $creq commands come unasked. */
    run_quiet(&run, QUIET_MS);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_SUBSCRIBE, NULL) == 0);
    expect_clean_record();
}

static void test_device_reports_its_state_on_dp_after_connack(void **state)
{
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    start(NULL);
    EXPECT(run_wait_from(&run, &at, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_off, sizeof dp_off));
    EXPECT(ev.qos <= 1 && !ev.retain);
    expect_clean_record();
}

static void test_device_answers_creq_commands_on_crsp(void **state)
{
    (void)state;

    start_online(NULL, NULL);
    command(UUID_ON, "on", "on", dp_on);
    command(UUID_OFF, "off", "off", dp_off);
    command(UUID_TOGGLE1, "toggle", "on", dp_on);
    command(UUID_TOGGLE2, "toggle", "off", dp_off);
    command(UUID_STATUS, "status", "off", dp_off);
    EXPECT(run_alive(&run));
    expect_clean_record();
}

static void test_device_reply_comes_before_the_report(void **state)
{
    fake_onenet_event reply;
    fake_onenet_event report;
    size_t at;
    (void)state;

    start_online(NULL, NULL);
    at = run.cursor;
    EXPECT(fake_onenet_push(run.server, "$creq/" UUID_ON, "on", 2));
    EXPECT(run_wait_from(&run, &at, FAKE_ONENET_PUBLISH, NULL, WAIT_MS, &reply));
    EXPECT(run_wait_from(&run, &at, FAKE_ONENET_PUBLISH, NULL, WAIT_MS, &report));
    EXPECT(strcmp(reply.topic, "$crsp/" UUID_ON) == 0);
    EXPECT(strcmp(report.topic, "$dp") == 0);
}

static void test_device_unchanged_state_sends_no_report(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL);
    /* Already off: "off" answers but reports nothing. */
    command(UUID_OFF, "off", "off", NULL);
    run_quiet(&run, QUIET_MS);
    EXPECT(!run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", 0, &ev));
}

static void test_device_repeated_command_is_answered_not_repeated(void **state)
{
    fake_onenet_event ev;
    (void)state;

    /* onenet.md: a kept command may arrive twice; a second toggle must not
     * undo the first. */
    start_online(NULL, NULL);
    command(UUID_TOGGLE1, "toggle", "on", dp_on);
    command(UUID_TOGGLE1, "toggle", "on", NULL);
    run_quiet(&run, QUIET_MS);
    EXPECT(!run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", 0, &ev));
    command(UUID_STATUS, "status", "on", dp_on);
}

static void test_device_unknown_command_gets_an_error_reply(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL);
    EXPECT(fake_onenet_push(run.server, "$creq/" UUID_ON, "ON", 2));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$crsp/" UUID_ON, WAIT_MS, &ev));
    EXPECT(ev.len > 6 && memcmp(ev.payload, "error:", 6) == 0);
    /* And it still works. */
    command(UUID_OFF, "on", "on", dp_on);
    expect_clean_record();
}

static void test_device_takes_commands_pushed_right_after_connack(void **state)
{
    static const char *const extra[] = {"-t", "TurnipRobot", NULL};
    fake_onenet_event ev;
    (void)state;

    /* A command kept for an offline device arrives at its next login,
     * possibly while it is still waiting for its SUBACK. */
    start(extra);
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    EXPECT(fake_onenet_push(run.server, "$creq/" UUID_ON, "on", 2));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$crsp/" UUID_ON, WAIT_MS, &ev));
    EXPECT(text_is(&ev, "on"));
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_SUBSCRIBE, "TurnipRobot") == 1);
    expect_clean_record();
}

static void test_device_obeys_the_turnip_robot_topic_without_replying(void **state)
{
    static const char *const extra[] = {"-t", "TurnipRobot", NULL};
    fake_onenet_event ev;
    (void)state;

    start(extra);
    EXPECT(run_wait(&run, FAKE_ONENET_SUBSCRIBE, "TurnipRobot", WAIT_MS, &ev));
    EXPECT(ev.code == 0);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));

    EXPECT(fake_onenet_push(run.server, "TurnipRobot", "on", 2));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_on, sizeof dp_on));
    EXPECT(fake_onenet_push(run.server, "TurnipRobot", "off", 3));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_off, sizeof dp_off));
    EXPECT(fake_onenet_push(run.server, "TurnipRobot", "toggle", 6));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_on, sizeof dp_on));
    /* Anything else there is ignored: no reply, no report. */
    EXPECT(fake_onenet_push(run.server, "TurnipRobot", "hello", 5));
    run_quiet(&run, QUIET_MS);
    /* Nobody to answer on a plain topic: the only publishes are $dp. */
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_PUBLISH, NULL) ==
           fake_onenet_tally(run.server, FAKE_ONENET_PUBLISH, "$dp"));
    EXPECT(run_alive(&run));
    expect_clean_record();
}

static void test_device_survives_the_refused_creq_subscription(void **state)
{
    static const char *const extra[] = {"--subscribe-commands", NULL};
    fake_onenet_event ev;
    (void)state;

    /* On OneNET itself $creq/# cannot be subscribed (SUBACK 0x80), yet the
     * commands come anyway: the device must say so once and carry on. */
    start(extra);
    EXPECT(run_wait(&run, FAKE_ONENET_SUBSCRIBE, "$creq/#", WAIT_MS, &ev));
    EXPECT(ev.code == 0x80);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    command(UUID_ON, "on", "on", dp_on);
    run_quiet(&run, QUIET_MS);
    EXPECT(run_alive(&run));
    /* One login, one SUBSCRIBE: no reconnect loop over the refusal. */
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_ACCEPTED, NULL) == 1);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_SUBSCRIBE, NULL) == 1);
    expect_clean_record();
    EXPECT(run_stop(&run) == 0);
    EXPECT(run_err_lines_with(&run, "$creq/#") >= 1);
    EXPECT(run_err_lines_with(&run, "refused") == 1);
}

static void test_device_never_shows_the_api_key(void **state)
{
    (void)state;

    start_online(NULL, NULL);
    command(UUID_ON, "on", "on", dp_on);
    EXPECT(run_stop(&run) == 0);
    expect_no_secret();
}

static void test_device_never_shows_the_api_key_in_the_packet_trace(void **state)
{
    static const char *const extra[] = {"-d", NULL};
    (void)state;

    start_online(extra, NULL);
    command(UUID_ON, "on", "on", dp_on);
    EXPECT(run_stop(&run) == 0);
    /* The trace did run: the CONNECT is in it, its password masked. */
    EXPECT(run_err_lines_with(&run, "CONNECT") >= 1);
    expect_no_secret();
}

static void test_device_wrong_api_key_is_logged_and_retried(void **state)
{
    static const char *const wrong[] = {"--profile", "onenet", "--device-id", DEVICE_ID,
                                        "--product-id", PRODUCT_ID, "-P", "wrong-api-key",
                                        "--backoff-min", "100", "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    assert_true(run_start(&run, wrong, NULL));
    EXPECT(run_wait(&run, FAKE_ONENET_REFUSED, NULL, WAIT_MS, &ev));
    EXPECT(ev.code == 4);
    EXPECT(run_wait(&run, FAKE_ONENET_REFUSED, NULL, WAIT_MS, &ev));
    EXPECT(run_wait(&run, FAKE_ONENET_REFUSED, NULL, WAIT_MS, &ev));
    EXPECT(run_alive(&run));
    EXPECT(run_stop(&run) == 0);
    size_t refusals = fake_onenet_tally(run.server, FAKE_ONENET_REFUSED, NULL);
    int lines = run_err_lines_with(&run, "bad user name or password");
    /* One line per refusal (the last may have raced the stop). */
    if (lines < (int)refusals - 1 || lines > (int)refusals)
        run_dump(&run, "one log line per refused CONNECT");
    assert_true(lines >= (int)refusals - 1 && lines <= (int)refusals);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_ACCEPTED, NULL) == 0);
    EXPECT(strstr(run.p.err, "wrong-api-key") == NULL);
}

static void test_device_reconnects_after_a_drop_and_resubscribes(void **state)
{
    static const char *const extra[] = {"-t", "TurnipRobot", "--backoff-min", "100",
                                        "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    start(extra);
    EXPECT(run_wait(&run, FAKE_ONENET_SUBSCRIBE, "TurnipRobot", WAIT_MS, &ev));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    command(UUID_ON, "on", "on", dp_on);

    EXPECT(fake_onenet_drop(run.server));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    EXPECT(ev.conn == 2);
    EXPECT(run_wait(&run, FAKE_ONENET_SUBSCRIBE, "TurnipRobot", WAIT_MS, &ev));
    EXPECT(ev.conn == 2);
    /* The state is reported again, and it is the state it had. */
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_on, sizeof dp_on));
    EXPECT(fake_onenet_push(run.server, "TurnipRobot", "off", 3));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_off, sizeof dp_off));
    command(UUID_TOGGLE1, "toggle", "on", dp_on);
    expect_clean_record();
}

static void test_device_stops_cleanly_on_sigterm(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL);
    EXPECT(run_stop(&run) == 0);
    EXPECT(run_wait(&run, FAKE_ONENET_DISCONNECT, NULL, WAIT_MS, &ev));
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_CLOSED, NULL) == 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, server_up, server_down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_device_logs_in_with_the_tutorial_identity),
        T(test_device_reports_its_state_on_dp_after_connack),
        T(test_device_answers_creq_commands_on_crsp),
        T(test_device_reply_comes_before_the_report),
        T(test_device_unchanged_state_sends_no_report),
        T(test_device_repeated_command_is_answered_not_repeated),
        T(test_device_unknown_command_gets_an_error_reply),
        T(test_device_takes_commands_pushed_right_after_connack),
        T(test_device_obeys_the_turnip_robot_topic_without_replying),
        T(test_device_survives_the_refused_creq_subscription),
        T(test_device_never_shows_the_api_key),
        T(test_device_never_shows_the_api_key_in_the_packet_trace),
        T(test_device_wrong_api_key_is_logged_and_retried),
        T(test_device_reconnects_after_a_drop_and_resubscribes),
        T(test_device_stops_cleanly_on_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
