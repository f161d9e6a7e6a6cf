/*
 * Incoming messages: which topic is what, raw commands, the dedupe ring.
 *
 * Every handler first plans (new LED state, dedupe record, post id,
 * counter) and writes its outputs; midge_device_handle() applies the plan
 * only when all outputs fit. So a too-small output buffer never leaves a
 * device that acted without answering.
 */
#include <string.h>

#include "device_internal.h"

/* Untrusted bytes shown in replies and logs are cut after this many. */
#define SHOWN_MAX MIDGE_DEVICE__SHOWN_MAX

static const char accepted_list[] = "(accepted: on, off, toggle, status)";

/* --- Dedupe ring ---------------------------------------------------------- */

uint64_t midge_device__id_key(char tag, const void *id, size_t len)
{
    /* FNV-1a, 64-bit: offset basis and prime from the FNV specification. */
    const uint8_t *p = id;
    uint64_t h = 14695981039346656037u;

    h = (h ^ (uint8_t)tag) * 1099511628211u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211u;
    /* Bit 0 of a slot holds the reply state; the hash keeps 63 bits. */
    return h & ~(uint64_t)1;
}

bool midge_device__seen(const midge_device *dev, uint64_t key, bool *led)
{
    for (uint16_t i = 0; i < dev->seen_count; i++) {
        if ((dev->seen[i] & ~(uint64_t)1) == key) {
            *led = (dev->seen[i] & 1u) != 0;
            return true;
        }
    }
    return false;
}

static void seen_push(midge_device *dev, uint64_t record)
{
    /* A ring: once full, the oldest id is the one forgotten. */
    dev->seen[dev->seen_head] = record;
    dev->seen_head = (uint16_t)((dev->seen_head + 1u) % MIDGE_DEVICE_DEDUPE_SLOTS);
    if (dev->seen_count < MIDGE_DEVICE_DEDUPE_SLOTS)
        dev->seen_count++;
}

static void seen_add(midge_device *dev, uint64_t key, bool led)
{
    seen_push(dev, key | (led ? 1u : 0u));
}

size_t midge_device_export_ids(const midge_device *dev, uint64_t *records, size_t cap)
{
    if (dev == NULL || records == NULL)
        return 0;
    size_t n = cap < dev->seen_count ? cap : dev->seen_count;
    /* The newest n end just before seen_head; the oldest of them is first. */
    size_t slot = (dev->seen_head + MIDGE_DEVICE_DEDUPE_SLOTS - n) % MIDGE_DEVICE_DEDUPE_SLOTS;
    for (size_t i = 0; i < n; i++) {
        records[i] = dev->seen[slot];
        slot = (slot + 1u) % MIDGE_DEVICE_DEDUPE_SLOTS;
    }
    return n;
}

midge_status midge_device_import_ids(midge_device *dev, const uint64_t *records, size_t count)
{
    if (dev == NULL || (records == NULL && count != 0))
        return MIDGE_ERR_INVALID;
    /* Records older than the ring holds would only be pushed out again. */
    size_t first = count > MIDGE_DEVICE_DEDUPE_SLOTS ? count - MIDGE_DEVICE_DEDUPE_SLOTS : 0;
    for (size_t i = first; i < count; i++)
        seen_push(dev, records[i]);
    return MIDGE_OK;
}

/* --- Commands ------------------------------------------------------------- */

midge_device_command midge_device_parse_command(const void *payload, size_t len)
{
    static const struct {
        const char *text;
        midge_device_command cmd;
    } table[] = {
        {"on", MIDGE_DEVICE_CMD_ON},
        {"off", MIDGE_DEVICE_CMD_OFF},
        {"toggle", MIDGE_DEVICE_CMD_TOGGLE},
        {"status", MIDGE_DEVICE_CMD_STATUS},
    };

    /* Exact bytes, as the tutorial compared them: no case folding, no
     * trimming ("on\n" is not "on"). */
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t n = strlen(table[i].text);
        if (len == n && payload != NULL && memcmp(payload, table[i].text, n) == 0)
            return table[i].cmd;
    }
    return MIDGE_DEVICE_CMD_UNKNOWN;
}

static bool command_result(midge_device_command cmd, bool led)
{
    switch (cmd) {
    case MIDGE_DEVICE_CMD_ON:
        return true;
    case MIDGE_DEVICE_CMD_OFF:
        return false;
    case MIDGE_DEVICE_CMD_TOGGLE:
        return !led;
    default:
        return led;
    }
}

/* A raw command with an id to answer: $creq/<uuid>, .../cmd/request/<id>. */
typedef struct command_in {
    const char *topic;
    size_t topic_len;
    const char *id;
    size_t id_len;
    const uint8_t *payload;
    size_t len;
} command_in;

