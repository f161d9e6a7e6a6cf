/*
 * midge client: configuration and the blocking calls, each a loop over the
 * sans-I/O session.
 *
 * Shape of every loop: one "step" (client_io.c) moves bytes (send what tx
 * holds, wait for the socket up to the earlier of the caller's deadline and
 * the session's next timer, receive straight into the session's rx space),
 * then runs the session's timers. A call ends when its own condition holds
 * (CONNACK seen, SUBACK with our id, store empty...), its deadline passes,
 * or a step fails. Opening, losing and reviving the connection live in
 * client_connect.c; what the session reports, in client_event.c.
 *
 * No heap, no globals: everything sits in the caller's midge_client.
 */
#include <string.h>

#include "client_internal.h"

/* Defaults documented in client.h. */
#define CLIENT_CONNECT_TIMEOUT_MS 10000u
#define CLIENT_BACKOFF_MIN_MS 500u
#define CLIENT_BACKOFF_MAX_MS 30000u
#define CLIENT_CALL_TIMEOUT_MS 30000u

/* The bound of calls that have none (connect, wait_msg, and the reconnect
 * attempts of flush, poll and check_msg, which keep their own timeouts). */
static const client_deadline client_unbounded = { 0u, true };

/* The bound of one publish, subscribe, unsubscribe or ping. */
static client_deadline client_call_deadline(const midge_client *c)
{
    return client__deadline_in(c, c->cfg.call_timeout_ms);
}

/*
 * Hand what a publish just queued to the transport. While an application
 * only publishes, a receive per message is a system call that almost always
 * finds nothing, so a publish reads (and runs the timers) at most once per
 * clock millisecond, the resolution of every timer; in between it only
 * sends. Acknowledgements and messages still come in at least that often,
 * and at once whenever a full store or a full socket makes a publish wait.
 * It sits beside its one caller so that the compiler inlines it there.
 */
static midge_status client_push(midge_client *c, const client_deadline *d, uint32_t now)
{
    if (c->transport_open && now == c->read_ms) {
        bool blocked;
        midge_status st = client__send(c, &blocked);
        if (st != MIDGE_OK) {
            /* As client__pump: with auto_reconnect a loss is not returned. */
            st = client__lost(c, st);
            return c->cfg.auto_reconnect ? MIDGE_OK : st;
        }
        if (!blocked)
            return MIDGE_OK;
    }
    return client__drain(c, d);
}

/* --- subscriptions remembered for reconnects ------------------------------ */

static int client_find_sub(const midge_client *c, const char *filter)
{
    for (int i = 0; i < c->sub_count; i++) {
        if (strcmp(c->sub_filters[i], filter) == 0)
            return i;
    }
    return -1;
}

/* How many of `subs` are not remembered yet (the table must take them). */
static size_t client_new_subs(const midge_client *c, const midge_subscription *subs, size_t count)
{
    size_t fresh = 0;
    for (size_t i = 0; i < count; i++) {
        if (client_find_sub(c, subs[i].filter) < 0)
            fresh++;
    }
    return fresh;
}

static void client_remember(midge_client *c, const midge_subscription *sub)
{
    int i = client_find_sub(c, sub->filter);
    if (i < 0) {
        if (c->sub_count >= MIDGE_CLIENT_MAX_SUBS)
            return;
        i = c->sub_count++;
    }
    c->sub_filters[i] = sub->filter;
    c->sub_qos[i] = sub->qos;
}

static void client_forget(midge_client *c, const char *filter)
{
    int i = client_find_sub(c, filter);
    if (i < 0)
        return;
    /* Keep the order: renewal resubscribes in the user's original order. */
    for (int j = i + 1; j < c->sub_count; j++) {
        c->sub_filters[j - 1] = c->sub_filters[j];
        c->sub_qos[j - 1] = c->sub_qos[j];
    }
    c->sub_count--;
}

/* --- public API ----------------------------------------------------------- */

