/*
 * One byte at a time: a library client talks to a real mosquitto through
 * the fault proxy in byte mode (every byte a separate send with a pause
 * after it, both directions), so every packet the client decodes arrives
 * split at every possible boundary: fixed header, each byte of a
 * multi-byte remaining length, topic length, packet id, payload.
 *
 * The exchange covers every packet type a client receives: CONNACK,
 * SUBACK, UNSUBACK, PUBLISH at QoS 0/1/2, PUBACK, PUBREC, PUBREL, PUBCOMP
 * and PINGRESP; the packet trace counts what was decoded, the message
 * callback checks topics and payloads byte for byte, and a counting
 * transport shows that the client really did read single bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "fault_proxy.h"
#include "midge/midge.h"

#define WAIT_MS 20000
/* Over 127 bytes of remaining length: a two-byte length field, itself
 * split across reads. */
#define PAYLOAD_LEN 200
#define TOPIC_BASE "fault/bytes"

static test_broker broker;
static fault_proxy *proxy;

/* A TCP transport that counts what each recv returned. */
typedef struct counting_tcp {
    midge_tcp tcp;
    midge_transport inner;
    unsigned long reads;
    unsigned long bytes;
    size_t max_read;
} counting_tcp;

typedef struct got_message {
    char topic[64];
    uint8_t payload[PAYLOAD_LEN];
    size_t len;
    uint8_t qos;
} got_message;

/* Everything the client saw. Heap-allocated per test. */
typedef struct bytes_client {
    midge_client client;
    counting_tcp io;
    uint8_t tx[2048];
    uint8_t rx[2048];
    uint8_t store[4096];
    uint16_t qos2_ids[8];
    unsigned long decoded[16]; /* incoming packets by type (byte 0 >> 4) */
    unsigned long pingresp_events;
    int messages;
    got_message got[8];
} bytes_client;

/* Clients of the running test, freed by its teardown even when it fails. */
static bytes_client *clients[2];

static long counting_send(void *ctx, const uint8_t *buf, size_t len)
{
    counting_tcp *k = ctx;
    return k->inner.send(k->inner.ctx, buf, len);
}

static long counting_recv(void *ctx, uint8_t *buf, size_t len)
{
    counting_tcp *k = ctx;
    long n = k->inner.recv(k->inner.ctx, buf, len);
    if (n > 0) {
        k->reads++;
        k->bytes += (unsigned long)n;
        if ((size_t)n > k->max_read)
            k->max_read = (size_t)n;
    }
    return n;
}

static int counting_wait(void *ctx, bool want_send, uint32_t timeout_ms)
{
    counting_tcp *k = ctx;
    return k->inner.wait(k->inner.ctx, want_send, timeout_ms);
}

static void counting_close(void *ctx)
{
    counting_tcp *k = ctx;
    k->inner.close(k->inner.ctx);
}

static midge_status counting_open(void *opener, const char *host, uint16_t port,
                                  uint32_t timeout_ms, midge_transport *t)
{
    counting_tcp *k = opener;
    k->tcp.fd = -1;
    midge_status st = midge_tcp_open(&k->tcp, host, port, timeout_ms, &k->inner);
    if (st != MIDGE_OK)
        return st;
    t->send = counting_send;
    t->recv = counting_recv;
    t->wait = counting_wait;
    t->close = counting_close;
    t->ctx = k;
    return MIDGE_OK;
}

static void on_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    bytes_client *b = user;
    if (!outgoing && len > 0)
        b->decoded[packet[0] >> 4]++;
}

static void on_event(void *user, const midge_event *ev)
{
    bytes_client *b = user;
    if (ev->type == MIDGE_EV_PINGRESP)
        b->pingresp_events++;
}

static void on_message(void *user, const midge_publish *msg)
{
    bytes_client *b = user;
    if (b->messages < (int)(sizeof b->got / sizeof b->got[0])) {
        got_message *m = &b->got[b->messages];
        snprintf(m->topic, sizeof m->topic, "%s", msg->topic);
        m->len = msg->payload_len < PAYLOAD_LEN ? msg->payload_len : PAYLOAD_LEN;
        memcpy(m->payload, msg->payload, m->len);
        m->qos = msg->qos;
    }
    b->messages++;
}

static int setup(void **state)
{
    (void)state;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    proxy = fault_proxy_start(broker.port);
    if (proxy == NULL) {
        test_broker_stop(&broker);
        return -1;
    }
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        if (clients[i] != NULL && midge_client_is_connected(&clients[i]->client))
            midge_client_disconnect(&clients[i]->client);
        free(clients[i]);
        clients[i] = NULL;
    }
    fault_proxy_pass(proxy);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fault_proxy_stop(proxy);
    return test_broker_stop(&broker);
}

