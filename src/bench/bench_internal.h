/*
 * midge bench: the simulator's parts, shared between its files (bench.h is
 * its interface). Like h2load drives HTTP/2 sessions, every simulated
 * device is a midge_session plus a midge_device on a non-blocking socket,
 * served by an epoll loop.
 *
 * Files:
 *   bench_run.c     the run: worker processes, the phases, the verdict
 *   bench_config.c  the options checked, brokers resolved, --bind parsed
 *   bench_fleet.c   one worker: its devices, connect pacing, timers
 *   bench_cmdr.c    the commander: commands at a fixed rate, round trips
 *   bench_io.c      a session on a non-blocking socket with shared buffers
 *   bench_hist.c    log-bucket latency histograms (fixed memory)
 *   bench_report.c  the text report, --json and --plot
 *
 * Processes: with --workers 1 (the default) there is one: its epoll loop
 * serves the devices and the commander alike. On a small machine that
 * matters for the round trip: a command crosses our process, the broker,
 * our process again, the broker and our process, and every hop waits for
 * a core if more processes are runnable than there are cores. One bench
 * process plus one broker fits two cores.
 *
 * With --workers W > 1 the parent runs the commander and coordinates, and
 * each of the W children runs a share of the devices and talks to the
 * parent over a SOCK_SEQPACKET socket pair, one struct bench_msg per
 * record. The single process takes the same messages as function calls.
 */
#ifndef MIDGE_BENCH_INTERNAL_H
#define MIDGE_BENCH_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench.h"
#include "midge/midge.h"

/* A command not answered within this long counts as timed out. */
#define BENCH_COMMAND_TIMEOUT_MS 5000u

/* The commander's cleanup at the end (bench_cmdr_finish): 2 small QoS 0
 * messages per device, well under a second for 50,000 devices. */
#define BENCH_CLEAR_TIMEOUT_MS 10000u

/* Descriptors a worker needs besides one per device: epoll, its control
 * socket, stdio, and slack for the C library. */
#define BENCH_FD_RESERVE 16u

/* Largest packet a device accepts. Commands, acknowledgements and CONNACK
 * are well under 100 bytes; this is the size of the rx buffer every device
 * of a worker shares. */
#define BENCH_DEV_MAX_PACKET 2048u

/* The payload of every command: the reply says the resulting LED state. */
#define BENCH_COMMAND "toggle"

struct bench_broker {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char name[96]; /* "host:port" for messages */
};

/* Everything a run needs, filled by bench_configure before any fork. */
struct bench_config {
    const struct bench_options *opts;
    struct bench_broker brokers[BENCH_MAX_BROKERS];
    unsigned broker_count;
    uint32_t devices;
    uint32_t rate;       /* commands per second; 0 = connect only */
    uint32_t duration_s; /* of the command phase */
    uint8_t qos;         /* of the commands and the commander's subscription */
    unsigned workers;
    uint32_t bind_first; /* --bind range, host byte order; bind_count 0 = none */
    uint32_t bind_count;
    const char *id_prefix; /* client ids are <prefix>-<worker>-<n> */
    bool onenet;           /* the onenet profile against the platform plugin (bench.h) */
    const char *product_id; /* onenet: the devices' product, the commander's user name */
    uint32_t connect_deadline_ms;
};

/* --- bench_config.c ---------------------------------------------------- */

/* Fill *c from *o: ranges, the broker list (resolved here), --bind, and
 * the descriptor limit (the soft limit is raised to the hard one). False
 * with one line in `why` (no program prefix). */
bool bench_configure(struct bench_config *c, const struct bench_options *o, char *why,
                     size_t cap);

/* --- bench_run.c ------------------------------------------------------- */

/* One error line through the caller's hook (bench.h), prefixed with the
 * program's name. */
