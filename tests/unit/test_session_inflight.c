/*
 * The session engine's in-flight messages: QoS 0/1/2 in both directions,
 * packet ids, SUBSCRIBE/UNSUBSCRIBE and the resend after a reconnect
 * (MQTT 3.1.1 section 4.4). Driven by a scripted transport and a fake clock
 * (fake_transport.h) with golden byte vectors.
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
static const midge_connect_opts persistent_opts = {
    .client_id = "dev1", .keepalive_s = 60, .clean_session = false};

static void expect_nothing_out(fake_link *l) { assert_int_equal(fake_link_drain(l), 0); }

static void setup_connected(fake_link *l)
{
    fake_link_init(l, 256, 256, 256, 4);
    fake_link_connect(l, &clean_opts, false);
}

/* --- Outgoing QoS 1 / 2 ---------------------------------------------------- */

static void test_qos1_publish_completes_on_puback(void **state)
{
    fake_link l;
    uint16_t id = 0;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(id, 1);
    assert_int_equal(midge_session_inflight(&l.session), 1);
    EXPECT_OUT(&l, 0x32, 0x09, TOPIC_AB, 0x00, 0x01, PAYLOAD_HI);
    FEED_OK(&l, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_PUBLISHED)->packet_id, 1);
    assert_int_equal(midge_session_inflight(&l.session), 0);
    expect_nothing_out(&l);
}

static void test_qos2_publish_flow_pubrec_pubrel_pubcomp(void **state)
{
    fake_link l;
    uint16_t id = 0;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_publish(&l, "hi", 2, &id), MIDGE_OK);
    EXPECT_OUT(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x01, PAYLOAD_HI);
    FEED_OK(&l, 0x50, 0x02, 0x00, 0x01);
    EXPECT_OUT(&l, 0x62, 0x02, 0x00, 0x01);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PUBLISHED), 0);
    assert_int_equal(midge_session_inflight(&l.session), 1);
    FEED_OK(&l, 0x70, 0x02, 0x00, 0x01);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_PUBLISHED)->packet_id, 1);
    assert_int_equal(midge_session_inflight(&l.session), 0);
}

static void test_unknown_puback_and_pubcomp_are_ignored(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    FEED_OK(&l, 0x40, 0x02, 0x00, 0x09, 0x70, 0x02, 0x00, 0x09);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PUBLISHED), 0);
    assert_true(midge_session_is_connected(&l.session));
    expect_nothing_out(&l);
}

/* MQTT 3.1.1 section 4.3.3: PUBREC is answered with PUBREL, known id or not. */
static void test_unknown_pubrec_is_answered_with_pubrel(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    FEED_OK(&l, 0x50, 0x02, 0x00, 0x09);
    EXPECT_OUT(&l, 0x62, 0x02, 0x00, 0x09);
    assert_true(midge_session_is_connected(&l.session));
}

/* A QoS 2 PUBLISH answered with PUBREC twice: PUBREL both times (4.3.3). */
static void test_repeated_pubrec_is_answered_with_pubrel_again(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_publish(&l, "hi", 2, NULL), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    FEED_OK(&l, 0x50, 0x02, 0x00, 0x01);
    EXPECT_OUT(&l, 0x62, 0x02, 0x00, 0x01);
    FEED_OK(&l, 0x50, 0x02, 0x00, 0x01);
    EXPECT_OUT(&l, 0x62, 0x02, 0x00, 0x01);
    FEED_OK(&l, 0x70, 0x02, 0x00, 0x01);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_PUBLISHED)->packet_id, 1);
}

/* The broker answers message 1 (QoS `qos`, taken to PUBREL first when
 * `pubrel`) with `ack`: the connection ends with MIDGE_ERR_WRONG_ACK, the
 * message is reported and dropped, and a new connection with the session
 * present resends nothing. */