midge_status midge_client_init(midge_client *c, const midge_client_config *cfg,
                               const midge_session_buffers *bufs)
{
    if (c == NULL || cfg == NULL || bufs == NULL)
        return MIDGE_ERR_INVALID;
    /* Nothing of the operating system is linked in behind the caller's
     * back: the transport and the time come from the platform (client.h). */
    const midge_platform *p = cfg->platform;
    if (cfg->open == NULL || p == NULL || p->clock_ms == NULL || p->idle == NULL)
        return MIDGE_ERR_INVALID;

    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    if (c->cfg.connect_timeout_ms == 0)
        c->cfg.connect_timeout_ms = CLIENT_CONNECT_TIMEOUT_MS;
    if (c->cfg.backoff_min_ms == 0)
        c->cfg.backoff_min_ms = CLIENT_BACKOFF_MIN_MS;
    if (c->cfg.backoff_max_ms == 0)
        c->cfg.backoff_max_ms = CLIENT_BACKOFF_MAX_MS;
    if (c->cfg.backoff_max_ms < c->cfg.backoff_min_ms)
        c->cfg.backoff_max_ms = c->cfg.backoff_min_ms;
    if (c->cfg.call_timeout_ms == 0)
        c->cfg.call_timeout_ms = CLIENT_CALL_TIMEOUT_MS;
    c->backoff_ms = c->cfg.backoff_min_ms;
    c->retry_at_ms = client__now(c);

    midge_session_init(&c->session, bufs, client__on_event, c);
    /* No callback yet: messages wait for one (client.h). */
    midge_session_hold(&c->session, true);
    midge_session_set_connack_timeout(&c->session, client__connack_timeout(c));
    if (c->cfg.trace)
        midge_session_set_trace(&c->session, client__on_trace);
    return MIDGE_OK;
}

/* A release gives what waited a turn at the next step (client_io.c): the
 * session handles it only when asked to. */
void client__update_hold(midge_client *c)
{
    bool hold = c->hold || c->on_message == NULL || c->renew;

    midge_session_hold(&c->session, hold);
    c->release = !hold;
}

void midge_client_set_callback(midge_client *c, midge_message_fn fn, void *user)
{
    c->on_message = fn;
    c->message_user = user;
    client__update_hold(c);
}

void midge_client_hold(midge_client *c, bool hold)
{
    c->hold = hold;
    client__update_hold(c);
}

void midge_client_set_event_callback(midge_client *c, midge_client_event_fn fn, void *user)
{
    c->on_event = fn;
    c->event_user = user;
}

midge_status midge_client_set_last_will(midge_client *c, const char *topic, const void *payload,
                                        uint16_t len, uint8_t qos, bool retain)
{
    if (topic == NULL || qos > 2 || (payload == NULL && len > 0))
        return MIDGE_ERR_INVALID;
    if (c->transport_open || c->dispatching)
        return MIDGE_ERR_STATE;
    c->will.topic = topic;
    c->will.payload = payload;
    c->will.payload_len = len;
    c->will.qos = qos;
    c->will.retain = retain;
    c->cfg.connect.will = &c->will;
    return MIDGE_OK;
}

midge_status midge_client_connect(midge_client *c, bool *session_present)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    midge_status st = client__open(c, &client_unbounded);
    if (st != MIDGE_OK)
        return st;
    if (session_present)
        *session_present = c->granted[0] != 0;
    return MIDGE_OK;
}

midge_status midge_client_disconnect(midge_client *c)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    if (!c->transport_open)
        return MIDGE_ERR_NOT_CONNECTED;

    midge_status st = midge_session_disconnect(&c->session, client__now(c));
    if (st == MIDGE_OK)
        st = client__send_final(c);
    /* An explicit disconnect is not a loss: no reconnect gets scheduled. */
    client__close(c);
    return st;
}

midge_status midge_client_abort(midge_client *c)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    if (!c->transport_open)
        return MIDGE_ERR_NOT_CONNECTED;
    /* Closed on purpose, like disconnect: no reconnect gets scheduled. */
    client__close(c);
    return MIDGE_OK;
}

