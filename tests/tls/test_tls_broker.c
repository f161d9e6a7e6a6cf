/*
 * The TLS transport against real mosquitto TLS listeners on loopback, with
 * certificates made at test time: a good chain, an unknown CA, a wrong host
 * name (refused, then accepted with `insecure`), an expired certificate, a
 * listener requiring a client certificate, refused TLS versions, and the
 * transport contract (buffered data is "ready", a closed peer is an error).
 */
#define _GNU_SOURCE 1

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tls_fixture.h"

#define OPEN_TIMEOUT_MS 5000
#define DELIVERY_TIMEOUT_MS 5000

static tls_fixture certs;
static test_broker good;       /* server.crt: localhost, by ca */
static test_broker wrong_name; /* wrong_name.crt: wrong.example, by ca */
static test_broker expired;    /* expired.crt: localhost, by ca, 2020 only */
static test_broker client_auth; /* server.crt, clients need a cert by client_ca */
static test_broker plain;      /* no TLS at all */

static int setup_all(void **state)
{
    (void)state;
    if (fixture_make_certs(&certs) != 0)
        return -1;
    if (fixture_broker(&certs, &good, "server.crt", false) != 0 ||
        fixture_broker(&certs, &wrong_name, "wrong_name.crt", false) != 0 ||
        fixture_broker(&certs, &expired, "expired.crt", false) != 0 ||
        fixture_broker(&certs, &client_auth, "server.crt", true) != 0 ||
        test_broker_start(&plain, NULL) != 0)
        return -1;
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    test_broker_stop(&good);
    test_broker_stop(&wrong_name);
    test_broker_stop(&expired);
    test_broker_stop(&client_auth);
    test_broker_stop(&plain);
    fixture_remove(&certs);
    return 0;
}

static midge_tls_options trust_ca(void)
{
    midge_tls_options o = { .cafile = fixture_path(&certs, "ca.crt") };
    return o;
}

/* The error line is one line and contains `words`. */
static void assert_error_says(const midge_tls *tls, const char *words)
{
    const char *err = midge_tls_last_error(tls);
    print_message("error line: %s\n", err);
    if (strstr(err, words) == NULL)
        fail_msg("error line \"%s\" does not say \"%s\"", err, words);
    assert_null(strchr(err, '\n'));
}

static void test_good_chain_connects_and_speaks_mqtt(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_string_equal(midge_tls_last_error(&tls), "");
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    t.close(t.ctx);
}

static void test_unknown_ca_is_refused(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t = { 0 };
    midge_tls_options o = { .cafile = fixture_path(&certs, "other_ca.crt") };

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "certificate not trusted (unknown CA)");
    assert_null(t.ctx); /* no transport handed out: nothing to fall back to */
}

static void test_system_bundle_does_not_trust_the_test_ca(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = { 0 }; /* no cafile, no capath: the system bundle */

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "certificate not trusted (unknown CA)");
}

static void test_capath_directory_is_trusted(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    /* The directory also holds keys and config snippets: skipped, while
     * ca.crt in it is trusted. */
    midge_tls_options o = { .capath = certs.dir };

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    t.close(t.ctx);
}

static void test_insecure_still_verifies_the_chain(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = { .cafile = fixture_path(&certs, "other_ca.crt"), .insecure = true };

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "certificate not trusted (unknown CA)");
}

static void test_wrong_host_name_is_refused(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", wrong_name.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "host name mismatch: certificate is not for localhost (use --insecure "
                            "to skip only the host-name check)");
    /* The name is the only complaint: the chain itself is good. */
    assert_null(strstr(midge_tls_last_error(&tls), "unknown CA"));
}

static void test_wrong_host_name_is_accepted_with_insecure(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    o.insecure = true;

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", wrong_name.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    t.close(t.ctx);
}

