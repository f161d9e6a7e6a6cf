/*
 * The platform plugin's messages inside a real mosquitto: commands kept
 * for offline devices (OneNET's qos/timeout), answers and data points
 * handed to the operators' tree, malformed data points dropped.
 */
#include <unistd.h>

#include "platform.h"

static platform pf;

static int setup(void **state)
{
    (void)state;
    return platform_start_with(&pf, platform_registry,
                               "plugin_opt_max_commands 4\nplugin_opt_max_pushes 3\n");
}

static int teardown(void **state)
{
    (void)state;
    platform_stop(&pf);
    return 0;
}

#define TREE "$onenet/" PRODUCT "/" DEVICE_B

static peer *device_b(void)
{
    peer *d;
    assert_int_equal(platform_login(&d, &pf, DEVICE_B, PRODUCT, AUTH_INFO), MIDGE_OK);
    return d;
}

static peer *watching_operator(void)
{
    peer *op = platform_operator(&pf, "op-watch");
    assert_int_equal(midge_client_subscribe(&op->client, "$onenet/" PRODUCT "/#", 1), MIDGE_OK);
    return op;
}

/* --- commands ---------------------------------------------------------------------- */

static void test_online_command_to_offline_device_is_refused_errno_10(void **state)
{
    (void)state;
    peer *op = watching_operator();
    platform_command(op, DEVICE_B, "u-offline", NULL, "on");
    int i = peer_wait_topic(op, TREE "/status/u-offline", WAIT_MS);
    assert_true(i >= 0);
    assert_string_equal(peer_text(op, i),
                        "{\"errno\":10,\"error\":\"device not online: " DEVICE_B "\"}");
}

static void test_answer_reaches_the_operator_and_status_follows(void **state)
{
    (void)state;
    peer *op = watching_operator();
    peer *d = device_b();
    platform_command(op, DEVICE_B, "u-1", NULL, "toggle");
    assert_true(peer_wait_topic(d, "$creq/u-1", WAIT_MS) >= 0);
    assert_int_equal(midge_client_publish(&d->client, "$crsp/u-1", "on", 2, 1, false, NULL),
                     MIDGE_OK);
    int i = peer_wait_topic(op, TREE "/rsp/u-1", WAIT_MS);
    assert_true(i >= 0);
    assert_string_equal(peer_text(op, i), "on");
    assert_false(op->got[i].retain);
    assert_true(peer_wait_text(op, TREE "/status/u-1", "\"status\":2", WAIT_MS) >= 0);
    /* Status 4 once the answer is in. */
    assert_true(peer_wait_text(op, TREE "/status/u-1", "\"status\":4", WAIT_MS) >= 0);
}

static void test_command_kept_for_offline_device_is_pushed_at_login(void **state)
{
    (void)state;
    peer *op = watching_operator();
    /* qos=0 with a timeout: kept while offline, sent once at login. */
    platform_command(op, DEVICE_B, "u-kept", "0/60", "on");
    int i = peer_wait_topic(op, TREE "/status/u-kept", WAIT_MS);
    assert_true(i >= 0);
    assert_non_null(strstr(peer_text(op, i), "\"status\":1"));
    peer *d = device_b();
    i = peer_wait_topic(d, "$creq/u-kept", WAIT_MS);
    assert_true(i >= 0);
    assert_string_equal(peer_text(d, i), "on");
    /* Sent: not again at the next login. */
    peer_free(d);
    d = device_b();
    assert_int_equal(peer_idle(d, 300), MIDGE_OK);
    assert_int_equal(d->count, 0);
}

static void test_empty_command_is_kept_and_pushed(void **state)
{
    (void)state;
    peer *op = watching_operator();
    /* mosquitto hands an empty payload over as no buffer at all. */
    platform_command(op, DEVICE_B, "u-empty", "0/60", "");
    assert_true(peer_wait_text(op, TREE "/status/u-empty", "\"status\":1", WAIT_MS) >= 0);
    peer *d = device_b();
    int i = peer_wait_topic(d, "$creq/u-empty", WAIT_MS);
    assert_true(i >= 0);
    assert_int_equal(d->got[i].len, 0);
}

