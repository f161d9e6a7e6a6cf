/*
 * Device layer: helpers, configuration checks, command handling and dedupe,
 * output bounds, and the plain "mqtt" profile's topics and payloads.
 * The OneNET profiles have their own files (test_device_onenet.c,
 * test_device_studio.c).
 */
#include <stdlib.h>

#include "test_device_util.h"

static void mqtt_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    midge_device_config_init(&f->cfg);
    f->cfg.device_id = "lamp1";
    fixture_start(f);
}

/* ---- helpers ------------------------------------------------------------- */

static void test_parse_command_accepts_exact_bytes_only(void **state)
{
    (void)state;
    assert_int_equal(midge_device_parse_command("on", 2), MIDGE_DEVICE_CMD_ON);
    assert_int_equal(midge_device_parse_command("off", 3), MIDGE_DEVICE_CMD_OFF);
    assert_int_equal(midge_device_parse_command("toggle", 6), MIDGE_DEVICE_CMD_TOGGLE);
    assert_int_equal(midge_device_parse_command("status", 6), MIDGE_DEVICE_CMD_STATUS);

    static const char *const unknown[] = {"ON", "on\n", "", " on", "onn", "toggl", "Off"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_int_equal(midge_device_parse_command(unknown[i], strlen(unknown[i])),
                         MIDGE_DEVICE_CMD_UNKNOWN);
    assert_int_equal(midge_device_parse_command("on\0", 3), MIDGE_DEVICE_CMD_UNKNOWN);
    assert_int_equal(midge_device_parse_command(NULL, 0), MIDGE_DEVICE_CMD_UNKNOWN);
}

static void test_led_text_round_trips_and_refuses_others(void **state)
{
    bool on = false;

    (void)state;
    assert_string_equal(midge_device_led_text(true), "on");
    assert_string_equal(midge_device_led_text(false), "off");
    assert_true(midge_device_led_parse("on", 2, &on));
    assert_true(on);
    assert_true(midge_device_led_parse("off", 3, &on));
    assert_false(on);
    assert_false(midge_device_led_parse("toggle", 6, &on));
    assert_false(midge_device_led_parse("ON", 2, &on));
}

static void test_profile_names_round_trip(void **state)
{
    midge_device_profile p = MIDGE_DEVICE_PROFILE_MQTT;

    (void)state;
    assert_true(midge_device_profile_parse("onenet-studio", &p));
    assert_int_equal(p, MIDGE_DEVICE_PROFILE_ONENET_STUDIO);
    assert_string_equal(midge_device_profile_name(p), "onenet-studio");
    assert_true(midge_device_profile_parse("onenet", &p));
    assert_int_equal(p, MIDGE_DEVICE_PROFILE_ONENET);
    assert_true(midge_device_profile_parse("mqtt", &p));
    assert_int_equal(p, MIDGE_DEVICE_PROFILE_MQTT);
    assert_false(midge_device_profile_parse("OneNET", &p));
    assert_false(midge_device_profile_parse(NULL, &p));
}

static void test_device_ram_is_the_documented_size(void **state)
{
    (void)state;
    print_message("sizeof(midge_device) = %zu, sizeof(midge_device_out) = %zu\n",
                  sizeof(midge_device), sizeof(midge_device_out));
    /* device.h: 8 bytes per dedupe slot plus about 120 bytes. */
    assert_true(sizeof(midge_device) <= 8u * MIDGE_DEVICE_DEDUPE_SLOTS + 128u);
    assert_true(MIDGE_DEVICE_DEDUPE_SLOTS >= 64);
}

/* ---- configuration ------------------------------------------------------- */

static void expect_init_refused(const midge_device_config *cfg, const char *message)
{
    midge_device dev;
    const char *why = NULL;

    assert_int_equal(midge_device_init(&dev, cfg, &why), MIDGE_ERR_INVALID);
    assert_non_null(why);
    assert_string_equal(why, message);
}

static void test_config_defaults_to_mqtt_profile_with_led_off(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(f.cfg.profile, MIDGE_DEVICE_PROFILE_MQTT);
    assert_false(midge_device_led(&f.dev));
    assert_int_equal(midge_device_get_stats(&f.dev)->commands, 0);
}

static void test_init_refuses_bad_configs_with_reasons(void **state)
{
    midge_device_config cfg;
    const char *const bad_filter[] = {"a/#/b"};
    const char *const many[MIDGE_DEVICE_MAX_EXTRA_TOPICS + 1] = {0};

    (void)state;
    midge_device_config_init(&cfg);
    expect_init_refused(&cfg, "a device id is required");
    cfg.device_id = "";
    expect_init_refused(&cfg, "a device id is required");

    cfg.device_id = "lamp+1";
    expect_init_refused(&cfg,
                        "mqtt: device id must be UTF-8 without '+', '#' or '/' (or set a prefix)");
    cfg.prefix = "home/+/lamp";
    expect_init_refused(&cfg,
                        "mqtt: prefix must be a topic name without wildcards or a trailing '/'");
    cfg.prefix = "home/lamp/";
    expect_init_refused(&cfg,
                        "mqtt: prefix must be a topic name without wildcards or a trailing '/'");
    cfg.prefix = "home/lamp";
    cfg.secret = "pw";
    expect_init_refused(&cfg, "mqtt: a password needs a username");
    cfg.secret = NULL;

    cfg.extra_topics = bad_filter;
    cfg.extra_topic_count = 1;
    expect_init_refused(&cfg, "an extra topic is not a valid topic filter");
    cfg.extra_topics = many;
    cfg.extra_topic_count = MIDGE_DEVICE_MAX_EXTRA_TOPICS + 1;
    expect_init_refused(&cfg, "too many extra topics (MIDGE_DEVICE_MAX_EXTRA_TOPICS)");
    cfg.extra_topic_count = 0;

    cfg.profile = (midge_device_profile)7;
    expect_init_refused(&cfg, "unknown profile");
    expect_init_refused(NULL, "no configuration");
}

/* ---- mqtt profile: connect and connack -------------------------------------- */

static void test_mqtt_connect_sets_client_id_and_offline_will(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(midge_device_connect(&f.dev, &f.out), MIDGE_OK);
    const midge_connect_opts *c = &f.out.connect;
    assert_string_equal(c->client_id, "lamp1");
    assert_null(c->username);
    assert_null(c->password);
    assert_int_equal(c->keepalive_s, 60);
    assert_false(c->clean_session); /* persistent by default: commands queue */
    assert_ptr_equal(c->will, &f.out.will);
    assert_string_equal(c->will->topic, "devices/lamp1/status");
    assert_int_equal(c->will->payload_len, 7);
    assert_memory_equal(c->will->payload, "offline", 7);
    assert_int_equal(c->will->qos, 1);
    assert_true(c->will->retain);
}

static void test_mqtt_connect_passes_credentials_keepalive_and_clean_session(void **state)
{
    fixture f;

    (void)state;
    memset(&f, 0, sizeof f);
    midge_device_config_init(&f.cfg);
    f.cfg.device_id = "lamp1";
    f.cfg.username = "user";
    f.cfg.secret = "pass";
    f.cfg.keepalive_s = 15;
    f.cfg.clean_session = true;
    fixture_start(&f);

    assert_int_equal(midge_device_connect(&f.dev, &f.out), MIDGE_OK);
    assert_string_equal(f.out.connect.username, "user");
    assert_string_equal(f.out.connect.password, "pass");
    assert_int_equal(f.out.connect.keepalive_s, 15);
    assert_true(f.out.connect.clean_session);
}

static void test_mqtt_connect_with_tiny_buffer_fails_without_overflow(void **state)
{
    fixture f;
    uint8_t *tiny = malloc(8);

    (void)state;
    mqtt_fixture(&f);
    midge_device_out_init(&f.out, tiny, 8);
    assert_int_equal(midge_device_connect(&f.dev, &f.out), MIDGE_ERR_NO_SPACE);
    assert_null(f.out.connect.will);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "buffer too small");
    free(tiny);
}

