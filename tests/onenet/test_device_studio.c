/*
 * `midge device --profile onenet-studio` against the fake OneNET Studio
 * server (onenet.md section 2): token login, $sys topics, the OneJSON
 * thing model, and reconnects that sign a fresh token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "device_run.h"
#include "midge/token.h"
#include "secrets.h"

/* The platform's published test device. Test values, not anyone's key. */
#define PRODUCT_ID "238322"
#define DEVICE_NAME "mqtts-test-device"
#define DEVICE_KEY SECRET_ONENET_DEVICE_KEY
#define BASE "$sys/" PRODUCT_ID "/" DEVICE_NAME "/"
#define VECTOR_TOKEN                                                                         \
    "version=2018-10-31&res=products%2F238322%2Fdevices%2Fmqtts-test-device&et=7557387130" \
    "&method=sha1&sign=Rs0u%2FKnyoK5%2FMuKo5xKa0tW%2BWqY%3D"

#define SET BASE "thing/property/set"
#define SET_REPLY BASE "thing/property/set_reply"
#define GET BASE "thing/property/get"
#define GET_REPLY BASE "thing/property/get_reply"
#define POST BASE "thing/property/post"
#define CMD_FILTER BASE "cmd/request/+"

#define WAIT_MS 5000
#define QUIET_MS 500
#define CONNACK_DELAY_MS 100

static const char *const studio[] = {"--profile", "onenet-studio", "--product-id", PRODUCT_ID,
                                     "--device-id", DEVICE_NAME, "--device-key", DEVICE_KEY,
                                     "--backoff-min", "100", "--backoff-max", "200", NULL};

static device_run run;

static int server_up(void **state)
{
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_STUDIO, .product_id = PRODUCT_ID, .device_id = DEVICE_NAME,
        .secret = DEVICE_KEY, .connack_delay_ms = CONNACK_DELAY_MS,
    };
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

#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        bool expect_ok = (cond);                                                            \
        if (!expect_ok)                                                                     \
            run_dump(&run, #cond);                                                          \
        assert_true(expect_ok);                                                             \
    } while (0)

static bool text_is(const fake_onenet_event *ev, const char *text)
{
    return ev->len == strlen(text) && memcmp(ev->payload, text, ev->len) == 0;
}

static bool text_has(const fake_onenet_event *ev, const char *part)
{
    char copy[FAKE_ONENET_PAYLOAD_MAX + 1];
    memcpy(copy, ev->payload, ev->len);
    copy[ev->len] = '\0';
    return strstr(copy, part) != NULL;
}

/* The reply's "code" member, -1 when there is none. */
static long reply_code(const fake_onenet_event *ev)
{
    char copy[FAKE_ONENET_PAYLOAD_MAX + 1];
    memcpy(copy, ev->payload, ev->len);
    copy[ev->len] = '\0';
    const char *at = strstr(copy, "\"code\":");
    return at != NULL ? strtol(at + 7, NULL, 10) : -1;
}

static void expect_clean_record(void)
{
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_VIOLATION, NULL) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_DROPPED, NULL) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_REFUSED, NULL) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_KICKED, NULL) == 0);
    EXPECT(fake_onenet_max_open(run.server) == 1);
}

/* Each of the device's three filters on connection `conn`, granted. */
static void expect_subscriptions(int conn)
{
    static const char *const filters[] = {SET, GET, CMD_FILTER};
    for (size_t i = 0; i < 3; i++) {
        fake_onenet_event ev;
        size_t at = 0;
        bool found = false;
        while (!found && run_wait_from(&run, &at, FAKE_ONENET_SUBSCRIBE, filters[i], WAIT_MS, &ev))
            found = ev.conn == conn;
        EXPECT(found);
        EXPECT(ev.code == 0);
    }
}

/* Online: the token verified, the filters granted, the first post seen. */
static void start_online(const char *const *common, const char *const *extra,
                         fake_onenet_event *accepted)
{
    fake_onenet_event ev;

    assert_true(run_start(&run, common != NULL ? common : studio, extra));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, accepted != NULL ? accepted : &ev));
    expect_subscriptions(accepted != NULL ? accepted->conn : ev.conn);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, POST, WAIT_MS, &ev));
}

static void push_text(const char *topic, const char *text)
{
    EXPECT(fake_onenet_push(run.server, topic, text, strlen(text)));
}

