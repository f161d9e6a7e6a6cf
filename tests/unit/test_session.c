/*
 * The session engine's connection life: CONNECT/CONNACK, timers, bytes in
 * (sizes, malformed input, partial reads, back-pressure) and closing.
 * Driven by a scripted transport and a fake clock (fake_transport.h): bytes
 * a broker would send go in, the bytes the session queues come out and are
 * compared with golden vectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "midge/session.h"

/* "a/b" (FAKE_TOPIC) and "hi", the message most tests publish. */
#define TOPIC_AB 0x00, 0x03, 'a', '/', 'b'
#define PAYLOAD_HI 'h', 'i'

static const midge_connect_opts clean_opts = {
    .client_id = "dev1", .keepalive_s = 60, .clean_session = true};

static void expect_nothing_out(fake_link *l) { assert_int_equal(fake_link_drain(l), 0); }

static void setup_connected(fake_link *l)
{
    fake_link_init(l, 256, 256, 256, 4);
    fake_link_connect(l, &clean_opts, false);
}

/* --- CONNECT / CONNACK ----------------------------------------------------- */

static void test_connect_queues_connect_packet(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_CONNECTING);
    EXPECT_OUT(&l, 0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00,
               0x04, 'd', 'e', 'v', '1');
}

static void test_connack_accepted_emits_connack_and_connects(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    const fake_event *ev = fake_link_last(&l, MIDGE_EV_CONNACK);
    assert_non_null(ev);
    assert_int_equal(ev->status, MIDGE_OK);
    assert_false(ev->session_present);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_CONNECTED);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_SESSION_LOST), 0);
}

static void test_connack_refused_codes_map_to_refused_statuses(void **state)
{
    static const struct {
        uint8_t code;
        midge_status status;
        const char *name;
    } cases[] = {
        {1, MIDGE_REFUSED_PROTOCOL, "MIDGE_REFUSED_PROTOCOL"},
        {2, MIDGE_REFUSED_IDENTIFIER, "MIDGE_REFUSED_IDENTIFIER"},
        {3, MIDGE_REFUSED_UNAVAILABLE, "MIDGE_REFUSED_UNAVAILABLE"},
        {4, MIDGE_REFUSED_CREDENTIALS, "MIDGE_REFUSED_CREDENTIALS"},
        {5, MIDGE_REFUSED_NOT_AUTHORIZED, "MIDGE_REFUSED_NOT_AUTHORIZED"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_link l;
        fake_link_init(&l, 256, 256, 256, 4);
        assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
        uint8_t connack[] = {0x20, 0x02, 0x00, cases[i].code};
        assert_int_equal(fake_link_feed(&l, connack, sizeof connack, NULL), cases[i].status);
        assert_string_equal(midge_status_name(cases[i].status), cases[i].name);
        const fake_event *ev = fake_link_last(&l, MIDGE_EV_CONNACK);
        assert_non_null(ev);
        assert_int_equal(ev->status, cases[i].status);
        assert_int_equal(ev->return_code, cases[i].code);
        assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->status, cases[i].status);
        assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
    }
}

static void test_nothing_but_connect_is_sent_before_connack(void **state)
{
    fake_link l;
    uint16_t id = 0;
    midge_subscription sub = {"a/#", 1};
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    /* QoS 1 is stored for later; QoS 0, SUBSCRIBE and PINGREQ are refused. */
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(id, 1);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_ERR_NOT_CONNECTED);
    assert_int_equal(midge_session_subscribe(&l.session, &sub, 1, NULL, 0),
                     MIDGE_ERR_NOT_CONNECTED);
    assert_int_equal(midge_session_ping(&l.session, 0), MIDGE_ERR_NOT_CONNECTED);
    expect_nothing_out(&l);
    /* MQTT 3.1.1 section 3.1.4: the stored PUBLISH goes once CONNACK is in. */
    FEED_OK(&l, 0x20, 0x02, 0x00, 0x00);
    EXPECT_OUT(&l, 0x32, 0x09, TOPIC_AB, 0x00, 0x01, PAYLOAD_HI);
}

static void test_second_connack_is_protocol_error(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0x20, 0x02, 0x00, 0x00), NULL),
                     MIDGE_ERR_PROTOCOL);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
}

static void test_packet_before_connack_is_protocol_error(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0xD0, 0x00), NULL), MIDGE_ERR_PROTOCOL);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->status, MIDGE_ERR_PROTOCOL);
}

