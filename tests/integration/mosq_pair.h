/*
 * The same command line run by `midge pub`/`midge sub` and by Debian's
 * mosquitto_pub/mosquitto_sub 2.0.11, for the tests that compare them
 * output for output and exit status for exit status. Header-only, with
 * proc.h; each test executable includes it once, after cmocka.h.
 */
#ifndef MIDGE_TEST_MOSQ_PAIR_H
#define MIDGE_TEST_MOSQ_PAIR_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proc.h"

#define MOSQUITTO_PUB "/usr/bin/mosquitto_pub"
#define MOSQUITTO_SUB "/usr/bin/mosquitto_sub"
#define PAIR_RUN_TIMEOUT_MS 20000
#define PAIR_ARGS_MAX 48

/* A NULL-terminated argument list. */
#define ARGS(...) ((char *[]){__VA_ARGS__, NULL})

/* The two runs: midge's and mosquitto's. Large: static. */
static proc pair_midge, pair_mosq;

/* argv of both for `tool` ("pub" or "sub") and the same `args`. */
static inline void pair_argv(const char *tool, char *const args[], char *midge[], char *mosq[])
{
    size_t n = 0;

    midge[0] = MIDGE_BINARY;
    midge[1] = (char *)tool;
    mosq[0] = strcmp(tool, "pub") == 0 ? MOSQUITTO_PUB : MOSQUITTO_SUB;
    for (; args[n] != NULL && n + 3 < PAIR_ARGS_MAX; n++) {
        midge[n + 2] = args[n];
        mosq[n + 1] = args[n];
    }
    midge[n + 2] = NULL;
    mosq[n + 1] = NULL;
}

/* Run both to the end, one after the other, stdin_data to each. */
static inline void pair_run(const char *tool, char *const args[], const char *stdin_data)
{
    char *midge[PAIR_ARGS_MAX];
    char *mosq[PAIR_ARGS_MAX];

    pair_argv(tool, args, midge, mosq);
    proc_run(&pair_midge, midge, stdin_data, PAIR_RUN_TIMEOUT_MS);
    proc_run(&pair_mosq, mosq, stdin_data, PAIR_RUN_TIMEOUT_MS);
}

/* Start both (to be fed live messages), stdin from /dev/null. */
static inline void pair_start(const char *tool, char *const args[])
{
    char *midge[PAIR_ARGS_MAX];
    char *mosq[PAIR_ARGS_MAX];

    pair_argv(tool, args, midge, mosq);
    proc_start(&pair_midge, midge, NULL);
    proc_start(&pair_mosq, mosq, NULL);
}

static inline bool pair_both_exited(void)
{
    proc_check_exit(&pair_midge);
    proc_check_exit(&pair_mosq);
    return pair_midge.exited && pair_mosq.exited;
}

/* Collect both for up to ms, then wait for their end (killed after 5 s). */
static inline void pair_pump(int ms)
{
    proc_pump(&pair_midge, ms / 2);
    proc_pump(&pair_mosq, ms / 2);
}

static inline void pair_finish(void)
{
    proc_wait(&pair_midge, 5000);
    proc_wait(&pair_mosq, 5000);
}

/* Stop whichever still runs (a test's teardown). */
static inline void pair_stop(void)
{
    if (pair_midge.pid > 0 && !pair_midge.exited)
        proc_stop(&pair_midge);
    if (pair_mosq.pid > 0 && !pair_mosq.exited)
        proc_stop(&pair_mosq);
}

/* Every digit as '9': times and dates differ between two runs, their
 * shape must not. */
static inline void pair_mask_digits(proc *p)
{
    for (size_t i = 0; i < p->out_len; i++) {
        if (p->out[i] >= '0' && p->out[i] <= '9')
            p->out[i] = '9';
    }
}

/* The same stdout, byte for byte (NULs included), and the same status. */
static inline bool pair_same(const char *what)
{
    bool same = proc_exit_code(&pair_midge) == proc_exit_code(&pair_mosq) &&
                pair_midge.out_len == pair_mosq.out_len &&
                memcmp(pair_midge.out, pair_mosq.out, pair_midge.out_len) == 0;
    if (!same) {
        fprintf(stderr, "%s: midge and mosquitto differ\n", what);
        proc_dump(&pair_midge, "midge");
        proc_dump(&pair_mosq, "mosquitto");
    }
    return same;
}

/* Both ended with `code` (cmocka assertions; both dumped when not). */
static inline void pair_expect_exit(int code, const char *what)
{
    if (proc_exit_code(&pair_midge) != code || proc_exit_code(&pair_mosq) != code) {
        proc_dump(&pair_midge, what);
        proc_dump(&pair_mosq, what);
    }
    assert_int_equal(proc_exit_code(&pair_midge), code);
    assert_int_equal(proc_exit_code(&pair_mosq), code);
}

#endif /* MIDGE_TEST_MOSQ_PAIR_H */
