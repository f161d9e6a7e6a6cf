/*
 * midge client: the blocking calls, each a loop over the sans-I/O session.
 *
 * Shape of every loop: one "step" moves bytes (send what tx holds, wait for
 * the socket up to the earlier of the caller's deadline and the session's
 * next timer, receive straight into the session's rx space), then runs the
 * session's timers. A call ends when its own condition holds (CONNACK seen,
 * SUBACK with our id, store empty...), its deadline passes, or a step fails.
 *
 * Failure handling lives in one place, client_lost(): close the transport,
 * tell the session, and (with auto_reconnect) schedule the next attempt with
 * jittered exponential backoff. At most one transport is ever open: the
 * opener only runs once the previous one has been closed.
 *
 * No heap, no globals: everything sits in the caller's midge_client.
 */
#include <string.h>
#include <time.h>

#include "midge/client.h"

/* Defaults documented in client.h. */
#define CLIENT_CONNECT_TIMEOUT_MS 10000u
#define CLIENT_BACKOFF_MIN_MS 500u
#define CLIENT_BACKOFF_MAX_MS 30000u
#define CLIENT_CALL_TIMEOUT_MS 30000u

/* DISCONNECT gets this long to leave before the socket is closed anyway. */
#define CLIENT_DISCONNECT_FLUSH_MS 1000u

/* Reads per step before timers and sends get their turn again, so a broker
 * flooding us cannot starve keepalive. */
#define CLIENT_READS_PER_STEP 16

/* Topics that cannot be NUL-terminated in place are copied here (see
 * client_deliver); longer ones are cut. The session always hands out
 * topics inside its rx buffer, so this is a fallback only. */
#define CLIENT_TOPIC_COPY_MAX 256

/* "No limit" for the timeouts of flush and poll and for call_timeout_ms.
 * Anything above INT32_MAX counts as no limit too: deadlines are compared
 * as signed differences. */
#define CLIENT_FOREVER UINT32_MAX

/* --- time ------------------------------------------------------------- */

typedef struct client_deadline {
    uint32_t at;
    bool forever;
} client_deadline;

static client_deadline deadline_in(uint32_t timeout_ms)
{
    client_deadline d = { midge_clock_ms() + timeout_ms, timeout_ms > (uint32_t)INT32_MAX };
    return d;
}

/* Milliseconds left (wrap-safe), CLIENT_FOREVER for no limit. */
static uint32_t deadline_left(const client_deadline *d)
{
    if (d->forever)
        return CLIENT_FOREVER;
    int32_t left = (int32_t)(d->at - midge_clock_ms());
    return left > 0 ? (uint32_t)left : 0;
}

/* The bound of calls that have none (connect, wait_msg, and the reconnect
 * attempts of flush, poll and check_msg, which keep their own timeouts). */
static const client_deadline client_unbounded = { 0u, true };

/* Whichever of two deadlines comes first. */
static client_deadline deadline_min(const client_deadline *a, const client_deadline *b)
{
    if (a->forever)
        return *b;
    if (b->forever || (int32_t)(a->at - b->at) <= 0)
        return *a;
    return *b;
}

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* Only the backoff sleeps without a socket to wait on. */
static void client_sleep(uint32_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
    nanosleep(&ts, NULL);
}

/* --- backoff ---------------------------------------------------------- */

/* xorshift32 seeded from the clock and the client's address: different
 * clients in one process (a fleet) spread out without shared state. */
static uint32_t client_random(const midge_client *c)
{
    uint32_t x = midge_clock_ms() ^ (uint32_t)(uintptr_t)c ^ 0x9e3779b9u;
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

    c->retry_at_ms = midge_clock_ms() + delay;
    c->backoff_ms = base >= c->cfg.backoff_max_ms / 2u ? c->cfg.backoff_max_ms : base * 2u;
}

/* --- transport ---------------------------------------------------------- */

/* Close the transport (if open) and tell the session; never fails. */
static void client_close(midge_client *c)
{
    if (!c->transport_open)
        return;
    c->transport.close(c->transport.ctx);
    c->transport_open = false;
    midge_session_transport_lost(&c->session);
}

/* Every failure on an open connection ends here. Returns `st`. */
static midge_status client_lost(midge_client *c, midge_status st)
{
    client_close(c);
    if (c->cfg.auto_reconnect)
        client_schedule_retry(c);
    return st;
}

