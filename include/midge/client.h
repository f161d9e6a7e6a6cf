/*
 * midge client: a session, a transport and a wait loop. The blocking calls
 * umqtt.simple users know (connect, publish, subscribe, wait_msg, check_msg,
 * ...), each a thin loop over the sans-I/O session.
 *
 * Portable: the platform supplies the transport opener, the clock and the
 * idle hook (midge_client_config.open and .platform; see platform.h). The
 * client references no operating-system symbol, so the same code runs on
 * POSIX (midge_tcp_opener and midge_posix_platform, port.h), on a board
 * with lwIP (midge_lwip_opener, lwip_tcp.h) and inside MicroPython.
 *
 * Memory: the caller owns the midge_client struct and the buffers passed in
 * midge_session_buffers; the client never allocates. Strings given to
 * midge_client_subscribe() are remembered by pointer (to renew subscriptions
 * after a reconnect) and must outlive the client; the connect options'
 * strings likewise (they are sent again on every reconnect).
 *
 * Every call returns a midge_status. After a failure status the connection
 * is closed; with auto_reconnect on, the next call reconnects (with backoff),
 * renews the subscriptions and resends what the session holds.
 *
 * Bounded calls. publish, subscribe, subscribe_many, unsubscribe and ping
 * take no timeout argument: each returns within cfg.call_timeout_ms,
 * waiting for room in the session (a full QoS 1/2 store, a full tx), for
 * a connection (auto_reconnect), for its SUBACK/UNSUBACK or for the socket.
 * A reconnect attempt made inside one of them gets no more than what is
 * left of the bound (keep the bound above connect_timeout_ms plus
 * connack_timeout_ms for these calls to reconnect by themselves). connect,
 * flush and poll have timeouts of their own; wait_msg has none.
 *
 * MIDGE_TIMEOUT (the bound passed) and MIDGE_ERR_INTERRUPTED (cfg.interrupted
 * said so) lose nothing and close nothing: the connection, if open, stays
 * open, and the session keeps what it held.
 *   publish: the message was not taken, and nothing of it is queued; the
 *     caller may publish it again. Messages taken earlier stay in the
 *     session store and are sent, or resent after a reconnect (section 4.4),
 *     as before. Once a message is taken (QoS 1/2: copied into the store,
 *     QoS 0: into tx), publish returns MIDGE_OK even if the bound passes
 *     before the socket has all of it: the rest leaves with the next call.
 *   subscribe, unsubscribe: the request may be queued or sent already and
 *     may still take effect at the broker; a filter is remembered for
 *     renewal only once granted, and unsubscribe forgets it in any case.
 *   ping: a PINGREQ not yet sent leaves with the next call.
 * Whatever the status, publish's topic and payload are the caller's again
 * once it returns (the message was copied, or not taken at all); the
 * filters of subscribe stay borrowed as said above.
 *
 * Nothing acknowledged is lost: a QoS 1/2 message is acknowledged to the
 * broker only when the message callback receives it. Until a callback is
 * set (midge_client_set_callback), and while the application holds
 * (midge_client_hold), incoming QoS 1/2 messages wait in the rx buffer
 * unacknowledged, in order, while acknowledgements of our own publishes
 * are still read; once rx is full of them the client reads no more (the
 * broker is pushed back on, and its queue grows, not ours). A queued
 * message from a persistent session may thus arrive with the CONNACK,
 * before connect returns, and still reach a callback set afterwards. QoS 0
 * messages are delivered even while held, and dropped when no callback is
 * set (they are never acknowledged). See midge_session_hold.
 *
 * A wrong acknowledgement: a broker that answers a QoS 1/2 publish with
 * the acknowledgement of another QoS (a PUBACK for QoS 2, as brokers that
 * downgrade QoS 2 do) ends the connection with MIDGE_ERR_WRONG_ACK; the
 * message is dropped, not resent, and the event callback gets
 * MIDGE_EV_PUBLISH_FAILED with its packet id. The call that sees the
 * connection end returns MIDGE_ERR_WRONG_ACK (with auto_reconnect the
 * loss is ridden out like any other), and the next midge_client_flush
 * returns it too, once.
 */
#ifndef MIDGE_CLIENT_H
#define MIDGE_CLIENT_H

#include "midge/config.h"
#include "midge/platform.h"
#include "midge/session.h"
#include "midge/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct midge_client midge_client;

/* Called once per application message. `topic` is NUL-terminated for the
 * duration of the call; the payload is valid only during the call.
 * Inside this callback (and the event callback) only midge_client_publish
 * may be called: it then queues without waiting (MIDGE_AGAIN when there is
 * no room); every other client call returns MIDGE_ERR_STATE. */