static void test_mqtt_connack_subscribes_and_announces_online_then_state(void **state)
{
    fixture f;
    const char *const extra[] = {"TurnipRobot"};

    (void)state;
    memset(&f, 0, sizeof f);
    midge_device_config_init(&f.cfg);
    f.cfg.device_id = "lamp1";
    f.cfg.extra_topics = extra;
    f.cfg.extra_topic_count = 1;
    fixture_start(&f);

    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    assert_int_equal(f.out.sub_count, 2);
    expect_sub(&f.out, 0, "devices/lamp1/cmd/request/+", 1);
    expect_sub(&f.out, 1, "TurnipRobot", 1);
    assert_int_equal(f.out.msg_count, 2);
    expect_msg(&f.out, 0, "devices/lamp1/status", "online", 1, true);
    expect_msg(&f.out, 1, "devices/lamp1/state", "{\"led\":\"off\"}", 0, true);
}

static void test_mqtt_custom_prefix_is_used_for_every_topic(void **state)
{
    fixture f;

    (void)state;
    memset(&f, 0, sizeof f);
    midge_device_config_init(&f.cfg);
    f.cfg.device_id = "lamp1";
    f.cfg.prefix = "home/kitchen/lamp";
    f.cfg.led_initial = true;
    fixture_start(&f);

    assert_int_equal(midge_device_connect(&f.dev, &f.out), MIDGE_OK);
    assert_string_equal(f.out.will.topic, "home/kitchen/lamp/status");
    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    expect_sub(&f.out, 0, "home/kitchen/lamp/cmd/request/+", 1);
    expect_msg(&f.out, 1, "home/kitchen/lamp/state", "{\"led\":\"on\"}", 0, true);

    assert_int_equal(deliver(&f, "home/kitchen/lamp/cmd/request/9", "off"), MIDGE_OK);
    expect_msg(&f.out, 0, "home/kitchen/lamp/cmd/response/9", "off", 1, false);
    /* The default prefix no longer applies. */
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/10", "on"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    assert_false(midge_device_led(&f.dev));
}