/* Property set, its reply (exact), and the post when the LED changes. */
static void set_led(const char *id, bool on, bool expect_post)
{
    char set[128];
    char reply[96];
    fake_onenet_event ev;

    snprintf(set, sizeof set, "{\"id\":\"%s\",\"version\":\"1.0\",\"params\":{\"led\":%s}}", id,
             on ? "true" : "false");
    snprintf(reply, sizeof reply, "{\"id\":\"%s\",\"code\":200,\"msg\":\"success\"}", id);
    push_text(SET, set);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, SET_REPLY, WAIT_MS, &ev));
    EXPECT(text_is(&ev, reply));
    if (expect_post) {
        EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, POST, WAIT_MS, &ev));
        EXPECT(text_has(&ev, on ? "\"params\":{\"led\":{\"value\":true}}"
                                : "\"params\":{\"led\":{\"value\":false}}"));
    }
}

/* --- Tests ------------------------------------------------------------------------------ */

static void test_studio_device_logs_in_with_a_token_the_server_verifies(void **state)
{
    fake_onenet_event ev;
    uint64_t now = (uint64_t)time(NULL);
    (void)state;

    start_online(NULL, NULL, &ev);
    /* ACCEPTED: the sign verified with the device key for the token's own
     * et and method, and et is in the future. */
    EXPECT(ev.token_et > now);
    EXPECT(strcmp(ev.token_method, "sha256") == 0);
    EXPECT(ev.clean_session);
    EXPECT(ev.keepalive_s >= 10 && ev.keepalive_s <= 1800);
    EXPECT(strcmp(ev.topic, DEVICE_NAME) == 0);
    expect_clean_record();
}

static void test_studio_device_posts_its_state_after_connack(void **state)
{
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    start_online(NULL, NULL, NULL);
    EXPECT(run_wait_from(&run, &at, FAKE_ONENET_PUBLISH, POST, 0, &ev));
    EXPECT(text_has(&ev, "\"version\":\"1.0\",\"params\":{\"led\":{\"value\":false}}"));
    EXPECT(ev.len > 8 && memcmp(ev.payload, "{\"id\":\"", 7) == 0);
    EXPECT(ev.qos <= 1 && !ev.retain);
}

static void test_studio_property_set_is_answered_200_and_posted(void **state)
{
    (void)state;

    start_online(NULL, NULL, NULL);
    set_led("124", true, true);
    set_led("126", false, true);
    /* No change: answered, not posted. */
    set_led("127", false, false);
    run_quiet(&run, QUIET_MS);
    EXPECT(!run_wait(&run, FAKE_ONENET_PUBLISH, POST, 0, NULL));
    expect_clean_record();
}

static void test_studio_property_get_returns_the_led(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL, NULL);
    push_text(GET, "{\"id\":\"125\",\"version\":\"1.0\",\"params\":[\"led\"]}");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, GET_REPLY, WAIT_MS, &ev));
    EXPECT(text_is(&ev, "{\"id\":\"125\",\"code\":200,\"msg\":\"success\","
                        "\"data\":{\"led\":false}}"));
    set_led("124", true, true);
    push_text(GET, "{\"id\":\"128\",\"version\":\"1.0\",\"params\":[\"led\"]}");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, GET_REPLY, WAIT_MS, &ev));
    EXPECT(text_is(&ev, "{\"id\":\"128\",\"code\":200,\"msg\":\"success\","
                        "\"data\":{\"led\":true}}"));
    expect_clean_record();
}

static void test_studio_raw_commands_are_answered_on_cmd_response(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL, NULL);
    push_text(BASE "cmd/request/41", "toggle");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, BASE "cmd/response/41", WAIT_MS, &ev));
    EXPECT(text_is(&ev, "on"));
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, POST, WAIT_MS, &ev));
    EXPECT(text_has(&ev, "{\"value\":true}"));
    push_text(BASE "cmd/request/42", "toggle");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, BASE "cmd/response/42", WAIT_MS, &ev));
    EXPECT(text_is(&ev, "off"));
    push_text(BASE "cmd/request/43", "status");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, BASE "cmd/response/43", WAIT_MS, &ev));
    EXPECT(text_is(&ev, "off"));
    expect_clean_record();
}

