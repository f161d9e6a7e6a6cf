/*
 * Broker lists in the `midge` tool, against real mosquittos on loopback:
 * pub through a list whose first broker is down, or silent (it takes the
 * TCP connection and never answers CONNACK), the one line and the exit
 * status when no broker of the list answers, and `midge device` moving to
 * the next broker of its list at once when its broker dies, and staying
 * there when the first one is back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "midge/midge.h"
#include "proc.h"
#include "secrets.h"

#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})
#define CALL_TIMEOUT_MS 20000
/* The device's backoff: a wait of at least half of it (its jitter) would
 * show; failing over must not wait at all. */
#define DEVICE_BACKOFF_MS "10000"
#define FAILOVER_LIMIT_MS 3000

static test_broker a, b;

/* A port where nothing listens: bound, then closed. */
static uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listener that never accepts: the kernel completes the handshake, and
 * no CONNACK ever comes. Returns the socket (*port its port). */
static int silent_listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int brokers_up(void **state)
{
    (void)state;
    return test_broker_start(&a, NULL) == 0 && test_broker_start(&b, NULL) == 0 ? 0 : -1;
}

static int brokers_down(void **state)
{
    (void)state;
    test_broker_stop(&a);
    test_broker_stop(&b);
    return 0;
}

static void pub_to(proc *p, const char *list, const char *extra)
{
    proc_run(p, MIDGE_ARGV("pub", "-h", (char *)list, "-t", "failover/t", "-m", "x", "-q", "1",
                           "--connack-timeout", (char *)extra),
             NULL, CALL_TIMEOUT_MS);
}

static void test_pub_moves_past_a_dead_and_a_silent_broker(void **state)
{
    static proc p;
    char list[96];
    uint16_t silent;
    int fd = silent_listener(&silent);
    (void)state;

    snprintf(list, sizeof list, "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u", (unsigned)dead_port(),
             (unsigned)silent, (unsigned)a.port);
    long long start = proc_now_ms();
    pub_to(&p, list, "1000");
    long long took = proc_now_ms() - start;
    close(fd);
    if (proc_exit_code(&p) != 0)
        proc_dump(&p, "pub through the list");
    assert_int_equal(proc_exit_code(&p), 0);
    assert_int_equal(p.err_len, 0);
    /* The silent one cost its CONNACK timeout, no more. */
    assert_in_range(took, 1000, 1000 + 5000);
}

static void test_no_broker_answering_is_one_line_naming_each(void **state)
{
    static proc p;
    char list[64], want[160];
    uint16_t d1 = dead_port(), d2 = dead_port();
    (void)state;

    snprintf(list, sizeof list, "127.0.0.1:%u,127.0.0.1:%u", (unsigned)d1, (unsigned)d2);
    pub_to(&p, list, "1000");
    assert_int_equal(proc_exit_code(&p), 1);
    snprintf(want, sizeof want,
             "midge pub: no broker of 2 answered: 127.0.0.1:%u: could not connect to the "
             "server; 127.0.0.1:%u: could not connect to the server\n",
             (unsigned)d1, (unsigned)d2);
    assert_string_equal(p.err, want);
}

/* A refusal got further than a dead port: its CONNACK code is the status. */
static void test_refusal_in_the_list_sets_the_exit_status(void **state)
{
    static proc p;
    static test_broker locked;
    test_broker_opts opts = { .user = "alice", .password = SECRET_LIBRARY_PASSWORD };
    char list[64];
    (void)state;

    assert_int_equal(test_broker_start(&locked, &opts), 0);
    snprintf(list, sizeof list, "127.0.0.1:%u,127.0.0.1:%u", (unsigned)locked.port,
             (unsigned)dead_port());
    pub_to(&p, list, "1000");
    test_broker_stop(&locked);
    assert_int_equal(proc_exit_code(&p), 5);
    assert_non_null(strstr(p.err, "not authorized"));
    assert_int_equal(count_lines(p.err), 1);
}