static void test_mqtt_shutdown_publishes_offline_retained(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(midge_device_shutdown(&f.dev, &f.out), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, "devices/lamp1/status", "offline", 1, true);
}

/* ---- commands ---------------------------------------------------------- */

static void test_on_command_replies_then_reports_retained_state(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/42", "on"), MIDGE_OK);
    assert_true(f.out.led);
    assert_true(f.out.led_changed);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 2);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/42", "on", 1, false);
    expect_msg(&f.out, 1, "devices/lamp1/state", "{\"led\":\"on\"}", 0, true);
    expect_log(&f.out, MIDGE_DEVICE_LOG_INFO, "led on");
    assert_int_equal(midge_device_get_stats(&f.dev)->commands, 1);
}

static void test_off_when_already_off_replies_without_state_report(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/1", "off"), MIDGE_OK);
    assert_false(f.out.led_changed);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/1", "off", 1, false);
}

static void test_status_reports_state_without_changing_it(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/s1", "status"), MIDGE_OK);
    assert_false(f.out.led_changed);
    assert_false(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 2);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/s1", "off", 1, false);
    expect_msg(&f.out, 1, "devices/lamp1/state", "{\"led\":\"off\"}", 0, true);
}

static void test_toggle_delivered_twice_flips_once_with_same_reply(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/t1", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/t1", "on", 1, false);

    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/t1", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    assert_false(f.out.led_changed);
    assert_int_equal(f.out.msg_count, 1); /* the reply again, no new report */
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/t1", "on", 1, false);
    expect_log(&f.out, MIDGE_DEVICE_LOG_INFO, "repeated command");
    assert_int_equal(midge_device_get_stats(&f.dev)->duplicates, 1);
    assert_int_equal(midge_device_get_stats(&f.dev)->commands, 1);

    /* A new id acts again. */
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/t2", "toggle"), MIDGE_OK);
    assert_false(midge_device_led(&f.dev));
}

