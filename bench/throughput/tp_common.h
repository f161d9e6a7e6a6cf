/*
 * Shared by the throughput programs: one command line, one payload and one
 * clock for every library, so that only the library differs between runs.
 *
 *   publisher:  PROGRAM PORT TOPIC QOS COUNT [MODE]
 *   subscriber: tp_sub PORT TOPIC QOS COUNT
 *
 * A publisher connects to 127.0.0.1:PORT, publishes COUNT messages of
 * TP_PAYLOAD_LEN bytes to TOPIC as fast as it can, with at most TP_WINDOW
 * QoS 1 messages unacknowledged, waits until everything is on its way
 * (QoS 0) or acknowledged (QoS 1), and disconnects. It prints one line:
 *   sent=COUNT seconds=S cpu=C
 * where C is the process's user + system CPU seconds (all its threads, the
 * connect included): on a machine shared with other work the CPU a library
 * spends per message is steadier than any rate.
 * The rate that counts is measured by the subscriber (tp_sub), not here.
 *
 * Every wait in these programs is bounded by TP_DEADLINE_S seconds: a stuck
 * broker ends a run with an error, never a hang.
 */
#ifndef TP_COMMON_H
#define TP_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define TP_HOST "127.0.0.1"
#define TP_PAYLOAD_LEN 64
/* QoS 1 messages in flight at most, for every library. */
#define TP_WINDOW 20
/* Upper bound of any one program run, in seconds. */
#define TP_DEADLINE_S 120
/* Longest accepted topic (the scripts use short per-run topics). */
#define TP_TOPIC_MAX 128

typedef struct tp_args {
    int port;
    const char *topic;
    int qos;
    long count;
    const char *mode; /* library-specific variant; NULL = the default */
} tp_args;

static inline void tp_parse(int argc, char **argv, tp_args *a)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s PORT TOPIC QOS COUNT [MODE]\n", argv[0]);
        exit(2);
    }
    a->port = atoi(argv[1]);
    a->topic = argv[2];
    a->qos = atoi(argv[3]);
    a->count = atol(argv[4]);
    a->mode = argc == 6 ? argv[5] : NULL;
    if (a->port <= 0 || a->port > 65535 || (a->qos != 0 && a->qos != 1) || a->count <= 0 ||
        strlen(a->topic) == 0 || strlen(a->topic) > TP_TOPIC_MAX) {
        fprintf(stderr, "%s: bad PORT, TOPIC, QOS (0 or 1) or COUNT\n", argv[0]);
        exit(2);
    }
}

/* A fixed, printable payload: every library sends the same bytes. */
static inline void tp_payload(unsigned char *buf)
{
    for (int i = 0; i < TP_PAYLOAD_LEN; i++)
        buf[i] = (unsigned char)('a' + i % 26);
}

/* Monotonic nanoseconds: the one clock of every measurement. */
static inline int64_t tp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* True once TP_DEADLINE_S seconds have passed since `start_ns`. */
static inline int tp_expired(int64_t start_ns)
{
    return tp_now_ns() - start_ns > (int64_t)TP_DEADLINE_S * 1000000000;
}

/* User + system CPU seconds of this process so far, every thread included. */
static inline double tp_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static inline void tp_report(long sent, int64_t start_ns)
{
    printf("sent=%ld seconds=%.6f cpu=%.6f\n", sent, (double)(tp_now_ns() - start_ns) / 1e9,
           tp_cpu_seconds());
    fflush(stdout);
}

#endif /* TP_COMMON_H */