static void test_ip_address_needs_insecure(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();

    /* server.crt lists IP:127.0.0.1, but mbedTLS 2.28 matches dNSName
     * entries only (tls.h): an address is a mismatch... */
    assert_int_equal(midge_tls_open(&tls, &o, "127.0.0.1", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "host name mismatch: certificate is not for 127.0.0.1");
    /* ...that `insecure` lets through, chain still checked. */
    o.insecure = true;
    assert_int_equal(midge_tls_open(&tls, &o, "127.0.0.1", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    t.close(t.ctx);
}

static void test_expired_certificate_is_refused(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", expired.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "certificate expired");
    /* `insecure` does not excuse an expired certificate either. */
    o.insecure = true;
    assert_int_equal(midge_tls_open(&tls, &o, "localhost", expired.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "certificate expired");
}

static void test_client_cert_listener_refuses_without_cert(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();

    /* TLS 1.2: the server refuses inside the handshake, so the open fails
     * (with TLS 1.3 it could only fail at the first read). */
    assert_int_equal(midge_tls_open(&tls, &o, "localhost", client_auth.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "TLS handshake with localhost:");
    assert_error_says(&tls, "asked for a client certificate and none was given");
}

static void test_client_cert_listener_accepts_with_cert(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    o.certfile = fixture_path(&certs, "client.crt");
    o.keyfile = fixture_path(&certs, "client.key");

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", client_auth.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    t.close(t.ctx);
}

static void test_client_key_must_match_cert(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    o.certfile = fixture_path(&certs, "client.crt");
    o.keyfile = fixture_path(&certs, "server.key");

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", client_auth.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "does not match");
    /* The line names files, never their content. */
    assert_null(strstr(midge_tls_last_error(&tls), "PRIVATE KEY"));
}

static void test_tls_versions_other_than_1_2_are_refused(void **state)
{
    (void)state;
    static const char *const refused[] = { "tlsv1.3", "tlsv1.1", "tlsv1", "sslv3", "junk", "" };
    char err[MIDGE_TLS_ERROR_MAX];
    midge_tls tls;
    midge_transport t = { 0 };

    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        midge_tls_options o = trust_ca();
        o.tls_version = refused[i];
        assert_int_equal(midge_tls_check_options(&o, err, sizeof err), MIDGE_ERR_INVALID);
        assert_non_null(strstr(err, "tlsv1.2"));
        assert_null(strchr(err, '\n'));
        /* The open refuses the same way, before any connection. */
        assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                         MIDGE_ERR_INVALID);
        assert_string_equal(midge_tls_last_error(&tls), err);
    }
    midge_tls_options o = trust_ca();
    o.tls_version = "tlsv1.3";
    midge_tls_check_options(&o, err, sizeof err);
    assert_non_null(strstr(err, "tlsv1.3 not supported"));
    o.tls_version = "tlsv1.2";
    assert_int_equal(midge_tls_check_options(&o, err, sizeof err), MIDGE_OK);
    assert_null(t.ctx);
}

static void test_unreadable_files_are_named(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = { .cafile = "/nonexistent/ca.crt" };

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "cannot load CA file /nonexistent/ca.crt: No such file or directory");

    /* A file that is not a certificate at all. */
    o.cafile = fixture_path(&certs, "server.ext");
    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "cannot load CA file");

    o = trust_ca();
    o.certfile = fixture_path(&certs, "client.crt");
    o.keyfile = "/nonexistent/client.key";
    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "cannot load key file /nonexistent/client.key");

    o.keyfile = NULL;
    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_INVALID);
    assert_error_says(&tls, "without its key");
}

static void test_plain_listener_fails_without_fallback(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t = { 0 };
    midge_tls_options o = trust_ca();

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", plain.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_ERR_TLS);
    assert_error_says(&tls, "TLS handshake with localhost:");
    assert_error_says(&tls, "is it a TLS listener?");
    assert_null(t.ctx);
}

