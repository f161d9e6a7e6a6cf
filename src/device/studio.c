/*
 * OneNET Studio's thing model ("OneJSON", onenet.md section 2): the LED is a
 * boolean property, set with .../thing/property/set and read with
 * .../thing/property/get; each is answered on the matching _reply topic
 * with the request's id and a code (200 = success).
 */
#include <string.h>

#include "device_internal.h"

/* Client errors all use 400, the code of the product spec's example. */
#define CODE_OK 200
#define CODE_BAD_REQUEST 400

/* One request: the parsed payload, its id, and where to answer. */
typedef struct request {
    const midge_device *dev;
    const midge_publish *msg;
    midge_device_out *out;
    midge_device__plan *plan;
    const char *what;        /* for logs: "property set" */
    const char *reply_topic; /* suffix after the base */
    const char *id;
    size_t id_len;
    midge_device__json doc;
} request;

/* Reply detail: a literal head, optionally a quoted untrusted part, a tail.
 * Both literals are JSON-safe as written. */
typedef struct reason {
    const char *head;
    const char *detail;
    size_t detail_len;
    const char *tail;
} reason;

static bool id_char_ok(char c)
{
    /* Printable ASCII without '"' and '\\': the raw bytes can then be
     * echoed into the reply's JSON string unchanged. */
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static bool digits_only(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* The request id: a string (as specified) or, leniently, a bare number. */
static bool read_id(request *rq)
{
    int i = midge_device__json_member(&rq->doc, 0, "id");
    bool is_string = midge_device__json_is(&rq->doc, i, JSMN_STRING);

    if (!is_string && !midge_device__json_is(&rq->doc, i, JSMN_PRIMITIVE))
        return false;
    rq->id = midge_device__json_text(&rq->doc, i, &rq->id_len);
    if (rq->id_len == 0 || rq->id_len > MIDGE_DEVICE_MAX_JSON_ID)
        return false;
    if (!is_string)
        return digits_only(rq->id, rq->id_len);
    for (size_t k = 0; k < rq->id_len; k++) {
        if (!id_char_ok(rq->id[k]))
            return false;
    }
    return true;
}

/* {"id":"<id>","code":<code>,"msg":"<msg>"[,"data":{"<prop>":<led>}]} */
static midge_status add_reply(request *rq, uint32_t code, const reason *why, bool with_data)
{
    midge_device__wr w;

    midge_device__msg_begin(rq->out, &w);
    midge_device__put_base(&w, rq->dev);
    midge_device__put_str(&w, rq->reply_topic);
    size_t topic_len = midge_device__msg_payload(&w);
    midge_device__put_str(&w, "{\"id\":\"");
    midge_device__put(&w, rq->id, rq->id_len);
    midge_device__put_str(&w, "\",\"code\":");
    midge_device__put_u32(&w, code);
    midge_device__put_str(&w, ",\"msg\":\"");
    midge_device__put_str(&w, why->head);
    if (why->detail != NULL) {
        midge_device__put_str(&w, "\\\"");
        midge_device__put_json_chars(&w, why->detail, why->detail_len, MIDGE_DEVICE__SHOWN_MAX);
        midge_device__put_str(&w, "\\\"");
    }
    midge_device__put_str(&w, why->tail);
    midge_device__put_char(&w, '"');
    if (with_data) {
        midge_device__put_str(&w, ",\"data\":{\"");
        midge_device__put_str(&w, rq->dev->cfg.property);
        midge_device__put_str(&w, "\":");
        midge_device__put_str(&w, rq->plan->led ? "true" : "false");
        midge_device__put_char(&w, '}');
    }
    midge_device__put_char(&w, '}');
    return midge_device__msg_commit(rq->out, &w, topic_len, 1, false);
}

static midge_status reply_success(request *rq, bool with_data)
{
    static const reason ok = {"success", NULL, 0, ""};

    return add_reply(rq, CODE_OK, &ok, with_data);
}

static void log_request(request *rq, midge_device_log_level level, const char *suffix)
{
    midge_device__log_message(rq->out, level, rq->what, rq->msg->topic, rq->msg->topic_len,
                              rq->msg->payload, rq->msg->payload_len, suffix);
}

static midge_status reject(request *rq, const reason *why)
{
    midge_device__wr w;

    /* The log says what the reply says, for whoever reads only the log. */
    midge_device__log_open(rq->out, MIDGE_DEVICE_LOG_WARN, rq->what, rq->msg->topic,
                           rq->msg->topic_len, rq->msg->payload, rq->msg->payload_len, &w);
    midge_device__put_str(&w, ": code 400, ");
    midge_device__put_str(&w, why->head);
    if (why->detail != NULL) {
        midge_device__put_char(&w, '"');
        midge_device__put_shown(&w, why->detail, why->detail_len, MIDGE_DEVICE__SHOWN_MAX);
        midge_device__put_char(&w, '"');
    }
    midge_device__put_str(&w, why->tail);
    midge_device__log_end(rq->out, &w);

    rq->plan->stat = MIDGE_DEVICE__STAT_REJECTED;
    return add_reply(rq, CODE_BAD_REQUEST, why, false);
}

static midge_status reject_unknown(request *rq, int name_tok)
{
    reason why = {"invalid params: unknown property ", NULL, 0, ""};

    why.detail = midge_device__json_text(&rq->doc, name_tok, &why.detail_len);
    return reject(rq, &why);
}

/* Parse the payload and find the id. False: nothing more to do (the id is
 * unreadable, so no reply can be addressed: log only, as the spec asks). */
static bool open_request(request *rq, enum midge_device__json_outcome *outcome)
{
    *outcome = midge_device__json_parse(&rq->doc, rq->msg->payload, rq->msg->payload_len);
    if (read_id(rq))
        return true;
    rq->plan->stat = MIDGE_DEVICE__STAT_REJECTED;
    log_request(rq, MIDGE_DEVICE_LOG_WARN, ": no readable id, cannot reply");
    return false;
}

/* Whether the payload as a whole was usable; if not, answers why. */
static bool payload_ok(request *rq, enum midge_device__json_outcome outcome, midge_status *st)
{
    static const reason too_big = {"payload too large", NULL, 0, ""};
    static const reason malformed = {"invalid json", NULL, 0, ""};

    if (outcome == MIDGE_DEVICE__JSON_OK)
        return true;
    *st = reject(rq, outcome == MIDGE_DEVICE__JSON_TOO_BIG ? &too_big : &malformed);
    return false;
}

/* params must be an object of <property>: true|false; every member is
 * checked before anything is applied, so a bad member changes nothing. */
static midge_status apply_set_params(request *rq, bool *led)
{
    static const reason not_object = {"invalid params: params must be an object", NULL, 0, ""};
    static const reason empty = {"invalid params: no property to set", NULL, 0, ""};
    reason not_bool = {"invalid params: ", NULL, 0, " must be true or false"};
    const midge_device__json *doc = &rq->doc;
    int params = midge_device__json_member(doc, 0, "params");

    if (!midge_device__json_is(doc, params, JSMN_OBJECT))
        return reject(rq, &not_object);
    if (doc->tok[params].size == 0)
        return reject(rq, &empty);

    int i = params + 1;
    for (int k = 0; k < doc->tok[params].size; k++) {
        if (!midge_device__json_eq(doc, i, rq->dev->cfg.property))
            return reject_unknown(rq, i);
        if (!midge_device__json_bool(doc, i + 1, led)) {
            not_bool.detail = midge_device__json_text(doc, i, &not_bool.detail_len);
            return reject(rq, &not_bool);
        }
        i = midge_device__json_next(doc, i + 1);
    }
    return MIDGE_OK;
}

midge_status midge_device__studio_set(const midge_device *dev, const midge_publish *msg,
                                      midge_device_out *out, midge_device__plan *plan)
{
    request rq = {dev, msg, out, plan, "property set", "/thing/property/set_reply", NULL, 0, {0}};
    enum midge_device__json_outcome outcome;
    midge_status st = MIDGE_OK;
    bool earlier;

    if (!open_request(&rq, &outcome))
        return MIDGE_OK;
    if (!payload_ok(&rq, outcome, &st))
        return st;
    /* Dedupe on the JSON id as on command ids: a set delivered twice is
     * answered twice but applied once. */
    uint64_t key = midge_device__id_key('s', rq.id, rq.id_len);
    if (midge_device__seen(dev, key, &earlier)) {
        plan->stat = MIDGE_DEVICE__STAT_DUPLICATE;
        log_request(&rq, MIDGE_DEVICE_LOG_INFO, ": repeated id, answered again");
        return reply_success(&rq, false);
    }

    bool led = dev->led;
    /* A rejection has already been answered (or failed to fit). */
    plan->stat = MIDGE_DEVICE__STAT_NONE;
    st = apply_set_params(&rq, &led);
    if (st != MIDGE_OK || plan->stat == MIDGE_DEVICE__STAT_REJECTED)
        return st;

    plan->led = led;
    plan->remember = true;
    plan->key = key;
    plan->stat = MIDGE_DEVICE__STAT_COMMAND;
    log_request(&rq, MIDGE_DEVICE_LOG_INFO, led ? ": led on" : ": led off");
    /* The reply first, then the post (only on a change). */
    st = reply_success(&rq, false);
    if (st != MIDGE_OK || led == dev->led)
        return st;
    return midge_device__add_report(dev, out, plan);
}

/* params: absent or [] = every property; else an array of known names. */
static midge_status check_get_params(request *rq)
{
    static const reason not_array = {"invalid params: params must be an array", NULL, 0, ""};
    static const reason not_name = {"invalid params: property names must be strings", NULL, 0, ""};
    const midge_device__json *doc = &rq->doc;
    int params = midge_device__json_member(doc, 0, "params");

    if (params < 0)
        return MIDGE_OK;
    if (!midge_device__json_is(doc, params, JSMN_ARRAY))
        return reject(rq, &not_array);

    int i = params + 1;
    for (int k = 0; k < doc->tok[params].size; k++) {
        if (!midge_device__json_is(doc, i, JSMN_STRING))
            return reject(rq, &not_name);
        if (!midge_device__json_eq(doc, i, rq->dev->cfg.property))
            return reject_unknown(rq, i);
        i = midge_device__json_next(doc, i);
    }
    return MIDGE_OK;
}

midge_status midge_device__studio_get(const midge_device *dev, const midge_publish *msg,
                                      midge_device_out *out, midge_device__plan *plan)
{
    request rq = {dev, msg, out, plan, "property get", "/thing/property/get_reply", NULL, 0, {0}};
    enum midge_device__json_outcome outcome;
    midge_status st = MIDGE_OK;

    if (!open_request(&rq, &outcome))
        return MIDGE_OK;
    if (!payload_ok(&rq, outcome, &st))
        return st;
    st = check_get_params(&rq);
    if (st != MIDGE_OK || plan->stat == MIDGE_DEVICE__STAT_REJECTED)
        return st;

    plan->stat = MIDGE_DEVICE__STAT_COMMAND;
    log_request(&rq, MIDGE_DEVICE_LOG_INFO, plan->led ? ": led on" : ": led off");
    return reply_success(&rq, true);
}