/* Hand tx bytes to the transport until it is empty or would block. */
static midge_status client_send(midge_client *c, bool *blocked)
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
        midge_session_sent(&c->session, (size_t)n, midge_clock_ms());
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
    c->read_ms = midge_clock_ms();
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
        midge_status st = midge_session_received(&c->session, (size_t)n, midge_clock_ms());
        if (st != MIDGE_OK)
            return st;
        /* Acks queued by what just arrived leave now, so a burst of QoS 1
         * messages cannot fill tx and stall rx. */
        bool blocked;
        st = client_send(c, &blocked);
        if (st != MIDGE_OK)
            return st;
        if (stop_short && (size_t)n < space)
            return MIDGE_OK;
    }
    return MIDGE_OK;
}

/*
 * One round of I/O on the open transport. Waits (up to wait_ms, cut short
 * by the session's timers) while tx is blocked, or for input when
 * wait_input; otherwise it only moves what can move now.
 */
static midge_status client_step(midge_client *c, uint32_t wait_ms, bool wait_input,
                                bool *got_input)
{
    bool blocked;
    midge_status st = client_send(c, &blocked);
    if (st != MIDGE_OK)
        return client_lost(c, st);

    if (blocked || wait_input) {
        uint32_t timer = midge_session_next_timeout(&c->session, midge_clock_ms());
        int r = c->transport.wait(c->transport.ctx, blocked, min_u32(wait_ms, timer));
        if (r < 0)
            return client_lost(c, (midge_status)r);
    }
    st = client_receive(c, got_input, wait_input);
    if (st != MIDGE_OK)
        return client_lost(c, st);

    st = midge_session_tick(&c->session, midge_clock_ms());
    if (st != MIDGE_OK)
        return client_lost(c, st);
    /* PINGREQ queued by the tick goes out in this same step. */
    st = client_send(c, &blocked);
    if (st != MIDGE_OK)
        return client_lost(c, st);
    return MIDGE_OK;
}

/* --- connecting ---------------------------------------------------------- */

/* The application's stop request (a signal), checked after every wait of
 * the calls that may block for seconds on a silent broker. */
static bool client_interrupted(const midge_client *c)
{
    return c->cfg.interrupted != NULL && c->cfg.interrupted(c->cfg.interrupt_user);
}

static uint32_t client_connack_timeout(const midge_client *c)
{
    return c->cfg.connack_timeout_ms ? c->cfg.connack_timeout_ms : MIDGE_CONNACK_TIMEOUT_MS;
}

/*
 * Open a fresh transport, send CONNECT and wait for CONNACK. On success
 * granted[0] holds session_present (the scratch array is free here). An
 * attempt made inside a bounded call ends with it (`bound`): the opener
 * and the CONNACK wait get no more than what is left.
 */
