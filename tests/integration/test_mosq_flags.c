/*
 * `midge pub` and `midge sub` against Debian's mosquitto_pub and
 * mosquitto_sub 2.0.11 on the connection flags (-L, --unix, -A, -I, -M,
 * --quiet, --nodelay, -V), pub's -s and --repeat, and the exit statuses
 * scripts test (a refused connection, a closed port, -W): the same
 * command line, the same result. midge's own choices (several -t on pub,
 * MQTT 5 flags refused) are tested as documented.
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
#include "script_broker.h"
#include "secrets.h"

#define HOST "-h", "127.0.0.1", "-p", port
#define AUTH_USER "alice"
#define AUTH_PASSWORD SECRET_BROKER_PASSWORD
#define DELIVERY_TIMEOUT_MS 10000

static test_broker broker;        /* anonymous, and a Unix socket */
static test_broker auth_broker;   /* AUTH_USER only */
static test_broker prefix_broker; /* client ids must start with "pfx-" */
static char port[8];
static char auth_port[8];
static char prefix_port[8];
static char url[256];
static char bad_url[256];

static int setup(void **state)
{
    test_broker_opts plain = { .unix_socket = true };
    test_broker_opts auth = { .user = AUTH_USER, .password = AUTH_PASSWORD };
    test_broker_opts prefixed = { .extra_conf = "clientid_prefixes pfx-" };
    (void)state;
    if (test_broker_start(&broker, &plain) != 0 || test_broker_start(&auth_broker, &auth) != 0 ||
        test_broker_start(&prefix_broker, &prefixed) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    snprintf(auth_port, sizeof auth_port, "%u", (unsigned)auth_broker.port);
    snprintf(prefix_port, sizeof prefix_port, "%u", (unsigned)prefix_broker.port);
    snprintf(url, sizeof url, "mqtt://%s:%s@127.0.0.1:%s/url/topic", AUTH_USER, AUTH_PASSWORD,
             auth_port);
    snprintf(bad_url, sizeof bad_url, "mqtt://%s:%s@127.0.0.1:%s/url/topic", AUTH_USER,
             SECRET_WRONG_PASSWORD, auth_port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_broker_stop(&prefix_broker);
    test_broker_stop(&auth_broker);
    return test_broker_stop(&broker);
}

static int each_teardown(void **state)
{
    pair_stop();
    return peer_teardown(state);
}

static peer *watcher(const char *filter)
{
    peer *s = peer_new(broker.port, "mosq-flags-watch", true);
    assert_non_null(s);
    assert_int_equal(peer_connect(s, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&s->client, filter, 1), MIDGE_OK);
    return s;
}

/* --- exit statuses -------------------------------------------------------- */

static void test_refused_connection_exits_with_the_connack_code(void **state)
{
    (void)state;
    pair_run("pub", ARGS("-h", "127.0.0.1", "-p", auth_port, "-t", "t", "-m", "m"), NULL);
    pair_expect_exit(5, "pub refused (not authorised)");
    assert_int_equal(count_lines(pair_midge.err), 1);
    pair_run("sub", ARGS("-h", "127.0.0.1", "-p", auth_port, "-t", "t"), NULL);
    pair_expect_exit(5, "sub refused (not authorised)");
    pair_run("pub", ARGS("-h", "127.0.0.1", "-p", prefix_port, "-t", "t", "-m", "m"), NULL);
    /* mosquitto answers a client id outside clientid_prefixes "not authorised". */
    pair_expect_exit(5, "pub refused (client id outside the prefixes)");
}

static void test_closed_port_and_timeout_exit_as_mosquitto(void **state)
{
    char closed[8];
    (void)state;
    snprintf(closed, sizeof closed, "%u", (unsigned)test_broker_free_port());
    pair_run("pub", ARGS("-h", "127.0.0.1", "-p", closed, "-t", "t", "-m", "m"), NULL);
    pair_expect_exit(1, "pub to a closed port");
    pair_run("sub", ARGS("-h", "127.0.0.1", "-p", closed, "-t", "t"), NULL);
    pair_expect_exit(1, "sub to a closed port");
    pair_run("sub", ARGS(HOST, "-t", "silence", "-W", "1"), NULL);
    pair_expect_exit(27, "sub -W 1");
}

static void test_quiet_prints_no_error(void **state)
{
    (void)state;
    pair_run("pub", ARGS("-h", "127.0.0.1", "-p", auth_port, "-t", "t", "-m", "m", "--quiet"),
             NULL);
    pair_expect_exit(5, "pub --quiet refused");
    assert_int_equal(pair_midge.err_len, 0);
    assert_int_equal(pair_mosq.err_len, 0);
    pair_run("sub", ARGS(HOST, "-t", "silence", "-W", "1", "--quiet"), NULL);
    pair_expect_exit(27, "sub --quiet -W 1");
    assert_int_equal(pair_midge.err_len, 0);
    /* A bad flag is still reported: --quiet silences errors, not usage. */
    proc_run(&pair_midge, ARGS(MIDGE_BINARY, "sub", "--quiet", "-t", "t", "-q", "7"), NULL,
             PAIR_RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&pair_midge), 1);
    assert_int_equal(count_lines(pair_midge.err), 1);
}

/* --- connection flags ------------------------------------------------------ */

static void test_L_url_sets_host_port_credentials_and_topic(void **state)
{
    (void)state;
    pair_run("pub", ARGS("-L", url, "-r", "-m", "by url"), NULL);
    pair_expect_exit(0, "pub -L");
    pair_run("sub", ARGS("-L", url, "-C", "1", "-v"), NULL);
    assert_true(pair_same("sub -L"));
    assert_string_equal(pair_midge.out, "url/topic by url\n");
    pair_run("sub", ARGS("-L", bad_url, "-C", "1"), NULL);
    pair_expect_exit(5, "sub -L with a wrong password");
    assert_null(strstr(pair_midge.err, SECRET_WRONG_PASSWORD));
    pair_run("pub", ARGS("-L", "http://127.0.0.1/t", "-m", "m"), NULL);
    pair_expect_exit(1, "pub -L http://");
    pair_run("pub", ARGS("-L", "mqtt://127.0.0.1", "-m", "m"), NULL);
    pair_expect_exit(1, "pub -L without a topic");
}

static void test_unix_socket_carries_mqtt(void **state)
{
    char missing[TEST_BROKER_PATH_MAX + 8];
    (void)state;
    pair_run("pub", ARGS("--unix", broker.unix_path, "-t", "ux/t", "-r", "-m", "over a socket"),
             NULL);
    pair_expect_exit(0, "pub --unix");
    pair_run("sub", ARGS("--unix", broker.unix_path, "-t", "ux/t", "-C", "1"), NULL);
    assert_true(pair_same("sub --unix"));
    assert_string_equal(pair_midge.out, "over a socket\n");
    snprintf(missing, sizeof missing, "%s.none", broker.unix_path);
    pair_run("sub", ARGS("--unix", missing, "-t", "ux/t"), NULL);
    pair_expect_exit(1, "sub --unix to nothing");
}

/* -A: the broker sees the connection come from the bound address; an
 * address this host does not have fails. */
static void test_A_binds_the_local_address(void **state)
{
    char log[8192];
    (void)state;
    pair_run("pub", ARGS(HOST, "-A", "127.0.0.2", "-i", "bound-client", "-t", "t", "-m", "m"),
             NULL);
    pair_expect_exit(0, "pub -A 127.0.0.2");
    FILE *f = fopen(broker.log_path, "r");
    assert_non_null(f);
    size_t n = fread(log, 1, sizeof log - 1, f);
    fclose(f);
    log[n] = '\0';
    assert_non_null(strstr(log, "from 127.0.0.2"));
    pair_run("pub", ARGS(HOST, "-A", "192.0.2.1", "-t", "t", "-m", "m"), NULL);
    pair_expect_exit(1, "pub -A 192.0.2.1");
    assert_int_equal(count_lines(pair_midge.err), 1);
}

static void test_I_prefixes_the_client_id(void **state)
{
    (void)state;
    pair_run("pub", ARGS("-h", "127.0.0.1", "-p", prefix_port, "-I", "pfx-", "-t", "t", "-m", "m"),
             NULL);
    pair_expect_exit(0, "pub -I pfx-");
    pair_run("pub", ARGS("-h", "127.0.0.1", "-p", prefix_port, "-I", "other-", "-t", "t", "-m",
                         "m"),
             NULL);
    pair_expect_exit(5, "pub -I other-");
    pair_run("pub", ARGS(HOST, "-i", "x", "-I", "pfx-", "-t", "t", "-m", "m"), NULL);
    pair_expect_exit(1, "pub -i -I");
}

static void test_nodelay_and_V_mqttv311_are_accepted(void **state)
{
    (void)state;
    pair_run("pub", ARGS(HOST, "--nodelay", "-V", "mqttv311", "-t", "t", "-m", "m"), NULL);
    pair_expect_exit(0, "pub --nodelay -V mqttv311");
}

/* Documented: MQTT 5 flags are refused in one line, not ignored. */
static void test_mqtt5_flags_are_refused_in_one_line(void **state)
{
    static char *const lines[][8] = {
        { MIDGE_BINARY, "pub", "-V", "mqttv5", "-t", "t", "-m", "m" },
        { MIDGE_BINARY, "sub", "-x", "60", "-t", "t", NULL },
        { MIDGE_BINARY, "pub", "-D", "publish", "t", "m", NULL },
    };
    (void)state;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char *argv[10] = { 0 };
        memcpy(argv, lines[i], sizeof lines[i]);
        proc_run(&pair_midge, argv, NULL, PAIR_RUN_TIMEOUT_MS);
        assert_int_equal(proc_exit_code(&pair_midge), 1);
        assert_int_equal(count_lines(pair_midge.err), 1);
        assert_non_null(strstr(pair_midge.err, "MQTT 5 is not supported yet"));
    }
}

