/*
 * The fault proxy itself, with plain sockets: a test-side server listening
 * on loopback, the proxy in front of it, a test-side client. Each fault
 * (stall, reset, cut after N, byte at a time, chaos, refusal) is checked
 * from both ends of the connection.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "fault_proxy.h"

#define IO_TIMEOUT_MS 5000
/* Long enough to see that nothing arrives, short enough to keep CI fast. */
#define QUIET_MS 300

/* One proxied connection: the client's socket and the server's. */
typedef struct proxied_link {
    fault_proxy *proxy;
    int listen_fd;
    uint16_t server_port;
    int client;
    int server;
} proxied_link;

static proxied_link lk;

/* --- plain socket helpers ----------------------------------------------- */

static int listen_local(uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int connect_local(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Loopback: a blocking connect completes (or fails) at once. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool readable_within(int fd, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    return poll(&pf, 1, ms) > 0;
}

static int accept_within(int lfd, int ms)
{
    if (!readable_within(lfd, ms))
        return -1;
    return accept(lfd, NULL, NULL);
}

static void send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    long long deadline = fault_proxy_now_ms() + IO_TIMEOUT_MS;
    while (len > 0) {
        assert_true(fault_proxy_now_ms() < deadline);
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            (void)poll(&pf, 1, 50);
            continue;
        }
        assert_true(n > 0);
        b += n;
        len -= (size_t)n;
    }
}

/* Receive until `len` bytes came, EOF, an error or timeout_ms. Returns the
 * bytes received; *err gets 0 (all there or timed out), -1 for EOF, or the
 * errno of a failed recv. *reads counts the recv calls that returned data,
 * *max_read the largest of them (both may be NULL). */
static size_t recv_upto(int fd, void *buf, size_t len, int timeout_ms, int *err, size_t *reads,
                        size_t *max_read)
{
    uint8_t *b = buf;
    size_t got = 0;
    long long deadline = fault_proxy_now_ms() + timeout_ms;
    *err = 0;
    while (got < len) {
        long long left = deadline - fault_proxy_now_ms();
        if (left <= 0 || !readable_within(fd, (int)left))
            break;
        ssize_t n = recv(fd, b + got, len - got, MSG_DONTWAIT);
        if (n == 0) {
            *err = -1;
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            *err = errno;
            break;
        }
        got += (size_t)n;
        if (reads)
            (*reads)++;
        if (max_read && (size_t)n > *max_read)
            *max_read = (size_t)n;
    }
    return got;
}

/* What the next recv says: -1 = EOF, an errno, or 0 if nothing within ms. */
static int next_event(int fd, int ms)
{
    uint8_t b[256];
    int err = 0;
    long long deadline = fault_proxy_now_ms() + ms;
    /* Data still in flight is skipped; stop at EOF or an error. */
    while (err == 0 && fault_proxy_now_ms() < deadline) {
        size_t got = recv_upto(fd, b, sizeof b, (int)(deadline - fault_proxy_now_ms()), &err,
                               NULL, NULL);
        if (got == 0 && err == 0)
            break;
    }
    return err;
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 31u + seed);
}

/* --- fixtures ---------------------------------------------------------- */

static int proxy_setup(void **state)
{
    (void)state;
    memset(&lk, 0, sizeof lk);
    lk.client = lk.server = -1;
    lk.listen_fd = listen_local(&lk.server_port);
    if (lk.listen_fd < 0)
        return -1;
    lk.proxy = fault_proxy_start(lk.server_port);
    return lk.proxy != NULL ? 0 : -1;
}

static int proxy_teardown(void **state)
{
    (void)state;
    if (lk.client >= 0)
        close(lk.client);
    if (lk.server >= 0)
        close(lk.server);
    fault_proxy_stop(lk.proxy);
    close(lk.listen_fd);
    memset(&lk, 0, sizeof lk);
    return 0;
}

/* Client -> proxy -> server, both ends kept in lk. The server's end is
 * accepted even if the proxy reset it meanwhile (it waits in the backlog). */
static void open_link_only(void)
{
    lk.client = connect_local(fault_proxy_port(lk.proxy));
    assert_true(lk.client >= 0);
    lk.server = accept_within(lk.listen_fd, IO_TIMEOUT_MS);
    assert_true(lk.server >= 0);
}

