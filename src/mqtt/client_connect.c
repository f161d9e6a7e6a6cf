/*
 * midge client: the connection's life. Opening it (transport, CONNECT,
 * CONNACK), losing it, and, with auto_reconnect, getting it back with the
 * subscriptions it had.
 *
 * Failure handling lives in one place, client__lost(): close the transport,
 * tell the session, and (with auto_reconnect) schedule the next attempt with
 * jittered exponential backoff. At most one transport is ever open: the
 * opener only runs once the previous one has been closed.
 */
#include "client_internal.h"

/* --- backoff ---------------------------------------------------------- */

/* xorshift32 seeded from the clock and the client's address: different
 * clients in one process (a fleet) spread out without shared state. */
static uint32_t client_random(const midge_client *c)
{
    uint32_t x = client__now(c) ^ (uint32_t)(uintptr_t)c ^ 0x9e3779b9u;
    for (int i = 0; i < 3; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    return x;
}

/* The current delay +-25%, then double it (capped) for the next failure. */
static void client_schedule_retry(midge_client *c)
{
    uint32_t base = c->backoff_ms;
    uint32_t span = base / 2u; /* the width of the +-25% window */
    uint32_t delay = base - base / 4u + (span ? client_random(c) % (span + 1u) : 0u);

    c->retry_at_ms = client__now(c) + delay;
    c->backoff_ms = base >= c->cfg.backoff_max_ms / 2u ? c->cfg.backoff_max_ms : base * 2u;
}

/* --- closing ------------------------------------------------------------- */

void client__close(midge_client *c)
{
    if (!c->transport_open)
        return;
    c->transport.close(c->transport.ctx);
    c->transport_open = false;
    midge_session_transport_lost(&c->session);
    /* Messages dropped under a hold come again on the next connection. */
    if (c->renew) {
        c->renew = false;
        client__update_hold(c);
    }
    /* A close with no retry scheduled after it (disconnect, abort) allows
     * one at once: a retry time left from a loss weeks ago would read as
     * far in the future once the millisecond clock has moved 2^31 on. */
    c->retry_at_ms = client__now(c);
}

midge_status client__lost(midge_client *c, midge_status st)
{
    client__close(c);
    if (c->cfg.auto_reconnect)
        client_schedule_retry(c);
    return st;
}

/* --- connecting ---------------------------------------------------------- */

midge_status client__open(midge_client *c, const client_deadline *bound)
{
    midge_status st;

    client__close(c); /* never two transports at once */
    st = c->cfg.open(c->cfg.opener, c->cfg.host, c->cfg.port,
                     client__min_u32(c->cfg.connect_timeout_ms, client__deadline_left(c, bound)),
                     &c->transport);
    if (st != MIDGE_OK)
        goto fail;
    c->transport_open = true;

    st = midge_session_connect(&c->session, &c->cfg.connect, client__now(c));
    if (st != MIDGE_OK)
        goto fail;

    /* wait_id 0 marks "waiting for CONNACK" for the event handler. */
    c->wait_id = 0;
    c->wait_done = false;
    /* The session enforces the CONNACK timeout in its tick; the deadline
     * here only guards against a session that would not. */
    client_deadline guard = client__deadline_in(c, client__connack_timeout(c) + 1000u);
    client_deadline end = client__deadline_min(&guard, bound);
    while (!c->wait_done) {
        uint32_t left = client__deadline_left(c, &end);
        if (left == 0) {
            st = client__deadline_left(c, bound) == 0 ? MIDGE_TIMEOUT : MIDGE_ERR_CONNACK_TIMEOUT;
            goto fail;
        }
        st = client__step(c, left, true, NULL);
        if (st == MIDGE_OK) {
            if (client__interrupted(c) && !c->wait_done) {
                st = MIDGE_ERR_INTERRUPTED;
                goto fail;
            }
            continue;
        }
        /* The step already closed the connection. A refusal may end it in
         * the same step as its CONNACK: the broker's code says more. */
        if (c->wait_done && c->wait_status != MIDGE_OK)
            return (midge_status)c->wait_status;
        return st;
    }
    if (c->wait_status != MIDGE_OK) {
        st = (midge_status)c->wait_status;
        goto fail;
    }
    c->backoff_ms = c->cfg.backoff_min_ms;
    return MIDGE_OK;

fail:
    return client__lost(c, st);
}

/* --- reconnecting -------------------------------------------------------- */

/* Renew every remembered subscription on a new connection, as few
 * SUBSCRIBE packets as tx allows. SUBACKs are not awaited: a broker that
 * refuses now is reported through the event callback. A connection that
 * cannot take them all within `bound` is closed: it would lack some. */
static midge_status client_resubscribe(midge_client *c, const client_deadline *bound)
{
    midge_subscription batch[MIDGE_CLIENT_MAX_SUBS];
    size_t done = 0;
    size_t n = c->sub_count;

    while (done < c->sub_count) {
        if (n > c->sub_count - done)
            n = c->sub_count - done;
        for (size_t i = 0; i < n; i++) {
            batch[i].filter = c->sub_filters[done + i];
            batch[i].qos = c->sub_qos[done + i];
        }
        midge_status st = client__queue_subscribe(c, batch, n, NULL, bound);
        /* Too big for tx in one packet: halve the batch and try again. */
        if ((st == MIDGE_ERR_NO_SPACE || st == MIDGE_ERR_TOO_BIG) && n > 1) {
            n /= 2;
            continue;
        }
        if (st != MIDGE_OK)
            return c->transport_open ? client__lost(c, st) : st;
        done += n;
    }
    return MIDGE_OK;
}

static midge_status client_reconnect(midge_client *c, const client_deadline *bound)
{
    midge_status st = client__open(c, bound);
    if (st != MIDGE_OK)
        return st;
    return client_resubscribe(c, bound);
}

midge_status client__revive(midge_client *c, uint32_t wait_ms, const client_deadline *bound)
{
    if (!c->cfg.auto_reconnect)
        return MIDGE_ERR_NOT_CONNECTED;

    int32_t left = (int32_t)(c->retry_at_ms - client__now(c));
    if (left > 0) {
        client__idle(c, client__min_u32((uint32_t)left, wait_ms));
        if ((int32_t)(c->retry_at_ms - client__now(c)) > 0)
            return MIDGE_AGAIN;
    }
    /* An attempt with no time left would only fail and double the backoff. */
    if (client__deadline_left(c, bound) == 0)
        return MIDGE_AGAIN;
    midge_status st = client_reconnect(c, bound);
    /* Refusals are the broker's verdict, not a network hiccup: report them. */
    if (st == MIDGE_OK || midge_status_is_refusal(st))
        return st;
    return MIDGE_AGAIN;
}
