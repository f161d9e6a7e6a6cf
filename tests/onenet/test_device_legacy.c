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
#include "peer.h"
#include "secrets.h"

/* The seed tutorial's identity. Test values, not anyone's credentials. */
#define DEVICE_ID "9377500"
#define PRODUCT_ID "91025"
#define APIKEY SECRET_ONENET_API_KEY

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
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_LEGACY, .product_id = PRODUCT_ID, .device_id = DEVICE_ID,
        .secret = APIKEY, .connack_delay_ms = CONNACK_DELAY_MS,
    };
    (void)state;
    memset(&run, 0, sizeof run);
    run.server = fake_onenet_start(&cfg);
    return run.server != NULL ? 0 : -1;
}

static int server_down(void **state)
{
    if (run.started)
        run_stop(&run);
    peer_teardown(state);
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

/* A wrong API key cannot become right by retrying: the first refusal
 * (CONNACK 4) ends the run with exit 1 and one line naming the flags of
 * the legacy identity, never the key. */
static void test_device_wrong_api_key_exits_1_naming_the_flags(void **state)
{
    static const char *const wrong[] = {"--profile", "onenet", "--device-id", DEVICE_ID,
                                        "--product-id", PRODUCT_ID, "-P", SECRET_WRONG_API_KEY,
                                        "--backoff-min", "100", "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    assert_true(run_start(&run, wrong, NULL));
    EXPECT(run_wait(&run, FAKE_ONENET_REFUSED, NULL, WAIT_MS, &ev));
    EXPECT(ev.code == 4);
    proc_wait(&run.p, WAIT_MS);
    run.started = false;
    EXPECT(proc_exit_code(&run.p) == 1);
    EXPECT(run_err_lines_with(&run, " error ") == 1);
    EXPECT(run_err_lines_with(&run, "connection refused: bad user name or password: check "
                                    "--product-id and -P") == 1);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_REFUSED, NULL) == 1);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_ACCEPTED, NULL) == 0);
    EXPECT(strstr(run.p.err, SECRET_WRONG_API_KEY) == NULL);
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

static void test_device_command_ids_of_any_length(void **state)
{
    /* onenet.md section 3: the id is the rest of the topic, never cut at
     * a fixed offset. */
    static const char long_id[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    (void)state;

    start_online(NULL, NULL);
    command("7", "on", "on", dp_on);
    command(long_id, "off", "off", dp_off);
    command("a-b_c.d", "toggle", "on", dp_on);
    expect_clean_record();
}

static void test_device_kicked_by_another_login_comes_back(void **state)
{
    static const char *const extra[] = {"--backoff-min", "100", "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    start_online(extra, NULL);
    /* Someone else logs in with the device's id: the platform kicks the
     * device off, as a second login does. */
    peer *other = peer_new(fake_onenet_port(run.server), DEVICE_ID, true);
    assert_non_null(other);
    other->cfg.connect.username = PRODUCT_ID;
    other->cfg.connect.password = APIKEY;
    other->cfg.connect.keepalive_s = 120;
    /* Whether the other login gets its CONNACK before the device is back
     * is a race; either way it is kicked in turn. */
    (void)peer_connect(other, NULL);
    EXPECT(run_wait(&run, FAKE_ONENET_KICKED, NULL, WAIT_MS, &ev));
    EXPECT(ev.conn == 1);
    /* The device logs in again (connection 3; 2 is the other login), and
     * it is the one that stays. */
    do {
        EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    } while (ev.conn == 2);
    EXPECT(ev.conn == 3);
    size_t at = 0;
    EXPECT(run_wait_from(&run, &at, FAKE_ONENET_KICKED, NULL, WAIT_MS, &ev));
    EXPECT(run_wait_from(&run, &at, FAKE_ONENET_KICKED, NULL, WAIT_MS, &ev));
    EXPECT(ev.conn == 2);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(ev.conn == 3);
    command(UUID_ON, "on", "on", dp_on);
    EXPECT(run_alive(&run));
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_VIOLATION, NULL) == 0);
}

static void test_device_without_connack_retries_without_crashing(void **state)
{
    static const char *const stranger[] = {"--profile", "onenet", "--device-id", "9377501",
                                           "--product-id", PRODUCT_ID, "-P", APIKEY,
                                           "--backoff-min", "100", "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    /* An unknown device id: the platform closes without any CONNACK. */
    assert_true(run_start(&run, stranger, NULL));
    EXPECT(run_wait(&run, FAKE_ONENET_DROPPED, NULL, WAIT_MS, &ev));
    EXPECT(strstr(ev.why, "client id") != NULL);
    EXPECT(run_wait(&run, FAKE_ONENET_DROPPED, NULL, WAIT_MS, &ev));
    EXPECT(run_alive(&run));
    EXPECT(run_stop(&run) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_ACCEPTED, NULL) == 0);
    EXPECT(fake_onenet_max_open(run.server) == 1);
    expect_no_secret();
}