static void test_bad_list_is_refused_before_connecting(void **state)
{
    static proc p;
    (void)state;

    pub_to(&p, "127.0.0.1,,127.0.0.2", "1000");
    assert_int_equal(proc_exit_code(&p), 1);
    assert_string_equal(p.err, "midge pub: -h: invalid broker '' (host, host:port or [v6]:port, "
                               "comma-separated)\n");
}

/* How many times the device logged "connected to NAME". */
static int connected_to(proc *d, const test_broker *br)
{
    char want[64];
    int n = 0;
    snprintf(want, sizeof want, "connected to 127.0.0.1:%u (", (unsigned)br->port);
    for (const char *at = d->err; (at = strstr(at, want)) != NULL; at++)
        n++;
    return n;
}

static bool wait_connected(proc *d, const test_broker *br, int count, int timeout_ms)
{
    long long deadline = proc_now_ms() + timeout_ms;
    while (connected_to(d, br) < count && proc_now_ms() < deadline)
        proc_pump(d, 50);
    return connected_to(d, br) >= count;
}

static void test_device_fails_over_at_once_and_does_not_fail_back(void **state)
{
    static proc d;
    char list[64];
    (void)state;

    snprintf(list, sizeof list, "127.0.0.1:%u,127.0.0.1:%u", (unsigned)a.port,
             (unsigned)b.port);
    assert_int_equal(proc_start(&d, MIDGE_ARGV("device", "--device-id", "fo1", "-h", list,
                                               "--backoff-min", DEVICE_BACKOFF_MS,
                                               "--backoff-max", DEVICE_BACKOFF_MS, "-k", "5"),
                                NULL),
                     0);
    assert_true(wait_connected(&d, &a, 1, CALL_TIMEOUT_MS));

    /* a dies: b at once, not after the backoff. */
    long long killed = proc_now_ms();
    assert_int_equal(test_broker_kill(&a), 0);
    bool moved = wait_connected(&d, &b, 1, FAILOVER_LIMIT_MS);
    if (!moved)
        proc_dump(&d, "device after its broker died");
    assert_true(moved);
    printf("failover: on the next broker %lld ms after the kill\n", proc_now_ms() - killed);

    /* a is back: the device stays on b. */
    assert_int_equal(test_broker_restart(&a), 0);
    proc_pump(&d, 1500);
    assert_int_equal(connected_to(&d, &a), 1);
    assert_int_equal(connected_to(&d, &b), 1);
    proc_stop(&d);
}

/* The POSIX opener of one address: the name's first address is there,
 * and says none follows; past the last there is nothing to open. */
static void test_tcp_open_addr_counts_the_addresses_of_a_name(void **state)
{
    midge_tcp tcp;
    midge_transport t;
    bool more = true;
    (void)state;

    assert_int_equal(midge_tcp_open_addr(&tcp, "127.0.0.1", a.port, NULL, 0, 2000, &t, &more),
                     MIDGE_OK);
    assert_false(more);
    t.close(t.ctx);
    more = true;
    assert_int_equal(midge_tcp_open_addr(&tcp, "127.0.0.1", a.port, NULL, 1, 2000, &t, &more),
                     MIDGE_ERR_RESOLVE);
    assert_false(more);
    assert_int_equal(midge_tcp_open_addr(&tcp, "127.0.0.1", dead_port(), NULL, 0, 2000, &t, &more),
                     MIDGE_ERR_CONNECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pub_moves_past_a_dead_and_a_silent_broker),
        cmocka_unit_test(test_no_broker_answering_is_one_line_naming_each),
        cmocka_unit_test(test_refusal_in_the_list_sets_the_exit_status),
        cmocka_unit_test(test_bad_list_is_refused_before_connecting),
        cmocka_unit_test(test_device_fails_over_at_once_and_does_not_fail_back),
        cmocka_unit_test(test_tcp_open_addr_counts_the_addresses_of_a_name),
    };
    return cmocka_run_group_tests(tests, brokers_up, brokers_down);
}