static bytes_client *bytes_client_new(const char *id, uint16_t port)
{
    bytes_client *b = calloc(1, sizeof *b);
    for (size_t i = 0; i < 2; i++) {
        if (clients[i] == NULL) {
            clients[i] = b;
            break;
        }
    }
    midge_client_config cfg;
    midge_session_buffers bufs;
    assert_non_null(b);
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.connect.client_id = id;
    cfg.connect.keepalive_s = 60;
    cfg.connect.clean_session = true;
    cfg.connect_timeout_ms = 5000;
    cfg.connack_timeout_ms = WAIT_MS;
    cfg.open = counting_open;
    cfg.opener = &b->io;
    cfg.platform = &midge_posix_platform;
    cfg.trace = on_trace;
    cfg.trace_user = b;
    memset(&bufs, 0, sizeof bufs);
    bufs.tx = b->tx;
    bufs.tx_size = sizeof b->tx;
    bufs.rx = b->rx;
    bufs.rx_size = sizeof b->rx;
    bufs.store = b->store;
    bufs.store_size = sizeof b->store;
    bufs.rx_qos2_ids = b->qos2_ids;
    bufs.rx_qos2_cap = 8;
    assert_int_equal(midge_client_init(&b->client, &cfg, &bufs), MIDGE_OK);
    midge_client_set_callback(&b->client, on_message, b);
    midge_client_set_event_callback(&b->client, on_event, b);
    return b;
}

static void poll_until_messages(bytes_client *b, int n)
{
    long long deadline = fault_proxy_now_ms() + WAIT_MS;
    while (b->messages < n && fault_proxy_now_ms() < deadline) {
        midge_status st = midge_client_poll(&b->client, 100);
        assert_true(st == MIDGE_OK || st == MIDGE_TIMEOUT);
    }
    assert_int_equal(b->messages, n);
}

static void fill_payload(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 13u);
}

static const got_message *find_message(const bytes_client *b, const char *topic)
{
    int n = b->messages < 8 ? b->messages : 8;
    for (int i = 0; i < n; i++) {
        if (strcmp(b->got[i].topic, topic) == 0)
            return &b->got[i];
    }
    return NULL;
}

static void test_every_packet_type_decodes_when_delivered_one_byte_at_a_time(void **state)
{
    static const char *const topics[3] = {TOPIC_BASE "/q0", TOPIC_BASE "/q1", TOPIC_BASE "/q2"};
    uint8_t payload[3][PAYLOAD_LEN];
    fault_proxy_stats ps;
    bytes_client *b;
    bool present = true;
    (void)state;

    fault_proxy_clear_stats(proxy);
    fault_proxy_byte_mode(proxy, FAULT_BOTH, 1);
    b = bytes_client_new("fault-bytes", fault_proxy_port(proxy));

    assert_int_equal(midge_client_connect(&b->client, &present), MIDGE_OK);
    assert_false(present);
    assert_int_equal(midge_client_subscribe(&b->client, TOPIC_BASE "/#", 2), MIDGE_OK);

    /* Our own messages come back at the QoS they were sent with: PUBLISH
     * in at 0, 1 and 2; PUBACK for ours at 1; PUBREC and PUBCOMP for ours
     * at 2; PUBREL for the broker's at 2. */
    for (uint8_t q = 0; q < 3; q++) {
        fill_payload(payload[q], PAYLOAD_LEN, 17u * q + 1u);
        assert_int_equal(midge_client_publish(&b->client, topics[q], payload[q], PAYLOAD_LEN, q,
                                              false, NULL),
                         MIDGE_OK);
    }
    assert_int_equal(midge_client_flush(&b->client, WAIT_MS), MIDGE_OK);
    poll_until_messages(b, 3);
    for (uint8_t q = 0; q < 3; q++) {
        const got_message *m = find_message(b, topics[q]);
        assert_non_null(m);
        assert_int_equal(m->qos, q);
        assert_int_equal(m->len, PAYLOAD_LEN);
        assert_memory_equal(m->payload, payload[q], PAYLOAD_LEN);
    }

    /* PINGRESP. */
    assert_int_equal(midge_client_ping(&b->client), MIDGE_OK);
    long long deadline = fault_proxy_now_ms() + WAIT_MS;
    while (b->pingresp_events == 0 && fault_proxy_now_ms() < deadline)
        (void)midge_client_poll(&b->client, 100);
    assert_int_equal(b->pingresp_events, 1);

    /* UNSUBACK; afterwards nothing more arrives on the topic. */
    assert_int_equal(midge_client_unsubscribe(&b->client, TOPIC_BASE "/#"), MIDGE_OK);
    assert_int_equal(midge_client_publish(&b->client, topics[1], "after", 5, 1, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&b->client, WAIT_MS), MIDGE_OK);

    assert_int_equal(b->decoded[2], 1);  /* CONNACK */
    assert_int_equal(b->decoded[3], 3);  /* PUBLISH */
    assert_int_equal(b->decoded[4], 2);  /* PUBACK: two QoS 1 publishes */
    assert_int_equal(b->decoded[5], 1);  /* PUBREC */
    assert_int_equal(b->decoded[6], 1);  /* PUBREL */
    assert_int_equal(b->decoded[7], 1);  /* PUBCOMP */
    assert_int_equal(b->decoded[9], 1);  /* SUBACK */
    assert_int_equal(b->decoded[11], 1); /* UNSUBACK */
    assert_int_equal(b->decoded[13], 1); /* PINGRESP */
    assert_int_equal(b->messages, 3);

    assert_int_equal(midge_client_disconnect(&b->client), MIDGE_OK);
    fault_proxy_get_stats(proxy, &ps);
    /* Exact on the proxy's side: one send per byte, both ways. */
    assert_int_equal(ps.sends_down, ps.bytes_down);
    assert_int_equal(ps.sends_up, ps.bytes_up);
    assert_int_equal(b->io.bytes, ps.bytes_down);
    print_message("byte at a time: %llu bytes down in %lu client reads (largest %zu), "
                  "%llu bytes up\n",
                  ps.bytes_down, b->io.reads, b->io.max_read, ps.bytes_up);
    /* The reader's side depends on scheduling: most reads must be single
     * bytes (a loaded machine may let two bytes meet now and then). */
    assert_true(b->io.reads * 2 >= b->io.bytes);
}

