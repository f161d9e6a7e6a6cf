/*
 * Shared by the publish-cost programs: the same command line, topic and
 * payload for every library, so only the library differs between runs.
 *
 *   usage: PROGRAM PORT COUNT
 *
 * Each program connects to a broker on 127.0.0.1:PORT, waits for CONNACK,
 * publishes COUNT QoS 0 messages of BENCH_PAYLOAD_LEN bytes to BENCH_TOPIC,
 * then disconnects. Running it for two counts under callgrind and
 * subtracting cancels the fixed cost (startup, connect, teardown), leaving
 * the cost of one publish.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_TOPIC "bench/publish/cost"
#define BENCH_PAYLOAD_LEN 64
#define BENCH_HOST "127.0.0.1"

/* Reads PORT and COUNT; exits with a usage line on anything else. */
static inline void bench_args(int argc, char **argv, int *port, long *count)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT COUNT\n", argv[0]);
        exit(2);
    }
    *port = atoi(argv[1]);
    *count = atol(argv[2]);
    if (*port <= 0 || *port > 65535 || *count < 0) {
        fprintf(stderr, "%s: bad PORT or COUNT\n", argv[0]);
        exit(2);
    }
}

/* A fixed, printable payload: every library sends the same bytes. */
static inline void bench_payload(unsigned char *buf)
{
    for (int i = 0; i < BENCH_PAYLOAD_LEN; i++)
        buf[i] = (unsigned char)('a' + i % 26);
}

#endif /* BENCH_COMMON_H */
