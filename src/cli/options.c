/*
 * midge CLI: the shared option parser (see options.h): getopt over the
 * option table (options_table.h), then the layers (config.h), the defaults
 * (config_defaults.h) and the checks every subcommand shares. The top of
 * the option machinery: it calls everything below, nothing below calls it.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_defaults.h"
#include "escape.h"
#include "midge/midge.h"
#include "options.h"
#include "options_mosq.h"
#include "options_table.h"

/* The device gives these options another meaning than the table's: its
 * client id is its device id, and its profile decides the rest. */
static const struct {
    int key;
    const char *help;
} cli_device_help[] = {
    { 'i', "client id: the device id (--device-id), which it may repeat" },
    { 'P', "password (mqtt: needs -u; onenet: the API key; onenet-studio: a token, or give --device-key)" },
    { 'c', "keep the session on the broker (onenet; the mqtt profile always does, onenet-studio never)" },
};

/* An option's --help line as `cmd` means it. */
static const char *cli_help_text(const struct cli_command *cmd, const struct cli_option *opt)
{
    if ((cmd->groups & CLI_GROUP_DEVICE) == 0)
        return opt->help;
    for (size_t i = 0; i < sizeof cli_device_help / sizeof cli_device_help[0]; i++) {
        if (cli_device_help[i].key == opt->key)
            return cli_device_help[i].help;
    }
    return opt->help;
}

void cli_usage(const struct cli_command *cmd)
{
    printf("Usage: midge %s [options]%s\n%s\n\nOptions:\n", cmd->name,
           (cmd->groups & CLI_GROUP_OPERAND) ? " COMMAND" : "", cmd->summary);
    for (size_t i = 0; i < cli_option_count(); i++) {
        const struct cli_option *opt = cli_option_at(i);
        if (!cli_option_accepted(cmd, opt))
            continue;
        char flags[64];
        int n = cli_option_has_letter(opt) ? snprintf(flags, sizeof flags, "-%c, --%s", opt->key, opt->long_name)
                               : snprintf(flags, sizeof flags, "    --%s", opt->long_name);
        if (opt->arg && n > 0 && (size_t)n < sizeof flags)
            snprintf(flags + n, sizeof flags - (size_t)n, " %s", opt->arg);
        printf("  %-34s %s\n", flags, cli_help_text(cmd, opt));
    }
}

/* The name a user typed for the option getopt just rejected: the long
 * form as written (without "=value"), else the short letter. */
static void cli_bad_name(int argc, char **argv, char *buf, size_t cap)
{
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";

    if (strncmp(word, "--", 2) == 0)
        snprintf(buf, cap, "%.*s", (int)strcspn(word, "="), word);
    else
        snprintf(buf, cap, "-%c", optopt > 0 && optopt < 256 ? optopt : '?');
}

/* getopt_long's value for the long name of table row i: above every key. */
#define CLI_VAL_ROW 0x10000

static void cli_defaults(const struct cli_command *cmd, struct cli_options *o, char *prog_buf)
{
    memset(o, 0, sizeof *o);
    o->prog = prog_buf;
    o->host = "localhost";
    o->port = 1883;
    o->keepalive_s = 60;
    o->clean_session = true;
    /* bench: a fleet under a steady trickle of QoS 1 commands by default */
    o->rate = 100;
    o->duration_s = 10;
    o->workers = 1;
    if (cmd->groups & CLI_GROUP_BENCH)
        o->qos = 1;
    snprintf(o->default_id, sizeof o->default_id, "midge-%s-%ld", cmd->name, (long)getpid());
}

/* Why `t` cannot be a topic name (MQTT 3.1.1 section 4.7.1: what pub and
 * a will publish to) or, with `filter`, a topic filter (what sub and a
 * device subscribe to); NULL when it can. Each cause is told apart: the
 * fix differs. */