/* MQTT 3.1.1 section 3.2.2.2: with CleanSession = 1 session present must be 0. */
static void test_session_present_on_clean_session_is_protocol_error(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0x20, 0x02, 0x01, 0x00), NULL),
                     MIDGE_ERR_PROTOCOL);
}

/* --- Timers ------------------------------------------------------------- */

static void test_connack_timeout_fails_connection(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    l.now = 1000;
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, l.now), MIDGE_OK);
    assert_int_equal(midge_session_next_timeout(&l.session, l.now), MIDGE_CONNACK_TIMEOUT_MS);
    assert_int_equal(midge_session_tick(&l.session, 1000 + MIDGE_CONNACK_TIMEOUT_MS - 1),
                     MIDGE_OK);
    assert_int_equal(midge_session_tick(&l.session, 1000 + MIDGE_CONNACK_TIMEOUT_MS),
                     MIDGE_ERR_CONNACK_TIMEOUT);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->status, MIDGE_ERR_CONNACK_TIMEOUT);

    /* A session's own timeout, counted from connect. */
    midge_session_transport_lost(&l.session);
    midge_session_set_connack_timeout(&l.session, 500);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 5000), MIDGE_OK);
    assert_int_equal(midge_session_tick(&l.session, 5499), MIDGE_OK);
    assert_int_equal(midge_session_tick(&l.session, 5500), MIDGE_ERR_CONNACK_TIMEOUT);
}

static void test_pingreq_after_keepalive_of_tx_silence_not_before(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l); /* keepalive 60 s, CONNECT left at 0 ms */
    assert_int_equal(midge_session_next_timeout(&l.session, 0), 60000);
    assert_int_equal(midge_session_tick(&l.session, 59999), MIDGE_OK);
    expect_nothing_out(&l);
    assert_int_equal(midge_session_tick(&l.session, 60000), MIDGE_OK);
    l.now = 60000;
    EXPECT_OUT(&l, 0xC0, 0x00);

    /* Any packet sent restarts the interval (section 3.1.2.10). */
    l.now = 100000;
    FEED_OK(&l, 0xD0, 0x00);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    assert_int_equal(midge_session_tick(&l.session, 159999), MIDGE_OK);
    expect_nothing_out(&l);
    assert_int_equal(midge_session_tick(&l.session, 160000), MIDGE_OK);
    EXPECT_OUT(&l, 0xC0, 0x00);
}

/* A client that only publishes QoS 0 never idles its tx; the broker never
 * answers QoS 0. It must still ping once rx has been silent for the
 * keepalive, or its own 1.5 x rule would drop a healthy connection. */
static void test_publishing_client_pings_when_rx_is_silent(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l); /* keepalive 60 s; CONNACK received at 0 ms */
    for (uint32_t t = 1000; t < 60000; t += 1000) {
        l.now = t;
        assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
        fake_link_drain(&l);
        assert_int_equal(midge_session_tick(&l.session, t), MIDGE_OK);
    }
    l.out_len = 0;
    l.now = 60000;
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    assert_int_equal(midge_session_tick(&l.session, 60000), MIDGE_OK);
    EXPECT_OUT(&l, 0xC0, 0x00);

    /* Only one ping while it is unanswered, however busy tx stays. */
    for (uint32_t t = 61000; t < 89000; t += 1000) {
        l.now = t;
        assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
        fake_link_drain(&l);
        l.out_len = 0;
        assert_int_equal(midge_session_tick(&l.session, t), MIDGE_OK);
        expect_nothing_out(&l);
    }
    /* The PINGRESP proves the broker alive: no failure at 90 s. */
    l.now = 89000;
    FEED_OK(&l, 0xD0, 0x00);
    assert_int_equal(midge_session_tick(&l.session, 90000), MIDGE_OK);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_CONNECTED);
}

static void test_keepalive_fails_after_one_and_a_half_without_rx(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    assert_int_equal(midge_session_tick(&l.session, 60000), MIDGE_OK); /* PINGREQ */
    assert_int_equal(midge_session_next_timeout(&l.session, 60000), 30000);
    assert_int_equal(midge_session_tick(&l.session, 89999), MIDGE_OK);
    assert_int_equal(midge_session_tick(&l.session, 90000), MIDGE_ERR_KEEPALIVE);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->status, MIDGE_ERR_KEEPALIVE);
}

