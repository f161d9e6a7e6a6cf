/*
 * Topics and outgoing payloads per profile: the state report and the raw
 * command reply. Byte layouts follow ../../shared/reference/onenet.md.
 */
#include <string.h>

#include "device_internal.h"

bool midge_device__eat(const char **t, size_t *n, const char *s)
{
    size_t len = strlen(s);

    if (*n < len || memcmp(*t, s, len) != 0)
        return false;
    *t += len;
    *n -= len;
    return true;
}

void midge_device__put_base(midge_device__wr *w, const midge_device *dev)
{
    const midge_device_config *cfg = &dev->cfg;

    switch (cfg->profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        if (cfg->prefix != NULL) {
            midge_device__put_str(w, cfg->prefix);
            return;
        }
        midge_device__put_str(w, "devices/");
        midge_device__put_str(w, cfg->device_id);
        return;
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        /* onenet.md section 2: every thing-model topic is under
         * $sys/{pid}/{dev}. */
        midge_device__put_str(w, "$sys/");
        midge_device__put_str(w, cfg->product_id);
        midge_device__put_char(w, '/');
        midge_device__put_str(w, cfg->device_id);
        return;
    case MIDGE_DEVICE_PROFILE_ONENET:
        return;
    }
}

bool midge_device__eat_base(const midge_device *dev, const char **t, size_t *n)
{
    const midge_device_config *cfg = &dev->cfg;
    const char *p = *t;
    size_t left = *n;
    bool ok = true;

    /* Match the same parts put_base writes, without building the string. */
    switch (cfg->profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        if (cfg->prefix != NULL)
            ok = midge_device__eat(&p, &left, cfg->prefix);
        else
            ok = midge_device__eat(&p, &left, "devices/") &&
                 midge_device__eat(&p, &left, cfg->device_id);
        break;
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        ok = midge_device__eat(&p, &left, "$sys/") &&
             midge_device__eat(&p, &left, cfg->product_id) && midge_device__eat(&p, &left, "/") &&
             midge_device__eat(&p, &left, cfg->device_id);
        break;
    case MIDGE_DEVICE_PROFILE_ONENET:
        break;
    }
    if (ok) {
        *t = p;
        *n = left;
    }
    return ok;
}

/* mqtt: retained {prefix}/state = {"led":"on"} at QoS 0. The state is a
 * last value, published again after every CONNACK: a report lost with a
 * connection is replaced by the one sent on reconnecting, and TCP keeps the
 * order of the rest. At QoS 1 the broker would owe the device a PUBACK for
 * every report, work that sits between a command's answer and the next
 * command. */
static midge_status add_mqtt_state(const midge_device *dev, midge_device_out *out, bool led)
{
    midge_device__wr w;

    midge_device__msg_begin(out, &w);
    midge_device__put_base(&w, dev);
    midge_device__put_str(&w, "/state");
    size_t topic_len = midge_device__msg_payload(&w);
    midge_device__put_str(&w, led ? "{\"led\":\"on\"}" : "{\"led\":\"off\"}");
    return midge_device__msg_commit(out, &w, topic_len, 0, true);
}

/* onenet: a type 3 data point on $dp (onenet.md section 1): the type byte,
 * the JSON length as a big-endian u16, then {"led":1}. The platform takes
 * QoS 0 or 1 from devices and no retain. */
static midge_status add_onenet_dp(midge_device_out *out, bool led)
{
    const char *json = led ? "{\"led\":1}" : "{\"led\":0}";
    size_t len = strlen(json);
    uint8_t head[3] = {0x03, (uint8_t)(len >> 8), (uint8_t)(len & 0xff)};
    midge_device__wr w;

    midge_device__msg_begin(out, &w);
    midge_device__put_str(&w, "$dp");
    size_t topic_len = midge_device__msg_payload(&w);
    midge_device__put(&w, head, sizeof head);
    midge_device__put(&w, json, len);
    return midge_device__msg_commit(out, &w, topic_len, 1, false);
}

/* onenet-studio: .../thing/property/post with
 * {"id":"<n>","version":"1.0","params":{"<prop>":{"value":true}}}. The id is
 * a per-device counter; onenet.md allows at most 13 digits, a u32 has 10. */
static midge_status add_studio_post(const midge_device *dev, midge_device_out *out,
                                    midge_device__plan *plan)
{
    uint32_t id = plan->post ? plan->post_id : dev->post_id;
    midge_device__wr w;

    id = id == UINT32_MAX ? 1 : id + 1;
    midge_device__msg_begin(out, &w);
    midge_device__put_base(&w, dev);
    midge_device__put_str(&w, "/thing/property/post");
    size_t topic_len = midge_device__msg_payload(&w);
    midge_device__put_str(&w, "{\"id\":\"");
    midge_device__put_u32(&w, id);
    midge_device__put_str(&w, "\",\"version\":\"1.0\",\"params\":{\"");
    midge_device__put_str(&w, dev->cfg.property);
    midge_device__put_str(&w, "\":{\"value\":");
    midge_device__put_str(&w, plan->led ? "true" : "false");
    midge_device__put_str(&w, "}}}");

    midge_status st = midge_device__msg_commit(out, &w, topic_len, 1, false);
    if (st == MIDGE_OK) {
        plan->post = true;
        plan->post_id = id;
    }
    return st;
}

midge_status midge_device__add_report(const midge_device *dev, midge_device_out *out,
                                      midge_device__plan *plan)
{
    switch (dev->cfg.profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        return add_mqtt_state(dev, out, plan->led);
    case MIDGE_DEVICE_PROFILE_ONENET:
        return add_onenet_dp(out, plan->led);
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        return add_studio_post(dev, out, plan);
    }
    return MIDGE_ERR_INVALID;
}

size_t midge_device__begin_raw_reply(const midge_device *dev, midge_device_out *out, const char *id,
                                     size_t id_len, midge_device__wr *w)
{
    midge_device__msg_begin(out, w);
    /* onenet.md section 1: a $creq/<uuid> command is answered on
     * $crsp/<uuid>; the others answer .../cmd/request/<id> on
     * .../cmd/response/<id> (section 2 for onenet-studio). */
    if (dev->cfg.profile == MIDGE_DEVICE_PROFILE_ONENET) {
        midge_device__put_str(w, "$crsp/");
    } else {
        midge_device__put_base(w, dev);
        midge_device__put_str(w, "/cmd/response/");
    }
    midge_device__put(w, id, id_len);
    return midge_device__msg_payload(w);
}

midge_status midge_device__add_raw_reply(const midge_device *dev, midge_device_out *out,
                                         const char *id, size_t id_len, const char *text)
{
    midge_device__wr w;
    size_t topic_len = midge_device__begin_raw_reply(dev, out, id, id_len, &w);

    midge_device__put_str(&w, text);
    return midge_device__msg_commit(out, &w, topic_len, 1, false);
}