static void test_silent_server_times_out_in_bounds(void **state)
{
    (void)state;
    /* A listening socket that never accepts: TCP connects (the kernel's
     * backlog) but no ServerHello ever comes. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);

    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    long long start = fixture_now_ms();
    assert_int_equal(midge_tls_open(&tls, &o, "127.0.0.1", ntohs(a.sin_port), 300, &t),
                     MIDGE_ERR_TLS);
    long long spent = fixture_now_ms() - start;
    close(fd);
    assert_error_says(&tls, "timed out after 300 ms");
    assert_true(spent >= 250 && spent < 3000);
}

static void test_wait_reports_data_buffered_inside_tls(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    uint8_t b;

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_send_all(&t, fixture_connect, sizeof fixture_connect, 5000),
                     MIDGE_OK);
    /* One byte of the 4-byte CONNACK record: mbedTLS decrypts the whole
     * record, so the other three sit in its buffer, not on the socket. */
    assert_int_equal(fixture_recv_all(&t, &b, 1, 5000), MIDGE_OK);
    assert_int_equal(b, 0x20);
    assert_true(t.wait(t.ctx, false, 0) > 0);
    uint8_t rest[3];
    assert_int_equal(t.recv(t.ctx, rest, sizeof rest), 3);
    /* Now nothing is buffered and the broker says nothing: a real timeout. */
    assert_int_equal(t.wait(t.ctx, false, 50), 0);
    assert_int_equal(t.recv(t.ctx, rest, sizeof rest), 0);
    t.close(t.ctx);
}

static void test_closed_peer_is_an_error_never_zero(void **state)
{
    (void)state;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    static const uint8_t disconnect[] = { 0xe0, 0x00 };
    uint8_t buf[16];

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    assert_int_equal(fixture_send_all(&t, disconnect, sizeof disconnect, 5000), MIDGE_OK);
    /* The broker closes after DISCONNECT (MQTT 3.1.1 section 3.14.4). */
    int st = fixture_recv_all(&t, buf, 1, 5000);
    assert_int_equal(st, MIDGE_ERR_CLOSED);
    assert_int_equal(t.recv(t.ctx, buf, sizeof buf), MIDGE_ERR_CLOSED);
    t.close(t.ctx);
}

