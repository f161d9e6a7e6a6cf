/*
 * The `midge` executable against a real mosquitto on loopback: `midge pub`
 * and `midge sub` with mosquitto_pub / mosquitto_sub flags, exit codes, and
 * what goes to stdout and stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "broker.h"
#include "loopback.h"
#include "peer.h"
#include "proc.h"
#include "secrets.h"

#define RUN_TIMEOUT_MS 20000
#define DELIVERY_TIMEOUT_MS 10000
#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#define AUTH_USER "alice"
#define AUTH_PASSWORD SECRET_BROKER_PASSWORD

/* A command line: the midge executable and its arguments. */
#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

static test_broker broker;      /* anonymous clients welcome */
static test_broker auth_broker; /* AUTH_USER / AUTH_PASSWORD only */
static char port[8];
static char auth_port[8];
/* Large structs: static, one per role. */
static proc run, sub_proc;

static int start_brokers(void **state)
{
    test_broker_opts opts = {.extra_conf = NULL, .user = AUTH_USER, .password = AUTH_PASSWORD};
    (void)state;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    if (test_broker_start(&auth_broker, &opts) != 0) {
        test_broker_stop(&broker);
        return -1;
    }
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    snprintf(auth_port, sizeof auth_port, "%u", (unsigned)auth_broker.port);
    return 0;
}

static int stop_brokers(void **state)
{
    (void)state;
    test_broker_stop(&auth_broker);
    return test_broker_stop(&broker);
}

/* After each test: nothing it started may outlive it, even when it failed. */
static int cli_teardown(void **state)
{
    if (sub_proc.pid > 0 && !sub_proc.exited)
        proc_stop(&sub_proc);
    return peer_teardown(state);
}

static void expect_exit(const proc *p, int code, const char *what)
{
    if (proc_exit_code(p) != code)
        proc_dump(p, what);
    assert_int_equal(proc_exit_code(p), code);
}

/* Non-zero exit (not a crash or a hang) with exactly one line on stderr. */
static void expect_one_line_failure(const proc *p, const char *what)
{
    int code = proc_exit_code(p);
    if (code <= 0 || count_lines(p->err) != 1)
        proc_dump(p, what);
    assert_false(p->timed_out);
    assert_true(code > 0);
    assert_int_equal(count_lines(p->err), 1);
    assert_true(p->err[p->err_len - 1] == '\n');
}

static peer *subscriber(const char *id, const char *topic)
{
    peer *s = peer_new(broker.port, id, true);
    assert_non_null(s);
    assert_int_equal(peer_connect(s, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&s->client, topic, 2), MIDGE_OK);
    return s;
}

/* --- help, version, usage errors ------------------------------------------ */