static void expect_wrong_ack(uint8_t qos, bool pubrel, uint8_t ack)
{
    fake_link l;
    uint16_t id = 0;

    fake_link_init(&l, 256, 256, 256, 4);
    fake_link_connect(&l, &persistent_opts, false);
    assert_int_equal(fake_link_publish(&l, "hi", qos, &id), MIDGE_OK);
    fake_link_drain(&l);
    if (pubrel) {
        FEED_OK(&l, 0x50, 0x02, 0x00, 0x01);
    }
    l.out_len = 0;
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(ack, 0x02, 0x00, 0x01), NULL),
                     MIDGE_ERR_WRONG_ACK);
    const fake_event *failed = fake_link_last(&l, MIDGE_EV_PUBLISH_FAILED);
    assert_non_null(failed);
    assert_int_equal(failed->packet_id, id);
    assert_int_equal(failed->status, MIDGE_ERR_WRONG_ACK);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PUBLISHED), 0);
    const fake_event *closed = &l.events[l.event_count - 1];
    assert_int_equal(closed->type, MIDGE_EV_CLOSED);
    assert_int_equal(closed->status, MIDGE_ERR_WRONG_ACK);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
    assert_int_equal(midge_session_inflight(&l.session), 0);
    expect_nothing_out(&l);

    midge_session_transport_lost(&l.session);
    fake_link_connect(&l, &persistent_opts, true);
    expect_nothing_out(&l);
}

/* A broker that downgrades QoS 2 (RabbitMQ) answers with PUBACK. */
static void test_puback_for_qos2_publish_fails_wrong_ack(void **state)
{
    (void)state;
    expect_wrong_ack(2, false, 0x40);
}

static void test_pubrec_for_qos1_publish_fails_wrong_ack(void **state)
{
    (void)state;
    expect_wrong_ack(1, false, 0x50);
}

static void test_pubcomp_before_pubrec_fails_wrong_ack(void **state)
{
    (void)state;
    expect_wrong_ack(2, false, 0x70);
    expect_wrong_ack(1, false, 0x70);
}

static void test_puback_after_pubrec_fails_wrong_ack(void **state)
{
    (void)state;
    expect_wrong_ack(2, true, 0x40);
}

static void test_qos1_publish_store_full_is_again_never_fitting_is_no_space(void **state)
{
    fake_link l;
    uint16_t id = 0;
    char big[64];
    (void)state;

    /* One record: 3 bytes of bookkeeping + an 11-byte PUBLISH. */
    fake_link_init(&l, 256, 256, 3 + 11 + 5, 4);
    fake_link_connect(&l, &clean_opts, false);
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "hi", 1, NULL), MIDGE_AGAIN);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fake_link_publish(&l, big, 2, NULL), MIDGE_ERR_NO_SPACE);
    fake_link_drain(&l);
    FEED_OK(&l, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(id, 2);

    fake_link_init(&l, 256, 256, 0, 4); /* no store at all */
    fake_link_connect(&l, &clean_opts, false);
    assert_int_equal(fake_link_publish(&l, "hi", 1, NULL), MIDGE_ERR_NO_SPACE);
}

static void test_packet_id_wraps_to_1_and_skips_ids_in_flight(void **state)
{
    fake_link l;
    uint16_t id = 0;
    uint16_t held = 0;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_publish(&l, "hi", 1, &held), MIDGE_OK);
    assert_int_equal(held, 1); /* stays in flight throughout */
    for (uint32_t want = 2; want <= 65535u; want++) {
        assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
        assert_int_equal(id, want);
        fake_link_drain(&l);
        l.out_len = 0;
        uint8_t puback[] = {0x40, 0x02, (uint8_t)(id >> 8), (uint8_t)id};
        assert_int_equal(fake_link_feed(&l, puback, sizeof puback, NULL), MIDGE_OK);
    }
    /* 65535 wraps to 1 (0 is never an id), and 1 is still unacknowledged. */
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(id, 2);
    assert_int_equal(midge_session_inflight(&l.session), 2);
}

