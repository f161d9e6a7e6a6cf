/*
 * midge client: one step of I/O on the open transport, and the waits the
 * blocking calls build on it.
 *
 * A step moves bytes (send what tx holds, wait for the socket up to the
 * earlier of the caller's deadline and the session's next timer, receive
 * straight into the session's rx space), then runs the session's timers.
 * Any failure in it goes to client__lost() (client_connect.c), which closes
 * the transport before the step returns.
 */
#include <string.h>

#include "client_internal.h"

/* Reads per step before timers and sends get their turn again, so a broker
 * flooding us cannot starve keepalive. */
#define CLIENT_READS_PER_STEP 16

/* The longest sleep while rx is full of held messages: the calls without
 * a bound (wait_msg) still look at cfg.interrupted this often. */
#define CLIENT_HELD_SLEEP_MS 100u

/* DISCONNECT gets this long to leave before the socket is closed anyway. */
#define CLIENT_DISCONNECT_FLUSH_MS 1000u

/* --- one step ------------------------------------------------------------ */

midge_status client__send(midge_client *c, bool *blocked)
{
    *blocked = false;
    for (;;) {
        const uint8_t *data;
        size_t len = midge_session_pending(&c->session, &data);
        if (len == 0)
            return MIDGE_OK;
        long n = c->transport.send(c->transport.ctx, data, len);
        if (n < 0)
            return (midge_status)n;
        if (n == 0) {
            *blocked = true;
            return MIDGE_OK;
        }
        midge_session_sent(&c->session, (size_t)n, client__now(c));
    }
}

/* Receive straight into the session's rx space (no copy). Stops when the
 * transport has nothing more, or rx is full because acknowledgements wait
 * for tx room (the step's send makes room). With stop_short, a read that
 * returned less than the room offered ends it too: the transport had no
 * more at that moment, and asking again would cost a system call only to
 * hear "nothing". Only callers that go back to wait() pass it: whatever
 * arrives meanwhile, or still sits in a TLS layer's buffer, makes that wait
 * return at once. */
static midge_status client_receive(midge_client *c, bool *got_input, bool stop_short)
{
    c->read_ms = client__now(c);
    for (int i = 0; i < CLIENT_READS_PER_STEP; i++) {
        uint8_t *buf;
        size_t space = midge_session_rx_space(&c->session, &buf);
        if (space == 0)
            return MIDGE_OK;
        long n = c->transport.recv(c->transport.ctx, buf, space);
        if (n < 0)
            return (midge_status)n;
        if (n == 0)
            return MIDGE_OK;
        if (got_input)
            *got_input = true;
        midge_status st = midge_session_received(&c->session, (size_t)n, client__now(c));
        if (st != MIDGE_OK)
            return st;
        /* Acks queued by what just arrived leave now, so a burst of QoS 1
         * messages cannot fill tx and stall rx. */
        bool blocked;
        st = client__send(c, &blocked);
        if (st != MIDGE_OK)
            return st;
        if (stop_short && (size_t)n < space)
            return MIDGE_OK;
    }
    return MIDGE_OK;
}

/* Held messages fill rx while the call waits for a reply queued behind
 * them: they are dropped, unacknowledged, for the broker to send again on
 * the next connection (section 4.4), and every later one is held until
 * then, so none overtakes them (client.h). Held messages are whole packets
 * at the front of the session's rx. */
static void client_drop_held(midge_client *c)
{
    midge_session *s = &c->session;

    memmove(s->rx, s->rx + s->rx_held, s->rx_len - s->rx_held);
    s->rx_len -= s->rx_held;
    s->rx_held = 0;
    c->renew = true;
    client__update_hold(c);
}

/* Before reading: what waits in rx gets a session call without new bytes
 * when the hold was released, or when rx is full (its packets may have
 * waited for tx room that the last send made). Released messages count as
 * input for poll. *room says whether rx can take bytes now; a call waiting
 * for a reply never finds it full of held messages. */
static midge_status client_rx_turn(midge_client *c, bool *got_input, bool *room)
{
    uint8_t *buf;
    bool blocked;
    midge_status st = MIDGE_OK;

    *room = midge_session_rx_space(&c->session, &buf) != 0;
    if (!c->release && *room)
        return MIDGE_OK;
    if (c->release && got_input)
        *got_input = true;
    c->release = false;
    st = midge_session_received(&c->session, 0, client__now(c));
    if (st == MIDGE_OK)
        st = client__send(c, &blocked);
    *room = midge_session_rx_space(&c->session, &buf) != 0;
    if (!*room && c->awaiting && c->session.rx_held != 0) {
        client_drop_held(c);
        *room = true;
    }
    return st;
}

