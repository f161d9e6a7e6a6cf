/*
 * midge CLI: the option table and how each option's value is checked and
 * stored (see options_table.h).
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

#include "escape.h"
#include "log.h"
#include "midge/device.h"
#include "midge/token.h"
#include "options_mosq.h"
#include "options_table.h"

/* Names of the long-only options an apply function below tells apart,
 * above every character (a long-only option that needs none has key 0). */
enum cli_key {
    KEY_HELP = CLI_KEY_HELP,
    KEY_VERSION = CLI_KEY_VERSION,
    KEY_WILL_QOS,
    KEY_MAX_PACKET_SIZE,
    KEY_CONNACK_TIMEOUT,
    KEY_PROFILE,
    KEY_METHOD,
    KEY_EXPIRES,
    KEY_TTL,
    KEY_BACKOFF_MIN,
    KEY_BACKOFF_MAX,
    KEY_INBOX_MAX,
    KEY_INBOX_BYTES,
    KEY_LOG_LEVEL,
    KEY_DEVICES,
    KEY_RATE,
    KEY_DURATION,
    KEY_WORKERS,
    KEY_CONNECT_TIME,
};

/* -W in seconds must still fit a millisecond uint32_t deadline. */
#define CLI_TIMEOUT_MAX_S 2000000ul

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

