/*
 * midge CLI: the subcommand table and the pieces subcommands share.
 * Uses only midge's public headers.
 */
#ifndef MIDGE_CLI_H
#define MIDGE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/midge.h"
#include "midge/tls.h"
#include "options.h"

int cli_pub_run(const struct cli_command *cmd, int argc, char **argv);
int cli_sub_run(const struct cli_command *cmd, int argc, char **argv);
int cli_send_run(const struct cli_command *cmd, int argc, char **argv);
int cli_devices_run(const struct cli_command *cmd, int argc, char **argv);
int cli_token_run(const struct cli_command *cmd, int argc, char **argv);
int cli_device_run(const struct cli_command *cmd, int argc, char **argv);
int cli_bench_run(const struct cli_command *cmd, int argc, char **argv);
int cli_console_run(const struct cli_command *cmd, int argc, char **argv);

/* --- the connection every broker-facing subcommand opens (conn.c) -------- */

/* Buffer sizes a subcommand asks for. */
struct cli_conn_sizes {
    size_t tx;
    size_t rx;    /* the default largest incoming packet; --max-packet-size overrides it */
    size_t store; /* 0 for a subscriber that never publishes QoS 1/2 */
    midge_trace_fn trace; /* -d trace; NULL = cli_trace_packet */
};

/* The most brokers one -h list may name. */
#define CLI_MAX_BROKERS 32

/* Told of each failed attempt to connect while brokers of the list remain
 * to be tried (the device logs them): `why` is the attempt's one line,
 * `next` the broker tried next and `addr` which of its host's addresses
 * (0 = the first; more when a name has several). */
typedef void (*cli_conn_attempt_fn)(void *user, const char *why, const midge_broker *next,
                                    unsigned addr);

/* A client over our own midge_tcp, so the socket can be polled together
 * with other descriptors (stdin for pub -l). Heap buffers: the CLI is not
 * the no-heap core. */
struct cli_conn {
    midge_client client;
    midge_tcp tcp;
    midge_tcp_opener_ctx tcp_ctx; /* -A: the TCP socket binds first */
    midge_will will;
    uint8_t *tx;
    uint8_t *rx;
    uint8_t *store;
    uint16_t qos2_ids[64];
    const struct cli_options *opts;
    midge_tls *tls; /* heap (about 41 KB), only with TLS; holds the socket then */
    midge_tls_opener_ctx tls_ctx;
    size_t rx_size;      /* the largest packet accepted (--max-packet-size) */
    size_t refused_size; /* the last packet refused as larger than rx_size */
    uint32_t start_ms;   /* when the connection was set up: -W counts from here */
    uint32_t limit_ms;   /* -W in milliseconds; 0 = no bound */
    midge_transport_open_fn open; /* the transport's own opener, under -W's bound */
    midge_transport_open_addr_fn open_addr;
    void *opener;
    /* -h as a broker list: the items point into host_text (heap). */
    char *host_text;
    midge_broker brokers[CLI_MAX_BROKERS];
    size_t broker_count;
    /* The failed attempts of the connect under way, "; "-separated. */
    char failures[1024];
    cli_conn_attempt_fn on_attempt;
    void *attempt_user;
    unsigned long delivered; /* messages handed to the message callback so far */
    unsigned long subacks;   /* SUBACKs received so far (sub -E) */
};

/* Allocate, configure from *o, install `on_message` (may be NULL) and
 * connect. The callback is in place before CONNECT goes out: a broker
 * holding a persistent session sends its queued messages right behind the
 * CONNACK, often in the same read. With -W (o->timeout_s) the TCP connect
 * and the CONNACK wait get only what is left of it. Returns CLI_EXIT_OK
 * once connected; otherwise prints one error line, releases everything
 * and returns CLI_EXIT_TIMEOUT when -W ran out, else cli_exit_connect's
 * status (the CONNACK code of a refusal, CLI_EXIT_TLS). */
