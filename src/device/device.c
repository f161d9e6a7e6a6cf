/*
 * The device's life outside incoming messages: configuration checks, the
 * CONNECT identity, what follows each CONNACK, local LED changes, the clean
 * exit. Profiles and their rules: ../../shared/reference/onenet.md.
 */
#include <string.h>

#include "device_internal.h"

/* Profile keepalive defaults and limits, in seconds. */
#define MQTT_KEEPALIVE 60u
#define ONENET_KEEPALIVE 120u /* onenet.md section 1: documented 120..65535 */
#define ONENET_KEEPALIVE_MIN 120u
#define STUDIO_KEEPALIVE 120u /* onenet.md section 2: must be 10..1800 */
#define STUDIO_KEEPALIVE_MIN 10u
#define STUDIO_KEEPALIVE_MAX 1800u

/* onenet-studio: at most 8 filters in one SUBSCRIBE (onenet.md section 2). */
#define STUDIO_SUBS_PER_PACKET 8u
#define STUDIO_OWN_SUBS 3u

static const char presence_online[] = "online";
static const char presence_offline[] = "offline";

/* --- Small public helpers ---------------------------------------------------- */

const char *midge_device_led_text(bool on)
{
    return on ? "on" : "off";
}

bool midge_device_led_parse(const void *text, size_t len, bool *on)
{
    midge_device_command cmd = midge_device_parse_command(text, len);

    if (cmd != MIDGE_DEVICE_CMD_ON && cmd != MIDGE_DEVICE_CMD_OFF)
        return false;
    *on = cmd == MIDGE_DEVICE_CMD_ON;
    return true;
}

const char *midge_device_profile_name(midge_device_profile profile)
{
    switch (profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        return "mqtt";
    case MIDGE_DEVICE_PROFILE_ONENET:
        return "onenet";
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        return "onenet-studio";
    }
    return "unknown";
}

bool midge_device_profile_parse(const char *name, midge_device_profile *profile)
{
    static const midge_device_profile all[] = {
        MIDGE_DEVICE_PROFILE_MQTT, MIDGE_DEVICE_PROFILE_ONENET, MIDGE_DEVICE_PROFILE_ONENET_STUDIO};

    for (size_t i = 0; name != NULL && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, midge_device_profile_name(all[i])) == 0) {
            *profile = all[i];
            return true;
        }
    }
    return false;
}

bool midge_device_led(const midge_device *dev)
{
    return dev->led;
}

const midge_device_stats *midge_device_get_stats(const midge_device *dev)
{
    return &dev->stats;
}

/* --- Configuration ------------------------------------------------------------- */

void midge_device_config_init(midge_device_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->profile = MIDGE_DEVICE_PROFILE_MQTT;
}

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static bool only_chars(const char *s, const char *extra)
{
    /* Letters and digits plus the bytes in `extra`. */
    for (; *s != '\0'; s++) {
        char c = *s;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return false;
    }
    return true;
}

/* A string that becomes one topic level: valid UTF-8, no wildcard, no '/'. */
static bool level_ok(const char *s)
{
    size_t len = strlen(s);

    return midge_utf8_valid((const uint8_t *)s, len) && strpbrk(s, "+#/") == NULL;
}

static const char *check_extra_topics(const midge_device_config *cfg)
{
    if (cfg->extra_topic_count > MIDGE_DEVICE_MAX_EXTRA_TOPICS)
        return "too many extra topics (MIDGE_DEVICE_MAX_EXTRA_TOPICS)";
    if (cfg->extra_topic_count > 0 && cfg->extra_topics == NULL)
        return "extra topics missing";
    for (size_t i = 0; i < cfg->extra_topic_count; i++) {
        const char *t = cfg->extra_topics[i];
        if (t == NULL || !midge_topic_filter_valid(t, strlen(t)))
            return "an extra topic is not a valid topic filter";
    }
    return NULL;
}

static const char *check_mqtt(const midge_device_config *cfg)
{
    if (cfg->prefix == NULL) {
        /* The default prefix devices/{id} makes the id one topic level. */
        if (!level_ok(cfg->device_id))
            return "mqtt: device id must be UTF-8 without '+', '#' or '/' (or set a prefix)";
    } else {
        size_t len = strlen(cfg->prefix);
        if (!midge_topic_name_valid(cfg->prefix, len) || cfg->prefix[len - 1] == '/')
            return "mqtt: prefix must be a topic name without wildcards or a trailing '/'";
    }
    /* MQTT 3.1.1 section 3.1.2.9: no password without a user name. */
    if (cfg->secret != NULL && cfg->username == NULL)
        return "mqtt: a password needs a username";
    return NULL;
}

static const char *check_onenet(const midge_device_config *cfg)
{
    /* onenet.md section 1: user name and password flags must be set. */
    if (!is_set(cfg->product_id) || !is_set(cfg->secret))
        return "onenet: product id and API key are required";
    if (cfg->keepalive_s != 0 && cfg->keepalive_s < ONENET_KEEPALIVE_MIN)
        return "onenet: keepalive must be 120..65535";
    return NULL;
}