static void test_help_exits_0_printing_usage_to_stdout(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("--help"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge --help");
    assert_true(run.out_len > 0);
    assert_int_equal(run.err_len, 0);
}

static void test_version_exits_0_printing_the_version_to_stdout(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("--version"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge --version");
    assert_non_null(strstr(run.out, MIDGE_PROJECT_VERSION));
    assert_int_equal(run.err_len, 0);
}

static void test_pub_help_exits_0_printing_usage_to_stdout(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "--help"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge pub --help");
    assert_true(run.out_len > 0);
    assert_int_equal(run.err_len, 0);
}

static void test_sub_help_exits_0_printing_usage_to_stdout(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("sub", "--help"), NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge sub --help");
    assert_true(run.out_len > 0);
    assert_int_equal(run.err_len, 0);
}

static void test_unknown_flag_exits_nonzero_with_one_line_on_stderr(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "--no-such-flag", "-t", "t", "-m", "m", "-p", port), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge pub --no-such-flag");
    proc_run(&run, MIDGE_ARGV("sub", "-Z", "-t", "t", "-p", port), NULL, RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge sub -Z");
}

static void test_unknown_subcommand_exits_nonzero_with_one_line_on_stderr(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("no-such-command"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge no-such-command");
}

static void test_pub_without_topic_exits_nonzero_with_one_line_on_stderr(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port, "-m", "m"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge pub without -t");
}

static void test_sub_without_topic_exits_nonzero_with_one_line_on_stderr(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port), NULL, RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge sub without -t");
}

static void test_pub_to_port_without_broker_exits_nonzero_with_one_line(void **state)
{
    char closed[8];
    (void)state;
    snprintf(closed, sizeof closed, "%u", (unsigned)test_broker_free_port());
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", closed, "-t", "t", "-m", "m"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge pub to a closed port");
}

/* --- midge sub <- midge pub ------------------------------------------------- */

/* Start `midge sub -C 1 -v` and publish with `midge pub` (again every half
 * second, since the subscription may not be in place yet) until it exits. */
static void sub_receives_pub_at_qos(const char *qos)
{
    char topic[32];
    char msg[32];
    char expected[80];
    int rounds = 0;
    snprintf(topic, sizeof topic, "cli/sub/q%s", qos);
    snprintf(msg, sizeof msg, "payload at qos %s", qos);
    snprintf(expected, sizeof expected, "%s %s\n", topic, msg);

    assert_int_equal(proc_start(&sub_proc,
                                MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-q", "2", "-C",
                                           "1", "-v", "-t", topic),
                                NULL),
                     0);
    proc_pump(&sub_proc, 200);
    while (!sub_proc.exited && rounds++ < 30) {
        proc_run(&run,
                 MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port, "-q", (char *)qos, "-t", topic,
                            "-m", msg),
                 NULL, RUN_TIMEOUT_MS);
        expect_exit(&run, 0, "midge pub");
        proc_pump(&sub_proc, 500);
    }
    proc_wait(&sub_proc, 5000);
    expect_exit(&sub_proc, 0, "midge sub -C 1");
    assert_string_equal(sub_proc.out, expected);
}

static void test_sub_prints_topic_and_payload_of_pub_at_qos0(void **state)
{
    (void)state;
    sub_receives_pub_at_qos("0");
}

static void test_sub_prints_topic_and_payload_of_pub_at_qos1(void **state)
{
    (void)state;
    sub_receives_pub_at_qos("1");
}

static void test_sub_prints_topic_and_payload_of_pub_at_qos2(void **state)
{
    (void)state;
    sub_receives_pub_at_qos("2");
}

static void test_sub_timeout_exits_27_when_nothing_arrives(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-t", "cli/silence", "-W", "1"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 27, "midge sub -W 1");
    assert_int_equal(run.out_len, 0);
}

/* A broker that accepts the connection and then never answers again: run
 * `argv` (whose -p is `silent_port`) against it and return when it ended. */
static char silent_port[8];
static void run_against_silent_broker(char *const argv[])
{
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    uint8_t buf[512];
    size_t got;
    uint16_t p;
    int listener = loopback_listen(&p);
    assert_true(listener >= 0);
    snprintf(silent_port, sizeof silent_port, "%u", (unsigned)p);
    assert_int_equal(proc_start(&run, argv, NULL), 0);
    int fd = loopback_accept(listener, RUN_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(loopback_read_some(fd, buf, sizeof buf, RUN_TIMEOUT_MS, &got), LOOPBACK_OK);
    assert_int_equal(buf[0], 0x10); /* CONNECT */
    assert_int_equal(loopback_write_all(fd, connack, sizeof connack, RUN_TIMEOUT_MS), LOOPBACK_OK);
    /* Swallow SUBSCRIBE and anything after it until the tool gives up. */
    assert_int_equal(loopback_wait_closed(fd, RUN_TIMEOUT_MS, NULL), LOOPBACK_CLOSED);
    proc_wait(&run, RUN_TIMEOUT_MS);
    close(fd);
    close(listener);
}

static void test_sub_timeout_exits_27_when_the_suback_never_comes(void **state)
{
    (void)state;
    run_against_silent_broker(MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", silent_port, "-t",
                                         "cli/silence", "-W", "1"));
    expect_exit(&run, 27, "midge sub -W 1 against a silent broker");
    assert_non_null(strstr(run.err, "timed out after 1 s (no SUBACK)"));
    assert_int_equal(count_lines(run.err), 1);
}

/* The SUBACK wait ends at the CONNACK time-out, long before -W: that is a
 * failure (1), not -W running out (27). */
