/*
 * fuzz_device: midge_device_handle() for every profile, with fuzzer-chosen
 * topics, payloads, retain flags and output buffer sizes.
 *
 * Input: [config byte] then records until the input runs out:
 *   [topic template][topic suffix run][payload len u16][payload][flags]
 * The topic templates are the command, property and plain topics of the
 * three profiles (so that the fuzzer starts inside the interesting routes
 * instead of having to spell "$sys/238322/lamp-01/thing/property/set"),
 * plus a raw topic taken whole from the input. Topics that are not valid
 * topic names are skipped: a device only ever sees what the codec decoded.
 *
 * Oracles, per message:
 *  - the call returns MIDGE_OK, or MIDGE_ERR_NO_SPACE for a small buffer;
 *  - every output fits: topics are valid topic names, NUL-terminated inside
 *    the out buffer, payloads lie inside the used part of it, each message
 *    encodes as a PUBLISH, the log line is terminated inside its array;
 *  - buffer size changes nothing but success: the same message handled by a
 *    copy of the device with a large buffer gives byte-identical outputs
 *    and device state whenever the small buffer succeeds, and on
 *    MIDGE_ERR_NO_SPACE the device is left exactly as it was (device.h);
 *  - the LED report agrees with the device (led, led_changed);
 *  - a retained request on a command topic is never acted on;
 *  - a command with an id, handled twice in a row, does not act twice and
 *    gets the same answer (the dedupe ring).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "midge/device.h"

#define BIG_CAP 8192

static const char *const extra_topics[] = {"TurnipRobot", "lights/+/set", "house/#"};

/* Topic templates: a prefix, and whether the fuzzer's suffix is appended.
 * Index 0 is the raw topic. */
static const struct {
    const char *prefix;
    bool suffix;
    bool command_id; /* a command with an id: dedupe applies */
} templates[] = {
    {"", true, false},
    {"devices/lamp1/cmd/request/", true, true},
    {"home/lamp/cmd/request/", true, true},
    {"$creq/", true, true},
    {"$sys/238322/lamp-01/cmd/request/", true, true},
    {"$sys/238322/lamp-01/thing/property/set", false, false},
    {"$sys/238322/lamp-01/thing/property/get", false, false},
    {"$sys/238322/lamp-01/thing/property/", true, false},
    {"TurnipRobot", false, false},
    {"lights/", true, false},
    {"house/", true, false},
    {"devices/lamp1/", true, false},
};

#define TEMPLATE_COUNT (sizeof templates / sizeof templates[0])

static bool within(const void *p, size_t n, const uint8_t *buf, size_t used)
{
    const uint8_t *b = p;
    return b >= buf && b <= buf + used && n <= (size_t)(buf + used - b);
}

static void check_log(const midge_device_out *out)
{
    FUZZ_CHECK(memchr(out->log, '\0', sizeof out->log) != NULL);
    FUZZ_CHECK(out->log_level <= MIDGE_DEVICE_LOG_WARN);
}

/* What every call promises about its outputs. */
static void check_out(const midge_device *dev, const midge_device_out *out)
{
    FUZZ_CHECK(out->used <= out->cap);
    FUZZ_CHECK(out->msg_count <= MIDGE_DEVICE_MAX_MSGS);
    FUZZ_CHECK(out->sub_count <= MIDGE_DEVICE_MAX_SUBS);
    check_log(out);
    for (size_t i = 0; i < out->msg_count; i++) {
        const midge_publish *m = &out->msgs[i];
        FUZZ_CHECK(within(m->topic, (size_t)m->topic_len + 1, out->buf, out->used));
        FUZZ_CHECK(m->topic[m->topic_len] == '\0');
        FUZZ_CHECK(midge_topic_name_valid(m->topic, m->topic_len));
        FUZZ_CHECK(m->payload_len == 0 || within(m->payload, m->payload_len, out->buf, out->used));
        FUZZ_CHECK(m->packet_id == 0 && !m->dup);
        /* onenet-studio allows QoS 0 and 1 only (device.h). */
        FUZZ_CHECK(m->qos <= (dev->cfg.profile == MIDGE_DEVICE_PROFILE_ONENET_STUDIO ? 1 : 2));
        midge_publish enc = *m;
        enc.packet_id = enc.qos != 0 ? 1 : 0;
        FUZZ_CHECK(midge_codec_size_publish(&enc) != 0);
    }
    for (size_t i = 0; i < out->sub_count; i++) {
        const char *f = out->subs[i].filter;
        FUZZ_CHECK(f != NULL && midge_topic_filter_valid(f, strlen(f)));
        FUZZ_CHECK(out->subs[i].qos <= 2);
    }
}

