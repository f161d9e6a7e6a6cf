/*
 * `midge device` as a child process against a fake OneNET server: start it,
 * wait for what the server sees while collecting the device's stdout and
 * stderr (a full pipe must never stall the device), stop it. Header-only,
 * for the tests in this folder; every wait is bounded.
 */
#ifndef MIDGE_TEST_DEVICE_RUN_H
#define MIDGE_TEST_DEVICE_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fake_onenet.h"
#include "proc.h"

#define RUN_ARGS_MAX 48
#define RUN_SLICE_MS 20 /* how often a wait looks at the server and the pipes */

typedef struct device_run {
    proc p;              /* large: keep device_run static */
    fake_onenet *server;
    size_t cursor;       /* next event run_wait looks at */
    char port[8];
    char *argv[RUN_ARGS_MAX];
    bool started;
} device_run;

/* MIDGE_BINARY device <common...> -h 127.0.0.1 -p PORT <extra...>; both
 * lists end with NULL. */
static inline bool run_start(device_run *r, const char *const *common, const char *const *extra)
{
    size_t n = 0;

    snprintf(r->port, sizeof r->port, "%u", (unsigned)fake_onenet_port(r->server));
    r->argv[n++] = (char *)MIDGE_BINARY;
    r->argv[n++] = (char *)"device";
    for (size_t i = 0; common != NULL && common[i] != NULL && n < RUN_ARGS_MAX - 6; i++)
        r->argv[n++] = (char *)common[i];
    r->argv[n++] = (char *)"-h";
    r->argv[n++] = (char *)"127.0.0.1";
    r->argv[n++] = (char *)"-p";
    r->argv[n++] = r->port;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < RUN_ARGS_MAX - 1; i++)
        r->argv[n++] = (char *)extra[i];
    r->argv[n] = NULL;
    /* Waits look only at what this run caused. */
    r->cursor = fake_onenet_count(r->server);
    r->started = proc_start(&r->p, r->argv, NULL) == 0;
    return r->started;
}

static inline bool run_alive(device_run *r)
{
    proc_check_exit(&r->p);
    return r->started && !r->p.exited;
}

/* Collect output for `ms` whatever happens. */
static inline void run_quiet(device_run *r, int ms)
{
    long long deadline = proc_now_ms() + ms;
    while (proc_now_ms() < deadline)
        proc_pump(&r->p, RUN_SLICE_MS);
}

/* Wait for the first event of kind `what` (and `topic`, if not NULL) at
 * or after *cursor, collecting output meanwhile. Gives up early when the
 * device exits. */
static inline bool run_wait_from(device_run *r, size_t *cursor, fake_onenet_what what,
                                 const char *topic, int timeout_ms, fake_onenet_event *ev)
{
    long long deadline = proc_now_ms() + timeout_ms;
    for (;;) {
        if (fake_onenet_next(r->server, cursor, what, topic, RUN_SLICE_MS, ev))
            return true;
        proc_pump(&r->p, 1);
        if (proc_now_ms() >= deadline || !run_alive(r))
            return fake_onenet_next(r->server, cursor, what, topic, 0, ev);
    }
}

static inline bool run_wait(device_run *r, fake_onenet_what what, const char *topic,
                            int timeout_ms, fake_onenet_event *ev)
{
    return run_wait_from(r, &r->cursor, what, topic, timeout_ms, ev);
}

/* Everything the device said and the server saw, for a failing test. */
static inline void run_dump(device_run *r, const char *what)
{
    proc_pump(&r->p, 50);
    fprintf(stderr, "==== %s ====\ncommand:", what);
    for (size_t i = 0; r->argv[i] != NULL; i++) {
        /* Credentials are shown as stars, even test ones. */
        bool secret = i > 0 && (strcmp(r->argv[i - 1], "-P") == 0 ||
                                strcmp(r->argv[i - 1], "--password") == 0 ||
                                strcmp(r->argv[i - 1], "--device-key") == 0);
        fprintf(stderr, " %s", secret ? "********" : r->argv[i]);
    }
    fputc('\n', stderr);
    proc_dump(&r->p, "midge device");
    fake_onenet_dump(r->server, what);
}

/* SIGTERM and wait (SIGKILL after 3 s); returns the exit code, -1 for a
 * signal or a hang. */
static inline int run_stop(device_run *r)
{
    if (!r->started)
        return -1;
    proc_stop(&r->p);
    r->started = false;
    return proc_exit_code(&r->p);
}

/* Lines of stderr that contain `needle`. */
static inline int run_err_lines_with(const device_run *r, const char *needle)
{
    int n = 0;
    const char *line = r->p.err;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        for (size_t i = 0; i + strlen(needle) <= len; i++) {
            if (memcmp(line + i, needle, strlen(needle)) == 0) {
                n++;
                break;
            }
        }
        line += len + (end != NULL);
    }
    return n;
}

#endif /* MIDGE_TEST_DEVICE_RUN_H */
