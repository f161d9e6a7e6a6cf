/*
 * `midge sub` against Debian's mosquitto_sub 2.0.11, the same flags on
 * the same messages from a real mosquitto: the same bytes on stdout and
 * the same exit status, for -v, -N, -F (every conversion, widths, escapes,
 * times, %j/%J and --pretty), -T, -R, -E, -U, --retained-only and
 * --remove-retained. Where midge differs on purpose (%Nx, --remove-retained
 * with -C), its documented behaviour is tested.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "broker.h"
#include "mosq_pair.h"
#include "peer.h"

#define HOST "-h", "127.0.0.1", "-p", port
#define LIVE_ROUNDS 30

static test_broker broker;
static char port[8];
static proc run;

/* Retained under fmt/: text, control bytes, JSON cJSON re-prints (numbers,
 * escapes, an empty object, a bad \u group), not JSON, and a NUL. */
static const struct {
    const char *topic;
    const char *payload;
    size_t len;
} fixture[] = {
    { "fmt/a", "hello \"w\"\\ \xC3\xA9", 13 },
    { "fmt/b", "a\tb\nc\x01", 6 },
    { "fmt/c", "{\"t\":27.0, \"h\":[1, 2,{\"x\":null}],\"s\":\"\\u00e9\\/\",\"e\":1e5,"
               "\"big\":12345678901234567890,\"o\":{},\"d\":\"A\\u00zzB\",\"l\":[ ]}", 0 },
    { "fmt/d", "not json", 8 },
    { "fmt/e", "ab\0cd", 5 },
};
#define FIXTURE_COUNT "5"

/* Publish retained (or live) messages with the library, acknowledged. */
static void put(const char *topic, const void *payload, size_t len, bool retain)
{
    peer *p = peer_new(broker.port, "mosq-sub-feeder", true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_publish(&p->client, topic, payload, len, 1, retain, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, 5000), MIDGE_OK);
    peer_free(p);
}

static int setup(void **state)
{
    (void)state;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    for (size_t i = 0; i < sizeof fixture / sizeof fixture[0]; i++)
        put(fixture[i].topic, fixture[i].payload,
            fixture[i].len ? fixture[i].len : strlen(fixture[i].payload), true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_broker_stop(&broker);
}

static int each_teardown(void **state)
{
    pair_stop();
    return peer_teardown(state);
}

/* Feed `topic` live messages until both subscribers exited. */
static void feed_until_both_exit(const char *topic, const char *payload)
{
    for (int i = 0; i < LIVE_ROUNDS && !pair_both_exited(); i++) {
        pair_pump(400);
        put(topic, payload, strlen(payload), false);
    }
    pair_finish();
}

/* --- plain output --------------------------------------------------------- */

static void test_payload_and_v_lines_match_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT), NULL);
    assert_true(pair_same("sub"));
    assert_int_equal(proc_exit_code(&pair_midge), 0);
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-v"), NULL);
    assert_true(pair_same("sub -v"));
}

static void test_N_drops_the_newline_as_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-N"), NULL);
    assert_true(pair_same("sub -N"));
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-N", "-v"), NULL);
    assert_true(pair_same("sub -N -v"));
    assert_null(memchr(pair_midge.out, '\n', 20)); /* fmt/a's line has none */
}

/* An empty payload: nothing at all, "topic (null)" with -v, null in %j. */
static void test_empty_message_prints_as_mosquitto_sub(void **state)
{
    static const char *const shapes[][2] = { { "-v", NULL }, { "-F", "%j" }, { "-F", "[%p]" } };
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        pair_start("sub", ARGS(HOST, "-t", "live/empty", "-C", "1", (char *)shapes[i][0],
                               (char *)shapes[i][1]));
        feed_until_both_exit("live/empty", "");
        pair_mask_digits(&pair_midge);
        pair_mask_digits(&pair_mosq);
        assert_true(pair_same(shapes[i][1] ? shapes[i][1] : shapes[i][0]));
    }
    assert_string_equal(pair_midge.out, "[]\n");
}

/* --- -F ------------------------------------------------------------------- */

static void test_F_fields_widths_and_escapes_match_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-q", "1", "-F",
                         "[%t|%p|%q|%r|%l|%m|%x|%X|%%|@@]\\t\\\\\\e\\a\\v\\r\\0|"
                         "[%5t][%-7t][%.3t][%8.2t][%-8.2t][%05l][%-4l][%6m][%3p][%-9p]"
                         "[%09p][%05q][%7r][%4A|%4C|%4E|%4F|%4S|%R%D%P]"),
             NULL);
    assert_true(pair_same("sub -F fields"));
    assert_int_equal(proc_exit_code(&pair_midge), 0);
}