static void check_same_out(const midge_device_out *a, const midge_device_out *b)
{
    FUZZ_CHECK(a->msg_count == b->msg_count);
    for (size_t i = 0; i < a->msg_count; i++) {
        const midge_publish *x = &a->msgs[i], *y = &b->msgs[i];
        FUZZ_CHECK(x->topic_len == y->topic_len && memcmp(x->topic, y->topic, x->topic_len) == 0);
        FUZZ_CHECK(x->payload_len == y->payload_len);
        FUZZ_CHECK(x->payload_len == 0 || memcmp(x->payload, y->payload, x->payload_len) == 0);
        FUZZ_CHECK(x->qos == y->qos && x->retain == y->retain);
    }
    FUZZ_CHECK(a->led == b->led && a->led_changed == b->led_changed);
    FUZZ_CHECK(a->log_level == b->log_level && strcmp(a->log, b->log) == 0);
}

static void set_up(midge_device_config *cfg, uint8_t c)
{
    midge_device_config_init(cfg);
    cfg->profile = (midge_device_profile)(c % 3);
    cfg->led_initial = (c & 0x04) != 0;
    cfg->extra_topics = extra_topics;
    cfg->extra_topic_count = (c >> 3) & 3;
    switch (cfg->profile) {
    case MIDGE_DEVICE_PROFILE_MQTT:
        cfg->device_id = "lamp1";
        cfg->username = (c & 0x20) ? "user" : NULL;
        cfg->secret = (c & 0x20) ? "pass" : NULL;
        cfg->prefix = (c & 0x40) ? "home/lamp" : NULL;
        cfg->clean_session = (c & 0x80) != 0;
        break;
    case MIDGE_DEVICE_PROFILE_ONENET:
        cfg->device_id = "9377500";
        cfg->product_id = "91025";
        cfg->secret = "api-key";
        cfg->subscribe_commands = (c & 0x20) != 0;
        break;
    case MIDGE_DEVICE_PROFILE_ONENET_STUDIO:
        cfg->device_id = "lamp-01";
        cfg->product_id = "238322";
        cfg->secret = "version=2018-10-31&res=products%2F238322%2Fdevices%2Flamp-01";
        cfg->property = (c & 0x20) ? "light" : NULL;
        break;
    }
}

/* The calls around handle(): connect, on_connack, set_led and shutdown. */
static void check_lifecycle(midge_device *dev, uint8_t *buf, size_t cap)
{
    midge_device_out out;

    midge_device_out_init(&out, buf, cap);
    if (midge_device_connect(dev, &out) == MIDGE_OK) {
        const midge_connect_opts *o = &out.connect;
        FUZZ_CHECK(o->client_id != NULL && midge_codec_size_connect(o) != 0);
    }
    midge_device_out_init(&out, buf, cap);
    if (midge_device_on_connack(dev, &out) == MIDGE_OK)
        check_out(dev, &out);
    midge_device_out_init(&out, buf, cap);
    if (midge_device_set_led(dev, !midge_device_led(dev), &out) == MIDGE_OK)
        check_out(dev, &out);
}

/* One message: a large-buffer run on a copy, then the real run with the
 * fuzzer's buffer size, then the comparison. */