static void test_sub_without_suback_before_w_runs_out_exits_1(void **state)
{
    (void)state;
    run_against_silent_broker(MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", silent_port, "-t",
                                         "cli/silence", "-W", "60", "--connack-timeout",
                                         "1000"));
    expect_exit(&run, 1, "midge sub -W 60 --connack-timeout 1000 against a silent broker");
    assert_null(strstr(run.err, "timed out after 60 s"));
    assert_int_equal(count_lines(run.err), 1);
}

static void test_send_timeout_exits_27_when_the_broker_takes_nothing(void **state)
{
    (void)state;
    run_against_silent_broker(MIDGE_ARGV("send", "-h", "127.0.0.1", "-p", silent_port,
                                         "--device-id", "lamp1", "-W", "1", "on"));
    expect_exit(&run, 27, "midge send -W 1 against a silent broker");
    assert_non_null(strstr(run.err, "the broker did not take the command within 1 s"));
    assert_int_equal(count_lines(run.err), 1);
    assert_int_equal(run.out_len, 0);
}

/* --- midge pub, checked by a library subscriber ---------------------------- */

static void pub_arrives_at_qos(const char *qos_arg, uint8_t qos)
{
    char topic[32];
    peer *s;
    snprintf(topic, sizeof topic, "cli/pub/q%u", qos);
    s = subscriber("cli-pub-watch", topic);
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port, "-q", (char *)qos_arg, "-t",
                              topic, "-m", "exact payload"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge pub");
    assert_int_equal(peer_wait_count(s, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(s, 300), MIDGE_OK);
    assert_int_equal(s->count, 1);
    assert_string_equal(s->got[0].topic, topic);
    assert_int_equal(s->got[0].len, 13);
    assert_memory_equal(s->got[0].payload, "exact payload", 13);
    assert_int_equal(s->got[0].qos, qos);
    assert_false(s->got[0].retain);
    peer_free(s);
}

static void test_pub_message_arrives_once_at_qos0(void **state)
{
    (void)state;
    pub_arrives_at_qos("0", 0);
}

static void test_pub_message_arrives_once_at_qos1(void **state)
{
    (void)state;
    pub_arrives_at_qos("1", 1);
}

static void test_pub_message_arrives_once_at_qos2(void **state)
{
    (void)state;
    pub_arrives_at_qos("2", 2);
}

static void test_pub_lines_sends_one_message_per_stdin_line(void **state)
{
    static const char *const lines[] = {"first line", "second", "third and last"};
    peer *s;
    (void)state;
    s = subscriber("cli-lines-watch", "cli/lines");
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", "cli/lines",
                              "-l"),
             "first line\nsecond\nthird and last\n", RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge pub -l");
    assert_int_equal(peer_wait_count(s, 3, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(peer_idle(s, 300), MIDGE_OK);
    assert_int_equal(s->count, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s->got[i].len, strlen(lines[i]));
        assert_memory_equal(s->got[i].payload, lines[i], strlen(lines[i]));
        assert_int_equal(s->got[i].qos, 1);
    }
    peer_free(s);
}

static void test_pub_retain_flag_keeps_message_for_later_subscriber(void **state)
{
    peer *s;
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-r", "-t",
                              "cli/retained", "-m", "still here"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge pub -r");
    s = subscriber("cli-retain-watch", "cli/retained");
    assert_int_equal(peer_wait_count(s, 1, DELIVERY_TIMEOUT_MS), MIDGE_OK);
    assert_int_equal(s->count, 1);
    assert_true(s->got[0].retain);
    assert_memory_equal(s->got[0].payload, "still here", 10);
    peer_free(s);
}

/* --- against mosquitto's own tools ----------------------------------------- */

static void test_sub_receives_message_from_mosquitto_pub(void **state)
{
    int rounds = 0;
    (void)state;
    assert_int_equal(proc_start(&sub_proc,
                                MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-C", "1", "-v",
                                           "-t", "cli/interop/#"),
                                NULL),
                     0);
    proc_pump(&sub_proc, 200);
    while (!sub_proc.exited && rounds++ < 30) {
        proc_run(&run,
                 (char *[]){MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                            "cli/interop/a", "-m", "from mosquitto_pub", NULL},
                 NULL, RUN_TIMEOUT_MS);
        expect_exit(&run, 0, "mosquitto_pub");
        proc_pump(&sub_proc, 500);
    }
    proc_wait(&sub_proc, 5000);
    expect_exit(&sub_proc, 0, "midge sub");
    assert_string_equal(sub_proc.out, "cli/interop/a from mosquitto_pub\n");
}

