/*
 * The fake OneNET servers themselves, checked with the client library
 * playing the device (and hand-made packets where the library is too
 * well-behaved to break a rule): before any device test trusts a fake,
 * the fake must accept what onenet.md says the platform accepts and refuse
 * what it refuses, the way it refuses it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_onenet.h"
#include "loopback.h"
#include "midge/token.h"
#include "peer.h"
#include "secrets.h"

/* The seed tutorial's identity (legacy) and the platform's published token
 * example (Studio). Test values, not anyone's credentials. */
#define LEGACY_DEVICE "9377500"
#define LEGACY_PRODUCT "91025"
#define LEGACY_APIKEY SECRET_ONENET_API_KEY
#define STUDIO_PRODUCT "238322"
#define STUDIO_DEVICE "mqtts-test-device"
#define STUDIO_KEY SECRET_ONENET_DEVICE_KEY
#define STUDIO_BASE "$sys/" STUDIO_PRODUCT "/" STUDIO_DEVICE "/"
/* onenet.md section 2, the official vector: et 7557387130 (year 2209). */
#define STUDIO_VECTOR_TOKEN                                                                  \
    "version=2018-10-31&res=products%2F238322%2Fdevices%2Fmqtts-test-device&et=7557387130" \
    "&method=sha1&sign=Rs0u%2FKnyoK5%2FMuKo5xKa0tW%2BWqY%3D"

#define WAIT_MS 3000
#define QUIET_MS 300

static fake_onenet *server;

static int legacy_up(void **state)
{
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_LEGACY, .product_id = LEGACY_PRODUCT, .device_id = LEGACY_DEVICE,
        .secret = LEGACY_APIKEY, .connack_delay_ms = 0,
    };
    (void)state;
    server = fake_onenet_start(&cfg);
    return server != NULL ? 0 : -1;
}

static int studio_up(void **state)
{
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_STUDIO, .product_id = STUDIO_PRODUCT, .device_id = STUDIO_DEVICE,
        .secret = STUDIO_KEY, .connack_delay_ms = 0,
    };
    (void)state;
    server = fake_onenet_start(&cfg);
    return server != NULL ? 0 : -1;
}

static int server_down(void **state)
{
    peer_teardown(state);
    fake_onenet_stop(server);
    server = NULL;
    return 0;
}