static midge_status client_open(midge_client *c, const client_deadline *bound)
{
    midge_status st;

    client_close(c); /* never two transports at once */
    st = c->cfg.open(c->cfg.opener, c->cfg.host, c->cfg.port,
                     min_u32(c->cfg.connect_timeout_ms, deadline_left(bound)), &c->transport);
    if (st != MIDGE_OK)
        goto fail;
    c->transport_open = true;

    st = midge_session_connect(&c->session, &c->cfg.connect, midge_clock_ms());
    if (st != MIDGE_OK)
        goto fail;

    /* wait_id 0 marks "waiting for CONNACK" for the event handler. */
    c->wait_id = 0;
    c->wait_done = false;
    /* The session enforces the CONNACK timeout in its tick; the deadline
     * here only guards against a session that would not. */
    client_deadline guard = deadline_in(client_connack_timeout(c) + 1000u);
    client_deadline end = deadline_min(&guard, bound);
    while (!c->wait_done) {
        uint32_t left = deadline_left(&end);
        if (left == 0) {
            st = deadline_left(bound) == 0 ? MIDGE_TIMEOUT : MIDGE_ERR_CONNACK_TIMEOUT;
            goto fail;
        }
        st = client_step(c, left, true, NULL);
        if (st == MIDGE_OK) {
            if (client_interrupted(c) && !c->wait_done) {
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
    return client_lost(c, st);
}

/*
 * The transport is closed: with auto_reconnect, wait out the backoff (at
 * most wait_ms) and try once, within `bound`. MIDGE_OK = open again;
 * MIDGE_AGAIN = still backing off, no time left to try, or the attempt
 * failed (the next one is scheduled).
 */
static midge_status client_revive(midge_client *c, uint32_t wait_ms, const client_deadline *bound);

/*
 * A step for the calls that ride out connection loss (publish, flush,
 * poll, wait_msg, check_msg, and the waits for a connection of subscribe,
 * unsubscribe and ping). With auto_reconnect a loss is not returned: the
 * caller's loop goes on and the next pump reconnects, within `bound`.
 */
static midge_status client_pump(midge_client *c, uint32_t wait_ms, const client_deadline *bound,
                                bool wait_input, bool *got_input)
{
    midge_status st;

    if (!c->transport_open) {
        st = client_revive(c, wait_ms, bound);
        return st == MIDGE_AGAIN ? MIDGE_OK : st;
    }
    st = client_step(c, wait_ms, wait_input, got_input);
    if (st != MIDGE_OK && c->cfg.auto_reconnect)
        return MIDGE_OK;
    return st;
}

/*
 * One wait of a call bounded by `d` (call_timeout_ms), for whatever keeps
 * it from going on: room in the session, a reply, a writable socket, or
 * (ride_out, with auto_reconnect) a connection. MIDGE_OK = look again;
 * MIDGE_TIMEOUT once `d` has passed and MIDGE_ERR_INTERRUPTED when the
 * application asks, both with the session as the wait left it; otherwise
 * the failure that closed the connection.
 */
static midge_status client_wait_bounded(midge_client *c, const client_deadline *d,
                                        bool wait_input, bool ride_out)
{
    uint32_t left = deadline_left(d);
    if (left == 0)
        return MIDGE_TIMEOUT;
    midge_status st = ride_out ? client_pump(c, left, d, wait_input, NULL)
                               : client_step(c, left, wait_input, NULL);
    if (st != MIDGE_OK)
        return st;
    return client_interrupted(c) ? MIDGE_ERR_INTERRUPTED : MIDGE_OK;
}

/* Queue SUBSCRIBE for `subs`, stepping while the session has no room. */
static midge_status client_queue_subscribe(midge_client *c, const midge_subscription *subs,
                                           size_t count, uint16_t *id, const client_deadline *d)
{
    for (;;) {
        midge_status st = midge_session_subscribe(&c->session, subs, count, id, midge_clock_ms());
        if (st != MIDGE_AGAIN)
            return st;
        /* tx full or too many SUBSCRIBEs unanswered: let replies come in. */
        st = client_wait_bounded(c, d, true, false);
        if (st != MIDGE_OK)
            return st;
    }
}

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
        midge_status st = client_queue_subscribe(c, batch, n, NULL, bound);
        /* Too big for tx in one packet: halve the batch and try again. */
        if ((st == MIDGE_ERR_NO_SPACE || st == MIDGE_ERR_TOO_BIG) && n > 1) {
            n /= 2;
            continue;
        }
        if (st != MIDGE_OK)
            return c->transport_open ? client_lost(c, st) : st;
        done += n;
    }
    return MIDGE_OK;
}

static midge_status client_reconnect(midge_client *c, const client_deadline *bound)
{
    midge_status st = client_open(c, bound);
    if (st != MIDGE_OK)
        return st;
    return client_resubscribe(c, bound);
}

static midge_status client_revive(midge_client *c, uint32_t wait_ms, const client_deadline *bound)
{
    if (!c->cfg.auto_reconnect)
        return MIDGE_ERR_NOT_CONNECTED;

    int32_t left = (int32_t)(c->retry_at_ms - midge_clock_ms());
    if (left > 0) {
        client_sleep(min_u32((uint32_t)left, wait_ms));
        if ((int32_t)(c->retry_at_ms - midge_clock_ms()) > 0)
            return MIDGE_AGAIN;
    }
    /* An attempt with no time left would only fail and double the backoff. */
    if (deadline_left(bound) == 0)
        return MIDGE_AGAIN;
    midge_status st = client_reconnect(c, bound);
    /* Refusals are the broker's verdict, not a network hiccup: report them. */
    if (st == MIDGE_OK || midge_status_is_refusal(st))
        return st;
    return MIDGE_AGAIN;
}

/* The bound of one publish, subscribe, unsubscribe or ping. */
static client_deadline client_call_deadline(const midge_client *c)
{
    return deadline_in(c->cfg.call_timeout_ms);
}

/* For the calls that need a live connection (subscribe, unsubscribe,
 * ping): with auto_reconnect, wait for one within `d`. */
static midge_status client_ready(midge_client *c, const client_deadline *d)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    if (!c->transport_open && !c->cfg.auto_reconnect)
        return MIDGE_ERR_NOT_CONNECTED;
    while (!c->transport_open) {
        midge_status st = client_wait_bounded(c, d, false, true);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

/* Step until the awaited SUBACK/UNSUBACK (wait_id) arrived, within the
 * CONNACK timeout and `d`, whichever ends first. */
static midge_status client_await_reply(midge_client *c, const client_deadline *d)
{
    client_deadline reply = deadline_in(client_connack_timeout(c));
    client_deadline end = deadline_min(&reply, d);

    while (!c->wait_done) {
        midge_status st = client_wait_bounded(c, &end, true, false);
        if (st == MIDGE_ERR_INTERRUPTED && c->wait_done)
            break;
        if (st != MIDGE_OK)
            return st;
    }
    return (midge_status)c->wait_status;
}

/* Drain tx to the transport, waiting for writability within `d`. */
static midge_status client_drain(midge_client *c, const client_deadline *d)
{
    const uint8_t *data;

    while (c->transport_open && midge_session_pending(&c->session, &data) > 0) {
        midge_status st = client_wait_bounded(c, d, false, true);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

/*
 * Hand what a publish just queued to the transport. While an application
 * only publishes, a receive per message is a system call that almost always
 * finds nothing, so a publish reads (and runs the timers) at most once per
 * clock millisecond, the resolution of every timer; in between it only
 * sends. Acknowledgements and messages still come in at least that often,
 * and at once whenever a full store or a full socket makes a publish wait.
 */
static midge_status client_push(midge_client *c, const client_deadline *d)
{
    if (c->transport_open && midge_clock_ms() == c->read_ms) {
        bool blocked;
        midge_status st = client_send(c, &blocked);
        if (st != MIDGE_OK) {
            /* As client_pump: with auto_reconnect a loss is not returned. */
            st = client_lost(c, st);
            return c->cfg.auto_reconnect ? MIDGE_OK : st;
        }
        if (!blocked)
            return MIDGE_OK;
    }
    return client_drain(c, d);
}

/* Push out what tx holds (ending with DISCONNECT) without reading: the
 * broker closes its side as soon as it reads DISCONNECT (section 3.14.4),
 * and that close is no failure of ours. A clean DISCONNECT keeps the broker
 * from sending the will; it gets a bounded moment, then the socket closes
 * regardless. */
static midge_status client_send_final(midge_client *c)
{
    client_deadline d = deadline_in(CLIENT_DISCONNECT_FLUSH_MS);
    const uint8_t *data;

    while (midge_session_pending(&c->session, &data) > 0) {
        bool blocked;
        midge_status st = client_send(c, &blocked);
        if (st != MIDGE_OK)
            return st;
        uint32_t left = deadline_left(&d);
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

/* --- events ------------------------------------------------------------- */

/* A writable pointer to `len` bytes at `p` when they lie inside the rx
 * buffer with at least one byte before them; NULL otherwise. Found by
 * offset from the session's own (writable) rx pointer, so no const is cast
 * away. */
static uint8_t *client_rx_at(midge_client *c, const char *p, size_t len)
{
    uintptr_t base = (uintptr_t)c->session.rx;
    uintptr_t at = (uintptr_t)p;

    if (c->session.rx == NULL || at <= base || at - base > c->session.rx_size)
        return NULL;
    if (len > c->session.rx_size - (at - base))
        return NULL;
    return c->session.rx + (at - base);
}

/*
 * Hand a message to the user with a NUL-terminated topic, without copying
 * it. In a PUBLISH the topic is followed by the packet id or the payload,
 * so no byte after it is free; the byte before it is the low half of its
 * length field, already decoded. So the topic slides one byte left over
 * that byte, the NUL goes where its last byte was, and after the callback
 * everything slides back: the session never sees its buffer changed, and
 * the payload is not touched at all.
 */
static void client_deliver(midge_client *c, const midge_publish *msg)
{
    midge_publish m = *msg;
    size_t len = msg->topic_len;
    uint8_t *at = len ? client_rx_at(c, msg->topic, len) : NULL;

    if (at != NULL) {
        uint8_t saved = at[-1];
        memmove(at - 1, at, len);
        at[len - 1] = '\0';
        m.topic = (const char *)(at - 1);
        c->on_message(c->message_user, &m);
        memmove(at, at - 1, len);
        at[-1] = saved;
        return;
    }
    /* Fallback for a topic outside rx: a bounded copy. */
    char copy[CLIENT_TOPIC_COPY_MAX];
    size_t n = len < sizeof copy - 1 ? len : sizeof copy - 1;
    if (n)
        memcpy(copy, msg->topic, n);
    copy[n] = '\0';
    m.topic = copy;
    c->on_message(c->message_user, &m);
}

static void client_on_suback(midge_client *c, const midge_event *ev)
{
    if (c->wait_id == 0 || ev->packet_id != c->wait_id)
        return;
    c->wait_status = MIDGE_OK;
    for (size_t i = 0; i < ev->suback.count; i++) {
        if (i < MIDGE_CLIENT_MAX_SUBS)
            c->granted[i] = ev->suback.codes[i];
        if (ev->suback.codes[i] == MIDGE_SUBACK_FAILURE)
            c->wait_status = MIDGE_ERR_SUBSCRIBE;
    }
    c->wait_done = true;
}

static void client_on_event(void *user, const midge_event *ev)
{
    midge_client *c = user;

    c->dispatching = true;
    switch (ev->type) {
    case MIDGE_EV_CONNACK:
        if (c->wait_id == 0) {
            c->wait_status = ev->status;
            c->granted[0] = ev->connack.session_present;
            c->wait_done = true;
        }
        break;
    case MIDGE_EV_MESSAGE:
        c->got_message = true;
        if (c->on_message)
            client_deliver(c, &ev->message);
        break;
    case MIDGE_EV_SUBACK:
        client_on_suback(c, ev);
        break;
    case MIDGE_EV_UNSUBACK:
        if (c->wait_id != 0 && ev->packet_id == c->wait_id) {
            c->wait_status = MIDGE_OK;
            c->wait_done = true;
        }
        break;
    default:
        break;
    }
    if (c->on_event)
        c->on_event(c->event_user, ev);
    c->dispatching = false;
}

/* The session's trace carries the session's user (this client); forward
 * to the configured trace with its own context. */
static void client_on_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    midge_client *c = user;
    c->cfg.trace(c->cfg.trace_user, outgoing, packet, len);
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
    /* The default opener resolves the host; a custom one may not need it. */
    if (cfg->host == NULL && cfg->open == NULL)
        return MIDGE_ERR_INVALID;

    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->tcp.fd = -1;
    if (c->cfg.open == NULL) {
        c->cfg.open = midge_tcp_opener;
        c->cfg.opener = &c->tcp;
    }
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
    c->retry_at_ms = midge_clock_ms();

    midge_session_init(&c->session, bufs, client_on_event, c);
    midge_session_set_connack_timeout(&c->session, client_connack_timeout(c));
    if (c->cfg.trace)
        midge_session_set_trace(&c->session, client_on_trace);
    return MIDGE_OK;
}

void midge_client_set_callback(midge_client *c, midge_message_fn fn, void *user)
{
    c->on_message = fn;
    c->message_user = user;
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
    midge_status st = client_open(c, &client_unbounded);
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

    midge_status st = midge_session_disconnect(&c->session, midge_clock_ms());
    if (st == MIDGE_OK)
        st = client_send_final(c);
    /* An explicit disconnect is not a loss: no reconnect gets scheduled. */
    client_close(c);
    return st;
}

midge_status midge_client_ping(midge_client *c)
{
    client_deadline d = client_call_deadline(c);
    midge_status st = client_ready(c, &d);
    if (st != MIDGE_OK)
        return st;
    st = midge_session_ping(&c->session, midge_clock_ms());
    if (st != MIDGE_OK)
        return st;
    return client_drain(c, &d);
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
        return midge_session_publish(&c->session, &msg, packet_id, midge_clock_ms());
    if (!c->transport_open && !c->cfg.auto_reconnect)
        return MIDGE_ERR_NOT_CONNECTED;

    client_deadline d = client_call_deadline(c);
    midge_status st;
    for (;;) {
        st = c->transport_open
                 ? midge_session_publish(&c->session, &msg, packet_id, midge_clock_ms())
                 : MIDGE_AGAIN;
        if (st != MIDGE_AGAIN)
            break;
        /* No room, or no connection yet; the session took nothing of the
         * message, so a timeout or an interruption here leaves it all with
         * the caller. A full store (QoS 1/2) waits for acknowledgements to
         * come in; a full tx (QoS 0) only for the socket to take bytes,
         * never for input that may not come. */
        st = client_wait_bounded(c, &d, c->transport_open && qos > 0, true);
        if (st != MIDGE_OK)
            return st;
    }
    if (st != MIDGE_OK)
        return st;
    /* Taken: from here the message is the session's. Whatever the socket
     * could not take before the bound leaves with the next call, so the
     * caller must not publish it again. */
    st = client_push(c, &d);
    return st == MIDGE_TIMEOUT || st == MIDGE_ERR_INTERRUPTED ? MIDGE_OK : st;
}

midge_status midge_client_flush(midge_client *c, uint32_t timeout_ms)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    client_deadline d = deadline_in(timeout_ms);
    const uint8_t *data;

    for (;;) {
        bool acks_due = midge_session_inflight(&c->session) > 0;
        if (!acks_due && (!c->transport_open || midge_session_pending(&c->session, &data) == 0))
            return MIDGE_OK;
        uint32_t left = deadline_left(&d);
        if (left == 0)
            return MIDGE_TIMEOUT;
        /* Input is awaited only while acknowledgements are due. Bytes that
         * merely sit in tx (QoS 0 queued from a callback) leave with the
         * step's send; waiting for input after that would hold the call
         * until the next timer (the keepalive) or the deadline. */
        midge_status st = client_pump(c, left, &client_unbounded, acks_due, NULL);
        if (st != MIDGE_OK)
            return st;
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
    midge_status st = client_ready(c, &d);
    if (st != MIDGE_OK)
        return st;
    uint16_t id = 0;
    st = client_queue_subscribe(c, subs, count, &id, &d);
    if (st != MIDGE_OK)
        return st;

    c->wait_id = id;
    c->wait_done = false;
    memset(c->granted, MIDGE_SUBACK_FAILURE, sizeof c->granted);
    st = client_await_reply(c, &d);
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
    midge_status st = client_ready(c, &d);
    if (st != MIDGE_OK)
        return st;
    uint16_t id = 0;
    for (;;) {
        st = midge_session_unsubscribe(&c->session, &filter, 1, &id, midge_clock_ms());
        if (st != MIDGE_AGAIN)
            break;
        st = client_wait_bounded(c, &d, true, false);
        if (st != MIDGE_OK)
            return st;
    }
    if (st != MIDGE_OK)
        return st;

    c->wait_id = id;
    c->wait_done = false;
    st = client_await_reply(c, &d);
    c->wait_id = 0;
    return st;
}

midge_status midge_client_wait_msg(midge_client *c)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    c->got_message = false;
    while (!c->got_message) {
        midge_status st = client_pump(c, CLIENT_FOREVER, &client_unbounded, true, NULL);
        if (st != MIDGE_OK)
            return st;
        /* No bound of its own, but a signal may still end the wait. */
        if (!c->got_message && client_interrupted(c))
            return MIDGE_ERR_INTERRUPTED;
    }
    return MIDGE_OK;
}

midge_status midge_client_check_msg(midge_client *c)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    return client_pump(c, 0, &client_unbounded, false, NULL);
}

midge_status midge_client_poll(midge_client *c, uint32_t timeout_ms)
{
    if (c->dispatching)
        return MIDGE_ERR_STATE;
    client_deadline d = deadline_in(timeout_ms);

    for (;;) {
        bool got = false;
        uint32_t left = deadline_left(&d);
        midge_status st = client_pump(c, left, &client_unbounded, true, &got);
        if (st != MIDGE_OK)
            return st;
        if (got)
            return MIDGE_OK;
        if (deadline_left(&d) == 0)
            return MIDGE_TIMEOUT;
    }
}

bool midge_client_is_connected(const midge_client *c)
{
    return c->transport_open && midge_session_is_connected(&c->session);
}
