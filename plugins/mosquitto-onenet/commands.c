/*
 * The platform's messages (platform_internal.h): operators' commands
 * pushed to one device as $creq/<uuid> and kept with OneNET's qos/timeout
 * semantics (onenet.md section 3), devices' $crsp answers and $dp data
 * points handed to the operators' tree, and presence.
 *
 * A device's $crsp and $dp are rewritten in place (topic, payload) in the
 * MESSAGE event, so mosquitto routes them to the operators' subscriptions
 * at once; an operator's command is consumed there (MOSQ_ERR_ACL_DENIED
 * drops the original, still acknowledged) and pushed with
 * mosquitto_broker_publish_copy, which the broker sends at its next loop
 * turn. That call reports success even when the client is not there, so
 * whether a device is online is the platform's own record, not its answer.
 */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapoint.h"
#include "json_out.h"
#include "platform_internal.h"

/* "$onenet/" + product + "/" + device + "/status/" + uuid, with room. */
#define TOPIC_CAP (sizeof ONENET_TOPIC_PREFIX + 2 * ONENET_ID_MAX + ONENET_UUID_MAX + 32)

/* Status codes of a command, as OneNET's GET /cmds/<uuid> reports them. */
enum {
    CMD_CREATED = 1,  /* kept for an offline device */
    CMD_SENT = 2,     /* pushed, no answer yet */
    CMD_ANSWERED = 4, /* its $crsp arrived */
    CMD_TIMEOUT = 5   /* expired, or pushed max_pushes times, unanswered */
};

/* errno values of a refused command: 10 is OneNET's; the others this
 * plugin's own (README.md). */
enum {
    ERR_NO_DEVICE = 3,
    ERR_NOT_ONLINE = 10,
    ERR_TOO_MANY = 11,
    ERR_TOO_LONG = 12,
    ERR_NO_MEMORY = 13
};

static void tree_topic(char *buf, const char *product, const char *device, const char *leaf,
                       const char *uuid)
{
    snprintf(buf, TOPIC_CAP, "%s%s/%s/%s%s%s", ONENET_TOPIC_PREFIX, product, device, leaf,
             uuid != NULL ? "/" : "", uuid != NULL ? uuid : "");
}

static void publish_json(const char *topic, const onenet_json *j, bool retain)
{
    if (j->full)
        return;
    mosquitto_broker_publish_copy(NULL, topic, (int)j->len, j->buf, 1, retain, NULL);
}

static void publish_status(const char *product, const char *device, const char *uuid, int status)
{
    static const char *const desc[] = {"", "Command Created", "Command Sent", "",
                                       "Command Response Received", "Command Timeout"};
    char topic[TOPIC_CAP], buf[256];
    onenet_json j;
    tree_topic(topic, product, device, "status", uuid);
    onenet_json_init(&j, buf, sizeof buf);
    onenet_json_lit(&j, "{\"errno\":0,\"error\":\"succ\",\"data\":{\"cmd_uuid\":");
    onenet_json_str(&j, uuid, strlen(uuid));
    onenet_json_lit(&j, ",\"status\":");
    onenet_json_uint(&j, (unsigned)status);
    onenet_json_lit(&j, ",\"desc\":\"");
    onenet_json_lit(&j, desc[status]);
    onenet_json_lit(&j, "\"}}");
    publish_json(topic, &j, false);
}

static void publish_error(const char *product, const char *device, const char *uuid, int code,
                          const char *error)
{
    char topic[TOPIC_CAP], buf[256], text[128];
    onenet_json j;
    tree_topic(topic, product, device, "status", uuid);
    snprintf(text, sizeof text, "%s: %s", error, device);
    onenet_json_init(&j, buf, sizeof buf);
    onenet_json_lit(&j, "{\"errno\":");
    onenet_json_uint(&j, (unsigned)code);
    onenet_json_lit(&j, ",\"error\":");
    onenet_json_str(&j, text, strlen(text));
    onenet_json_lit(&j, "}");
    publish_json(topic, &j, false);
}

