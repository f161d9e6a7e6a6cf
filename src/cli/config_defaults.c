/*
 * midge CLI: defaults that depend on other options (see config_defaults.h).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_defaults.h"
#include "midge/device.h"
#include "midge/tls.h"

#define CLI_CA_NAME "onenet-mqtts-ca.pem"

/* The endpoints of onenet.md: the legacy service has no TLS port; OneNET's
 * current service splits plain and TLS across two host names. */
#define CLI_ONENET_HOST "183.230.40.39"
#define CLI_ONENET_PORT 6002
#define CLI_STUDIO_HOST "mqtts.heclouds.com"
#define CLI_STUDIO_TLS_HOST "mqttstls.heclouds.com"
#define CLI_MQTT_PORT 1883
#define CLI_MQTT_TLS_PORT 8883
/* OneNET documents keepalive 120..65535 (legacy) and 10..1800 (current). */
#define CLI_ONENET_KEEPALIVE_S 120

#define CLI_BACKOFF_MIN_DEFAULT_MS 500ul
#define CLI_BACKOFF_MAX_DEFAULT_MS 30000ul

static bool cli_readable(const char *path) { return access(path, R_OK) == 0; }

/* A conflict found while the defaults are derived. A run stops on it:
 * one line, and true. --print-config shows the configuration as it is,
 * conflicts and all (the run would then say what is wrong): false, in
 * silence, and the derivation goes on. */
static bool cli_stop_on(const struct cli_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool cli_stop_on(const struct cli_options *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (o->print_config)
        return false;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cli_error(o->prog, "%s", line);
    return true;
}

/* An installed tree keeps the CA in ../share/midge beside bin/; a build
 * tree finds it in the sources. Both compile-time paths are optional. */
const char *cli_config_onenet_ca(void)
{
    /* Room for the directory and the suffixes appended to it. */
    static char found[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(found, sizeof found, "%s/../share/midge/" CLI_CA_NAME, exe);
            if (cli_readable(found))
                return found;
        }
    }
#ifdef MIDGE_DATADIR
    snprintf(found, sizeof found, "%s/" CLI_CA_NAME, MIDGE_DATADIR);
    if (cli_readable(found))
        return found;
#endif
#ifdef MIDGE_SOURCE_DIR
    snprintf(found, sizeof found, "%s/contrib/" CLI_CA_NAME, MIDGE_SOURCE_DIR);
    if (cli_readable(found))
        return found;
#endif
    return NULL;
}

/* Any file or check of TLS means TLS: a CA given for a plain connection
 * would otherwise be silently ignored. */
static bool cli_finish_tls(struct cli_options *o)
{
    char err[256];

    if (o->cafile || o->capath || o->certfile || o->keyfile || o->insecure || o->tls_version)
        o->tls = true;
    if (!o->tls)
        return true;
    midge_tls_options t = {
        .cafile = o->cafile, .capath = o->capath, .certfile = o->certfile,
        .keyfile = o->keyfile, .insecure = o->insecure, .tls_version = o->tls_version,
    };
    if (midge_tls_check_options(&t, err, sizeof err) != MIDGE_OK && cli_stop_on(o, "%s", err))
        return false;
    return true;
}

/* Host, port and keepalive a profile implies, where no layer set them. */
static bool cli_finish_profile(struct cli_options *o)
{
    midge_device_profile p = MIDGE_DEVICE_PROFILE_MQTT;

    if (o->profile != NULL && !midge_device_profile_parse(o->profile, &p)) {
        cli_error(o->prog, "invalid value '%s' for --profile (mqtt, onenet or onenet-studio)",
                  o->profile);
        return false;
    }
    if (p != MIDGE_DEVICE_PROFILE_MQTT && !cli_layers_given("keepalive"))
        o->keepalive_s = CLI_ONENET_KEEPALIVE_S;
    if (p == MIDGE_DEVICE_PROFILE_ONENET) {
        if (!o->host_set)
            o->host = CLI_ONENET_HOST;
        if (!o->port_set)
            o->port = CLI_ONENET_PORT;
        return true;
    }
    if (p == MIDGE_DEVICE_PROFILE_ONENET_STUDIO && !o->host_set)
        o->host = o->tls ? CLI_STUDIO_TLS_HOST : CLI_STUDIO_HOST;
    if (!o->port_set)
        o->port = o->tls ? CLI_MQTT_TLS_PORT : CLI_MQTT_PORT;
    /* OneNET's servers are signed by OneNET's own root, not a public one:
     * trust exactly that root unless the user names another. */
    if (p == MIDGE_DEVICE_PROFILE_ONENET_STUDIO && o->tls && !o->cafile && !o->capath) {
        o->cafile = cli_config_onenet_ca();
        if (o->cafile == NULL &&
            cli_stop_on(o, "the OneNET CA (%s) is not installed; give --cafile", CLI_CA_NAME))
            return false;
    }
    return true;
}

/* One value for one field: -i and --device-id name the same thing, so two
 * different values are a mistake to report, not a choice to make. */