/* A failing test shows what the fake saw. */
#define CHECK(cond)                                                                         \
    do {                                                                                    \
        bool check_ok = (cond);                                                             \
        if (!check_ok)                                                                      \
            fake_onenet_dump(server, #cond);                                                \
        assert_true(check_ok);                                                              \
    } while (0)

/* --- Devices played by the library --------------------------------------------------- */

static peer *legacy_peer(const char *id, const char *password, uint16_t keepalive, bool clean)
{
    peer *p = peer_new(fake_onenet_port(server), id, clean);
    assert_non_null(p);
    p->cfg.connect.username = LEGACY_PRODUCT;
    p->cfg.connect.password = password;
    p->cfg.connect.keepalive_s = keepalive;
    p->cfg.connack_timeout_ms = 2000;
    return p;
}

static char token[512];

static const char *make_token(const char *key, const char *device, const char *method,
                              uint64_t et)
{
    assert_int_equal(midge_token_make(token, sizeof token, STUDIO_PRODUCT, device, key, method, et,
                                      NULL),
                     MIDGE_OK);
    return token;
}

static uint64_t in_an_hour(void)
{
    return (uint64_t)time(NULL) + 3600;
}

static peer *studio_peer(const char *password, uint16_t keepalive, bool clean)
{
    peer *p = peer_new(fake_onenet_port(server), STUDIO_DEVICE, clean);
    assert_non_null(p);
    p->cfg.connect.username = STUDIO_PRODUCT;
    p->cfg.connect.password = password;
    p->cfg.connect.keepalive_s = keepalive;
    p->cfg.connack_timeout_ms = 2000;
    return p;
}

static peer *studio_online(void)
{
    peer *p = studio_peer(make_token(STUDIO_KEY, STUDIO_DEVICE, "sha256", in_an_hour()), 120,
                          true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    return p;
}

/* A connection refused without CONNACK: a local failure, not a refusal. */
static void expect_no_connack(midge_status st)
{
    assert_int_not_equal(st, MIDGE_OK);
    assert_false(midge_status_is_refusal(st));
}

/* The first event of kind `what` since the server started. */
static void expect_event(fake_onenet_what what, fake_onenet_event *ev)
{
    size_t at = 0;
    CHECK(fake_onenet_next(server, &at, what, NULL, WAIT_MS, ev));
}

/* A publish the server answers by closing: the client may already see the
 * close while it sends. */
static void publish_into_close(peer *p, const char *topic, const void *payload, size_t len,
                               uint8_t qos, bool retain)
{
    midge_status st = midge_client_publish(&p->client, topic, payload, len, qos, retain, NULL);
    assert_true(st == MIDGE_OK || st == MIDGE_ERR_CLOSED);
}

/* --- Hand-made packets over a plain socket -------------------------------------------- */

static int raw_connect(void)
{
    struct sockaddr_in addr = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(fake_onenet_port(server));
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static size_t encode_connect(uint8_t *buf, size_t cap, const midge_connect_opts *o)
{
    midge_status st;
    size_t n = midge_codec_encode_connect(buf, cap, o, &st);
    assert_int_equal(st, MIDGE_OK);
    return n;
}

static void raw_send(int fd, const uint8_t *bytes, size_t len)
{
    assert_int_equal(loopback_write_all(fd, bytes, len, WAIT_MS), LOOPBACK_OK);
}

/* --- Legacy: CONNECT ------------------------------------------------------------------ */

static void test_legacy_accepts_the_tutorial_connect(void **state)
{
    fake_onenet_event ev;
    size_t at = 0;
    bool present = true;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, &present), MIDGE_OK);
    assert_false(present);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
    assert_int_equal(ev.keepalive_s, 120);
    assert_true(ev.clean_session);
    assert_string_equal(ev.topic, LEGACY_DEVICE);
    assert_int_equal(fake_onenet_live(server), ev.conn);
}

static void test_legacy_accepts_keepalive_0(void **state)
{
    (void)state;
    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 0, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
}

static void test_legacy_wrong_api_key_gets_connack_4(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, "not-the-key", 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_CREDENTIALS);
    expect_event(FAKE_ONENET_REFUSED, &ev);
    assert_int_equal(ev.code, 4);
    assert_int_equal(fake_onenet_live(server), 0);
}

static void test_legacy_wrong_device_id_gets_no_connack(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer("9377501", LEGACY_APIKEY, 120, true);
    expect_no_connack(peer_connect(p, NULL));
    expect_event(FAKE_ONENET_DROPPED, &ev);
    assert_non_null(strstr(ev.why, "client id"));
    assert_int_equal(fake_onenet_tally(server, FAKE_ONENET_REFUSED, NULL), 0);
}

static void test_legacy_wrong_product_id_gets_no_connack(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    p->cfg.connect.username = "91026";
    expect_no_connack(peer_connect(p, NULL));
    expect_event(FAKE_ONENET_DROPPED, &ev);
    assert_non_null(strstr(ev.why, "user name"));
}

static void test_legacy_keepalive_under_120_gets_no_connack(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 60, true);
    expect_no_connack(peer_connect(p, NULL));
    expect_event(FAKE_ONENET_DROPPED, &ev);
    assert_non_null(strstr(ev.why, "keepalive"));
}

static void test_legacy_will_gets_no_connack(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_init(p), MIDGE_OK);
    assert_int_equal(midge_client_set_last_will(&p->client, "gone", "x", 1, 0, false), MIDGE_OK);
    expect_no_connack(midge_client_connect(&p->client, NULL));
    expect_event(FAKE_ONENET_DROPPED, &ev);
    assert_non_null(strstr(ev.why, "will"));
}

static void test_legacy_without_password_gets_no_connack(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, NULL, 120, true);
    expect_no_connack(peer_connect(p, NULL));
    expect_event(FAKE_ONENET_DROPPED, &ev);
    assert_non_null(strstr(ev.why, "password"));
}