static void handle_one(midge_device *dev, const midge_publish *msg, size_t cap, bool command_id)
{
    static uint8_t big_buf[BIG_CAP];
    midge_device big_dev, before;
    midge_device_out big, out;

    /* memcpy, not assignment: the byte comparisons below include padding. */
    memcpy(&big_dev, dev, sizeof big_dev);
    memcpy(&before, dev, sizeof before);

    midge_device_out_init(&big, big_buf, sizeof big_buf);
    FUZZ_CHECK(midge_device_handle(&big_dev, msg, &big) == MIDGE_OK);
    check_out(&big_dev, &big);
    FUZZ_CHECK(big.led == midge_device_led(&big_dev));
    FUZZ_CHECK(big.led_changed == (big.led != midge_device_led(dev)));

    uint8_t *buf = malloc(cap != 0 ? cap : 1);
    FUZZ_CHECK(buf != NULL);
    midge_device_out_init(&out, buf, cap);
    midge_status st = midge_device_handle(dev, msg, &out);
    check_log(&out);
    if (st == MIDGE_OK) {
        check_out(dev, &out);
        check_same_out(&big, &out);
        FUZZ_CHECK(memcmp(dev, &big_dev, sizeof *dev) == 0);
    } else {
        FUZZ_CHECK(st == MIDGE_ERR_NO_SPACE);
        FUZZ_CHECK(out.msg_count == 0 && out.sub_count == 0);
        FUZZ_CHECK(memcmp(dev, &before, sizeof *dev) == 0);
    }
    free(buf);

    if (msg->retain && command_id)
        FUZZ_CHECK(!big.led_changed && big.msg_count == 0);

    /* A redelivery of a command with an id: answered again, not acted on. */
    if (command_id && !msg->retain) {
        midge_device_out again;
        midge_device_out_init(&again, big_buf, sizeof big_buf);
        midge_device twice;
        memcpy(&twice, &big_dev, sizeof twice);
        FUZZ_CHECK(midge_device_handle(&twice, msg, &again) == MIDGE_OK);
        FUZZ_CHECK(!again.led_changed && again.led == big.led);
        if (big.msg_count != 0 && midge_device_get_stats(&big_dev)->commands !=
                                      midge_device_get_stats(&before)->commands) {
            FUZZ_CHECK(midge_device_get_stats(&twice)->duplicates ==
                       midge_device_get_stats(&big_dev)->duplicates + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = fuzz_input_make(data, size);
    midge_device_config cfg;
    midge_device dev;
    const char *why = NULL;
    char topic[512];

    set_up(&cfg, fuzz_u8(&in));
    FUZZ_CHECK(midge_device_init(&dev, &cfg, &why) == MIDGE_OK);

    size_t life_cap = fuzz_u8(&in) * 4u;
    uint8_t *life = malloc(life_cap != 0 ? life_cap : 1);
    FUZZ_CHECK(life != NULL);
    check_lifecycle(&dev, life, life_cap);
    free(life);

    while (in.left > 0) {
        uint8_t sel = fuzz_u8(&in);
        size_t n = 0;
        const uint8_t *suffix = fuzz_run8(&in, &n);
        size_t tsel = sel % TEMPLATE_COUNT;
        size_t plen = strlen(templates[tsel].prefix);
        size_t slen = templates[tsel].suffix ? n : 0;
        memcpy(topic, templates[tsel].prefix, plen);
        memcpy(topic + plen, suffix, slen);
        size_t payload_len = fuzz_u16(&in) % 2048;
        const uint8_t *payload = fuzz_bytes(&in, payload_len, &payload_len);
        uint8_t flags = fuzz_u8(&in);
        uint8_t capsel = fuzz_u8(&in);

        if (!midge_topic_name_valid(topic, plen + slen))
            continue;
        /* Exact-size heap copies: an over-read of either is reported. */
        char *t = malloc(plen + slen);
        uint8_t *p = malloc(payload_len != 0 ? payload_len : 1);
        FUZZ_CHECK(t != NULL && p != NULL);
        memcpy(t, topic, plen + slen);
        memcpy(p, payload, payload_len);

        midge_publish msg = {0};
        msg.topic = t;
        msg.topic_len = (uint16_t)(plen + slen);
        msg.payload = p;
        msg.payload_len = payload_len;
        msg.qos = flags & 3;
        if (msg.qos == 3)
            msg.qos = 1;
        msg.retain = (flags & 4) != 0;
        msg.packet_id = msg.qos != 0 ? 1 : 0;

        /* Most runs get room enough; the rest a size near or below need. */
        size_t cap = capsel < 128 ? 1024 : (size_t)(capsel - 128) * 3;
        handle_one(&dev, &msg, cap, templates[tsel].command_id && slen != 0);
        free(t);
        free(p);
    }
    return 0;
}
