/*
 * midge CLI: log lines (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "log.h"

static bool cli_log_debug;

void cli_log_set_debug(bool on) { cli_log_debug = on; }

bool cli_log_debug_enabled(void) { return cli_log_debug; }

static const char *cli_log_level_name(enum cli_log_level level)
{
    switch (level) {
    case CLI_LOG_ERROR: return "error";
    case CLI_LOG_WARN: return "warn";
    case CLI_LOG_INFO: return "info";
    default: return "debug";
    }
}

/* "2026-11-26T17:04:05.123Z": wall-clock time, since a log is read by
 * people comparing it with other machines' logs, unlike the monotonic
 * clock the protocol timers use. */
static void cli_log_stamp(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void cli_log_vline(enum cli_log_level level, const char *fmt, va_list ap)
{
    char stamp[40];
    char msg[1024];

    cli_log_stamp(stamp, sizeof stamp);
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One fprintf: stderr is unbuffered, so several calls could let
     * another writer's bytes land inside the line. */
    fprintf(stderr, "%s %-5s %s\n", stamp, cli_log_level_name(level), msg);
}

void cli_log(enum cli_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level == CLI_LOG_DEBUG && !cli_log_debug)
        return;
    va_start(ap, fmt);
    cli_log_vline(level, fmt, ap);
    va_end(ap);
}

void cli_log_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    char stamp[40];

    if (!cli_log_debug)
        return;
    /* The trace writes the rest of the line itself (trace.c). */
    cli_log_stamp(stamp, sizeof stamp);
    fprintf(stderr, "%s %-5s ", stamp, cli_log_level_name(CLI_LOG_DEBUG));
    cli_trace_packet(user, outgoing, packet, len);
}
