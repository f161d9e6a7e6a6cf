/*
 * Nothing acknowledged is lost: the session's hold (midge_session_hold).
 * Held QoS 1/2 PUBLISHes are neither delivered nor acknowledged; they wait
 * at the front of rx, in order, while the packets behind them are handled,
 * until rx is full; a release delivers them first. Driven by a scripted
 * transport and a fake clock (fake_transport.h) with golden byte vectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "midge/session.h"

/* "a/b" (FAKE_TOPIC) and "hi"; a QoS 1 PUBLISH of them is 11 bytes. */
#define TOPIC_AB 0x00, 0x03, 'a', '/', 'b'
#define PAYLOAD_HI 'h', 'i'
#define PUBLISH1(id) 0x32, 0x09, TOPIC_AB, 0x00, (id), PAYLOAD_HI
#define PUBLISH1_LEN 11u

static const midge_connect_opts persistent_opts = {
    .client_id = "dev1", .keepalive_s = 60, .clean_session = false};

static void expect_nothing_out(fake_link *l) { assert_int_equal(fake_link_drain(l), 0); }

static size_t rx_room(fake_link *l)
{
    uint8_t *space = NULL;
    return midge_session_rx_space(&l->session, &space);
}

/* The id of the n-th (from 0) message delivered. */
static uint16_t message_id(const fake_link *l, size_t n)
{
    for (size_t i = 0; i < l->event_count; i++) {
        if (l->events[i].type == MIDGE_EV_MESSAGE && n-- == 0) {
            return l->events[i].packet_id;
        }
    }
    fail_msg("fewer messages than asked for");
    return 0;
}

/* Release the hold: the next receive, with no new bytes, delivers what
 * waited; `delivered` messages in all by then. */
static void release(fake_link *l, size_t delivered)
{
    midge_session_hold(&l->session, false);
    assert_int_equal(midge_session_received(&l->session, 0, l->now), MIDGE_OK);
    assert_int_equal(fake_link_count(l, MIDGE_EV_MESSAGE), delivered);
}

static void setup_held(fake_link *l, size_t rx_size)
{
    fake_link_init(l, 256, rx_size, 256, 4);
    midge_session_hold(&l->session, true);
    fake_link_connect(l, &persistent_opts, true);
}

/* A persistent session's queued message arrives in the same read as the
 * CONNACK, before the application could say it takes messages. */
static void test_publish_with_connack_waits_unacknowledged_until_release(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    midge_session_hold(&l.session, true);
    assert_int_equal(midge_session_connect(&l.session, &persistent_opts, l.now), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    FEED_OK(&l, 0x20, 0x02, 0x01, 0x00, PUBLISH1(0x07));
    assert_true(midge_session_is_connected(&l.session));
    assert_int_equal(fake_link_count(&l, MIDGE_EV_CONNACK), 1);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);
    expect_nothing_out(&l); /* no PUBACK: the broker keeps it */
    assert_int_equal(rx_room(&l), 256 - PUBLISH1_LEN);

    midge_session_hold(&l.session, false);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0); /* not before the next call */
    assert_int_equal(midge_session_received(&l.session, 0, l.now), MIDGE_OK);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    assert_int_equal(message_id(&l, 0), 7);
    assert_string_equal(fake_link_last(&l, MIDGE_EV_MESSAGE)->payload, "hi");
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x07);
    assert_int_equal(rx_room(&l), 256);
}

