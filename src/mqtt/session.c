/*
 * The session engine: one MQTT 3.1.1 connection's protocol state, sans I/O.
 * This file holds setup, sending, timers and the lifecycle; receiving is in
 * session_rx.c and the outgoing store in session_store.c.
 *
 * tx is a byte queue: pending data is tx[tx_off, tx_len). Packets are encoded
 * straight into it; the queue slides to the front only when a packet would
 * not fit otherwise, and never inside midge_session_pending() (its pointer
 * must stay valid across repeated calls).
 *
 * rx holds unprocessed bytes at rx[0, rx_len) (see session_rx.c).
 *
 * QoS 1/2 PUBLISHes and their PUBRELs live in the store (session_store.c)
 * and are copied into tx lazily by midge_session_pending(), only while
 * connected: nothing but CONNECT goes out before CONNACK (section 3.1.4).
 */
#ifndef MIDGE_CORE_UNIT
#error "a part of the client core: compile src/mqtt/core.c, which includes it"
#endif

#include <string.h>

#include "session_internal.h"

/* PINGREQ and DISCONNECT are a bare fixed header (sections 3.12, 3.14). */
#define BARE_LEN 2u

/* --- Small helpers ------------------------------------------------------- */

/* Wrap-safe: true once `now` reached `deadline`, even across 2^32 ms. */
static bool time_due(uint32_t now, uint32_t deadline) { return (int32_t)(now - deadline) >= 0; }

static uint32_t time_left(uint32_t now, uint32_t deadline)
{
    return time_due(now, deadline) ? 0 : deadline - now;
}

static uint32_t clamp_u32(size_t n) { return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n; }

MIDGE_CORE__FN void session__emit(midge_session *s, midge_event *ev)
{
    if (s->on_event != NULL) {
        s->on_event(s->user, ev);
    }
}

/* Every failure ends the connection the same way: the state says the
 * transport must be closed, and the caller hears why exactly once. */
MIDGE_CODEC__COLD MIDGE_CORE__FN
midge_status session__fail(midge_session *s, midge_status status, size_t packet_size)
{
    midge_event ev;

    s->state = MIDGE_SESSION_FAILED;
    memset(&ev, 0, sizeof ev);
    ev.type = MIDGE_EV_CLOSED;
    ev.status = status;
    ev.closed.packet_size = packet_size;
    session__emit(s, &ev);
    return status;
}

/* Out of line: queue_filters(), the receive path and the packet id search
 * share the one loop. */
MIDGE_CODEC__COLD MIDGE_CORE__FN unsigned session__ack_slot(const midge_session *s, uint16_t id)
{
    unsigned slot = 0;

    while (slot < MIDGE_MAX_PENDING_ACKS && s->pending_acks[slot] != id) {
        slot++;
    }
    return slot;
}

/* --- tx queue -------------------------------------------------------------- */

MIDGE_CORE__FN
size_t session__tx_free(const midge_session *s) { return s->tx_size - (s->tx_len - s->tx_off); }

/* Room for `need` contiguous bytes at the end of tx, or NULL. Sliding the
 * pending bytes down invalidates an earlier pending() pointer, which the
 * contract allows for every call but pending() itself. */
static uint8_t *tx_reserve(midge_session *s, size_t need)
{
    if (s->tx_size - s->tx_len >= need) {
        return s->tx + s->tx_len;
    }
    if (session__tx_free(s) < need) {
        return NULL;
    }
    memmove(s->tx, s->tx + s->tx_off, s->tx_len - s->tx_off);
    s->tx_len -= s->tx_off;
    s->tx_off = 0;
    return s->tx + s->tx_len;
}

MIDGE_CORE__FN void session__tx_commit(midge_session *s, size_t n)
{
    if (s->trace != NULL) {
        s->trace(s->user, true, s->tx + s->tx_len, n);
    }
    s->tx_len += (uint32_t)n;
}