static void publish_presence(const char *product, const char *device, bool online)
{
    char topic[TOPIC_CAP];
    const char *text = online ? "online" : "offline";
    tree_topic(topic, product, device, "online", NULL);
    mosquitto_broker_publish_copy(NULL, topic, (int)strlen(text), text, 1, true, NULL);
}

/* onenet.md section 1: QoS 0, to that one client, no subscription. */
static void push(const onenet_dev *d, const char *uuid, const void *payload, size_t len)
{
    char topic[8 + ONENET_UUID_MAX];
    snprintf(topic, sizeof topic, "$creq/%s", uuid);
    mosquitto_broker_publish_copy(d->id, topic, (int)len, payload, 0, false, NULL);
}

/* --- the command topic ------------------------------------------------------------- */

static bool uuid_valid(const char *s, size_t n)
{
    if (n == 0 || n > ONENET_UUID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return false;
    }
    return true;
}

/* The next '/'-separated level of *s into out (cap bytes); false if it
 * does not fit or is empty. */
static bool take_level(const char **s, char *out, size_t cap)
{
    const char *end = strchr(*s, '/');
    size_t n = end != NULL ? (size_t)(end - *s) : strlen(*s);
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, *s, n);
    out[n] = '\0';
    *s += n + (end != NULL);
    return end != NULL || **s == '\0';
}

bool onenet_parse_cmd_topic(const char *topic, const char *product, onenet_cmd_topic *out)
{
    size_t pre = strlen(ONENET_TOPIC_PREFIX), n = strlen(product);
    char level[16];
    memset(out, 0, sizeof *out);
    if (strncmp(topic, ONENET_TOPIC_PREFIX, pre) != 0 || strncmp(topic + pre, product, n) != 0 ||
        topic[pre + n] != '/')
        return false;
    const char *s = topic + pre + n + 1;
    if (!take_level(&s, out->device, sizeof out->device) || !onenet_id_valid(out->device))
        return false;
    if (!take_level(&s, level, sizeof level) || strcmp(level, "cmd") != 0)
        return false;
    if (!take_level(&s, out->uuid, sizeof out->uuid) ||
        !uuid_valid(out->uuid, strlen(out->uuid)))
        return false;
    if (*s == '\0')
        return topic[strlen(topic) - 1] != '/';
    /* /<qos>/<timeout> */
    if (!take_level(&s, level, sizeof level) || (strcmp(level, "0") != 0 && strcmp(level, "1") != 0))
        return false;
    out->await_answer = level[0] == '1';
    char num[16];
    if (!take_level(&s, num, sizeof num) || *s != '\0' || topic[strlen(topic) - 1] == '/')
        return false;
    char *end;
    long t = strtol(num, &end, 10);
    if (*end != '\0' || num[0] < '0' || num[0] > '9' || t < 0 || t > ONENET_TIMEOUT_MAX)
        return false;
    out->timeout_s = t;
    return true;
}

/* --- logins and expiry ------------------------------------------------------------ */

static const char *product_of(onenet_platform *p, const onenet_dev *d)
{
    if (d->product[0] != '\0')
        return d->product;
    const onenet_device *rd = onenet_registry_device(&p->reg, d->id);
    return rd != NULL ? rd->product_id : NULL;
}

static void expire(onenet_platform *p, onenet_dev *d, onenet_cmd *c, const char *why)
{
    const char *product = product_of(p, d);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "onenet: command %s for %s dropped: %s", c->uuid, d->id,
                         why);
    if (product != NULL)
        publish_status(product, d->id, c->uuid, CMD_TIMEOUT);
    onenet_state_cmd_remove(&p->state, d, c);
}