static void test_pingresp_moves_keepalive_deadline(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    l.now = 60000;
    assert_int_equal(midge_session_tick(&l.session, l.now), MIDGE_OK);
    EXPECT_OUT(&l, 0xC0, 0x00);
    l.now = 61000;
    FEED_OK(&l, 0xD0, 0x00);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PINGRESP), 1);
    assert_int_equal(midge_session_tick(&l.session, 90000), MIDGE_OK);
    assert_int_equal(midge_session_tick(&l.session, 150999), MIDGE_OK);
    assert_int_equal(midge_session_tick(&l.session, 151000), MIDGE_ERR_KEEPALIVE);
}

static void test_timers_survive_clock_wrap(void **state)
{
    fake_link l;
    midge_connect_opts opts = clean_opts;
    (void)state;

    opts.keepalive_s = 2;
    fake_link_init(&l, 256, 256, 256, 4);
    l.now = UINT32_MAX - 999;
    fake_link_connect(&l, &opts, false);
    assert_int_equal(midge_session_next_timeout(&l.session, l.now), 2000);
    assert_int_equal(midge_session_tick(&l.session, l.now + 1999u), MIDGE_OK);
    expect_nothing_out(&l);
    assert_int_equal(midge_session_tick(&l.session, l.now + 2000u), MIDGE_OK);
    EXPECT_OUT(&l, 0xC0, 0x00);
    assert_int_equal(midge_session_tick(&l.session, l.now + 3000u), MIDGE_ERR_KEEPALIVE);
}

static void test_keepalive_zero_runs_no_timer(void **state)
{
    fake_link l;
    midge_connect_opts opts = clean_opts;
    (void)state;

    opts.keepalive_s = 0;
    fake_link_init(&l, 256, 256, 256, 4);
    fake_link_connect(&l, &opts, false);
    assert_int_equal(midge_session_next_timeout(&l.session, 0), UINT32_MAX);
    assert_int_equal(midge_session_tick(&l.session, 0x7FFFFFFFu), MIDGE_OK);
    expect_nothing_out(&l);
}

/* --- Bytes in ------------------------------------------------------------- */

static void test_packet_larger_than_rx_fails_too_big_from_header(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 32, 256, 4);
    fake_link_connect(&l, &clean_opts, false);
    /* Only the fixed header: 2 + 100 bytes can never fit 32. */
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0x30, 0x64), NULL), MIDGE_ERR_TOO_BIG);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->status, MIDGE_ERR_TOO_BIG);
    /* The event names the refused size, so the user can be told it. */
    assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->count, 102);
}

static void test_malformed_packet_fails_protocol(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0x40, 0x03, 0x00, 0x01, 0x00), NULL),
                     MIDGE_ERR_PROTOCOL);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0xD0, 0x00), NULL), MIDGE_ERR_STATE);

    setup_connected(&l);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(0xF0), NULL), MIDGE_ERR_PROTOCOL);
}

static void test_feed_one_byte_at_a_time_decodes_everything(void **state)
{
    static const uint8_t script[] = {
        0x20, 0x02, 0x00, 0x00,                             /* CONNACK */
        0x30, 0x07, TOPIC_AB, PAYLOAD_HI,                   /* QoS 0 */
        0x32, 0x09, TOPIC_AB, 0x00, 0x05, PAYLOAD_HI,       /* QoS 1 id 5 */
        0x34, 0x09, TOPIC_AB, 0x00, 0x06, PAYLOAD_HI,       /* QoS 2 id 6 */
        0x62, 0x02, 0x00, 0x06,                             /* PUBREL 6 */
        0xD0, 0x00,                                         /* PINGRESP */
    };
    fake_link l;
    size_t used = 0;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    for (size_t i = 0; i < sizeof script; i++) {
        assert_int_equal(fake_link_feed(&l, &script[i], 1, &used), MIDGE_OK);
        assert_int_equal(used, 1);
    }
    assert_int_equal(fake_link_count(&l, MIDGE_EV_CONNACK), 1);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 3);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PINGRESP), 1);
    assert_int_equal(l.traced_in, 6);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x05, 0x50, 0x02, 0x00, 0x06, 0x70, 0x02, 0x00, 0x06);
}

static void test_zero_copy_receive_processes_written_bytes(void **state)
{
    fake_link l;
    uint8_t *space = NULL;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    assert_int_equal(midge_session_connect(&l.session, &clean_opts, 0), MIDGE_OK);
    size_t room = midge_session_rx_space(&l.session, &space);
    assert_int_equal(room, 256);
    memcpy(space, FAKE_BYTES(0x20, 0x02, 0x00, 0x00, 0x30));
    assert_int_equal(midge_session_received(&l.session, 5, 0), MIDGE_OK);
    assert_true(midge_session_is_connected(&l.session));
    /* The partial PUBLISH stays, the room shrinks by it alone. */
    assert_int_equal(midge_session_rx_space(&l.session, &space), 255);
}