/* Every fixed-size packet the session writes itself: an acknowledgement
 * (4 bytes: `first`, 2, the id) when `id` is non-zero, else PINGREQ or
 * DISCONNECT (2 bytes: `first`, 0). One writer for all of them is less code
 * than one per kind. Acknowledgements cannot run out of room: the receive
 * path checks session__tx_free() >= SESSION_ACK_LEN before it decodes. */
MIDGE_CORE__FN midge_status session__queue_fixed(midge_session *s, unsigned first, unsigned id)
{
    unsigned len = id != 0 ? SESSION_ACK_LEN : BARE_LEN;
    uint8_t *p = tx_reserve(s, len);

    if (p == NULL) {
        return len > s->tx_size ? MIDGE_ERR_NO_SPACE : MIDGE_AGAIN;
    }
    p[0] = (uint8_t)first;
    p[1] = (uint8_t)(len - 2u);
    if (id != 0) {
        midge_codec__put_u16(p + 2, (uint16_t)id);
    }
    session__tx_commit(s, len);
    return MIDGE_OK;
}

/* --- Setup --------------------------------------------------------------- */

void midge_session_init(midge_session *s, const midge_session_buffers *bufs,
                        midge_event_fn on_event, void *user)
{
    memset(s, 0, sizeof *s);
    s->on_event = on_event;
    s->user = user;
    s->connack_timeout_ms = MIDGE_CONNACK_TIMEOUT_MS;
    s->next_id = 1;
    if (bufs == NULL) {
        return;
    }
    s->tx = bufs->tx;
    s->tx_size = bufs->tx != NULL ? clamp_u32(bufs->tx_size) : 0;
    s->rx = bufs->rx;
    s->rx_size = bufs->rx != NULL ? clamp_u32(bufs->rx_size) : 0;
    /* The store and the QoS 2 table take their sizes as given: both are
     * only ever used after their own NULL check (session__store_publish,
     * session__qos2_arrived), so a size beside a NULL buffer is never read. */
    s->store = bufs->store;
    s->store_size = clamp_u32(bufs->store_size);
    s->rx_qos2_ids = bufs->rx_qos2_ids;
    s->rx_qos2_cap = bufs->rx_qos2_cap;
}

void midge_session_set_trace(midge_session *s, midge_trace_fn trace) { s->trace = trace; }

/* 0 restores the default, as midge_client_config's connack_timeout_ms does. */
void midge_session_set_connack_timeout(midge_session *s, uint32_t ms)
{
    s->connack_timeout_ms = ms != 0 ? ms : MIDGE_CONNACK_TIMEOUT_MS;
}

midge_status midge_session_connect(midge_session *s, const midge_connect_opts *opts,
                                   uint32_t now_ms)
{
    midge_status st = MIDGE_OK;

    if (opts == NULL) {
        return MIDGE_ERR_INVALID;
    }
    /* A caller reconnecting without reporting the loss still gets the
     * resend marking a lost transport implies (section 4.4). Called in
     * every state, as it also empties tx and rx: when the session is idle
     * already, the rest of it finds nothing to change (no acknowledgement
     * is pending, no record is marked sent, and the flags it clears are
     * set anew below before anything reads them). */
    midge_session_transport_lost(s);
    size_t n = midge_codec_encode_connect(s->tx, s->tx_size, opts, &st);
    if (n == 0) {
        return st;
    }
    /* Written at the front of tx, which transport_lost() emptied. */
    session__tx_commit(s, n);
    /* CONNACK decides what the store becomes, so it stays unsent until then. */
    s->flags = opts->clean_session ? SESSION_FLAG_CLEAN : 0;
    s->keepalive_s = opts->keepalive_s;
    s->connect_ms = now_ms;
    s->last_tx_ms = now_ms;
    s->last_rx_ms = now_ms;
    s->state = MIDGE_SESSION_CONNECTING;
    return MIDGE_OK;
}

/* --- Sending ------------------------------------------------------------- */

