/*
 * `midge bench` against real mosquittos on loopback: a small fleet connects,
 * answers commands at a fixed rate and reports through --json; devices
 * spread over two brokers; worker processes merge their figures; a run
 * leaves no retained presence or state behind, also when SIGINT ends it
 * (with the figures until then); bad flags and unwritable report paths end
 * in one line and exit status 1 before the run; a broker answering QoS 2
 * with PUBACK (a scripted fake) is an error of the run. Every run is
 * bounded (a few seconds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_json.h"
#include "broker.h"
#include "proc.h"
#include "proc_expect.h"
#include "script_broker.h"

#define RUN_TIMEOUT_MS 60000
#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

/* The fleet's connections need no limit from the broker; Nagle off as a
 * production broker would have it, so round trips are not 40 ms. */
#define BROKER_CONF "max_connections -1\nset_tcp_nodelay true\n"

static test_broker broker_a;
static test_broker broker_b;
static char port_a[8];
static char port_b[8];
static char json_path[64];
static proc run, listing; /* large: static */
static script_broker fake;

static int start_brokers(void **state)
{
    test_broker_opts opts = {.extra_conf = BROKER_CONF, .user = NULL, .password = NULL};
    (void)state;
    if (test_broker_start(&broker_a, &opts) != 0)
        return -1;
    if (test_broker_start(&broker_b, &opts) != 0) {
        test_broker_stop(&broker_a);
        return -1;
    }
    snprintf(port_a, sizeof port_a, "%u", (unsigned)broker_a.port);
    snprintf(port_b, sizeof port_b, "%u", (unsigned)broker_b.port);
    snprintf(json_path, sizeof json_path, "/tmp/midge-test-bench-%ld.json", (long)getpid());
    return 0;
}

static int stop_brokers(void **state)
{
    (void)state;
    unlink(json_path);
    test_broker_stop(&broker_b);
    return test_broker_stop(&broker_a);
}

/* --- helpers --------------------------------------------------------------- */

static const char *read_json(void) { return bench_json_read(json_path); }

static double json_number(const char *json, const char *key)
{
    return bench_json_number(json, key);
}

/* Devices of worker 0 the broker logged as connected ("... as bench-0-12
 * ..."); the commander's own id (<prefix>-cmd-...) does not count. */
static int clients_in_log(const test_broker *b, const char *prefix)
{
    char line[512];
    char needle[64];
    int n = 0;
    FILE *f = fopen(b->log_path, "r");

    snprintf(needle, sizeof needle, " as %s-0-", prefix);
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, "New client connected") != NULL && strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* A run that went well: every device connected, commands answered, no
 * errors, no time-outs, a positive median. */
static const char *expect_clean_run(int devices)
{
    const char *j = read_json();

    assert_int_equal((int)json_number(j, "connected"), devices);
    assert_int_equal((int)json_number(j, "devices"), devices);
    assert_true(json_number(j, "commands") > 0);
    assert_true(json_number(j, "replies") == json_number(j, "commands"));
    assert_int_equal((int)json_number(j, "errors"), 0);
    assert_int_equal((int)json_number(j, "timeouts"), 0);
    assert_true(json_number(j, "p50") > 0);
    assert_true(json_number(j, "p99") >= json_number(j, "p50"));
    assert_true(json_number(j, "bytes_per_device") > 0);
    return j;
}

/* How many devices whose id starts with `prefix`- `midge devices` lists
 * from what broker A retains. */
static int devices_listed(const char *prefix)
{
    char needle[64];
    int n = 0;

    proc_run(&listing, MIDGE_ARGV("devices", "-h", "127.0.0.1", "-p", port_a), NULL,
             RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&listing), 0);
    snprintf(needle, sizeof needle, "%s-", prefix);
    for (const char *line = listing.out; *line != '\0'; line = strchr(line, '\n') + 1) {
        n += strncmp(line, needle, strlen(needle)) == 0;
        if (strchr(line, '\n') == NULL)
            break;
    }
    if (n != 0)
        fprintf(stderr, "midge devices still lists:\n%s", listing.out);
    return n;
}

