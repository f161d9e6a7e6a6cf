/*
 * The `midge` executable at its edges: each bad topic named by its own
 * cause with a bounded, escaped echo; bytes from a broker escaped in the
 * -d trace but printed raw as `midge sub`'s output; a token that has
 * expired refused; the device's --help true to the device; a plain
 * connection to a TLS server told to try --tls. Servers here are a fake
 * OneNET (a broker free to send any topic) and raw loopback sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fake_onenet.h"
#include "proc.h"
#include "secrets.h"

#define RUN_TIMEOUT_MS 10000
#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

static proc run;

/* Exit 1 with one line on stderr that contains `needle`. */
static void expect_one_line_error(const proc *p, const char *needle, const char *what)
{
    if (proc_exit_code(p) != 1 || count_lines(p->err) != 1 || strstr(p->err, needle) == NULL)
        proc_dump(p, what);
    assert_int_equal(proc_exit_code(p), 1);
    assert_int_equal(count_lines(p->err), 1);
    assert_non_null(strstr(p->err, needle));
}

/* --- topics ------------------------------------------------------------------ */

/* Each way a topic can be wrong has its own message. None connects: the
 * port is never reached. */
static void test_each_bad_topic_is_named_by_its_cause(void **state)
{
    (void)state;
    proc_run(&run, MIDGE_ARGV("pub", "-p", "1", "-t", "", "-m", "m"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "invalid topic -t '': empty", "pub -t ''");
    proc_run(&run, MIDGE_ARGV("pub", "-p", "1", "-t", "a/\xff\xfe", "-m", "m"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "invalid topic -t 'a/\\xff\\xfe': not valid UTF-8", "bad UTF-8");
    proc_run(&run, MIDGE_ARGV("pub", "-p", "1", "-t", "a/+/c", "-m", "m"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "a topic to publish to cannot hold them", "pub -t a/+/c");
    proc_run(&run, MIDGE_ARGV("sub", "-p", "1", "-t", "a/b#"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "invalid topic filter -t 'a/b#': a wildcard must fill a whole level",
                          "sub -t a/b#");
    proc_run(&run, MIDGE_ARGV("sub", "-p", "1", "-t", "a/#", "--will-topic", "w/#"), NULL,
             RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "invalid --will-topic 'w/#': '+' and '#' are wildcards",
                          "sub --will-topic w/#");
}

/* A topic over 65535 bytes is called too long, and the line echoes only
 * its start: 64 bytes and "...", not 70 KB. */
static void test_an_overlong_topic_is_called_too_long_in_a_short_line(void **state)
{
    static char topic[70001];
    (void)state;
    memset(topic, 'a', sizeof topic - 1);
    topic[0] = '\x1b';
    proc_run(&run, MIDGE_ARGV("pub", "-p", "1", "-t", topic, "-m", "m"), NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, ": 70000 bytes long (at most 65535)", "a 70000-byte topic");
    assert_true(run.err_len < 256);
    assert_non_null(strstr(run.err, "-t '\\x1baaaa"));
    assert_non_null(strstr(run.err, "aaa...': "));
    assert_null(strchr(run.err, '\x1b'));
}

/* --- bytes from a broker ----------------------------------------------------- */

#define DEVICE_ID "9377500"
#define PRODUCT_ID "91025"
#define APIKEY SECRET_ONENET_API_KEY

/* A broker may send any topic and payload. `midge sub -v` prints them as
 * they came (its output is data, as mosquitto_sub's is); its -d trace on
 * stderr shows them escaped, on one line. */
static void test_sub_prints_broker_bytes_raw_and_traces_them_escaped(void **state)
{
    static const char topic[] = "$creq/x\x1b[2J\nFORGED line";
    static const char payload[] = "p\x1b]0;title\x07\nFORGED payload";
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_LEGACY, .product_id = PRODUCT_ID, .device_id = DEVICE_ID,
        .secret = APIKEY,
    };
    fake_onenet *server = fake_onenet_start(&cfg);
    fake_onenet_event ev;
    size_t cursor = 0;
    char port[8];
    (void)state;

    assert_non_null(server);
    snprintf(port, sizeof port, "%u", (unsigned)fake_onenet_port(server));
    assert_int_equal(proc_start(&run,
                                MIDGE_ARGV("sub", "-h", "127.0.0.1", "-p", port, "-i", DEVICE_ID,
                                           "-u", PRODUCT_ID, "-P", APIKEY, "-k", "120", "-t",
                                           "TurnipRobot", "-v", "-d", "-C", "1", "-W", "8"),
                                NULL),
                     0);
    bool subscribed = false;
    for (int i = 0; i < 100 && !subscribed; i++) {
        subscribed = fake_onenet_next(server, &cursor, FAKE_ONENET_SUBSCRIBE, NULL, 50, &ev);
        proc_pump(&run, 1);
    }
    assert_true(subscribed);
    assert_true(fake_onenet_push(server, topic, payload, strlen(payload)));
    proc_wait(&run, RUN_TIMEOUT_MS);
    fake_onenet_stop(server);
    if (proc_exit_code(&run) != 0 || strchr(run.err, '\x1b') != NULL)
        proc_dump(&run, "midge sub -v -d");
    assert_int_equal(proc_exit_code(&run), 0);
    /* stdout: the bytes themselves. */
    char want[128];
    snprintf(want, sizeof want, "%s %s\n", topic, payload);
    assert_string_equal(run.out, want);
    /* stderr: nothing raw, nothing forged, the topic escaped. */
    assert_null(strchr(run.err, '\x1b'));
    assert_null(strchr(run.err, '\x07'));
    assert_null(strstr(run.err, "\nFORGED"));
    assert_non_null(strstr(run.err, "received PUBLISH (d0, q0, r0, m0, "
                                    "'$creq/x\\x1b[2J\\x0aFORGED line', ... (26 bytes))\n"));
}

/* --- token ------------------------------------------------------------------- */

/* A token that expired before it was made would only be refused. */
static void test_token_refuses_an_expiry_in_the_past(void **state)
{
    (void)state;
    proc_run(&run,
             MIDGE_ARGV("token", "--product-id", "238322", "--device-id", "d", "--device-key",
                        SECRET_ONENET_DEVICE_KEY, "--expires", "100"),
             NULL, RUN_TIMEOUT_MS);
    expect_one_line_error(&run, "--expires 100 is in the past", "token --expires 100");
    assert_int_equal(run.out_len, 0);
    proc_run(&run,
             MIDGE_ARGV("token", "--product-id", "238322", "--device-id", "d", "--device-key",
                        SECRET_ONENET_DEVICE_KEY, "--expires", "7557387130"),
             NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    assert_non_null(strstr(run.out, "et=7557387130"));
}

/* --- help -------------------------------------------------------------------- */

/* The line of --help for `flag` (e.g. "-c, "), "" when there is none. */
static const char *help_line(const char *help, const char *flag, char *buf, size_t cap)
{
    const char *at = strstr(help, flag);
    buf[0] = '\0';
    if (at != NULL)
        snprintf(buf, cap, "%.*s", (int)strcspn(at, "\n"), at);
    return buf;
}

/* A device's client id is its device id, and -c needs no -i there: its
 * --help says so, while pub's keeps mosquitto's meaning. */
static void test_device_help_tells_the_device_meaning_of_i_c_and_p(void **state)
{
    char line[256];
    (void)state;
    proc_run(&run, MIDGE_ARGV("device", "--help"), NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    assert_null(strstr(help_line(run.out, "-c, ", line, sizeof line), "needs -i"));
    assert_non_null(strstr(line, "the mqtt profile always does"));
    assert_non_null(strstr(help_line(run.out, "-i, ", line, sizeof line), "the device id"));
    assert_non_null(strstr(help_line(run.out, "-P, ", line, sizeof line), "onenet: the API key"));
    proc_run(&run, MIDGE_ARGV("pub", "--help"), NULL, RUN_TIMEOUT_MS);
    assert_int_equal(proc_exit_code(&run), 0);
    assert_non_null(strstr(help_line(run.out, "-c, ", line, sizeof line), "needs -i"));
}

/* --- a TLS server, spoken to in plain MQTT ----------------------------------- */

/* A listening socket on 127.0.0.1:port (0 = any); its port in *bound. */
static int listen_on(uint16_t port, uint16_t *bound)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* Run `midge pub` against the listener; the server takes the CONNECT and
 * answers `reply` (n bytes, none: 0), then closes. */
static void pub_against(int listener, uint16_t port, const void *reply, size_t n)
{
    char port_text[8];
    char buf[256];
    struct pollfd pfd = {.fd = listener, .events = POLLIN};

    snprintf(port_text, sizeof port_text, "%u", (unsigned)port);
    assert_int_equal(proc_start(&run, MIDGE_ARGV("pub", "-h", "127.0.0.1", "-p", port_text,
                                                 "-t", "t", "-m", "m"),
                                NULL),
                     0);
    assert_int_equal(poll(&pfd, 1, RUN_TIMEOUT_MS), 1);
    int conn = accept(listener, NULL, NULL);
    assert_true(conn >= 0);
    struct pollfd cfd = {.fd = conn, .events = POLLIN};
    assert_int_equal(poll(&cfd, 1, RUN_TIMEOUT_MS), 1);
    assert_true(read(conn, buf, sizeof buf) > 0);
    if (n > 0)
        assert_int_equal(write(conn, reply, n), (ssize_t)n);
    close(conn);
    proc_wait(&run, RUN_TIMEOUT_MS);
}

/* A TLS server answers a plain CONNECT with an alert record (0x15 0x03):
 * the error says the server spoke TLS. */
static void test_a_tls_alert_in_answer_suggests_tls(void **state)
{
    static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46};
    uint16_t port = 0;
    (void)state;
    int listener = listen_on(0, &port);
    assert_true(listener >= 0);
    pub_against(listener, port, alert, sizeof alert);
    close(listener);
    expect_one_line_error(&run, "(the server answered in TLS: try --tls)", "TLS alert");
}

/* OpenSSL closes a connection whose first bytes are no ClientHello: on
 * the TLS port, 8883, that close comes with the hint. Skipped when 8883
 * is taken on this machine. */
static void test_a_close_on_port_8883_suggests_tls(void **state)
{
    uint16_t port = 0;
    (void)state;
    int listener = listen_on(8883, &port);
    if (listener < 0)
        skip();
    pub_against(listener, port, NULL, 0);
    close(listener);
    expect_one_line_error(&run, "connection closed by peer (is it a TLS port? try --tls)",
                          "closed on 8883");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_bad_topic_is_named_by_its_cause),
        cmocka_unit_test(test_an_overlong_topic_is_called_too_long_in_a_short_line),
        cmocka_unit_test(test_sub_prints_broker_bytes_raw_and_traces_them_escaped),
        cmocka_unit_test(test_token_refuses_an_expiry_in_the_past),
        cmocka_unit_test(test_device_help_tells_the_device_meaning_of_i_c_and_p),
        cmocka_unit_test(test_a_tls_alert_in_answer_suggests_tls),
        cmocka_unit_test(test_a_close_on_port_8883_suggests_tls),
    };
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
