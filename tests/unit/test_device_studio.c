/*
 * Device layer, "onenet-studio" profile: the thing model's OneJSON property
 * set/get/post and raw cmd/request topics (../shared/reference/onenet.md
 * section 2). Replies are compared as exact strings.
 */
#include <stdlib.h>

#include "test_device_util.h"

#define BASE "$sys/238322/lamp-01"
#define SET BASE "/thing/property/set"
#define GET BASE "/thing/property/get"
#define SET_REPLY BASE "/thing/property/set_reply"
#define GET_REPLY BASE "/thing/property/get_reply"
#define POST BASE "/thing/property/post"

static void studio_config(fixture *f)
{
    memset(f, 0, sizeof *f);
    midge_device_config_init(&f->cfg);
    f->cfg.profile = MIDGE_DEVICE_PROFILE_ONENET_STUDIO;
    f->cfg.device_id = "lamp-01";
    f->cfg.product_id = "238322";
    f->cfg.secret = "version=2018-10-31&res=products%2F238322%2Fdevices%2Flamp-01&et=1&method=sha1"
                    "&sign=x";
}

static void studio_fixture(fixture *f)
{
    studio_config(f);
    fixture_start(f);
}

static void expect_nothing_changed(const fixture *f)
{
    assert_false(f->out.led_changed);
    assert_false(midge_device_led(&f->dev));
}

/* ---- connect, connack ----------------------------------------------------- */

static void test_studio_connect_uses_name_product_token_and_clean_session(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f); /* clean_session left false in the config */
    assert_int_equal(midge_device_connect(&f.dev, &f.out), MIDGE_OK);
    assert_string_equal(f.out.connect.client_id, "lamp-01");
    assert_string_equal(f.out.connect.username, "238322");
    assert_string_equal(f.out.connect.password, f.cfg.secret);
    assert_int_equal(f.out.connect.keepalive_s, 120);
    assert_true(f.out.connect.clean_session);
    assert_null(f.out.connect.will);
}

static void test_studio_config_checks_keepalive_names_and_property(void **state)
{
    fixture f;
    const char *why = NULL;

    (void)state;
    studio_config(&f);
    f.cfg.keepalive_s = 9;
    assert_int_equal(midge_device_init(&f.dev, &f.cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet-studio: keepalive must be 10..1800");
    f.cfg.keepalive_s = 1801;
    assert_int_equal(midge_device_init(&f.dev, &f.cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet-studio: keepalive must be 10..1800");
    f.cfg.keepalive_s = 1800;
    assert_int_equal(midge_device_init(&f.dev, &f.cfg, &why), MIDGE_OK);

    f.cfg.device_id = "lamp/01";
    assert_int_equal(midge_device_init(&f.dev, &f.cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet-studio: product id and device name may use only letters, "
                             "digits, '_', '-'");
    f.cfg.device_id = "lamp-01";
    f.cfg.property = "le\"d";
    assert_int_equal(midge_device_init(&f.dev, &f.cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet-studio: property name must be 1..32 letters, digits or '_'");
    f.cfg.property = NULL;
    f.cfg.secret = NULL;
    assert_int_equal(midge_device_init(&f.dev, &f.cfg, &why), MIDGE_ERR_INVALID);
    assert_string_equal(why, "onenet-studio: product id and token are required");
}

static void test_studio_connack_subscribes_three_filters_and_posts_state(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    assert_int_equal(f.out.sub_count, 3);
    expect_sub(&f.out, 0, SET, 0);
    expect_sub(&f.out, 1, GET, 0);
    expect_sub(&f.out, 2, BASE "/cmd/request/+", 0);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, POST,
               "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"led\":{\"value\":false}}}", 1,
               false);

    /* The post id is a per-device counter. */
    assert_int_equal(midge_device_on_connack(&f.dev, &f.out), MIDGE_OK);
    expect_msg(&f.out, 0, POST,
               "{\"id\":\"2\",\"version\":\"1.0\",\"params\":{\"led\":{\"value\":false}}}", 1,
               false);
}

/* ---- property set ----------------------------------------------------------- */

static void test_studio_property_set_switches_led_replies_then_posts(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(
        deliver(&f, SET, "{\"id\":\"124\",\"version\":\"1.0\",\"params\":{\"led\":true}}"),
        MIDGE_OK);
    assert_true(f.out.led_changed);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 2);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"124\",\"code\":200,\"msg\":\"success\"}", 1, false);
    expect_msg(&f.out, 1, POST,
               "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"led\":{\"value\":true}}}", 1,
               false);
}

static void test_studio_property_set_to_same_value_replies_without_post(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"7\",\"params\":{\"led\":false}}"), MIDGE_OK);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"7\",\"code\":200,\"msg\":\"success\"}", 1, false);
}

static void test_studio_property_set_redelivered_is_applied_once(void **state)
{
    fixture f;
    const char *set_on = "{\"id\":\"300\",\"version\":\"1.0\",\"params\":{\"led\":true}}";

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, SET, set_on), MIDGE_OK);
    assert_int_equal(midge_device_set_led(&f.dev, false, &f.out), MIDGE_OK);
    /* The same JSON id again: answered, not re-applied. */
    assert_int_equal(deliver(&f, SET, set_on), MIDGE_OK);
    assert_false(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"300\",\"code\":200,\"msg\":\"success\"}", 1, false);
    assert_int_equal(midge_device_get_stats(&f.dev)->duplicates, 1);
}

