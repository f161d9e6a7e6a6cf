/*
 * midge CLI: the flags of mosquitto_pub and mosquitto_sub beyond the
 * common ones (-L, -A, --unix, -I, -M, --quiet, -s, --repeat, -N, -F, ...),
 * with mosquitto 2.0.11's meaning. Their rows sit in the one option table
 * (options.c); their values are checked and stored here.
 */
#ifndef MIDGE_CLI_OPTIONS_MOSQ_H
#define MIDGE_CLI_OPTIONS_MOSQ_H

#include <stdbool.h>

#include "options.h"

struct cli_command;

/* Keys of the long-only flags here, apart from options.c's own. */
enum cli_mosq_key {
    KEY_MOSQ_FIRST = 512,
    KEY_UNIX = KEY_MOSQ_FIRST,
    KEY_NODELAY,
    KEY_QUIET_ERRORS,
    KEY_TLS_OS_CERTS,
    KEY_REPEAT,
    KEY_REPEAT_DELAY,
    KEY_PRETTY,
    KEY_REMOVE_RETAINED,
    KEY_RETAINED_ONLY,
    KEY_FORGET,
    KEY_MOSQ_END
};

/* True for the keys (letters included) cli_mosq_apply handles. */
bool cli_mosq_handles(int key);

/* Check and store one of those flags; false after one error line. */
bool cli_mosq_apply(const struct cli_command *cmd, struct cli_options *o, int key,
                    const char *arg);

/* Once every layer is in and the common checks passed: the checks between
 * these flags, the client id from -I, the {device-id} of --prefix, and
 * --quiet's silence. False after one error line. */
bool cli_mosq_finish(const struct cli_command *cmd, struct cli_options *o);

#endif /* MIDGE_CLI_OPTIONS_MOSQ_H */
