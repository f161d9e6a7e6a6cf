/*
 * midge session: the protocol state of one MQTT 3.1.1 connection, sans I/O.
 *
 *   bytes in   midge_session_rx_space() + midge_session_received(), or midge_session_feed()
 *   bytes out  midge_session_pending() + midge_session_sent()
 *   time in    `now_ms` on every call (any monotonic millisecond source; wrap-safe)
 *   events out the callback given to midge_session_init()
 *
 * The session never touches a socket, a clock or the heap. Its RAM is
 * sizeof(midge_session) plus the buffers in midge_session_buffers, all owned
 * by the caller (static, stack or heap) and borrowed until the session is no
 * longer used.
 *
 * Lifecycle of one connection:
 *   1. the caller opens a transport, then calls midge_session_connect();
 *   2. it moves bytes both ways and calls midge_session_tick() when
 *      midge_session_next_timeout() says so;
 *   3. MIDGE_EV_CONNACK says the broker accepted (or refused) it;
 *   4. when any call returns a failure status, or the transport fails, the
 *      caller closes the transport and calls midge_session_transport_lost().
 * The outgoing QoS 1/2 store and the incoming QoS 2 table survive step 4:
 * after the next CONNACK with session present = 1 the unacknowledged
 * PUBLISHes are resent with DUP set and PUBRELs resent, in their original
 * order (section 4.4). With session present = 0 they are discarded and
 * MIDGE_EV_SESSION_LOST tells the caller how many (outgoing messages the
 * broker may have seen plus incoming QoS 2 ids); a QoS 1/2 message queued
 * but never sent is kept and goes out on the new session.
 *
 * Nothing acknowledged is lost: a QoS 1/2 message is acknowledged (PUBACK,
 * PUBREC) only as it is handed to the callback, in the same call. A caller
 * that cannot take messages yet (no consumer, a full queue of its own)
 * holds the session (midge_session_hold): QoS 1/2 PUBLISHes then wait in
 * rx, unacknowledged, and once rx is full of them no more bytes fit, which
 * pushes back on the connection rather than on memory.
 *
 * A broker that acknowledges one of our QoS 1/2 PUBLISHes with the wrong
 * packet (a PUBACK for QoS 2, as a broker that downgrades QoS 2 sends; a
 * PUBREC for QoS 1; a PUBCOMP before PUBREC) ends the connection with
 * MIDGE_ERR_WRONG_ACK. The message is dropped from the store, not resent
 * (a resend would meet the same answer), and MIDGE_EV_PUBLISH_FAILED
 * names its packet id just before MIDGE_EV_CLOSED.
 */
#ifndef MIDGE_SESSION_H
#define MIDGE_SESSION_H

#include "midge/codec.h"
#include "midge/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caller-owned memory. Sizing:
 *  - tx: at least the largest packet sent (CONNECT, or a QoS 0 PUBLISH:
 *    2..5 + 2 + topic + payload). 256 B suits a small device.
 *  - rx: the largest packet accepted; a larger one ends the connection with
 *    MIDGE_ERR_TOO_BIG before any of its payload is buffered.
 *  - store: outgoing QoS 1/2 messages awaiting acknowledgement, each taking its
 *    encoded size + MIDGE_STORE_RECORD_OVERHEAD bytes. May be NULL/0 for a
 *    QoS 0-only client (publish at QoS > 0 then returns MIDGE_ERR_NO_SPACE).
 *  - rx_qos2_ids: packet ids of incoming QoS 2 messages between PUBREC and
 *    PUBREL (duplicate suppression). 2 bytes each; 0 entries refuses QoS 2
 *    (the connection is closed with MIDGE_ERR_INFLIGHT_FULL when full). */
typedef struct midge_session_buffers {
    uint8_t *tx;
    size_t tx_size;
    uint8_t *rx;
    size_t rx_size;
    uint8_t *store;
    size_t store_size;
    uint16_t *rx_qos2_ids;
    uint16_t rx_qos2_cap;
} midge_session_buffers;