static void test_F_times_have_mosquitto_subs_shape(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/a", "-C", "1", "-F",
                         "%I|%U|@Y-@m-@dT@H:@M:@S|@N|%20I|%-26.10I|"),
             NULL);
    pair_mask_digits(&pair_midge);
    pair_mask_digits(&pair_mosq);
    assert_true(pair_same("sub -F times"));
}

static void test_F_j_matches_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-q", "1", "-F", "%j"), NULL);
    pair_mask_digits(&pair_midge);
    pair_mask_digits(&pair_mosq);
    assert_true(pair_same("sub -F %j"));
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-F", "%j", "--pretty"),
             NULL);
    pair_mask_digits(&pair_midge);
    pair_mask_digits(&pair_mosq);
    assert_true(pair_same("sub -F %j --pretty"));
}

/* %J re-prints a JSON payload as cJSON would; a payload that is not JSON
 * (all but fmt/c; fmt/e for its NUL) is one line on stderr and an empty
 * line. */
static void test_F_J_reprints_json_as_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-C", FIXTURE_COUNT, "-F", "%J"), NULL);
    pair_mask_digits(&pair_midge);
    pair_mask_digits(&pair_mosq);
    assert_true(pair_same("sub -F %J"));
    assert_int_equal(count_lines(pair_midge.err), 4);
    assert_non_null(strstr(pair_midge.err, "not valid JSON on topic fmt/d\n"));
    assert_non_null(strstr(pair_midge.err, "not valid JSON on topic fmt/e\n"));
    pair_run("sub", ARGS(HOST, "-t", "fmt/c", "-C", "1", "-F", "%J", "--pretty"), NULL);
    pair_mask_digits(&pair_midge);
    pair_mask_digits(&pair_mosq);
    assert_true(pair_same("sub -F %J --pretty"));
}

static void test_F_refuses_what_mosquitto_sub_refuses(void **state)
{
    static const char *const bad[] = { "%k", "x%", "x\\", "\\q", "%05", "@" };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pair_run("sub", ARGS(HOST, "-t", "fmt/a", "-F", (char *)bad[i]), NULL);
        assert_int_equal(proc_exit_code(&pair_midge), 1);
        assert_int_equal(proc_exit_code(&pair_mosq), 1);
        assert_int_equal(count_lines(pair_midge.err), 1);
        assert_int_equal(pair_midge.out_len, 0);
    }
}

/* Documented difference: %Nx prints every byte that fits N characters;
 * mosquitto_sub 2.0.11 prints half of a shorter payload ("        6162"). */
static void test_F_hex_width_prints_every_byte_that_fits(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/e", "-C", "1", "-F", "[%12x][%-12X][%4x]"), NULL);
    assert_int_equal(proc_exit_code(&pair_midge), 0);
    assert_string_equal(pair_midge.out, "[  6162006364][6162006364  ][6162]\n");
}

/* --- filters ---------------------------------------------------------------- */

static void test_T_filters_out_as_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-T", "fmt/b", "-T", "fmt/+/x", "-T", "fmt/d",
                         "-C", "3", "-v"),
             NULL);
    assert_true(pair_same("sub -T"));
    assert_null(strstr(pair_midge.out, "fmt/b"));
}

static void test_E_exits_once_subscribed_as_mosquitto_sub(void **state)
{
    (void)state;
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-E"), NULL);
    assert_true(pair_same("sub -E"));
    assert_int_equal(proc_exit_code(&pair_midge), 0);
    assert_int_equal(pair_midge.out_len, 0);
}

static void test_R_skips_retained_messages_as_mosquitto_sub(void **state)
{
    (void)state;
    pair_start("sub", ARGS(HOST, "-t", "fmt/#", "-t", "live/r", "-R", "-C", "1", "-v"));
    feed_until_both_exit("live/r", "fresh");
    assert_true(pair_same("sub -R"));
    assert_string_equal(pair_midge.out, "live/r fresh\n");
}

static void test_retained_only_stops_at_the_first_new_message(void **state)
{
    (void)state;
    pair_start("sub", ARGS(HOST, "-t", "fmt/#", "-t", "live/o", "--retained-only", "-v"));
    feed_until_both_exit("live/o", "fresh");
    assert_true(pair_same("sub --retained-only"));
    assert_int_equal(proc_exit_code(&pair_midge), 0);
    assert_null(strstr(pair_midge.out, "fresh"));
    pair_run("sub", ARGS(HOST, "-t", "fmt/#", "-R", "--retained-only"), NULL);
    assert_int_equal(proc_exit_code(&pair_midge), 1);
    assert_int_equal(proc_exit_code(&pair_mosq), 1);
    assert_int_equal(count_lines(pair_midge.err), 1);
}