static void test_backpressure_holds_rx_until_tx_drains(void **state)
{
    static const uint8_t incoming[] = {
        0x32, 0x09, TOPIC_AB, 0x00, 0x01, PAYLOAD_HI,
        0x32, 0x09, TOPIC_AB, 0x00, 0x02, PAYLOAD_HI,
        0x32, 0x09, TOPIC_AB, 0x00, 0x03, PAYLOAD_HI,
    };
    fake_link l;
    size_t used = 0;
    (void)state;

    fake_link_init(&l, 16, 16, 256, 4);
    fake_link_connect(&l, &(midge_connect_opts){.client_id = "d", .clean_session = true}, false);
    /* 13 of 16 tx bytes used: no room for a 4-byte PUBACK. */
    assert_int_equal(fake_link_publish(&l, "hello!", 0, NULL), MIDGE_OK);
    assert_int_equal(fake_link_feed(&l, incoming, sizeof incoming, &used), MIDGE_OK);
    assert_int_equal(used, 16); /* rx full, nothing processed */
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);

    /* Once tx drains, feeding the rest resumes with the held bytes. */
    fake_link_drain(&l);
    l.out_len = 0;
    size_t done = used;
    while (done < sizeof incoming) {
        assert_int_equal(fake_link_feed(&l, incoming + done, sizeof incoming - done, &used),
                         MIDGE_OK);
        done += used;
        fake_link_drain(&l);
    }
    assert_int_equal(fake_link_feed(&l, NULL, 0, &used), MIDGE_OK);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 3);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02, 0x40, 0x02, 0x00, 0x03);
}

/* --- Closing ------------------------------------------------------------- */

static void test_disconnect_queues_disconnect_and_stops_store(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    assert_int_equal(midge_session_disconnect(&l.session, 0), MIDGE_OK);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_CLOSING);
    assert_int_equal(fake_link_publish(&l, "hi", 1, NULL), MIDGE_OK); /* kept for later */
    EXPECT_OUT(&l, 0xE0, 0x00);
    assert_int_equal(midge_session_disconnect(&l.session, 0), MIDGE_ERR_NOT_CONNECTED);
}

static void test_trace_reports_every_packet_each_way(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);                /* CONNECT out, CONNACK in */
    assert_int_equal(fake_link_publish(&l, "hi", 1, NULL), MIDGE_OK);
    fake_link_drain(&l);                /* PUBLISH out when copied to tx */
    FEED_OK(&l, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(l.traced_out, 2);
    assert_int_equal(l.traced_in, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_queues_connect_packet),
        cmocka_unit_test(test_connack_accepted_emits_connack_and_connects),
        cmocka_unit_test(test_connack_refused_codes_map_to_refused_statuses),
        cmocka_unit_test(test_nothing_but_connect_is_sent_before_connack),
        cmocka_unit_test(test_second_connack_is_protocol_error),
        cmocka_unit_test(test_packet_before_connack_is_protocol_error),
        cmocka_unit_test(test_session_present_on_clean_session_is_protocol_error),
        cmocka_unit_test(test_connack_timeout_fails_connection),
        cmocka_unit_test(test_pingreq_after_keepalive_of_tx_silence_not_before),
        cmocka_unit_test(test_keepalive_fails_after_one_and_a_half_without_rx),
        cmocka_unit_test(test_publishing_client_pings_when_rx_is_silent),
        cmocka_unit_test(test_pingresp_moves_keepalive_deadline),
        cmocka_unit_test(test_timers_survive_clock_wrap),
        cmocka_unit_test(test_keepalive_zero_runs_no_timer),
        cmocka_unit_test(test_packet_larger_than_rx_fails_too_big_from_header),
        cmocka_unit_test(test_malformed_packet_fails_protocol),
        cmocka_unit_test(test_feed_one_byte_at_a_time_decodes_everything),
        cmocka_unit_test(test_zero_copy_receive_processes_written_bytes),
        cmocka_unit_test(test_backpressure_holds_rx_until_tx_drains),
        cmocka_unit_test(test_disconnect_queues_disconnect_and_stops_store),
        cmocka_unit_test(test_trace_reports_every_packet_each_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