void bench_error(const struct bench_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Devices are numbered globally g = n * workers + w, where w is the worker
 * and n the device's number inside it; device g uses broker g % brokers
 * and bind address g % bind_count. Both sides compute placement from this. */
static inline uint32_t bench_worker_devices(const struct bench_config *c, unsigned w)
{
    return c->devices / c->workers + (w < c->devices % c->workers ? 1u : 0u);
}

/* What a worker reports. Same binary on both ends of the socket pair, so
 * the struct travels as bytes. */
struct bench_fleet_stats {
    uint32_t devices;     /* this worker's share */
    uint32_t online;      /* connected and subscribed right now */
    uint64_t attempts;    /* TCP connects started */
    uint64_t retries;     /* connects that failed and were tried again */
    uint64_t disconnects; /* online devices that lost their connection */
    uint64_t errors;      /* protocol errors, outputs that could not be queued */
    uint64_t commands;    /* commands the devices acted on */
    uint32_t commanded;   /* devices that acted on at least one command */
    uint64_t duplicates;  /* redelivered commands answered again */
    uint64_t rejected;    /* commands the devices did not understand */
    uint64_t rss_before;  /* bytes, before the device table existed */
    uint64_t rss_after;   /* bytes, once every device was online */
    uint64_t connect_ns;  /* from the worker's start until all were online */
};

enum bench_msg_type {
    BENCH_MSG_PROGRESS = 1, /* worker -> parent, a few times a second */
    BENCH_MSG_READY,        /* worker -> parent: every device is online */
    BENCH_MSG_FAILED,       /* worker -> parent: reason says why; the worker exits */
    BENCH_MSG_FINAL,        /* worker -> parent: last figures; the worker exits */
    BENCH_MSG_STOP          /* parent -> worker: disconnect everything and report */
};

struct bench_msg {
    uint32_t type;
    uint32_t worker;
    struct bench_fleet_stats stats;
    char reason[160];
};

/* --- bench_fleet.c ----------------------------------------------------- */

/* Run worker `w` in a child process until the parent says stop (or goes
 * away). Returns the child's exit status. */
int bench_fleet_run(const struct bench_config *cfg, unsigned w, int ctl_fd);

/* The same worker inside another loop (one per process). Its sockets go on
 * `epfd` with epoll data `tag | device`; what it has to tell the
 * coordinator (progress, READY, FAILED, FINAL) is handed to `post` as the
 * message the worker process would send. Never NULL: a failure to set up
 * is posted as FAILED by the first step. */
struct bench_fleet;
typedef void (*bench_fleet_post_fn)(void *user, const struct bench_msg *m);
struct bench_fleet *bench_fleet_open(const struct bench_config *cfg, unsigned w, int epfd,
                                     uint64_t tag, bench_fleet_post_fn post, void *user);

/* Connect pacing, time-outs and reports. Returns how long the loop may
 * sleep in ms (-1: nothing to do, the fleet has failed or is closed). */
int bench_fleet_step(struct bench_fleet *f, uint32_t now_ms);

/* Readiness of device `i`'s socket (the low 32 bits of its epoll data). */
void bench_fleet_io(struct bench_fleet *f, uint32_t i, uint32_t events, uint32_t now_ms);

/* Disconnect every device, post FINAL (or FAILED), free everything. */
void bench_fleet_close(struct bench_fleet *f);

/* Resident set size of this process in bytes, from /proc/self/statm. */
uint64_t bench_rss_bytes(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* The time slice this process asks for while commands run. Linux's fair
 * scheduler (EEVDF, 6.6 and later) gives a thread that has just woken an
 * earlier deadline the shorter its slice, and from 6.12 lets a thread with
 * a shorter slice than the running one take the core at once instead of
 * waiting for that one's slice (over a millisecond) to run out. The
 * bench's loops run for tens of microseconds per wake-up and then sleep,
 * so they lose nothing by a short slice, and a command waits less behind
 * unrelated work that happens to hold the core. This is a hint within
 * SCHED_OTHER, taken from the process's fair share: no real-time policy,
 * no change of nice value, no privilege. The broker's own hops are not
 * affected. */
#define BENCH_SLICE_NS 100000u

/* Ask for BENCH_SLICE_NS; false if the kernel refused (nothing changes). */
bool bench_short_slice(void);

/* --- bench_hist.c ------------------------------------------------------ */

/* HDR-like: values below 2^SUB_BITS are exact, above that each power of
 * two is split into 2^(SUB_BITS-1) buckets, so a bucket is at most 1/64
 * (1.6 %) wide relative to its values; values up to 2^MAX_BITS ns (18
 * minutes) are kept apart, larger ones share the last bucket. */
#define BENCH_HIST_SUB_BITS 7u
#define BENCH_HIST_MAX_BITS 40u
#define BENCH_HIST_BINS                                                                  \
    ((1u << BENCH_HIST_SUB_BITS) +                                                       \
     (BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS) * (1u << (BENCH_HIST_SUB_BITS - 1u)))

struct bench_hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t bins[BENCH_HIST_BINS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t value);

/* The smallest recorded value v such that p percent of the values are <= v
 * (to the bucket's precision: its upper edge, never above the maximum). 0
 * when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);

/* Bucket `i`'s lowest and highest value, for the plot. */
uint64_t bench_hist_bin_low(unsigned i);
uint64_t bench_hist_bin_high(unsigned i);

/* Latency over time: the command phase cut into at most BENCH_TL_SLOTS
 * intervals, each with a coarse histogram (1/8 = 12.5 % buckets). */
#define BENCH_TL_SUB_BITS 4u
#define BENCH_TL_MAX_BITS 36u
#define BENCH_TL_BINS                                                                    \
    ((1u << BENCH_TL_SUB_BITS) +                                                         \
     (BENCH_TL_MAX_BITS - BENCH_TL_SUB_BITS) * (1u << (BENCH_TL_SUB_BITS - 1u)))
#define BENCH_TL_SLOTS 600u

struct bench_tl_slot {
    uint32_t count;
    uint32_t bins[BENCH_TL_BINS];
    uint64_t max;
};

struct bench_timeline {
    uint64_t step_ns; /* length of one interval */
    uint32_t used;    /* intervals that saw a command */
    struct bench_tl_slot slots[BENCH_TL_SLOTS];
};

/* Intervals of at least 100 ms, fewer than BENCH_TL_SLOTS over `span_ns`. */
void bench_timeline_init(struct bench_timeline *t, uint64_t span_ns);

/* A round trip of a command sent `at_ns` after the phase began. */
void bench_timeline_add(struct bench_timeline *t, uint64_t at_ns, uint64_t value);
uint64_t bench_timeline_percentile(const struct bench_tl_slot *s, double p);

/* --- bench_cmdr.c ---------------------------------------------------------- */

struct bench_cmdr_stats {
    uint64_t sent;      /* commands handed to a broker connection */
    uint64_t replies;   /* matched replies (round trips measured) */
    uint64_t timeouts;  /* no reply within BENCH_COMMAND_TIMEOUT_MS */
    uint64_t planned;   /* commands the phase was to send: duration x rate */
    uint64_t errors;    /* error replies, publish failures, lost connections */
    uint64_t unmatched; /* replies to no command of ours (or repeated) */
    uint64_t stalls;    /* times a connection's store was full and sending waited */
};

struct bench_cmdr;

/* Connect one commander connection per broker (asynchronously, on `epfd`;
 * its epoll data is BENCH_EP_CMDR | broker index). NULL with *why filled on
 * failure to set up. */
struct bench_cmdr *bench_cmdr_create(const struct bench_config *cfg, int epfd, char *why,
                                     size_t cap);
void bench_cmdr_destroy(struct bench_cmdr *c);

/* Socket readiness for broker `b`'s connection. */
void bench_cmdr_io(struct bench_cmdr *c, unsigned b, uint32_t events);

/* Timers: keepalive, command time-outs. Call at least every 100 ms. */
void bench_cmdr_tick(struct bench_cmdr *c);

/* Every connection subscribed to the replies. */
bool bench_cmdr_ready(const struct bench_cmdr *c);

/* A connection failed for good: *why (NULL-terminated) says why. */
bool bench_cmdr_failed(const struct bench_cmdr *c, const char **why);

/* Start the command phase now; then send what is due (call often; it
 * returns the nanoseconds until the next command is due, or UINT64_MAX
 * once all duration x rate are sent). */
void bench_cmdr_start(struct bench_cmdr *c);
uint64_t bench_cmdr_send_due(struct bench_cmdr *c);

/* Commands sent but neither answered nor timed out. */
uint64_t bench_cmdr_outstanding(const struct bench_cmdr *c);

/* Once the devices are gone: empty retained messages on every device's
 * presence and state topics, so that the run leaves nothing behind, then
 * DISCONNECT on every connection, all written out within
 * BENCH_CLEAR_TIMEOUT_MS. False when some connection could not do it (the
 * devices that were connected at the end cleared their own already). */
bool bench_cmdr_finish(struct bench_cmdr *c);

const struct bench_cmdr_stats *bench_cmdr_stats(const struct bench_cmdr *c);
const struct bench_hist *bench_cmdr_hist(const struct bench_cmdr *c);
const struct bench_timeline *bench_cmdr_timeline(const struct bench_cmdr *c);

/* Epoll data tags: kind in the high 32 bits, index below. */
#define BENCH_EP_CMDR ((uint64_t)1 << 32)
#define BENCH_EP_WORKER ((uint64_t)2 << 32)
#define BENCH_EP_DEV ((uint64_t)3 << 32)
#define BENCH_EP_KIND(tag) ((tag) & ~(uint64_t)0xffffffffu)

/* --- bench_report.c -------------------------------------------------------- */

/* How many devices were online at a moment of the connect phase. */
struct bench_ramp_point {
    uint32_t ms;
    uint32_t online;
};
#define BENCH_RAMP_POINTS 1024u

struct bench_results {
    const struct bench_config *cfg;
    struct bench_fleet_stats fleet; /* merged over workers */
    uint64_t connect_ns;            /* start until every device was online */
    uint64_t command_ns;            /* length of the command phase */
    const struct bench_cmdr_stats *cmd;
    const struct bench_hist *latency;
    const struct bench_timeline *timeline;
    const struct bench_ramp_point *ramp;
    size_t ramp_len;
};

/* Bytes of the process's own memory per connected device. */
double bench_bytes_per_device(const struct bench_results *r);

void bench_report_text(const struct bench_results *r, FILE *out);

/* False after printing one error line. */
bool bench_report_json(const struct bench_results *r, const char *path);

/* False after one error line when gnuplot failed; a missing gnuplot prints
 * one line and still returns true. */
bool bench_report_plot(const struct bench_results *r, const char *path);

/* Whether `path` (the file of `flag`, "--json" or "--plot") can be written,
 * checked before the run: opened for writing without truncating it, and
 * removed again when this check created it. False after one error line. */
bool bench_report_writable(const struct bench_options *o, const char *flag, const char *path);

#endif /* MIDGE_BENCH_INTERNAL_H */