typedef void (*midge_message_fn)(void *user, const midge_publish *msg);

/* Called for every session event (connack, suback, published, closed...),
 * after the client's own handling. Optional. */
typedef void (*midge_client_event_fn)(void *user, const midge_event *ev);

typedef struct midge_client_config {
    const char *host;
    uint16_t port;
    midge_connect_opts connect;   /* client id, credentials, keepalive, clean session */
    uint32_t connect_timeout_ms;  /* TCP (and TLS) connect; 0 = 10000 */
    uint32_t connack_timeout_ms;  /* 0 = MIDGE_CONNACK_TIMEOUT_MS */
    bool auto_reconnect;          /* reconnect on loss inside every call that waits,
                                     except connect */
    uint32_t backoff_min_ms;      /* first reconnect delay; 0 = 500 */
    uint32_t backoff_max_ms;      /* cap of the doubling delay; 0 = 30000 */
    /* The bound of publish, subscribe(_many), unsubscribe and ping (see
     * "Bounded calls" above); 0 = 30000, UINT32_MAX = no limit. */
    uint32_t call_timeout_ms;
    midge_transport_open_fn open; /* required: opens the transport to host:port
                                     (midge_tcp_opener, midge_tls_opener, ...) */
    void *opener;                 /* context for `open` */
    const midge_platform *platform; /* required: clock and idle (platform.h);
                                       borrowed for the client's lifetime */
    /* Optional: asked after every wait inside connect, publish, subscribe,
     * unsubscribe, ping and wait_msg (not flush or poll, which have their
     * own deadlines); true abandons the call with MIDGE_ERR_INTERRUPTED
     * (e.g. a signal arrived), with what is kept as for MIDGE_TIMEOUT. */
    bool (*interrupted)(void *user);
    void *interrupt_user;
    midge_trace_fn trace;         /* optional packet trace (-d) */
    void *trace_user;
} midge_client_config;

struct midge_client {
    midge_session session; /* private fields from here on */
    midge_client_config cfg;
    midge_transport transport;
    bool transport_open;
    midge_message_fn on_message;
    void *message_user;
    midge_client_event_fn on_event;
    void *event_user;
    midge_will will;
    const char *sub_filters[MIDGE_CLIENT_MAX_SUBS];
    uint8_t sub_qos[MIDGE_CLIENT_MAX_SUBS];
    uint8_t sub_count;
    uint32_t backoff_ms;
    uint32_t retry_at_ms;
    /* scratch for the blocking calls */
    uint16_t wait_id;
    bool wait_done;
    int wait_status;
    uint8_t granted[MIDGE_CLIENT_MAX_SUBS];
    bool got_message;
    bool dispatching; /* inside a callback: no blocking call may run */
    uint32_t read_ms; /* clock of the last receive (publish reads once per ms) */
    bool hold;        /* midge_client_hold */
    bool release;     /* the session's hold ended: held messages get a turn */
    bool awaiting;    /* the call waits for the broker's replies (acks, SUBACK) */
    bool renew;       /* held messages were dropped: a new connection brings them */
    int dropped;      /* a publish dropped since the last flush (its status) */
};

/* MIDGE_ERR_INVALID when cfg lacks open or platform (or either of the
 * platform's functions). `host` may be NULL for an opener that needs none. */
midge_status midge_client_init(midge_client *c, const midge_client_config *cfg,
                               const midge_session_buffers *bufs);

/* The message callback. Until one is set, QoS 1/2 messages are held (see
 * "Nothing acknowledged is lost" above); setting one lets them through, in
 * order, from the next call that moves bytes. */
void midge_client_set_callback(midge_client *c, midge_message_fn fn, void *user);

/* Back-pressure for an application that cannot take messages for a while
 * (its own queue is full): with hold = true, QoS 1/2 messages stop at the
 * client, unacknowledged, and wait in the rx buffer; once it is full the
 * connection is not read. Acknowledgements of our own publishes are still
 * read while rx has room, and QoS 0 messages still delivered. hold = false
 * delivers the waiting messages, in order, from the next call that moves
 * bytes. May be called from the callbacks.
 *
 * A broker may send many messages ahead of the replies a call waits for
 * (mosquitto sends a client's whole queue without waiting for its
 * acknowledgements). When a publish, flush, subscribe, unsubscribe or ping
 * waits for a reply while rx is full of held messages, those are dropped,
 * unacknowledged, so that the reply behind them can be read: the broker
 * keeps them in flight and sends them again on the next connection (MQTT
 * 3.1.1 section 4.4; with a persistent session). Until then every later
 * QoS 1/2 message is held too, so none overtakes them, and once the hold
 * ends the next poll, wait_msg or check_msg closes the connection with
 * MIDGE_ERR_HELD_DROPPED (with auto_reconnect it reconnects at once) to
 * receive them. Nothing acknowledged is lost either way. While nothing is
 * read the keepalive bound runs too (a full rx for 1.5 x keepalive ends
 * the connection, with the same effect). */