static void test_first_packet_id_after_reset_is_1(void **state)
{
    fake_link l;
    uint16_t id = 0;
    (void)state;

    setup_connected(&l);
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "hi", 2, &id), MIDGE_OK);
    assert_int_equal(id, 2);
    midge_session_reset(&l.session);
    assert_int_equal(midge_session_inflight(&l.session), 0);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_IDLE);
    fake_link_connect(&l, &clean_opts, false);
    assert_int_equal(fake_link_publish(&l, "hi", 1, &id), MIDGE_OK);
    assert_int_equal(id, 1);
}

/* --- QoS 0 out ------------------------------------------------------------- */

static void test_qos0_publish_needs_connection_and_tx_room(void **state)
{
    fake_link l;
    char big[64];
    (void)state;

    fake_link_init(&l, 32, 256, 256, 4);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_ERR_NOT_CONNECTED);
    fake_link_connect(&l, &(midge_connect_opts){.client_id = "d", .clean_session = true}, false);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_AGAIN); /* 27 of 32 bytes used */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fake_link_publish(&l, big, 0, NULL), MIDGE_ERR_NO_SPACE);
    EXPECT_OUT(&l, 0x30, 0x07, TOPIC_AB, PAYLOAD_HI, 0x30, 0x07, TOPIC_AB, PAYLOAD_HI, 0x30, 0x07,
               TOPIC_AB, PAYLOAD_HI);
    assert_int_equal(fake_link_publish(&l, "hi", 0, NULL), MIDGE_OK);
}

/* --- Incoming ------------------------------------------------------------ */

static void test_qos1_incoming_is_delivered_and_acked(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    FEED_OK(&l, 0x32, 0x09, TOPIC_AB, 0x12, 0x34, PAYLOAD_HI);
    const fake_event *ev = fake_link_last(&l, MIDGE_EV_MESSAGE);
    assert_non_null(ev);
    assert_string_equal(ev->topic, "a/b");
    assert_string_equal(ev->payload, "hi");
    assert_int_equal(ev->qos, 1);
    assert_int_equal(ev->packet_id, 0x1234);
    EXPECT_OUT(&l, 0x40, 0x02, 0x12, 0x34);
}

static void test_qos0_incoming_is_delivered_without_ack(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    FEED_OK(&l, 0x30, 0x07, TOPIC_AB, PAYLOAD_HI);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    expect_nothing_out(&l);
}

static void test_qos2_incoming_pubrec_then_pubrel_gets_pubcomp(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    EXPECT_OUT(&l, 0x50, 0x02, 0x00, 0x07);
    FEED_OK(&l, 0x62, 0x02, 0x00, 0x07);
    EXPECT_OUT(&l, 0x70, 0x02, 0x00, 0x07);
    /* PUBREL for an id never seen still gets PUBCOMP (section 4.3.3). */
    FEED_OK(&l, 0x62, 0x02, 0x00, 0x08);
    EXPECT_OUT(&l, 0x70, 0x02, 0x00, 0x08);
}

static void test_qos2_duplicate_publish_delivered_once(void **state)
{
    fake_link l;
    (void)state;

    setup_connected(&l);
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI);
    FEED_OK(&l, 0x3C, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI); /* resent with DUP */
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    EXPECT_OUT(&l, 0x50, 0x02, 0x00, 0x07, 0x50, 0x02, 0x00, 0x07);
    FEED_OK(&l, 0x62, 0x02, 0x00, 0x07);
    EXPECT_OUT(&l, 0x70, 0x02, 0x00, 0x07);
    /* After PUBREL the id is free: the same id is a new message. */
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 2);
}

static void test_qos2_duplicate_suppressed_across_reconnect(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    fake_link_connect(&l, &persistent_opts, false);
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI);
    midge_session_transport_lost(&l.session);
    fake_link_connect(&l, &persistent_opts, true);
    FEED_OK(&l, 0x3C, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    EXPECT_OUT(&l, 0x50, 0x02, 0x00, 0x07);
}