/* -M: QoS 1 messages in flight at once, against a broker that never
 * acknowledges: it sees exactly that many PUBLISHes from either tool. */
static void test_M_bounds_messages_in_flight(void **state)
{
    script_broker sb;
    char sb_port[8];
    char *argv[2][PAIR_ARGS_MAX];
    (void)state;
    assert_int_equal(script_broker_start(&sb, script_connack_only, NULL), 0);
    snprintf(sb_port, sizeof sb_port, "%u", (unsigned)sb.port);
    pair_argv("pub", ARGS("-h", "127.0.0.1", "-p", sb_port, "-q", "1", "-M", "2", "-t", "m/t",
                          "-l"),
              argv[0], argv[1]);
    for (int tool = 0; tool < 2; tool++) {
        proc *p = tool == 0 ? &pair_midge : &pair_mosq;
        unsigned before = __atomic_load_n(&sb.packets[3], __ATOMIC_RELAXED);
        assert_int_equal(proc_start(p, argv[tool], "1\n2\n3\n4\n"), 0);
        for (int i = 0; i < 40 && __atomic_load_n(&sb.packets[3], __ATOMIC_RELAXED) < before + 2;
             i++)
            proc_pump(p, 100);
        proc_pump(p, 700); /* time for a third, were it to come */
        proc_stop(p);
        assert_int_equal(__atomic_load_n(&sb.packets[3], __ATOMIC_RELAXED) - before, 2);
    }
    script_broker_stop(&sb);
}

