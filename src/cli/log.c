/*
 * midge CLI: log lines (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "escape.h"
#include "log.h"

/* A message's longest text, and that text with every byte escaped. */
#define CLI_LOG_MSG_MAX 1024
#define CLI_LOG_SHOWN_MAX (4 * CLI_LOG_MSG_MAX + 4)

static enum cli_log_level cli_log_max = CLI_LOG_INFO;

void cli_log_set_level(enum cli_log_level level) { cli_log_max = level; }

bool cli_log_enabled(enum cli_log_level level) { return level <= cli_log_max; }

const char *cli_log_level_name(enum cli_log_level level)
{
    switch (level) {
    case CLI_LOG_ERROR: return "error";
    case CLI_LOG_WARN: return "warn";
    case CLI_LOG_INFO: return "info";
    default: return "debug";
    }
}

bool cli_log_level_parse(const char *name, enum cli_log_level *level)
{
    static const enum cli_log_level all[] = { CLI_LOG_ERROR, CLI_LOG_WARN, CLI_LOG_INFO,
                                              CLI_LOG_DEBUG };

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, cli_log_level_name(all[i])) == 0) {
            *level = all[i];
            return true;
        }
    }
    return false;
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
    char msg[CLI_LOG_MSG_MAX];
    char shown[CLI_LOG_SHOWN_MAX];

    cli_log_stamp(stamp, sizeof stamp);
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* Topics and other bytes from the network end up in messages: none
     * may end the line early or reach the terminal as a control. */
    cli_escape_line(shown, sizeof shown, msg);
    /* One fprintf: stderr is unbuffered, so several calls could let
     * another writer's bytes land inside the line. */
    fprintf(stderr, "%s %-5s %s\n", stamp, cli_log_level_name(level), shown);
}

void cli_log(enum cli_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!cli_log_enabled(level))
        return;
    va_start(ap, fmt);
    cli_log_vline(level, fmt, ap);
    va_end(ap);
}

void cli_log_trace(void *user, bool outgoing, const uint8_t *packet, size_t len)
{
    char stamp[40];
    char line[CLI_TRACE_LINE_MAX];

    (void)user;
    if (!cli_log_enabled(CLI_LOG_DEBUG) || !cli_trace_format(line, sizeof line, outgoing, packet, len))
        return;
    cli_log_stamp(stamp, sizeof stamp);
    fprintf(stderr, "%s %-5s %s\n", stamp, cli_log_level_name(CLI_LOG_DEBUG), line);
}