typedef enum midge_event_type {
    MIDGE_EV_CONNACK,      /* connack.*; status = MIDGE_OK or a MIDGE_REFUSED_* */
    MIDGE_EV_MESSAGE,      /* message: an application message, delivered once */
    MIDGE_EV_PUBLISHED,    /* packet_id: a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) publish completed */
    MIDGE_EV_SUBACK,       /* packet_id, suback.codes/count (0x80 = refused) */
    MIDGE_EV_UNSUBACK,     /* packet_id */
    MIDGE_EV_PINGRESP,
    MIDGE_EV_SESSION_LOST, /* session_lost.discarded: in-flight messages dropped */
    MIDGE_EV_CLOSED,       /* status: why the connection must be closed; closed.* */
    /* packet_id: a QoS 1/2 publish dropped unfinished, not to be resent;
     * status: why (MIDGE_ERR_WRONG_ACK). MIDGE_EV_CLOSED follows. */
    MIDGE_EV_PUBLISH_FAILED
} midge_event_type;

/* Pointers inside an event are valid only during the callback. */
typedef struct midge_event {
    midge_event_type type;
    midge_status status;
    uint16_t packet_id;
    union {
        midge_connack connack;
        midge_publish message;
        midge_suback suback;
        struct {
            size_t discarded;
        } session_lost;
        struct {
            /* MIDGE_ERR_TOO_BIG: the refused packet's whole size, from its
             * fixed header (none of it was buffered); 0 otherwise. */
            size_t packet_size;
        } closed;
    };
} midge_event;

/* The callback must not call midge_session_received/feed/tick re-entrantly;
 * it may call publish/subscribe/unsubscribe/ping/disconnect. */
typedef void (*midge_event_fn)(void *user, const midge_event *ev);

/* Optional packet trace (for -d): every whole packet queued for sending
 * (outgoing = true) and every whole packet decoded (outgoing = false). */
typedef void (*midge_trace_fn)(void *user, bool outgoing, const uint8_t *packet, size_t len);

enum midge_session_state {
    MIDGE_SESSION_IDLE = 0,   /* no transport */
    MIDGE_SESSION_CONNECTING, /* CONNECT queued, awaiting CONNACK */
    MIDGE_SESSION_CONNECTED,
    MIDGE_SESSION_CLOSING,    /* DISCONNECT queued: flush, then close */
    MIDGE_SESSION_FAILED      /* must close the transport */
};

/* Visible so it can be declared static; every field is private. The order
 * is for code size on microcontrollers: the fields used most come first,
 * within reach of the short load and store forms of Thumb-2 (bytes up to
 * offset 31, words up to 124) and Xtensa (words up to 60). */
typedef struct midge_session {
    uint8_t state;
    uint8_t flags;
    uint16_t keepalive_s;
    uint16_t next_id;
    uint16_t rx_qos2_cap, rx_qos2_count;
    uint16_t pending_acks[MIDGE_MAX_PENDING_ACKS];
    bool hold; /* midge_session_hold() */
    uint8_t *tx;
    uint32_t tx_size, tx_len, tx_off;
    uint8_t *rx;
    uint32_t rx_size, rx_len;
    uint8_t *store;
    uint32_t store_size, store_len, store_head;
    uint32_t last_tx_ms, last_rx_ms, connect_ms;
    uint32_t connack_timeout_ms;
    midge_event_fn on_event;
    void *user;
    midge_trace_fn trace;
    uint16_t *rx_qos2_ids;
    uint32_t rx_held; /* rx[0, rx_held): held PUBLISHes (midge_session_hold) */
} midge_session;

void midge_session_init(midge_session *s, const midge_session_buffers *bufs,
                        midge_event_fn on_event, void *user);
void midge_session_set_trace(midge_session *s, midge_trace_fn trace);
void midge_session_set_connack_timeout(midge_session *s, uint32_t ms);

/* Start a connection on a fresh transport: clears tx/rx and queues CONNECT.
 * The options' strings are read during this call only. */
midge_status midge_session_connect(midge_session *s, const midge_connect_opts *opts,
                                   uint32_t now_ms);

/* Queue a PUBLISH. QoS 0: only while connected; MIDGE_AGAIN when tx has no
 * room now (flush and retry). QoS 1/2: the message is copied into the store
 * and sent as soon as the session is connected and tx has room; *packet_id
 * (may be NULL) receives its id; MIDGE_AGAIN when the store is full
 * (wait for acknowledgements). The first id of a session is 1. */
midge_status midge_session_publish(midge_session *s, const midge_publish *msg,
                                   uint16_t *packet_id, uint32_t now_ms);