static const char *cli_topic_problem(const char *t, size_t len, bool filter, char *buf,
                                     size_t cap)
{
    /* 4.7.3: at least one character; 1.5.3: a length that fits 16 bits. */
    if (len == 0)
        return "empty (a topic is at least one character)";
    if (len > UINT16_MAX) {
        snprintf(buf, cap, "%zu bytes long (at most 65535)", len);
        return buf;
    }
    if (!midge_utf8_valid((const uint8_t *)t, len))
        return "not valid UTF-8";
    if (!filter && strpbrk(t, "+#") != NULL)
        return "'+' and '#' are wildcards, for subscribing: a topic to publish to cannot hold "
               "them";
    /* 4.7.1.2, 4.7.1.3 */
    if (filter && !midge_topic_filter_valid(t, len))
        return "a wildcard must fill a whole level ('a/+/c'), and '#' must be the last one "
               "('a/#')";
    return NULL;
}

/* One line naming the flag, the start of the topic (escaped) and why. */
static bool cli_check_topic(const struct cli_options *o, const char *flag, const char *t,
                            bool filter)
{
    char why[64];
    char shown[4 * CLI_ESCAPE_SHOWN + 4];
    size_t len = strlen(t);
    const char *problem = cli_topic_problem(t, len, filter, why, sizeof why);

    if (problem == NULL)
        return true;
    cli_error(o->prog, "invalid %s '%s': %s", flag,
              cli_escape(shown, sizeof shown, t, len, CLI_ESCAPE_SHOWN), problem);
    return false;
}

/* -t is a topic to publish to for pub, a filter elsewhere (sub, device);
 * a will is always published. */
static bool cli_check_topics(const struct cli_command *cmd, const struct cli_options *o)
{
    bool filters = (cmd->groups & CLI_GROUP_SEND) == 0;

    for (size_t i = 0; i < o->topic_count; i++) {
        if (!cli_check_topic(o, filters ? "topic filter -t" : "topic -t", o->topics[i],
                             filters))
            return false;
    }
    return o->will_topic == NULL || cli_check_topic(o, "--will-topic", o->will_topic, false);
}

/* Checks that involve more than one option. */
static bool cli_validate(const struct cli_command *cmd, struct cli_options *o)
{
    if (!o->clean_session && o->client_id == NULL) {
        cli_error(o->prog, "-c needs a client id (-i)");
        return false;
    }
    if (o->client_id == NULL)
        o->client_id = o->default_id;
    /* MQTT 3.1.1 section 3.1.2.9: no password flag without a user name. */
    if (o->password != NULL && o->username == NULL) {
        cli_error(o->prog, "-P needs a user name (-u)");
        return false;
    }
    /* A device's will is its presence, "offline" (the mqtt profile; the
     * OneNET profiles take none): another one would leave it shown online
     * forever after a crash. */
    if ((cmd->groups & CLI_GROUP_DEVICE) &&
        (o->will_topic || o->will_payload || o->will_qos || o->will_retain)) {
        cli_error(o->prog, "--will-* options do not apply to device: its will is its "
                           "presence (\"offline\")");
        return false;
    }
    if (o->will_topic == NULL && (o->will_payload || o->will_qos || o->will_retain)) {
        cli_error(o->prog, "--will-payload, --will-qos and --will-retain need --will-topic");
        return false;
    }
    if ((cmd->groups & CLI_GROUP_TOPIC) && o->topic_count == 0) {
        cli_error(o->prog, "a topic is required (-t)");
        return false;
    }
    if (!cli_check_topics(cmd, o))
        return false;
    if ((cmd->groups & CLI_GROUP_SEND) && o->source == CLI_SOURCE_NONE) {
        cli_error(o->prog, "a message is required (-m, -n, -f, -l or -s)");
        return false;
    }
    /* bench sizes its many connections' buffers itself: a limit it would
     * not apply must not look accepted. */
    if ((cmd->groups & CLI_GROUP_BENCH) && o->max_packet_size != 0) {
        cli_error(o->prog, "--max-packet-size does not apply to bench");
        return false;
    }
    /* Two deadlines for one token would leave the user guessing which won. */
    if ((cmd->groups & CLI_GROUP_TOKEN) && o->expires != 0 && o->ttl_s != 0) {
        cli_error(o->prog, "--expires and --ttl cannot be given together");
        return false;
    }
    /* A token that has expired already is refused by the platform: say so
     * here rather than hand out one that cannot work. */
    time_t now = time(NULL);
    if ((cmd->groups & CLI_GROUP_TOKEN) && o->expires != 0 && now > 0 &&
        o->expires <= (unsigned long long)now) {
        cli_error(o->prog, "--expires %llu is in the past (now is %lld): the token would be "
                           "refused; give a later time or --ttl", o->expires, (long long)now);
        return false;
    }
    return true;
}

