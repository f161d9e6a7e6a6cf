/*
 * midge CLI: the one option parser every subcommand shares, over the
 * option table (options_table.h).
 */
#ifndef MIDGE_CLI_OPTIONS_H
#define MIDGE_CLI_OPTIONS_H

#include "options_table.h"

/* Exit statuses shared by all subcommands, mosquitto's: 27 for -W, 8 for
 * a TLS failure, and a connection the broker refused exits with its
 * CONNACK return code, 1..5 (cli_exit_connect). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_TLS = 8,
    CLI_EXIT_TIMEOUT = 27
};

enum cli_parse_result {
    CLI_PARSE_RUN,        /* options valid: run the command */
    CLI_PARSE_EXIT_OK,    /* --help or --version printed: exit 0 */
    CLI_PARSE_EXIT_USAGE  /* one error line printed: exit 1 */
};

/* Parse argv (argv[0] is the subcommand name) for `cmd` into *o, applying
 * defaults first and the checks every subcommand shares afterwards. */
enum cli_parse_result cli_parse(const struct cli_command *cmd, int argc, char **argv,
                                struct cli_options *o);

/* Print `cmd`'s usage, generated from the option table, to stdout. */
void cli_usage(const struct cli_command *cmd);

#endif /* MIDGE_CLI_OPTIONS_H */