static void test_legacy_packet_before_connect_is_dropped(void **state)
{
    static const uint8_t ping[] = {0xC0, 0x00};
    fake_onenet_event ev;
    (void)state;

    int fd = raw_connect();
    raw_send(fd, ping, sizeof ping);
    assert_int_equal(loopback_wait_closed(fd, WAIT_MS, NULL), LOOPBACK_CLOSED);
    close(fd);
    expect_event(FAKE_ONENET_DROPPED, &ev);
    assert_non_null(strstr(ev.why, "not CONNECT"));
}

static void test_legacy_bytes_before_connack_are_a_violation(void **state)
{
    midge_connect_opts o = {LEGACY_DEVICE, LEGACY_PRODUCT, LEGACY_APIKEY, NULL, 120, true};
    uint8_t buf[256];
    fake_onenet_event ev;
    (void)state;

    /* CONNECT and PINGREQ in one write: the PINGREQ left before any
     * CONNACK could have arrived. */
    size_t n = encode_connect(buf, sizeof buf, &o);
    buf[n++] = 0xC0;
    buf[n++] = 0x00;
    int fd = raw_connect();
    raw_send(fd, buf, n);
    assert_int_equal(loopback_wait_closed(fd, WAIT_MS, NULL), LOOPBACK_CLOSED);
    close(fd);
    expect_event(FAKE_ONENET_VIOLATION, &ev);
    assert_non_null(strstr(ev.why, "before the CONNACK"));
    assert_int_equal(fake_onenet_tally(server, FAKE_ONENET_ACCEPTED, NULL), 0);
}

static void test_legacy_second_login_kicks_the_first(void **state)
{
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    peer *first = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(first, NULL), MIDGE_OK);
    peer *second = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(second, NULL), MIDGE_OK);

    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_KICKED, NULL, WAIT_MS, &ev));
    assert_int_equal(ev.conn, 1);
    assert_int_equal(fake_onenet_live(server), 2);
    assert_true(peer_idle(first, QUIET_MS) < 0);
    assert_int_equal(peer_idle(second, QUIET_MS), MIDGE_OK);
    assert_int_equal(fake_onenet_max_open(server), 2);
}

static void test_legacy_connack_delay_holds_the_connack(void **state)
{
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_LEGACY, .product_id = LEGACY_PRODUCT, .device_id = LEGACY_DEVICE,
        .secret = LEGACY_APIKEY, .connack_delay_ms = 300,
    };
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    fake_onenet_stop(server);
    server = fake_onenet_start(&cfg);
    assert_non_null(server);
    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    int64_t start = loopback_now_ms();
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_true(loopback_now_ms() - start >= 250);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_ACCEPTED, NULL, 0, &ev));
}

/* --- Legacy: subscriptions and messages ------------------------------------------------ */

static void test_legacy_refuses_dollar_subscriptions(void **state)
{
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&p->client, "$creq/#", 0), MIDGE_ERR_SUBSCRIBE);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_SUBSCRIBE, "$creq/#", WAIT_MS, &ev));
    assert_int_equal(ev.code, MIDGE_SUBACK_FAILURE);
    /* The refusal does not end the connection. */
    assert_int_equal(fake_onenet_live(server), ev.conn);
    assert_int_equal(midge_client_subscribe(&p->client, "TurnipRobot", 0), MIDGE_OK);
}

static void test_legacy_refuses_wildcards_and_grants_plain_topics_qos_0(void **state)
{
    midge_subscription subs[] = {{"TurnipRobot", 1}, {"a/+", 0}, {"room/lamp", 1}, {"#", 0}};
    uint8_t granted[4];
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe_many(&p->client, subs, 4, granted),
                     MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(granted[0], 0);
    assert_int_equal(granted[1], MIDGE_SUBACK_FAILURE);
    assert_int_equal(granted[2], 0);
    assert_int_equal(granted[3], MIDGE_SUBACK_FAILURE);
}