static void test_held_publish_lets_the_puback_of_our_publish_through(void **state)
{
    fake_link l;
    uint16_t id = 0;
    (void)state;

    setup_held(&l, 256);
    assert_int_equal(fake_link_publish(&l, "up", 1, &id), MIDGE_OK);
    fake_link_drain(&l);
    l.out_len = 0;
    /* Held PUBLISH, our PUBACK, a PINGRESP, another PUBLISH: in one read. */
    FEED_OK(&l, PUBLISH1(0x10), 0x40, 0x02, 0x00, (uint8_t)id, 0xD0, 0x00, PUBLISH1(0x11));
    assert_int_equal(fake_link_last(&l, MIDGE_EV_PUBLISHED)->packet_id, id);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PINGRESP), 1);
    assert_int_equal(midge_session_inflight(&l.session), 0);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);
    expect_nothing_out(&l);
    /* The handled packets are gone; the two PUBLISHes stay, contiguous. */
    assert_int_equal(rx_room(&l), 256 - 2 * PUBLISH1_LEN);

    /* More arrives while held: handled behind them again. */
    FEED_OK(&l, 0xD0, 0x00);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PINGRESP), 2);
    assert_int_equal(rx_room(&l), 256 - 2 * PUBLISH1_LEN);

    midge_session_hold(&l.session, false);
    FEED_OK(&l, PUBLISH1(0x12));
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 3);
    assert_int_equal(message_id(&l, 0), 0x10);
    assert_int_equal(message_id(&l, 1), 0x11);
    assert_int_equal(message_id(&l, 2), 0x12);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x10, 0x40, 0x02, 0x00, 0x11, 0x40, 0x02, 0x00, 0x12);
}

static void test_rx_full_of_held_publishes_takes_no_more_bytes(void **state)
{
    static const uint8_t incoming[] = {PUBLISH1(1), PUBLISH1(2), PUBLISH1(3), PUBLISH1(4),
                                       0xD0, 0x00};
    fake_link l;
    size_t used = 0;
    (void)state;

    setup_held(&l, 3 * PUBLISH1_LEN);
    assert_int_equal(fake_link_feed(&l, incoming, sizeof incoming, &used), MIDGE_OK);
    assert_int_equal(used, 3 * PUBLISH1_LEN);
    assert_int_equal(rx_room(&l), 0);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);
    expect_nothing_out(&l);
    /* Still held: not a byte more. */
    assert_int_equal(fake_link_feed(&l, incoming + used, sizeof incoming - used, &used),
                     MIDGE_OK);
    assert_int_equal(used, 0);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);

    midge_session_hold(&l.session, false);
    size_t done = 3 * PUBLISH1_LEN;
    assert_int_equal(fake_link_feed(&l, incoming + done, sizeof incoming - done, &used),
                     MIDGE_OK);
    assert_int_equal(used, sizeof incoming - done);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(message_id(&l, i), i + 1);
    }
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PINGRESP), 1);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02, 0x40, 0x02, 0x00, 0x03,
               0x40, 0x02, 0x00, 0x04);
}

/* QoS 0 is never acknowledged: delivered while held (session.h). */
static void test_qos0_publish_is_delivered_while_held(void **state)
{
    fake_link l;
    (void)state;

    setup_held(&l, 256);
    FEED_OK(&l, PUBLISH1(0x21), 0x30, 0x07, TOPIC_AB, 'z', 'z');
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    assert_int_equal(fake_link_last(&l, MIDGE_EV_MESSAGE)->qos, 0);
    assert_int_equal(rx_room(&l), 256 - PUBLISH1_LEN);
    expect_nothing_out(&l);
}

/* A QoS 2 PUBLISH is held as QoS 1 is: no PUBREC, no id remembered. */
static void test_held_qos2_publish_gets_pubrec_only_when_delivered(void **state)
{
    fake_link l;
    (void)state;

    setup_held(&l, 256);
    FEED_OK(&l, 0x34, 0x09, TOPIC_AB, 0x00, 0x31, PAYLOAD_HI);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);
    expect_nothing_out(&l);
    release(&l, 1);
    EXPECT_OUT(&l, 0x50, 0x02, 0x00, 0x31);
}

/* The application's queue fills while a read is being handled: it holds
 * from its callback, and the rest of the same read waits. */