bool onenet_device_login(onenet_platform *p, const onenet_device *rd, void *conn)
{
    onenet_dev *d = onenet_state_dev(&p->state, rd->id, true);
    if (d == NULL)
        return false;
    d->conn = conn;
    snprintf(d->product, sizeof d->product, "%s", rd->product_id);
    publish_presence(d->product, d->id, true);

    /* onenet.md section 3: a kept command goes out at every login until
     * its answer arrives or its time is up; the device's dedupe makes it
     * act once. Bounded by max_pushes as well. */
    time_t now = onenet_now_s();
    onenet_cmd *next;
    for (onenet_cmd *c = d->cmds; c != NULL; c = next) {
        next = c->next;
        if (now >= c->expires) {
            expire(p, d, c, "its timeout passed");
            continue;
        }
        if (c->pushes >= p->max_pushes) {
            expire(p, d, c, "pushed max_pushes times without an answer");
            continue;
        }
        push(d, c->uuid, c->payload, c->len);
        c->pushes++;
        publish_status(d->product, d->id, c->uuid, CMD_SENT);
        if (!c->await_answer)
            onenet_state_cmd_remove(&p->state, d, c);
    }
    return true;
}

void onenet_device_logout(onenet_platform *p, onenet_dev *d)
{
    (void)p;
    d->conn = NULL;
    publish_presence(d->product, d->id, false);
}

typedef struct sweep {
    onenet_platform *p;
    time_t now;
} sweep;

static void sweep_dev(onenet_dev *d, void *user)
{
    sweep *w = user;
    onenet_cmd *next;
    for (onenet_cmd *c = d->cmds; c != NULL; c = next) {
        next = c->next;
        if (w->now >= c->expires)
            expire(w->p, d, c, "its timeout passed");
    }
}

void onenet_sweep_expired(onenet_platform *p, time_t now)
{
    sweep w = {p, now};
    onenet_state_each_dev(&p->state, sweep_dev, &w);
}

/* --- messages ------------------------------------------------------------------ */

static void handle_command(onenet_platform *p, const onenet_op *o,
                           struct mosquitto_evt_message *ev)
{
    onenet_cmd_topic t;
    if (!onenet_parse_cmd_topic(ev->topic, o->product, &t))
        return; /* the ACL lets none through */
    const onenet_device *rd = onenet_registry_device(&p->reg, t.device);
    if (rd == NULL || strcmp(rd->product_id, o->product) != 0) {
        publish_error(o->product, t.device, t.uuid, ERR_NO_DEVICE, "device not exist");
        return;
    }
    if (ev->payloadlen > ONENET_COMMAND_MAX) {
        publish_error(o->product, t.device, t.uuid, ERR_TOO_LONG, "command longer than 65535 bytes");
        return;
    }
    onenet_dev *d = onenet_state_dev(&p->state, t.device, true);
    if (d == NULL) {
        publish_error(o->product, t.device, t.uuid, ERR_NO_MEMORY, "out of memory");
        return;
    }
    bool online = d->conn != NULL;
    /* timeout=0 is an online command: refused for an offline device. */
    if (!online && t.timeout_s == 0) {
        publish_error(o->product, t.device, t.uuid, ERR_NOT_ONLINE, "device not online");
        return;
    }
    onenet_cmd *c = NULL;
    if (t.await_answer || !online) {
        c = onenet_state_cmd(d, t.uuid);
        if (c == NULL && d->cmd_count >= p->max_commands) {
            publish_error(o->product, t.device, t.uuid, ERR_TOO_MANY,
                          "too many commands kept for the device");
            return;
        }
        long keep = t.timeout_s > 0 ? t.timeout_s : p->command_ttl;
        if (c == NULL)
            c = onenet_state_cmd_add(&p->state, d, t.uuid, ev->payload, ev->payloadlen,
                                     t.await_answer, onenet_now_s() + keep);
        if (c == NULL) {
            publish_error(o->product, t.device, t.uuid, ERR_NO_MEMORY, "out of memory");
            return;
        }
    }
    if (!online) {
        publish_status(o->product, t.device, t.uuid, CMD_CREATED);
        return;
    }
    push(d, t.uuid, ev->payload, ev->payloadlen);
    if (c != NULL)
        c->pushes++;
    publish_status(o->product, t.device, t.uuid, CMD_SENT);
}

/* Replace the message's topic; false (the message is then dropped) when
 * out of memory. The broker frees the new one with the message. */
static bool retopic(struct mosquitto_evt_message *ev, const char *topic)
{
    char *t = mosquitto_strdup(topic);
    if (t == NULL)
        return false;
    mosquitto_free(ev->topic);
    ev->topic = t;
    return true;
}

