/*
 * Device layer, "onenet" profile: OneNET's legacy MQTT service as the
 * tutorial uses it (../shared/reference/onenet.md section 1). Commands on
 * $creq/<uuid> without a subscription, raw replies on $crsp/<uuid>, state
 * as a type 3 data point on $dp.
 */
#include <stdlib.h>

#include "test_device_util.h"

/* The tutorial's device. */
static void onenet_fixture(fixture *f, bool led)
{
    memset(f, 0, sizeof *f);
    midge_device_config_init(&f->cfg);
    f->cfg.profile = MIDGE_DEVICE_PROFILE_ONENET;
    f->cfg.device_id = "9377500";
    f->cfg.product_id = "91025";
    f->cfg.secret = "y7zd=7wNaObdfRYhxQn7D5jiDnI=";
    f->cfg.led_initial = led;
    fixture_start(f);
}

/* $dp type 3 payloads, byte for byte: 0x03, u16 big-endian length, JSON. */
static const uint8_t dp_led_on[] = {0x03, 0x00, 0x09, 0x7B, 0x22, 0x6C,
                                    0x65, 0x64, 0x22, 0x3A, 0x31, 0x7D};
static const uint8_t dp_led_off[] = {0x03, 0x00, 0x09, 0x7B, 0x22, 0x6C,
                                     0x65, 0x64, 0x22, 0x3A, 0x30, 0x7D};

static void test_onenet_connect_uses_device_product_and_key_without_will(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, false);
    assert_int_equal(midge_device_connect(&f.dev, &f.out), MIDGE_OK);
    assert_string_equal(f.out.connect.client_id, "9377500");
    assert_string_equal(f.out.connect.username, "91025");
    assert_string_equal(f.out.connect.password, "y7zd=7wNaObdfRYhxQn7D5jiDnI=");
    assert_int_equal(f.out.connect.keepalive_s, 120);
    assert_null(f.out.connect.will); /* the platform forbids a will */
    assert_false(f.out.connect.clean_session);
}