static void test_studio_set_with_unknown_property_is_refused_unchanged(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"126\",\"params\":{\"led\":true,\"color\":1}}"),
                     MIDGE_OK);
    expect_nothing_changed(&f);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, SET_REPLY,
               "{\"id\":\"126\",\"code\":400,\"msg\":\"invalid params: unknown property "
               "\\\"color\\\"\"}",
               1, false);
    expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "property set");
    assert_int_equal(midge_device_get_stats(&f.dev)->rejected, 1);
}

static void test_studio_set_with_non_boolean_value_is_refused_unchanged(void **state)
{
    fixture f;
    static const char *const payloads[] = {
        "{\"id\":\"127\",\"params\":{\"led\":1}}",
        "{\"id\":\"127\",\"params\":{\"led\":\"true\"}}",
        "{\"id\":\"127\",\"params\":{\"led\":tru}}",
        "{\"id\":\"127\",\"params\":{\"led\":{\"value\":true}}}",
        "{\"id\":\"127\",\"params\":{\"led\":null}}",
    };

    (void)state;
    studio_fixture(&f);
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        assert_int_equal(deliver(&f, SET, payloads[i]), MIDGE_OK);
        expect_nothing_changed(&f);
        expect_msg(&f.out, 0, SET_REPLY,
                   "{\"id\":\"127\",\"code\":400,\"msg\":\"invalid params: \\\"led\\\" must be "
                   "true or false\"}",
                   1, false);
    }
}

static void test_studio_set_with_bad_params_shape_is_refused(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"1\",\"params\":[\"led\"]}"), MIDGE_OK);
    expect_msg(&f.out, 0, SET_REPLY,
               "{\"id\":\"1\",\"code\":400,\"msg\":\"invalid params: params must be an object\"}",
               1, false);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"2\"}"), MIDGE_OK);
    expect_msg(&f.out, 0, SET_REPLY,
               "{\"id\":\"2\",\"code\":400,\"msg\":\"invalid params: params must be an object\"}",
               1, false);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"3\",\"params\":{}}"), MIDGE_OK);
    expect_msg(&f.out, 0, SET_REPLY,
               "{\"id\":\"3\",\"code\":400,\"msg\":\"invalid params: no property to set\"}", 1,
               false);
    expect_nothing_changed(&f);
}

static void test_studio_malformed_json_with_readable_id_gets_error_reply(void **state)
{
    fixture f;
    static const char *const payloads[] = {
        "{\"id\":\"128\",\"params\":{\"led\":true",            /* cut short */
        "{\"id\":\"128\",\"params\":{\"led\":true}} trailing", /* two values */
        "{\"id\":\"128\",\"params\":{led:true}}",              /* bare key */
    };

    (void)state;
    studio_fixture(&f);
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        assert_int_equal(deliver(&f, SET, payloads[i]), MIDGE_OK);
        expect_nothing_changed(&f);
        assert_int_equal(f.out.msg_count, 1);
        expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"128\",\"code\":400,\"msg\":\"invalid json\"}",
                   1, false);
    }
}