static void test_studio_malformed_set_gets_an_error_reply(void **state)
{
    static const char *const bad[] = {
        "{\"id\":\"130\",\"version\":\"1.0\",\"params\":{\"led\":tru}}",  /* not JSON */
        "{\"id\":\"131\",\"version\":\"1.0\",\"params\":{\"led\":true",   /* cut short */
        "{\"id\":\"132\",\"version\":\"1.0\",\"params\":{\"led\":\"on\"}}", /* not a boolean */
        "{\"id\":\"133\",\"version\":\"1.0\",\"params\":{\"fan\":true}}",  /* unknown property */
        "{\"id\":\"134\",\"version\":\"1.0\",\"params\":[\"led\"]}",      /* not an object */
    };
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char id[16];
        snprintf(id, sizeof id, "\"id\":\"%zu\"", 130 + i);
        push_text(SET, bad[i]);
        EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, SET_REPLY, WAIT_MS, &ev));
        EXPECT(text_has(&ev, id));
        EXPECT(reply_code(&ev) > 0 && reply_code(&ev) != 200);
    }
    /* Nothing changed, and the device still obeys. */
    run_quiet(&run, QUIET_MS);
    EXPECT(!run_wait(&run, FAKE_ONENET_PUBLISH, POST, 0, NULL));
    EXPECT(run_alive(&run));
    set_led("135", true, true);
    expect_clean_record();
}

static void test_studio_reconnect_signs_a_fresh_valid_token_and_resubscribes(void **state)
{
    fake_onenet_event first;
    fake_onenet_event second;
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL, &first);
    set_led("124", true, true);

    EXPECT(fake_onenet_drop(run.server));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &second));
    EXPECT(second.conn == 2);
    /* ACCEPTED again means the new token verified and has not expired. */
    EXPECT(second.token_et >= first.token_et);
    EXPECT(second.token_et > (uint64_t)time(NULL));
    expect_subscriptions(2);
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, POST, WAIT_MS, &ev));
    EXPECT(ev.conn == 2);
    EXPECT(text_has(&ev, "{\"value\":true}"));
    /* Served on the new connection. */
    push_text(GET, "{\"id\":\"125\",\"version\":\"1.0\",\"params\":[\"led\"]}");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, GET_REPLY, WAIT_MS, &ev));
    EXPECT(text_has(&ev, "\"data\":{\"led\":true}"));
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_KICKED, NULL) == 0);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_VIOLATION, NULL) == 0);
    EXPECT(fake_onenet_max_open(run.server) == 1);
}

/* The token the device used, rebuilt from what the server saw. */
static void token_of(const fake_onenet_event *accepted, char *token, size_t cap)
{
    assert_int_equal(midge_token_make(token, cap, PRODUCT_ID, DEVICE_NAME, DEVICE_KEY,
                                      accepted->token_method, accepted->token_et, NULL),
                     MIDGE_OK);
}

static void expect_no_secret(const char *token)
{
    const char *sign = strstr(token, "sign=");
    assert_non_null(sign);
    EXPECT(strstr(run.p.err, DEVICE_KEY) == NULL);
    EXPECT(strstr(run.p.err, "EnW4T71e") == NULL);
    EXPECT(strstr(run.p.err, token) == NULL);
    EXPECT(strstr(run.p.err, sign) == NULL);
    EXPECT(strstr(run.p.err, "sign=") == NULL);
    EXPECT(strstr(run.p.out, DEVICE_KEY) == NULL);
    EXPECT(strstr(run.p.out, "sign=") == NULL);
}

static void test_studio_device_never_shows_key_or_token(void **state)
{
    static const char *const trace[] = {"-d", NULL};
    char token[512];
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, trace, &ev);
    set_led("124", true, true);
    EXPECT(fake_onenet_drop(run.server));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, NULL));
    EXPECT(run_stop(&run) == 0);
    EXPECT(run_err_lines_with(&run, "CONNECT") >= 2);
    token_of(&ev, token, sizeof token);
    expect_no_secret(token);
}