/* QoS 0 the checked way: anything the fast path does not take, and all of
 * the small build. Out of line in the fast build, so that the hot path
 * keeps only the session and the message in callee-saved registers. */
MIDGE_CODEC__COLD_IF_FAST static midge_status publish0_checked(midge_session *s,
                                                               const midge_publish *msg)
{
    /* tx is non-NULL whenever connected: CONNECT went out through it. The
     * codec writes only when the packet fits the room it is given. The
     * small build (config.h) gives it none: it sizes, then writes below,
     * which is less code than trying the room first. */
    size_t room = MIDGE_FAST_PATHS ? s->tx_size - s->tx_len : 0;
    uint8_t *end = MIDGE_FAST_PATHS ? s->tx + s->tx_len : NULL;
    size_t n = midge_codec__publish_into(end, room, msg, 0);
    if (n == 0) {
        return MIDGE_ERR_INVALID;
    }
    if (n > room) {
        /* Sliding the queue down may make the room; only this path (the
         * only one in the small build) encodes, and so validates, twice. */
        if (n > s->tx_size) {
            return MIDGE_ERR_NO_SPACE;
        }
        uint8_t *p = tx_reserve(s, n);
        if (p == NULL) {
            return MIDGE_AGAIN;
        }
        (void)midge_codec__publish_into(p, n, msg, 0);
    }
    session__tx_commit(s, n);
    return MIDGE_OK;
}

/* QoS 0 is validated once and encoded straight into tx, with no store walk
 * and no copy of the message (section 4.3.1, at most once): the payload is
 * copied exactly once, into tx. DUP and the packet id are not the caller's
 * to choose at QoS 0 (3.3.1-2, 2.3.1), so they are written as 0 whatever
 * the message says. */
static midge_status publish0(midge_session *s, const midge_publish *msg)
{
    if (s->state != MIDGE_SESSION_CONNECTED) {
        return MIDGE_ERR_NOT_CONNECTED;
    }
#if MIDGE_FAST_PATHS
    size_t n = midge_codec__publish_qos0(s->tx + s->tx_len, s->tx_size - s->tx_len, msg);
    if (n != 0) {
        session__tx_commit(s, n);
        return MIDGE_OK;
    }
#endif
    return publish0_checked(s, msg);
}

midge_status midge_session_publish(midge_session *s, const midge_publish *msg,
                                   uint16_t *packet_id, uint32_t now_ms)
{
    (void)now_ms;
    /* QoS 3 and the rest of the message are judged by the codec, once. */
    if (msg == NULL) {
        return MIDGE_ERR_INVALID;
    }
    if (msg->qos == 0) {
        if (packet_id != NULL) {
            *packet_id = 0;
        }
        return publish0(s, msg);
    }
    /* QoS 1/2 may be queued in any state; it goes out once connected. */
    return session__store_publish(s, msg, packet_id);
}

/* SUBSCRIBE (subs given) or UNSUBSCRIBE (filters given): one function for
 * both, as the codec has. Connected, a free slot for the acknowledgement,
 * room in tx and a free packet id (section 2.3.1), or nothing is queued. */
static midge_status queue_filters(midge_session *s, const char *const *filters,
                                  const midge_subscription *subs, size_t count,
                                  uint16_t *packet_id)
{
    /* The codec judges the arguments (none, no filter, a bad one): checked
     * once, there, before the state, as a bad call is bad in any state. */
    midge_codec__filters l = {1, filters, subs, count};
    size_t size = midge_codec__size_filters(&l);

    if (size == 0) {
        return MIDGE_ERR_INVALID;
    }
    if (s->state != MIDGE_SESSION_CONNECTED) {
        return MIDGE_ERR_NOT_CONNECTED;
    }
    if (size > s->tx_size) {
        return MIDGE_ERR_NO_SPACE;
    }
    unsigned slot = session__ack_slot(s, 0);
    if (slot == MIDGE_MAX_PENDING_ACKS) {
        return MIDGE_AGAIN;
    }
    uint8_t *p = tx_reserve(s, size);
    if (p == NULL) {
        return MIDGE_AGAIN;
    }
    uint16_t id = session__id_take(s);
    if (id == 0) {
        return MIDGE_AGAIN;
    }
    /* Validated and sized above, with the same id length: cannot fail. */
    l.id = id;
    (void)midge_codec__encode_filters(p, size, &l, NULL);
    session__tx_commit(s, size);
    s->pending_acks[slot] = id;
    if (packet_id != NULL) {
        *packet_id = id;
    }
    return MIDGE_OK;
}