int cli_conn_open(struct cli_conn *k, const struct cli_options *o,
                  const struct cli_conn_sizes *sizes, midge_message_fn on_message, void *user);

/* The exit status of a connection that could not be made, as
 * mosquitto_pub and mosquitto_sub exit: the broker's CONNACK return code
 * (1..5) for a refusal, 8 for a TLS failure, 1 for anything else. */
int cli_exit_connect(int status);

/* Milliseconds left of -W (UINT32_MAX without -W), and whether it ran out. */
uint32_t cli_conn_left(const struct cli_conn *k);
bool cli_conn_expired(const struct cli_conn *k);

/* Bound the client's next publish or subscribe by what is left of -W
 * (every call that takes no timeout of its own waits at most that long).
 * Without -W nothing changes. */
void cli_conn_bound_calls(struct cli_conn *k);

/* Serve the connection (send, receive, keepalive) until the socket had
 * input, `extra_fd` (-1 = none) became readable (*extra_ready), timeout_ms
 * passed, or a signal arrived. A message already read (it may have come
 * with an acknowledgement a previous call waited for) ends it at once,
 * without sleeping: the caller's loop sees it first. Returns the client's
 * status. */
midge_status cli_conn_serve(struct cli_conn *k, int extra_fd, uint32_t timeout_ms,
                            bool *extra_ready);

/* cli_conn_open without the connect: allocate and configure from *o, with
 * `connect` (when not NULL) as the CONNECT options instead of *o's. The
 * caller then connects with midge_client_connect, as often as it likes.
 * On failure prints one error line, releases everything, returns false. */
bool cli_conn_setup(struct cli_conn *k, const struct cli_options *o,
                    const struct cli_conn_sizes *sizes, const midge_connect_opts *connect);

/* midge_client_connect (one pass over the broker list), recording each
 * failed attempt for cli_conn_describe. */
midge_status cli_conn_connect(struct cli_conn *k, bool *session_present);

/* Why connecting failed, in one line without the "midge cmd: " prefix:
 * the broker's refusal, the TLS failure, or the network error; for a
 * broker list, every attempt of the failed pass, each with its broker. */
void cli_conn_describe(const struct cli_conn *k, midge_status st, char *buf, size_t cap);

/* The broker, or the list, -h names (with -p's port where a broker has
 * none), as log lines show it: "host:port" or "a:1883,b:1884". */
const char *cli_conn_target(const struct cli_conn *k, char *buf, size_t cap);

/* "host:port" ("[v6]:port") of one broker. */
const char *cli_broker_name(const midge_broker *b, char *buf, size_t cap);

/* midge_strerror(st), except that a packet refused for its size is named
 * with its size and the limit. Returns buf. */
const char *cli_conn_status_text(const struct cli_conn *k, midge_status st, char *buf,
                                 size_t cap);

/* "midge cmd: connection lost: <cli_conn_status_text>", one line. */
void cli_conn_report_lost(const struct cli_conn *k, midge_status st);

/* Send DISCONNECT when still connected, close and free. */
void cli_conn_close(struct cli_conn *k);

/* SIGINT/SIGTERM set a flag (and interrupt poll) instead of killing. */
void cli_signals_install(void);
bool cli_stop_requested(void);

/* The -d packet trace (trace.c): midge_trace_fn, user = the options. */
void cli_trace_packet(void *user, bool outgoing, const uint8_t *packet, size_t len);

/* The longest trace line, NUL included; longer ones end in "...". */
#define CLI_TRACE_LINE_MAX 4096

/* One packet's trace line, without a newline, into buf (cap > 4): every
 * string from the packet escaped (escape.h). False when the packet's
 * header does not decode (nothing to show). */
bool cli_trace_format(char *buf, size_t cap, bool outgoing, const uint8_t *packet, size_t len);

#endif /* MIDGE_CLI_H */