/* --- runs --------------------------------------------------------------------- */

static void test_bench_200_devices_answer_every_command(void **state)
{
    (void)state;
    unlink(json_path);
    proc_run(&run,
             MIDGE_ARGV("bench", "-h", "127.0.0.1", "-p", port_a, "--devices", "200", "--rate",
                        "200", "--duration", "2", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge bench --devices 200");
    const char *j = expect_clean_run(200);
    assert_int_equal((int)json_number(j, "brokers"), 1);
    assert_int_equal((int)json_number(j, "workers"), 1);
    /* 2 s at 200/s: the schedule is kept to within a few commands. */
    assert_true(json_number(j, "commands") >= 390);
    /* The commander's order reaches every device once per 200 commands. */
    assert_int_equal((int)json_number(j, "devices_commanded"), 200);
    assert_non_null(strstr(j, "\"profile\": \"mqtt\""));
    /* The text report names the figures too. */
    assert_non_null(strstr(run.out, "200/200 online"));
    assert_non_null(strstr(run.out, "p99"));
}

static void test_bench_spreads_devices_over_two_brokers(void **state)
{
    char list[64];
    (void)state;
    unlink(json_path);
    /* One -h per broker, the second as host:port. */
    snprintf(list, sizeof list, "127.0.0.1:%s", port_b);
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "twob", "-h", "127.0.0.1", "-p", port_a, "-h", list,
                        "--devices", "100", "--rate", "100", "--duration", "1", "--json",
                        json_path),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge bench with two -h");
    const char *j = expect_clean_run(100);
    assert_int_equal((int)json_number(j, "brokers"), 2);
    /* Round-robin: each broker saw half of the devices connect. */
    assert_int_equal(clients_in_log(&broker_a, "twob"), 50);
    assert_int_equal(clients_in_log(&broker_b, "twob"), 50);
}

static void test_bench_takes_a_comma_separated_broker_list(void **state)
{
    char list[64];
    (void)state;
    unlink(json_path);
    snprintf(list, sizeof list, "127.0.0.1:%s,127.0.0.1:%s", port_a, port_b);
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "list", "-h", list, "--devices", "40", "--rate", "50",
                        "--duration", "1", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge bench -h a,b");
    const char *j = expect_clean_run(40);
    assert_int_equal((int)json_number(j, "brokers"), 2);
    assert_int_equal(clients_in_log(&broker_a, "list"), 20);
    assert_int_equal(clients_in_log(&broker_b, "list"), 20);
}

static void test_bench_workers_merge_their_figures(void **state)
{
    (void)state;
    unlink(json_path);
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "wk", "-h", "127.0.0.1", "-p", port_a, "--devices", "201",
                        "--rate", "200", "--duration", "2", "--workers", "2", "--json",
                        json_path),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge bench --workers 2");
    const char *j = expect_clean_run(201);
    assert_int_equal((int)json_number(j, "workers"), 2);
    /* Both workers' devices acted: the devices' own count matches the
     * replies (no command was lost in a merge). */
    assert_true(json_number(j, "device_commands") == json_number(j, "replies"));
}

static void test_bench_with_rate_0_only_connects(void **state)
{
    (void)state;
    unlink(json_path);
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "idle", "-h", "127.0.0.1", "-p", port_a, "--devices", "50",
                        "--rate", "0", "--duration", "1", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge bench --rate 0");
    const char *j = read_json();
    assert_int_equal((int)json_number(j, "connected"), 50);
    assert_int_equal((int)json_number(j, "commands"), 0);
}

/* Each device fails over through the list rotated to start at its own
 * broker. The second broker takes only the commander (mosquitto refuses
 * other client ids): the devices placed on it are refused there and are
 * on the first at once, so the idle fleet connects in full. */