static void test_legacy_pushes_creq_without_subscription(void **state)
{
    static const char topic[] = "$creq/3e25b3f5-27c8-50d5-b2bb-b7cb7ddddac4";
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_true(fake_onenet_push(server, topic, "on", 2));
    assert_int_equal(peer_wait_count(p, 1, WAIT_MS), MIDGE_OK);
    assert_int_equal(p->count, 1);
    assert_string_equal(p->got[0].topic, topic);
    assert_int_equal(p->got[0].len, 2);
    assert_memory_equal(p->got[0].payload, "on", 2);
    assert_int_equal(p->got[0].qos, 0);
    assert_false(p->got[0].retain);
}

static void test_legacy_pushes_plain_topics_only_to_subscribers(void **state)
{
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_false(fake_onenet_push(server, "TurnipRobot", "on", 2));
    assert_int_equal(midge_client_subscribe(&p->client, "TurnipRobot", 0), MIDGE_OK);
    assert_true(fake_onenet_push(server, "TurnipRobot", "off", 3));
    assert_int_equal(peer_wait_count(p, 1, WAIT_MS), MIDGE_OK);
    assert_int_equal(p->count, 1);
    assert_string_equal(p->got[0].topic, "TurnipRobot");
    assert_memory_equal(p->got[0].payload, "off", 3);
}

static void test_legacy_nobody_live_nothing_pushed(void **state)
{
    (void)state;
    assert_false(fake_onenet_push(server, "$creq/x", "on", 2));
    assert_false(fake_onenet_drop(server));
}

static void test_legacy_records_publishes_and_acks_qos_1(void **state)
{
    static const uint8_t dp[] = {0x03, 0x00, 0x09, '{', '"', 'l', 'e', 'd', '"', ':', '1', '}'};
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_publish(&p->client, "$dp", dp, sizeof dp, 1, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, WAIT_MS), MIDGE_OK);
    assert_int_equal(midge_client_publish(&p->client, "$crsp/abc", "on", 2, 0, false, NULL),
                     MIDGE_OK);

    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_PUBLISH, "$dp", WAIT_MS, &ev));
    assert_int_equal(ev.qos, 1);
    assert_int_equal(ev.len, sizeof dp);
    assert_memory_equal(ev.payload, dp, sizeof dp);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_PUBLISH, "$crsp/abc", WAIT_MS, &ev));
    assert_int_equal(ev.qos, 0);
    assert_memory_equal(ev.payload, "on", 2);
    assert_int_equal(fake_onenet_tally(server, FAKE_ONENET_VIOLATION, NULL), 0);
}

static void test_legacy_dp_with_a_wrong_length_is_a_violation(void **state)
{
    static const uint8_t dp[] = {0x03, 0x00, 0x0A, '{', '"', 'l', 'e', 'd', '"', ':', '1', '}'};
    fake_onenet_event ev;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    publish_into_close(p, "$dp", dp, sizeof dp, 0, false);
    expect_event(FAKE_ONENET_VIOLATION, &ev);
    assert_non_null(strstr(ev.why, "$dp"));
    assert_true(peer_idle(p, QUIET_MS) < 0);
}

static void test_legacy_retain_and_other_dollar_topics_are_violations(void **state)
{
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    publish_into_close(p, "TurnipRobot", "on", 2, 0, true);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_VIOLATION, NULL, WAIT_MS, &ev));
    assert_non_null(strstr(ev.why, "retain"));

    peer_free(p);
    p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    publish_into_close(p, "$creq/abc", "on", 2, 0, false);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_VIOLATION, NULL, WAIT_MS, &ev));
    assert_non_null(strstr(ev.why, "may not use"));
}

static void test_legacy_clean_session_0_keeps_the_subscriptions(void **state)
{
    bool present = false;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, false);
    assert_int_equal(peer_connect(p, &present), MIDGE_OK);
    assert_false(present);
    assert_int_equal(midge_client_subscribe(&p->client, "TurnipRobot", 0), MIDGE_OK);
    peer_free(p);

    p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, false);
    assert_int_equal(peer_connect(p, &present), MIDGE_OK);
    assert_true(present);
    assert_true(fake_onenet_push(server, "TurnipRobot", "on", 2));
    assert_int_equal(peer_wait_count(p, 1, WAIT_MS), MIDGE_OK);
    assert_int_equal(p->count, 1);
    peer_free(p);

    /* Clean session 1 wipes the kept list. */
    p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, &present), MIDGE_OK);
    assert_false(present);
    assert_false(fake_onenet_push(server, "TurnipRobot", "on", 2));
}

