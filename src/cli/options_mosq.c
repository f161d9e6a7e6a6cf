/*
 * midge CLI: mosquitto_pub and mosquitto_sub's flags (see options_mosq.h).
 *
 * mosquitto 2.0.11 is the reference: the same letters, the same meaning,
 * the same exit statuses. Where midge cannot honour a flag (MQTT 5) it
 * says so in one line instead of ignoring it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "midge/codec.h"
#include "options_mosq.h"
#include "sub_format.h"

#define MOSQ_MQTT5 "MQTT 5 is not supported yet"
#define MOSQ_URL_FORM "mqtt(s)://[user[:password]@]host[:port]/topic"
#define MOSQ_PREFIX_ID "{device-id}"
/* A day: a longer pause between repeats is a job for cron. */
#define MOSQ_REPEAT_DELAY_MAX_S 86400.0

/* Copies that options point into, kept reachable until exit (the layers'
 * strings live as long). */
#define MOSQ_KEPT_MAX 8
static char *mosq_kept[MOSQ_KEPT_MAX];

static char *mosq_keep(char *s)
{
    for (size_t i = 0; s != NULL && i < MOSQ_KEPT_MAX; i++) {
        if (mosq_kept[i] == NULL) {
            mosq_kept[i] = s;
            return s;
        }
    }
    free(s);
    return NULL;
}

/* The URL's parts reach the rest through the caller's note. */
struct mosq_url_ctx {
    const struct cli_command *cmd;
    struct cli_options *o;
    const struct cli_option_note *note;
};

/* Apply a piece of -L as its own flag would be, and tell the layer that
 * gave -L (the command line), so no lower layer replaces it. */
static bool mosq_url_part(const struct mosq_url_ctx *u, int key, const char *value)
{
    const struct cli_option *opt = cli_option_find(u->cmd, key);

    if (!cli_option_apply(u->cmd, u->o, opt, value, u->note))
        return false;
    if (u->note != NULL && u->note->fn != NULL)
        u->note->fn(u->note->user, opt, value);
    return true;
}