static void test_studio_json_with_nul_byte_is_malformed(void **state)
{
    fixture f;
    static const char payload[] = "{\"id\":\"9\",\"params\":{\"led\":true}}\0";

    (void)state;
    studio_fixture(&f);
    midge_publish m = incoming_bytes(SET, payload, sizeof payload); /* NUL included */
    assert_int_equal(midge_device_handle(&f.dev, &m, &f.out), MIDGE_OK);
    expect_nothing_changed(&f);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"9\",\"code\":400,\"msg\":\"invalid json\"}", 1,
               false);
}

static void test_studio_unreadable_or_missing_id_is_only_logged(void **state)
{
    fixture f;
    static const char *const payloads[] = {
        "not json",
        "{\"params\":{\"led\":true}}",
        "{\"id\":\"\",\"params\":{\"led\":true}}",
        "{\"id\":\"a\\\"b\",\"params\":{\"led\":true}}",
        "{\"id\":true,\"params\":{\"led\":true}}",
        "{\"id\":\"123456789012345678901234567890123\",\"params\":{\"led\":true}}",
        "[\"id\",\"1\"]",
        "",
    };

    (void)state;
    studio_fixture(&f);
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        assert_int_equal(deliver(&f, SET, payloads[i]), MIDGE_OK);
        expect_nothing_changed(&f);
        assert_int_equal(f.out.msg_count, 0);
        expect_log(&f.out, MIDGE_DEVICE_LOG_WARN, "no readable id");
    }
    assert_int_equal(midge_device_get_stats(&f.dev)->rejected,
                     sizeof payloads / sizeof payloads[0]);
}

static void test_studio_numeric_id_is_answered_as_a_string(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, SET, "{\"id\":42,\"params\":{\"led\":true}}"), MIDGE_OK);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"42\",\"code\":200,\"msg\":\"success\"}", 1, false);
}

static void test_studio_oversized_payload_is_refused_unchanged(void **state)
{
    fixture f;
    size_t len = MIDGE_DEVICE_JSON_MAX + 100;
    char *big = malloc(len + 1);

    (void)state;
    studio_fixture(&f);
    /* Too many bytes: the id comes first and can still be answered. */
    int n = snprintf(big, len + 1, "{\"id\":\"129\",\"params\":{\"led\":true},\"pad\":\"");
    memset(big + n, 'p', len - (size_t)n - 2);
    memcpy(big + len - 2, "\"}", 2);
    big[len] = '\0';
    assert_int_equal(deliver(&f, SET, big), MIDGE_OK);
    expect_nothing_changed(&f);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"129\",\"code\":400,\"msg\":\"payload too large\"}",
               1, false);

    /* Too many tokens in few bytes. */
    n = snprintf(big, len + 1, "{\"id\":\"130\",\"params\":{\"led\":true},\"a\":[");
    for (int i = 0; i < MIDGE_DEVICE_JSON_TOKENS; i++)
        n += snprintf(big + n, len + 1 - (size_t)n, "%s1", i == 0 ? "" : ",");
    snprintf(big + n, len + 1 - (size_t)n, "]}");
    assert_int_equal(deliver(&f, SET, big), MIDGE_OK);
    expect_nothing_changed(&f);
    expect_msg(&f.out, 0, SET_REPLY, "{\"id\":\"130\",\"code\":400,\"msg\":\"payload too large\"}",
               1, false);
    free(big);
}

static void test_studio_error_message_escapes_odd_property_names(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(
        deliver(
            &f, SET,
            "{\"id\":\"5\",\"params\":{\"a\\\"b\\u00e9cdefghijklmnopqrstuvwxyz0123456789\":true}}"),
        MIDGE_OK);
    /* The raw name shown with '"' and '\\' escaped, cut after 32 bytes. */
    expect_msg(&f.out, 0, SET_REPLY,
               "{\"id\":\"5\",\"code\":400,\"msg\":\"invalid params: unknown property "
               "\\\"a\\\\\\\"b\\\\u00e9cdefghijklmnopqrstuvwx...\\\"\"}",
               1, false);
}