static const char *check_studio(const midge_device_config *cfg)
{
    const char *prop = cfg->property != NULL ? cfg->property : "led";

    if (!is_set(cfg->product_id) || !is_set(cfg->secret))
        return "onenet-studio: product id and token are required";
    /* onenet.md section 2: topic characters are [a-zA-Z0-9/_-]. */
    if (!only_chars(cfg->product_id, "_-") || !only_chars(cfg->device_id, "_-"))
        return "onenet-studio: product id and device name may use only letters, digits, '_', '-'";
    if (cfg->keepalive_s != 0 &&
        (cfg->keepalive_s < STUDIO_KEEPALIVE_MIN || cfg->keepalive_s > STUDIO_KEEPALIVE_MAX))
        return "onenet-studio: keepalive must be 10..1800";
    /* The name is written into JSON unescaped, so keep it plain. */
    if (!is_set(prop) || strlen(prop) > MIDGE_DEVICE_MAX_PROPERTY || !only_chars(prop, "_"))
        return "onenet-studio: property name must be 1..32 letters, digits or '_'";
    if (STUDIO_OWN_SUBS + cfg->extra_topic_count > STUDIO_SUBS_PER_PACKET)
        return "onenet-studio: at most 5 extra topics (8 filters per SUBSCRIBE)";
    return NULL;
}

static const char *check_config(const midge_device_config *cfg)
{
    if (cfg == NULL)
        return "no configuration";
    if (!is_set(cfg->device_id))
        return "a device id is required";
    const char *why = check_extra_topics(cfg);
    if (why != NULL)
        return why;
    switch (cfg->profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        return check_mqtt(cfg);
    case MIDGE_DEVICE_PROFILE_ONENET:
        return check_onenet(cfg);
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        return check_studio(cfg);
    }
    return "unknown profile";
}

static uint16_t default_keepalive(midge_device_profile profile)
{
    switch (profile) {
    case MIDGE_DEVICE_PROFILE_ONENET:
        return ONENET_KEEPALIVE;
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        return STUDIO_KEEPALIVE;
    case MIDGE_DEVICE_PROFILE_MQTT:
        break;
    }
    return MQTT_KEEPALIVE;
}

midge_status midge_device_init(midge_device *dev, const midge_device_config *cfg, const char **why)
{
    const char *problem = dev == NULL ? "no device" : check_config(cfg);

    if (why != NULL)
        *why = problem;
    if (problem != NULL)
        return MIDGE_ERR_INVALID;

    memset(dev, 0, sizeof *dev);
    dev->cfg = *cfg;
    /* Settings that apply to one profile only are ignored by the others. */
    if (cfg->profile == MIDGE_DEVICE_PROFILE_ONENET_STUDIO && cfg->property == NULL)
        dev->cfg.property = "led";
    dev->keepalive_s = cfg->keepalive_s != 0 ? cfg->keepalive_s : default_keepalive(cfg->profile);
    dev->led = cfg->led_initial;
    return MIDGE_OK;
}

void midge_device_out_init(midge_device_out *out, void *buf, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->buf = buf;
    out->cap = buf != NULL ? cap : 0;
}

/* --- Outputs ------------------------------------------------------------------ */

/* Write "<base><suffix>" plus a NUL into out's buffer; NULL when it does
 * not fit. */
static const char *put_topic(const midge_device *dev, midge_device_out *out, const char *suffix)
{
    midge_device__wr w;

    midge_device__msg_begin(out, &w);
    midge_device__put_base(&w, dev);
    midge_device__put_str(&w, suffix);
    midge_device__put_char(&w, '\0');
    if (w.overflow)
        return NULL;
    out->used += w.len;
    return (const char *)w.buf;
}

static bool check_out(const midge_device *dev, midge_device_out *out)
{
    if (dev == NULL || out == NULL || out->buf == NULL)
        return false;
    midge_device__out_clear(out);
    out->led = dev->led;
    return true;
}

static midge_status fail(midge_device_out *out, midge_status st)
{
    midge_device__fail(out, st);
    return st;
}

midge_status midge_device_connect(const midge_device *dev, midge_device_out *out)
{
    if (!check_out(dev, out))
        return MIDGE_ERR_INVALID;

    const midge_device_config *cfg = &dev->cfg;
    out->connect.client_id = cfg->device_id;
    out->connect.keepalive_s = dev->keepalive_s;
    out->connect.clean_session = cfg->clean_session;

    switch (cfg->profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        out->connect.username = cfg->username;
        out->connect.password = cfg->secret;
        /* The broker announces "offline" if the device vanishes. */
        out->will.topic = put_topic(dev, out, "/status");
        if (out->will.topic == NULL)
            return fail(out, MIDGE_ERR_NO_SPACE);
        out->will.payload = presence_offline;
        out->will.payload_len = (uint16_t)strlen(presence_offline);
        out->will.qos = 1;
        out->will.retain = true;
        out->connect.will = &out->will;
        return MIDGE_OK;
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        /* onenet.md section 2: clean session must be 1; no will. */
        out->connect.clean_session = true;
        /* fall through */
    case MIDGE_DEVICE_PROFILE_ONENET:
        /* onenet.md section 1: user = product id, password = key; no will. */
        out->connect.username = cfg->product_id;
        out->connect.password = cfg->secret;
        return MIDGE_OK;
    }
    return MIDGE_ERR_INVALID;
}