/* A message from another client, retained, plus a zero-length one, through
 * byte mode in the server -> client direction only. */
static void test_retained_and_empty_messages_decode_one_byte_at_a_time(void **state)
{
    uint8_t payload[PAYLOAD_LEN];
    bytes_client *pub, *b;
    (void)state;

    fill_payload(payload, PAYLOAD_LEN, 99);
    pub = bytes_client_new("fault-bytes-pub", broker.port);
    assert_int_equal(midge_client_connect(&pub->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_publish(&pub->client, TOPIC_BASE "/kept", payload, PAYLOAD_LEN,
                                          1, true, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, WAIT_MS), MIDGE_OK);

    fault_proxy_byte_mode(proxy, FAULT_DOWN, 1);
    b = bytes_client_new("fault-bytes-sub", fault_proxy_port(proxy));
    assert_int_equal(midge_client_connect(&b->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&b->client, TOPIC_BASE "/kept", 1), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&b->client, TOPIC_BASE "/empty", 2), MIDGE_OK);
    poll_until_messages(b, 1);
    assert_int_equal(midge_client_publish(&pub->client, TOPIC_BASE "/empty", "", 0, 2, false,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, WAIT_MS), MIDGE_OK);
    poll_until_messages(b, 2);

    assert_string_equal(b->got[0].topic, TOPIC_BASE "/kept");
    assert_int_equal(b->got[0].len, PAYLOAD_LEN);
    assert_memory_equal(b->got[0].payload, payload, PAYLOAD_LEN);
    assert_string_equal(b->got[1].topic, TOPIC_BASE "/empty");
    assert_int_equal(b->got[1].len, 0);
    assert_int_equal(b->got[1].qos, 2);
    /* The message is handed over on PUBLISH; its PUBREL follows. */
    long long deadline = fault_proxy_now_ms() + WAIT_MS;
    while (b->decoded[6] == 0 && fault_proxy_now_ms() < deadline)
        (void)midge_client_poll(&b->client, 100);
    assert_int_equal(b->decoded[6], 1);

    /* Clear the retained message for whoever runs next. */
    assert_int_equal(midge_client_publish(&pub->client, TOPIC_BASE "/kept", "", 0, 1, true, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, WAIT_MS), MIDGE_OK);
    assert_int_equal(midge_client_disconnect(&b->client), MIDGE_OK);
    assert_int_equal(midge_client_disconnect(&pub->client), MIDGE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_packet_type_decodes_when_delivered_one_byte_at_a_time,
                                  test_teardown),
        cmocka_unit_test_teardown(test_retained_and_empty_messages_decode_one_byte_at_a_time,
                                  test_teardown),
    };
    return cmocka_run_group_tests_name("one byte at a time", tests, setup, teardown);
}
