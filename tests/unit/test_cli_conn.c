/*
 * The CLI's broker connection (src/cli/conn.c) against a scripted fake
 * broker on loopback: a message that arrives with the CONNACK reaches the
 * tool's callback, a message already read ends cli_conn_serve at once, and
 * -W bounds the connect. The CLI is an executable, not a library, so conn.c
 * is compiled into this test, with the two functions it borrows from the
 * rest of the CLI stubbed below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cli/conn.c"
#include "loopback.h"
#include "script_broker.h"

/* --- what conn.c takes from options_table.c and trace.c ---------------------- */

static int error_lines;

/* Counted, not printed: the tests check that a failure says one line. */
void cli_error(const char *prog, const char *fmt, ...)
{
    (void)prog;
    (void)fmt;
    error_lines++;
}

void cli_trace_packet(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    (void)user;
    (void)outgoing;
    (void)packet;
    (void)len;
}

/* --- fixtures ------------------------------------------------------------------ */

#define QUEUED_TOPIC "lamp/answer"

static script_broker broker;
static struct cli_conn conn;
static struct cli_options opts;
static int delivered;

static void on_message(void *user, const midge_publish *msg)
{
    (void)user;
    if (msg->topic_len == strlen(QUEUED_TOPIC) && memcmp(msg->topic, QUEUED_TOPIC, msg->topic_len) == 0)
        delivered++;
}

/* CONNACK, with a queued QoS 1 message behind it in the same write when
 * `user` says so (a persistent session's backlog). */
static size_t script_connack(void *user, unsigned c, const midge_client_packet *pkt, uint8_t *out,
                             size_t cap)
{
    bool queued = *(const bool *)user;
    size_t len = 0;
    (void)c;

    if (pkt->type != MIDGE_CONNECT)
        return 0;
    script_put_connack(out, cap, &len);
    if (queued)
        script_put_publish(out, cap, &len, QUEUED_TOPIC, strlen(QUEUED_TOPIC), "on", 1, 7);
    return len;
}

static const struct cli_conn_sizes sizes = {.tx = 1024, .rx = 4096, .store = 1024};

static void options_for(uint16_t port, unsigned long timeout_s)
{
    memset(&opts, 0, sizeof opts);
    opts.prog = "midge test";
    opts.host = "127.0.0.1";
    opts.port = port;
    opts.client_id = "conn-test";
    opts.keepalive_s = 60;
    opts.clean_session = true;
    opts.timeout_s = timeout_s;
}

static int teardown(void **state)
{
    (void)state;
    if (conn.tx != NULL)
        cli_conn_close(&conn);
    script_broker_stop(&broker);
    delivered = 0;
    error_lines = 0;
    return 0;
}

/* --- tests ----------------------------------------------------------------------- */

static void test_message_in_the_connack_read_reaches_the_callback(void **state)
{
    static bool queued = true;
    (void)state;
    assert_int_equal(script_broker_start(&broker, script_connack, &queued), 0);
    options_for(broker.port, 0);
    assert_int_equal(cli_conn_open(&conn, &opts, &sizes, on_message, NULL), CLI_EXIT_OK);
    /* The PUBLISH came in the CONNACK's write: connect delivered it. */
    assert_int_equal(delivered, 1);
}

static void test_serve_returns_at_once_when_a_read_delivered_a_message(void **state)
{
    static bool queued = false;
    uint8_t publish[64];
    size_t len = 0;
    (void)state;
    assert_int_equal(script_broker_start(&broker, script_connack, &queued), 0);
    options_for(broker.port, 0);
    assert_int_equal(cli_conn_open(&conn, &opts, &sizes, on_message, NULL), CLI_EXIT_OK);
    assert_int_equal(delivered, 0);

    /* The message is in the socket before serve is called: its first
     * read finds it, and nothing else will come for a minute (keepalive). */
    script_put_publish(publish, sizeof publish, &len, QUEUED_TOPIC, strlen(QUEUED_TOPIC), "on", 0,
                       0);
    assert_int_equal(script_broker_push(&broker, publish, len), 0);
    struct pollfd p = {.fd = conn.tcp.fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1);

    int64_t t0 = loopback_now_ms();
    assert_int_equal(cli_conn_serve(&conn, -1, 4000, NULL), MIDGE_OK);
    int64_t spent = loopback_now_ms() - t0;
    assert_int_equal(delivered, 1);
    /* Not the 4 s poll that would follow the read without the check. */
    assert_true(spent < 2000);
}

static void test_connect_gives_up_when_w_runs_out(void **state)
{
    uint16_t port;
    (void)state;
    /* Listening, never accepting, never answering: the kernel completes
     * the handshake, and CONNECT goes unanswered. */
    int listener = loopback_listen(&port);
    assert_true(listener >= 0);
    options_for(port, 1);
    int64_t t0 = loopback_now_ms();
    int rc = cli_conn_open(&conn, &opts, &sizes, on_message, NULL);
    int64_t spent = loopback_now_ms() - t0;
    close(listener);
    assert_int_equal(rc, CLI_EXIT_TIMEOUT);
    assert_int_equal(error_lines, 1);
    /* -W 1 plus a generous margin, far from the 10 s CONNACK time-out. */
    assert_true(spent >= 900 && spent < 2500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_message_in_the_connack_read_reaches_the_callback, teardown),
        cmocka_unit_test_teardown(test_serve_returns_at_once_when_a_read_delivered_a_message,
                                  teardown),
        cmocka_unit_test_teardown(test_connect_gives_up_when_w_runs_out, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
