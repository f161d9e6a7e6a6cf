/*
 * The lwIP transport (include/midge/lwip.h) on the host: lwIP's own core,
 * NO_SYS=1 as on a board, with its loopback interface as the network and a
 * raw-API server in the same process as the peer. The platform is the
 * test's: a millisecond counter that moves one step per idle call, and an
 * idle hook that does what a board's does (poll the interface, run lwIP's
 * timers). So every wait is counted in idle calls, never in real time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "midge/client.h"
#include "midge/lwip.h"

/* Each test listens on a port of its own: lwIP keeps the last test's
 * connections in TIME_WAIT on the one before. */
#define FIRST_PORT 20000
#define CLOSED_PORT 1884
#define SERVER_BUF 16384
/* Idle calls a condition may take before the test gives up on it. */
#define IDLE_MAX 100000u

/* --- the platform ---------------------------------------------------------- */

static uint32_t now_ms;
static uint32_t random_state = 0x2545f491u;

uint32_t sys_now(void) { return now_ms; }

uint32_t lwip_test_random(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 17;
    random_state ^= random_state << 5;
    return random_state;
}

static uint32_t test_clock(void *ctx)
{
    (void)ctx;
    return now_ms;
}

/* A board's idle: frames in (here: the loopback queue), lwIP's timers. */
static void test_idle(void *ctx, uint32_t ms)
{
    (void)ctx;
    (void)ms;
    netif_poll_all();
    sys_check_timeouts();
    now_ms++;
}

static const midge_platform platform = { test_clock, test_idle, NULL };

/* --- the peer: a raw-API server ------------------------------------------- */

typedef struct server {
    struct tcp_pcb *listener;
    struct tcp_pcb *pcb;   /* the accepted connection */
    uint8_t got[SERVER_BUF];
    size_t len;
    bool fin;              /* the client closed its side */
    bool hold;             /* keep received pbufs unread: the window closes */
    struct pbuf *held;
    bool broker;           /* answer a CONNECT with a CONNACK */
    unsigned accepted;
    uint16_t port;
} server;

static server srv;

static void server_take(server *s, struct pbuf *p)
{
    uint16_t n = p->tot_len;
    if (s->len + n <= sizeof s->got)
        pbuf_copy_partial(p, s->got + s->len, n, 0);
    s->len += n;
    if (s->pcb != NULL)
        tcp_recved(s->pcb, n);
    pbuf_free(p);
}

static void server_write(server *s, const void *data, size_t len)
{
    assert_non_null(s->pcb);
    assert_int_equal(tcp_write(s->pcb, data, (u16_t)len, TCP_WRITE_FLAG_COPY), ERR_OK);
    assert_int_equal(tcp_output(s->pcb), ERR_OK);
}

static err_t server_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    server *s = arg;
    (void)err;
    if (p == NULL) {
        s->fin = true;
        tcp_arg(pcb, NULL);
        tcp_recv(pcb, NULL);
        tcp_close(pcb);
        if (s->pcb == pcb)
            s->pcb = NULL;
        return ERR_OK;
    }
    if (s->hold) {
        if (s->held == NULL)
            s->held = p;
        else
            pbuf_cat(s->held, p);
        return ERR_OK;
    }
    bool connect = s->broker && p->tot_len > 0 && ((uint8_t *)p->payload)[0] == 0x10;
    server_take(s, p);
    if (connect) {
        static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
        server_write(s, connack, sizeof connack);
    }
    return ERR_OK;
}

static void server_on_err(void *arg, err_t err)
{
    server *s = arg;
    (void)err;
    if (s != NULL)
        s->pcb = NULL;
}

static err_t server_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
    server *s = arg;
    (void)err;
    s->pcb = pcb;
    s->len = 0;
    s->fin = false;
    s->accepted++;
    tcp_arg(pcb, s);
    tcp_recv(pcb, server_recv);
    tcp_err(pcb, server_on_err);
    return ERR_OK;
}

/* Release what the server held: its window opens again. */
static void server_release(server *s)
{
    s->hold = false;
    if (s->held != NULL) {
        struct pbuf *p = s->held;
        s->held = NULL;
        server_take(s, p);
    }
}

/* Run lwIP until `*flag` (a bool) or `*count` (a size_t) reaches `want`. */
static void idle_until_true(const bool *flag)
{
    for (unsigned i = 0; i < IDLE_MAX && !*flag; i++)
        test_idle(NULL, 1);
    assert_true(*flag);
}

static void idle_until_len(const size_t *count, size_t want)
{
    for (unsigned i = 0; i < IDLE_MAX && *count < want; i++)
        test_idle(NULL, 1);
    assert_int_equal(*count, want);
}