static void test_device_stops_promptly_while_waiting_for_connack(void **state)
{
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_LEGACY, .product_id = PRODUCT_ID, .device_id = DEVICE_ID,
        .secret = APIKEY, .connack_delay_ms = 20000,
    };
    (void)state;

    /* A platform that takes its time over the CONNACK must not make the
     * device deaf to SIGTERM. */
    fake_onenet_stop(run.server);
    run.server = fake_onenet_start(&cfg);
    assert_non_null(run.server);
    start(NULL);
    run_quiet(&run, 500);
    EXPECT(run_alive(&run));
    long long asked = proc_now_ms();
    kill(run.p.pid, SIGTERM);
    proc_wait(&run.p, 12000);
    run.started = false;
    long long took = proc_now_ms() - asked;
    if (took > 2000 || proc_exit_code(&run.p) != 0)
        fprintf(stderr, "SIGTERM during the CONNACK wait: exit %d after %lld ms\n",
                proc_exit_code(&run.p), took);
    EXPECT(proc_exit_code(&run.p) == 0);
    EXPECT(took <= 2000);
}

static void test_device_command_redelivered_after_a_reconnect_acts_once(void **state)
{
    static const char *const extra[] = {"--backoff-min", "100", "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    /* onenet.md section 1: a kept command is delivered at the next login
     * and may be seen twice. */
    start_online(extra, NULL);
    command(UUID_TOGGLE1, "toggle", "on", dp_on);
    EXPECT(fake_onenet_drop(run.server));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_on, sizeof dp_on));
    command(UUID_TOGGLE1, "toggle", "on", NULL);
    run_quiet(&run, QUIET_MS);
    EXPECT(!run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", 0, &ev));
    command(UUID_STATUS, "status", "on", dp_on);
}

static void test_device_keeps_its_session_when_asked(void **state)
{
    static const char *const extra[] = {"-c", "-t", "TurnipRobot", "--backoff-min", "100",
                                        "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    /* Clean session 0: the platform keeps the subscription list. */
    start_online(extra, &ev);
    EXPECT(!ev.clean_session);
    EXPECT(fake_onenet_drop(run.server));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    EXPECT(!ev.clean_session && ev.session_present);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(fake_onenet_push(run.server, "TurnipRobot", "on", 2));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    EXPECT(payload_is(&ev, dp_on, sizeof dp_on));
    expect_clean_record();
}

static void test_device_refuses_a_keepalive_the_platform_refuses(void **state)
{
    static const char *const extra[] = {"-k", "60", NULL};
    (void)state;

    /* onenet.md section 1: keepalive 120..65535 (or 0). Said at start-up,
     * in one line, without trying the platform. */
    start(extra);
    proc_wait(&run.p, WAIT_MS);
    run.started = false;
    EXPECT(proc_exit_code(&run.p) == 1);
    EXPECT(count_lines(run.p.err) == 1);
    EXPECT(strstr(run.p.err, "keepalive") != NULL);
    EXPECT(fake_onenet_max_open(run.server) == 0);
}

/* A broker is free to send any topic and payload: ESC and newline from it
 * show as \x1b and \x0a in the -d trace and in the log lines, and forge
 * no line of their own. */
static void test_control_bytes_from_the_broker_are_escaped_in_the_log(void **state)
{
    static const char *const extra[] = {"-d", NULL};
    static const char creq[] = "$creq/x\x1b[2J\nFORGED line";
    static const char cmd[] = "on\x1b]0;title\x07\nFORGED payload";
    fake_onenet_event ev;
    (void)state;

    start_online(extra, NULL);
    EXPECT(fake_onenet_push(run.server, creq, cmd, strlen(cmd)));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$crsp/x\x1b[2J\nFORGED line", WAIT_MS, &ev));
    run_quiet(&run, 200);
    EXPECT(strchr(run.p.err, '\x1b') == NULL);
    EXPECT(strchr(run.p.err, '\x07') == NULL);
    EXPECT(strstr(run.p.err, "\nFORGED") == NULL);
    /* The trace's lines of the command and of its answer, and the log's. */
    EXPECT(run_err_lines_with(&run, "received PUBLISH") >= 1);
    EXPECT(run_err_lines_with(&run, "$creq/x\\x1b[2J\\x0aFORGED line") >= 2);
    EXPECT(run_err_lines_with(&run, "'$crsp/x\\x1b[2J\\x0aFORGED line'") == 1);
    EXPECT(run_stop(&run) == 0);
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
        T(test_device_wrong_api_key_exits_1_naming_the_flags),
        T(test_control_bytes_from_the_broker_are_escaped_in_the_log),
        T(test_device_reconnects_after_a_drop_and_resubscribes),
        T(test_device_stops_cleanly_on_sigterm),
        T(test_device_command_ids_of_any_length),
        T(test_device_kicked_by_another_login_comes_back),
        T(test_device_without_connack_retries_without_crashing),
        T(test_device_stops_promptly_while_waiting_for_connack),
        T(test_device_command_redelivered_after_a_reconnect_acts_once),
        T(test_device_keeps_its_session_when_asked),
        T(test_device_refuses_a_keepalive_the_platform_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