static bool add_sub(midge_device_out *out, const char *filter, uint8_t qos)
{
    if (filter == NULL || out->sub_count >= MIDGE_DEVICE_MAX_SUBS)
        return false;
    out->subs[out->sub_count].filter = filter;
    out->subs[out->sub_count].qos = qos;
    out->sub_count++;
    return true;
}

/* The profile's own filters; false when out's buffer is too small. */
static bool add_own_subs(const midge_device *dev, midge_device_out *out)
{
    switch (dev->cfg.profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        return add_sub(out, put_topic(dev, out, "/cmd/request/+"), 1);
    case MIDGE_DEVICE_PROFILE_ONENET:
        /* onenet.md section 1: OneNET pushes $creq without a subscription
         * (and refuses $ filters); plain brokers need one. */
        return !dev->cfg.subscribe_commands || add_sub(out, "$creq/#", 0);
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        /* Granted at QoS 0 at most (onenet.md section 2), so ask for 0. */
        return add_sub(out, put_topic(dev, out, "/thing/property/set"), 0) &&
               add_sub(out, put_topic(dev, out, "/thing/property/get"), 0) &&
               add_sub(out, put_topic(dev, out, "/cmd/request/+"), 0);
    }
    return false;
}

static bool add_extra_subs(const midge_device *dev, midge_device_out *out)
{
    /* QoS 1 where the broker supports it; OneNET delivers QoS 0 only. */
    uint8_t qos = dev->cfg.profile == MIDGE_DEVICE_PROFILE_MQTT ? 1 : 0;

    for (size_t i = 0; i < dev->cfg.extra_topic_count; i++) {
        if (!add_sub(out, dev->cfg.extra_topics[i], qos))
            return false;
    }
    return true;
}

/* mqtt: retained {prefix}/status, "online" or "offline", QoS 1. */
static midge_status add_presence(const midge_device *dev, midge_device_out *out,
                                 const char *presence)
{
    midge_device__wr w;

    midge_device__msg_begin(out, &w);
    midge_device__put_base(&w, dev);
    midge_device__put_str(&w, "/status");
    size_t topic_len = midge_device__msg_payload(&w);
    midge_device__put_str(&w, presence);
    return midge_device__msg_commit(out, &w, topic_len, 1, true);
}

midge_status midge_device_on_connack(midge_device *dev, midge_device_out *out)
{
    midge_device__plan plan = {.led = dev != NULL && dev->led};
    midge_status st = MIDGE_OK;

    if (!check_out(dev, out))
        return MIDGE_ERR_INVALID;
    /* Subscribe after every CONNACK: a clean session (always on
     * onenet-studio) forgets them, and renewing a kept one is harmless. */
    if (!add_own_subs(dev, out) || !add_extra_subs(dev, out))
        return fail(out, MIDGE_ERR_NO_SPACE);
    if (dev->cfg.profile == MIDGE_DEVICE_PROFILE_MQTT)
        st = add_presence(dev, out, presence_online);
    /* The state, so a retained or stored value never stays stale. */
    if (st == MIDGE_OK)
        st = midge_device__add_report(dev, out, &plan);
    if (st != MIDGE_OK)
        return fail(out, st);
    midge_device__apply(dev, out, &plan);
    return MIDGE_OK;
}

midge_status midge_device_set_led(midge_device *dev, bool on, midge_device_out *out)
{
    midge_device__plan plan = {.led = on};
    midge_device__wr w;

    if (!check_out(dev, out))
        return MIDGE_ERR_INVALID;
    if (on != dev->led) {
        midge_status st = midge_device__add_report(dev, out, &plan);
        if (st != MIDGE_OK)
            return fail(out, st);
    }
    midge_device__log_begin(out, MIDGE_DEVICE_LOG_INFO, &w);
    midge_device__put_str(&w, on ? "led on (local)" : "led off (local)");
    midge_device__log_end(out, &w);
    midge_device__apply(dev, out, &plan);
    return MIDGE_OK;
}

midge_status midge_device_shutdown(midge_device *dev, midge_device_out *out)
{
    if (!check_out(dev, out))
        return MIDGE_ERR_INVALID;
    /* A will is only sent when a device vanishes, not on DISCONNECT
     * (MQTT 3.1.1 section 3.1.2.5), so say "offline" ourselves. */
    if (dev->cfg.profile != MIDGE_DEVICE_PROFILE_MQTT)
        return MIDGE_OK;
    midge_status st = add_presence(dev, out, presence_offline);
    return st == MIDGE_OK ? MIDGE_OK : fail(out, st);
}
