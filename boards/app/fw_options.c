/*
 * The firmware's command line (see fw_options.h). The rules are
 * `midge device`'s (src/cli/options.c, config_defaults.c): the same
 * ranges, the same derived defaults (the onenet profiles' host, port and
 * keepalive; the connack timeout from --backoff-max; the mqtt profile's
 * kept session), the same checks and the same words in their messages,
 * which tests/firmware compares with the tool's.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw_options.h"
#include "midge/codec.h"
#include "midge/device.h"

#define ONENET_HOST "183.230.40.39"
#define ONENET_PORT 6002
#define STUDIO_HOST "mqtts.heclouds.com"
#define ONENET_KEEPALIVE_S 120
#define BACKOFF_MIN_DEFAULT_MS 500ul
#define BACKOFF_MAX_DEFAULT_MS 30000ul

enum fw_key {
    KEY_CONNACK_TIMEOUT = 256,
    KEY_PROFILE,
    KEY_DEVICE_ID,
    KEY_PRODUCT_ID,
    KEY_PREFIX,
    KEY_PROPERTY,
    KEY_SUBSCRIBE_COMMANDS,
    KEY_BACKOFF_MIN,
    KEY_BACKOFF_MAX,
    KEY_LOG_LEVEL,
    KEY_DEVICE_KEY,
    KEY_TRAP,
    KEY_HELP,
    KEY_VERSION,
};

static const struct option fw_longs[] = {
    { "host", required_argument, NULL, 'h' },
    { "port", required_argument, NULL, 'p' },
    { "id", required_argument, NULL, 'i' },
    { "username", required_argument, NULL, 'u' },
    { "password", required_argument, NULL, 'P' },
    { "keepalive", required_argument, NULL, 'k' },
    { "disable-clean-session", no_argument, NULL, 'c' },
    { "debug", no_argument, NULL, 'd' },
    { "quiet", no_argument, NULL, 'q' },
    { "topic", required_argument, NULL, 't' },
    { "connack-timeout", required_argument, NULL, KEY_CONNACK_TIMEOUT },
    { "profile", required_argument, NULL, KEY_PROFILE },
    { "device-id", required_argument, NULL, KEY_DEVICE_ID },
    { "product-id", required_argument, NULL, KEY_PRODUCT_ID },
    { "prefix", required_argument, NULL, KEY_PREFIX },
    { "property", required_argument, NULL, KEY_PROPERTY },
    { "subscribe-commands", no_argument, NULL, KEY_SUBSCRIBE_COMMANDS },
    { "backoff-min", required_argument, NULL, KEY_BACKOFF_MIN },
    { "backoff-max", required_argument, NULL, KEY_BACKOFF_MAX },
    { "log-level", required_argument, NULL, KEY_LOG_LEVEL },
    { "device-key", required_argument, NULL, KEY_DEVICE_KEY },
    { "trap", required_argument, NULL, KEY_TRAP },
    { "help", no_argument, NULL, KEY_HELP },
    { "version", no_argument, NULL, KEY_VERSION },
    { NULL, 0, NULL, 0 },
};

static const char fw_usage[] =
    "Usage: midge-firmware [options] (the semihosting command line)\n"
    "Run one LED device on this board: obey on/off/toggle/status commands, stay online.\n"
    "  -h, --host host          broker address (default: the board's, see the README)\n"
    "  -p, --port port          broker port (default 1883; onenet 6002)\n"
    "  -i, --id id              client id: the device id (--device-id), which it may repeat\n"
    "  -u, --username user      user name\n"
    "  -P, --password password  password (mqtt: needs -u; onenet: the API key; onenet-studio: a token)\n"
    "  -k, --keepalive seconds  keepalive interval (default 60, onenet 120, 0 = off)\n"
    "  -c, --disable-clean-session  keep the session on the broker (onenet)\n"
    "  -t, --topic filter       extra plain topic (on/off/toggle without a reply), up to 4\n"
    "      --profile name       mqtt (default), onenet or onenet-studio\n"
    "      --device-id id       the device (onenet-studio: its name)\n"
    "      --product-id id      the OneNET product (onenet, onenet-studio)\n"
    "      --prefix topic       mqtt profile topic prefix (default devices/<device-id>)\n"
    "      --property name      onenet-studio LED property (default led)\n"
    "      --subscribe-commands onenet: also subscribe $creq/# (plain brokers)\n"
    "      --backoff-min ms     first reconnect delay (default 500)\n"
    "      --backoff-max ms     longest reconnect delay (default 30000)\n"
    "      --connack-timeout ms give up on a silent broker (default: --backoff-max, 2000..10000)\n"
    "      --log-level level    error, warn, info (default) or debug; -q = error, -d = debug\n";

static void fw_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fw_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", FW_PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Whole-string decimal in [min, max], as the tool reads numbers: digits
 * only, no sign, no overflow. */