static void test_duplicate_gets_the_reply_of_its_first_delivery(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/a", "on"), MIDGE_OK);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/b", "off"), MIDGE_OK);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/a", "on"), MIDGE_OK);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/a", "on", 1, false);
    assert_false(midge_device_led(&f.dev)); /* "on" was not applied again */
}

static void send_toggle(fixture *f, unsigned id)
{
    char topic[64];

    snprintf(topic, sizeof topic, "devices/lamp1/cmd/request/id-%u", id);
    assert_int_equal(deliver(f, topic, "toggle"), MIDGE_OK);
}

static void test_dedupe_keeps_64_ids_and_the_next_evicts_the_oldest(void **state)
{
    fixture f;
    const unsigned slots = MIDGE_DEVICE_DEDUPE_SLOTS;

    (void)state;
    mqtt_fixture(&f);
    for (unsigned i = 0; i < slots; i++)
        send_toggle(&f, i);
    bool led = midge_device_led(&f.dev);
    assert_int_equal(midge_device_get_stats(&f.dev)->commands, slots);

    /* Every one of the last `slots` ids is still known: none flips. */
    for (unsigned i = 0; i < slots; i++)
        send_toggle(&f, i);
    assert_int_equal(midge_device_led(&f.dev), led);
    assert_int_equal(midge_device_get_stats(&f.dev)->duplicates, slots);

    /* The 65th distinct id pushes out the first one, which then acts. */
    send_toggle(&f, slots);
    assert_int_equal(midge_device_led(&f.dev), !led);
    send_toggle(&f, 0);
    assert_int_equal(midge_device_led(&f.dev), led);
    assert_true(f.out.led_changed);
    /* Re-adding id 0 pushed out id 1; id 2 is still remembered. */
    send_toggle(&f, 2);
    assert_false(f.out.led_changed);
}

/* ---- dedupe ring across a restart ---------------------------------------- */

static void test_exported_ids_import_as_the_same_ring(void **state)
{
    fixture a, b;
    uint64_t first[MIDGE_DEVICE_DEDUPE_SLOTS], again[MIDGE_DEVICE_DEDUPE_SLOTS];
    const unsigned slots = MIDGE_DEVICE_DEDUPE_SLOTS;

    (void)state;
    mqtt_fixture(&a);
    assert_int_equal(midge_device_export_ids(&a.dev, first, slots), 0);
    /* Past a wrap of the ring: ids 6..69 are remembered, 6 the oldest. */
    for (unsigned i = 0; i < slots + 6; i++)
        send_toggle(&a, i);
    assert_int_equal(midge_device_export_ids(&a.dev, first, slots), slots);

    mqtt_fixture(&b);
    assert_int_equal(midge_device_import_ids(&b.dev, first, slots), MIDGE_OK);
    assert_int_equal(midge_device_export_ids(&b.dev, again, slots), slots);
    assert_memory_equal(again, first, sizeof first);

    /* A smaller array gets the newest, still oldest first. */
    assert_int_equal(midge_device_export_ids(&b.dev, again, 3), 3);
    assert_memory_equal(again, &first[slots - 3], 3 * sizeof first[0]);

    /* The order came across too: a new id pushes out id 6, not another. */
    send_toggle(&b, 1000);
    assert_true(b.out.led_changed);
    send_toggle(&b, 7);
    assert_false(b.out.led_changed);
    send_toggle(&b, 6);
    assert_true(b.out.led_changed);
}

