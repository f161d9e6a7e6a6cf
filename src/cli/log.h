/*
 * midge CLI: log lines on stderr for the long-running subcommands.
 *
 *   2026-11-26T17:04:05.123Z info  command "on" on $creq/3e25... -> LED on
 *
 * UTC, ISO-8601 with milliseconds, then the level padded to five columns,
 * then the message. A line is written with one stdio call so lines from
 * one process never interleave. Debug lines (and the -d packet trace) show
 * only after cli_log_set_debug(true). Callers never pass a secret: the
 * CONNECT password is masked by the trace, and tokens and keys are never
 * formatted into a message.
 */
#ifndef MIDGE_CLI_LOG_H
#define MIDGE_CLI_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cli_log_level {
    CLI_LOG_ERROR,
    CLI_LOG_WARN,
    CLI_LOG_INFO,
    CLI_LOG_DEBUG
};

void cli_log_set_debug(bool on);
bool cli_log_debug_enabled(void);

/* One line (no trailing newline in fmt). */
void cli_log(enum cli_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The -d packet trace in the log format: a midge_trace_fn (user unused). */
void cli_log_trace(void *user, bool outgoing, const uint8_t *packet, size_t len);

#endif /* MIDGE_CLI_LOG_H */