static midge_status reject_command(const midge_device *dev, midge_device_out *out,
                                   midge_device__plan *plan, const command_in *in)
{
    midge_device__wr w;

    plan->stat = MIDGE_DEVICE__STAT_REJECTED;
    midge_device__log_message(out, MIDGE_DEVICE_LOG_WARN, "unknown command", in->topic,
                              in->topic_len, in->payload, in->len, "");
    /* Written straight into the output: the input shown is bounded, so the
     * reply is at most about 200 bytes. */
    size_t topic_len = midge_device__begin_raw_reply(dev, out, in->id, in->id_len, &w);
    midge_device__put_str(&w, "error: unknown command \"");
    midge_device__put_shown(&w, in->payload, in->len, SHOWN_MAX);
    midge_device__put_str(&w, "\" ");
    midge_device__put_str(&w, accepted_list);
    return midge_device__msg_commit(out, &w, topic_len, 1, false);
}

static midge_status answer_duplicate(const midge_device *dev, midge_device_out *out,
                                     midge_device__plan *plan, const command_in *in, bool led)
{
    const char *reply = midge_device_led_text(led);

    plan->stat = MIDGE_DEVICE__STAT_DUPLICATE;
    midge_device__log_message(out, MIDGE_DEVICE_LOG_INFO, "repeated command", in->topic,
                              in->topic_len, in->payload, in->len,
                              led ? ": answered again, led on" : ": answered again, led off");
    return midge_device__add_raw_reply(dev, out, in->id, in->id_len, reply);
}

static midge_status run_command(const midge_device *dev, midge_device_out *out,
                                midge_device__plan *plan, const command_in *in)
{
    uint64_t key = midge_device__id_key('c', in->id, in->id_len);
    bool earlier;

    /* onenet.md section 1: a kept command may arrive twice; answer it again
     * but never act twice (a second "toggle" would undo the first). */
    if (midge_device__seen(dev, key, &earlier))
        return answer_duplicate(dev, out, plan, in, earlier);

    midge_device_command cmd = midge_device_parse_command(in->payload, in->len);
    if (cmd == MIDGE_DEVICE_CMD_UNKNOWN)
        return reject_command(dev, out, plan, in);

    plan->led = command_result(cmd, dev->led);
    plan->remember = true;
    plan->key = key;
    plan->stat = MIDGE_DEVICE__STAT_COMMAND;
    midge_device__log_message(out, MIDGE_DEVICE_LOG_INFO, "command", in->topic, in->topic_len,
                              in->payload, in->len, plan->led ? ": led on" : ": led off");

    /* The reply first, then the report (the product's order). */
    const char *reply = midge_device_led_text(plan->led);
    midge_status st = midge_device__add_raw_reply(dev, out, in->id, in->id_len, reply);
    if (st != MIDGE_OK)
        return st;
    if (plan->led == dev->led && cmd != MIDGE_DEVICE_CMD_STATUS)
        return MIDGE_OK;
    return midge_device__add_report(dev, out, plan);
}

/* --- Plain topics ---------------------------------------------------------- */

static midge_status run_plain(const midge_device *dev, midge_device_out *out,
                              midge_device__plan *plan, const midge_publish *msg)
{
    midge_device_command cmd = midge_device_parse_command(msg->payload, msg->payload_len);

    /* The tutorial's TurnipRobot topic: on/off/toggle act, with nobody to
     * answer; "status" and the rest are only logged. */
    if (cmd == MIDGE_DEVICE_CMD_UNKNOWN || cmd == MIDGE_DEVICE_CMD_STATUS) {
        plan->stat = MIDGE_DEVICE__STAT_IGNORED;
        midge_device__log_message(out, MIDGE_DEVICE_LOG_WARN, "ignored", msg->topic, msg->topic_len,
                                  msg->payload, msg->payload_len, ": not on, off or toggle");
        return MIDGE_OK;
    }
    plan->led = command_result(cmd, dev->led);
    plan->stat = MIDGE_DEVICE__STAT_COMMAND;
    midge_device__log_message(out, MIDGE_DEVICE_LOG_INFO, "command", msg->topic, msg->topic_len,
                              msg->payload, msg->payload_len, plan->led ? ": led on" : ": led off");
    if (plan->led == dev->led)
        return MIDGE_OK;
    return midge_device__add_report(dev, out, plan);
}

static bool is_extra_topic(const midge_device *dev, const midge_publish *msg)
{
    for (size_t i = 0; i < dev->cfg.extra_topic_count; i++) {
        const char *filter = dev->cfg.extra_topics[i];
        if (midge_topic_matches(filter, strlen(filter), msg->topic, msg->topic_len))
            return true;
    }
    return false;
}

/* --- Routing ---------------------------------------------------------------- */

enum route {
    ROUTE_NONE = 0,
    ROUTE_COMMAND, /* raw command with an id */
    ROUTE_SET,     /* onenet-studio property/set */
    ROUTE_GET      /* onenet-studio property/get */
};

/* The id is the rest of the topic after the command prefix. The command
 * topics end in a '+' level (mqtt, studio) so the id is one level; $creq/
 * is not subscribed with a level wildcard, so its id is taken whole,
 * whatever its length (onenet.md section 3: no fixed offsets). */
static enum route route_topic(const midge_device *dev, const midge_publish *msg, command_in *in)
{
    const char *t = msg->topic;
    size_t n = msg->topic_len;