static int setup(void **state)
{
    static bool started;
    static uint16_t next_port = FIRST_PORT;
    (void)state;
    if (!started) {
        lwip_init();
        started = true;
    }
    memset(&srv, 0, sizeof srv);
    srv.port = next_port++;
    struct tcp_pcb *pcb = tcp_new();
    assert_non_null(pcb);
    assert_int_equal(tcp_bind(pcb, IP_ADDR_ANY, srv.port), ERR_OK);
    srv.listener = tcp_listen(pcb);
    assert_non_null(srv.listener);
    tcp_arg(srv.listener, &srv);
    tcp_accept(srv.listener, server_accept);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    server_release(&srv);
    if (srv.pcb != NULL) {
        tcp_arg(srv.pcb, NULL);
        tcp_abort(srv.pcb);
    }
    tcp_close(srv.listener);
    /* Let closing handshakes finish so the next test starts clean. */
    for (unsigned i = 0; i < 200; i++)
        test_idle(NULL, 1);
    return 0;
}

static void open_ok(midge_lwip_tcp *t, midge_transport *tr)
{
    midge_lwip_tcp_init(t, &platform);
    assert_int_equal(midge_lwip_tcp_open(t, "127.0.0.1", srv.port, 5000, tr), MIDGE_OK);
    for (unsigned i = 0; i < IDLE_MAX && srv.pcb == NULL; i++)
        test_idle(NULL, 1);
    assert_non_null(srv.pcb);
}

/* Read exactly `len` bytes through wait and recv. */
static void read_exactly(midge_transport *tr, uint8_t *buf, size_t len)
{
    size_t got = 0;
    for (unsigned i = 0; i < IDLE_MAX && got < len; i++) {
        assert_int_equal(tr->wait(tr->ctx, false, 1000), 1);
        long n = tr->recv(tr->ctx, buf + got, len - got);
        assert_true(n >= 0);
        got += (size_t)n;
    }
    assert_int_equal(got, len);
}

/* --- tests ----------------------------------------------------------------- */

static void test_open_connects_and_moves_bytes_both_ways(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    uint8_t buf[16];
    (void)state;

    open_ok(&t, &tr);
    assert_int_equal(tr.send(tr.ctx, (const uint8_t *)"hello", 5), 5);
    idle_until_len(&srv.len, 5);
    assert_memory_equal(srv.got, "hello", 5);

    /* Nothing to read yet: recv says "not now", never "closed". */
    assert_int_equal(tr.recv(tr.ctx, buf, sizeof buf), 0);
    server_write(&srv, "world", 5);
    read_exactly(&tr, buf, 5);
    assert_memory_equal(buf, "world", 5);
    tr.close(tr.ctx);
}

static void test_peer_close_is_reported_after_its_data(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    uint8_t buf[16];
    (void)state;

    open_ok(&t, &tr);
    server_write(&srv, "bye", 3);
    tcp_arg(srv.pcb, NULL);
    tcp_recv(srv.pcb, NULL);
    assert_int_equal(tcp_close(srv.pcb), ERR_OK);
    srv.pcb = NULL;

    read_exactly(&tr, buf, 3);
    assert_memory_equal(buf, "bye", 3);
    /* The FIN makes wait ready, and recv reports it as an error. */
    assert_true(tr.wait(tr.ctx, false, 1000) != 0);
    assert_int_equal(tr.recv(tr.ctx, buf, sizeof buf), MIDGE_ERR_CLOSED);
    assert_int_equal(tr.recv(tr.ctx, buf, sizeof buf), MIDGE_ERR_CLOSED);
    tr.close(tr.ctx);
}

static void test_peer_reset_ends_the_connection(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    uint8_t buf[16];
    (void)state;

    open_ok(&t, &tr);
    struct tcp_pcb *pcb = srv.pcb;
    srv.pcb = NULL;
    tcp_arg(pcb, NULL);
    tcp_abort(pcb); /* sends a RST */

    int r = 0;
    for (unsigned i = 0; i < 100 && r == 0; i++)
        r = tr.wait(tr.ctx, false, 10);
    assert_int_equal(r, MIDGE_ERR_CLOSED);
    assert_int_equal(tr.recv(tr.ctx, buf, sizeof buf), MIDGE_ERR_CLOSED);
    assert_int_equal(tr.send(tr.ctx, (const uint8_t *)"x", 1), MIDGE_ERR_CLOSED);
    tr.close(tr.ctx);
}

static void test_refused_port_fails_the_open(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    (void)state;

    midge_lwip_tcp_init(&t, &platform);
    assert_int_equal(midge_lwip_tcp_open(&t, "127.0.0.1", CLOSED_PORT, 5000, &tr),
                     MIDGE_ERR_CONNECT);
}

static void test_a_name_without_dns_does_not_resolve(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    (void)state;

    midge_lwip_tcp_init(&t, &platform);
    assert_int_equal(midge_lwip_tcp_open(&t, "broker.example", srv.port, 5000, &tr),
                     MIDGE_ERR_RESOLVE);
}

static void test_wait_times_out_on_the_platform_clock(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    (void)state;

    open_ok(&t, &tr);
    uint32_t start = now_ms;
    assert_int_equal(tr.wait(tr.ctx, false, 200), 0);
    assert_true(now_ms - start >= 200);
    /* Room to send: ready at once. */
    start = now_ms;
    assert_int_equal(tr.wait(tr.ctx, true, 200), 1);
    assert_int_equal(now_ms, start);
    tr.close(tr.ctx);
}

