/*
 * midge CLI: the shared option parser (see options.h).
 *
 * One table drives getopt_long's arguments, the --help text and the group
 * filter, so a flag cannot be accepted without being documented or the
 * other way round.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Long-only options get keys above every character. */
enum cli_key {
    KEY_WILL_TOPIC = 256,
    KEY_WILL_PAYLOAD,
    KEY_WILL_QOS,
    KEY_WILL_RETAIN,
    KEY_HELP,
    KEY_VERSION
};

struct cli_option {
    const char *long_name;
    int key;         /* the short letter, or a KEY_* for long-only options */
    int has_arg;     /* no_argument / required_argument */
    unsigned group;  /* 0 = every subcommand */
    const char *arg; /* argument name shown in --help */
    const char *help;
};

static const struct cli_option cli_table[] = {
    { "host", 'h', required_argument, CLI_GROUP_BROKER, "host", "broker host (default localhost)" },
    { "port", 'p', required_argument, CLI_GROUP_BROKER, "port", "broker port (default 1883)" },
    { "id", 'i', required_argument, CLI_GROUP_BROKER, "id", "client id (default midge-<command>-<pid>)" },
    { "username", 'u', required_argument, CLI_GROUP_BROKER, "user", "user name" },
    { "password", 'P', required_argument, CLI_GROUP_BROKER, "password", "password (needs -u)" },
    { "keepalive", 'k', required_argument, CLI_GROUP_BROKER, "seconds", "keepalive interval (default 60, 0 = off)" },
    { "disable-clean-session", 'c', no_argument, CLI_GROUP_BROKER, NULL, "keep the session on the broker (needs -i)" },
    { "debug", 'd', no_argument, CLI_GROUP_BROKER, NULL, "print every packet sent and received on stderr" },
    { "will-topic", KEY_WILL_TOPIC, required_argument, CLI_GROUP_BROKER, "topic", "last will topic" },
    { "will-payload", KEY_WILL_PAYLOAD, required_argument, CLI_GROUP_BROKER, "text", "last will message" },
    { "will-qos", KEY_WILL_QOS, required_argument, CLI_GROUP_BROKER, "0|1|2", "last will QoS (default 0)" },
    { "will-retain", KEY_WILL_RETAIN, no_argument, CLI_GROUP_BROKER, NULL, "retain the last will" },
    { "topic", 't', required_argument, CLI_GROUP_TOPIC, "topic", "topic (a filter for sub; sub takes several)" },
    { "qos", 'q', required_argument, CLI_GROUP_TOPIC, "0|1|2", "quality of service (default 0)" },
    { "message", 'm', required_argument, CLI_GROUP_SEND, "text", "send text as the message" },
    { "null-message", 'n', no_argument, CLI_GROUP_SEND, NULL, "send an empty message" },
    { "file", 'f', required_argument, CLI_GROUP_SEND, "path", "send a whole file as the message" },
    { "stdin-line", 'l', no_argument, CLI_GROUP_SEND, NULL, "send each line of stdin as a message" },
    { "retain", 'r', no_argument, CLI_GROUP_SEND, NULL, "ask the broker to retain the message" },
    { "count", 'C', required_argument, CLI_GROUP_RECEIVE, "n", "exit after n messages" },
    { "timeout", 'W', required_argument, CLI_GROUP_RECEIVE, "seconds", "give up after this long (exit status 27)" },
    { "verbose", 'v', no_argument, CLI_GROUP_RECEIVE, NULL, "print \"topic payload\" rather than the payload" },
    { "help", KEY_HELP, no_argument, 0, NULL, "print this help and exit" },
    { "version", KEY_VERSION, no_argument, 0, NULL, "print the version and exit" },
};

#define CLI_TABLE_LEN (sizeof cli_table / sizeof cli_table[0])

/* -W in seconds must still fit a millisecond uint32_t deadline. */
#define CLI_TIMEOUT_MAX_S 2000000ul

