/*
 * The client under test, one process per case so that a crash, a sanitizer
 * report or a hang is confined to its case and visible in its exit status.
 *
 *   TARGET_LIB  a forked child runs the midge client library
 *   TARGET_CLI  the `midge` executable (`midge pub -l` / `midge sub`)
 */
#ifndef CONFORMANCE_TARGET_H
#define CONFORMANCE_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cases.h"

typedef enum target_mode { TARGET_LIB, TARGET_CLI } target_mode;

/* Exit status a sanitizer report produces in the processes this runner
 * starts (set through ASAN_OPTIONS/UBSAN_OPTIONS/LSAN_OPTIONS): distinct from
 * any status a client exits with by itself. */
#define TARGET_SANITIZER_EXIT 86

/* Exit status of a library child that could not even set up its client. */
#define TARGET_SETUP_EXIT 3

typedef struct target {
    target_mode mode;
    pid_t pid;
    int report_fd; /* LIB: the child's account of its calls; -1 otherwise */
    int stdin_fd;  /* CLI: write end of its standard input; -1 once closed */
    int log_fd;    /* CLI: its stdout and stderr (an unlinked temporary file) */
    int capture_fd; /* CLI: their copy for the secrets scan (test_output.h) */
} target;

/* Make sanitizer reports in started processes exit with
 * TARGET_SANITIZER_EXIT (merged into the options already set). */
void target_setup_environment(void);

/* Why a case cannot run in this mode (e.g. no CLI equivalent), or NULL. */
const char *target_unsupported(target_mode mode, const conf_case *c);

/* Start the client for case `c`, to connect to 127.0.0.1:port. */
bool target_start(target *t, target_mode mode, const conf_case *c, uint16_t port, char *why,
                  size_t why_cap);

/* Whether the client process is still running (it stays waitable). */
bool target_running(const target *t);

/* End the client: close its stdin, give it a moment to exit on its own,
 * then SIGTERM, then SIGKILL. Returns false when it crashed, reported a
 * sanitizer error or had to be killed hard; `why` says which. `detail`
 * receives what the client said (library calls' results, CLI output). */
bool target_finish(target *t, char *why, size_t why_cap, char *detail, size_t detail_cap);

/* The library child's body (client_child.c): never returns. */
void client_child_run(const conf_case *c, uint16_t port, int report_fd);

#endif /* CONFORMANCE_TARGET_H */