midge_status midge_session_subscribe(midge_session *s, const midge_subscription *subs,
                                     size_t count, uint16_t *packet_id, uint32_t now_ms)
{
    (void)now_ms;
    return queue_filters(s, NULL, subs, count, packet_id);
}

midge_status midge_session_unsubscribe(midge_session *s, const char *const *filters,
                                       size_t count, uint16_t *packet_id, uint32_t now_ms)
{
    (void)now_ms;
    return queue_filters(s, filters, NULL, count, packet_id);
}

/* PINGREQ, or DISCONNECT: the last packet of the connection (section
 * 3.14.4), after which the store stops feeding tx (the state leaves
 * CONNECTED). Out of line, as encode_empty() in the codec: each of the two
 * callers is then a jump, not a copy. */
MIDGE_CODEC__COLD static midge_status queue_control(midge_session *s, uint8_t type)
{
    if (s->state != MIDGE_SESSION_CONNECTED) {
        return MIDGE_ERR_NOT_CONNECTED;
    }
    midge_status st = session__queue_fixed(s, (unsigned)type << 4, 0);
    if (st == MIDGE_OK) {
        if (type == MIDGE_PINGREQ) {
            s->flags |= SESSION_FLAG_PING_QUEUED | SESSION_FLAG_PING_AWAIT;
        } else {
            s->state = MIDGE_SESSION_CLOSING;
        }
    }
    return st;
}

midge_status midge_session_ping(midge_session *s, uint32_t now_ms)
{
    (void)now_ms;
    return queue_control(s, MIDGE_PINGREQ);
}

midge_status midge_session_disconnect(midge_session *s, uint32_t now_ms)
{
    (void)now_ms;
    return queue_control(s, MIDGE_DISCONNECT);
}

size_t midge_session_pending(midge_session *s, const uint8_t **data)
{
    /* Called after every send, often with nothing queued: the common case
     * touches three fields and writes nothing back. */
    if ((s->flags & SESSION_FLAG_STORE_QUEUED) && s->state == MIDGE_SESSION_CONNECTED &&
        s->tx != NULL) {
        /* An empty queue restarts at the front first, so the store gets
         * all of tx without moving a byte. */
        if (s->tx_off == s->tx_len) {
            s->tx_off = 0;
            s->tx_len = 0;
        }
        session__store_flush(s);
    }
    *data = s->tx != NULL ? s->tx + s->tx_off : s->tx;
    return s->tx_len - s->tx_off;
}

void midge_session_sent(midge_session *s, size_t n, uint32_t now_ms)
{
    size_t queued = s->tx_len - s->tx_off;

    if (n == 0) {
        return;
    }
    s->tx_off += (uint32_t)(n < queued ? n : queued);
    if (s->tx_off == s->tx_len) {
        s->tx_off = 0;
        s->tx_len = 0;
    }
    /* Any packet leaving counts for the keepalive (section 3.1.2.10). */
    s->last_tx_ms = now_ms;
    s->flags &= (uint8_t)~SESSION_FLAG_PING_QUEUED;
}

/* --- Timers ------------------------------------------------------------- */

/* Milliseconds until the first timer fires (0 = due, UINT32_MAX = none
 * runs) and, in *why, what tick() does then: MIDGE_OK to queue PINGREQ,
 * else the failure to report. tick() and next_timeout() both read it, so
 * they cannot disagree. One deadline is chosen and measured once. */