void cli_error(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static bool cli_accepts(const struct cli_command *cmd, const struct cli_option *opt)
{
    return opt->group == 0 || (cmd->groups & opt->group) != 0;
}

void cli_usage(const struct cli_command *cmd)
{
    printf("Usage: midge %s [options]\n%s\n\nOptions:\n", cmd->name, cmd->summary);
    for (size_t i = 0; i < CLI_TABLE_LEN; i++) {
        const struct cli_option *opt = &cli_table[i];
        if (!cli_accepts(cmd, opt))
            continue;
        char flags[64];
        int n = opt->key < 256 ? snprintf(flags, sizeof flags, "-%c, --%s", opt->key, opt->long_name)
                               : snprintf(flags, sizeof flags, "    --%s", opt->long_name);
        if (opt->arg && n > 0 && (size_t)n < sizeof flags)
            snprintf(flags + n, sizeof flags - (size_t)n, " %s", opt->arg);
        printf("  %-34s %s\n", flags, opt->help);
    }
}

/* Whole-string decimal in [min, max]. */
static bool cli_number(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end = NULL;

    if (*s == '\0' || *s == '-' || *s == '+')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
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

static bool cli_set_number(struct cli_options *o, int key, const char *arg)
{
    unsigned long v = 0;

    switch (key) {
    case 'p':
        if (!cli_number(arg, 1, 65535, &v))
            break;
        o->port = (uint16_t)v;
        return true;
    case 'k':
        if (!cli_number(arg, 0, 65535, &v))
            break;
        o->keepalive_s = (uint16_t)v;
        return true;
    case 'q':
    case KEY_WILL_QOS:
        if (!cli_number(arg, 0, 2, &v))
            break;
        *(key == 'q' ? &o->qos : &o->will_qos) = (uint8_t)v;
        return true;
    case 'C':
        if (!cli_number(arg, 1, ULONG_MAX, &v))
            break;
        o->count = v;
        return true;
    case 'W':
        if (!cli_number(arg, 1, CLI_TIMEOUT_MAX_S, &v))
            break;
        o->timeout_s = v;
        return true;
    }
    cli_error(o->prog, "invalid value '%s' for %s", arg,
              key == 'p' ? "-p (1..65535)" : key == 'k' ? "-k (0..65535)"
              : key == 'q' ? "-q (0, 1 or 2)" : key == KEY_WILL_QOS ? "--will-qos (0, 1 or 2)"
              : key == 'C' ? "-C (1 or more)" : "-W (1..2000000 seconds)");
    return false;
}

static bool cli_set_source(struct cli_options *o, enum cli_source src, const char *arg)
{
    if (o->source != CLI_SOURCE_NONE) {
        cli_error(o->prog, "only one of -m, -n, -f and -l may be given");
        return false;
    }
    o->source = src;
    o->message = arg;
    return true;
}

static bool cli_add_topic(const struct cli_command *cmd, struct cli_options *o, const char *t)
{
    if (o->topic_count >= cmd->max_topics) {
        if (cmd->max_topics == 1)
            cli_error(o->prog, "only one -t topic may be given");
        else
            cli_error(o->prog, "at most %zu -t topics may be given", cmd->max_topics);
        return false;
    }
    o->topics[o->topic_count++] = t;
    return true;
}

/* Apply one parsed option; false after printing the error. */
static bool cli_apply(const struct cli_command *cmd, struct cli_options *o, int key,
                      const char *arg)
{
    switch (key) {
    case 'h': o->host = arg; return true;
    case 'i': o->client_id = arg; return true;
    case 'u': o->username = arg; return true;
    case 'P': o->password = arg; return true;
    case 'c': o->clean_session = false; return true;
    case 'd': o->debug = true; return true;
    case KEY_WILL_TOPIC: o->will_topic = arg; return true;
    case KEY_WILL_PAYLOAD: o->will_payload = arg; return true;
    case KEY_WILL_RETAIN: o->will_retain = true; return true;
    case 't': return cli_add_topic(cmd, o, arg);
    case 'm': return cli_set_source(o, CLI_SOURCE_ARG, arg);
    case 'n': return cli_set_source(o, CLI_SOURCE_EMPTY, NULL);
    case 'f': return cli_set_source(o, CLI_SOURCE_FILE, arg);
    case 'l': return cli_set_source(o, CLI_SOURCE_LINES, NULL);
    case 'r': o->retain = true; return true;
    case 'v': o->verbose = true; return true;
    default: return cli_set_number(o, key, arg);
    }
}

static void cli_defaults(const struct cli_command *cmd, struct cli_options *o, char *prog_buf)
{
    memset(o, 0, sizeof *o);
    o->prog = prog_buf;
    o->host = "localhost";
    o->port = 1883;
    o->keepalive_s = 60;
    o->clean_session = true;
    snprintf(o->default_id, sizeof o->default_id, "midge-%s-%ld", cmd->name, (long)getpid());
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
    if (o->will_topic == NULL && (o->will_payload || o->will_qos || o->will_retain)) {
        cli_error(o->prog, "--will-payload, --will-qos and --will-retain need --will-topic");
        return false;
    }
    if ((cmd->groups & CLI_GROUP_TOPIC) && o->topic_count == 0) {
        cli_error(o->prog, "a topic is required (-t)");
        return false;
    }
    if ((cmd->groups & CLI_GROUP_SEND) && o->source == CLI_SOURCE_NONE) {
        cli_error(o->prog, "a message is required (-m, -n, -f or -l)");
        return false;
    }
    return true;
}

enum cli_parse_result cli_parse(const struct cli_command *cmd, int argc, char **argv,
                                struct cli_options *o)
{
    static char prog[64];
    struct option longs[CLI_TABLE_LEN + 1];
    /* ':' first: a missing argument is reported apart from an unknown flag. */
    char shorts[2 * CLI_TABLE_LEN + 2] = ":";
    size_t nl = 0;
    size_t ns = 1;

    snprintf(prog, sizeof prog, "midge %s", cmd->name);
    cli_defaults(cmd, o, prog);
    for (size_t i = 0; i < CLI_TABLE_LEN; i++) {
        const struct cli_option *opt = &cli_table[i];
        if (!cli_accepts(cmd, opt))
            continue;
        longs[nl++] = (struct option){ opt->long_name, opt->has_arg, NULL, opt->key };
        if (opt->key < 256) {
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
        if (key == KEY_HELP) {
            cli_usage(cmd);
            return CLI_PARSE_EXIT_OK;
        }
        if (key == KEY_VERSION) {
            printf("midge %s\n", MIDGE_VERSION);
            return CLI_PARSE_EXIT_OK;
        }
        if (key == '?' || key == ':') {
            char name[64];
            cli_bad_name(argc, argv, name, sizeof name);
            cli_error(o->prog, key == '?' ? "unknown option '%s' (see 'midge %s --help')"
                                          : "option '%s' needs a value (see 'midge %s --help')",
                      name, cmd->name);
            return CLI_PARSE_EXIT_USAGE;
        }
        if (!cli_apply(cmd, o, key, optarg))
            return CLI_PARSE_EXIT_USAGE;
    }
    if (optind < argc) {
        cli_error(o->prog, "unexpected argument '%s' (see 'midge %s --help')", argv[optind],
                  cmd->name);
        return CLI_PARSE_EXIT_USAGE;
    }
    return cli_validate(cmd, o) ? CLI_PARSE_RUN : CLI_PARSE_EXIT_USAGE;
}