static void test_hold_from_the_callback_stops_the_rest_of_the_read(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    fake_link_connect(&l, &persistent_opts, true);
    l.hold_after = 1;
    FEED_OK(&l, PUBLISH1(1), PUBLISH1(2), 0xD0, 0x00, PUBLISH1(3));
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 1);
    assert_int_equal(fake_link_count(&l, MIDGE_EV_PINGRESP), 1);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(rx_room(&l), 256 - 2 * PUBLISH1_LEN);

    l.hold_after = 0;
    release(&l, 3);
    assert_int_equal(message_id(&l, 1), 2);
    assert_int_equal(message_id(&l, 2), 3);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x02, 0x40, 0x02, 0x00, 0x03);
}

/* Released while the acknowledgements have no tx room: the held messages
 * still go first, each as room appears, and nothing overtakes them. */
static void test_release_without_tx_room_keeps_the_order(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 16, 256, 256, 4);
    midge_session_hold(&l.session, true);
    fake_link_connect(&l, &(midge_connect_opts){.client_id = "d"}, true);
    FEED_OK(&l, PUBLISH1(1), PUBLISH1(2));
    /* 13 of 16 tx bytes used: no room for a 4-byte PUBACK. */
    assert_int_equal(fake_link_publish(&l, "hello!", 0, NULL), MIDGE_OK);
    midge_session_hold(&l.session, false);
    FEED_OK(&l, PUBLISH1(3));
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);
    fake_link_drain(&l);
    l.out_len = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(midge_session_received(&l.session, 0, l.now), MIDGE_OK);
        fake_link_drain(&l);
    }
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(message_id(&l, i), i + 1);
    }
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02, 0x40, 0x02, 0x00, 0x03);
}

/* Held bytes are not acknowledged, so a lost connection may drop them: the
 * broker sends them again. The hold itself is the caller's and stays. */
static void test_transport_loss_drops_held_bytes_and_keeps_the_hold(void **state)
{
    fake_link l;
    (void)state;

    setup_held(&l, 256);
    FEED_OK(&l, PUBLISH1(5));
    midge_session_transport_lost(&l.session);
    fake_link_connect(&l, &persistent_opts, true);
    assert_int_equal(rx_room(&l), 256);
    FEED_OK(&l, PUBLISH1(5));
    assert_int_equal(fake_link_count(&l, MIDGE_EV_MESSAGE), 0);
    release(&l, 1);
    EXPECT_OUT(&l, 0x40, 0x02, 0x00, 0x05);
}

/* The hold does not hide a broker that publishes before its CONNACK. */
static void test_publish_before_connack_while_held_is_protocol_error(void **state)
{
    fake_link l;
    (void)state;

    fake_link_init(&l, 256, 256, 256, 4);
    midge_session_hold(&l.session, true);
    assert_int_equal(midge_session_connect(&l.session, &persistent_opts, l.now), MIDGE_OK);
    fake_link_drain(&l);
    assert_int_equal(fake_link_feed(&l, FAKE_BYTES(PUBLISH1(1), 0x20, 0x02, 0x00, 0x00), NULL),
                     MIDGE_ERR_PROTOCOL);
    assert_int_equal(midge_session_state(&l.session), MIDGE_SESSION_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_with_connack_waits_unacknowledged_until_release),
        cmocka_unit_test(test_held_publish_lets_the_puback_of_our_publish_through),
        cmocka_unit_test(test_rx_full_of_held_publishes_takes_no_more_bytes),
        cmocka_unit_test(test_qos0_publish_is_delivered_while_held),
        cmocka_unit_test(test_held_qos2_publish_gets_pubrec_only_when_delivered),
        cmocka_unit_test(test_hold_from_the_callback_stops_the_rest_of_the_read),
        cmocka_unit_test(test_release_without_tx_room_keeps_the_order),
        cmocka_unit_test(test_transport_loss_drops_held_bytes_and_keeps_the_hold),
        cmocka_unit_test(test_publish_before_connack_while_held_is_protocol_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
