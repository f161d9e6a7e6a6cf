/*
 * midge CLI: the shared option parser (see options.h).
 *
 * One table drives getopt_long's arguments, the --help text, the group
 * filter and the configuration layers (config.c: environment names, INI
 * keys, --print-config rows, secrets), so a flag cannot be accepted without
 * being documented, layered and printed, or the other way round.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "escape.h"
#include "log.h"
#include "midge/device.h"
#include "midge/token.h"
#include "options_mosq.h"

/* Long-only options get keys above every character. */
enum cli_key {
    KEY_WILL_TOPIC = 256,
    KEY_WILL_PAYLOAD,
    KEY_WILL_QOS,
    KEY_WILL_RETAIN,
    KEY_MAX_PACKET_SIZE,
    KEY_CONNACK_TIMEOUT,
    KEY_HELP,
    KEY_VERSION,
    KEY_PROFILE,
    KEY_DEVICE_ID,
    KEY_PRODUCT_ID,
    KEY_PREFIX,
    KEY_DEVICE_KEY,
    KEY_METHOD,
    KEY_EXPIRES,
    KEY_TTL,
    KEY_WATCH,
    KEY_TLS,
    KEY_CAFILE,
    KEY_CAPATH,
    KEY_CERT,
    KEY_KEY,
    KEY_INSECURE,
    KEY_TLS_VERSION,
    KEY_CONFIG,
    KEY_PRINT_CONFIG,
    KEY_LED,
    KEY_PROPERTY,
    KEY_STATE_FILE,
    KEY_SUBSCRIBE_COMMANDS,
    KEY_BACKOFF_MIN,
    KEY_BACKOFF_MAX,
    KEY_INBOX_MAX,
    KEY_INBOX_BYTES,
    KEY_LOG_LEVEL,
    KEY_DEVICES,
    KEY_RATE,
    KEY_DURATION,
    KEY_BIND,
    KEY_WORKERS,
    KEY_JSON,
    KEY_PLOT,
    KEY_LISTEN,
    KEY_API_KEY,
};

/* Where an entry's value lives in struct cli_options, for --print-config:
 * FIELD(STR, host), or FIELD_OR(STR, led, "sim") with the value shown for
 * NULL or 0. NO_FIELD is for the options no one field holds: -t fills an
 * array, and -m, -n, -f and -l share o->source and o->message (with -f,
 * o->message is a path), so their rows show only what a layer gave. */
#define FIELD_OR(kind, member, zero) CLI_FIELD_##kind, offsetof(struct cli_options, member), zero
#define FIELD(kind, member) FIELD_OR(kind, member, NULL)
#define NO_FIELD CLI_FIELD_NONE, 0, NULL