/* Queue a SUBSCRIBE with `count` filters; only while connected. */
midge_status midge_session_subscribe(midge_session *s, const midge_subscription *subs,
                                     size_t count, uint16_t *packet_id, uint32_t now_ms);
midge_status midge_session_unsubscribe(midge_session *s, const char *const *filters,
                                       size_t count, uint16_t *packet_id, uint32_t now_ms);
midge_status midge_session_ping(midge_session *s, uint32_t now_ms);

/* Queue DISCONNECT; the state becomes CLOSING. Close the transport once
 * midge_session_pending() returns 0. */
midge_status midge_session_disconnect(midge_session *s, uint32_t now_ms);

/* Bytes waiting to be sent (0 = nothing). *data stays valid until the next
 * call on the session other than midge_session_pending itself. */
size_t midge_session_pending(midge_session *s, const uint8_t **data);

/* `n` bytes of the pending data were handed to the transport. */
void midge_session_sent(midge_session *s, size_t n, uint32_t now_ms);

/* Zero-copy receive: free room at the end of the rx buffer. Read at most the
 * returned size into *buf, then call midge_session_received() with the count. */
size_t midge_session_rx_space(midge_session *s, uint8_t **buf);

/* Process `n` bytes just written into the rx space. Events fire from here.
 * Returns MIDGE_OK, or the failure that ends the connection. A packet whose
 * acknowledgement does not fit in tx stays unprocessed in rx; it is handled
 * by the next midge_session_received() (n may be 0) or midge_session_feed()
 * once tx has room (midge_session_sent() never processes rx). */
midge_status midge_session_received(midge_session *s, size_t n, uint32_t now_ms);

/* Copying receive: processes as much of `data` as fits; *used gets the bytes
 * taken (less than len only when rx is full of unprocessed bytes because tx
 * has no room for the acknowledgements: flush, then feed the rest; or full
 * of held PUBLISHes: release the hold first). */
midge_status midge_session_feed(midge_session *s, const uint8_t *data, size_t len,
                                size_t *used, uint32_t now_ms);

/* Hold incoming QoS 1/2 messages (hold = true) or let them through again.
 * While held, the session goes on decoding rx in order, but a QoS 1/2
 * PUBLISH is neither delivered nor acknowledged: its bytes stay at the
 * front of rx, in arrival order, and every other packet behind it
 * (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP) is handled
 * as usual, so our own publishes still complete. Once one PUBLISH is held,
 * every later QoS 1/2 PUBLISH waits behind it, even if the hold ends
 * meanwhile. A QoS 0 PUBLISH is still delivered: it is never
 * acknowledged, so the broker learns nothing from its delivery, and a
 * caller that cannot take it may drop it (at most once, MQTT 3.1.1 section
 * 4.3.1); it may thus overtake held QoS 1/2 messages. When rx is full of
 * held PUBLISHes, midge_session_rx_space() returns 0 and the caller reads
 * no more: the connection pushes back on the broker. Releasing takes
 * effect on the next midge_session_received() (n may be 0) or
 * midge_session_feed(), which handles the held messages first, in order.
 * May be called from the event callback (the next packet sees it). The
 * hold outlives connections and midge_session_reset(); held bytes do not
 * (a lost transport drops them, unacknowledged, for the broker to send
 * again on a persistent session). */
void midge_session_hold(midge_session *s, bool hold);

/* Timers: queue PINGREQ after keepalive without sending; fail with
 * MIDGE_ERR_KEEPALIVE after 1.5 x keepalive without receiving, and with
 * MIDGE_ERR_CONNACK_TIMEOUT when CONNACK is late. */
midge_status midge_session_tick(midge_session *s, uint32_t now_ms);

/* Milliseconds until midge_session_tick() has something to do (0 = now);
 * UINT32_MAX when no timer runs. */
uint32_t midge_session_next_timeout(const midge_session *s, uint32_t now_ms);

/* The transport is gone (closed by either side). Partial packets are dropped;
 * the store and the incoming QoS 2 table are kept for the next connect. */
void midge_session_transport_lost(midge_session *s);

/* Throw away every in-flight message and QoS 2 record (a fresh start). */
void midge_session_reset(midge_session *s);

enum midge_session_state midge_session_state(const midge_session *s);
bool midge_session_is_connected(const midge_session *s);

/* Outgoing QoS 1/2 messages not yet completed (sent or queued). */
size_t midge_session_inflight(const midge_session *s);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_SESSION_H */