static void test_studio_ready_made_token_is_sent_as_given(void **state)
{
    static const char *const with_token[] = {"--profile", "onenet-studio", "--product-id",
                                             PRODUCT_ID, "--device-id", DEVICE_NAME, "-P",
                                             VECTOR_TOKEN, "--backoff-min", "100",
                                             "--backoff-max", "200", NULL};
    fake_onenet_event ev;
    (void)state;

    start_online(with_token, NULL, &ev);
    EXPECT(ev.token_et == 7557387130u);
    EXPECT(strcmp(ev.token_method, "sha1") == 0);
    /* Reused as it is after a reconnect: still valid. */
    EXPECT(fake_onenet_drop(run.server));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    EXPECT(ev.token_et == 7557387130u);
    EXPECT(run_stop(&run) == 0);
    EXPECT(strstr(run.p.err, "Rs0u") == NULL);
}

/* The device's run ends at the first refused login (CONNACK `code`):
 * exit 1, one error line naming `flags`, nothing secret. */
static void expect_refused_login_exit(uint8_t code, const char *flags, const char *secret)
{
    fake_onenet_event ev;

    EXPECT(run_wait(&run, FAKE_ONENET_REFUSED, NULL, WAIT_MS, &ev));
    EXPECT(ev.code == code);
    proc_wait(&run.p, WAIT_MS);
    run.started = false;
    EXPECT(proc_exit_code(&run.p) == 1);
    EXPECT(run_err_lines_with(&run, " error ") == 1);
    EXPECT(run_err_lines_with(&run, code == 5 ? "connection refused: not authorized"
                                              : "connection refused: bad user name or password")
           == 1);
    EXPECT(run_err_lines_with(&run, flags) == 1);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_REFUSED, NULL) == 1);
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_ACCEPTED, NULL) == 0);
    EXPECT(strstr(run.p.err, "sign=") == NULL);
    EXPECT(strstr(run.p.err, secret) == NULL);
}

/* A ready-made token that has expired: the platform refuses it, and no
 * retry would make it valid again. */
static void test_studio_expired_token_exits_1_naming_the_password(void **state)
{
    char token[256];
    const char *args[] = {"--profile", "onenet-studio", "--product-id", PRODUCT_ID,
                          "--device-id", DEVICE_NAME, "-P", token, NULL};
    (void)state;

    assert_int_equal(midge_token_make(token, sizeof token, PRODUCT_ID, DEVICE_NAME, DEVICE_KEY,
                                      "sha1", 1000000000u, NULL),
                     MIDGE_OK);
    assert_true(run_start(&run, args, NULL));
    expect_refused_login_exit(5, "check -P (the token", token);
}

/* A device key that is valid base64 but not this device's: every token
 * it signs is refused alike (as a bad password: the sign does not verify). */
static void test_studio_wrong_device_key_exits_1_naming_the_identity(void **state)
{
    static const char *const args[] = {"--profile", "onenet-studio", "--product-id", PRODUCT_ID,
                                       "--device-id", DEVICE_NAME, "--device-key",
                                       SECRET_ONENET_ZERO_KEY, NULL};
    (void)state;

    assert_true(run_start(&run, args, NULL));
    expect_refused_login_exit(4, "check --product-id, --device-id and --device-key",
                              SECRET_ONENET_ZERO_KEY);
}

static void test_studio_device_stops_cleanly_on_sigterm(void **state)
{
    fake_onenet_event ev;
    (void)state;

    start_online(NULL, NULL, NULL);
    EXPECT(run_stop(&run) == 0);
    EXPECT(run_wait(&run, FAKE_ONENET_DISCONNECT, NULL, WAIT_MS, &ev));
    expect_clean_record();
}

static void test_studio_device_pings_within_its_keepalive(void **state)
{
    static const char *const short_keepalive[] = {"-k", "10", NULL};
    fake_onenet_event ev;
    (void)state;

    /* onenet.md section 3: a device that never pings is dropped after
     * 1.5 x keepalive; the fake drops it the same way. */
    start_online(NULL, short_keepalive, &ev);
    EXPECT(ev.keepalive_s == 10);
    EXPECT(run_wait(&run, FAKE_ONENET_PING, NULL, 15000, &ev));
    EXPECT(ev.conn == 1);
    EXPECT(fake_onenet_live(run.server) == 1);
    expect_clean_record();
}