/* host[:port], or [v6-address][:port]; cut in place. */
static bool mosq_url_host(struct cli_options *o, char *s, const char **host, const char **port)
{
    char *colon;

    *port = NULL;
    if (s[0] == '[') {
        char *end = strchr(s, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            goto bad;
        *end = '\0';
        *host = s + 1;
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        *host = s;
        colon = strchr(s, ':');
    }
    if (colon != NULL) {
        *colon = '\0';
        *port = colon + 1;
    }
    if (**host != '\0')
        return true;
bad:
    /* Never the URL itself: it may hold a password. */
    cli_error(o->prog, "-L: no host in the URL (%s)", MOSQ_URL_FORM);
    return false;
}

/* -L mqtt(s)://[user[:password]@]host[:port]/topic, as mosquitto reads it:
 * the scheme sets the port (1883, or 8883 and TLS with the system's CAs),
 * then the URL's own parts. Later flags still override them. */
static bool mosq_url(const struct mosq_url_ctx *u, const char *arg)
{
    struct cli_options *o = u->o;
    bool tls = strncasecmp(arg, "mqtts://", 8) == 0;
    const char *host;
    const char *port;

    if (!tls && strncasecmp(arg, "mqtt://", 7) != 0) {
        cli_error(o->prog, "-L: unsupported URL scheme (%s)", MOSQ_URL_FORM);
        return false;
    }
    char *rest = mosq_keep(strdup(arg + (tls ? 8 : 7)));
    if (rest == NULL) {
        cli_error(o->prog, "-L: out of memory");
        return false;
    }
    char *topic = strchr(rest, '/');
    if (topic == NULL) {
        cli_error(o->prog, "-L: the URL has no topic (%s)", MOSQ_URL_FORM);
        return false;
    }
    *topic++ = '\0';
    /* The last '@': a password may hold one, a host never does. */
    char *at = strrchr(rest, '@');
    char *hostport = rest;
    if (at != NULL) {
        *at = '\0';
        hostport = at + 1;
    }
    if (!mosq_url_host(o, hostport, &host, &port))
        return false;
    if (!mosq_url_part(u, 't', topic) || !mosq_url_part(u, 'h', host) ||
        !mosq_url_part(u, 'p', port != NULL ? port : tls ? "8883" : "1883"))
        return false;
    if (at != NULL) {
        char *colon = strchr(rest, ':');
        if (colon != NULL)
            *colon = '\0';
        if (!mosq_url_part(u, 'u', rest) ||
            (colon != NULL && !mosq_url_part(u, 'P', colon + 1)))
            return false;
    }
    if (tls)
        return mosq_url_part(u, KEY_TLS_OS_CERTS, NULL);
    return true;
}

/* -V: only the version midge speaks; the others in one line each. */
static bool mosq_protocol(struct cli_options *o, const char *arg)
{
    if (strcmp(arg, "mqttv311") == 0 || strcmp(arg, "311") == 0)
        return true;
    if (strcmp(arg, "mqttv5") == 0 || strcmp(arg, "5") == 0)
        cli_error(o->prog, "-V %s: " MOSQ_MQTT5, arg);
    else if (strcmp(arg, "mqttv31") == 0 || strcmp(arg, "31") == 0)
        cli_error(o->prog, "-V %s: MQTT 3.1 is not supported (midge speaks MQTT 3.1.1, mqttv311)",
                  arg);
    else
        cli_error(o->prog, "invalid value '%s' for -V (mqttv311; mqttv5 and mqttv31 are not "
                           "supported)", arg);
    return false;
}

/* A filter for -T or -U, appended to `list`. */
static bool mosq_filter(struct cli_options *o, const char *flag, const char *arg,
                        const char **list, size_t *count)
{
    if (!midge_topic_filter_valid(arg, strlen(arg))) {
        cli_error(o->prog, "invalid topic filter '%s' for %s", arg, flag);
        return false;
    }
    if (*count >= CLI_MAX_TOPICS) {
        cli_error(o->prog, "at most %d %s filters may be given", CLI_MAX_TOPICS, flag);
        return false;
    }
    list[(*count)++] = arg;
    return true;
}

/* Whole-string decimal in [min, max]. */
static bool mosq_number(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end = NULL;

    if (*s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool mosq_seconds(struct cli_options *o, const char *arg)
{
    char *end = NULL;
    double s = (*arg >= '0' && *arg <= '9') || *arg == '.' ? strtod(arg, &end) : -1.0;

    if (end == NULL || *end != '\0' || !(s >= 0.0 && s <= MOSQ_REPEAT_DELAY_MAX_S)) {
        cli_error(o->prog, "invalid value '%s' for --repeat-delay (0..86400 seconds, "
                           "fractions allowed)", arg);
        return false;
    }
    o->repeat_delay_ms = (unsigned long)(s * 1000.0 + 0.5);
    return true;
}

/* One topic level: no wildcard, no separator, not empty. */
static bool mosq_level_ok(const char *s)
{
    return s[0] != '\0' && strpbrk(s, "+#/") == NULL;
}

/* Flags with a value to check. */
static bool mosq_apply_value(struct cli_options *o, int key, const char *arg)
{
    char why[160];
    unsigned long v = 0;

    switch (key) {
    case 'A':
        if (arg[0] != '\0') {
            o->bind_address = arg;
            return true;
        }
        cli_error(o->prog, "-A needs an address");
        return false;
    case KEY_UNIX:
        if (arg[0] != '\0' && strlen(arg) < sizeof(((struct sockaddr_un *)0)->sun_path)) {
            o->unix_path = arg;
            return true;
        }
        cli_error(o->prog, "invalid value '%s' for --unix (a socket path of 1..%zu bytes)", arg,
                  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return false;
    case 'M':
        if (mosq_number(arg, 1, 65535, &v)) {
            o->max_inflight = v;
            return true;
        }
        cli_error(o->prog, "invalid value '%s' for -M (1..65535 messages)", arg);
        return false;
    case KEY_REPEAT:
        if (mosq_number(arg, 1, 1000000000ul, &v)) {
            o->repeat = v;
            return true;
        }
        cli_error(o->prog, "invalid value '%s' for --repeat (1 or more)", arg);
        return false;
    case KEY_REPEAT_DELAY:
        return mosq_seconds(o, arg);
    case 'F':
        if (sub_format_check(arg, why, sizeof why)) {
            o->format = arg;
            return true;
        }
        cli_error(o->prog, "-F: %s", why);
        return false;
    case 'T':
        return mosq_filter(o, "-T", arg, o->filter_outs, &o->filter_out_count);
    case 'U':
        return mosq_filter(o, "-U", arg, o->unsubscribe, &o->unsubscribe_count);
    case KEY_FORGET:
        if (mosq_level_ok(arg)) {
            o->forget = arg;
            return true;
        }
        cli_error(o->prog, "invalid device id '%s' for --forget (no '+', '#' or '/')", arg);
        return false;
    }
    return false;
}

bool cli_mosq_apply(const struct cli_command *cmd, struct cli_options *o,
                    const struct cli_option *opt, const char *arg,
                    const struct cli_option_note *note)
{
    int key = opt->key;

    switch (key) {
    case 'L': return mosq_url(&(struct mosq_url_ctx){ cmd, o, note }, arg);
    case 'V': return mosq_protocol(o, arg);
    case 'x':
        cli_error(o->prog, "-x: " MOSQ_MQTT5 " (a session expiry interval is an MQTT 5 property)");
        return false;
    case 'D':
        cli_error(o->prog, "-D: " MOSQ_MQTT5 " (properties are MQTT 5)");
        return false;
    case 's':
        if (o->source != CLI_SOURCE_NONE) {
            cli_error(o->prog, "only one of -m, -n, -f, -l and -s may be given");
            return false;
        }
        o->source = CLI_SOURCE_STDIN;
        return true;
    case KEY_TLS_OS_CERTS: o->tls_os_certs = o->tls = true; return true;
    }
    return mosq_apply_value(o, key, arg);
}

/* --prefix names a device's topics: every {device-id} in it stands for the
 * device's id (a prefix without one is taken as written). */
static bool mosq_expand_prefix(struct cli_options *o)
{
    const char *p = o->prefix;
    size_t id_len = strlen(o->device_id);
    size_t marks = 0;

    for (const char *m = strstr(p, MOSQ_PREFIX_ID); m != NULL;
         m = strstr(m + 1, MOSQ_PREFIX_ID))
        marks++;
    if (marks == 0)
        return true;
    size_t mark_len = sizeof MOSQ_PREFIX_ID - 1;
    char *out = mosq_keep(malloc(strlen(p) + marks * id_len + 1));
    if (out == NULL) {
        cli_error(o->prog, "out of memory");
        return false;
    }
    char *w = out;
    for (const char *m; (m = strstr(p, MOSQ_PREFIX_ID)) != NULL; p = m + mark_len) {
        memcpy(w, p, (size_t)(m - p));
        w += m - p;
        memcpy(w, o->device_id, id_len);
        w += id_len;
    }
    strcpy(w, p);
    o->prefix = out;
    return true;
}

/* `midge devices`: the template must put {device-id} once, as a whole
 * topic level or inside one, so that one '+' finds every device. */
static bool mosq_check_template(struct cli_options *o)
{
    const char *t = o->prefix != NULL ? o->prefix : "devices/" MOSQ_PREFIX_ID;
    const char *m = strstr(t, MOSQ_PREFIX_ID);

    if (m == NULL || strstr(m + 1, MOSQ_PREFIX_ID) != NULL || strpbrk(t, "+#") != NULL ||
        t[strlen(t) - 1] == '/') {
        cli_error(o->prog, "invalid value '%s' for --prefix (a topic with %s once, e.g. "
                           "home/%s)", t, MOSQ_PREFIX_ID, MOSQ_PREFIX_ID);
        return false;
    }
    if (o->forget != NULL && o->watch) {
        cli_error(o->prog, "--forget and --watch cannot be given together");
        return false;
    }
    return true;
}

/* -I: mosquitto's id, the prefix and the process id with nothing between. */
static bool mosq_id_from_prefix(struct cli_options *o, bool id_given)
{
    if (id_given) {
        cli_error(o->prog, "-i and -I cannot be given together");
        return false;
    }
    size_t cap = strlen(o->id_prefix) + 24;
    char *id = mosq_keep(malloc(cap));
    if (id == NULL) {
        cli_error(o->prog, "out of memory");
        return false;
    }
    snprintf(id, cap, "%s%ld", o->id_prefix, (long)getpid());
    o->client_id = id;
    return true;
}

/* --quiet: mosquitto prints no error message, but still refuses bad flags;
 * so stderr goes to /dev/null only once the flags are known good. */
static void mosq_silence_stderr(void)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

    if (null < 0)
        return;
    fflush(stderr);
    dup2(null, STDERR_FILENO);
    close(null);
}

bool cli_mosq_finish(const struct cli_command *cmd, struct cli_options *o, bool id_given)
{
    if (o->no_retained && o->retained_only) {
        cli_error(o->prog, "-R and --retained-only cannot be given together (one skips what "
                           "the other keeps)");
        return false;
    }
    if (o->unix_path != NULL && (o->tls || o->bind_address != NULL)) {
        cli_error(o->prog, "--unix cannot be combined with %s",
                  o->tls ? "TLS" : "-A (a Unix socket has no address to bind)");
        return false;
    }
    if (o->id_prefix != NULL && !mosq_id_from_prefix(o, id_given))
        return false;
    if ((cmd->groups & CLI_GROUP_IDENTITY) && o->prefix != NULL && o->device_id != NULL &&
        !mosq_expand_prefix(o))
        return false;
    if ((cmd->groups & CLI_GROUP_WATCH) && !mosq_check_template(o))
        return false;
    if (o->quiet_errors && !o->print_config)
        mosq_silence_stderr();
    return true;
}
