/*
 * The mosquitto launcher itself (tests/support/broker.c): start, crash,
 * restart on the same port, pause, resume, stop. The broker is checked with
 * a hand-written MQTT 3.1.1 CONNECT so that these tests depend on nothing but
 * the launcher.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "secrets.h"

/* CONNECT: protocol "MQTT" level 4, clean session, keepalive 60, empty client id. */
static const uint8_t connect_packet[] = {0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T',
                                         0x04, 0x02, 0x00, 0x3c, 0x00, 0x00};

/* Returns the CONNACK return code (0..5), -1 when no CONNACK came within
 * timeout_ms, -2 when the connection could not be made. */
static int connack_code(uint16_t port, int timeout_ms)
{
    struct sockaddr_in a;
    struct pollfd p;
    uint8_t ack[4];
    size_t got = 0;
    int rc = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -2;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, connect_packet, sizeof connect_packet, MSG_NOSIGNAL) !=
            (ssize_t)sizeof connect_packet) {
        close(fd);
        return -2;
    }
    p.fd = fd;
    p.events = POLLIN;
    /* At most 4 reads: CONNACK is 4 bytes. */
    for (int i = 0; i < 4 && got < sizeof ack; i++) {
        ssize_t n;
        p.revents = 0;
        if (poll(&p, 1, timeout_ms) != 1)
            break;
        n = recv(fd, ack + got, sizeof ack - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == sizeof ack && ack[0] == 0x20 && ack[1] == 0x02)
        rc = ack[3];
    close(fd);
    return rc;
}

/* Connect, send `out` after a CONNECT, and collect what arrives for up to
 * timeout_ms (or until `cap` bytes). Returns the byte count, -1 on failure. */