static void test_imported_id_is_answered_with_its_reply_without_acting(void **state)
{
    fixture before, after;
    uint64_t records[MIDGE_DEVICE_DEDUPE_SLOTS];

    (void)state;
    mqtt_fixture(&before);
    assert_int_equal(deliver(&before, "devices/lamp1/cmd/request/t1", "toggle"), MIDGE_OK);
    assert_int_equal(deliver(&before, "devices/lamp1/cmd/request/t2", "off"), MIDGE_OK);
    size_t n = midge_device_export_ids(&before.dev, records, MIDGE_DEVICE_DEDUPE_SLOTS);
    assert_int_equal(n, 2);

    /* The restarted device: LED as saved (off), the ids imported. */
    mqtt_fixture(&after);
    assert_int_equal(midge_device_import_ids(&after.dev, records, n), MIDGE_OK);
    assert_int_equal(deliver(&after, "devices/lamp1/cmd/request/t1", "toggle"), MIDGE_OK);
    expect_msg(&after.out, 0, "devices/lamp1/cmd/response/t1", "on", 1, false);
    assert_int_equal(after.out.msg_count, 1);
    assert_false(after.out.led_changed);
    assert_false(midge_device_led(&after.dev));
    expect_log(&after.out, MIDGE_DEVICE_LOG_INFO, "repeated command");
    assert_int_equal(midge_device_get_stats(&after.dev)->duplicates, 1);
    assert_int_equal(midge_device_get_stats(&after.dev)->commands, 0);

    /* A new id acts. */
    assert_int_equal(deliver(&after, "devices/lamp1/cmd/request/t3", "toggle"), MIDGE_OK);
    assert_true(after.out.led_changed);
    assert_true(midge_device_led(&after.dev));
}

static void test_import_of_more_than_the_ring_keeps_the_newest(void **state)
{
    fixture a, b, c;
    const unsigned slots = MIDGE_DEVICE_DEDUPE_SLOTS;
    uint64_t records[MIDGE_DEVICE_DEDUPE_SLOTS + 8], kept[MIDGE_DEVICE_DEDUPE_SLOTS];

    (void)state;
    /* Ids 0..63 from one device, 64..71 from another: 72 records in all. */
    mqtt_fixture(&a);
    for (unsigned i = 0; i < slots; i++)
        send_toggle(&a, i);
    assert_int_equal(midge_device_export_ids(&a.dev, records, slots), slots);
    mqtt_fixture(&b);
    for (unsigned i = slots; i < slots + 8; i++)
        send_toggle(&b, i);
    assert_int_equal(midge_device_export_ids(&b.dev, &records[slots], 8), 8);

    mqtt_fixture(&c);
    assert_int_equal(midge_device_import_ids(&c.dev, records, slots + 8), MIDGE_OK);
    assert_int_equal(midge_device_export_ids(&c.dev, kept, slots), slots);
    assert_memory_equal(kept, &records[8], sizeof kept);

    /* Ids 8..71 are remembered; 0..7 were the oldest: forgotten, they act. */
    send_toggle(&c, 8);
    assert_false(c.out.led_changed);
    send_toggle(&c, slots + 7);
    assert_false(c.out.led_changed);
    send_toggle(&c, 7);
    assert_true(c.out.led_changed);
}

static void test_export_and_import_refuse_null_arguments(void **state)
{
    fixture f;
    uint64_t record = 0;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(midge_device_export_ids(NULL, &record, 1), 0);
    assert_int_equal(midge_device_export_ids(&f.dev, NULL, 1), 0);
    assert_int_equal(midge_device_import_ids(NULL, &record, 1), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_import_ids(&f.dev, NULL, 1), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_import_ids(&f.dev, NULL, 0), MIDGE_OK);
    assert_int_equal(midge_device_export_ids(&f.dev, &record, 1), 0);
}

static void test_unknown_command_gets_error_reply_naming_accepted_commands(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/5", "blink"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/5",
               "error: unknown command \"blink\" (accepted: on, off, toggle, status)", 1, false);
    assert_false(f.out.led_changed);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "unknown command \"blink\"");
    assert_int_equal(midge_device_get_stats(&f.dev)->rejected, 1);

    /* The device keeps running: the next command works. */
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/6", "on"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
}