static void test_legacy_answers_pings_and_records_disconnect(void **state)
{
    size_t at = 0;
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_ping(&p->client), MIDGE_OK);
    assert_int_equal(peer_idle(p, QUIET_MS), MIDGE_OK);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_PING, NULL, WAIT_MS, NULL));
    assert_int_equal(midge_client_disconnect(&p->client), MIDGE_OK);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_DISCONNECT, NULL, WAIT_MS, NULL));
    assert_int_equal(fake_onenet_live(server), 0);
}

static void test_legacy_drop_closes_without_warning(void **state)
{
    (void)state;

    peer *p = legacy_peer(LEGACY_DEVICE, LEGACY_APIKEY, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_true(fake_onenet_drop(server));
    assert_int_equal(fake_onenet_live(server), 0);
    assert_true(peer_idle(p, QUIET_MS) < 0);
    assert_int_equal(fake_onenet_tally(server, FAKE_ONENET_SERVER_DROP, NULL), 1);
}

/* --- Studio: CONNECT and the token ------------------------------------------------------ */

static void test_studio_accepts_a_valid_token_for_every_method(void **state)
{
    static const char *const methods[] = {"md5", "sha1", "sha256"};
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        uint64_t et = in_an_hour() + i;
        peer *p = studio_peer(make_token(STUDIO_KEY, STUDIO_DEVICE, methods[i], et), 120, true);
        assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
        CHECK(fake_onenet_next(server, &at, FAKE_ONENET_ACCEPTED, NULL, WAIT_MS, &ev));
        assert_int_equal(ev.token_et, et);
        assert_string_equal(ev.token_method, methods[i]);
        peer_free(p);
    }
}

static void test_studio_accepts_the_published_vector(void **state)
{
    fake_onenet_event ev;
    (void)state;

    /* The fake parses the platform's own example, not only midge's output. */
    peer *p = studio_peer(STUDIO_VECTOR_TOKEN, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    expect_event(FAKE_ONENET_ACCEPTED, &ev);
    assert_int_equal(ev.token_et, 7557387130u);
    assert_string_equal(ev.token_method, "sha1");
}

static void test_studio_refuses_a_token_signed_with_another_key(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = studio_peer(make_token("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                                     STUDIO_DEVICE, "sha1", in_an_hour()),
                          120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_CREDENTIALS);
    expect_event(FAKE_ONENET_REFUSED, &ev);
    assert_int_equal(ev.code, 4);
    assert_non_null(strstr(ev.why, "sign"));
}

static void test_studio_refuses_a_token_for_another_device(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = studio_peer(make_token(STUDIO_KEY, "other-device", "sha1", in_an_hour()), 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_CREDENTIALS);
    expect_event(FAKE_ONENET_REFUSED, &ev);
    assert_non_null(strstr(ev.why, "res"));
}

static void test_studio_refuses_an_expired_token_with_5(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *p = studio_peer(make_token(STUDIO_KEY, STUDIO_DEVICE, "sha256", (uint64_t)time(NULL) - 1),
                          120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_NOT_AUTHORIZED);
    expect_event(FAKE_ONENET_REFUSED, &ev);
    assert_int_equal(ev.code, 5);
}

static void test_studio_refuses_a_tampered_or_garbled_token(void **state)
{
    char tampered[sizeof token];
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    /* Another et with the old sign. */
    snprintf(tampered, sizeof tampered, "%s", STUDIO_VECTOR_TOKEN);
    char *et = strstr(tampered, "et=7557387130");
    assert_non_null(et);
    et[3] = '8';
    peer *p = studio_peer(tampered, 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_CREDENTIALS);
    peer_free(p);

    p = studio_peer("version=2018-10-31&res=products%2F238322", 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_CREDENTIALS);
    peer_free(p);

    p = studio_peer("not a token at all", 120, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_REFUSED_CREDENTIALS);
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_REFUSED, NULL, WAIT_MS, &ev));
    assert_int_equal(fake_onenet_tally(server, FAKE_ONENET_ACCEPTED, NULL), 0);
}