static int handle_answer(onenet_platform *p, onenet_dev *d, struct mosquitto_evt_message *ev)
{
    char topic[TOPIC_CAP];
    const char *uuid = ev->topic + 6; /* after "$crsp/" */
    if (strlen(uuid) > ONENET_UUID_MAX || !uuid_valid(uuid, strlen(uuid))) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "onenet: $crsp from %s dropped: not a command id",
                             d->id);
        return MOSQ_ERR_ACL_DENIED;
    }
    onenet_cmd *c = onenet_state_cmd(d, uuid);
    if (c != NULL)
        onenet_state_cmd_remove(&p->state, d, c);
    publish_status(d->product, d->id, uuid, CMD_ANSWERED);
    tree_topic(topic, d->product, d->id, "rsp", uuid);
    ev->retain = false; /* onenet.md: retain is not supported */
    return retopic(ev, topic) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

static void log_bad_dp(const onenet_dev *d, const struct mosquitto_evt_message *ev, const char *why)
{
    char buf[400];
    onenet_json j;
    onenet_json_init(&j, buf, sizeof buf);
    onenet_json_escape_log(&j, ev->payload, ev->payloadlen, 64);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "onenet: $dp from %s dropped: %s (%u bytes: %s)", d->id,
                         why, (unsigned)ev->payloadlen, buf);
}

static int handle_datapoints(onenet_platform *p, onenet_dev *d, struct mosquitto_evt_message *ev)
{
    char topic[TOPIC_CAP];
    const char *why;
    if (ev->payloadlen > ONENET_DP_MAX) {
        log_bad_dp(d, ev, "longer than 1 MiB");
        return MOSQ_ERR_ACL_DENIED;
    }
    size_t cap = ONENET_DP_OUT_CAP(ev->payloadlen);
    if (cap > p->dp_out_cap) {
        char *grown = realloc(p->dp_out, cap);
        if (grown == NULL)
            return MOSQ_ERR_ACL_DENIED;
        p->dp_out = grown;
        p->dp_out_cap = cap;
    }
    onenet_json j;
    onenet_json_init(&j, p->dp_out, p->dp_out_cap);
    if (!onenet_dp_decode(ev->payload, ev->payloadlen, p->dp_work, &j, &why)) {
        log_bad_dp(d, ev, why);
        return MOSQ_ERR_ACL_DENIED;
    }
    /* The broker keeps a NUL after every payload; so do we. */
    char *json = mosquitto_malloc(j.len + 1);
    if (json == NULL)
        return MOSQ_ERR_ACL_DENIED;
    memcpy(json, j.buf, j.len + 1);
    tree_topic(topic, d->product, d->id, "dp", NULL);
    if (!retopic(ev, topic)) {
        mosquitto_free(json);
        return MOSQ_ERR_ACL_DENIED;
    }
    ev->payload = json; /* the broker frees the original, as it differs */
    ev->payloadlen = (uint32_t)j.len;
    ev->retain = true; /* the latest values, for operators who come later */
    return MOSQ_ERR_SUCCESS;
}

int onenet_on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ev = event_data;
    onenet_platform *p = userdata;
    (void)event;

    onenet_dev *d = onenet_state_dev_by_conn(&p->state, mosquitto_client_id(ev->client),
                                             ev->client);
    if (d != NULL) {
        if (strcmp(ev->topic, "$dp") == 0)
            return handle_datapoints(p, d, ev);
        if (strncmp(ev->topic, "$crsp/", 6) == 0)
            return handle_answer(p, d, ev);
        return MOSQ_ERR_SUCCESS;
    }
    const onenet_op *o = onenet_state_op(&p->state, ev->client);
    if (o != NULL && strncmp(ev->topic, ONENET_TOPIC_PREFIX, strlen(ONENET_TOPIC_PREFIX)) == 0) {
        handle_command(p, o, ev);
        return MOSQ_ERR_ACL_DENIED; /* consumed: pushed to the device, not routed */
    }
    return MOSQ_ERR_SUCCESS;
}