static bool fw_number(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned long digit = (unsigned long)(*s - '0');
        if (*s < '0' || *s > '9' || digit > max || v > (max - digit) / 10u)
            return false;
        v = v * 10u + digit;
    }
    if (v < min)
        return false;
    *out = v;
    return true;
}

static bool fw_log_level_parse(const char *s, enum fw_log_level *level)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *level = (enum fw_log_level)i;
            return true;
        }
    }
    return false;
}

/* A -t filter (MQTT 3.1.1 sections 4.7.1 and 4.7.3), with the tool's words. */
static bool fw_check_filter(const char *t)
{
    size_t len = strlen(t);
    const char *problem = NULL;

    if (len == 0)
        problem = "empty (a topic is at least one character)";
    else if (len > UINT16_MAX)
        problem = "longer than 65535 bytes";
    else if (!midge_utf8_valid((const uint8_t *)t, len))
        problem = "not valid UTF-8";
    else if (!midge_topic_filter_valid(t, len))
        problem = "a wildcard must fill a whole level ('a/+/c'), and '#' must be the last one "
                  "('a/#')";
    if (problem == NULL)
        return true;
    fw_error("invalid topic filter -t '%s': %s", t, problem);
    return false;
}

/* Numbers: false after the error line. */
static bool fw_apply_number(struct fw_options *o, int key, const char *arg)
{
    unsigned long v = 0;

    switch (key) {
    case 'p':
        if (!fw_number(arg, 1, 65535, &v)) {
            fw_error("invalid value '%s' for -p (1..65535)", arg);
            return false;
        }
        o->port = (uint16_t)v;
        o->port_set = true;
        return true;
    case 'k':
        if (!fw_number(arg, 0, 65535, &v)) {
            fw_error("invalid value '%s' for -k (0..65535)", arg);
            return false;
        }
        o->keepalive_s = (uint16_t)v;
        o->keepalive_set = true;
        return true;
    case KEY_CONNACK_TIMEOUT:
        if (!fw_number(arg, 100, 3600000ul, &o->connack_timeout_ms)) {
            fw_error("invalid value '%s' for --connack-timeout (100..3600000 ms)", arg);
            return false;
        }
        return true;
    default: /* KEY_BACKOFF_MIN, KEY_BACKOFF_MAX: an hour at most */
        if (!fw_number(arg, 1, 3600000ul, key == KEY_BACKOFF_MIN ? &o->backoff_min_ms
                                                               : &o->backoff_max_ms)) {
            fw_error("invalid value '%s' for %s (1..3600000 ms)", arg,
                     key == KEY_BACKOFF_MIN ? "--backoff-min" : "--backoff-max");
            return false;
        }
        return true;
    }
}

