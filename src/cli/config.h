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
 * Everything here works over the option table in options.c, whose entries
 * also say where each value lives in struct cli_options and which values
 * are secrets, so a new option is layered, printed and, if secret, masked
 * without any change to this file. Strings taken from the environment or
 * the file live until the process ends.
 */
#ifndef MIDGE_CLI_CONFIG_H
#define MIDGE_CLI_CONFIG_H

#include <stdbool.h>

#include "options.h"

struct cli_command;

/* Forget the layers of an earlier parse (cli_parse calls it first). */
void cli_layers_reset(void);

/* Record that the option was given as a flag (arg may be NULL), so the
 * lower layers leave it alone and --print-config shows it. */
void cli_layers_note_flag(const struct cli_option *opt, const char *arg);

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

/* Defaults that depend on other options: TLS turned on by its file
 * options, port 8883 with TLS, a profile's endpoint and keepalive, the
 * OneNET CA for onenet-studio over TLS, the device identity. Prints one
 * line and returns false on a conflict; with --print-config it only
 * derives, and leaves conflicts for a run to report. */
bool cli_config_finish(const struct cli_command *cmd, struct cli_options *o);

/* Print the effective configuration to stdout as an INI file, secrets
 * masked, each line saying where its value came from. */
void cli_layers_print(const struct cli_command *cmd, const struct cli_options *o);

/* The OneNET MQTTS CA shipped with midge, or NULL when none is found:
 * beside the executable (../share/midge/), at the installed path, or in the
 * source tree. Static storage. */
const char *cli_config_onenet_ca(void);

#endif /* MIDGE_CLI_CONFIG_H */