static void test_studio_custom_property_name(void **state)
{
    fixture f;

    (void)state;
    studio_config(&f);
    f.cfg.property = "light";
    fixture_start(&f);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"1\",\"params\":{\"light\":true}}"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    expect_msg(&f.out, 1, POST,
               "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"light\":{\"value\":true}}}", 1,
               false);
    assert_int_equal(deliver(&f, SET, "{\"id\":\"2\",\"params\":{\"led\":false}}"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
}

static void test_studio_set_output_buffer_too_small_changes_nothing(void **state)
{
    fixture f;
    uint8_t *small = malloc(80);
    midge_device_out out;

    (void)state;
    studio_fixture(&f);
    midge_device_out_init(&out, small, 80);
    midge_publish m = incoming(SET, "{\"id\":\"1\",\"params\":{\"led\":true}}");
    assert_int_equal(midge_device_handle(&f.dev, &m, &out), MIDGE_ERR_NO_SPACE);
    assert_int_equal(out.msg_count, 0);
    assert_false(midge_device_led(&f.dev));
    /* Neither the dedupe record nor the post id moved. */
    assert_int_equal(midge_device_handle(&f.dev, &m, &f.out), MIDGE_OK);
    assert_true(f.out.led_changed);
    expect_msg(&f.out, 1, POST,
               "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"led\":{\"value\":true}}}", 1,
               false);
    free(small);
}

/* ---- property get ------------------------------------------------------------- */

static void test_studio_property_get_returns_led(void **state)
{
    fixture f;

    (void)state;
    studio_config(&f);
    f.cfg.led_initial = true;
    fixture_start(&f);
    assert_int_equal(deliver(&f, GET, "{\"id\":\"125\",\"version\":\"1.0\",\"params\":[\"led\"]}"),
                     MIDGE_OK);
    assert_int_equal(f.out.msg_count, 1);
    expect_msg(&f.out, 0, GET_REPLY,
               "{\"id\":\"125\",\"code\":200,\"msg\":\"success\",\"data\":{\"led\":true}}", 1,
               false);
    assert_false(f.out.led_changed);

    /* No params or an empty list: every property. */
    assert_int_equal(deliver(&f, GET, "{\"id\":\"126\",\"params\":[]}"), MIDGE_OK);
    expect_msg(&f.out, 0, GET_REPLY,
               "{\"id\":\"126\",\"code\":200,\"msg\":\"success\",\"data\":{\"led\":true}}", 1,
               false);
    assert_int_equal(deliver(&f, GET, "{\"id\":\"127\"}"), MIDGE_OK);
    expect_msg(&f.out, 0, GET_REPLY,
               "{\"id\":\"127\",\"code\":200,\"msg\":\"success\",\"data\":{\"led\":true}}", 1,
               false);
}

static void test_studio_property_get_refuses_unknown_names_and_shapes(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, GET, "{\"id\":\"1\",\"params\":[\"led\",\"color\"]}"), MIDGE_OK);
    expect_msg(&f.out, 0, GET_REPLY,
               "{\"id\":\"1\",\"code\":400,\"msg\":\"invalid params: unknown property "
               "\\\"color\\\"\"}",
               1, false);
    assert_int_equal(deliver(&f, GET, "{\"id\":\"2\",\"params\":{\"led\":true}}"), MIDGE_OK);
    expect_msg(&f.out, 0, GET_REPLY,
               "{\"id\":\"2\",\"code\":400,\"msg\":\"invalid params: params must be an array\"}", 1,
               false);
    assert_int_equal(deliver(&f, GET, "{\"id\":\"3\",\"params\":[1]}"), MIDGE_OK);
    expect_msg(&f.out, 0, GET_REPLY,
               "{\"id\":\"3\",\"code\":400,\"msg\":\"invalid params: property names must be "
               "strings\"}",
               1, false);
    assert_int_equal(deliver(&f, GET, "{\"id\":\"4\",\"params\":[\"led\"]"), MIDGE_OK);
    expect_msg(&f.out, 0, GET_REPLY, "{\"id\":\"4\",\"code\":400,\"msg\":\"invalid json\"}", 1,
               false);
}