static void test_qos2_table_full_fails_inflight_full(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 1);
    fake_link_connect(&l, &clean_opts, false);
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x01, PAYLOAD_HI);
    midge_status st =
        fake_link_feed(&l, FAKE_BYTES(0x34, 0x09, TOPIC_AB, 0x00, 0x02, PAYLOAD_HI), NULL);
    assert_int_equal(st, MIDGE_ERR_INFLIGHT_FULL);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_CLOSED)->status, MIDGE_ERR_INFLIGHT_FULL);
}

/* --- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------- */

static void test_suback_failure_code_reported(void **state)
{
    fake_link l;
    uint16_t id = 0;
    midge_subscription subs[] = {{"a/#", 1}, {"b", 2}};
    (void)state;

    setup_connected(&l);
    assert_int_equal(midge_session_subscribe(&l.session, subs, 2, &id, 0), MIDGE_OK);
    assert_int_equal(id, 1);
    EXPECT_OUT(&l, 0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01, 0x00, 0x01, 'b',
               0x02);
    FEED_OK(&l, 0x90, 0x02 + 2, 0x00, 0x01, 0x01, 0x80);
    const fake_event *ev = fake_link_last(&l, MIDGE_EV_SUBACK);
    assert_non_null(ev);
    assert_int_equal(ev->packet_id, 1);
    assert_int_equal(ev->count, 2);
    assert_int_equal(ev->codes[0], 0x01);
    assert_int_equal(ev->codes[1], MIDGE_SUBACK_FAILURE);
    /* The same id again is no longer expected: tolerated, not reported. */
    FEED_OK(&l, 0x90, 0x03, 0x00, 0x01, 0x00);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_SUBACK), 1);
}

static void test_unsuback_reported(void **state)
{
    fake_link l;
    uint16_t id = 0;
    const char *filters[] = {"a/#"};
    (void)state;

    setup_connected(&l);
    assert_int_equal(midge_session_unsubscribe(&l.session, filters, 1, &id, 0), MIDGE_OK);
    EXPECT_OUT(&l, 0xA2, 0x07, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#');
    FEED_OK(&l, 0xB0, 0x02, 0x00, 0x09); /* unexpected id: ignored */
    assert_int_equal(fake_link_count(&l, MIDGE_EV_UNSUBACK), 0);
    FEED_OK(&l, 0xB0, 0x02, 0x00, 0x01);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_UNSUBACK)->packet_id, 1);
}

static void test_subscribe_again_when_every_ack_slot_busy(void **state)
{
    fake_link l;
    uint16_t id = 0;
    midge_subscription sub = {"a", 0};
    (void)state;

    setup_connected(&l);
    for (int i = 0; i < MIDGE_MAX_PENDING_ACKS; i++) {
        assert_int_equal(midge_session_subscribe(&l.session, &sub, 1, &id, 0), MIDGE_OK);
    }
    assert_int_equal(midge_session_subscribe(&l.session, &sub, 1, NULL, 0), MIDGE_AGAIN);
    FEED_OK(&l, 0x90, 0x03, 0x00, 0x02, 0x00);
    assert_int_equal(midge_session_subscribe(&l.session, &sub, 1, &id, 0), MIDGE_OK);
    assert_int_equal(id, MIDGE_MAX_PENDING_ACKS + 1);
}

/* --- Reconnection (section 4.4) ----------------------------------------------- */

static void test_resend_after_reconnect_in_order_with_dup_and_pubrel(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    fake_link_connect(&l, &persistent_opts, false);
    assert_int_equal(fake_link_publish(&l, "1", 1, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "2", 2, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "3", 1, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "4", 2, NULL), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    FEED_OK(&l, 0x50, 0x02, 0x00, 0x02); /* message 2 reached the broker */
    EXPECT_OUT(&l, 0x62, 0x02, 0x00, 0x02);
    midge_session_transport_lost(&l.session);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_IDLE);
    assert_int_equal(midge_session_inflight(&l.session), 4);

    fake_link_connect(&l, &persistent_opts, true);
    EXPECT_OUT(&l, 0x3A, 0x08, TOPIC_AB, 0x00, 0x01, '1', /* DUP, QoS 1 */
               0x62, 0x02, 0x00, 0x02,                    /* PUBREL in its place */
               0x3A, 0x08, TOPIC_AB, 0x00, 0x03, '3',     /* DUP, QoS 1 */
               0x3C, 0x08, TOPIC_AB, 0x00, 0x04, '4');    /* DUP, QoS 2 */
    assert_int_equal(fake_link_count(&l, MIDGE_EV_SESSION_LOST), 0);
    FEED_OK(&l, 0x40, 0x02, 0x00, 0x03, 0x70, 0x02, 0x00, 0x02);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PUBLISHED), 2);
    assert_int_equal(midge_session_inflight(&l.session), 2);
}