enum cli_parse_result cli_parse(const struct cli_command *cmd, int argc, char **argv,
                                struct cli_options *o)
{
    static char prog[64];
    struct option longs[CLI_OPTION_MAX + 1];
    /* ':' first: a missing argument is reported apart from an unknown flag. */
    char shorts[2 * CLI_OPTION_MAX + 2] = ":";
    size_t nl = 0;
    size_t ns = 1;

    snprintf(prog, sizeof prog, "midge %s", cmd->name);
    cli_defaults(cmd, o, prog);
    cli_layers_reset();
    for (size_t i = 0; i < cli_option_count(); i++) {
        const struct cli_option *opt = cli_option_at(i);
        if (!cli_option_accepted(cmd, opt))
            continue;
        /* A long name returns its row; a letter, itself (cli_option_find). */
        longs[nl++] = (struct option){ opt->long_name, opt->has_arg, NULL, CLI_VAL_ROW + (int)i };
        if (cli_option_has_letter(opt)) {
            shorts[ns++] = (char)opt->key;
            if (opt->has_arg == required_argument)
                shorts[ns++] = ':';
        }
    }
    longs[nl] = (struct option){ NULL, 0, NULL, 0 };
    shorts[ns] = '\0';

    opterr = 0;
    optind = 1;
    for (;;) {
        int key = getopt_long(argc, argv, shorts, longs, NULL);
        if (key == -1)
            break;
        if (key == '?' || key == ':') {
            char name[64];
            cli_bad_name(argc, argv, name, sizeof name);
            cli_error(o->prog, key == '?' ? "unknown option '%s' (see 'midge %s --help')"
                                          : "option '%s' needs a value (see 'midge %s --help')",
                      name, cmd->name);
            return CLI_PARSE_EXIT_USAGE;
        }
        const struct cli_option *opt = key >= CLI_VAL_ROW ? cli_option_at((size_t)(key - CLI_VAL_ROW))
                                                          : cli_option_find(cmd, key);
        if (opt->key == CLI_KEY_HELP) {
            cli_usage(cmd);
            return CLI_PARSE_EXIT_OK;
        }
        if (opt->key == CLI_KEY_VERSION) {
            printf("midge %s\n", MIDGE_VERSION);
            return CLI_PARSE_EXIT_OK;
        }
        if (!cli_option_apply(cmd, o, opt, optarg, &cli_layers_flag_note))
            return CLI_PARSE_EXIT_USAGE;
        cli_layers_note_flag(opt, optarg);
    }
    /* getopt_long moves operands behind the options, in their order: the
     * first is the operand, and any after it is the unexpected one. */
    if ((cmd->groups & CLI_GROUP_OPERAND) && optind < argc)
        o->operand = argv[optind++];
    if (optind < argc && o->operand != NULL) {
        cli_error(o->prog, "unexpected argument '%s' after '%s' (see 'midge %s --help')",
                  argv[optind], o->operand, cmd->name);
        return CLI_PARSE_EXIT_USAGE;
    }
    if (optind < argc) {
        cli_error(o->prog, "unexpected argument '%s' (see 'midge %s --help')", argv[optind],
                  cmd->name);
        return CLI_PARSE_EXIT_USAGE;
    }
    /* The environment and the file fill only what no flag set; defaults
     * that depend on other options come after every layer
     * (config_defaults.h). */
    if (!cli_layers_apply(cmd, o) || !cli_config_finish(cmd, o))
        return CLI_PARSE_EXIT_USAGE;
    /* --print-config shows what the layers made, before any check of what
     * is missing or does not fit together: it is how one finds out. */
    if (o->print_config) {
        if (o->client_id == NULL)
            o->client_id = o->default_id; /* as cli_validate would */
        cli_layers_print(cmd, o);
        return CLI_PARSE_EXIT_OK;
    }
    if (!cli_validate(cmd, o) || !cli_mosq_finish(cmd, o, cli_layers_given("id")))
        return CLI_PARSE_EXIT_USAGE;
    return CLI_PARSE_RUN;
}