midge_status midge_client_ping(midge_client *c)
{
    client_deadline d = client_call_deadline(c);
    midge_status st = client__ready(c, &d);
    if (st != MIDGE_OK)
        return st;
    for (;;) {
        st = midge_session_ping(&c->session, client__now(c));
        if (st != MIDGE_AGAIN)
            break;
        /* tx is full: wait for the socket to take bytes, within the bound. */
        st = client__wait_bounded(c, &d, false, false);
        if (st != MIDGE_OK)
            return st;
    }
    if (st != MIDGE_OK)
        return st;
    return client__drain(c, &d);
}

midge_status midge_client_publish(midge_client *c, const char *topic, const void *payload,
                                  size_t len, uint8_t qos, bool retain, uint16_t *packet_id)
{
    if (topic == NULL || (payload == NULL && len > 0) || qos > 2)
        return MIDGE_ERR_INVALID;
    size_t topic_len = strlen(topic);
    if (topic_len > UINT16_MAX)
        return MIDGE_ERR_INVALID;

    midge_publish msg = {
        .topic = topic,
        .topic_len = (uint16_t)topic_len,
        .qos = qos,
        .retain = retain,
        .payload = payload,
        .payload_len = len,
    };
    /* From a callback only queueing is safe: the session is mid-receive. */
    if (c->dispatching)
        return midge_session_publish(&c->session, &msg, packet_id, client__now(c));
    if (!c->transport_open && !c->cfg.auto_reconnect)
        return MIDGE_ERR_NOT_CONNECTED;

    /* One clock reading serves the deadline, the session and client_push
     * unless the publish has to wait: the common case costs one. */
    uint32_t now = client__now(c);
    client_deadline d = client__deadline_from(now, c->cfg.call_timeout_ms);
    midge_status st;
    for (;;) {
        st = c->transport_open ? midge_session_publish(&c->session, &msg, packet_id, now)
                               : MIDGE_AGAIN;
        if (st != MIDGE_AGAIN)
            break;
        /* No room, or no connection yet; the session took nothing of the
         * message, so a timeout or an interruption here leaves it all with
         * the caller. A full store (QoS 1/2) waits for acknowledgements to
         * come in; a full tx (QoS 0) only for the socket to take bytes,
         * never for input that may not come. */
        st = client__wait_bounded(c, &d, c->transport_open && qos > 0, true);
        if (st != MIDGE_OK)
            return st;
        now = client__now(c);
    }
    if (st != MIDGE_OK)
        return st;
    /* Taken: from here the message is the session's. Whatever the socket
     * could not take before the bound leaves with the next call, so the
     * caller must not publish it again. */
    st = client_push(c, &d, now);
    return st == MIDGE_TIMEOUT || st == MIDGE_ERR_INTERRUPTED ? MIDGE_OK : st;
}

/* What flush says once it stops with `st`: a publish dropped since the
 * previous flush comes first, and is said once. */
static midge_status client_flushed(midge_client *c, midge_status st)
{
    if (c->dropped != MIDGE_OK && (st == MIDGE_OK || st == c->dropped)) {
        st = (midge_status)c->dropped;
        c->dropped = MIDGE_OK;
    }
    return st;
}

midge_status midge_client_flush(midge_client *c, uint32_t timeout_ms)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    client_deadline d = client__deadline_in(c, timeout_ms);
    const uint8_t *data;

    for (;;) {
        bool acks_due = midge_session_inflight(&c->session) > 0;
        if (!acks_due && (!c->transport_open || midge_session_pending(&c->session, &data) == 0))
            return client_flushed(c, MIDGE_OK);
        uint32_t left = client__deadline_left(c, &d);
        if (left == 0)
            return MIDGE_TIMEOUT;
        /* Input is awaited only while acknowledgements are due. Bytes that
         * merely sit in tx (QoS 0 queued from a callback) leave with the
         * step's send; waiting for input after that would hold the call
         * until the next timer (the keepalive) or the deadline. */
        c->awaiting = acks_due;
        midge_status st = client__pump(c, left, &client_unbounded, acks_due, NULL);
        c->awaiting = false;
        if (st != MIDGE_OK)
            return client_flushed(c, st);
    }
}

