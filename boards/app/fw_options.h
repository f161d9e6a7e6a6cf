/*
 * The firmware's command line (QEMU: -append "..."; a real board would
 * read the same words from its flash): the options of `midge device` that
 * apply on a board, with the same names, ranges, defaults and messages.
 * Not here: TLS, --config, --led (the board has one), --state-file,
 * --inbox-* (no heap: the firmware answers from a fixed slot) and
 * --device-key (signing needs mbedTLS, which the firmware leaves out:
 * give the token with -P).
 *
 * Portable C (getopt_long): the host tests compile it too.
 */
#ifndef MIDGE_FW_OPTIONS_H
#define MIDGE_FW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/config.h"

#define FW_PROG "midge firmware"

enum fw_log_level { FW_LOG_ERROR, FW_LOG_WARN, FW_LOG_INFO, FW_LOG_DEBUG };

/* A deliberate trap, to prove the board's traps stop it (tests only). */
enum fw_trap { FW_TRAP_NONE, FW_TRAP_FAULT, FW_TRAP_HEAP };

struct fw_options {
    const char *host;
    uint16_t port;
    const char *client_id; /* -i: the device id, which it may repeat */
    const char *username;
    const char *password;
    uint16_t keepalive_s;
    bool clean_session;
    const char *profile; /* NULL = "mqtt" */
    const char *device_id;
    const char *product_id;
    const char *prefix;
    const char *property;
    const char *topics[MIDGE_DEVICE_MAX_EXTRA_TOPICS];
    size_t topic_count;
    bool subscribe_commands;
    unsigned long backoff_min_ms;
    unsigned long backoff_max_ms;
    unsigned long connack_timeout_ms;
    enum fw_log_level log_level;
    enum fw_trap trap;
    /* which options were given, for the defaults that depend on others */
    bool host_set, port_set, keepalive_set, log_level_set, quiet, debug;
};

enum fw_parse_result { FW_PARSE_RUN, FW_PARSE_EXIT_OK, FW_PARSE_EXIT_USAGE };

/* Parse argv (argv[0] is skipped) into *o with the board's defaults
 * (`default_host`, where the board reaches a broker). Prints --help or
 * --version, or one error line on stderr ("midge firmware: ..."). */
enum fw_parse_result fw_options_parse(int argc, char **argv, const char *default_host,
                                      struct fw_options *o);

#endif /* MIDGE_FW_OPTIONS_H */