static void test_unanswered_qos1_command_is_pushed_at_every_login_until_answered(void **state)
{
    (void)state;
    peer *op = watching_operator();
    peer *d = device_b();
    platform_command(op, DEVICE_B, "u-q1", "1/60", "toggle");
    assert_true(peer_wait_topic(d, "$creq/u-q1", WAIT_MS) >= 0);
    /* The device drops before answering: the command comes again. */
    peer_free(d);
    d = device_b();
    assert_true(peer_wait_topic(d, "$creq/u-q1", WAIT_MS) >= 0);
    assert_int_equal(midge_client_publish(&d->client, "$crsp/u-q1", "on", 2, 1, false, NULL),
                     MIDGE_OK);
    assert_true(peer_wait_topic(op, TREE "/rsp/u-q1", WAIT_MS) >= 0);
    /* Answered: not again. */
    peer_free(d);
    d = device_b();
    assert_int_equal(peer_idle(d, 300), MIDGE_OK);
    assert_int_equal(d->count, 0);
}

static void test_kept_command_stops_after_max_pushes(void **state)
{
    (void)state;
    peer *op = watching_operator();
    platform_command(op, DEVICE_B, "u-max", "1/60", "on");
    /* plugin_opt_max_pushes 3: three logins get it, the fourth not. */
    for (int k = 0; k < 3; k++) {
        peer *d = device_b();
        assert_true(peer_wait_topic(d, "$creq/u-max", WAIT_MS) >= 0);
        peer_free(d);
    }
    peer *d = device_b();
    assert_int_equal(peer_idle(d, 300), MIDGE_OK);
    assert_int_equal(d->count, 0);
}

static void test_kept_command_expires_with_its_timeout(void **state)
{
    (void)state;
    peer *op = watching_operator();
    platform_command(op, DEVICE_B, "u-short", "0/1", "on");
    /* Status 5 when its time is up (the platform sweeps once a second). */
    assert_true(peer_wait_text(op, TREE "/status/u-short", "\"status\":5", WAIT_MS) >= 0);
    peer *d = device_b();
    assert_int_equal(peer_idle(d, 300), MIDGE_OK);
    assert_int_equal(d->count, 0);
}

static void test_too_many_kept_commands_are_refused(void **state)
{
    (void)state;
    peer *op = watching_operator();
    char uuid[16];
    for (int k = 0; k < 4; k++) {
        snprintf(uuid, sizeof uuid, "u-many-%d", k);
        platform_command(op, DEVICE_B, uuid, "1/60", "on");
    }
    platform_command(op, DEVICE_B, "u-many-4", "1/60", "on");
    int i = peer_wait_topic(op, TREE "/status/u-many-4", WAIT_MS);
    assert_true(i >= 0);
    assert_non_null(strstr(peer_text(op, i), "\"errno\":11"));
}

/* --- data points ------------------------------------------------------------------- */

/* Publish payload on $dp as DEVICE_B; the operator's JSON, or NULL if the
 * plugin dropped it. */
static const char *dp_round_trip(peer *op, peer *d, const void *payload, size_t len)
{
    op->count = 0;
    assert_int_equal(midge_client_publish(&d->client, "$dp", payload, len, 1, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&d->client, WAIT_MS), MIDGE_OK);
    int i = peer_wait_topic(op, TREE "/dp", 500);
    return i >= 0 ? peer_text(op, i) : NULL;
}