static uint32_t next_timer(const midge_session *s, uint32_t now, midge_status *why)
{
    uint32_t deadline;

    *why = MIDGE_ERR_CONNACK_TIMEOUT;
    if (s->state == MIDGE_SESSION_CONNECTING) {
        deadline = s->connect_ms + s->connack_timeout_ms;
    } else if (s->state != MIDGE_SESSION_CONNECTED || s->keepalive_s == 0) {
        return UINT32_MAX;
    } else {
        /* The server gives up after 1.5 x keepalive of silence (3.1.2.10);
         * the client holds the broker to the same bound. */
        uint32_t period = (uint32_t)s->keepalive_s * 1000u;
        *why = MIDGE_ERR_KEEPALIVE;
        deadline = s->last_rx_ms + period + period / 2;
        /* Ping after a keepalive of silence in either direction: a client
         * that only publishes QoS 0 never idles its tx, and without a ping
         * its rx would look dead at 1.5 x keepalive. One ping at a time. */
        uint32_t idle_from = s->last_tx_ms;
        if (!(s->flags & SESSION_FLAG_PING_AWAIT) && (int32_t)(s->last_rx_ms - idle_from) < 0) {
            idle_from = s->last_rx_ms;
        }
        uint32_t ping = idle_from + period;
        /* When the failure is due it wins, even over a ping due as well:
         * a ping goes first only when strictly sooner. */
        if (!(s->flags & SESSION_FLAG_PING_QUEUED) && !time_due(now, deadline) &&
            (int32_t)(ping - deadline) < 0) {
            *why = MIDGE_OK;
            deadline = ping;
        }
    }
    return time_left(now, deadline);
}

midge_status midge_session_tick(midge_session *s, uint32_t now_ms)
{
    midge_status why;

    if (next_timer(s, now_ms, &why) != 0) {
        return MIDGE_OK;
    }
    if (why != MIDGE_OK) {
        return session__fail(s, why, 0);
    }
    /* A full tx already holds a packet that will count as traffic once it
     * leaves, so the ping is marked queued either way. */
    (void)session__queue_fixed(s, MIDGE_PINGREQ << 4, 0);
    s->flags |= SESSION_FLAG_PING_QUEUED | SESSION_FLAG_PING_AWAIT;
    return MIDGE_OK;
}

uint32_t midge_session_next_timeout(const midge_session *s, uint32_t now_ms)
{
    midge_status why;

    return next_timer(s, now_ms, &why);
}

/* --- Lifecycle ------------------------------------------------------------ */

void midge_session_transport_lost(midge_session *s)
{
    s->state = MIDGE_SESSION_IDLE;
    s->tx_len = 0;
    s->tx_off = 0;
    s->rx_len = 0;
    s->rx_held = 0;
    /* SUBSCRIBE/UNSUBSCRIBE are not resent (section 4.4 covers only
     * PUBLISH and PUBREL): their acknowledgements will never come. */
    memset(s->pending_acks, 0, sizeof s->pending_acks);
    s->flags &= (uint8_t)~(SESSION_FLAG_STORE_QUEUED | SESSION_FLAG_PING_QUEUED |
                           SESSION_FLAG_PING_AWAIT);
    session__store_mark_resend(s);
}

void midge_session_reset(midge_session *s)
{
    midge_session_transport_lost(s);
    s->store_head = 0;
    s->store_len = 0;
    s->rx_qos2_count = 0;
    s->next_id = 1;
    s->flags = 0;
}

enum midge_session_state midge_session_state(const midge_session *s)
{
    return (enum midge_session_state)s->state;
}

bool midge_session_is_connected(const midge_session *s)
{
    return s->state == MIDGE_SESSION_CONNECTED;
}

size_t midge_session_inflight(const midge_session *s) { return session__store_count(s); }