static bool fw_apply(struct fw_options *o, int key, const char *arg)
{
    midge_device_profile profile;

    switch (key) {
    case 'h': o->host = arg; o->host_set = true; return true;
    case 'i': o->client_id = arg; return true;
    case 'u': o->username = arg; return true;
    case 'P': o->password = arg; return true;
    case 'c': o->clean_session = false; return true;
    case 'd': o->debug = true; return true;
    case 'q': o->quiet = true; return true;
    case 't':
        if (o->topic_count >= MIDGE_DEVICE_MAX_EXTRA_TOPICS) {
            fw_error("at most %d -t topics may be given", MIDGE_DEVICE_MAX_EXTRA_TOPICS);
            return false;
        }
        o->topics[o->topic_count++] = arg;
        return fw_check_filter(arg);
    case KEY_PROFILE:
        if (!midge_device_profile_parse(arg, &profile)) {
            fw_error("invalid value '%s' for --profile (mqtt, onenet or onenet-studio)", arg);
            return false;
        }
        o->profile = arg;
        return true;
    case KEY_DEVICE_ID: o->device_id = arg; return true;
    case KEY_PRODUCT_ID: o->product_id = arg; return true;
    case KEY_PREFIX: o->prefix = arg; return true;
    case KEY_PROPERTY: o->property = arg; return true;
    case KEY_SUBSCRIBE_COMMANDS: o->subscribe_commands = true; return true;
    case KEY_LOG_LEVEL:
        if (!fw_log_level_parse(arg, &o->log_level)) {
            fw_error("invalid value '%s' for --log-level (error, warn, info or debug)", arg);
            return false;
        }
        o->log_level_set = true;
        return true;
    case KEY_DEVICE_KEY:
        fw_error("--device-key: this firmware does not sign tokens (no mbedTLS): give the "
                 "token with -P");
        return false;
    case KEY_TRAP:
        o->trap = strcmp(arg, "fault") == 0 ? FW_TRAP_FAULT
                  : strcmp(arg, "heap") == 0 ? FW_TRAP_HEAP : FW_TRAP_NONE;
        return true;
    default:
        return fw_apply_number(o, key, arg);
    }
}

/* One value for one field (-i and --device-id; -u and --product-id). */
static bool fw_merge(const char **field, const char *flag, const char **identity,
                     const char *identity_flag)
{
    if (*field != NULL && *identity != NULL && strcmp(*field, *identity) != 0) {
        fw_error("%s '%s' and %s '%s' disagree (give one of them)", flag, *field, identity_flag,
                 *identity);
        return false;
    }
    if (*identity == NULL)
        *identity = *field;
    *field = *identity;
    return true;
}

/* The defaults that depend on other options, and the checks across them. */
static bool fw_finish(struct fw_options *o)
{
    midge_device_profile p = MIDGE_DEVICE_PROFILE_MQTT;
    if (o->profile != NULL)
        midge_device_profile_parse(o->profile, &p);
    bool mqtt = p == MIDGE_DEVICE_PROFILE_MQTT;

    if (p != MIDGE_DEVICE_PROFILE_MQTT && !o->keepalive_set)
        o->keepalive_s = ONENET_KEEPALIVE_S;
    if (p == MIDGE_DEVICE_PROFILE_ONENET) {
        o->host = o->host_set ? o->host : ONENET_HOST;
        o->port = o->port_set ? o->port : ONENET_PORT;
    } else if (p == MIDGE_DEVICE_PROFILE_ONENET_STUDIO && !o->host_set) {
        o->host = STUDIO_HOST;
    }
    /* -q is --log-level error: the two disagreeing is a mistake; -d asks
     * for everything and wins. */
    if (o->quiet && o->log_level_set && o->log_level != FW_LOG_ERROR) {
        fw_error("-q and --log-level %s disagree (give one of them)",
                 o->log_level == FW_LOG_WARN ? "warn" : o->log_level == FW_LOG_INFO ? "info"
                                                                                     : "debug");
        return false;
    }
    if (o->quiet)
        o->log_level = FW_LOG_ERROR;
    if (o->debug)
        o->log_level = FW_LOG_DEBUG;

    if (o->device_id == NULL && o->client_id == NULL) {
        fw_error("a device id is required (--device-id)");
        return false;
    }
    if (!fw_merge(&o->client_id, "-i", &o->device_id, "--device-id"))
        return false;
    if (mqtt && o->product_id != NULL) {
        fw_error("--product-id applies to the onenet profiles (the mqtt profile logs in with "
                 "-u)");
        return false;
    }
    if (!mqtt && !fw_merge(&o->username, "-u", &o->product_id, "--product-id"))
        return false;
    if (mqtt)
        o->clean_session = false; /* a plain broker keeps the device's session */
    if (o->backoff_min_ms == 0)
        o->backoff_min_ms = BACKOFF_MIN_DEFAULT_MS;
    if (o->backoff_max_ms == 0)
        o->backoff_max_ms = BACKOFF_MAX_DEFAULT_MS;
    if (o->backoff_min_ms > o->backoff_max_ms) {
        fw_error("--backoff-min %lu is above --backoff-max %lu", o->backoff_min_ms,
                 o->backoff_max_ms);
        return false;
    }
    if (o->connack_timeout_ms == 0) {
        unsigned long t = o->backoff_max_ms;
        o->connack_timeout_ms = t < 2000ul ? 2000ul : t > 10000ul ? 10000ul : t;
    }
    /* MQTT 3.1.1 section 3.1.2.9: no password flag without a user name. */
    if (o->password != NULL && o->username == NULL) {
        fw_error("-P needs a user name (-u)");
        return false;
    }
    return true;
}