/* A message over --max-packet-size ends sub with one line naming its size
 * and the limit; nothing of it is printed. 2000 bytes on cli/big: 2 + 7
 * bytes of topic and a 3-byte fixed header make a 2012-byte packet. */
static void test_sub_refuses_a_message_over_max_packet_size_in_one_line(void **state)
{
    static char big[2001];
    int rounds = 0;
    (void)state;
    memset(big, 'b', sizeof big - 1);
    assert_int_equal(proc_start(&sub_proc,
                                MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-t", "cli/big",
                                           "--max-packet-size", "1024"),
                                NULL),
                     0);
    proc_pump(&sub_proc, 200);
    /* Until it is subscribed, a QoS 0 message goes nowhere: send again. */
    while (!sub_proc.exited && rounds++ < 30) {
        proc_run(&run,
                 (char *[]){MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", port, "-t", "cli/big", "-m",
                            big, NULL},
                 NULL, RUN_TIMEOUT_MS);
        expect_exit(&run, 0, "mosquitto_pub");
        proc_pump(&sub_proc, 500);
    }
    proc_wait(&sub_proc, 5000);
    expect_one_line_failure(&sub_proc, "midge sub --max-packet-size 1024");
    assert_string_equal(sub_proc.err, "midge sub: connection lost: incoming packet of 2012 bytes "
                                      "is larger than --max-packet-size 1024\n");
    assert_int_equal(sub_proc.out_len, 0);

    /* Below every acknowledgement's size: refused before connecting. */
    proc_run(&run, MIDGE_ARGV("sub", "-p", port, "-t", "t", "--max-packet-size", "63"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge sub --max-packet-size 63");
}

static void test_mosquitto_sub_receives_message_from_pub(void **state)
{
    int rounds = 0;
    (void)state;
    assert_int_equal(proc_start(&sub_proc,
                                (char *[]){MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", port, "-C", "1",
                                           "-v", "-t", "cli/interop2", NULL},
                                NULL),
                     0);
    proc_pump(&sub_proc, 200);
    while (!sub_proc.exited && rounds++ < 30) {
        proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port, "-q", "2", "-t",
                                  "cli/interop2", "-m", "from midge"),
                 NULL, RUN_TIMEOUT_MS);
        expect_exit(&run, 0, "midge pub");
        proc_pump(&sub_proc, 500);
    }
    proc_wait(&sub_proc, 5000);
    expect_exit(&sub_proc, 0, "mosquitto_sub");
    assert_string_equal(sub_proc.out, "cli/interop2 from midge\n");
}

/* --- refused connections and credentials ---------------------------------- */

static void test_pub_refused_by_broker_exits_nonzero_with_one_line(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", auth_port, "-t", "t", "-m", "m"),
             NULL, RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge pub, anonymous, refused");
}

static void test_sub_refused_by_broker_exits_nonzero_with_one_line(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", auth_port, "-t", "t"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_failure(&run, "midge sub, anonymous, refused");
}

static void test_pub_with_credentials_is_accepted(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", auth_port, "-u", AUTH_USER, "-P",
                              AUTH_PASSWORD, "-t", "t", "-m", "m"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge pub -u -P");
}