midge_status midge_client_subscribe(midge_client *c, const char *filter, uint8_t qos)
{
    midge_subscription sub = { filter, qos };
    return midge_client_subscribe_many(c, &sub, 1, NULL);
}

midge_status midge_client_subscribe_many(midge_client *c, const midge_subscription *subs,
                                         size_t count, uint8_t *granted)
{
    if (subs == NULL || count == 0 || count > MIDGE_CLIENT_MAX_SUBS)
        return MIDGE_ERR_INVALID;
    for (size_t i = 0; i < count; i++) {
        if (subs[i].filter == NULL || subs[i].qos > 2)
            return MIDGE_ERR_INVALID;
    }
    /* Check room first: a subscription the client could not renew after a
     * reconnect would silently vanish. */
    if (c->sub_count + client_new_subs(c, subs, count) > MIDGE_CLIENT_MAX_SUBS)
        return MIDGE_ERR_NO_SPACE;

    client_deadline d = client_call_deadline(c);
    midge_status st = client__ready(c, &d);
    if (st != MIDGE_OK)
        return st;
    uint16_t id = 0;
    st = client__queue_subscribe(c, subs, count, &id, &d);
    if (st != MIDGE_OK)
        return st;

    c->wait_id = id;
    c->wait_done = false;
    memset(c->granted, MIDGE_SUBACK_FAILURE, sizeof c->granted);
    st = client__await_reply(c, &d);
    c->wait_id = 0;
    if (st != MIDGE_OK && st != MIDGE_ERR_SUBSCRIBE)
        return st;

    /* Remember exactly what the broker granted, in the user's order. A
     * SUBACK with fewer codes than filters leaves 0x80 in the gaps. */
    for (size_t i = 0; i < count; i++) {
        if (granted)
            granted[i] = c->granted[i];
        if (c->granted[i] == MIDGE_SUBACK_FAILURE)
            st = MIDGE_ERR_SUBSCRIBE;
        else
            client_remember(c, &subs[i]);
    }
    return st;
}

midge_status midge_client_unsubscribe(midge_client *c, const char *filter)
{
    if (filter == NULL)
        return MIDGE_ERR_INVALID;
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    /* Forget first: even if the reply never comes, a reconnect must not
     * bring the subscription back. */
    client_forget(c, filter);

    client_deadline d = client_call_deadline(c);
    midge_status st = client__ready(c, &d);
    if (st != MIDGE_OK)
        return st;
    uint16_t id = 0;
    for (;;) {
        st = midge_session_unsubscribe(&c->session, &filter, 1, &id, client__now(c));
        if (st != MIDGE_AGAIN)
            break;
        st = client__wait_bounded(c, &d, true, false);
        if (st != MIDGE_OK)
            return st;
    }
    if (st != MIDGE_OK)
        return st;

    c->wait_id = id;
    c->wait_done = false;
    st = client__await_reply(c, &d);
    c->wait_id = 0;
    return st;
}

midge_status midge_client_wait_msg(midge_client *c)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    c->got_message = false;
    while (!c->got_message) {
        midge_status st = client__pump(c, CLIENT_FOREVER, &client_unbounded, true, NULL);
        if (st != MIDGE_OK)
            return st;
        /* No bound of its own, but a signal may still end the wait. */
        if (!c->got_message && client__interrupted(c))
            return MIDGE_ERR_INTERRUPTED;
    }
    return MIDGE_OK;
}

midge_status midge_client_check_msg(midge_client *c)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    return client__pump(c, 0, &client_unbounded, false, NULL);
}

midge_status midge_client_poll(midge_client *c, uint32_t timeout_ms)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    client_deadline d = client__deadline_in(c, timeout_ms);

    for (;;) {
        bool got = false;
        uint32_t left = client__deadline_left(c, &d);
        midge_status st = client__pump(c, left, &client_unbounded, true, &got);
        if (st != MIDGE_OK)
            return st;
        if (got)
            return MIDGE_OK;
        if (client__deadline_left(c, &d) == 0)
            return MIDGE_TIMEOUT;
    }
}

bool midge_client_is_connected(const midge_client *c)
{
    return c->transport_open && midge_session_is_connected(&c->session);
}