static void test_near_miss_commands_are_unknown(void **state)
{
    fixture f;
    static const char *const near[] = {"ON", "on\n", ""};

    (void)state;
    mqtt_fixture(&f);
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) {
        assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/n", near[i]), MIDGE_OK);
        assert_int_equal(f.out.msg_count, 1);
        assert_false(midge_device_led(&f.dev));
    }
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/n",
               "error: unknown command \"\" (accepted: on, off, toggle, status)", 1, false);
    midge_publish empty = incoming_bytes("devices/lamp1/cmd/request/n", NULL, 0);
    assert_int_equal(midge_device_handle(&f.dev, &empty, &f.out), MIDGE_OK);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/n",
               "error: unknown command \"\" (accepted: on, off, toggle, status)", 1, false);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/n", "on\n"), MIDGE_OK);
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/n",
               "error: unknown command \"on\\x0a\" (accepted: on, off, toggle, status)", 1, false);
}

static void test_error_reply_escapes_and_cuts_long_odd_input(void **state)
{
    fixture f;
    uint8_t payload[300];

    (void)state;
    mqtt_fixture(&f);
    payload[0] = 0x01;
    payload[1] = '"';
    payload[2] = '\\';
    payload[3] = 0xff;
    memset(payload + 4, 'A', sizeof payload - 4);
    midge_publish m = incoming_bytes("devices/lamp1/cmd/request/x", payload, sizeof payload);
    assert_int_equal(midge_device_handle(&f.dev, &m, &f.out), MIDGE_OK);

    /* 32 input bytes shown: 4 odd ones then 28 'A', then "...". */
    char want[200];
    snprintf(want, sizeof want,
             "error: unknown command \"\\x01\\\"\\\\\\xff%.*s...\" (accepted: on, off, toggle, "
             "status)",
             28, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect_msg(&f.out, 0, "devices/lamp1/cmd/response/x", want, 1, false);
    assert_true(strlen(f.out.log) < MIDGE_DEVICE_LOG_MAX);
}

static void test_output_buffer_too_small_is_an_error_and_changes_nothing(void **state)
{
    fixture f;
    size_t needed = 0;

    (void)state;
    mqtt_fixture(&f);
    /* Every size short of what a toggle's reply and report need: an error,
     * never a write past the (heap, ASan-checked) buffer, nothing done. */
    for (size_t cap = 0;; cap++) {
        uint8_t *buf = malloc(cap == 0 ? 1 : cap);
        midge_device_out out;
        midge_device_out_init(&out, buf, cap);
        midge_publish m = incoming("devices/lamp1/cmd/request/77", "toggle");
        midge_status st = midge_device_handle(&f.dev, &m, &out);
        if (st == MIDGE_OK) {
            needed = cap;
            assert_int_equal(out.msg_count, 2);
            free(buf);
            break;
        }
        assert_int_equal(st, MIDGE_ERR_NO_SPACE);
        assert_int_equal(out.msg_count, 0);
        assert_false(midge_device_led(&f.dev));
        expect_log(&out, MIDGE_DEVICE_LOG_WARN, "buffer too small");
        free(buf);
    }
    /* topic NUL payload, twice: the reply and the report, nothing more. */
    assert_int_equal(needed, strlen("devices/lamp1/cmd/response/77") + 1 + strlen("on") +
                                 strlen("devices/lamp1/state") + 1 + strlen("{\"led\":\"on\"}"));
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(midge_device_get_stats(&f.dev)->commands, 1);
}

static void test_command_refused_for_space_is_not_remembered(void **state)
{
    fixture f;
    uint8_t small[16];
    midge_device_out out;

    (void)state;
    mqtt_fixture(&f);
    midge_device_out_init(&out, small, sizeof small);
    midge_publish m = incoming("devices/lamp1/cmd/request/r", "toggle");
    assert_int_equal(midge_device_handle(&f.dev, &m, &out), MIDGE_ERR_NO_SPACE);
    /* Redelivered with room: it acts, it is not taken for a duplicate. */
    assert_int_equal(midge_device_handle(&f.dev, &m, &f.out), MIDGE_OK);
    assert_true(f.out.led_changed);
    assert_int_equal(midge_device_get_stats(&f.dev)->duplicates, 0);
}

static void test_command_topic_with_extra_level_or_no_id_is_ignored(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/a/b", "on"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "unexpected topic");
    assert_int_equal(deliver(&f, "devices/lamp1/cmd/request/", "on"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "without an id");
    assert_false(midge_device_led(&f.dev));
    assert_int_equal(midge_device_get_stats(&f.dev)->ignored, 2);
}

static void test_retained_command_is_ignored_as_a_replay(void **state)
{
    fixture f;
    midge_publish m = incoming("devices/lamp1/cmd/request/old", "toggle");

    (void)state;
    mqtt_fixture(&f);
    m.retain = true;
    assert_int_equal(midge_device_handle(&f.dev, &m, &f.out), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    assert_false(midge_device_led(&f.dev));
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "retained request");
}

static void test_message_on_unexpected_topic_is_logged_and_ignored(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(deliver(&f, "devices/lamp2/cmd/request/1", "on"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    assert_false(f.out.led_changed);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "devices/lamp2/cmd/request/1");
}

static void test_plain_topic_acts_on_commands_without_replying(void **state)
{
    fixture f;
    const char *const extra[] = {"TurnipRobot", "house/+/lights"};

    (void)state;
    memset(&f, 0, sizeof f);
    midge_device_config_init(&f.cfg);
    f.cfg.device_id = "lamp1";
    f.cfg.extra_topics = extra;
    f.cfg.extra_topic_count = 2;
    fixture_start(&f);

    assert_int_equal(deliver(&f, "TurnipRobot", "on"), MIDGE_OK);
    assert_true(f.out.led_changed);
    assert_int_equal(f.out.msg_count, 1); /* the state report only */
    expect_msg(&f.out, 0, "devices/lamp1/state", "{\"led\":\"on\"}", 0, true);

    assert_int_equal(deliver(&f, "house/hall/lights", "toggle"), MIDGE_OK);
    assert_false(midge_device_led(&f.dev));

    /* Plain topics carry no ids: a second toggle is a new toggle. */
    assert_int_equal(deliver(&f, "TurnipRobot", "toggle"), MIDGE_OK);
    assert_int_equal(deliver(&f, "TurnipRobot", "toggle"), MIDGE_OK);
    assert_false(midge_device_led(&f.dev));

    assert_int_equal(deliver(&f, "TurnipRobot", "blink"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "ignored \"blink\" on TurnipRobot");
    assert_int_equal(deliver(&f, "TurnipRobot", "status"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 0);
    assert_int_equal(midge_device_get_stats(&f.dev)->ignored, 2);
}

static void test_local_led_change_reports_state_only_on_change(void **state)
{
    fixture f;

    (void)state;
    mqtt_fixture(&f);
    assert_int_equal(midge_device_set_led(&f.dev, true, &f.out), MIDGE_OK);
    assert_true(f.out.led_changed);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, "devices/lamp1/state", "{\"led\":\"on\"}", 0, true);
    assert_int_equal(midge_device_set_led(&f.dev, true, &f.out), MIDGE_OK);
    assert_false(f.out.led_changed);
    assert_int_equal(f.out.msg_count, 0);
}

static void test_one_output_serves_many_devices_in_turn(void **state)
{
    fixture a, b;

    (void)state;
    mqtt_fixture(&a);
    memset(&b, 0, sizeof b);
    midge_device_config_init(&b.cfg);
    b.cfg.device_id = "lamp2";
    fixture_start(&b);

    midge_publish m = incoming("devices/lamp1/cmd/request/1", "on");
    assert_int_equal(midge_device_handle(&a.dev, &m, &a.out), MIDGE_OK);
    m = incoming("devices/lamp2/cmd/request/1", "on");
    assert_int_equal(midge_device_handle(&b.dev, &m, &a.out), MIDGE_OK);
    expect_msg(&a.out, 0, "devices/lamp2/cmd/response/1", "on", 1, false);
    /* Same id on another device: its own ring, so it acted. */
    assert_true(midge_device_led(&b.dev));
}

static void test_calls_refuse_null_arguments(void **state)
{
    fixture f;
    midge_publish m = incoming("devices/lamp1/cmd/request/1", "on");
    midge_device_out bare;

    (void)state;
    mqtt_fixture(&f);
    midge_device_out_init(&bare, NULL, 100);
    assert_int_equal(midge_device_handle(NULL, &m, &f.out), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_handle(&f.dev, NULL, &f.out), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_handle(&f.dev, &m, NULL), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_handle(&f.dev, &m, &bare), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_connect(NULL, &f.out), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_on_connack(NULL, &f.out), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_shutdown(&f.dev, NULL), MIDGE_ERR_INVALID);
    assert_int_equal(midge_device_init(NULL, &f.cfg, NULL), MIDGE_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_command_accepts_exact_bytes_only),
        cmocka_unit_test(test_led_text_round_trips_and_refuses_others),
        cmocka_unit_test(test_profile_names_round_trip),
        cmocka_unit_test(test_device_ram_is_the_documented_size),
        cmocka_unit_test(test_config_defaults_to_mqtt_profile_with_led_off),
        cmocka_unit_test(test_init_refuses_bad_configs_with_reasons),
        cmocka_unit_test(test_mqtt_connect_sets_client_id_and_offline_will),
        cmocka_unit_test(test_mqtt_connect_passes_credentials_keepalive_and_clean_session),
        cmocka_unit_test(test_mqtt_connect_with_tiny_buffer_fails_without_overflow),
        cmocka_unit_test(test_mqtt_connack_subscribes_and_announces_online_then_state),
        cmocka_unit_test(test_mqtt_custom_prefix_is_used_for_every_topic),
        cmocka_unit_test(test_mqtt_shutdown_publishes_offline_retained),
        cmocka_unit_test(test_on_command_replies_then_reports_retained_state),
        cmocka_unit_test(test_off_when_already_off_replies_without_state_report),
        cmocka_unit_test(test_status_reports_state_without_changing_it),
        cmocka_unit_test(test_toggle_delivered_twice_flips_once_with_same_reply),
        cmocka_unit_test(test_duplicate_gets_the_reply_of_its_first_delivery),
        cmocka_unit_test(test_dedupe_keeps_64_ids_and_the_next_evicts_the_oldest),
        cmocka_unit_test(test_exported_ids_import_as_the_same_ring),
        cmocka_unit_test(test_imported_id_is_answered_with_its_reply_without_acting),
        cmocka_unit_test(test_import_of_more_than_the_ring_keeps_the_newest),
        cmocka_unit_test(test_export_and_import_refuse_null_arguments),
        cmocka_unit_test(test_unknown_command_gets_error_reply_naming_accepted_commands),
        cmocka_unit_test(test_near_miss_commands_are_unknown),
        cmocka_unit_test(test_error_reply_escapes_and_cuts_long_odd_input),
        cmocka_unit_test(test_output_buffer_too_small_is_an_error_and_changes_nothing),
        cmocka_unit_test(test_command_refused_for_space_is_not_remembered),
        cmocka_unit_test(test_command_topic_with_extra_level_or_no_id_is_ignored),
        cmocka_unit_test(test_retained_command_is_ignored_as_a_replay),
        cmocka_unit_test(test_message_on_unexpected_topic_is_logged_and_ignored),
        cmocka_unit_test(test_plain_topic_acts_on_commands_without_replying),
        cmocka_unit_test(test_local_led_change_reports_state_only_on_change),
        cmocka_unit_test(test_one_output_serves_many_devices_in_turn),
        cmocka_unit_test(test_calls_refuse_null_arguments),
    };
    return cmocka_run_group_tests_name("device", tests, NULL, NULL);
}
