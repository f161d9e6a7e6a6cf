/*
 * midge brokers: a list of brokers to fail over between, and the rules of
 * moving along it. Sans I/O like the core: the blocking client follows
 * these rules (client.h, cfg.brokers), and so can any event loop that
 * drives sessions itself (a fleet simulator).
 *
 * The rules (those of Paho's serverURIs, made exact):
 *   - an attempt is one address of one item: a TCP connect, a TLS
 *     handshake where there is TLS, CONNECT and its CONNACK;
 *   - an attempt that fails (TCP, TLS, a CONNACK refusal, no CONNACK in
 *     time), or a connection that is lost, moves on at once: to the next
 *     address of the same host when it has one, else to the next item,
 *     after the last back to the first;
 *   - once every item has failed in turn since the last CONNACK (a pass),
 *     the caller waits its backoff, then makes the next pass, starting
 *     with the item the failed pass started with;
 *   - a CONNACK ends the pass and resets the backoff; a connection is
 *     kept for as long as it lasts (no failback to an earlier item).
 *
 * A lost connection counts as the first failure of a pass, so with one
 * broker, every loss waits the backoff before the next attempt, and with
 * several, the next broker is tried at once.
 */
#ifndef MIDGE_BROKERS_H
#define MIDGE_BROKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One item of a broker list: a host name or address, and a port. */
typedef struct midge_broker {
    const char *host;
    uint16_t port;
} midge_broker;

/*
 * Split a broker list in place: items separated by commas, each "host",
 * "host:port", "[v6-address]:port", "[v6-address]" or a bare IPv6 address
 * (two colons or more, no port): "a,b:1884,[::1]:1885". Every comma and
 * the port separators are overwritten with NUL, so out[i].host points into
 * text, which must outlive the list. Items without a port get
 * default_port. Returns MIDGE_OK with *count items (at least one);
 * MIDGE_ERR_INVALID for an empty item, an empty host, an unclosed '[' or
 * a port outside 1..65535, and MIDGE_ERR_NO_SPACE for more than cap
 * items, with *count then the index of the item at fault.
 */
midge_status midge_brokers_parse(char *text, uint16_t default_port, midge_broker *out,
                                 size_t cap, size_t *count);

/* The most items, and addresses per item, the rules follow. */
#define MIDGE_FAILOVER_MAX_ITEMS 65535u
#define MIDGE_FAILOVER_MAX_ADDRS 255u

/* Where an attempt stands in a list of `count` items: 12 bytes, small
 * enough for one per simulated device of a fleet. Caller-owned, no
 * pointer inside; fields private by convention. */
typedef struct midge_failover {
    uint16_t count;
    uint16_t at;         /* the item tried, or connected to */
    uint16_t pass_start; /* the item the pass started with */
    uint8_t addr;        /* which of its addresses (0 = the first) */
    bool addr_more;      /* another address follows addr */
    bool in_pass;        /* attempts failed since the last CONNACK or pass */
    bool pass_over;      /* the last failure ended a pass: back off */
    int8_t worst;        /* the failure of the pass that got furthest */
} midge_failover;

/* Start at item `first` (taken modulo count; a fleet rotates the list so
 * that each device starts at its own broker). count is clamped to
 * 1..MIDGE_FAILOVER_MAX_ITEMS; past MIDGE_FAILOVER_MAX_ADDRS addresses an
 * item counts as having no more. */
void midge_failover_init(midge_failover *f, size_t count, size_t first);

/* The attempt to make next: item and address. */
static inline size_t midge_failover_item(const midge_failover *f) { return f->at; }
static inline unsigned midge_failover_addr(const midge_failover *f) { return f->addr; }

/* What the opener said of the address tried: whether another follows it. */
static inline void midge_failover_more(midge_failover *f, bool more) { f->addr_more = more; }

/* The attempt at the current item failed with `st`, or its connection was
 * lost: move to the next address or item. Returns true when that ended a
 * pass (the caller waits its backoff before the next attempt), false when
 * the next attempt is due at once. */
bool midge_failover_failed(midge_failover *f, midge_status st);

/* A CONNACK: the pass is over, and the current item is the one in use. */
void midge_failover_connected(midge_failover *f);

/* True when the last failure ended a pass (until the next attempt starts
 * or a CONNACK comes): the time to wait the backoff. */
static inline bool midge_failover_pass_over(const midge_failover *f) { return f->pass_over; }

/* The failure that got furthest in the last (or current) pass: a broker's
 * refusal over no CONNACK, that over a failure after the TCP connect
 * (TLS, a closed or malformed connection), that over a TCP failure, that
 * over a name that did not resolve; among equals, the latest. MIDGE_OK
 * before any failure. What a caller reports when a whole pass failed. */
static inline midge_status midge_failover_status(const midge_failover *f)
{
    return (midge_status)f->worst;
}

/* An attempt is starting: it is no longer time to back off. */
static inline void midge_failover_attempt(midge_failover *f) { f->pass_over = false; }

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_BROKERS_H */
