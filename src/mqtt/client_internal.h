/*
 * Internals shared by client.c (configuration and the public blocking
 * calls), client_io.c (one step of I/O and the waits built on it),
 * client_connect.c (opening, losing and reviving the connection) and
 * client_event.c (the session's events: replies awaited, messages handed
 * to the application).
 * Not part of the public API.
 */
#ifndef MIDGE_CLIENT_INTERNAL_H
#define MIDGE_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/client.h"

/* "No limit" for the timeouts of flush and poll and for call_timeout_ms.
 * Anything above INT32_MAX counts as no limit too: deadlines are compared
 * as signed differences. */
#define CLIENT_FOREVER UINT32_MAX

/* --- time ------------------------------------------------------------- */

/* The platform's clock (platform.h): every reading of time in the client. */
static inline uint32_t client__now(const midge_client *c)
{
    return c->cfg.platform->clock_ms(c->cfg.platform->ctx);
}

typedef struct client_deadline {
    uint32_t at;
    bool forever;
} client_deadline;

/* A deadline timeout_ms after `now` (a client__now() reading the
 * caller has anyway), or after this moment. */
static inline client_deadline client__deadline_from(uint32_t now, uint32_t timeout_ms)
{
    client_deadline d = { now + timeout_ms, timeout_ms > (uint32_t)INT32_MAX };
    return d;
}

static inline client_deadline client__deadline_in(const midge_client *c, uint32_t timeout_ms)
{
    return client__deadline_from(client__now(c), timeout_ms);
}

/* Milliseconds left (wrap-safe), CLIENT_FOREVER for no limit. */
static inline uint32_t client__deadline_left(const midge_client *c,
                                             const client_deadline *d)
{
    if (d->forever)
        return CLIENT_FOREVER;
    int32_t left = (int32_t)(d->at - client__now(c));
    return left > 0 ? (uint32_t)left : 0;
}

/* Whichever of two deadlines comes first. */
static inline client_deadline client__deadline_min(const client_deadline *a,
                                                   const client_deadline *b)
{
    if (a->forever)
        return *b;
    if (b->forever || (int32_t)(a->at - b->at) <= 0)
        return *a;
    return *b;
}

static inline uint32_t client__min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* --- configuration ------------------------------------------------------ */

/* The application's stop request (a signal), checked after every wait of
 * the calls that may block for seconds on a silent broker. */
static inline bool client__interrupted(const midge_client *c)
{
    return c->cfg.interrupted != NULL && c->cfg.interrupted(c->cfg.interrupt_user);
}

static inline uint32_t client__connack_timeout(const midge_client *c)
{
    return c->cfg.connack_timeout_ms ? c->cfg.connack_timeout_ms : MIDGE_CONNACK_TIMEOUT_MS;
}

/* --- client.c ----------------------------------------------------------- */

/* Hold the session while the application asks to, while no callback could
 * take a message, or while dropped messages wait for a new connection. */
void client__update_hold(midge_client *c);

/* --- client_io.c -------------------------------------------------------- */

/* Hand tx bytes to the transport until it is empty or would block. */
midge_status client__send(midge_client *c, bool *blocked);

/*
 * One round of I/O on the open transport. Waits (up to wait_ms, cut short
 * by the session's timers) while tx is blocked, or for input when
 * wait_input; otherwise it only moves what can move now.
 */
midge_status client__step(midge_client *c, uint32_t wait_ms, bool wait_input, bool *got_input);

/*
 * A step for the calls that ride out connection loss (publish, flush,
 * poll, wait_msg, check_msg, and the waits for a connection of subscribe,
 * unsubscribe and ping). With auto_reconnect a loss is not returned: the
 * caller's loop goes on and the next pump reconnects, within `bound`.
 */
midge_status client__pump(midge_client *c, uint32_t wait_ms, const client_deadline *bound,
                          bool wait_input, bool *got_input);

/*
 * One wait of a call bounded by `d` (call_timeout_ms), for whatever keeps
 * it from going on: room in the session, a reply, a writable socket, or
 * (ride_out, with auto_reconnect) a connection. MIDGE_OK = look again;
 * MIDGE_TIMEOUT once `d` has passed and MIDGE_ERR_INTERRUPTED when the
 * application asks, both with the session as the wait left it; otherwise
 * the failure that closed the connection.
 */
midge_status client__wait_bounded(midge_client *c, const client_deadline *d, bool wait_input,
                                  bool ride_out);

/* Queue SUBSCRIBE for `subs`, stepping while the session has no room. */
midge_status client__queue_subscribe(midge_client *c, const midge_subscription *subs,
                                     size_t count, uint16_t *id, const client_deadline *d);

/* For the calls that need a live connection (subscribe, unsubscribe,
 * ping): with auto_reconnect, wait for one within `d`. */
midge_status client__ready(midge_client *c, const client_deadline *d);

/* Step until the awaited SUBACK/UNSUBACK (wait_id) arrived, within the
 * CONNACK timeout and `d`, whichever ends first. */
midge_status client__await_reply(midge_client *c, const client_deadline *d);

/* Drain tx to the transport, waiting for writability within `d`. */
midge_status client__drain(midge_client *c, const client_deadline *d);

/* Push out what tx holds (ending with DISCONNECT), for a bounded moment;
 * the caller closes the socket regardless. */
midge_status client__send_final(midge_client *c);

/* --- client_connect.c --------------------------------------------------- */

/* Let time pass without a transport to wait on (the backoff; a full rx):
 * the platform's idle hook, which a board uses to drive its network stack. */
static inline void client__idle(const midge_client *c, uint32_t ms)
{
    c->cfg.platform->idle(c->cfg.platform->ctx, ms);
}

/* Close the transport (if open) and tell the session; never fails. */
void client__close(midge_client *c);

/* Every failure on an open connection ends here. Returns `st`. */
midge_status client__lost(midge_client *c, midge_status st);

/*
 * Open a fresh transport, send CONNECT and wait for CONNACK. On success
 * granted[0] holds session_present (the scratch array is free here). An
 * attempt made inside a bounded call ends with it (`bound`): the opener
 * and the CONNACK wait get no more than what is left.
 */
midge_status client__open(midge_client *c, const client_deadline *bound);

/*
 * The transport is closed: with auto_reconnect, wait out the backoff (at
 * most wait_ms) and try once, within `bound`. MIDGE_OK = open again;
 * MIDGE_AGAIN = still backing off, no time left to try, or the attempt
 * failed (the next one is scheduled).
 */
midge_status client__revive(midge_client *c, uint32_t wait_ms, const client_deadline *bound);

/* --- client_event.c ------------------------------------------------------ */

/* The session's callbacks, with the client as their user: every event,
 * and the packet trace (set only when cfg.trace is). */
void client__on_event(void *user, const midge_event *ev);
void client__on_trace(void *user, bool outgoing, const uint8_t *packet, size_t len);

#endif /* MIDGE_CLIENT_INTERNAL_H */