/* The numbers of the broker, topic and receive groups. */
static bool cli_apply_number(const struct cli_command *cmd, struct cli_options *o,
                             const struct cli_option *opt, const char *arg,
                             const struct cli_option_note *note)
{
    int key = opt->key;
    unsigned long v = 0;

    (void)cmd;
    (void)note;
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

/* -m, -n, -f and -l: where pub's message comes from. */
static bool cli_apply_source(const struct cli_command *cmd, struct cli_options *o,
                             const struct cli_option *opt, const char *arg,
                             const struct cli_option_note *note)
{
    enum cli_source src = opt->key == 'm' ? CLI_SOURCE_ARG : opt->key == 'n' ? CLI_SOURCE_EMPTY
                          : opt->key == 'f' ? CLI_SOURCE_FILE : CLI_SOURCE_LINES;

    (void)cmd;
    (void)note;
    if (o->source != CLI_SOURCE_NONE) {
        cli_error(o->prog, "only one of -m, -n, -f, -l and -s may be given");
        return false;
    }
    o->source = src;
    o->message = arg;
    return true;
}

static bool cli_apply_topic(const struct cli_command *cmd, struct cli_options *o,
                            const struct cli_option *opt, const char *t,
                            const struct cli_option_note *note)
{
    (void)opt;
    (void)note;
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

/* Identity and token options. Names are checked here, so a typo fails
 * before any connection is made. */
static bool cli_apply_identity(const struct cli_command *cmd, struct cli_options *o,
                               const struct cli_option *opt, const char *arg,
                               const struct cli_option_note *note)
{
    midge_device_profile profile;
    midge_token_method method;

    (void)cmd;
    (void)note;
    switch (opt->key) {
    case KEY_PROFILE:
        if (midge_device_profile_parse(arg, &profile)) {
            o->profile = arg;
            return true;
        }
        cli_error(o->prog, "invalid value '%s' for --profile (mqtt, onenet or onenet-studio)", arg);
        return false;
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

/* The device's numbers and its log level. */
static bool cli_apply_device(const struct cli_command *cmd, struct cli_options *o,
                             const struct cli_option *opt, const char *arg,
                             const struct cli_option_note *note)
{
    int key = opt->key;
    unsigned long ms = 0;

    (void)cmd;
    (void)note;
    switch (key) {
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
    }
    return false;
}

/* Bench's numbers. Ranges that depend on each other (workers <= devices)
 * are bench's to check. */
static bool cli_apply_bench(const struct cli_command *cmd, struct cli_options *o,
                            const struct cli_option *opt, const char *arg,
                            const struct cli_option_note *note)
{
    int key = opt->key;
    unsigned long *field = key == KEY_DEVICES ? &o->devices : key == KEY_RATE ? &o->rate
                           : key == KEY_DURATION ? &o->duration_s
                           : key == KEY_CONNECT_TIME ? &o->connect_time_s : &o->workers;
    const char *name = key == KEY_DEVICES ? "--devices" : key == KEY_RATE ? "--rate"
                       : key == KEY_DURATION ? "--duration"
                       : key == KEY_CONNECT_TIME ? "--connect-time" : "--workers";

    (void)cmd;
    (void)note;
    if (cli_number(arg, key == KEY_RATE ? 0 : 1, 100000000ul, field))
        return true;
    cli_error(o->prog, "invalid value '%s' for %s (%s)", arg, name,
              key == KEY_RATE ? "0 or more" : "1 or more");
    return false;
}

/* -h: bench spreads its devices over every -h; the others use the last. */
static bool cli_apply_host(const struct cli_command *cmd, struct cli_options *o,
                           const struct cli_option *opt, const char *arg,
                           const struct cli_option_note *note)
{
    (void)cmd;
    (void)note;
    (void)opt;
    o->host = arg;
    if (o->host_count < CLI_MAX_HOSTS)
        o->hosts[o->host_count] = arg;
    o->host_count++;
    return true;
}

/* Where an entry's value lives in struct cli_options, for --print-config:
 * FIELD(STR, host), or FIELD_OR(STR, led, "sim") with the value shown for
 * NULL or 0. NO_FIELD is for the options no one field holds: -t fills an
 * array, and -m, -n, -f and -l share o->source and o->message (with -f,
 * o->message is a path), so their rows show only what a layer gave. */
#define FIELD_OR(kind, member, zero) CLI_FIELD_##kind, offsetof(struct cli_options, member), zero
#define FIELD(kind, member) FIELD_OR(kind, member, NULL)
#define NO_FIELD CLI_FIELD_NONE, 0, NULL

/* Each row: long name, key, argument, groups, --help, CLI_OPT_* flags,
 * field, and the function that checks a value (NULL: stored as given). */
static const struct cli_option cli_table[] = {
    { "host", 'h', required_argument, CLI_GROUP_BROKER, "host", "broker host (default localhost)", 0, FIELD(STR, host), cli_apply_host },
    { "port", 'p', required_argument, CLI_GROUP_BROKER, "port", "broker port (default 1883)", 0, FIELD(U16, port), cli_apply_number },
    { "id", 'i', required_argument, CLI_GROUP_BROKER, "id", "client id (default midge-<command>-<pid>)", 0, FIELD(STR, client_id), NULL },
    { "username", 'u', required_argument, CLI_GROUP_BROKER, "user", "user name", 0, FIELD(STR, username), NULL },
    { "password", 'P', required_argument, CLI_GROUP_BROKER, "password", "password (needs -u)", CLI_OPT_SECRET, FIELD(STR, password), NULL },
    { "keepalive", 'k', required_argument, CLI_GROUP_BROKER, "seconds", "keepalive interval (default 60, 0 = off)", 0, FIELD(U16, keepalive_s), cli_apply_number },
    { "disable-clean-session", 'c', no_argument, CLI_GROUP_BROKER, NULL, "keep the session on the broker (needs -i)", 0, FIELD(NOT_BOOL, clean_session), NULL },
    { "debug", 'd', no_argument, CLI_GROUP_BROKER, NULL, "print every packet sent and received on stderr", 0, FIELD(BOOL, debug), NULL },
    { "will-topic", 0, required_argument, CLI_GROUP_BROKER, "topic", "last will topic", 0, FIELD(STR, will_topic), NULL },
    { "will-payload", 0, required_argument, CLI_GROUP_BROKER, "text", "last will message", 0, FIELD(STR, will_payload), NULL },
    { "will-qos", KEY_WILL_QOS, required_argument, CLI_GROUP_BROKER, "0|1|2", "last will QoS (default 0)", 0, FIELD(U8, will_qos), cli_apply_number },
    { "will-retain", 0, no_argument, CLI_GROUP_BROKER, NULL, "retain the last will", 0, FIELD(BOOL, will_retain), NULL },
    { "max-packet-size", KEY_MAX_PACKET_SIZE, required_argument, CLI_GROUP_BROKER, "bytes", "largest packet accepted; a larger one closes the connection (default 65536, sub 16777216)", 0, FIELD(ULONG, max_packet_size), cli_apply_number },
    { "connack-timeout", KEY_CONNACK_TIMEOUT, required_argument, CLI_GROUP_BROKER, "ms", "give up on a broker that accepts TCP but sends no CONNACK or SUBACK (default 10000; device: its --backoff-max, 2000..10000)", 0, FIELD(ULONG, connack_timeout_ms), cli_apply_number },
    { "topic", 't', required_argument, CLI_GROUP_TOPIC | CLI_GROUP_DEVICE, "topic", "topic; several: pub publishes each message to every one (mosquitto_pub only to the last), sub subscribes to every filter", CLI_OPT_REPEATABLE, NO_FIELD, cli_apply_topic },
    { "qos", 'q', required_argument, CLI_GROUP_TOPIC, "0|1|2", "quality of service (default 0)", 0, FIELD(U8, qos), cli_apply_number },
    { "message", 'm', required_argument, CLI_GROUP_SEND, "text", "send text as the message", 0, NO_FIELD, cli_apply_source },
    { "null-message", 'n', no_argument, CLI_GROUP_SEND, NULL, "send an empty message", 0, NO_FIELD, cli_apply_source },
    { "file", 'f', required_argument, CLI_GROUP_SEND, "path", "send a whole file as the message", 0, NO_FIELD, cli_apply_source },
    { "stdin-line", 'l', no_argument, CLI_GROUP_SEND, NULL, "send each line of stdin as a message", 0, NO_FIELD, cli_apply_source },
    { "retain", 'r', no_argument, CLI_GROUP_SEND, NULL, "ask the broker to retain the message", 0, FIELD(BOOL, retain), NULL },
    { "count", 'C', required_argument, CLI_GROUP_RECEIVE, "n", "exit after n messages", 0, FIELD(ULONG, count), cli_apply_number },
    { "timeout", 'W', required_argument, CLI_GROUP_RECEIVE | CLI_GROUP_WAIT, "seconds", "give up after this long (exit status 27)", 0, FIELD(ULONG, timeout_s), cli_apply_number },
    { "verbose", 'v', no_argument, CLI_GROUP_RECEIVE, NULL, "print \"topic payload\" rather than the payload", 0, FIELD(BOOL, verbose), NULL },
    { "profile", KEY_PROFILE, required_argument, CLI_GROUP_IDENTITY, "name", "mqtt (default), onenet or onenet-studio", 0, FIELD_OR(STR, profile, "mqtt"), cli_apply_identity },
    { "device-id", 0, required_argument, CLI_GROUP_IDENTITY, "id", "the device (onenet-studio: its name)", 0, FIELD(STR, device_id), NULL },
    { "product-id", 0, required_argument, CLI_GROUP_IDENTITY, "id", "the OneNET product (onenet, onenet-studio)", 0, FIELD(STR, product_id), NULL },
    { "prefix", 0, required_argument, CLI_GROUP_IDENTITY | CLI_GROUP_WATCH, "template", "mqtt profile topic prefix, {device-id} standing for the id (default devices/{device-id})", 0, FIELD(STR, prefix), NULL },
    { "device-key", 0, required_argument, CLI_GROUP_TOKEN, "base64", "the device key that signs the token", CLI_OPT_SECRET, FIELD(STR, device_key), NULL },
    { "method", KEY_METHOD, required_argument, CLI_GROUP_TOKEN, "name", "token signature: md5, sha1 or sha256 (default)", 0, FIELD_OR(STR, method, CLI_TOKEN_METHOD_DEFAULT), cli_apply_identity },
    { "expires", KEY_EXPIRES, required_argument, CLI_GROUP_TOKEN, "unix", "token valid until this Unix time (not with --ttl)", 0, FIELD(ULL, expires), cli_apply_identity },
    { "ttl", KEY_TTL, required_argument, CLI_GROUP_TOKEN, "seconds", "token valid this long from now (default 31536000, a year)", 0, FIELD_OR(ULONG, ttl_s, "31536000"), cli_apply_identity },
    { "direct", 0, no_argument, CLI_GROUP_OPERAND, NULL, "onenet: publish $creq/ and read $crsp/ itself, on a plain broker standing in for OneNET (default: through the platform plugin's $onenet/ tree)", 0, FIELD(BOOL, direct), NULL },
    { "watch", 0, no_argument, CLI_GROUP_WATCH, NULL, "keep running and print every change (until Ctrl-C)", 0, FIELD(BOOL, watch), NULL },
    { "tls", 0, no_argument, CLI_GROUP_TLS, NULL, "connect over TLS 1.2 (default port 8883)", 0, FIELD(BOOL, tls), NULL },
    { "cafile", 0, required_argument, CLI_GROUP_TLS, "file", "trusted CA certificates (PEM); implies --tls", 0, FIELD(STR, cafile), NULL },
    { "capath", 0, required_argument, CLI_GROUP_TLS, "dir", "directory of trusted CA certificates; implies --tls", 0, FIELD(STR, capath), NULL },
    { "cert", 0, required_argument, CLI_GROUP_TLS, "file", "client certificate (PEM, needs --key); implies --tls", 0, FIELD(STR, certfile), NULL },
    { "key", 0, required_argument, CLI_GROUP_TLS, "file", "client private key (PEM); implies --tls", 0, FIELD(STR, keyfile), NULL },
    { "insecure", 0, no_argument, CLI_GROUP_TLS, NULL, "skip the host-name check only (the chain is still verified)", 0, FIELD(BOOL, insecure), NULL },
    { "tls-version", 0, required_argument, CLI_GROUP_TLS, "version", "tlsv1.2 (the only one accepted)", 0, FIELD(STR, tls_version), NULL },
    { "config", 0, required_argument, CLI_GROUP_CONFIG, "file", "read options from this INI file ([midge] section)", CLI_OPT_CONFIG_FILE, FIELD(STR, config_path), NULL },
    { "print-config", 0, no_argument, CLI_GROUP_CONFIG, NULL, "print the effective configuration and exit", CLI_OPT_FLAG_ONLY, FIELD(BOOL, print_config), NULL },
    { "led", 0, required_argument, CLI_GROUP_DEVICE, "spec", "sim (default) or gpio:CHIP:LINE[:active-low]", 0, FIELD_OR(STR, led, "sim"), NULL },
    { "property", 0, required_argument, CLI_GROUP_DEVICE, "name", "onenet-studio LED property (default led)", 0, FIELD_OR(STR, property, "led"), NULL },
    { "state-file", 0, required_argument, CLI_GROUP_DEVICE, "path", "keep the LED state here and restore it at start", 0, FIELD(STR, state_file), NULL },
    { "subscribe-commands", 0, no_argument, CLI_GROUP_DEVICE, NULL, "onenet: also subscribe $creq/# (plain brokers)", 0, FIELD(BOOL, subscribe_commands), NULL },
    { "backoff-min", KEY_BACKOFF_MIN, required_argument, CLI_GROUP_DEVICE, "ms", "first reconnect delay (default 500)", 0, FIELD(ULONG, backoff_min_ms), cli_apply_device },
    { "backoff-max", KEY_BACKOFF_MAX, required_argument, CLI_GROUP_DEVICE, "ms", "longest reconnect delay (default 30000)", 0, FIELD(ULONG, backoff_max_ms), cli_apply_device },
    { "inbox-max", KEY_INBOX_MAX, required_argument, CLI_GROUP_DEVICE, "n", "messages kept waiting to be handled at most (default 1000); past it QoS 0 commands are dropped, QoS 1/2 ones left with the broker", 0, FIELD(ULONG, inbox_max), cli_apply_device },
    { "inbox-bytes", KEY_INBOX_BYTES, required_argument, CLI_GROUP_DEVICE, "bytes", "memory for messages waiting to be handled, at most (default 1048576)", 0, FIELD(ULONG, inbox_bytes), cli_apply_device },
    { "log-level", KEY_LOG_LEVEL, required_argument, CLI_GROUP_DEVICE, "level", "log up to error, warn, info (default) or debug; -d implies debug", 0, FIELD_OR(STR, log_level, "info"), cli_apply_device },
    { "quiet", 'q', no_argument, CLI_GROUP_DEVICE, NULL, "log errors only (--log-level error)", 0, FIELD(BOOL, quiet), NULL },
    { "devices", KEY_DEVICES, required_argument, CLI_GROUP_BENCH, "n", "devices to simulate (required)", 0, FIELD(ULONG, devices), cli_apply_bench },
    { "rate", KEY_RATE, required_argument, CLI_GROUP_BENCH, "n", "commands per second, each device in turn in a scrambled order (default 100, 0 = none)", 0, FIELD(ULONG, rate), cli_apply_bench },
    { "duration", KEY_DURATION, required_argument, CLI_GROUP_BENCH, "seconds", "length of the command phase (default 10)", 0, FIELD(ULONG, duration_s), cli_apply_bench },
    { "qos", 'q', required_argument, CLI_GROUP_BENCH, "0|1|2", "QoS of the commands (default 1)", 0, FIELD(U8, qos), cli_apply_number },
    { "bind", 0, required_argument, CLI_GROUP_BENCH, "addr[-addr]", "source IPv4 addresses, e.g. 127.0.0.2-127.0.0.20", 0, FIELD(STR, bind_range), NULL },
    { "workers", KEY_WORKERS, required_argument, CLI_GROUP_BENCH, "n", "processes sharing the devices (default 1)", 0, FIELD(ULONG, workers), cli_apply_bench },
    { "connect-time", KEY_CONNECT_TIME, required_argument, CLI_GROUP_BENCH, "seconds", "time allowed for every device to connect (default 30 + 1 ms per device)", 0, FIELD(ULONG, connect_time_s), cli_apply_bench },
    { "json", 0, required_argument, CLI_GROUP_BENCH, "file", "write every figure to this JSON file", 0, FIELD(STR, json_path), NULL },
    { "plot", 0, required_argument, CLI_GROUP_BENCH, "file.png", "draw the latency charts with gnuplot", 0, FIELD(STR, plot_path), NULL },
    /* mosquitto_pub and mosquitto_sub's own flags (options_mosq.c) */
    { "url", 'L', required_argument, CLI_GROUP_MOSQ, "url", "mqtt(s)://[user[:password]@]host[:port]/topic sets all five; mqtts:// is TLS, port 8883", CLI_OPT_FLAG_ONLY, NO_FIELD, cli_mosq_apply },
    { "bind-address", 'A', required_argument, CLI_GROUP_LINK, "address", "connect from this local address", 0, FIELD(STR, bind_address), cli_mosq_apply },
    { "unix", KEY_UNIX, required_argument, CLI_GROUP_LINK, "path", "connect to the broker's Unix-domain socket instead of -h/-p", 0, FIELD(STR, unix_path), cli_mosq_apply },
    { "nodelay", 0, no_argument, CLI_GROUP_LINK, NULL, "accepted: midge always turns Nagle's algorithm off", 0, FIELD(BOOL, nodelay), NULL },
    { "tls-use-os-certs", KEY_TLS_OS_CERTS, no_argument, CLI_GROUP_TLS, NULL, "TLS trusting the system's CA certificates (as --tls)", 0, FIELD(BOOL, tls_os_certs), cli_mosq_apply },
    { "id-prefix", 'I', required_argument, CLI_GROUP_MOSQ, "prefix", "client id: this prefix and the process id", 0, FIELD(STR, id_prefix), NULL },
    { "max-inflight", 'M', required_argument, CLI_GROUP_MOSQ, "n", "QoS 1/2 messages awaiting acknowledgement at once (default 20)", 0, FIELD_OR(ULONG, max_inflight, "20"), cli_mosq_apply },
    { "quiet", 0, no_argument, CLI_GROUP_MOSQ, NULL, "print no error message (the exit status still says)", 0, FIELD(BOOL, quiet_errors), NULL },
    { "protocol-version", 'V', required_argument, CLI_GROUP_MOSQ, "version", "mqttv311, the only one (mqttv5: MQTT 5 is not supported yet)", CLI_OPT_FLAG_ONLY, NO_FIELD, cli_mosq_apply },
    { "session-expiry-interval", 'x', required_argument, CLI_GROUP_MOSQ, "seconds", "refused: an MQTT 5 property (MQTT 5 is not supported yet)", CLI_OPT_FLAG_ONLY, NO_FIELD, cli_mosq_apply },
    { "property", 'D', required_argument, CLI_GROUP_MOSQ, "command", "refused: MQTT 5 properties (MQTT 5 is not supported yet)", CLI_OPT_FLAG_ONLY, NO_FIELD, cli_mosq_apply },
    { "stdin-file", 's', no_argument, CLI_GROUP_SEND, NULL, "send all of stdin as one message", 0, NO_FIELD, cli_mosq_apply },
    { "repeat", KEY_REPEAT, required_argument, CLI_GROUP_SEND, "n", "publish the message n times (-m, -n, -f, -s)", 0, FIELD(ULONG, repeat), cli_mosq_apply },
    { "repeat-delay", KEY_REPEAT_DELAY, required_argument, CLI_GROUP_SEND, "seconds", "wait between repeats, once the last is acknowledged (default 0)", 0, NO_FIELD, cli_mosq_apply },
    { "no-eol", 'N', no_argument, CLI_GROUP_RECEIVE, NULL, "no newline after each message", 0, FIELD(BOOL, no_eol), NULL },
    { "no-retained", 'R', no_argument, CLI_GROUP_RECEIVE, NULL, "skip retained (stale) messages", 0, FIELD(BOOL, no_retained), NULL },
    { "filter-out", 'T', required_argument, CLI_GROUP_RECEIVE, "filter", "skip messages on topics matching filter (may repeat)", CLI_OPT_REPEATABLE, NO_FIELD, cli_mosq_apply },
    { "exit-after-subscribe", 'E', no_argument, CLI_GROUP_RECEIVE, NULL, "exit once subscribed (and unsubscribed, -U)", 0, FIELD(BOOL, exit_after_sub), NULL },
    { "unsubscribe", 'U', required_argument, CLI_GROUP_RECEIVE, "filter", "unsubscribe from filter after subscribing (-c sessions; may repeat)", CLI_OPT_REPEATABLE, NO_FIELD, cli_mosq_apply },
    { "format", 'F', required_argument, CLI_GROUP_RECEIVE, "format", "print each message as mosquitto_sub's format says: %t %p %q %r %l %m %x %X %I %U %j %J, @ for strftime, \\n \\t ...", 0, FIELD(STR, format), cli_mosq_apply },
    { "pretty", 0, no_argument, CLI_GROUP_RECEIVE, NULL, "-F %j and %J: indented JSON", 0, FIELD(BOOL, pretty), NULL },
    { "remove-retained", 0, no_argument, CLI_GROUP_RECEIVE, NULL, "clear every retained message received (-T spares some)", 0, FIELD(BOOL, remove_retained), NULL },
    { "retained-only", 0, no_argument, CLI_GROUP_RECEIVE, NULL, "print retained messages only; exit at the first new one", 0, FIELD(BOOL, retained_only), NULL },
    { "forget", KEY_FORGET, required_argument, CLI_GROUP_WATCH, "id", "remove a gone device's retained presence and state", CLI_OPT_FLAG_ONLY, NO_FIELD, cli_mosq_apply },
    { "listen", 0, required_argument, CLI_GROUP_CONSOLE, "host:port", "serve the web console and its API here (default 127.0.0.1:8080; [v6]:port)", 0, FIELD_OR(STR, listen, "127.0.0.1:8080"), NULL },
    { "api-key", 0, required_argument, CLI_GROUP_CONSOLE, "key", "the key API requests carry in their api-key header (mqtt profile; onenet: the master key, -P)", CLI_OPT_SECRET, FIELD(STR, api_key), NULL },
    { "help", KEY_HELP, no_argument, 0, NULL, "print this help and exit", CLI_OPT_FLAG_ONLY, NO_FIELD, NULL },
    { "version", KEY_VERSION, no_argument, 0, NULL, "print the version and exit", CLI_OPT_FLAG_ONLY, NO_FIELD, NULL },
};

#define CLI_TABLE_LEN (sizeof cli_table / sizeof cli_table[0])

_Static_assert(CLI_TABLE_LEN <= CLI_OPTION_MAX, "raise CLI_OPTION_MAX (options_table.h)");

/* -W in seconds must still fit a millisecond uint32_t deadline. */

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

/* --- the table as the parser and the layers see it ----------------------- */

size_t cli_option_count(void) { return CLI_TABLE_LEN; }

const struct cli_option *cli_option_at(size_t i) { return &cli_table[i]; }

bool cli_option_accepted(const struct cli_command *cmd, const struct cli_option *opt)
{
    return opt->group == 0 || (cmd->groups & opt->group) != 0;
}

const struct cli_option *cli_option_find(const struct cli_command *cmd, int key)
{
    for (size_t i = 0; i < CLI_TABLE_LEN; i++) {
        if (cli_table[i].key == key && cli_option_accepted(cmd, &cli_table[i]))
            return &cli_table[i];
    }
    return NULL;
}

bool cli_option_apply(const struct cli_command *cmd, struct cli_options *o,
                      const struct cli_option *opt, const char *arg,
                      const struct cli_option_note *note)
{
    char *field = (char *)o + opt->offset;
    bool on = opt->kind == CLI_FIELD_BOOL;

    if (opt->apply != NULL)
        return opt->apply(cmd, o, opt, arg, note);
    /* A row without a function of its own: its field says how to store it. */
    switch (opt->kind) {
    case CLI_FIELD_STR: memcpy(field, &arg, sizeof arg); return true;
    case CLI_FIELD_BOOL:
    case CLI_FIELD_NOT_BOOL: memcpy(field, &on, sizeof on); return true;
    default: break;
    }
    cli_error(o->prog, "--%s: no way to apply a value (its table row needs a function)",
              opt->long_name);
    return false;
}
