/*
 * `midge bench --profile onenet` against mosquitto with the platform
 * plugin: the devices log in with the registry's identities (the product's
 * master key), the commander is an operator of the product, every device
 * is commanded and every command answered; worker processes name their
 * devices as the registry does; a device missing from the registry ends
 * the run in one line; the flags the profile needs are checked before any
 * connection. Every run is bounded (a few seconds).
 */
#include <unistd.h>

#include "platform.h"
#include "bench_json.h"

#define RUN_TIMEOUT_MS 60000
#define BENCH_CONF "max_connections -1\nset_tcp_nodelay true\n"

static platform pf;
static proc run; /* large: static */
static char json_path[64];

static int teardown(void **state)
{
    (void)state;
    platform_stop(&pf);
    unlink(json_path);
    return 0;
}

/* The registry of product PRODUCT with `count` devices <prefix>-<w>-<n>,
 * numbered as `midge bench --workers workers` numbers them. */
static void start_with_fleet(const char *prefix, unsigned count, unsigned workers)
{
    static char text[16384];
    size_t used = (size_t)snprintf(text, sizeof text, "[product " PRODUCT "]\nmaster-key = "
                                                      MASTER_KEY "\n");
    for (unsigned g = 0; g < count; g++) {
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "[device %s-%u-%u]\nproduct = " PRODUCT "\n", prefix,
                                 g % workers, g / workers);
        assert_true(used < sizeof text);
    }
    assert_int_equal(platform_start_with(&pf, text, BENCH_CONF), 0);
    snprintf(json_path, sizeof json_path, "/tmp/midge-test-onenet-bench-%ld.json",
             (long)getpid());
    unlink(json_path);
}

static const char *read_json(void) { return bench_json_read(json_path); }

static double json_number(const char *json, const char *key)
{
    return bench_json_number(json, key);
}

static void bench(const char *prefix, const char *devices, const char *workers, int want_exit)
{
    proc_run(&run,
             MIDGE_ARGV("bench", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                        "--product-id", PRODUCT, "-P", MASTER_KEY, "-i", (char *)prefix,
                        "--devices", (char *)devices, "--workers", (char *)workers, "--rate",
                        "60", "--duration", "1", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    if (proc_exit_code(&run) != want_exit)
        proc_dump(&run, "midge bench --profile onenet");
    assert_false(run.timed_out);
    assert_int_equal(proc_exit_code(&run), want_exit);
}

/* Every device online, commanded and answering; nothing went wrong. */
static void expect_clean_run(int devices)
{
    const char *j = read_json();
    assert_non_null(strstr(j, "\"profile\": \"onenet\""));
    assert_int_equal((int)json_number(j, "connected"), devices);
    /* 60 commands for at most 30 devices: the commander's order reaches all. */
    assert_int_equal((int)json_number(j, "devices_commanded"), devices);
    assert_true(json_number(j, "commands") >= devices);
    assert_true(json_number(j, "replies") == json_number(j, "commands"));
    assert_true(json_number(j, "device_commands") == json_number(j, "commands"));
    assert_int_equal((int)json_number(j, "errors"), 0);
    assert_int_equal((int)json_number(j, "timeouts"), 0);
    assert_int_equal((int)json_number(j, "unmatched_replies"), 0);
    assert_true(json_number(j, "p50") > 0);
}

static void test_bench_devices_log_in_from_the_registry_and_answer_the_operator(void **state)
{
    (void)state;
    start_with_fleet("bench", 30, 1);
    bench("bench", "30", "1", 0);
    expect_clean_run(30);
    assert_non_null(strstr(run.out, "30 onenet devices"));
    /* The platform knew them all, and knows them offline now. */
    proc_run(&run,
             MIDGE_ARGV("devices", "--profile", "onenet", "-h", "127.0.0.1", "-p", pf.port,
                        "--product-id", PRODUCT, "-P", MASTER_KEY),
             NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    assert_int_equal(count_lines(run.out), 30);
    int offline = 0;
    for (const char *s = run.out; (s = strstr(s, " offline ")) != NULL; s++)
        offline++;
    assert_int_equal(offline, 30);
    assert_non_null(strstr(run.out, "bench-0-2 offline"));
}

static void test_bench_workers_name_their_devices_as_the_registry(void **state)
{
    (void)state;
    start_with_fleet("fleet", 20, 2);
    bench("fleet", "20", "2", 0);
    expect_clean_run(20);
    assert_int_equal((int)json_number(read_json(), "workers"), 2);
}

static void test_bench_device_missing_from_the_registry_ends_the_run(void **state)
{
    (void)state;
    start_with_fleet("bench", 5, 1);
    bench("bench", "6", "1", 1);
    assert_int_equal(count_lines(run.err), 1);
    /* The plugin takes the unknown id for an operator; the platform's
     * refusal of its first command names it. */
    assert_non_null(strstr(run.err, "device not exist: bench-0-5"));
}

static void test_bench_onenet_flags_are_checked_before_connecting(void **state)
{
    (void)state;
    /* Nothing listens on port 1: a check that let these through would say so. */
    proc_run(&run, MIDGE_ARGV("bench", "--profile", "onenet", "--product-id", PRODUCT, "-P",
                              MASTER_KEY, "--devices", "1"),
             NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "needs -h"));
    proc_run(&run, MIDGE_ARGV("bench", "--profile", "onenet", "-h", "127.0.0.1:1", "-P",
                              MASTER_KEY, "--devices", "1"),
             NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(count_lines(run.err), 1);
    /* The product id is the user name -P needs. */
    assert_non_null(strstr(run.err, "-P needs a user name"));
    proc_run(&run, MIDGE_ARGV("bench", "--profile", "onenet", "-h", "127.0.0.1:1",
                              "--product-id", PRODUCT, "-P", MASTER_KEY, "--devices", "1",
                              "--prefix", "x/{device-id}"),
             NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "--prefix"));
    proc_run(&run, MIDGE_ARGV("bench", "--profile", "onenet-studio", "-h", "127.0.0.1:1",
                              "--product-id", PRODUCT, "-u", PRODUCT, "-P", MASTER_KEY,
                              "--devices", "1"),
             NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "mqtt and onenet"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_bench_devices_log_in_from_the_registry_and_answer_the_operator, teardown),
        cmocka_unit_test_teardown(test_bench_workers_name_their_devices_as_the_registry,
                                  teardown),
        cmocka_unit_test_teardown(test_bench_device_missing_from_the_registry_ends_the_run,
                                  teardown),
        cmocka_unit_test(test_bench_onenet_flags_are_checked_before_connecting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
