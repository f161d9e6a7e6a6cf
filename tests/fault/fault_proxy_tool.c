/*
 * The fault proxy as a stand-alone helper, for experiments by hand or from
 * a script:
 *
 *   fault_proxy_tool SERVER_PORT
 *
 * prints "port N" (the proxy's 127.0.0.1 port) and then obeys one command
 * per line on stdin, answering each with one line:
 *
 *   pass                       plain forwarding again
 *   stall up|down|both|none    hold a direction
 *   bytes up|down|both|none [GAP_MS]
 *   cut up|down|both|none N    reset each connection after N bytes
 *   reset                      reset every live connection
 *   chaos MIN_MS MAX_MS [SEED [HOLD_MS]]
 *                              reset at random intervals, holding client ->
 *                              server up to HOLD_MS first (chaos 0 0: off)
 *   refuse on|off              reset new connections at once
 *   stats                      the counters
 *   quit                       (or end of input)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_proxy.h"

#define LINE_MAX_LEN 256
/* Bounded like everything else: a script feeding more is cut off. */
#define COMMANDS_MAX 1000000L

static int parse_dirs(const char *word, unsigned *dirs)
{
    static const struct {
        const char *name;
        unsigned dirs;
    } names[] = {{"none", FAULT_NONE}, {"up", FAULT_UP}, {"down", FAULT_DOWN}, {"both", FAULT_BOTH}};
    for (size_t i = 0; word != NULL && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(word, names[i].name) == 0) {
            *dirs = names[i].dirs;
            return 0;
        }
    }
    return -1;
}

static unsigned long parse_ulong(const char *word, unsigned long fallback)
{
    char *end;
    if (word == NULL)
        return fallback;
    errno = 0;
    unsigned long v = strtoul(word, &end, 10);
    return (errno != 0 || *end != '\0') ? fallback : v;
}

static void print_stats(fault_proxy *p)
{
    fault_proxy_stats st;
    fault_proxy_get_stats(p, &st);
    printf("accepted %lu live %lu resets %lu cuts %lu closed %lu refused %lu "
           "up %llu down %llu worst_recovery_ms %lld recoveries %lu\n",
           st.accepted, st.live, st.resets, st.cuts, st.closed, st.server_refused, st.bytes_up,
           st.bytes_down, st.worst_recovery_ms, st.recoveries);
}

/* One command line; returns 1 to quit. */
static int run_command(fault_proxy *p, char *line)
{
    char *cmd = strtok(line, " \t\r\n");
    char *a = strtok(NULL, " \t\r\n");
    char *b = strtok(NULL, " \t\r\n");
    char *c = strtok(NULL, " \t\r\n");
    char *d = strtok(NULL, " \t\r\n");
    unsigned dirs;

    if (cmd == NULL)
        return 0;
    if (strcmp(cmd, "quit") == 0)
        return 1;
    if (strcmp(cmd, "pass") == 0) {
        fault_proxy_pass(p);
    } else if (strcmp(cmd, "stall") == 0 && parse_dirs(a, &dirs) == 0) {
        fault_proxy_stall(p, dirs);
    } else if (strcmp(cmd, "bytes") == 0 && parse_dirs(a, &dirs) == 0) {
        fault_proxy_byte_mode(p, dirs, (unsigned)parse_ulong(b, 1));
    } else if (strcmp(cmd, "cut") == 0 && parse_dirs(a, &dirs) == 0) {
        fault_proxy_cut_after(p, dirs, parse_ulong(b, 0));
    } else if (strcmp(cmd, "reset") == 0) {
        printf("reset %d\n", fault_proxy_reset_all(p));
        return 0;
    } else if (strcmp(cmd, "chaos") == 0 && a != NULL && b != NULL) {
        fault_proxy_chaos_hold(p, (unsigned)parse_ulong(a, 0), (unsigned)parse_ulong(b, 0),
                               (unsigned)parse_ulong(d, 0), (uint32_t)parse_ulong(c, 1));
    } else if (strcmp(cmd, "refuse") == 0 && a != NULL) {
        fault_proxy_refuse(p, strcmp(a, "on") == 0);
    } else if (strcmp(cmd, "stats") == 0) {
        print_stats(p);
        return 0;
    } else {
        printf("error: unknown command\n");
        return 0;
    }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    char line[LINE_MAX_LEN];
    unsigned long port = argc == 2 ? parse_ulong(argv[1], 0) : 0;

    if (port == 0 || port > 65535) {
        fprintf(stderr, "usage: fault_proxy_tool SERVER_PORT\n");
        return 2;
    }
    fault_proxy *p = fault_proxy_start((uint16_t)port);
    if (p == NULL)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("port %u\n", (unsigned)fault_proxy_port(p));
    for (long i = 0; i < COMMANDS_MAX && fgets(line, sizeof line, stdin) != NULL; i++) {
        if (run_command(p, line))
            break;
    }
    fault_proxy_stop(p);
    return 0;
}