static void test_send_resumes_a_record_held_back_by_a_full_socket(void **state)
{
    (void)state;
    /* A PUBLISH too big for the socket buffers while the broker is
     * stopped: send must return 0 with a record half-flushed inside
     * mbedTLS, then carry on from the same bytes once the broker reads
     * again. The broker echoes the message to our own subscription; the
     * echo equals what we sent byte for byte only if no byte was lost or
     * doubled across the "try later". */
    static const char topic[] = "tls/big";
    static const uint8_t subscribe[] = { 0x82, 12, 0x00, 0x01, 0x00, 7, 't', 'l', 's', '/',
                                         'b', 'i', 'g', 0x00 };
    static const uint8_t suback[] = { 0x90, 0x03, 0x00, 0x01, 0x00 };
    const size_t payload = 8u * 1024 * 1024;
    const size_t remaining = 2 + sizeof topic - 1 + payload;
    midge_tls tls;
    midge_transport t;
    midge_tls_options o = trust_ca();
    uint8_t got[8];

    /* PUBLISH QoS 0: fixed header with a 4-byte remaining length (MQTT
     * 3.1.1 section 2.2.3), topic, then a payload that never repeats
     * within a record. */
    size_t len = 1 + 4 + remaining;
    uint8_t *pkt = malloc(len);
    uint8_t *echo = malloc(len);
    assert_non_null(pkt);
    assert_non_null(echo);
    size_t at = 0;
    pkt[at++] = 0x30;
    for (size_t rl = remaining, i = 0; i < 4; i++) {
        pkt[at++] = (uint8_t)((rl & 0x7f) | (i < 3 ? 0x80 : 0));
        rl >>= 7;
    }
    pkt[at++] = 0;
    pkt[at++] = sizeof topic - 1;
    memcpy(pkt + at, topic, sizeof topic - 1);
    at += sizeof topic - 1;
    for (size_t i = 0; at < len; i++)
        pkt[at++] = (uint8_t)(i * 7 + (i >> 8) * 13 + (i >> 16));

    assert_int_equal(midge_tls_open(&tls, &o, "localhost", good.port, OPEN_TIMEOUT_MS, &t),
                     MIDGE_OK);
    assert_int_equal(fixture_mqtt_hello(&t), MIDGE_OK);
    assert_int_equal(fixture_send_all(&t, subscribe, sizeof subscribe, 5000), MIDGE_OK);
    assert_int_equal(fixture_recv_all(&t, got, sizeof suback, 5000), MIDGE_OK);
    assert_memory_equal(got, suback, sizeof suback);

    assert_int_equal(test_broker_pause(&good), 0);
    size_t sent = 0;
    int blocked = 0;
    long long deadline = fixture_now_ms() + 10000;
    /* Small slices while stopped, so the record left pending is small;
     * afterwards the rest is offered at once, as a client's queue grows
     * behind a blocked send: the pending record must still count for its
     * own length only. */
    while (sent < len && blocked == 0 && fixture_now_ms() < deadline) {
        long n = t.send(t.ctx, pkt + sent, len - sent < 1000 ? len - sent : 1000);
        assert_true(n >= 0);
        if (n == 0)
            blocked++;
        sent += (size_t)n;
    }
    assert_int_equal(test_broker_resume(&good), 0);
    if (blocked == 0)
        fail_msg("8 MiB went out while the broker was stopped: socket buffers too big to test");
    assert_int_equal(fixture_send_all(&t, pkt + sent, len - sent, 20000), MIDGE_OK);
    assert_int_equal(fixture_recv_all(&t, echo, len, 20000), MIDGE_OK);
    assert_memory_equal(echo, pkt, len);
    t.close(t.ctx);
    free(pkt);
    free(echo);
}

/* --- through midge_client -------------------------------------------- */

typedef struct tls_peer {
    midge_client client;
    midge_client_config cfg;
    midge_session_buffers bufs;
    midge_tls tls;
    midge_tls_opener_ctx opener;
    uint8_t tx[4096];
    uint8_t rx[4096];
    uint8_t store[8192];
    uint16_t qos2_ids[8];
    int count;
    char topic[64];
    char payload[64];
} tls_peer;

static void peer_on_message(void *user, const midge_publish *msg)
{
    tls_peer *p = user;
    size_t tl = msg->topic_len < sizeof p->topic - 1 ? msg->topic_len : sizeof p->topic - 1;
    size_t pl = msg->payload_len < sizeof p->payload - 1 ? msg->payload_len : sizeof p->payload - 1;
    memcpy(p->topic, msg->topic, tl);
    p->topic[tl] = '\0';
    memcpy(p->payload, msg->payload, pl);
    p->payload[pl] = '\0';
    p->count++;
}

static tls_peer *peer_connect(const char *id, uint16_t port, const midge_tls_options *o)
{
    tls_peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->opener.tls = &p->tls;
    p->opener.options = *o;
    p->cfg.host = "localhost";
    p->cfg.port = port;
    p->cfg.connect.client_id = id;
    p->cfg.connect.keepalive_s = 30;
    p->cfg.connect.clean_session = true;
    p->cfg.connect_timeout_ms = OPEN_TIMEOUT_MS;
    p->cfg.open = midge_tls_opener;
    p->cfg.platform = &midge_posix_platform;
    p->cfg.opener = &p->opener;
    p->bufs.tx = p->tx;
    p->bufs.tx_size = sizeof p->tx;
    p->bufs.rx = p->rx;
    p->bufs.rx_size = sizeof p->rx;
    p->bufs.store = p->store;
    p->bufs.store_size = sizeof p->store;
    p->bufs.rx_qos2_ids = p->qos2_ids;
    p->bufs.rx_qos2_cap = 8;
    assert_int_equal(midge_client_init(&p->client, &p->cfg, &p->bufs), MIDGE_OK);
    midge_client_set_callback(&p->client, peer_on_message, p);
    return p;
}