static void test_studio_connect_rules_get_no_connack(void **state)
{
    static const struct {
        uint16_t keepalive;
        bool clean;
        const char *why;
    } cases[] = {
        {120, false, "clean session"},
        {9, true, "keepalive"},
        {1801, true, "keepalive"},
        {0, true, "keepalive"},
    };
    size_t at = 0;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_onenet_event ev;
        peer *p = studio_peer(make_token(STUDIO_KEY, STUDIO_DEVICE, "sha1", in_an_hour()),
                              cases[i].keepalive, cases[i].clean);
        expect_no_connack(peer_connect(p, NULL));
        CHECK(fake_onenet_next(server, &at, FAKE_ONENET_DROPPED, NULL, WAIT_MS, &ev));
        assert_non_null(strstr(ev.why, cases[i].why));
        peer_free(p);
    }
    peer *p = studio_peer(make_token(STUDIO_KEY, STUDIO_DEVICE, "sha1", in_an_hour()), 10, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
}

/* --- Studio: subscriptions and publishes -------------------------------------------------- */

static void test_studio_grants_own_filters_qos_0_and_refuses_others(void **state)
{
    midge_subscription subs[] = {
        {STUDIO_BASE "thing/property/set", 1},
        {STUDIO_BASE "cmd/request/+", 1},
        {"$sys/" STUDIO_PRODUCT "/+/cmd/request/x", 0},
        {"$sys/999/" STUDIO_DEVICE "/thing/property/set", 0},
        {STUDIO_BASE "+", 0},
        {"TurnipRobot", 0},
    };
    uint8_t granted[6];
    (void)state;

    peer *p = studio_online();
    assert_int_equal(midge_client_subscribe_many(&p->client, subs, 6, granted),
                     MIDGE_ERR_SUBSCRIBE);
    assert_int_equal(granted[0], 0);
    assert_int_equal(granted[1], 0);
    for (size_t i = 2; i < 6; i++)
        assert_int_equal(granted[i], MIDGE_SUBACK_FAILURE);
    assert_int_equal(fake_onenet_live(server), 1);
}

static void test_studio_closes_on_nine_filters_in_one_subscribe(void **state)
{
    static const char *const names[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    static char filters[9][96];
    midge_subscription subs[9];
    fake_onenet_event ev;
    (void)state;

    for (size_t i = 0; i < 9; i++) {
        snprintf(filters[i], sizeof filters[i], STUDIO_BASE "cmd/request/%s", names[i]);
        subs[i] = (midge_subscription){filters[i], 0};
    }
    peer *p = studio_online();
    assert_true(midge_client_subscribe_many(&p->client, subs, 8, NULL) == MIDGE_OK);
    assert_true(midge_client_subscribe_many(&p->client, subs, 9, NULL) < 0);
    expect_event(FAKE_ONENET_VIOLATION, &ev);
    assert_non_null(strstr(ev.why, "more than 8"));
}

static void test_studio_pushes_only_to_subscribed_topics(void **state)
{
    static const char set[] = "{\"id\":\"124\",\"version\":\"1.0\",\"params\":{\"led\":true}}";
    (void)state;

    peer *p = studio_online();
    assert_false(fake_onenet_push(server, STUDIO_BASE "thing/property/set", set, strlen(set)));
    assert_int_equal(midge_client_subscribe(&p->client, STUDIO_BASE "thing/property/set", 0),
                     MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&p->client, STUDIO_BASE "cmd/request/+", 0), MIDGE_OK);
    assert_true(fake_onenet_push(server, STUDIO_BASE "thing/property/set", set, strlen(set)));
    assert_true(fake_onenet_push(server, STUDIO_BASE "cmd/request/42", "toggle", 6));
    assert_int_equal(peer_wait_count(p, 2, WAIT_MS), MIDGE_OK);
    assert_int_equal(p->count, 2);
    assert_string_equal(p->got[0].topic, STUDIO_BASE "thing/property/set");
    assert_memory_equal(p->got[0].payload, set, strlen(set));
    assert_string_equal(p->got[1].topic, STUDIO_BASE "cmd/request/42");
}

