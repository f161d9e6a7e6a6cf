/*
 * midge CLI: the flags of mosquitto_pub and mosquitto_sub beyond the
 * common ones (-L, -A, --unix, -I, -M, --quiet, -s, --repeat, -N, -F, ...),
 * with mosquitto 2.0.11's meaning. Their rows sit in the one option table
 * (options_table.c); their values are checked and stored here.
 */
#ifndef MIDGE_CLI_OPTIONS_MOSQ_H
#define MIDGE_CLI_OPTIONS_MOSQ_H

#include <stdbool.h>

#include "options_table.h"

/* Names of the long-only flags the apply function here tells apart,
 * apart from options_table.c's own. */
enum cli_mosq_key {
    KEY_UNIX = 512,
    KEY_TLS_OS_CERTS,
    KEY_REPEAT,
    KEY_REPEAT_DELAY,
    KEY_FORGET
};

/* Check and store one of those flags (the apply function of their rows);
 * false after one error line. */
bool cli_mosq_apply(const struct cli_command *cmd, struct cli_options *o,
                    const struct cli_option *opt, const char *arg,
                    const struct cli_option_note *note);

/* Once every layer is in and the common checks passed: the checks between
 * these flags, the client id from -I (id_given: -i came from some layer,
 * which -I may not join), the {device-id} of --prefix, and --quiet's
 * silence. False after one error line. */
bool cli_mosq_finish(const struct cli_command *cmd, struct cli_options *o, bool id_given);

#endif /* MIDGE_CLI_OPTIONS_MOSQ_H */
