/*
 * midge: the command-line tool. One table of subcommands; each parses its
 * own arguments with the shared parser (options.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command cli_commands[] = {
    { "pub", "Publish a message to an MQTT broker.",
      CLI_GROUP_BROKER | CLI_GROUP_TOPIC | CLI_GROUP_SEND | CLI_GROUP_TLS | CLI_GROUP_CONFIG |
          CLI_GROUP_LINK | CLI_GROUP_MOSQ,
      CLI_MAX_TOPICS, cli_pub_run },
    { "sub", "Subscribe to topics on an MQTT broker and print the messages.",
      CLI_GROUP_BROKER | CLI_GROUP_TOPIC | CLI_GROUP_RECEIVE | CLI_GROUP_TLS | CLI_GROUP_CONFIG |
          CLI_GROUP_LINK | CLI_GROUP_MOSQ,
      CLI_MAX_TOPICS, cli_sub_run },
    { "send", "Send a command to a device and print its answer.",
      CLI_GROUP_BROKER | CLI_GROUP_TLS | CLI_GROUP_IDENTITY | CLI_GROUP_WAIT | CLI_GROUP_OPERAND | CLI_GROUP_CONFIG | CLI_GROUP_LINK, 0, cli_send_run },
    { "devices", "List the devices on a broker: online or offline, LED on or off.",
      CLI_GROUP_BROKER | CLI_GROUP_TLS | CLI_GROUP_WATCH | CLI_GROUP_CONFIG | CLI_GROUP_LINK |
          CLI_GROUP_IDENTITY,
      0, cli_devices_run },
    { "token", "Print the OneNET token (the MQTT password) of a device.",
      CLI_GROUP_IDENTITY | CLI_GROUP_TOKEN | CLI_GROUP_CONFIG, 0, cli_token_run },
    { "device", "Run one LED device: obey on/off/toggle/status commands, stay online.",
      CLI_GROUP_BROKER | CLI_GROUP_TLS | CLI_GROUP_CONFIG | CLI_GROUP_IDENTITY | CLI_GROUP_DEVICE |
          CLI_GROUP_TOKEN | CLI_GROUP_LINK,
      MIDGE_DEVICE_MAX_EXTRA_TOPICS, cli_device_run },
    { "console", "Serve a web console and OneNET's HTTP command API for the devices on a broker.",
      CLI_GROUP_BROKER | CLI_GROUP_TLS | CLI_GROUP_CONFIG | CLI_GROUP_IDENTITY | CLI_GROUP_LINK |
          CLI_GROUP_CONSOLE,
      0, cli_console_run },
    { "bench", "Load-test brokers with a fleet of simulated devices.",
      CLI_GROUP_BROKER | CLI_GROUP_BENCH | CLI_GROUP_IDENTITY, 0, cli_bench_run },
};

#define CLI_COMMAND_COUNT (sizeof cli_commands / sizeof cli_commands[0])

static void cli_main_usage(FILE *out)
{
    fprintf(out, "Usage: midge <command> [options]\n\nCommands:\n");
    for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\n'midge <command> --help' lists a command's options.\n"
                 "  --help     print this help and exit\n"
                 "  --version  print the version and exit\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_main_usage(stderr);
        return CLI_EXIT_ERROR;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        cli_main_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("midge %s\n", MIDGE_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < CLI_COMMAND_COUNT; i++) {
        if (strcmp(name, cli_commands[i].name) == 0)
            return cli_commands[i].run(&cli_commands[i], argc - 1, argv + 1);
    }
    fprintf(stderr, "midge: unknown command '%s' (see 'midge --help')\n", name);
    return CLI_EXIT_ERROR;
}