/* The same, and the proxy counts it as live. */
static void open_link(void)
{
    open_link_only();
    assert_true(fault_proxy_wait_live(lk.proxy, 1, IO_TIMEOUT_MS));
}

static void close_link(void)
{
    if (lk.client >= 0)
        close(lk.client);
    if (lk.server >= 0)
        close(lk.server);
    lk.client = lk.server = -1;
}

static void expect_bytes(int fd, const uint8_t *want, size_t len)
{
    uint8_t *got = malloc(len);
    int err;
    assert_non_null(got);
    size_t n = recv_upto(fd, got, len, IO_TIMEOUT_MS, &err, NULL, NULL);
    assert_int_equal(n, len);
    assert_memory_equal(got, want, len);
    free(got);
}

/* --- tests --------------------------------------------------------------- */

static void test_pass_forwards_both_ways_in_order_and_passes_fin(void **state)
{
    /* More than the proxy's own buffer, so flow control is exercised. */
    enum { N = 3 * FAULT_PROXY_BUF + 123 };
    uint8_t *up = malloc(N), *down = malloc(N);
    fault_proxy_stats st;
    (void)state;
    assert_non_null(up);
    assert_non_null(down);
    fill_pattern(up, N, 7);
    fill_pattern(down, N, 91);
    open_link();

    send_all(lk.client, up, 1000);
    expect_bytes(lk.server, up, 1000);
    send_all(lk.server, down, 1000);
    expect_bytes(lk.client, down, 1000);
    /* Large transfers, one direction at a time (the test is single-threaded
     * and socket buffers are finite). */
    for (size_t off = 1000; off < N; off += 8192) {
        size_t len = N - off < 8192 ? N - off : 8192;
        send_all(lk.client, up + off, len);
        expect_bytes(lk.server, up + off, len);
        send_all(lk.server, down + off, len);
        expect_bytes(lk.client, down + off, len);
    }

    /* FIN from the client reaches the server; the server's reaches back. */
    assert_int_equal(shutdown(lk.client, SHUT_WR), 0);
    assert_int_equal(next_event(lk.server, IO_TIMEOUT_MS), -1);
    send_all(lk.server, "bye", 3);
    expect_bytes(lk.client, (const uint8_t *)"bye", 3);
    assert_int_equal(shutdown(lk.server, SHUT_WR), 0);
    assert_int_equal(next_event(lk.client, IO_TIMEOUT_MS), -1);
    assert_true(fault_proxy_wait_live(lk.proxy, 0, IO_TIMEOUT_MS));

    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.closed, 1);
    assert_int_equal(st.resets, 0);
    assert_int_equal(st.bytes_up, N);
    assert_int_equal(st.bytes_down, N + 3);
    close_link();
    free(up);
    free(down);
}

static void test_stall_up_holds_client_bytes_until_lifted(void **state)
{
    uint8_t b[16];
    int err;
    (void)state;
    open_link();
    fault_proxy_stall(lk.proxy, FAULT_UP);
    send_all(lk.client, "held back", 9);
    assert_int_equal(recv_upto(lk.server, b, sizeof b, QUIET_MS, &err, NULL, NULL), 0);
    assert_int_equal(err, 0);
    /* The other direction still flows. */
    send_all(lk.server, "down ok", 7);
    expect_bytes(lk.client, (const uint8_t *)"down ok", 7);

    fault_proxy_stall(lk.proxy, FAULT_NONE);
    expect_bytes(lk.server, (const uint8_t *)"held back", 9);
    close_link();
}

static void test_stall_both_holds_everything_then_delivers_in_order(void **state)
{
    uint8_t b[16];
    int err;
    (void)state;
    open_link();
    fault_proxy_stall(lk.proxy, FAULT_BOTH);
    send_all(lk.client, "one", 3);
    send_all(lk.server, "uno", 3);
    send_all(lk.client, "two", 3);
    send_all(lk.server, "dos", 3);
    assert_int_equal(recv_upto(lk.server, b, sizeof b, QUIET_MS, &err, NULL, NULL), 0);
    assert_int_equal(recv_upto(lk.client, b, sizeof b, QUIET_MS, &err, NULL, NULL), 0);

    fault_proxy_stall(lk.proxy, FAULT_NONE);
    expect_bytes(lk.server, (const uint8_t *)"onetwo", 6);
    expect_bytes(lk.client, (const uint8_t *)"unodos", 6);
    close_link();
}