/* --- pub ------------------------------------------------------------------- */

static void test_s_sends_all_of_stdin_as_one_message(void **state)
{
    static const char input[] = "line one\nline two\n\x01 and no newline";
    (void)state;
    peer *s = watcher("s/t");
    pair_run("pub", ARGS(HOST, "-s", "-q", "1", "-t", "s/t"), input);
    pair_expect_exit(0, "pub -s");
    assert_int_equal(peer_wait_count(s, 2, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(s, 300), MIDGE_OK);
    assert_int_equal(s->count, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s->got[i].len, sizeof input - 1);
        assert_memory_equal(s->got[i].payload, input, sizeof input - 1);
    }
    peer_free(s);
}

static void test_repeat_publishes_n_times_with_the_delay(void **state)
{
    (void)state;
    peer *s = watcher("rep/t");
    long long start = proc_now_ms();
    pair_run("pub", ARGS(HOST, "--repeat", "3", "--repeat-delay", "0.25", "-q", "1", "-t",
                         "rep/t", "-m", "again"),
             NULL);
    long long spent = proc_now_ms() - start;
    pair_expect_exit(0, "pub --repeat 3");
    /* Two pauses of 0.25 s each for each tool: a floor, not a timing. */
    assert_true(spent >= 2 * 500);
    assert_int_equal(peer_wait_count(s, 6, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(s, 300), MIDGE_OK);
    assert_int_equal(s->count, 6);
    pair_run("pub", ARGS(HOST, "--repeat", "0", "-t", "rep/t", "-m", "m"), NULL);
    pair_expect_exit(1, "pub --repeat 0");
    peer_free(s);
}

/* Documented: every -t gets the message; mosquitto_pub keeps the last. */
static void test_several_t_publish_to_every_topic(void **state)
{
    (void)state;
    peer *s = watcher("many/#");
    pair_run("pub", ARGS(HOST, "-q", "1", "-t", "many/a", "-t", "many/b", "-m", "both"), NULL);
    pair_expect_exit(0, "pub -t -t");
    assert_int_equal(peer_wait_count(s, 3, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(s, 300), MIDGE_OK);
    assert_int_equal(s->count, 3);
    /* midge's two, in order, then mosquitto_pub's one on the last -t. */
    assert_string_equal(s->got[0].topic, "many/a");
    assert_string_equal(s->got[1].topic, "many/b");
    assert_string_equal(s->got[2].topic, "many/b");
    peer_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_refused_connection_exits_with_the_connack_code,
                                  each_teardown),
        cmocka_unit_test_teardown(test_closed_port_and_timeout_exit_as_mosquitto, each_teardown),
        cmocka_unit_test_teardown(test_quiet_prints_no_error, each_teardown),
        cmocka_unit_test_teardown(test_L_url_sets_host_port_credentials_and_topic, each_teardown),
        cmocka_unit_test_teardown(test_unix_socket_carries_mqtt, each_teardown),
        cmocka_unit_test_teardown(test_A_binds_the_local_address, each_teardown),
        cmocka_unit_test_teardown(test_I_prefixes_the_client_id, each_teardown),
        cmocka_unit_test_teardown(test_nodelay_and_V_mqttv311_are_accepted, each_teardown),
        cmocka_unit_test_teardown(test_mqtt5_flags_are_refused_in_one_line, each_teardown),
        cmocka_unit_test_teardown(test_M_bounds_messages_in_flight, each_teardown),
        cmocka_unit_test_teardown(test_s_sends_all_of_stdin_as_one_message, each_teardown),
        cmocka_unit_test_teardown(test_repeat_publishes_n_times_with_the_delay, each_teardown),
        cmocka_unit_test_teardown(test_several_t_publish_to_every_topic, each_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