    if (dev->cfg.profile == MIDGE_DEVICE_PROFILE_ONENET) {
        if (!midge_device__eat(&t, &n, "$creq/"))
            return ROUTE_NONE;
        in->id = t;
        in->id_len = n;
        return ROUTE_COMMAND;
    }
    if (!midge_device__eat_base(dev, &t, &n))
        return ROUTE_NONE;
    if (dev->cfg.profile == MIDGE_DEVICE_PROFILE_ONENET_STUDIO) {
        if (n == strlen("/thing/property/set") && midge_device__eat(&t, &n, "/thing/property/set"))
            return ROUTE_SET;
        if (n == strlen("/thing/property/get") && midge_device__eat(&t, &n, "/thing/property/get"))
            return ROUTE_GET;
    }
    if (!midge_device__eat(&t, &n, "/cmd/request/") || memchr(t, '/', n) != NULL)
        return ROUTE_NONE;
    in->id = t;
    in->id_len = n;
    return ROUTE_COMMAND;
}

static midge_status ignore_topic(midge_device_out *out, midge_device__plan *plan,
                                 const midge_publish *msg, const char *why)
{
    plan->stat = MIDGE_DEVICE__STAT_IGNORED;
    midge_device__log_message(out, MIDGE_DEVICE_LOG_WARN, "ignored", msg->topic, msg->topic_len,
                              msg->payload, msg->payload_len, why);
    return MIDGE_OK;
}

static midge_status dispatch(const midge_device *dev, const midge_publish *msg,
                             midge_device_out *out, midge_device__plan *plan)
{
    command_in in = {msg->topic, msg->topic_len, NULL, 0, msg->payload, msg->payload_len};
    enum route route = route_topic(dev, msg, &in);

    /* A retained request is replayed to every new subscription: after a
     * restart (dedupe ring empty) a retained "toggle" would flip again. */
    if (route != ROUTE_NONE && msg->retain)
        return ignore_topic(out, plan, msg, ": retained request, a replay of an old one");
    switch (route) {
    case ROUTE_SET:
        return midge_device__studio_set(dev, msg, out, plan);
    case ROUTE_GET:
        return midge_device__studio_get(dev, msg, out, plan);
    case ROUTE_COMMAND:
        /* An empty id cannot be told apart from the next empty id, and
         * would make every later one look like a repeat. */
        if (in.id_len == 0)
            return ignore_topic(out, plan, msg, ": command without an id");
        return run_command(dev, out, plan, &in);
    case ROUTE_NONE:
        break;
    }
    /* Command topics win over extra topics that happen to match them. */
    if (is_extra_topic(dev, msg))
        return run_plain(dev, out, plan, msg);
    return ignore_topic(out, plan, msg, ": unexpected topic");
}

static void count(midge_device *dev, enum midge_device__stat stat)
{
    switch (stat) {
    case MIDGE_DEVICE__STAT_COMMAND:
        dev->stats.commands++;
        break;
    case MIDGE_DEVICE__STAT_DUPLICATE:
        dev->stats.duplicates++;
        break;
    case MIDGE_DEVICE__STAT_REJECTED:
        dev->stats.rejected++;
        break;
    case MIDGE_DEVICE__STAT_IGNORED:
        dev->stats.ignored++;
        break;
    case MIDGE_DEVICE__STAT_NONE:
        break;
    }
}

void midge_device__apply(midge_device *dev, midge_device_out *out, const midge_device__plan *plan)
{
    out->led_changed = plan->led != dev->led;
    out->led = plan->led;
    dev->led = plan->led;
    if (plan->remember)
        seen_add(dev, plan->key, plan->led);
    if (plan->post)
        dev->post_id = plan->post_id;
    count(dev, plan->stat);
}

void midge_device__fail(midge_device_out *out, midge_status st)
{
    midge_device__wr w;
    size_t cap = out->cap;

    /* Drop the partial results: the caller must not publish half an
     * answer for something that was not done. */
    midge_device__out_clear(out);
    midge_device__log_begin(out, MIDGE_DEVICE_LOG_WARN, &w);
    midge_device__put_str(&w, "device output not produced: ");
    midge_device__put_str(&w, midge_strerror(st));
    midge_device__put_str(&w, " (buffer of ");
    midge_device__put_u32(&w, cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap);
    midge_device__put_str(&w, " bytes)");
    midge_device__log_end(out, &w);
}

midge_status midge_device_handle(midge_device *dev, const midge_publish *msg, midge_device_out *out)
{
    if (dev == NULL || msg == NULL || out == NULL || out->buf == NULL)
        return MIDGE_ERR_INVALID;
    if (msg->topic == NULL || (msg->payload == NULL && msg->payload_len != 0))
        return MIDGE_ERR_INVALID;

    midge_device__out_clear(out);
    out->led = dev->led;
    midge_device__plan plan = {.led = dev->led};
    midge_status st = dispatch(dev, msg, out, &plan);
    if (st != MIDGE_OK) {
        midge_device__fail(out, st);
        return st;
    }
    midge_device__apply(dev, out, &plan);
    return MIDGE_OK;
}