static void test_dp_types_1_3_4_5_6_7_decoded_for_the_operator(void **state)
{
    (void)state;
    peer *d = device_b();
    peer *op = watching_operator();
    static const char t1[] = "\x01\x00\x54{\"datastreams\":[{\"id\":\"led\",\"datapoints\":"
                             "[{\"at\":\"2017-05-04 13:39:49\",\"value\":1}]}]}";
    static const char t3[] = "\x03\x00\x14{\"temperature\":22.5}";
    static const char t4[] = "\x04\x00\x2c{\"temperature\":{\"2015-03-22 22:31:12\":22.5}}";
    static const char t5[] = "\x05\x00\x2f,;temperature,2015-03-22 22:31:12,22.5;pm2.5,89";
    static const uint8_t t6[] = {0x86, 0x11, 0x05, 0x04, 0x0d, 0x27, 0x31, 0x00, 0x07,
                                 ',',  ';',  'l',  'e',  'd',  ',',  '1'};
    static const uint8_t t7[] = {0x87, 0x11, 0x05, 0x04, 0x0d, 0x27, 0x31, 0x00, 0x00, 0x00,
                                 0x02, 0x00, 0x00, 0x08, 0x42, 0x66, 0x66, 0xa2, 0xc1};
    assert_string_equal(dp_round_trip(op, d, t1, sizeof t1 - 1),
                        "{\"type\":1,\"points\":[{\"id\":\"led\",\"at\":\"2017-05-04 "
                        "13:39:49\",\"value\":1}]}");
    assert_string_equal(dp_round_trip(op, d, t3, sizeof t3 - 1),
                        "{\"type\":3,\"points\":[{\"id\":\"temperature\",\"value\":22.5}]}");
    assert_string_equal(dp_round_trip(op, d, t4, sizeof t4 - 1),
                        "{\"type\":4,\"points\":[{\"id\":\"temperature\",\"at\":\"2015-03-22 "
                        "22:31:12\",\"value\":22.5}]}");
    assert_string_equal(dp_round_trip(op, d, t5, sizeof t5 - 1),
                        "{\"type\":5,\"points\":[{\"id\":\"temperature\",\"at\":\"2015-03-22 "
                        "22:31:12\",\"value\":22.5},{\"id\":\"pm2.5\",\"value\":89}]}");
    assert_string_equal(dp_round_trip(op, d, t6, sizeof t6),
                        "{\"type\":6,\"points\":[{\"id\":\"led\",\"at\":\"2017-05-04 "
                        "13:39:49\",\"value\":1}]}");
    assert_string_equal(dp_round_trip(op, d, t7, sizeof t7),
                        "{\"type\":7,\"points\":[{\"id\":\"0\",\"at\":\"2017-05-04 "
                        "13:39:49\",\"value\":34},{\"id\":\"0\",\"at\":\"2017-05-04 "
                        "13:39:49\",\"value\":-20.2999992}]}");
}

static void test_latest_dp_is_retained_for_a_later_operator(void **state)
{
    (void)state;
    peer *d = device_b();
    static const char t3[] = "\x03\x00\x09{\"led\":1}";
    assert_int_equal(midge_client_publish(&d->client, "$dp", t3, sizeof t3 - 1, 1, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&d->client, WAIT_MS), MIDGE_OK);
    peer *late = watching_operator();
    int i = peer_wait_topic(late, TREE "/dp", WAIT_MS);
    assert_true(i >= 0);
    assert_true(late->got[i].retain);
    assert_string_equal(peer_text(late, i), "{\"type\":3,\"points\":[{\"id\":\"led\",\"value\":1}]}");
}

static void test_malformed_dp_is_logged_escaped_and_dropped(void **state)
{
    (void)state;
    peer *d = device_b();
    peer *op = watching_operator();
    static const char bad_len[] = "\x03\x00\x40{\"led\":1}";
    static const char not_json[] = "\x03\x00\x05{led}";
    static const char bad_type[] = "\x09\x00\x00";
    static const char hostile[] = "\x03\x00\x0a{\"a\":\x1b[2J}";
    assert_null(dp_round_trip(op, d, bad_len, sizeof bad_len - 1));
    assert_null(dp_round_trip(op, d, not_json, sizeof not_json - 1));
    assert_null(dp_round_trip(op, d, bad_type, sizeof bad_type - 1));
    assert_null(dp_round_trip(op, d, hostile, sizeof hostile - 1));
    assert_null(dp_round_trip(op, d, "", 0));
    /* Still alive, and still decoding. */
    assert_non_null(dp_round_trip(op, d, "\x03\x00\x09{\"led\":0}", 12));
    const char *log = platform_log(&pf);
    assert_non_null(strstr(log, "$dp from " DEVICE_B " dropped: length does not match"));
    assert_non_null(strstr(log, "\\x1b[2J"));
    assert_null(strstr(log, "\x1b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_online_command_to_offline_device_is_refused_errno_10,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_reaches_the_operator_and_status_follows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_kept_for_offline_device_is_pushed_at_login,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_command_is_kept_and_pushed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_unanswered_qos1_command_is_pushed_at_every_login_until_answered, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_kept_command_stops_after_max_pushes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kept_command_expires_with_its_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_kept_commands_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dp_types_1_3_4_5_6_7_decoded_for_the_operator, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_latest_dp_is_retained_for_a_later_operator, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_dp_is_logged_escaped_and_dropped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