static void test_bench_devices_fail_over_through_the_list(void **state)
{
    static test_broker only_cmdr;
    test_broker_opts opts = {.extra_conf = BROKER_CONF "clientid_prefixes fo-cmd-\n"};
    char list[64];
    (void)state;
    unlink(json_path);
    assert_int_equal(test_broker_start(&only_cmdr, &opts), 0);
    snprintf(list, sizeof list, "127.0.0.1:%s,127.0.0.1:%u", port_a, (unsigned)only_cmdr.port);
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "fo", "-h", list, "--devices", "40", "--rate", "0",
                        "--duration", "1", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    int refused = clients_in_log(&only_cmdr, "fo");
    test_broker_stop(&only_cmdr);
    proc_expect_exit(&run, 0, "midge bench with a broker that refuses the devices");
    const char *j = read_json();
    assert_int_equal((int)json_number(j, "connected"), 40);
    /* Half the devices were placed on the refusing broker: one failed
     * attempt each, then the first broker, without a backoff pass. */
    assert_int_equal((int)json_number(j, "connect_retries"), 20);
    assert_int_equal(clients_in_log(&broker_a, "fo"), 40);
    assert_int_equal(refused, 0);
}

/* --- what a run leaves behind ------------------------------------------------ */

static void test_bench_removes_the_retained_presence_and_state_it_made(void **state)
{
    (void)state;
    unlink(json_path);
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "clean", "-h", "127.0.0.1", "-p", port_a, "--devices", "20",
                        "--rate", "20", "--duration", "2", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_exit(&run, 0, "midge bench --devices 20");
    expect_clean_run(20);
    assert_int_equal(devices_listed("clean"), 0);
}

static void test_bench_sigint_reports_so_far_writes_json_and_cleans_up(void **state)
{
    (void)state;
    unlink(json_path);
    assert_int_equal(proc_start(&run,
                                MIDGE_ARGV("bench", "-i", "sigint", "-h", "127.0.0.1", "-p", port_a,
                                           "--devices", "20", "--rate", "20", "--duration", "60",
                                           "--json", json_path),
                                NULL),
                     0);
    /* Every device connected (the broker logged it), then commands for a
     * second before Ctrl-C. */
    for (int i = 0; i < 100 && clients_in_log(&broker_a, "sigint") < 20; i++)
        proc_pump(&run, 100);
    assert_int_equal(clients_in_log(&broker_a, "sigint"), 20);
    proc_pump(&run, 1500);
    kill(run.pid, SIGINT);
    proc_wait(&run, 15000);

    proc_expect_one_line_failure(&run, 1, "midge bench after SIGINT");
    assert_non_null(strstr(run.err, "interrupted"));
    /* The figures until then: on stdout and in the --json file. */
    assert_non_null(strstr(run.out, "20/20 online"));
    assert_non_null(strstr(run.out, "commands:"));
    const char *j = read_json();
    assert_int_equal((int)json_number(j, "connected"), 20);
    assert_true(json_number(j, "commands") > 0);
    assert_true(json_number(j, "commands") < json_number(j, "commands_planned"));
    assert_int_equal(devices_listed("sigint"), 0);
}

/* --- failures ------------------------------------------------------------------- */

