/*
 * A scripted transport and a fake clock for driving a midge_session in unit
 * tests, with no socket and no sleeping.
 *
 *   bytes in   fake_link_feed(): what a broker would send
 *   bytes out  fake_link_drain() / fake_link_take(): everything the session
 *              queued, as a broker would receive it
 *   time       link->now, a plain millisecond counter the test advances
 *   events     copied into link->events (pointers in a midge_event are only
 *              valid during the callback, so topic, payload and SUBACK codes
 *              are copied into fixed arrays)
 */
#ifndef MIDGE_TEST_FAKE_TRANSPORT_H
#define MIDGE_TEST_FAKE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/session.h"

#define FAKE_LINK_BUF_MAX 1024
#define FAKE_LINK_QOS2_MAX 16
#define FAKE_LINK_EVENTS_MAX 64
#define FAKE_LINK_TEXT_MAX 64
#define FAKE_LINK_OUT_MAX 8192

typedef struct fake_event {
    midge_event_type type;
    midge_status status;
    uint16_t packet_id;
    bool session_present;
    uint8_t return_code;
    uint8_t qos;
    bool dup;
    char topic[FAKE_LINK_TEXT_MAX];     /* NUL-terminated copy */
    char payload[FAKE_LINK_TEXT_MAX];   /* NUL-terminated copy */
    uint8_t codes[FAKE_LINK_TEXT_MAX];  /* SUBACK return codes */
    size_t count; /* SUBACK code count, SESSION_LOST discarded, CLOSED packet_size */
} fake_event;

typedef struct fake_link {
    midge_session session;
    uint32_t now; /* the fake clock, in ms */
    uint8_t tx[FAKE_LINK_BUF_MAX];
    uint8_t rx[FAKE_LINK_BUF_MAX];
    uint8_t store[FAKE_LINK_BUF_MAX];
    uint16_t qos2[FAKE_LINK_QOS2_MAX];
    fake_event events[FAKE_LINK_EVENTS_MAX];
    size_t event_count;
    uint8_t out[FAKE_LINK_OUT_MAX]; /* bytes collected from the session */
    size_t out_len;
    size_t traced_out; /* packets reported to the trace callback, each way */
    size_t traced_in;
    /* Non-zero: the event callback holds the session (midge_session_hold)
     * once this many messages were delivered, as an application whose
     * queue just filled up would. */
    size_t hold_after;
} fake_link;

/* Sizes are clamped to the arrays above; store_size 0 passes a NULL store. */
void fake_link_init(fake_link *l, size_t tx_size, size_t rx_size, size_t store_size,
                    uint16_t qos2_cap);

/* Move every pending byte out of the session into l->out; returns the count. */
size_t fake_link_drain(fake_link *l);

/* Drain, then hand the collected bytes to the caller (at most cap) and
 * forget them. Returns the byte count. */
size_t fake_link_take(fake_link *l, uint8_t *buf, size_t cap);

/* midge_session_feed() with the link's clock; *used may be NULL. */
midge_status fake_link_feed(fake_link *l, const void *bytes, size_t len, size_t *used);

/* Drain and compare everything collected with `want` (cmocka assertions),
 * then forget it. */
void fake_link_expect(fake_link *l, const uint8_t *want, size_t len);

/* Connect with `opts`: CONNECT is sent and dropped from l->out, then a
 * CONNACK (return code 0, the given session present) is fed back. Asserts
 * that the session is connected. */
void fake_link_connect(fake_link *l, const midge_connect_opts *opts, bool session_present);

/* Publish `payload` on FAKE_TOPIC ("a/b"). */
#define FAKE_TOPIC "a/b"
midge_status fake_link_publish(fake_link *l, const char *payload, uint8_t qos, uint16_t *id);

/* A byte array literal and its length, for golden vectors. */
#define FAKE_BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})
#define EXPECT_OUT(l, ...) fake_link_expect((l), FAKE_BYTES(__VA_ARGS__))
#define FEED_OK(l, ...) \
    assert_int_equal(fake_link_feed((l), FAKE_BYTES(__VA_ARGS__), NULL), MIDGE_OK)

/* The last event of a type, or NULL; and how many of that type came. */
const fake_event *fake_link_last(const fake_link *l, midge_event_type type);
size_t fake_link_count(const fake_link *l, midge_event_type type);

#endif /* MIDGE_TEST_FAKE_TRANSPORT_H */