static void test_onenet_config_refuses_missing_key_and_short_keepalive(void **state)
{
    midge_device dev;
    midge_device_config cfg;
    const char *why = NULL;

    (void)state;
    midge_device_config_init(&cfg);
    cfg.profile = MIDGE_DEVICE_PROFILE_ONENET;
    cfg.device_id = "9377500";
    cfg.product_id = "91025";
    assert_int_equal(midge_device_init(&dev, &cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet: product id and API key are required");

    cfg.secret = "key";
    cfg.keepalive_s = 60;
    assert_int_equal(midge_device_init(&dev, &cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet: keepalive must be 120..65535");
    cfg.keepalive_s = 300;
    assert_int_equal(midge_device_init(&dev, &cfg, &why), MIDGE_OK);
    assert_null(why);
}

static void test_onenet_connack_reports_state_as_dp_type3_without_subscribing(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, true);
    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    /* $ topics cannot be subscribed there; commands come anyway. */
    assert_int_equal(f.out.sub_count, 0);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg_bytes(&f.out, 0, "$dp", dp_led_on, sizeof dp_led_on, 1, false);
}

static void test_onenet_subscribe_commands_option_adds_creq_filter(void **state)
{
    fixture f;
    const char *const extra[] = {"TurnipRobot"};

    (void)state;
    memset(&f, 0, sizeof f);
    midge_device_config_init(&f.cfg);
    f.cfg.profile = MIDGE_DEVICE_PROFILE_ONENET;
    f.cfg.device_id = "9377500";
    f.cfg.product_id = "91025";
    f.cfg.secret = "key";
    f.cfg.subscribe_commands = true;
    f.cfg.extra_topics = extra;
    f.cfg.extra_topic_count = 1;
    fixture_start(&f);

    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    assert_int_equal(f.out.sub_count, 2);
    expect_sub(&f.out, 0, "$creq/#", 0);
    expect_sub(&f.out, 1, "TurnipRobot", 0); /* the platform delivers QoS 0 only */
}

static void test_onenet_on_command_replies_on_crsp_then_posts_dp(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, false);
    /* The tutorial's console output: (b'$creq/3e25b3f5-...', b'on'). */
    assert_int_equal(deliver(&f, "$creq/3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4", "on"), MIDGE_OK);
    assert_true(f.out.led_changed);
    assert_true(f.out.led);
    assert_int_equal(f.out.msg_count, 2);
    expect_msg(&f.out, 0, "$crsp/3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4", "on", 1, false);
    expect_msg_bytes(&f.out, 1, "$dp", dp_led_on, sizeof dp_led_on, 1, false);
}

static void test_onenet_off_posts_dp_with_zero(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, true);
    assert_int_equal(deliver(&f, "$creq/c01cc820-72b2-50e2-ab0c-6954d35796ef", "off"), MIDGE_OK);
    expect_msg(&f.out, 0, "$crsp/c01cc820-72b2-50e2-ab0c-6954d35796ef", "off", 1, false);
    expect_msg_bytes(&f.out, 1, "$dp", dp_led_off, sizeof dp_led_off, 1, false);
}

static void test_onenet_tutorial_toggle_sequence(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, false);
    assert_int_equal(deliver(&f, "$creq/e2f94a0b-7363-56ec-b87c-1d5d02dc4774", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(deliver(&f, "$creq/9aa4a04f-eb90-503f-b14f-6f0575869c23", "toggle"), MIDGE_OK);
    assert_false(midge_device_led(&f.dev));
    expect_msg(&f.out, 0, "$crsp/9aa4a04f-eb90-503f-b14f-6f0575869c23", "off", 1, false);
}

static void test_onenet_uuid_of_any_length_is_echoed_whole(void **state)
{
    fixture f;
    char topic[300], reply[300];
    char uuid[251];

    (void)state;
    onenet_fixture(&f, false);
    /* No fixed offsets (onenet.md section 3): a long id, a short one, one
     * with levels. */
    memset(uuid, 'u', sizeof uuid - 1);
    uuid[sizeof uuid - 1] = '\0';
    snprintf(topic, sizeof topic, "$creq/%s", uuid);
    snprintf(reply, sizeof reply, "$crsp/%s", uuid);
    assert_int_equal(deliver(&f, topic, "on"), MIDGE_OK);
    expect_msg(&f.out, 0, reply, "on", 1, false);

    assert_int_equal(deliver(&f, "$creq/x", "status"), MIDGE_OK);
    expect_msg(&f.out, 0, "$crsp/x", "on", 1, false);

    assert_int_equal(deliver(&f, "$creq/a/b-c/d", "off"), MIDGE_OK);
    expect_msg(&f.out, 0, "$crsp/a/b-c/d", "off", 1, false);
}

static void test_onenet_creq_without_uuid_is_ignored(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, false);
    assert_int_equal(deliver(&f, "$creq/", "on"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    assert_false(midge_device_led(&f.dev));
    assert_int_equal(deliver(&f, "$creq", "on"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "unexpected topic");
}

static void test_onenet_unknown_command_gets_raw_error_reply(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, false);
    assert_int_equal(deliver(&f, "$creq/abc", "blink"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, "$crsp/abc",
               "error: unknown command \"blink\" (accepted: on, off, toggle, status)", 1, false);
}

static void test_onenet_command_redelivered_after_reconnect_acts_once(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, false);
    assert_int_equal(deliver(&f, "$creq/kept-1", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    /* Kept commands come again at the next login (onenet.md section 1). */
    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    assert_int_equal(deliver(&f, "$creq/kept-1", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, "$crsp/kept-1", "on", 1, false);
}

static void test_onenet_turniprobot_topic_acts_without_reply(void **state)
{
    fixture f;
    const char *const extra[] = {"TurnipRobot"};

    (void)state;
    memset(&f, 0, sizeof f);
    midge_device_config_init(&f.cfg);
    f.cfg.profile = MIDGE_DEVICE_PROFILE_ONENET;
    f.cfg.device_id = "9377500";
    f.cfg.product_id = "91025";
    f.cfg.secret = "key";
    f.cfg.extra_topics = extra;
    f.cfg.extra_topic_count = 1;
    fixture_start(&f);

    assert_int_equal(deliver(&f, "TurnipRobot", "on"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 1);
    expect_msg_bytes(&f.out, 0, "$dp", dp_led_on, sizeof dp_led_on, 1, false);

    assert_int_equal(deliver(&f, "TurnipRobot", "hello"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    assert_true(midge_device_led(&f.dev));
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "\"hello\" on TurnipRobot");
}

static void test_onenet_shutdown_publishes_nothing(void **state)
{
    fixture f;

    (void)state;
    onenet_fixture(&f, true);
    assert_int_equal(midge_device_shutdown(&f.dev, &f.out), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
}

static void test_onenet_long_uuid_too_big_for_buffer_is_refused_unchanged(void **state)
{
    fixture f;
    uint8_t *small = malloc(64);
    midge_device_out out;
    char topic[200];

    (void)state;
    onenet_fixture(&f, false);
    memset(topic, 'z', sizeof topic - 1);
    topic[sizeof topic - 1] = '\0';
    memcpy(topic, "$creq/", 6);
    midge_device_out_init(&out, small, 64);
    midge_publish m = incoming(topic, "on");
    assert_int_equal(midge_device_handle(&f.dev, &m, &out), MIDGE_ERR_NO_SPACE);
    assert_int_equal(out.msg_count, 0);
    assert_false(midge_device_led(&f.dev));
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onenet_connect_uses_device_product_and_key_without_will),
        cmocka_unit_test(test_onenet_config_refuses_missing_key_and_short_keepalive),
        cmocka_unit_test(test_onenet_connack_reports_state_as_dp_type3_without_subscribing),
        cmocka_unit_test(test_onenet_subscribe_commands_option_adds_creq_filter),
        cmocka_unit_test(test_onenet_on_command_replies_on_crsp_then_posts_dp),
        cmocka_unit_test(test_onenet_off_posts_dp_with_zero),
        cmocka_unit_test(test_onenet_tutorial_toggle_sequence),
        cmocka_unit_test(test_onenet_uuid_of_any_length_is_echoed_whole),
        cmocka_unit_test(test_onenet_creq_without_uuid_is_ignored),
        cmocka_unit_test(test_onenet_unknown_command_gets_raw_error_reply),
        cmocka_unit_test(test_onenet_command_redelivered_after_reconnect_acts_once),
        cmocka_unit_test(test_onenet_turniprobot_topic_acts_without_reply),
        cmocka_unit_test(test_onenet_shutdown_publishes_nothing),
        cmocka_unit_test(test_onenet_long_uuid_too_big_for_buffer_is_refused_unchanged),
    };
    return cmocka_run_group_tests_name("device_onenet", tests, NULL, NULL);
}