void midge_client_hold(midge_client *c, bool hold);
void midge_client_set_event_callback(midge_client *c, midge_client_event_fn fn, void *user);

/* Before connect. The strings and payload must outlive the client. */
midge_status midge_client_set_last_will(midge_client *c, const char *topic, const void *payload,
                                        uint16_t len, uint8_t qos, bool retain);

/* Open the transport, send CONNECT, wait for CONNACK. Returns MIDGE_OK, a
 * MIDGE_REFUSED_* code, or a local failure. *session_present may be NULL. */
midge_status midge_client_connect(midge_client *c, bool *session_present);

/* Send DISCONNECT, flush, close. */
midge_status midge_client_disconnect(midge_client *c);

/* Close the connection without DISCONNECT, as a lost link would: the
 * broker publishes the will (MQTT 3.1.1 section 3.1.2.5). Nothing more is
 * sent; unacknowledged QoS 1/2 messages stay in the session for a later
 * connect, and no reconnect is scheduled. For an application that could
 * not say goodbye properly and wants the will to say it.
 * MIDGE_ERR_NOT_CONNECTED when there is no connection. */
midge_status midge_client_abort(midge_client *c);

/* Send PINGREQ now (the client also does it by itself at keepalive).
 * Bounded by call_timeout_ms. */
midge_status midge_client_ping(midge_client *c);

/* Publish. QoS 0 returns once the bytes are handed to the transport; QoS 1/2
 * return once the message is in the session store and sent (not yet
 * acknowledged: see midge_client_flush). *packet_id may be NULL. Waits for
 * room (and, with auto_reconnect, for a connection) up to call_timeout_ms:
 * MIDGE_TIMEOUT then means the message was not taken (see above). */
midge_status midge_client_publish(midge_client *c, const char *topic, const void *payload,
                                  size_t len, uint8_t qos, bool retain, uint16_t *packet_id);

/* Wait until every QoS 1/2 publish is acknowledged, or timeout_ms passed
 * (MIDGE_TIMEOUT; UINT32_MAX = no limit). Messages arriving meanwhile go to
 * the callback. MIDGE_ERR_WRONG_ACK when a message was dropped for a wrong
 * acknowledgement since the previous flush (see above). */
midge_status midge_client_flush(midge_client *c, uint32_t timeout_ms);

/* Subscribe and wait for SUBACK. MIDGE_ERR_SUBSCRIBE when the broker answers
 * 0x80. `filter` is kept by pointer for resubscription. The SUBACK wait ends
 * with MIDGE_TIMEOUT after connack_timeout_ms or call_timeout_ms, whichever
 * is shorter; the whole call within call_timeout_ms. */
midge_status midge_client_subscribe(midge_client *c, const char *filter, uint8_t qos);

/* Several filters in one SUBSCRIBE; granted[i] gets each return code (0x80 =
 * refused; the call then returns MIDGE_ERR_SUBSCRIBE). granted may be NULL. */
midge_status midge_client_subscribe_many(midge_client *c, const midge_subscription *subs,
                                         size_t count, uint8_t *granted);

/* Unsubscribe and wait for UNSUBACK, bounded as subscribe. */
midge_status midge_client_unsubscribe(midge_client *c, const char *filter);

/* Block until one application message has been handed to the callback, a
 * failure, or cfg.interrupted; no bound (midge_client_poll has one). */
midge_status midge_client_wait_msg(midge_client *c);

/* Process whatever has arrived without blocking; MIDGE_OK whether or not a
 * message came. */
midge_status midge_client_check_msg(midge_client *c);

/* Move bytes, run timers and deliver messages for up to timeout_ms
 * (UINT32_MAX = no limit); returns after the first batch of incoming
 * packets, or MIDGE_TIMEOUT if none came. */
midge_status midge_client_poll(midge_client *c, uint32_t timeout_ms);

bool midge_client_is_connected(const midge_client *c);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_CLIENT_H */