static int exchange(uint16_t port, const uint8_t *out, size_t out_len, uint8_t *in, size_t cap,
                    int timeout_ms)
{
    struct sockaddr_in a;
    struct pollfd p;
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, connect_packet, sizeof connect_packet, MSG_NOSIGNAL) !=
            (ssize_t)sizeof connect_packet ||
        send(fd, out, out_len, MSG_NOSIGNAL) != (ssize_t)out_len) {
        close(fd);
        return -1;
    }
    p.fd = fd;
    p.events = POLLIN;
    /* Bounded: at most 32 reads, each waiting at most timeout_ms. */
    for (int i = 0; i < 32 && got < cap; i++) {
        ssize_t n;
        p.revents = 0;
        if (poll(&p, 1, timeout_ms) != 1)
            break;
        n = recv(fd, in + got, cap - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (int)got;
}

static void test_started_broker_answers_connect_on_its_port(void **state)
{
    test_broker b;
    (void)state;
    assert_int_equal(test_broker_start(&b, NULL), 0);
    assert_true(b.port != 0);
    assert_true(test_broker_running(&b));
    assert_true(test_broker_port_accepts(b.port, 1000));
    assert_int_equal(connack_code(b.port, 5000), 0);
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_stop_frees_the_port_and_removes_the_directory(void **state)
{
    test_broker b;
    char dir[TEST_BROKER_PATH_MAX];
    struct stat st;
    (void)state;
    assert_int_equal(test_broker_start(&b, NULL), 0);
    strcpy(dir, b.dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(test_broker_stop(&b), 0);
    assert_false(test_broker_running(&b));
    assert_false(test_broker_port_accepts(b.port, 500));
    assert_int_not_equal(stat(dir, &st), 0);
    /* A second stop is harmless. */
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_killed_broker_restarts_on_the_same_port(void **state)
{
    test_broker b;
    uint16_t port;
    (void)state;
    assert_int_equal(test_broker_start(&b, NULL), 0);
    port = b.port;
    assert_int_equal(test_broker_kill(&b), 0);
    assert_false(test_broker_running(&b));
    assert_false(test_broker_port_accepts(port, 500));
    assert_int_equal(test_broker_restart(&b), 0);
    assert_int_equal(b.port, port);
    assert_int_equal(connack_code(port, 5000), 0);
    /* Restart of a running broker: SIGTERM first, same port again. */
    assert_int_equal(test_broker_restart(&b), 0);
    assert_int_equal(b.port, port);
    assert_int_equal(connack_code(port, 5000), 0);
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_paused_broker_answers_only_after_resume(void **state)
{
    test_broker b;
    (void)state;
    assert_int_equal(test_broker_start(&b, NULL), 0);
    assert_int_equal(test_broker_pause(&b), 0);
    /* The kernel still completes the handshake; mosquitto cannot answer. */
    assert_int_equal(connack_code(b.port, 500), -1);
    assert_int_equal(test_broker_resume(&b), 0);
    assert_int_equal(connack_code(b.port, 5000), 0);
    /* Stopping a paused broker works too. */
    assert_int_equal(test_broker_pause(&b), 0);
    assert_int_equal(test_broker_stop(&b), 0);
    assert_false(test_broker_port_accepts(b.port, 500));
}

static void test_broker_with_password_refuses_anonymous_connect(void **state)
{
    test_broker_opts opts = {.extra_conf = NULL, .user = "alice", .password = SECRET_LIBRARY_PASSWORD};
    test_broker b;
    (void)state;
    assert_int_equal(test_broker_start(&b, &opts), 0);
    /* 5 = not authorized (MQTT 3.1.1 section 3.2.2.3). */
    assert_int_equal(connack_code(b.port, 5000), 5);
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_extra_config_lines_reach_the_broker(void **state)
{
    /* A second listener proves the extra lines were read. */
    char extra[64];
    uint16_t second = test_broker_free_port();
    test_broker_opts opts = {.extra_conf = extra, .user = NULL, .password = NULL};
    test_broker b;
    (void)state;
    assert_true(second != 0);
    snprintf(extra, sizeof extra, "listener %u 127.0.0.1\n", (unsigned)second);
    assert_int_equal(test_broker_start(&b, &opts), 0);
    assert_int_equal(connack_code(second, 5000), 0);
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_two_brokers_run_side_by_side_on_different_ports(void **state)
{
    test_broker a, b;
    (void)state;
    assert_int_equal(test_broker_start(&a, NULL), 0);
    assert_int_equal(test_broker_start(&b, NULL), 0);
    assert_int_not_equal(a.port, b.port);
    assert_int_equal(connack_code(a.port, 5000), 0);
    assert_int_equal(connack_code(b.port, 5000), 0);
    assert_int_equal(test_broker_stop(&a), 0);
    assert_int_equal(connack_code(b.port, 5000), 0);
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_persistent_broker_keeps_retained_message_across_restart(void **state)
{
    /* PUBLISH retain, QoS 0, topic "p/r", payload "x"; then DISCONNECT. */
    static const uint8_t publish[] = {0x31, 0x06, 0x00, 0x03, 'p', '/', 'r', 'x', 0xe0, 0x00};
    /* SUBSCRIBE id 1, "p/r" at QoS 0. */
    static const uint8_t subscribe[] = {0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'p', '/', 'r', 0x00};
    /* CONNACK, SUBACK, then the retained PUBLISH with its retain bit. */
    static const uint8_t expected[] = {0x20, 0x02, 0x00, 0x00, 0x90, 0x03, 0x00, 0x01, 0x00,
                                       0x31, 0x06, 0x00, 0x03, 'p',  '/',  'r',  'x'};
    test_broker_opts opts = {.extra_conf = "persistence true\n", .user = NULL, .password = NULL};
    test_broker b;
    uint8_t in[64];
    int n;
    (void)state;
    assert_int_equal(test_broker_start(&b, &opts), 0);
    n = exchange(b.port, publish, sizeof publish, in, sizeof in, 2000);
    assert_int_equal(n, 4); /* only the CONNACK */
    /* SIGTERM makes mosquitto write its database into the broker directory. */
    assert_int_equal(test_broker_restart(&b), 0);
    n = exchange(b.port, subscribe, sizeof subscribe, in, sizeof expected, 5000);
    if (n != (int)sizeof expected)
        test_broker_print_log(&b, stderr);
    assert_int_equal(n, (int)sizeof expected);
    assert_memory_equal(in, expected, sizeof expected);
    assert_int_equal(test_broker_stop(&b), 0);
}

static void test_broker_dies_with_the_process_that_started_it(void **state)
{
    int fds[2];
    pid_t child;
    test_broker b;
    int st = 0;
    bool gone = false;
    (void)state;
    assert_int_equal(pipe(fds), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* Start a broker and vanish without stopping it, as a crash would. */
        close(fds[0]);
        if (test_broker_start(&b, NULL) != 0)
            _exit(1);
        if (write(fds[1], &b, sizeof b) != (ssize_t)sizeof b)
            _exit(2);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &b, sizeof b), (ssize_t)sizeof b);
    close(fds[0]);
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(b.pid > 0);
    /* The kernel sends SIGKILL to the orphan; it is reaped by init. */
    for (int i = 0; i < 100 && !gone; i++) { /* at most ~5 s */
        if (kill(b.pid, 0) != 0 && errno == ESRCH)
            gone = true;
        else
            usleep(50000);
    }
    if (!gone)
        kill(b.pid, SIGKILL);
    /* Not our child: only the directory is left to clean up. */
    b.pid = 0;
    test_broker_stop(&b);
    assert_true(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_started_broker_answers_connect_on_its_port),
        cmocka_unit_test(test_stop_frees_the_port_and_removes_the_directory),
        cmocka_unit_test(test_killed_broker_restarts_on_the_same_port),
        cmocka_unit_test(test_paused_broker_answers_only_after_resume),
        cmocka_unit_test(test_broker_with_password_refuses_anonymous_connect),
        cmocka_unit_test(test_extra_config_lines_reach_the_broker),
        cmocka_unit_test(test_two_brokers_run_side_by_side_on_different_ports),
        cmocka_unit_test(test_persistent_broker_keeps_retained_message_across_restart),
        cmocka_unit_test(test_broker_dies_with_the_process_that_started_it),
    };
    signal(SIGPIPE, SIG_IGN);
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
