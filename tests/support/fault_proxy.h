/*
 * A TCP fault proxy for tests: listens on a free 127.0.0.1 port, forwards
 * every connection it accepts to 127.0.0.1:server_port, and misbehaves on
 * request. It runs in its own thread inside the test process; every control
 * call below is thread-safe and may be made from any thread while traffic
 * flows. (tests/fault/fault_proxy_tool.c wraps it as a stand-alone helper
 * driven by lines on stdin.)
 *
 * Directions: UP is client -> server, DOWN is server -> client.
 *
 * Faults:
 *   stall       bytes in a stalled direction are read (as a network would
 *               accept them) but held, up to the proxy's buffer; they flow
 *               again, in order, when the stall is lifted.
 *   reset       every live connection is closed with SO_LINGER 0 on both
 *               sides, so the client and the server each see a TCP RST.
 *   cut after N a connection is reset once N bytes have been forwarded in
 *               the chosen direction(s), counted from its start: exactly N
 *               bytes reach the other side (the proxy waits, briefly, for
 *               them to be acknowledged before the RST).
 *   byte mode   each byte is a separate send() with a pause after it, and
 *               TCP_NODELAY is on, so the receiver reads one byte at a time.
 *   chaos       every live connection is reset at random moments, a uniform
 *               min..max milliseconds apart; optionally after holding the
 *               client -> server direction for a random moment first.
 *   refuse      new connections are accepted and reset at once.
 * A connection the server refuses is reset on the client side.
 *
 * Limits: FAULT_PROXY_MAX_CONNS connections at a time (more are reset on
 * accept), FAULT_PROXY_BUF bytes held per direction and connection. The
 * proxy thread stops by itself after FAULT_PROXY_MAX_RUN_MS, so that even a
 * test that forgets to stop it ends.
 */
#ifndef MIDGE_TEST_FAULT_PROXY_H
#define MIDGE_TEST_FAULT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAULT_PROXY_MAX_CONNS 32
#define FAULT_PROXY_BUF 65536
#define FAULT_PROXY_MAX_RUN_MS (2LL * 60 * 60 * 1000)
/* Accept times remembered (the most recent ones). */
#define FAULT_PROXY_ACCEPT_LOG 256

enum fault_dir {
    FAULT_NONE = 0,
    FAULT_UP = 1,   /* client -> server */
    FAULT_DOWN = 2, /* server -> client */
    FAULT_BOTH = 3
};

typedef struct fault_proxy fault_proxy;

typedef struct fault_proxy_stats {
    unsigned long accepted;        /* client connections accepted */
    unsigned long live;            /* connections open now */
    unsigned long resets;          /* connections reset by the proxy (reset, chaos, cut, refuse) */
    unsigned long cuts;            /* of those, by cut-after-N */
    unsigned long closed;          /* connections ended by a peer (FIN or RST) */
    unsigned long server_refused;  /* the server could not be reached: client reset */
    unsigned long overflow;        /* accepted beyond FAULT_PROXY_MAX_CONNS and reset */
    unsigned long long bytes_up;   /* bytes forwarded client -> server */
    unsigned long long bytes_down; /* bytes forwarded server -> client */
    unsigned long long sends_up;   /* send() calls that moved bytes, client -> server */
    unsigned long long sends_down;
    /* Recovery: from a reset made by the proxy to the first server byte
     * forwarded on a connection accepted after it (for an MQTT client:
     * the CONNACK of its reconnect). -1 = none measured yet. */
    long long worst_recovery_ms;
    long long last_recovery_ms;
    unsigned long recoveries;
} fault_proxy_stats;

/* Start the proxy thread in front of 127.0.0.1:server_port. Returns NULL
 * after one line on stderr on failure. */
fault_proxy *fault_proxy_start(uint16_t server_port);

/* Stop the thread, close every connection (plain close) and free. NULL is
 * allowed. */
void fault_proxy_stop(fault_proxy *p);

/* The port clients connect to (on 127.0.0.1). */
uint16_t fault_proxy_port(const fault_proxy *p);

/* Back to plain forwarding: no stall, no byte mode, no cut, no chaos, no
 * refusal. Live connections stay. */
void fault_proxy_pass(fault_proxy *p);

/* Hold the given directions (FAULT_NONE: let everything flow again). */
void fault_proxy_stall(fault_proxy *p, unsigned dirs);

/* One byte per send() in `dirs` (FAULT_NONE = off), pausing gap_ms
 * (at least 1) after each. */
void fault_proxy_byte_mode(fault_proxy *p, unsigned dirs, unsigned gap_ms);

/* Reset each connection once n bytes were forwarded in `dirs` (summed when
 * FAULT_BOTH). n = 0 or dirs = FAULT_NONE turns it off. */
void fault_proxy_cut_after(fault_proxy *p, unsigned dirs, unsigned long n);

/* Reset every live connection now; returns how many were reset, once they
 * have been (-1 if the proxy thread did not answer within 5 s). */
int fault_proxy_reset_all(fault_proxy *p);

/* Reset every live connection at random intervals of min_ms..max_ms
 * (deterministic for a given seed). max_ms = 0 turns it off. */
void fault_proxy_chaos(fault_proxy *p, unsigned min_ms, unsigned max_ms, uint32_t seed);

/* The same, but before each reset the client -> server direction is held
 * for a random 0..hold_ms: the client's last packets (its acknowledgements
 * of what it just received, say) die with the connection, so the server
 * sends those messages again on the next one. */
void fault_proxy_chaos_hold(fault_proxy *p, unsigned min_ms, unsigned max_ms, unsigned hold_ms,
                            uint32_t seed);

/* Reset new connections as soon as they are accepted. */
void fault_proxy_refuse(fault_proxy *p, bool on);

/* A consistent copy of the counters. */
void fault_proxy_get_stats(fault_proxy *p, fault_proxy_stats *out);

/* Zero the counters (live is kept) and forget the accept times. */
void fault_proxy_clear_stats(fault_proxy *p);

/* Copy up to max of the most recent accept times (CLOCK_MONOTONIC ms, as
 * fault_proxy_now_ms), oldest first; returns how many were copied. */
size_t fault_proxy_accept_times(fault_proxy *p, long long *ms, size_t max);

/* Wait until `live` connections are open (exactly), up to timeout_ms.
 * Returns true when reached. */
bool fault_proxy_wait_live(fault_proxy *p, unsigned long live, int timeout_ms);

/* CLOCK_MONOTONIC milliseconds, the proxy's own time base. */
long long fault_proxy_now_ms(void);

#endif /* MIDGE_TEST_FAULT_PROXY_H */