/* A peer that stops reading: send takes what lwIP has room for, then 0
 * ("try later"), and everything arrives in order once the peer reads. */
static void test_send_stops_at_a_full_window_and_resumes(void **state)
{
    static midge_lwip_tcp t;
    static uint8_t data[6000];
    midge_transport tr;
    (void)state;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7u);
    open_ok(&t, &tr);
    srv.hold = true;

    size_t sent = 0;
    bool blocked = false;
    for (unsigned i = 0; i < IDLE_MAX && sent < sizeof data; i++) {
        long n = tr.send(tr.ctx, data + sent, sizeof data - sent);
        assert_true(n >= 0);
        if (n == 0) {
            blocked = true;
            if (tr.wait(tr.ctx, true, 50) == 0)
                server_release(&srv); /* the peer reads at last */
            continue;
        }
        sent += (size_t)n;
    }
    assert_true(blocked);
    assert_int_equal(sent, sizeof data);
    server_release(&srv);
    idle_until_len(&srv.len, sizeof data);
    assert_memory_equal(srv.got, data, sizeof data);
    tr.close(tr.ctx);
}

/* Queue what the server's send buffer takes of data[*queued..len). */
static void server_queue(const uint8_t *data, size_t len, size_t *queued)
{
    size_t room = tcp_sndbuf(srv.pcb);
    size_t n = len - *queued < room ? len - *queued : room;
    if (n > 0 && tcp_write(srv.pcb, data + *queued, (u16_t)n, TCP_WRITE_FLAG_COPY) == ERR_OK) {
        tcp_output(srv.pcb);
        *queued += n;
    }
}

/* The receive window opens only as recv reads: while the client reads
 * nothing, the server gets no further than a window and its own send
 * buffer; once it reads, everything comes through, in order. */
static void test_reading_opens_the_window(void **state)
{
    static midge_lwip_tcp t;
    static uint8_t data[5000], got[5000];
    midge_transport tr;
    (void)state;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13u + 1u);
    open_ok(&t, &tr);
    size_t queued = 0;
    for (unsigned i = 0; i < 2000; i++) {
        server_queue(data, sizeof data, &queued);
        test_idle(NULL, 1);
    }
    assert_true(queued <= TCP_WND + TCP_SND_BUF);

    size_t have = 0;
    for (unsigned i = 0; i < IDLE_MAX && have < sizeof got; i++) {
        server_queue(data, sizeof data, &queued);
        if (tr.wait(tr.ctx, false, 10) != 1)
            continue;
        long n = tr.recv(tr.ctx, got + have, 100); /* a slow reader */
        assert_true(n >= 0);
        have += (size_t)n;
    }
    assert_int_equal(have, sizeof got);
    assert_memory_equal(got, data, sizeof data);
    tr.close(tr.ctx);
}

/* Many connections in a row: close gives back what open took. */
static void test_open_and_close_repeatedly(void **state)
{
    static midge_lwip_tcp t;
    midge_transport tr;
    (void)state;

    for (int i = 0; i < 40; i++) {
        open_ok(&t, &tr);
        assert_int_equal(tr.send(tr.ctx, (const uint8_t *)"x", 1), 1);
        idle_until_len(&srv.len, 1);
        tr.close(tr.ctx);
        idle_until_true(&srv.fin);
    }
    assert_int_equal(srv.accepted, 40);
}

/* The blocking client on the transport: CONNECT, CONNACK, a PUBLISH and
 * DISCONNECT, all through lwIP. */
static void test_client_runs_over_the_transport(void **state)
{
    static midge_lwip_tcp t;
    static midge_client c;
    static uint8_t tx[256], rx[256];
    (void)state;

    srv.broker = true;
    midge_lwip_tcp_init(&t, &platform);
    midge_client_config cfg = {
        .host = "127.0.0.1", .port = srv.port,
        .open = midge_lwip_opener, .opener = &t, .platform = &platform,
        .connect = {.client_id = "lwip", .keepalive_s = 60, .clean_session = true},
    };
    midge_session_buffers bufs = {.tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx};
    assert_int_equal(midge_client_init(&c, &cfg, &bufs), MIDGE_OK);
    assert_int_equal(midge_client_connect(&c, NULL), MIDGE_OK);
    assert_true(midge_client_is_connected(&c));
    size_t connect_len = srv.len;
    assert_int_equal(srv.got[0], 0x10);
    assert_int_equal(midge_client_publish(&c, "a/b", "on", 2, 0, false, NULL), MIDGE_OK);
    idle_until_len(&srv.len, connect_len + 9);
    assert_memory_equal(srv.got + connect_len, "\x30\x07\x00\x03" "a/b" "on", 9);
    assert_int_equal(midge_client_disconnect(&c), MIDGE_OK);
    idle_until_true(&srv.fin);
    assert_int_equal(srv.got[srv.len - 2], 0xe0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_connects_and_moves_bytes_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_close_is_reported_after_its_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_reset_ends_the_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_port_fails_the_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_name_without_dns_does_not_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_times_out_on_the_platform_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_stops_at_a_full_window_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reading_opens_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_and_close_repeatedly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_runs_over_the_transport, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