/* ---- raw commands ---------------------------------------------------------------- */

static void test_studio_cmd_request_answers_raw_on_cmd_response(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, BASE "/cmd/request/c0ffee-01", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 2);
    expect_msg(&f.out, 0, BASE "/cmd/response/c0ffee-01", "on", 1, false);
    expect_msg(&f.out, 1, POST,
               "{\"id\":\"1\",\"version\":\"1.0\",\"params\":{\"led\":{\"value\":true}}}", 1,
               false);

    assert_int_equal(deliver(&f, BASE "/cmd/request/c0ffee-01", "toggle"), MIDGE_OK);
    assert_true(midge_device_led(&f.dev));
    assert_int_equal(f.out.msg_count, 1);

    assert_int_equal(deliver(&f, BASE "/cmd/request/c0ffee-02", "flash"), MIDGE_OK);
    expect_msg(&f.out, 0, BASE "/cmd/response/c0ffee-02",
               "error: unknown command \"flash\" (accepted: on, off, toggle, status)", 1, false);
}

static void test_studio_topics_of_other_devices_are_ignored(void **state)
{
    fixture f;

    (void)state;
    studio_fixture(&f);
    assert_int_equal(deliver(&f, "$sys/238322/lamp-02/thing/property/set",
                             "{\"id\":\"1\",\"params\":{\"led\":true}}"),
                     MIDGE_OK);
    assert_int_equal(
        deliver(&f, BASE "/thing/property/set/extra", "{\"id\":\"1\",\"params\":{\"led\":true}}"),
        MIDGE_OK);
    assert_int_equal(deliver(&f, BASE "/thing/property/post/reply",
                             "{\"id\":\"1\",\"code\":200,\"msg\":\"success\"}"),
                     MIDGE_OK);
    expect_nothing_changed(&f);
    assert_int_equal(f.out.msg_count, 0);
    assert_int_equal(midge_device_get_stats(&f.dev)->ignored, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_studio_connect_uses_name_product_token_and_clean_session),
        cmocka_unit_test(test_studio_config_checks_keepalive_names_and_property),
        cmocka_unit_test(test_studio_connack_subscribes_three_filters_and_posts_state),
        cmocka_unit_test(test_studio_property_set_switches_led_replies_then_posts),
        cmocka_unit_test(test_studio_property_set_to_same_value_replies_without_post),
        cmocka_unit_test(test_studio_property_set_redelivered_is_applied_once),
        cmocka_unit_test(test_studio_set_with_unknown_property_is_refused_unchanged),
        cmocka_unit_test(test_studio_set_with_non_boolean_value_is_refused_unchanged),
        cmocka_unit_test(test_studio_set_with_bad_params_shape_is_refused),
        cmocka_unit_test(test_studio_malformed_json_with_readable_id_gets_error_reply),
        cmocka_unit_test(test_studio_json_with_nul_byte_is_malformed),
        cmocka_unit_test(test_studio_unreadable_or_missing_id_is_only_logged),
        cmocka_unit_test(test_studio_numeric_id_is_answered_as_a_string),
        cmocka_unit_test(test_studio_oversized_payload_is_refused_unchanged),
        cmocka_unit_test(test_studio_error_message_escapes_odd_property_names),
        cmocka_unit_test(test_studio_custom_property_name),
        cmocka_unit_test(test_studio_set_output_buffer_too_small_changes_nothing),
        cmocka_unit_test(test_studio_property_get_returns_led),
        cmocka_unit_test(test_studio_property_get_refuses_unknown_names_and_shapes),
        cmocka_unit_test(test_studio_cmd_request_answers_raw_on_cmd_response),
        cmocka_unit_test(test_studio_topics_of_other_devices_are_ignored),
    };
    return cmocka_run_group_tests_name("device_studio", tests, NULL, NULL);
}