/* Each row: long name, key, argument, groups, --help, CLI_OPT_* flags, field. */
static const struct cli_option cli_table[] = {
    { "host", 'h', required_argument, CLI_GROUP_BROKER, "host", "broker host (default localhost)", 0, FIELD(STR, host) },
    { "port", 'p', required_argument, CLI_GROUP_BROKER, "port", "broker port (default 1883)", 0, FIELD(U16, port) },
    { "id", 'i', required_argument, CLI_GROUP_BROKER, "id", "client id (default midge-<command>-<pid>)", 0, FIELD(STR, client_id) },
    { "username", 'u', required_argument, CLI_GROUP_BROKER, "user", "user name", 0, FIELD(STR, username) },
    { "password", 'P', required_argument, CLI_GROUP_BROKER, "password", "password (needs -u)", CLI_OPT_SECRET, FIELD(STR, password) },
    { "keepalive", 'k', required_argument, CLI_GROUP_BROKER, "seconds", "keepalive interval (default 60, 0 = off)", 0, FIELD(U16, keepalive_s) },
    { "disable-clean-session", 'c', no_argument, CLI_GROUP_BROKER, NULL, "keep the session on the broker (needs -i)", 0, FIELD(NOT_BOOL, clean_session) },
    { "debug", 'd', no_argument, CLI_GROUP_BROKER, NULL, "print every packet sent and received on stderr", 0, FIELD(BOOL, debug) },
    { "will-topic", KEY_WILL_TOPIC, required_argument, CLI_GROUP_BROKER, "topic", "last will topic", 0, FIELD(STR, will_topic) },
    { "will-payload", KEY_WILL_PAYLOAD, required_argument, CLI_GROUP_BROKER, "text", "last will message", 0, FIELD(STR, will_payload) },
    { "will-qos", KEY_WILL_QOS, required_argument, CLI_GROUP_BROKER, "0|1|2", "last will QoS (default 0)", 0, FIELD(U8, will_qos) },
    { "will-retain", KEY_WILL_RETAIN, no_argument, CLI_GROUP_BROKER, NULL, "retain the last will", 0, FIELD(BOOL, will_retain) },
    { "max-packet-size", KEY_MAX_PACKET_SIZE, required_argument, CLI_GROUP_BROKER, "bytes", "largest packet accepted; a larger one closes the connection (default 65536, sub 16777216)", 0, FIELD(ULONG, max_packet_size) },
    { "connack-timeout", KEY_CONNACK_TIMEOUT, required_argument, CLI_GROUP_BROKER, "ms", "give up on a broker that accepts TCP but sends no CONNACK or SUBACK (default 10000; device: its --backoff-max, 2000..10000)", 0, FIELD(ULONG, connack_timeout_ms) },
    { "topic", 't', required_argument, CLI_GROUP_TOPIC | CLI_GROUP_DEVICE, "topic", "topic; several: pub publishes each message to every one (mosquitto_pub only to the last), sub subscribes to every filter", CLI_OPT_REPEATABLE, NO_FIELD },
    { "qos", 'q', required_argument, CLI_GROUP_TOPIC, "0|1|2", "quality of service (default 0)", 0, FIELD(U8, qos) },
    { "message", 'm', required_argument, CLI_GROUP_SEND, "text", "send text as the message", 0, NO_FIELD },
    { "null-message", 'n', no_argument, CLI_GROUP_SEND, NULL, "send an empty message", 0, NO_FIELD },
    { "file", 'f', required_argument, CLI_GROUP_SEND, "path", "send a whole file as the message", 0, NO_FIELD },
    { "stdin-line", 'l', no_argument, CLI_GROUP_SEND, NULL, "send each line of stdin as a message", 0, NO_FIELD },
    { "retain", 'r', no_argument, CLI_GROUP_SEND, NULL, "ask the broker to retain the message", 0, FIELD(BOOL, retain) },
    { "count", 'C', required_argument, CLI_GROUP_RECEIVE, "n", "exit after n messages", 0, FIELD(ULONG, count) },
    { "timeout", 'W', required_argument, CLI_GROUP_RECEIVE | CLI_GROUP_WAIT, "seconds", "give up after this long (exit status 27)", 0, FIELD(ULONG, timeout_s) },
    { "verbose", 'v', no_argument, CLI_GROUP_RECEIVE, NULL, "print \"topic payload\" rather than the payload", 0, FIELD(BOOL, verbose) },
    { "profile", KEY_PROFILE, required_argument, CLI_GROUP_IDENTITY, "name", "mqtt (default), onenet or onenet-studio", 0, FIELD_OR(STR, profile, "mqtt") },
    { "device-id", KEY_DEVICE_ID, required_argument, CLI_GROUP_IDENTITY, "id", "the device (onenet-studio: its name)", 0, FIELD(STR, device_id) },
    { "product-id", KEY_PRODUCT_ID, required_argument, CLI_GROUP_IDENTITY, "id", "the OneNET product (onenet, onenet-studio)", 0, FIELD(STR, product_id) },
    { "prefix", KEY_PREFIX, required_argument, CLI_GROUP_IDENTITY | CLI_GROUP_WATCH, "template", "mqtt profile topic prefix, {device-id} standing for the id (default devices/{device-id})", 0, FIELD(STR, prefix) },
    { "device-key", KEY_DEVICE_KEY, required_argument, CLI_GROUP_TOKEN, "base64", "the device key that signs the token", CLI_OPT_SECRET, FIELD(STR, device_key) },
    { "method", KEY_METHOD, required_argument, CLI_GROUP_TOKEN, "name", "token signature: md5, sha1 or sha256 (default)", 0, FIELD_OR(STR, method, CLI_TOKEN_METHOD_DEFAULT) },
    { "expires", KEY_EXPIRES, required_argument, CLI_GROUP_TOKEN, "unix", "token valid until this Unix time (not with --ttl)", 0, FIELD(ULL, expires) },
    { "ttl", KEY_TTL, required_argument, CLI_GROUP_TOKEN, "seconds", "token valid this long from now (default 31536000, a year)", 0, FIELD_OR(ULONG, ttl_s, "31536000") },
    { "watch", KEY_WATCH, no_argument, CLI_GROUP_WATCH, NULL, "keep running and print every change (until Ctrl-C)", 0, FIELD(BOOL, watch) },
    { "tls", KEY_TLS, no_argument, CLI_GROUP_TLS, NULL, "connect over TLS 1.2 (default port 8883)", 0, FIELD(BOOL, tls) },
    { "cafile", KEY_CAFILE, required_argument, CLI_GROUP_TLS, "file", "trusted CA certificates (PEM); implies --tls", 0, FIELD(STR, cafile) },
    { "capath", KEY_CAPATH, required_argument, CLI_GROUP_TLS, "dir", "directory of trusted CA certificates; implies --tls", 0, FIELD(STR, capath) },
    { "cert", KEY_CERT, required_argument, CLI_GROUP_TLS, "file", "client certificate (PEM, needs --key); implies --tls", 0, FIELD(STR, certfile) },
    { "key", KEY_KEY, required_argument, CLI_GROUP_TLS, "file", "client private key (PEM); implies --tls", 0, FIELD(STR, keyfile) },
    { "insecure", KEY_INSECURE, no_argument, CLI_GROUP_TLS, NULL, "skip the host-name check only (the chain is still verified)", 0, FIELD(BOOL, insecure) },
    { "tls-version", KEY_TLS_VERSION, required_argument, CLI_GROUP_TLS, "version", "tlsv1.2 (the only one accepted)", 0, FIELD(STR, tls_version) },
    { "config", KEY_CONFIG, required_argument, CLI_GROUP_CONFIG, "file", "read options from this INI file ([midge] section)", CLI_OPT_CONFIG_FILE, FIELD(STR, config_path) },
    { "print-config", KEY_PRINT_CONFIG, no_argument, CLI_GROUP_CONFIG, NULL, "print the effective configuration and exit", CLI_OPT_FLAG_ONLY, FIELD(BOOL, print_config) },
    { "led", KEY_LED, required_argument, CLI_GROUP_DEVICE, "spec", "sim (default) or gpio:CHIP:LINE[:active-low]", 0, FIELD_OR(STR, led, "sim") },
    { "property", KEY_PROPERTY, required_argument, CLI_GROUP_DEVICE, "name", "onenet-studio LED property (default led)", 0, FIELD_OR(STR, property, "led") },
    { "state-file", KEY_STATE_FILE, required_argument, CLI_GROUP_DEVICE, "path", "keep the LED state here and restore it at start", 0, FIELD(STR, state_file) },
    { "subscribe-commands", KEY_SUBSCRIBE_COMMANDS, no_argument, CLI_GROUP_DEVICE, NULL, "onenet: also subscribe $creq/# (plain brokers)", 0, FIELD(BOOL, subscribe_commands) },
    { "backoff-min", KEY_BACKOFF_MIN, required_argument, CLI_GROUP_DEVICE, "ms", "first reconnect delay (default 500)", 0, FIELD(ULONG, backoff_min_ms) },
    { "backoff-max", KEY_BACKOFF_MAX, required_argument, CLI_GROUP_DEVICE, "ms", "longest reconnect delay (default 30000)", 0, FIELD(ULONG, backoff_max_ms) },
    { "inbox-max", KEY_INBOX_MAX, required_argument, CLI_GROUP_DEVICE, "n", "messages kept waiting to be handled at most (default 1000); past it QoS 0 commands are dropped, QoS 1/2 ones left with the broker", 0, FIELD(ULONG, inbox_max) },
    { "inbox-bytes", KEY_INBOX_BYTES, required_argument, CLI_GROUP_DEVICE, "bytes", "memory for messages waiting to be handled, at most (default 1048576)", 0, FIELD(ULONG, inbox_bytes) },
    { "log-level", KEY_LOG_LEVEL, required_argument, CLI_GROUP_DEVICE, "level", "log up to error, warn, info (default) or debug; -d implies debug", 0, FIELD_OR(STR, log_level, "info") },
    { "quiet", 'q', no_argument, CLI_GROUP_DEVICE, NULL, "log errors only (--log-level error)", 0, FIELD(BOOL, quiet) },
    { "devices", KEY_DEVICES, required_argument, CLI_GROUP_BENCH, "n", "devices to simulate (required)", 0, FIELD(ULONG, devices) },
    { "rate", KEY_RATE, required_argument, CLI_GROUP_BENCH, "n", "commands per second to random devices (default 100, 0 = none)", 0, FIELD(ULONG, rate) },
    { "duration", KEY_DURATION, required_argument, CLI_GROUP_BENCH, "seconds", "length of the command phase (default 10)", 0, FIELD(ULONG, duration_s) },
    { "qos", 'q', required_argument, CLI_GROUP_BENCH, "0|1|2", "QoS of the commands (default 1)", 0, FIELD(U8, qos) },
    { "bind", KEY_BIND, required_argument, CLI_GROUP_BENCH, "addr[-addr]", "source IPv4 addresses, e.g. 127.0.0.2-127.0.0.20", 0, FIELD(STR, bind_range) },
    { "workers", KEY_WORKERS, required_argument, CLI_GROUP_BENCH, "n", "processes sharing the devices (default 1)", 0, FIELD(ULONG, workers) },
    { "json", KEY_JSON, required_argument, CLI_GROUP_BENCH, "file", "write every figure to this JSON file", 0, FIELD(STR, json_path) },
    { "plot", KEY_PLOT, required_argument, CLI_GROUP_BENCH, "file.png", "draw the latency charts with gnuplot", 0, FIELD(STR, plot_path) },
    /* mosquitto_pub and mosquitto_sub's own flags (options_mosq.c) */
    { "url", 'L', required_argument, CLI_GROUP_MOSQ, "url", "mqtt(s)://[user[:password]@]host[:port]/topic sets all five; mqtts:// is TLS, port 8883", CLI_OPT_FLAG_ONLY, NO_FIELD },
    { "bind-address", 'A', required_argument, CLI_GROUP_LINK, "address", "connect from this local address", 0, FIELD(STR, bind_address) },
    { "unix", KEY_UNIX, required_argument, CLI_GROUP_LINK, "path", "connect to the broker's Unix-domain socket instead of -h/-p", 0, FIELD(STR, unix_path) },
    { "nodelay", KEY_NODELAY, no_argument, CLI_GROUP_LINK, NULL, "accepted: midge always turns Nagle's algorithm off", 0, FIELD(BOOL, nodelay) },
    { "tls-use-os-certs", KEY_TLS_OS_CERTS, no_argument, CLI_GROUP_TLS, NULL, "TLS trusting the system's CA certificates (as --tls)", 0, FIELD(BOOL, tls_os_certs) },
    { "id-prefix", 'I', required_argument, CLI_GROUP_MOSQ, "prefix", "client id: this prefix and the process id", 0, FIELD(STR, id_prefix) },
    { "max-inflight", 'M', required_argument, CLI_GROUP_MOSQ, "n", "QoS 1/2 messages awaiting acknowledgement at once (default 20)", 0, FIELD_OR(ULONG, max_inflight, "20") },
    { "quiet", KEY_QUIET_ERRORS, no_argument, CLI_GROUP_MOSQ, NULL, "print no error message (the exit status still says)", 0, FIELD(BOOL, quiet_errors) },
    { "protocol-version", 'V', required_argument, CLI_GROUP_MOSQ, "version", "mqttv311, the only one (mqttv5: MQTT 5 is not supported yet)", CLI_OPT_FLAG_ONLY, NO_FIELD },
    { "session-expiry-interval", 'x', required_argument, CLI_GROUP_MOSQ, "seconds", "refused: an MQTT 5 property (MQTT 5 is not supported yet)", CLI_OPT_FLAG_ONLY, NO_FIELD },
    { "property", 'D', required_argument, CLI_GROUP_MOSQ, "command", "refused: MQTT 5 properties (MQTT 5 is not supported yet)", CLI_OPT_FLAG_ONLY, NO_FIELD },
    { "stdin-file", 's', no_argument, CLI_GROUP_SEND, NULL, "send all of stdin as one message", 0, NO_FIELD },
    { "repeat", KEY_REPEAT, required_argument, CLI_GROUP_SEND, "n", "publish the message n times (-m, -n, -f, -s)", 0, FIELD(ULONG, repeat) },
    { "repeat-delay", KEY_REPEAT_DELAY, required_argument, CLI_GROUP_SEND, "seconds", "wait between repeats, once the last is acknowledged (default 0)", 0, NO_FIELD },
    { "no-eol", 'N', no_argument, CLI_GROUP_RECEIVE, NULL, "no newline after each message", 0, FIELD(BOOL, no_eol) },
    { "no-retained", 'R', no_argument, CLI_GROUP_RECEIVE, NULL, "skip retained (stale) messages", 0, FIELD(BOOL, no_retained) },
    { "filter-out", 'T', required_argument, CLI_GROUP_RECEIVE, "filter", "skip messages on topics matching filter (may repeat)", CLI_OPT_REPEATABLE, NO_FIELD },
    { "exit-after-subscribe", 'E', no_argument, CLI_GROUP_RECEIVE, NULL, "exit once subscribed (and unsubscribed, -U)", 0, FIELD(BOOL, exit_after_sub) },
    { "unsubscribe", 'U', required_argument, CLI_GROUP_RECEIVE, "filter", "unsubscribe from filter after subscribing (-c sessions; may repeat)", CLI_OPT_REPEATABLE, NO_FIELD },
    { "format", 'F', required_argument, CLI_GROUP_RECEIVE, "format", "print each message as mosquitto_sub's format says: %t %p %q %r %l %m %x %X %I %U %j %J, @ for strftime, \\n \\t ...", 0, FIELD(STR, format) },
    { "pretty", KEY_PRETTY, no_argument, CLI_GROUP_RECEIVE, NULL, "-F %j and %J: indented JSON", 0, FIELD(BOOL, pretty) },
    { "remove-retained", KEY_REMOVE_RETAINED, no_argument, CLI_GROUP_RECEIVE, NULL, "clear every retained message received (-T spares some)", 0, FIELD(BOOL, remove_retained) },
    { "retained-only", KEY_RETAINED_ONLY, no_argument, CLI_GROUP_RECEIVE, NULL, "print retained messages only; exit at the first new one", 0, FIELD(BOOL, retained_only) },
    { "forget", KEY_FORGET, required_argument, CLI_GROUP_WATCH, "id", "remove a gone device's retained presence and state", CLI_OPT_FLAG_ONLY, NO_FIELD },
    { "listen", KEY_LISTEN, required_argument, CLI_GROUP_CONSOLE, "host:port", "serve the web console and its API here (default 127.0.0.1:8080; [v6]:port)", 0, FIELD_OR(STR, listen, "127.0.0.1:8080") },
    { "api-key", KEY_API_KEY, required_argument, CLI_GROUP_CONSOLE, "key", "the key API requests carry in their api-key header (mqtt profile; onenet: the master key, -P)", CLI_OPT_SECRET, FIELD(STR, api_key) },
    { "help", KEY_HELP, no_argument, 0, NULL, "print this help and exit", CLI_OPT_FLAG_ONLY, NO_FIELD },
    { "version", KEY_VERSION, no_argument, 0, NULL, "print the version and exit", CLI_OPT_FLAG_ONLY, NO_FIELD },
};

