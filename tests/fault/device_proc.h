/*
 * `midge device` as a child process for the fault tests, with its log read
 * by a thread as it is written and turned into facts the tests check:
 * which command ids were acted on (and how often), which were answered
 * again as repeats, when connections were lost and why, when CONNACKs came.
 *
 * Command ids the tests send are "c" + decimal index (c00042): the index
 * is what the counters are kept by.
 *
 * Every wait is bounded; the child gets SIGKILL if the test process dies.
 * Like every `midge` child of the tests, its output is also copied for the
 * secrets scan (tests/support/test_output.h).
 */
#ifndef MIDGE_FAULT_DEVICE_PROC_H
#define MIDGE_FAULT_DEVICE_PROC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Command indexes tracked (the soak's console, paced, stays below). */
#define DEVICE_PROC_MAX_CMDS 32768
/* Timestamped events kept per kind; later ones are only counted. */
#define DEVICE_PROC_MAX_EVENTS 8192
/* The tail of the log kept for a failing test's diagnosis. */
#define DEVICE_PROC_TAIL 16384

enum device_event {
    DEVICE_EV_ATTEMPT = 0, /* "connecting to ..." */
    DEVICE_EV_CONNECTED,   /* "connected (session present: ...)" */
    DEVICE_EV_BACKOFF,     /* "reconnecting in N ms": an outage or a failed attempt */
    DEVICE_EV_LOST,        /* "connection lost: ..." */
    DEVICE_EV_KEEPALIVE,   /* a loss for want of traffic (1.5 x keepalive) */
    DEVICE_EV_CONNACK_TIMEOUT, /* an attempt that got no CONNACK in time */
    DEVICE_EV_CONNECT_FAILED,  /* any other failed attempt */
    DEVICE_EV_SESSION_NEW,     /* a CONNACK with session present: no */
    DEVICE_EV_KINDS
};

typedef struct device_proc {
    pid_t pid;
    int fd; /* stdout and stderr of the child, merged */
    int log_fd; /* their copy for the secrets scan (test_output.h), -1 = none */
    pthread_t reader;
    bool reader_started;
    pthread_mutex_t lock;
    /* Under lock. */
    bool eof;
    unsigned short acts[DEVICE_PROC_MAX_CMDS];    /* "command ..." lines per index */
    unsigned short repeats[DEVICE_PROC_MAX_CMDS]; /* "repeated command ..." lines */
    unsigned long total_acts;
    unsigned long total_repeats;
    unsigned long untracked_acts; /* acts on ids that are not "c" + index */
    unsigned long led_changes;
    int led; /* last "LED on|off" line: 1, 0, or -1 before any */
    unsigned long warnings; /* "warn" lines other than the ones parsed */
    unsigned long inbox_full_lines; /* "inbox full (...): N QoS 0 messages dropped" */
    unsigned long inbox_dropped;    /* the sum of their N */
    /* Backoffs right after a CONNACK with no line saying why the connection
     * ended (a failure while subscribing or publishing after CONNACK). */
    unsigned long unexplained_drops;
    bool since_connack_quiet; /* a CONNACK and no loss or error line since */
    long long events[DEVICE_EV_KINDS][DEVICE_PROC_MAX_EVENTS]; /* fault_proxy_now_ms() */
    unsigned long event_count[DEVICE_EV_KINDS];
    char tail[DEVICE_PROC_TAIL]; /* ring of the last log bytes */
    size_t tail_head;
    bool tail_wrapped;
    /* The reader's own. */
    char line[2048];
    size_t line_len;
} device_proc;

/* Start `midge device` (MIDGE_BINARY, or $MIDGE_FAULT_MIDGE) with argv (argv[0] = "device", NULL
 * terminated, at most 31 entries). Returns 0, or -1 after a line on stderr. */
int device_proc_start(device_proc *d, const char *const *argv);

/* SIGTERM, up to 5 s for a clean exit, then SIGKILL; joins the reader.
 * Returns the exit status (-1 when it had to be killed). Safe to call on a
 * device_proc that was never started (pid 0). */
int device_proc_stop(device_proc *d);

/* Number of events of `kind` so far. */
unsigned long device_proc_count(device_proc *d, enum device_event kind);

/* The time of the first event of `kind` at or after `since_ms`, waiting up
 * to timeout_ms for it; -1 if none came. */
long long device_proc_wait_event(device_proc *d, enum device_event kind, long long since_ms,
                                 int timeout_ms);

/* How many events of `kind` happened in [from_ms, to_ms). */
unsigned long device_proc_count_between(device_proc *d, enum device_event kind,
                                        long long from_ms, long long to_ms);

/* The longest gap from a DEVICE_EV_LOST to the next DEVICE_EV_CONNECTED
 * (ms; -1 if no loss was followed by a CONNACK). */
long long device_proc_worst_reconnect(device_proc *d);

/* Print the kept tail of the log to stderr. */
void device_proc_dump(device_proc *d, const char *why);

#endif /* MIDGE_FAULT_DEVICE_PROC_H */