static bool cli_merge_field(struct cli_options *o, const char **field, bool field_given,
                            const char *flag, const char **identity, const char *identity_flag)
{
    if (field_given && *identity != NULL && strcmp(*field, *identity) != 0 &&
        cli_stop_on(o, "%s '%s' and %s '%s' disagree (give one of them)", flag, *field,
                    identity_flag, *identity))
        return false;
    if (*identity == NULL && field_given)
        *identity = *field;
    if (*identity != NULL)
        *field = *identity;
    return true;
}

/* One effective log level from -d, -q and --log-level. -q is a spelling
 * of --log-level error, so the stronger layer decides between them, and
 * the same layer giving both, disagreeing, is a mistake. -d asks for the
 * packet trace, which is only written at debug: it wins. */
static bool cli_finish_log_level(struct cli_options *o)
{
    bool quiet_wins = o->quiet && cli_layers_outranks("quiet", "log-level");

    if (o->quiet && o->log_level != NULL && !quiet_wins &&
        !cli_layers_outranks("log-level", "quiet") && strcmp(o->log_level, "error") != 0 &&
        cli_stop_on(o, "-q and --log-level %s disagree (give one of them)", o->log_level))
        return false;
    const char *given = o->log_level;
    if (o->quiet && (o->log_level == NULL || quiet_wins))
        o->log_level = "error";
    if (o->debug)
        o->log_level = "debug";
    if (o->log_level == NULL)
        o->log_level = "info";
    /* --print-config shows the level in force, not the one overruled. */
    if (given != NULL && strcmp(given, o->log_level) != 0)
        cli_layers_forget("log-level");
    return true;
}

/* The device's identity, its session, its reconnect delays and its log. */
static bool cli_finish_device(struct cli_options *o)
{
    if (!cli_finish_log_level(o))
        return false;
    bool mqtt = o->profile == NULL || strcmp(o->profile, "mqtt") == 0;

    if (o->device_id == NULL && !cli_layers_given("id") &&
        cli_stop_on(o, "a device id is required (--device-id)"))
        return false;
    if (!cli_merge_field(o, &o->client_id, cli_layers_given("id"), "-i", &o->device_id,
                         "--device-id"))
        return false;
    /* The OneNET profiles log in with the product id as the user name;
     * the mqtt profile has no product, only -u. */
    if (mqtt && o->product_id != NULL &&
        cli_stop_on(o, "--product-id applies to the onenet profiles (the mqtt profile logs "
                       "in with -u)"))
        return false;
    if (!mqtt && !cli_merge_field(o, &o->username, cli_layers_given("username"), "-u",
                                  &o->product_id, "--product-id"))
        return false;
    /* A device on a plain broker keeps its session: commands sent while it
     * was away are queued by the broker (QoS 1) and arrive on reconnect. */
    if (mqtt)
        o->clean_session = false;
    if (o->backoff_min_ms == 0)
        o->backoff_min_ms = CLI_BACKOFF_MIN_DEFAULT_MS;
    if (o->backoff_max_ms == 0)
        o->backoff_max_ms = CLI_BACKOFF_MAX_DEFAULT_MS;
    if (o->inbox_max == 0)
        o->inbox_max = CLI_INBOX_MAX_DEFAULT;
    if (o->inbox_bytes == 0)
        o->inbox_bytes = CLI_INBOX_BYTES_DEFAULT;
    if (o->backoff_min_ms > o->backoff_max_ms &&
        cli_stop_on(o, "--backoff-min %lu is above --backoff-max %lu", o->backoff_min_ms,
                    o->backoff_max_ms))
        return false;
    /* A frozen broker still accepts TCP: a device should give up on its
     * silence about as fast as it would retry, not wait the library's 10 s. */
    if (o->connack_timeout_ms == 0) {
        unsigned long t = o->backoff_max_ms;
        o->connack_timeout_ms = t < 2000ul ? 2000ul : t > 10000ul ? 10000ul : t;
    }
    return true;
}

bool cli_config_finish(const struct cli_command *cmd, struct cli_options *o)
{
    o->host_set = cli_layers_given("host");
    o->port_set = cli_layers_given("port");
    if ((cmd->groups & CLI_GROUP_TLS) && !cli_finish_tls(o))
        return false;
    if (cmd->groups & CLI_GROUP_IDENTITY) {
        if (!cli_finish_profile(o))
            return false;
        /* send and devices on the onenet platform log in as its operators:
         * the product id is the user name, as for its devices. */
        bool onenet = o->profile != NULL && strcmp(o->profile, "onenet") == 0;
        if (onenet && !(cmd->groups & CLI_GROUP_DEVICE) && !o->direct &&
            !cli_merge_field(o, &o->username, cli_layers_given("username"), "-u",
                             &o->product_id, "--product-id"))
            return false;
    } else if (o->tls && !o->port_set) {
        o->port = CLI_MQTT_TLS_PORT;
    }
    if ((cmd->groups & CLI_GROUP_DEVICE) && !cli_finish_device(o))
        return false;
    return true;
}