static void test_bench_bad_flags_fail_in_one_line(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a), NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench without --devices");
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a, "--devices", "0"), NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench --devices 0");
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a, "--devices", "10", "--rate", "fast"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench --rate fast");
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a, "--devices", "10", "--qos", "3"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench --qos 3");
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a, "--devices", "10", "--bind", "127.0.0.9-127.0.0.2"),
             NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench --bind backwards");
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a, "--devices", "2", "--workers", "3"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench --workers > --devices");
    proc_run(&run, MIDGE_ARGV("bench", "-h", "127.0.0.1:0", "--devices", "2"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench -h host:0");
    proc_run(&run, MIDGE_ARGV("bench", "--devices", "2", "--no-such-flag"), NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench --no-such-flag");
}

/* Checked before the run: a 60 s run would otherwise end in the failure. */
static void test_bench_unwritable_report_paths_fail_before_the_run(void **state)
{
    static const char *const bad[][2] = {
        {"--json", "/nonexistent-midge-dir/run.json"},
        {"--json", "/tmp"},
        {"--plot", "/nonexistent-midge-dir/run.png"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proc_run(&run,
                 MIDGE_ARGV("bench", "-h", "127.0.0.1", "-p", port_a, "--devices", "5", "--rate",
                            "5", "--duration", "60", (char *)bad[i][0], (char *)bad[i][1]),
                 NULL, 10000);
        proc_expect_one_line_failure(&run, 1, bad[i][1]);
        assert_non_null(strstr(run.err, bad[i][0]));
        assert_int_equal(run.out_len, 0);
    }
}

/* The wrong acknowledgement ends the commander's connection as a protocol
 * error: the run stops at once, counts it, and reports what it had. */
static void test_bench_qos2_answered_with_puback_is_an_error(void **state)
{
    char fake_port[8];
    (void)state;
    unlink(json_path);
    assert_int_equal(script_broker_start(&fake, script_puback_everything, NULL), 0);
    snprintf(fake_port, sizeof fake_port, "%u", (unsigned)fake.port);
    long long t0 = proc_now_ms();
    proc_run(&run,
             MIDGE_ARGV("bench", "-i", "wrongack", "-h", "127.0.0.1", "-p", fake_port, "--devices",
                        "2", "--rate", "10", "--duration", "2", "--qos", "2", "--json", json_path),
             NULL, RUN_TIMEOUT_MS);
    long long spent = proc_now_ms() - t0;
    script_broker_stop(&fake);
    proc_expect_one_line_failure(&run, 1, "midge bench --qos 2 answered with PUBACK");
    assert_non_null(strstr(run.out, "commands:"));
    const char *j = read_json();
    assert_true(json_number(j, "errors") >= 1);
    /* Not the command time-out (5 s) after the schedule. */
    assert_true(spent < 5000);
}

static void test_bench_more_devices_than_descriptors_names_the_fix(void **state)
{
    struct rlimit rl;
    char devices[24];
    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 10000000u)
        skip();
    /* One more device than one process may hold sockets for. */
    snprintf(devices, sizeof devices, "%llu", (unsigned long long)rl.rlim_max + 1u);
    proc_run(&run, MIDGE_ARGV("bench", "-p", port_a, "--devices", devices), NULL, RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench beyond the descriptor limit");
    assert_non_null(strstr(run.err, "--workers"));
}

static void test_bench_without_broker_fails_in_one_line(void **state)
{
    char closed[8];
    (void)state;
    snprintf(closed, sizeof closed, "%u", (unsigned)test_broker_free_port());
    proc_run(&run, MIDGE_ARGV("bench", "-h", "127.0.0.1", "-p", closed, "--devices", "5"), NULL,
             RUN_TIMEOUT_MS);
    proc_expect_one_line_failure(&run, 1, "bench to a closed port");
    assert_non_null(strstr(run.err, closed));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_200_devices_answer_every_command),
        cmocka_unit_test(test_bench_spreads_devices_over_two_brokers),
        cmocka_unit_test(test_bench_takes_a_comma_separated_broker_list),
        cmocka_unit_test(test_bench_workers_merge_their_figures),
        cmocka_unit_test(test_bench_with_rate_0_only_connects),
        cmocka_unit_test(test_bench_devices_fail_over_through_the_list),
        cmocka_unit_test(test_bench_removes_the_retained_presence_and_state_it_made),
        cmocka_unit_test(test_bench_sigint_reports_so_far_writes_json_and_cleans_up),
        cmocka_unit_test(test_bench_unwritable_report_paths_fail_before_the_run),
        cmocka_unit_test(test_bench_qos2_answered_with_puback_is_an_error),
        cmocka_unit_test(test_bench_bad_flags_fail_in_one_line),
        cmocka_unit_test(test_bench_more_devices_than_descriptors_names_the_fix),
        cmocka_unit_test(test_bench_without_broker_fails_in_one_line),
    };
    return cmocka_run_group_tests(tests, start_brokers, stop_brokers);
}
