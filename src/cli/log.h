/*
 * midge CLI: log lines on stderr for the long-running subcommands.
 *
 *   2026-11-26T17:04:05.123Z info  command "on" on $creq/3e25... -> LED on
 *
 * UTC, ISO-8601 with milliseconds, then the level padded to five columns,
 * then the message. A line is written with one stdio call so lines from
 * one process never interleave, and shows only printable ASCII: any other
 * byte of the message (a topic from the broker holding ESC or a newline)
 * is written as \xNN (escape.h), so no message can forge a line. Lines below the level set with
 * cli_log_set_level() (info by default) are skipped before anything is
 * formatted, so a quiet device pays one comparison per line; the -d
 * packet trace shows at debug only. Callers never pass a secret: the
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

/* The most detailed level written; lines above it are dropped. */
void cli_log_set_level(enum cli_log_level level);
bool cli_log_enabled(enum cli_log_level level);

/* "error", "warn", "info", "debug" (--log-level); false for anything else. */
bool cli_log_level_parse(const char *name, enum cli_log_level *level);
const char *cli_log_level_name(enum cli_log_level level);

/* One line (no trailing newline in fmt). */
void cli_log(enum cli_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The -d packet trace in the log format: a midge_trace_fn (user unused). */
void cli_log_trace(void *user, bool outgoing, const uint8_t *packet, size_t len);

#endif /* MIDGE_CLI_LOG_H */