static void test_reset_all_sends_rst_to_both_ends(void **state)
{
    fault_proxy_stats st;
    (void)state;
    open_link();
    send_all(lk.client, "x", 1);
    expect_bytes(lk.server, (const uint8_t *)"x", 1);

    assert_int_equal(fault_proxy_reset_all(lk.proxy), 1);
    assert_int_equal(next_event(lk.client, IO_TIMEOUT_MS), ECONNRESET);
    assert_int_equal(next_event(lk.server, IO_TIMEOUT_MS), ECONNRESET);

    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.live, 0);
    /* Nothing left to reset. */
    assert_int_equal(fault_proxy_reset_all(lk.proxy), 0);
    close_link();
}

static void test_cut_after_n_up_delivers_exactly_n_then_resets(void **state)
{
    uint8_t data[64], got[64];
    fault_proxy_stats st;
    int err;
    (void)state;
    fill_pattern(data, sizeof data, 3);
    fault_proxy_cut_after(lk.proxy, FAULT_UP, 10);
    open_link();
    send_all(lk.client, data, 4);
    expect_bytes(lk.server, data, 4);
    send_all(lk.client, data + 4, 21);

    size_t n = recv_upto(lk.server, got, sizeof got, IO_TIMEOUT_MS, &err, NULL, NULL);
    assert_int_equal(n, 6);
    assert_memory_equal(got, data + 4, 6);
    assert_int_equal(err, ECONNRESET);
    assert_int_equal(next_event(lk.client, IO_TIMEOUT_MS), ECONNRESET);

    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.cuts, 1);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.bytes_up, 10);
    close_link();
}

static void test_cut_after_n_down_delivers_exactly_n_to_the_client(void **state)
{
    uint8_t data[300], got[300];
    int err;
    (void)state;
    fill_pattern(data, sizeof data, 5);
    fault_proxy_cut_after(lk.proxy, FAULT_DOWN, 257);
    open_link();
    send_all(lk.server, data, sizeof data);
    size_t n = recv_upto(lk.client, got, sizeof got, IO_TIMEOUT_MS, &err, NULL, NULL);
    assert_int_equal(n, 257);
    assert_memory_equal(got, data, 257);
    assert_int_equal(err, ECONNRESET);
    close_link();

    /* Turned off, the next connection passes everything. */
    fault_proxy_cut_after(lk.proxy, FAULT_NONE, 0);
    open_link();
    send_all(lk.server, data, sizeof data);
    expect_bytes(lk.client, data, sizeof data);
    close_link();
}

static void test_byte_mode_sends_each_byte_separately(void **state)
{
    enum { N = 60 };
    uint8_t data[N], got[N];
    size_t reads = 0, max_read = 0;
    fault_proxy_stats st;
    int err;
    (void)state;
    fill_pattern(data, N, 11);
    open_link();
    fault_proxy_byte_mode(lk.proxy, FAULT_DOWN, 3);
    send_all(lk.server, data, N);
    assert_int_equal(recv_upto(lk.client, got, N, IO_TIMEOUT_MS, &err, &reads, &max_read), N);
    assert_memory_equal(got, data, N);
    fault_proxy_get_stats(lk.proxy, &st);
    /* The proxy's side is exact; the reader's depends on scheduling, so
     * only most of its reads must be single bytes. */
    assert_int_equal(st.sends_down, N);
    print_message("byte mode: %zu bytes in %zu reads, largest %zu\n", (size_t)N, reads,
                  max_read);
    assert_true(reads >= N / 2);

    /* The client -> server direction is untouched. */
    send_all(lk.client, data, N);
    expect_bytes(lk.server, data, N);
    fault_proxy_get_stats(lk.proxy, &st);
    assert_true(st.sends_up < N);

    fault_proxy_pass(lk.proxy);
    send_all(lk.server, data, N);
    expect_bytes(lk.client, data, N);
    fault_proxy_get_stats(lk.proxy, &st);
    assert_true(st.sends_down < 2 * N);
    close_link();
}