midge_status client__step(midge_client *c, uint32_t wait_ms, bool wait_input, bool *got_input)
{
    bool blocked, room;
    /* Dropped messages come again only on a new connection: once the
     * application takes messages again, in a call that waits for them. */
    if (c->renew && !c->awaiting && !c->hold && c->on_message != NULL)
        return client__lost(c, MIDGE_ERR_HELD_DROPPED);
    midge_status st = client__send(c, &blocked);
    if (st != MIDGE_OK)
        return client__lost(c, st);

    st = client_rx_turn(c, got_input, &room);
    if (st != MIDGE_OK)
        return client__lost(c, st);
    if (blocked || wait_input) {
        uint32_t timer = midge_session_next_timeout(&c->session, client__now(c));
        uint32_t wait = client__min_u32(wait_ms, timer);
        int r = 0;
        /* rx full of held messages: nothing will be read, and the socket
         * would report the unread bytes as ready at once; wait out the
         * time instead of spinning. */
        if (!room && !blocked)
            client__idle(c, client__min_u32(wait, CLIENT_HELD_SLEEP_MS));
        else
            r = c->transport.wait(c->transport.ctx, blocked, wait);
        if (r < 0)
            return client__lost(c, (midge_status)r);
    }
    st = client_receive(c, got_input, wait_input);
    if (st != MIDGE_OK)
        return client__lost(c, st);

    st = midge_session_tick(&c->session, client__now(c));
    if (st != MIDGE_OK)
        return client__lost(c, st);
    /* PINGREQ queued by the tick goes out in this same step. */
    st = client__send(c, &blocked);
    if (st != MIDGE_OK)
        return client__lost(c, st);
    return MIDGE_OK;
}

/* --- waits of the blocking calls ----------------------------------------- */

midge_status client__pump(midge_client *c, uint32_t wait_ms, const client_deadline *bound,
                          bool wait_input, bool *got_input)
{
    midge_status st;

    if (!c->transport_open) {
        st = client__revive(c, wait_ms, bound);
        return st == MIDGE_AGAIN ? MIDGE_OK : st;
    }
    st = client__step(c, wait_ms, wait_input, got_input);
    if (st != MIDGE_OK && c->cfg.auto_reconnect)
        return MIDGE_OK;
    return st;
}

midge_status client__wait_bounded(midge_client *c, const client_deadline *d, bool wait_input,
                                  bool ride_out)
{
    uint32_t left = client__deadline_left(c, d);
    if (left == 0)
        return MIDGE_TIMEOUT;
    c->awaiting = true;
    midge_status st = ride_out ? client__pump(c, left, d, wait_input, NULL)
                               : client__step(c, left, wait_input, NULL);
    c->awaiting = false;
    if (st != MIDGE_OK)
        return st;
    return client__interrupted(c) ? MIDGE_ERR_INTERRUPTED : MIDGE_OK;
}

midge_status client__queue_subscribe(midge_client *c, const midge_subscription *subs,
                                     size_t count, uint16_t *id, const client_deadline *d)
{
    for (;;) {
        midge_status st = midge_session_subscribe(&c->session, subs, count, id, client__now(c));
        if (st != MIDGE_AGAIN)
            return st;
        /* tx full or too many SUBSCRIBEs unanswered: let replies come in. */
        st = client__wait_bounded(c, d, true, false);
        if (st != MIDGE_OK)
            return st;
    }
}

midge_status client__ready(midge_client *c, const client_deadline *d)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    if (!c->transport_open && !c->cfg.auto_reconnect)
        return MIDGE_ERR_NOT_CONNECTED;
    while (!c->transport_open) {
        midge_status st = client__wait_bounded(c, d, false, true);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

midge_status client__await_reply(midge_client *c, const client_deadline *d)
{
    client_deadline reply = client__deadline_in(c, client__connack_timeout(c));
    client_deadline end = client__deadline_min(&reply, d);

    while (!c->wait_done) {
        midge_status st = client__wait_bounded(c, &end, true, false);
        if (st == MIDGE_ERR_INTERRUPTED && c->wait_done)
            break;
        if (st != MIDGE_OK)
            return st;
    }
    return (midge_status)c->wait_status;
}

midge_status client__drain(midge_client *c, const client_deadline *d)
{
    const uint8_t *data;

    while (c->transport_open && midge_session_pending(&c->session, &data) > 0) {
        midge_status st = client__wait_bounded(c, d, false, true);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

/* Without reading: the broker closes its side as soon as it reads
 * DISCONNECT (section 3.14.4), and that close is no failure of ours. A
 * clean DISCONNECT keeps the broker from sending the will; it gets a
 * bounded moment, then the socket closes regardless. */
midge_status client__send_final(midge_client *c)
{
    client_deadline d = client__deadline_in(c, CLIENT_DISCONNECT_FLUSH_MS);
    const uint8_t *data;

    while (midge_session_pending(&c->session, &data) > 0) {
        bool blocked;
        midge_status st = client__send(c, &blocked);
        if (st != MIDGE_OK)
            return st;
        uint32_t left = client__deadline_left(c, &d);
        if (!blocked)
            continue;
        if (left == 0)
            return MIDGE_TIMEOUT;
        int r = c->transport.wait(c->transport.ctx, true, left);
        if (r < 0)
            return (midge_status)r;
    }
    return MIDGE_OK;
}