#define FW_SHORTS ":h:p:i:u:P:k:cdqt:"

/* Whether a long option of this name exists; *needs_value says if it
 * takes one. `name` ends at its '=' or NUL. */
static bool fw_long_known(const char *name, bool *needs_value)
{
    size_t len = strcspn(name, "=");
    for (const struct option *l = fw_longs; l->name != NULL; l++) {
        if (strlen(l->name) == len && strncmp(l->name, name, len) == 0) {
            *needs_value = l->has_arg == required_argument;
            return true;
        }
    }
    return false;
}

/* Every "--word" must name an option exactly. getopt_long takes an
 * unknown long option in some C libraries (picolibc) for a run of short
 * ones ("--tls" as "-t ls"): a mistake would then pass unnoticed. Values
 * are skipped, so that "-P --secret" stays a password. */
static bool fw_check_longs(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        bool needs = false;
        if (strcmp(w, "--") == 0)
            return true;
        if (strncmp(w, "--", 2) == 0) {
            if (!fw_long_known(w + 2, &needs)) {
                fw_error("unknown option '%.*s' (see --help)", (int)strcspn(w, "="), w);
                return false;
            }
            if (needs && strchr(w, '=') == NULL)
                i++;
            continue;
        }
        if (w[0] != '-')
            continue;
        /* Short options: the first that takes a value ends the word, and
         * takes the next one when nothing follows it. */
        for (const char *c = w + 1; *c != '\0'; c++) {
            const char *at = strchr(FW_SHORTS + 1, *c);
            if (at != NULL && at[1] == ':') {
                if (c[1] == '\0')
                    i++;
                break;
            }
        }
    }
    return true;
}

enum fw_parse_result fw_options_parse(int argc, char **argv, const char *default_host,
                                      struct fw_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = default_host;
    o->port = 1883;
    o->keepalive_s = 60;
    o->clean_session = true;
    o->log_level = FW_LOG_INFO;

    if (!fw_check_longs(argc, argv))
        return FW_PARSE_EXIT_USAGE;
    opterr = 0;
    optind = 0; /* a full restart, in glibc and in picolibc alike */
    for (;;) {
        int key = getopt_long(argc, argv, FW_SHORTS, fw_longs, NULL);
        if (key == -1)
            break;
        if (key == KEY_HELP) {
            fputs(fw_usage, stdout);
            return FW_PARSE_EXIT_OK;
        }
        if (key == KEY_VERSION) {
            printf("midge %s\n", MIDGE_FIRMWARE_VERSION);
            return FW_PARSE_EXIT_OK;
        }
        if (key == '?' || key == ':') {
            const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
            fw_error(key == '?' ? "unknown option '%s' (see --help)"
                                : "option '%s' needs a value (see --help)",
                     word);
            return FW_PARSE_EXIT_USAGE;
        }
        if (!fw_apply(o, key, optarg))
            return FW_PARSE_EXIT_USAGE;
    }
    if (optind < argc) {
        fw_error("unexpected argument '%s' (see --help)", argv[optind]);
        return FW_PARSE_EXIT_USAGE;
    }
    return fw_finish(o) ? FW_PARSE_RUN : FW_PARSE_EXIT_USAGE;
}