/* -U drops a persistent session's subscription: what it matched is no
 * longer queued while the client is away. */
static void unsubscribe_then_read(const char *tool_id, const char *argv0)
{
    char *id = (char *)tool_id;
    char *a[PAIR_ARGS_MAX];
    char *b[PAIR_ARGS_MAX];
    char **mine = strcmp(argv0, "midge") == 0 ? a : b;

    pair_argv("sub", ARGS(HOST, "-c", "-i", id, "-q", "1", "-t", "u/a", "-t", "u/b", "-E"), a, b);
    proc_run(&run, mine, NULL, PAIR_RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    pair_argv("sub", ARGS(HOST, "-c", "-i", id, "-q", "1", "-t", "u/b", "-U", "u/a", "-E"), a, b);
    proc_run(&run, mine, NULL, PAIR_RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    put("u/a", "A", 1, false);
    put("u/b", "B", 1, false);
    pair_argv("sub", ARGS(HOST, "-c", "-i", id, "-q", "1", "-t", "u/b", "-C", "1", "-v"), a, b);
    proc_run(&run, mine, NULL, PAIR_RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    assert_string_equal(run.out, "u/b B\n");
}

static void test_U_unsubscribes_a_persistent_session_as_mosquitto_sub(void **state)
{
    (void)state;
    unsubscribe_then_read("mosq-sub-u-midge", "midge");
    unsubscribe_then_read("mosq-sub-u-mosq", "mosquitto");
}

/* --remove-retained clears what it prints (-T spares the rest). midge ends
 * at -C once the broker acknowledged the clearing; mosquitto_sub 2.0.11
 * never ends with -C there (it waits for -W), so it runs to -W 2. */
static void test_remove_retained_clears_what_it_prints(void **state)
{
    const char *kept = "rr/b kept\n";
    (void)state;
    for (int tool = 0; tool < 2; tool++) {
        put("rr/a", "gone", 4, true);
        put("rr/b", "kept", 4, true);
        put("rr/c", "gone", 4, true);
        char *a[PAIR_ARGS_MAX];
        char *b[PAIR_ARGS_MAX];
        pair_argv("sub", tool == 0 ? ARGS(HOST, "-t", "rr/#", "-T", "rr/b", "--remove-retained",
                                          "-C", "2", "-v")
                                   : ARGS(HOST, "-t", "rr/#", "-T", "rr/b", "--remove-retained",
                                          "-W", "2", "-v"),
                  a, b);
        proc_run(tool == 0 ? &pair_midge : &pair_mosq, tool == 0 ? a : b, NULL,
                 PAIR_RUN_TIMEOUT_MS);
        pair_argv("sub", ARGS(HOST, "-t", "rr/#", "-W", "1", "-v"), a, b);
        proc_run(&run, b, NULL, PAIR_RUN_TIMEOUT_MS);
        assert_string_equal(run.out, kept);
    }
    assert_int_equal(proc_exit_code(&pair_midge), 0);
    assert_int_equal(proc_exit_code(&pair_mosq), 27);
    assert_string_equal(pair_midge.out, "rr/a gone\nrr/c gone\n");
    /* mosquitto_sub, still running, then prints its own clearings. */
    assert_memory_equal(pair_mosq.out, pair_midge.out, pair_midge.out_len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_payload_and_v_lines_match_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_N_drops_the_newline_as_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_empty_message_prints_as_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_F_fields_widths_and_escapes_match_mosquitto_sub,
                                  each_teardown),
        cmocka_unit_test_teardown(test_F_times_have_mosquitto_subs_shape, each_teardown),
        cmocka_unit_test_teardown(test_F_j_matches_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_F_J_reprints_json_as_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_F_refuses_what_mosquitto_sub_refuses, each_teardown),
        cmocka_unit_test_teardown(test_F_hex_width_prints_every_byte_that_fits, each_teardown),
        cmocka_unit_test_teardown(test_T_filters_out_as_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_E_exits_once_subscribed_as_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_R_skips_retained_messages_as_mosquitto_sub, each_teardown),
        cmocka_unit_test_teardown(test_retained_only_stops_at_the_first_new_message,
                                  each_teardown),
        cmocka_unit_test_teardown(test_U_unsubscribes_a_persistent_session_as_mosquitto_sub,
                                  each_teardown),
        cmocka_unit_test_teardown(test_remove_retained_clears_what_it_prints, each_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