static void test_studio_accepts_the_allowed_publish_topics(void **state)
{
    static const char *const topics[] = {
        STUDIO_BASE "thing/property/post",      STUDIO_BASE "thing/property/set_reply",
        STUDIO_BASE "thing/property/get_reply", STUDIO_BASE "cmd/response/42",
        STUDIO_BASE "dp/post/json",             STUDIO_BASE "thing/event/post",
    };
    (void)state;

    peer *p = studio_online();
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        assert_int_equal(midge_client_publish(&p->client, topics[i], "{}", 2, 1, false, NULL),
                         MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, WAIT_MS), MIDGE_OK);
    CHECK(fake_onenet_tally(server, FAKE_ONENET_PUBLISH, NULL) == 6);
    CHECK(fake_onenet_tally(server, FAKE_ONENET_VIOLATION, NULL) == 0);
}

static void test_studio_closes_on_forbidden_publishes(void **state)
{
    static const struct {
        const char *topic;
        uint8_t qos;
        bool retain;
        const char *why;
    } cases[] = {
        {STUDIO_BASE "thing/property/set", 0, false, "may not use"},
        {STUDIO_BASE "cmd/response/", 0, false, "may not use"},
        {"$sys/" STUDIO_PRODUCT "/other/thing/property/post", 0, false, "outside"},
        {"TurnipRobot", 1, false, "outside"},
        {STUDIO_BASE "thing/property/post", 2, false, "QoS 2"},
        {STUDIO_BASE "thing/property/post", 0, true, "retain"},
    };
    size_t at = 0;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_onenet_event ev;
        peer *p = studio_online();
        publish_into_close(p, cases[i].topic, "{}", 2, cases[i].qos, cases[i].retain);
        CHECK(fake_onenet_next(server, &at, FAKE_ONENET_VIOLATION, NULL, WAIT_MS, &ev));
        assert_non_null(strstr(ev.why, cases[i].why));
        assert_true(peer_idle(p, 100) < 0);
        peer_free(p);
    }
}

static void test_studio_closes_on_a_puback_for_an_unknown_id(void **state)
{
    static const uint8_t puback[] = {0x40, 0x02, 0x00, 0x07};
    midge_connect_opts o = {STUDIO_DEVICE, STUDIO_PRODUCT, NULL, NULL, 120, true};
    uint8_t buf[512];
    uint8_t ack[4];
    fake_onenet_event ev;
    (void)state;

    o.password = make_token(STUDIO_KEY, STUDIO_DEVICE, "sha1", in_an_hour());
    int fd = raw_connect();
    raw_send(fd, buf, encode_connect(buf, sizeof buf, &o));
    assert_int_equal(loopback_read_exact(fd, ack, sizeof ack, WAIT_MS, NULL), LOOPBACK_OK);
    assert_int_equal(ack[3], 0);
    raw_send(fd, puback, sizeof puback);
    assert_int_equal(loopback_wait_closed(fd, WAIT_MS, NULL), LOOPBACK_CLOSED);
    close(fd);
    expect_event(FAKE_ONENET_VIOLATION, &ev);
    assert_non_null(strstr(ev.why, "unknown packet id"));
}

static void test_studio_second_connect_kicks_the_first(void **state)
{
    fake_onenet_event ev;
    (void)state;

    peer *first = studio_online();
    peer *second = studio_online();
    expect_event(FAKE_ONENET_KICKED, &ev);
    assert_int_equal(ev.conn, 1);
    assert_true(peer_idle(first, QUIET_MS) < 0);
    assert_int_equal(peer_idle(second, QUIET_MS), MIDGE_OK);
}

