/*
 * midge CLI: defaults that depend on other options, derived once every
 * configuration layer (config.h) has spoken, so that `--cafile` in the file
 * turns TLS on exactly as the flag would, and an explicit port always
 * beats the port a profile or TLS suggests.
 *
 * Above the layers (it asks which layer set an option) and below the
 * parser (options.h), which calls it.
 */
#ifndef MIDGE_CLI_CONFIG_DEFAULTS_H
#define MIDGE_CLI_CONFIG_DEFAULTS_H

#include <stdbool.h>

#include "options_table.h"

/* Defaults that depend on other options: TLS turned on by its file
 * options, port 8883 with TLS, a profile's endpoint and keepalive, the
 * OneNET CA for onenet-studio over TLS, the device identity. Prints one
 * line and returns false on a conflict; with --print-config it only
 * derives, and leaves conflicts for a run to report. */
bool cli_config_finish(const struct cli_command *cmd, struct cli_options *o);

/* The OneNET MQTTS CA shipped with midge, or NULL when none is found:
 * beside the executable (../share/midge/), at the installed path, or in the
 * source tree. Static storage. */
const char *cli_config_onenet_ca(void);

#endif /* MIDGE_CLI_CONFIG_DEFAULTS_H */