static void test_client_round_trip_over_tls(void **state)
{
    (void)state;
    midge_tls_options o = trust_ca();
    tls_peer *sub = peer_connect("tls-sub", good.port, &o);
    tls_peer *pub = peer_connect("tls-pub", good.port, &o);
    bool present = true;

    assert_int_equal(midge_client_connect(&sub->client, &present), MIDGE_OK);
    assert_false(present);
    assert_int_equal(midge_client_connect(&pub->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&sub->client, "tls/round/trip", 1), MIDGE_OK);
    assert_int_equal(midge_client_publish(&pub->client, "tls/round/trip", "over tls", 8, 1, false,
                                          NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&pub->client, DELIVERY_TIMEOUT_MS), MIDGE_OK);

    long long deadline = fixture_now_ms() + DELIVERY_TIMEOUT_MS;
    while (sub->count == 0 && fixture_now_ms() < deadline) {
        midge_status st = midge_client_poll(&sub->client, 100);
        assert_true(st >= 0);
    }
    assert_int_equal(sub->count, 1);
    assert_string_equal(sub->topic, "tls/round/trip");
    assert_string_equal(sub->payload, "over tls");

    assert_int_equal(midge_client_disconnect(&pub->client), MIDGE_OK);
    assert_int_equal(midge_client_disconnect(&sub->client), MIDGE_OK);
    free(pub);
    free(sub);
}

static void test_client_connect_reports_tls_refusal(void **state)
{
    (void)state;
    midge_tls_options o = { .cafile = fixture_path(&certs, "other_ca.crt") };
    tls_peer *p = peer_connect("tls-refused", good.port, &o);

    assert_int_equal(midge_client_connect(&p->client, NULL), MIDGE_ERR_TLS);
    assert_error_says(&p->tls, "certificate not trusted (unknown CA)");
    assert_false(midge_client_is_connected(&p->client));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_chain_connects_and_speaks_mqtt),
        cmocka_unit_test(test_unknown_ca_is_refused),
        cmocka_unit_test(test_system_bundle_does_not_trust_the_test_ca),
        cmocka_unit_test(test_capath_directory_is_trusted),
        cmocka_unit_test(test_insecure_still_verifies_the_chain),
        cmocka_unit_test(test_wrong_host_name_is_refused),
        cmocka_unit_test(test_wrong_host_name_is_accepted_with_insecure),
        cmocka_unit_test(test_ip_address_needs_insecure),
        cmocka_unit_test(test_expired_certificate_is_refused),
        cmocka_unit_test(test_client_cert_listener_refuses_without_cert),
        cmocka_unit_test(test_client_cert_listener_accepts_with_cert),
        cmocka_unit_test(test_client_key_must_match_cert),
        cmocka_unit_test(test_tls_versions_other_than_1_2_are_refused),
        cmocka_unit_test(test_unreadable_files_are_named),
        cmocka_unit_test(test_plain_listener_fails_without_fallback),
        cmocka_unit_test(test_silent_server_times_out_in_bounds),
        cmocka_unit_test(test_wait_reports_data_buffered_inside_tls),
        cmocka_unit_test(test_closed_peer_is_an_error_never_zero),
        cmocka_unit_test(test_send_resumes_a_record_held_back_by_a_full_socket),
        cmocka_unit_test(test_client_round_trip_over_tls),
        cmocka_unit_test(test_client_connect_reports_tls_refusal),
    };
    /* A closed socket must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("tls_broker", tests, setup_all, teardown_all);
}