#define CLI_TABLE_LEN (sizeof cli_table / sizeof cli_table[0])

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

_Static_assert(CLI_TABLE_LEN <= CLI_OPTION_MAX, "raise CLI_OPTION_MAX (options.h)");

/* -W in seconds must still fit a millisecond uint32_t deadline. */
#define CLI_TIMEOUT_MAX_S 2000000ul

void cli_error(const char *prog, const char *fmt, ...)
{
    char msg[1024];
    char shown[4 * sizeof msg + 4];
    va_list ap;

    int n = snprintf(msg, sizeof msg, "%s: ", prog);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    /* A message may quote what the user or the broker gave (a topic, a
     * path): it stays on its one line, without control bytes (escape.h). */
    fprintf(stderr, "%s\n", cli_escape_line(shown, sizeof shown, msg));
}

bool cli_option_accepted(const struct cli_command *cmd, const struct cli_option *opt)
{
    return opt->group == 0 || (cmd->groups & opt->group) != 0;
}

void cli_usage(const struct cli_command *cmd)
{
    printf("Usage: midge %s [options]%s\n%s\n\nOptions:\n", cmd->name,
           (cmd->groups & CLI_GROUP_OPERAND) ? " COMMAND" : "", cmd->summary);
    for (size_t i = 0; i < CLI_TABLE_LEN; i++) {
        const struct cli_option *opt = &cli_table[i];
        if (!cli_option_accepted(cmd, opt))
            continue;
        char flags[64];
        int n = opt->key < 256 ? snprintf(flags, sizeof flags, "-%c, --%s", opt->key, opt->long_name)
                               : snprintf(flags, sizeof flags, "    --%s", opt->long_name);
        if (opt->arg && n > 0 && (size_t)n < sizeof flags)
            snprintf(flags + n, sizeof flags - (size_t)n, " %s", opt->arg);
        printf("  %-34s %s\n", flags, cli_help_text(cmd, opt));
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
    case KEY_MAX_PACKET_SIZE:
        if (!cli_number(arg, CLI_MAX_PACKET_MIN, CLI_MAX_PACKET_MAX, &v))
            break;
        o->max_packet_size = v;
        return true;
    case KEY_CONNACK_TIMEOUT:
        if (!cli_number(arg, 100, 3600000ul, &v))
            break;
        o->connack_timeout_ms = v;
        return true;
    }
    cli_error(o->prog, "invalid value '%s' for %s", arg,
              key == 'p' ? "-p (1..65535)" : key == 'k' ? "-k (0..65535)"
              : key == 'q' ? "-q (0, 1 or 2)" : key == KEY_WILL_QOS ? "--will-qos (0, 1 or 2)"
              : key == 'C' ? "-C (1 or more)" : key == 'W' ? "-W (1..2000000 seconds)"
              : key == KEY_CONNACK_TIMEOUT ? "--connack-timeout (100..3600000 ms)"
              : "--max-packet-size (64..268435460 bytes)");
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

/* Whole-string decimal for --expires: Unix seconds need 64 bits, which an
 * unsigned long is not on a 32-bit host. */
static bool cli_number_ull(const char *s, unsigned long long *out)
{
    char *end = NULL;

    if (*s == '\0' || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || v == 0)
        return false;
    *out = v;
    return true;
}

/* Identity, token and --watch options. Names are checked here, so a typo
 * fails before any connection is made. The device key is never echoed. */
static bool cli_apply_identity(struct cli_options *o, int key, const char *arg)
{
    midge_device_profile profile;
    midge_token_method method;

    switch (key) {
    case KEY_PROFILE:
        if (midge_device_profile_parse(arg, &profile)) {
            o->profile = arg;
            return true;
        }
        cli_error(o->prog, "invalid value '%s' for --profile (mqtt, onenet or onenet-studio)", arg);
        return false;
    case KEY_DEVICE_ID: o->device_id = arg; return true;
    case KEY_PRODUCT_ID: o->product_id = arg; return true;
    case KEY_PREFIX: o->prefix = arg; return true;
    case KEY_DEVICE_KEY: o->device_key = arg; return true;
    case KEY_METHOD:
        if (midge_token_method_parse(arg, &method) == MIDGE_OK) {
            o->method = arg;
            return true;
        }
        cli_error(o->prog, "invalid value '%s' for --method (md5, sha1 or sha256)", arg);
        return false;
    case KEY_EXPIRES:
        if (cli_number_ull(arg, &o->expires))
            return true;
        cli_error(o->prog, "invalid value '%s' for --expires (Unix seconds)", arg);
        return false;
    case KEY_TTL:
        /* At most a century: now + ttl must not wrap. */
        if (cli_number(arg, 1, 3153600000ul, &o->ttl_s))
            return true;
        cli_error(o->prog, "invalid value '%s' for --ttl (1..3153600000 seconds)", arg);
        return false;
    case KEY_WATCH: o->watch = true; return true;
    }
    return false;
}

/* Kept as the level's own name, so --print-config shows it spelled the
 * one way the parser accepts. */
static bool cli_set_log_level(struct cli_options *o, const char *arg)
{
    enum cli_log_level level;

    if (!cli_log_level_parse(arg, &level)) {
        cli_error(o->prog, "invalid value '%s' for --log-level (error, warn, info or debug)", arg);
        return false;
    }
    o->log_level = cli_log_level_name(level);
    return true;
}

/* TLS, configuration and device options. TLS options are only stored
 * here: whether they fit together is checked once every layer is in
 * (config_defaults.c), since a file may supply one half of a pair. */
static bool cli_apply_device(struct cli_options *o, int key, const char *arg)
{
    unsigned long ms = 0;

    switch (key) {
    case KEY_TLS: o->tls = true; return true;
    case KEY_CAFILE: o->cafile = arg; return true;
    case KEY_CAPATH: o->capath = arg; return true;
    case KEY_CERT: o->certfile = arg; return true;
    case KEY_KEY: o->keyfile = arg; return true;
    case KEY_INSECURE: o->insecure = true; return true;
    case KEY_TLS_VERSION: o->tls_version = arg; return true;
    case KEY_CONFIG: o->config_path = arg; return true;
    case KEY_PRINT_CONFIG: o->print_config = true; return true;
    case KEY_LED: o->led = arg; return true;
    case KEY_PROPERTY: o->property = arg; return true;
    case KEY_STATE_FILE: o->state_file = arg; return true;
    case KEY_SUBSCRIBE_COMMANDS: o->subscribe_commands = true; return true;
    case KEY_BACKOFF_MIN:
    case KEY_BACKOFF_MAX:
        /* An hour at most: a device that waits longer looks dead. */
        if (!cli_number(arg, 1, 3600000ul, &ms)) {
            cli_error(o->prog, "invalid value '%s' for %s (1..3600000 ms)", arg,
                      key == KEY_BACKOFF_MIN ? "--backoff-min" : "--backoff-max");
            return false;
        }
        *(key == KEY_BACKOFF_MIN ? &o->backoff_min_ms : &o->backoff_max_ms) = ms;
        return true;
    case KEY_INBOX_MAX:
        if (!cli_number(arg, 1, CLI_INBOX_MAX_LIMIT, &o->inbox_max)) {
            cli_error(o->prog, "invalid value '%s' for --inbox-max (1..%lu messages)", arg,
                      CLI_INBOX_MAX_LIMIT);
            return false;
        }
        return true;
    case KEY_INBOX_BYTES:
        if (!cli_number(arg, CLI_INBOX_BYTES_MIN, CLI_INBOX_BYTES_LIMIT, &o->inbox_bytes)) {
            cli_error(o->prog, "invalid value '%s' for --inbox-bytes (%lu..%lu bytes)", arg,
                      CLI_INBOX_BYTES_MIN, CLI_INBOX_BYTES_LIMIT);
            return false;
        }
        return true;
    case KEY_LOG_LEVEL:
        return cli_set_log_level(o, arg);
    case 'q': o->quiet = true; return true;
    }
    return false;
}

/* Bench options. Ranges that depend on each other (workers <= devices)
 * are bench's to check. */
static bool cli_apply_bench(struct cli_options *o, int key, const char *arg)
{
    unsigned long *field = key == KEY_DEVICES ? &o->devices : key == KEY_RATE ? &o->rate
                           : key == KEY_DURATION ? &o->duration_s : &o->workers;
    const char *name = key == KEY_DEVICES ? "--devices" : key == KEY_RATE ? "--rate"
                       : key == KEY_DURATION ? "--duration" : "--workers";

    switch (key) {
    case KEY_BIND: o->bind_range = arg; return true;
    case KEY_JSON: o->json_path = arg; return true;
    case KEY_PLOT: o->plot_path = arg; return true;
    }
    if (cli_number(arg, key == KEY_RATE ? 0 : 1, 100000000ul, field))
        return true;
    cli_error(o->prog, "invalid value '%s' for %s (%s)", arg, name,
              key == KEY_RATE ? "0 or more" : "1 or more");
    return false;
}

/* Apply one parsed option; false after printing the error. */
static bool cli_apply(const struct cli_command *cmd, struct cli_options *o, int key,
                      const char *arg)
{
    switch (key) {
    case 'h':
        o->host = arg;
        /* bench spreads its devices over every -h; the others use the last. */
        if (o->host_count < CLI_MAX_HOSTS)
            o->hosts[o->host_count] = arg;
        o->host_count++;
        return true;
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
    case KEY_LISTEN: o->listen = arg; return true;
    case KEY_API_KEY: o->api_key = arg; return true;
    case 'v': o->verbose = true; return true;
    case KEY_PROFILE:
    case KEY_DEVICE_ID:
    case KEY_PRODUCT_ID:
    case KEY_PREFIX:
    case KEY_DEVICE_KEY:
    case KEY_METHOD:
    case KEY_EXPIRES:
    case KEY_TTL:
    case KEY_WATCH:
        return cli_apply_identity(o, key, arg);
    case KEY_TLS:
    case KEY_CAFILE:
    case KEY_CAPATH:
    case KEY_CERT:
    case KEY_KEY:
    case KEY_INSECURE:
    case KEY_TLS_VERSION:
    case KEY_CONFIG:
    case KEY_PRINT_CONFIG:
    case KEY_LED:
    case KEY_PROPERTY:
    case KEY_STATE_FILE:
    case KEY_SUBSCRIBE_COMMANDS:
    case KEY_BACKOFF_MIN:
    case KEY_BACKOFF_MAX:
    case KEY_INBOX_MAX:
    case KEY_INBOX_BYTES:
    case KEY_LOG_LEVEL:
        return cli_apply_device(o, key, arg);
    case 'q':
        /* One letter, two options: --quiet where the device group is
         * taken, --qos everywhere else (no command takes both). */
        if (cmd->groups & CLI_GROUP_DEVICE)
            return cli_apply_device(o, key, arg);
        return cli_set_number(o, key, arg);
    case KEY_DEVICES:
    case KEY_RATE:
    case KEY_DURATION:
    case KEY_BIND:
    case KEY_WORKERS:
    case KEY_JSON:
    case KEY_PLOT:
        return cli_apply_bench(o, key, arg);
    default:
        if (cli_mosq_handles(key))
            return cli_mosq_apply(cmd, o, key, arg);
        return cli_set_number(o, key, arg);
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
        cli_error(o->prog, "a message is required (-m, -n, -f or -l)");
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
    struct option longs[CLI_TABLE_LEN + 1];
    /* ':' first: a missing argument is reported apart from an unknown flag. */
    char shorts[2 * CLI_TABLE_LEN + 2] = ":";
    size_t nl = 0;
    size_t ns = 1;

    snprintf(prog, sizeof prog, "midge %s", cmd->name);
    cli_defaults(cmd, o, prog);
    cli_layers_reset();
    for (size_t i = 0; i < CLI_TABLE_LEN; i++) {
        const struct cli_option *opt = &cli_table[i];
        if (!cli_option_accepted(cmd, opt))
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
        cli_layers_note_flag(cmd, key, optarg);
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
     * that depend on other options come after every layer (config.h). */
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
    if (!cli_validate(cmd, o) || !cli_mosq_finish(cmd, o))
        return CLI_PARSE_EXIT_USAGE;
    return CLI_PARSE_RUN;
}

/* --- the table as config.c sees it ---------------------------------------- */

size_t cli_option_count(void) { return CLI_TABLE_LEN; }

const struct cli_option *cli_option_at(size_t i) { return &cli_table[i]; }

bool cli_option_apply(const struct cli_command *cmd, struct cli_options *o, int key,
                      const char *arg)
{
    return cli_apply(cmd, o, key, arg);
}
