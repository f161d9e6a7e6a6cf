/*
 * midge CLI: configuration layers. Every option a subcommand accepts can
 * come from three places, first one wins:
 *
 *   1. its flag                    --device-id lamp1
 *   2. the environment             MIDGE_DEVICE_ID=lamp1
 *   3. an INI file (--config FILE, or MIDGE_CONFIG), section [midge]
 *                                  device-id = lamp1
 *
 * The environment name of an option is "MIDGE_" and its long name in upper
 * case with '-' as '_'; its INI key is the long name itself. Options
 * without a value take true/false, 1/0, yes/no or on/off. -t may be given
 * on several INI lines. --help, --version and --print-config are flags
 * only; --config may also come from MIDGE_CONFIG.
 *
 * Everything here works over the option table (options_table.h), whose
 * entries also say where each value lives in struct cli_options and which
 * values are secrets, so a new option is layered, printed and, if secret,
 * masked without any change to this file. Strings taken from the
 * environment or the file live until the process ends.
 *
 * The layers sit on the table and on nothing else of the option machinery:
 * the defaults (config_defaults.h) and the parser (options.h) are above.
 */
#ifndef MIDGE_CLI_CONFIG_H
#define MIDGE_CLI_CONFIG_H

#include <stdbool.h>

#include "options_table.h"

/* Forget the layers of an earlier parse (cli_parse calls it first). */
void cli_layers_reset(void);

/* Record that the option was given as a flag (arg may be NULL), so the
 * lower layers leave it alone and --print-config shows it. */
void cli_layers_note_flag(const struct cli_option *opt, const char *arg);

/* The same for every option a flag sets besides its own (-L's parts): the
 * note to pass to cli_option_apply with a flag's value. */
extern const struct cli_option_note cli_layers_flag_note;

/* Apply the environment and the config file to every option `cmd` accepts
 * that no flag set. Prints one error line and returns false on a bad
 * file, key or value; warns when a file holding a secret is readable by
 * others. */
bool cli_layers_apply(const struct cli_command *cmd, struct cli_options *o);

/* True when the option with this long name was set by any layer. */
bool cli_layers_given(const char *long_name);

/* Forget the layer that set this option, once another option has
 * overruled its value: --print-config then shows the value in force. */
void cli_layers_forget(const char *long_name);

/* True when option `a` was set by a layer that beats the one that set `b`
 * (any layer beats none), e.g. a -q flag over MIDGE_LOG_LEVEL. */
bool cli_layers_outranks(const char *a, const char *b);

/* Print the effective configuration to stdout as an INI file, secrets
 * masked, each line saying where its value came from. */
void cli_layers_print(const struct cli_command *cmd, const struct cli_options *o);

#endif /* MIDGE_CLI_CONFIG_H */