static void test_studio_drops_a_silent_device_after_one_and_a_half_keepalives(void **state)
{
    /* One keepalive second is 100 ms here: keepalive 10 lasts 1 s. */
    fake_onenet_config cfg = {
        .kind = FAKE_ONENET_STUDIO, .product_id = STUDIO_PRODUCT, .device_id = STUDIO_DEVICE,
        .secret = STUDIO_KEY, .keepalive_unit_ms = 100,
    };
    fake_onenet_event ev;
    size_t at = 0;
    (void)state;

    fake_onenet_stop(server);
    server = fake_onenet_start(&cfg);
    assert_non_null(server);
    const char *tok = make_token(STUDIO_KEY, STUDIO_DEVICE, "sha1", in_an_hour());

    /* A device that pings twice a keepalive stays. */
    peer *p = studio_peer(tok, 10, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(midge_client_ping(&p->client), MIDGE_OK);
        assert_int_equal(peer_idle(p, 500), MIDGE_OK);
    }
    CHECK(fake_onenet_tally(server, FAKE_ONENET_VIOLATION, NULL) == 0);
    peer_free(p);

    /* A silent one goes after 1.5 s, not before 1 s. */
    p = studio_peer(tok, 10, true);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    int64_t start = loopback_now_ms();
    CHECK(fake_onenet_next(server, &at, FAKE_ONENET_VIOLATION, NULL, WAIT_MS, &ev));
    assert_non_null(strstr(ev.why, "keepalive"));
    assert_true(loopback_now_ms() - start >= 1000);
}

#define LEGACY(fn) cmocka_unit_test_setup_teardown(fn, legacy_up, server_down)
#define STUDIO(fn) cmocka_unit_test_setup_teardown(fn, studio_up, server_down)

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEGACY(test_legacy_accepts_the_tutorial_connect),
        LEGACY(test_legacy_accepts_keepalive_0),
        LEGACY(test_legacy_wrong_api_key_gets_connack_4),
        LEGACY(test_legacy_wrong_device_id_gets_no_connack),
        LEGACY(test_legacy_wrong_product_id_gets_no_connack),
        LEGACY(test_legacy_keepalive_under_120_gets_no_connack),
        LEGACY(test_legacy_will_gets_no_connack),
        LEGACY(test_legacy_without_password_gets_no_connack),
        LEGACY(test_legacy_packet_before_connect_is_dropped),
        LEGACY(test_legacy_bytes_before_connack_are_a_violation),
        LEGACY(test_legacy_second_login_kicks_the_first),
        LEGACY(test_legacy_connack_delay_holds_the_connack),
        LEGACY(test_legacy_refuses_dollar_subscriptions),
        LEGACY(test_legacy_refuses_wildcards_and_grants_plain_topics_qos_0),
        LEGACY(test_legacy_pushes_creq_without_subscription),
        LEGACY(test_legacy_pushes_plain_topics_only_to_subscribers),
        LEGACY(test_legacy_nobody_live_nothing_pushed),
        LEGACY(test_legacy_records_publishes_and_acks_qos_1),
        LEGACY(test_legacy_dp_with_a_wrong_length_is_a_violation),
        LEGACY(test_legacy_retain_and_other_dollar_topics_are_violations),
        LEGACY(test_legacy_clean_session_0_keeps_the_subscriptions),
        LEGACY(test_legacy_answers_pings_and_records_disconnect),
        LEGACY(test_legacy_drop_closes_without_warning),
        STUDIO(test_studio_accepts_a_valid_token_for_every_method),
        STUDIO(test_studio_accepts_the_published_vector),
        STUDIO(test_studio_refuses_a_token_signed_with_another_key),
        STUDIO(test_studio_refuses_a_token_for_another_device),
        STUDIO(test_studio_refuses_an_expired_token_with_5),
        STUDIO(test_studio_refuses_a_tampered_or_garbled_token),
        STUDIO(test_studio_connect_rules_get_no_connack),
        STUDIO(test_studio_grants_own_filters_qos_0_and_refuses_others),
        STUDIO(test_studio_closes_on_nine_filters_in_one_subscribe),
        STUDIO(test_studio_pushes_only_to_subscribed_topics),
        STUDIO(test_studio_accepts_the_allowed_publish_topics),
        STUDIO(test_studio_closes_on_forbidden_publishes),
        STUDIO(test_studio_closes_on_a_puback_for_an_unknown_id),
        STUDIO(test_studio_second_connect_kicks_the_first),
        STUDIO(test_studio_drops_a_silent_device_after_one_and_a_half_keepalives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