static void test_debug_output_never_shows_the_password(void **state)
{
    (void)state;
    /* Accepted login. */
    proc_run(&run, MIDGE_ARGV("pub", "-d", "-h", "127.0.0.1", "-p", auth_port, "-u", AUTH_USER,
                              "-P", AUTH_PASSWORD, "-t", "t", "-m", "m"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 0, "midge pub -d -u -P");
    assert_true(run.out_len + run.err_len > 0); /* -d did print something */
    assert_null(strstr(run.out, AUTH_PASSWORD));
    assert_null(strstr(run.err, AUTH_PASSWORD));

    /* Refused login: the wrong password is not echoed either. */
    proc_run(&run, MIDGE_ARGV("pub", "-d", "-h", "127.0.0.1", "-p", auth_port, "-u", AUTH_USER,
                              "-P", SECRET_WRONG_PASSWORD, "-t", "t", "-m", "m"),
             NULL, RUN_TIMEOUT_MS);
    assert_true(proc_exit_code(&run) > 0);
    assert_null(strstr(run.out, SECRET_WRONG_PASSWORD));
    assert_null(strstr(run.err, SECRET_WRONG_PASSWORD));

    /* Same for the subscriber. */
    proc_run(&run, MIDGE_ARGV("sub", "-d", "-h", "127.0.0.1", "-p", auth_port, "-u", AUTH_USER,
                              "-P", AUTH_PASSWORD, "-t", "t", "-W", "1"),
             NULL, RUN_TIMEOUT_MS);
    expect_exit(&run, 27, "midge sub -d -u -P -W 1");
    assert_null(strstr(run.out, AUTH_PASSWORD));
    assert_null(strstr(run.err, AUTH_PASSWORD));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_help_exits_0_printing_usage_to_stdout, cli_teardown),
        cmocka_unit_test_teardown(test_version_exits_0_printing_the_version_to_stdout, cli_teardown),
        cmocka_unit_test_teardown(test_pub_help_exits_0_printing_usage_to_stdout, cli_teardown),
        cmocka_unit_test_teardown(test_sub_help_exits_0_printing_usage_to_stdout, cli_teardown),
        cmocka_unit_test_teardown(test_unknown_flag_exits_nonzero_with_one_line_on_stderr, cli_teardown),
        cmocka_unit_test_teardown(test_unknown_subcommand_exits_nonzero_with_one_line_on_stderr, cli_teardown),
        cmocka_unit_test_teardown(test_pub_without_topic_exits_nonzero_with_one_line_on_stderr, cli_teardown),
        cmocka_unit_test_teardown(test_sub_without_topic_exits_nonzero_with_one_line_on_stderr, cli_teardown),
        cmocka_unit_test_teardown(test_pub_to_port_without_broker_exits_nonzero_with_one_line, cli_teardown),
        cmocka_unit_test_teardown(test_sub_prints_topic_and_payload_of_pub_at_qos0, cli_teardown),
        cmocka_unit_test_teardown(test_sub_prints_topic_and_payload_of_pub_at_qos1, cli_teardown),
        cmocka_unit_test_teardown(test_sub_prints_topic_and_payload_of_pub_at_qos2, cli_teardown),
        cmocka_unit_test_teardown(test_sub_timeout_exits_27_when_nothing_arrives, cli_teardown),
        cmocka_unit_test_teardown(test_sub_timeout_exits_27_when_the_suback_never_comes,
                                  cli_teardown),
        cmocka_unit_test_teardown(test_send_timeout_exits_27_when_the_broker_takes_nothing,
                                  cli_teardown),
        cmocka_unit_test_teardown(test_sub_without_suback_before_w_runs_out_exits_1,
                                  cli_teardown),
        cmocka_unit_test_teardown(test_pub_message_arrives_once_at_qos0, cli_teardown),
        cmocka_unit_test_teardown(test_pub_message_arrives_once_at_qos1, cli_teardown),
        cmocka_unit_test_teardown(test_pub_message_arrives_once_at_qos2, cli_teardown),
        cmocka_unit_test_teardown(test_pub_lines_sends_one_message_per_stdin_line, cli_teardown),
        cmocka_unit_test_teardown(test_pub_retain_flag_keeps_message_for_later_subscriber, cli_teardown),
        cmocka_unit_test_teardown(test_sub_receives_message_from_mosquitto_pub, cli_teardown),
        cmocka_unit_test_teardown(test_sub_refuses_a_message_over_max_packet_size_in_one_line, cli_teardown),
        cmocka_unit_test_teardown(test_mosquitto_sub_receives_message_from_pub, cli_teardown),
        cmocka_unit_test_teardown(test_pub_refused_by_broker_exits_nonzero_with_one_line, cli_teardown),
        cmocka_unit_test_teardown(test_sub_refused_by_broker_exits_nonzero_with_one_line, cli_teardown),
        cmocka_unit_test_teardown(test_pub_with_credentials_is_accepted, cli_teardown),
        cmocka_unit_test_teardown(test_debug_output_never_shows_the_password, cli_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, start_brokers, stop_brokers);
}