static void test_session_present_0_discards_and_reports_session_lost(void **state)
{
    fake_link l;
    uint16_t id = 0;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    fake_link_connect(&l, &persistent_opts, false);
    assert_int_equal(fake_link_publish(&l, "1", 1, NULL), MIDGE_OK);
    assert_int_equal(fake_link_publish(&l, "2", 2, NULL), MIDGE_OK);
    fake_link_drain(&l);
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI); /* held until PUBREL */
    midge_session_transport_lost(&l.session);
    /* Queued while offline: the broker never saw it, so it is kept. */
    assert_int_equal(fake_link_publish(&l, "3", 1, &id), MIDGE_OK);
    assert_int_equal(id, 3);
    l.out_len = 0;

    fake_link_connect(&l, &persistent_opts, false);
    const fake_event *lost = fake_link_last(&l, MIDGE_EV_SESSION_LOST);
    assert_non_null(lost);
    assert_int_equal(lost->count, 3); /* 2 outgoing + 1 incoming QoS 2 */
    assert_int_equal(midge_session_inflight(&l.session), 1);
    EXPECT_OUT(&l, 0x32, 0x08, TOPIC_AB, 0x00, 0x03, '3');
    /* The incoming QoS 2 id was forgotten: the same id is a new message. */
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x07, PAYLOAD_HI);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qos1_publish_completes_on_puback),
        cmocka_unit_test(test_qos2_publish_flow_pubrec_pubrel_pubcomp),
        cmocka_unit_test(test_unknown_puback_and_pubcomp_are_ignored),
        cmocka_unit_test(test_unknown_pubrec_is_answered_with_pubrel),
        cmocka_unit_test(test_repeated_pubrec_is_answered_with_pubrel_again),
        cmocka_unit_test(test_puback_for_qos2_publish_fails_wrong_ack),
        cmocka_unit_test(test_pubrec_for_qos1_publish_fails_wrong_ack),
        cmocka_unit_test(test_pubcomp_before_pubrec_fails_wrong_ack),
        cmocka_unit_test(test_puback_after_pubrec_fails_wrong_ack),
        cmocka_unit_test(test_qos1_publish_store_full_is_again_never_fitting_is_no_space),
        cmocka_unit_test(test_packet_id_wraps_to_1_and_skips_ids_in_flight),
        cmocka_unit_test(test_first_packet_id_after_reset_is_1),
        cmocka_unit_test(test_qos0_publish_needs_connection_and_tx_room),
        cmocka_unit_test(test_qos1_incoming_is_delivered_and_acked),
        cmocka_unit_test(test_qos0_incoming_is_delivered_without_ack),
        cmocka_unit_test(test_qos2_incoming_pubrec_then_pubrel_gets_pubcomp),
        cmocka_unit_test(test_qos2_duplicate_publish_delivered_once),
        cmocka_unit_test(test_qos2_duplicate_suppressed_across_reconnect),
        cmocka_unit_test(test_qos2_table_full_fails_inflight_full),
        cmocka_unit_test(test_suback_failure_code_reported),
        cmocka_unit_test(test_unsuback_reported),
        cmocka_unit_test(test_subscribe_again_when_every_ack_slot_busy),
        cmocka_unit_test(test_resend_after_reconnect_in_order_with_dup_and_pubrel),
        cmocka_unit_test(test_session_present_0_discards_and_reports_session_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