static void test_studio_every_method_signs_a_token_that_verifies(void **state)
{
    static const char *const methods[] = {"md5", "sha1", "sha256"};
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        const char *const extra[] = {"--method", methods[i], NULL};
        fake_onenet_event ev;
        start_online(NULL, extra, &ev);
        EXPECT(strcmp(ev.token_method, methods[i]) == 0);
        EXPECT(run_stop(&run) == 0);
    }
    EXPECT(fake_onenet_tally(run.server, FAKE_ONENET_REFUSED, NULL) == 0);
}

static void test_studio_long_name_and_a_key_with_a_zero_byte(void **state)
{
    /* onenet.md section 2: the SDK's 64-byte buffer overflows with long
     * names and sha256; strlen() on the decoded key signs with no key at
     * all when its first byte is 0. */
#define LONG_NAME "a-rather-long-device-name_0123456789-abcdefghij"
#define ZERO_KEY SECRET_ONENET_ZERO_KEY
    static const char *const args[] = {"--profile", "onenet-studio", "--product-id", PRODUCT_ID,
                                       "--device-id", LONG_NAME, "--device-key", ZERO_KEY,
                                       "--method", "sha256", NULL};
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_STUDIO, .product_id = PRODUCT_ID, .device_id = LONG_NAME,
        .secret = ZERO_KEY, .connack_delay_ms = CONNACK_DELAY_MS,
    };
    fake_onenet_event ev;
    (void)state;

    fake_onenet_stop(run.server);
    run.server = fake_onenet_start(&cfg);
    assert_non_null(run.server);
    assert_true(run_start(&run, args, NULL));
    EXPECT(run_wait(&run, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    EXPECT(strcmp(ev.topic, LONG_NAME) == 0);
    EXPECT(run_wait(&run, FAKE_ONENET_SUBSCRIBE, "$sys/" PRODUCT_ID "/" LONG_NAME "/cmd/request/+",
                    WAIT_MS, &ev));
    EXPECT(ev.code == 0);
    push_text("$sys/" PRODUCT_ID "/" LONG_NAME "/cmd/request/1", "on");
    EXPECT(run_wait(&run, FAKE_ONENET_PUBLISH, "$sys/" PRODUCT_ID "/" LONG_NAME "/cmd/response/1",
                    WAIT_MS, &ev));
    EXPECT(text_is(&ev, "on"));
    expect_clean_record();
#undef LONG_NAME
#undef ZERO_KEY
}

static void test_studio_uses_a_clean_session_even_with_c(void **state)
{
    static const char *const extra[] = {"-c", NULL};
    fake_onenet_event ev;
    (void)state;

    /* onenet.md section 2: clean session must be 1. */
    start_online(NULL, extra, &ev);
    EXPECT(ev.clean_session);
    expect_clean_record();
}

static void test_studio_refuses_a_keepalive_the_platform_refuses(void **state)
{
    static const char *const extra[] = {"-k", "5", NULL};
    (void)state;

    assert_true(run_start(&run, studio, extra));
    proc_wait(&run.p, WAIT_MS);
    run.started = false;
    EXPECT(proc_exit_code(&run.p) == 1);
    EXPECT(count_lines(run.p.err) == 1);
    EXPECT(strstr(run.p.err, "keepalive") != NULL);
    EXPECT(fake_onenet_max_open(run.server) == 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, server_up, server_down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_studio_device_logs_in_with_a_token_the_server_verifies),
        T(test_studio_device_posts_its_state_after_connack),
        T(test_studio_property_set_is_answered_200_and_posted),
        T(test_studio_property_get_returns_the_led),
        T(test_studio_raw_commands_are_answered_on_cmd_response),
        T(test_studio_malformed_set_gets_an_error_reply),
        T(test_studio_reconnect_signs_a_fresh_valid_token_and_resubscribes),
        T(test_studio_device_never_shows_key_or_token),
        T(test_studio_ready_made_token_is_sent_as_given),
        T(test_studio_expired_token_exits_1_naming_the_password),
        T(test_studio_wrong_device_key_exits_1_naming_the_identity),
        T(test_studio_device_stops_cleanly_on_sigterm),
        T(test_studio_device_pings_within_its_keepalive),
        T(test_studio_every_method_signs_a_token_that_verifies),
        T(test_studio_long_name_and_a_key_with_a_zero_byte),
        T(test_studio_uses_a_clean_session_even_with_c),
        T(test_studio_refuses_a_keepalive_the_platform_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