static void test_unreachable_server_resets_the_client(void **state)
{
    fault_proxy *dead;
    fault_proxy_stats st;
    int fd;
    (void)state;
    dead = fault_proxy_start(test_broker_free_port());
    assert_non_null(dead);
    fd = connect_local(fault_proxy_port(dead));
    assert_true(fd >= 0);
    assert_int_equal(next_event(fd, IO_TIMEOUT_MS), ECONNRESET);
    close(fd);
    fault_proxy_get_stats(dead, &st);
    assert_int_equal(st.server_refused, 1);
    assert_int_equal(st.live, 0);
    fault_proxy_stop(dead);
}

static void test_refuse_resets_new_connections_only(void **state)
{
    fault_proxy_stats st;
    int fd;
    (void)state;
    open_link();
    fault_proxy_refuse(lk.proxy, true);
    fd = connect_local(fault_proxy_port(lk.proxy));
    assert_true(fd >= 0);
    assert_int_equal(next_event(fd, IO_TIMEOUT_MS), ECONNRESET);
    close(fd);
    /* The connection made before still works. */
    send_all(lk.client, "still", 5);
    expect_bytes(lk.server, (const uint8_t *)"still", 5);
    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.live, 1);
    close_link();
}

static void test_chaos_resets_connections_repeatedly(void **state)
{
    fault_proxy_stats st;
    int rounds = 0;
    (void)state;
    fault_proxy_chaos(lk.proxy, 20, 40, 12345);
    /* Bounded: each round ends with the RST that chaos sends (well within
     * IO_TIMEOUT_MS). */
    while (rounds < 5) {
        /* No wait for "live": chaos may have struck already. */
        open_link_only();
        assert_int_equal(next_event(lk.client, IO_TIMEOUT_MS), ECONNRESET);
        close_link();
        rounds++;
    }
    fault_proxy_chaos(lk.proxy, 0, 0, 0);
    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.resets, 5);
    assert_int_equal(st.accepted, 5);
}

static void test_recovery_is_time_from_reset_to_first_server_byte(void **state)
{
    fault_proxy_stats st;
    long long times[4];
    (void)state;
    open_link();
    assert_int_equal(fault_proxy_reset_all(lk.proxy), 1);
    close_link();
    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.recoveries, 0);
    assert_true(st.worst_recovery_ms < 0);

    open_link();
    send_all(lk.server, "A", 1);
    expect_bytes(lk.client, (const uint8_t *)"A", 1);
    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.recoveries, 1);
    assert_true(st.worst_recovery_ms >= 0);
    assert_int_equal(st.worst_recovery_ms, st.last_recovery_ms);
    assert_int_equal(fault_proxy_accept_times(lk.proxy, times, 4), 2);
    assert_true(times[0] <= times[1]);

    fault_proxy_clear_stats(lk.proxy);
    fault_proxy_get_stats(lk.proxy, &st);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.live, 1);
    assert_int_equal(fault_proxy_accept_times(lk.proxy, times, 4), 0);
    close_link();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass_forwards_both_ways_in_order_and_passes_fin,
                                        proxy_setup, proxy_teardown),
        cmocka_unit_test_setup_teardown(test_stall_up_holds_client_bytes_until_lifted,
                                        proxy_setup, proxy_teardown),
        cmocka_unit_test_setup_teardown(test_stall_both_holds_everything_then_delivers_in_order,
                                        proxy_setup, proxy_teardown),
        cmocka_unit_test_setup_teardown(test_reset_all_sends_rst_to_both_ends, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_cut_after_n_up_delivers_exactly_n_then_resets,
                                        proxy_setup, proxy_teardown),
        cmocka_unit_test_setup_teardown(test_cut_after_n_down_delivers_exactly_n_to_the_client,
                                        proxy_setup, proxy_teardown),
        cmocka_unit_test_setup_teardown(test_byte_mode_sends_each_byte_separately, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_server_resets_the_client, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_refuse_resets_new_connections_only, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_chaos_resets_connections_repeatedly, proxy_setup,
                                        proxy_teardown),
        cmocka_unit_test_setup_teardown(test_recovery_is_time_from_reset_to_first_server_byte,
                                        proxy_setup, proxy_teardown),
    };
    return cmocka_run_group_tests_name("fault proxy", tests, NULL, NULL);
}
