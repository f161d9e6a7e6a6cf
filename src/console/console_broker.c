/*
 * midge console: the MQTT side. Topics per profile, {head}{id}{tail}/...:
 *
 *   mqtt    head/tail: --prefix around {device-id} (devices/ and "")
 *           {dev}/status              "online" / "offline", retained (presence)
 *           {dev}/state               {"led":"on"|"off"}, retained
 *           {dev}/cmd/request/{uuid}  a command, published here at QoS 1
 *           {dev}/cmd/response/{uuid} its answer
 *   onenet  head: $onenet/{product}/ (the platform plugin's operator tree)
 *           {dev}/online              "online" / "offline", retained
 *           {dev}/dp                  the latest data points, decoded, retained
 *           {dev}/cmd/{uuid}/{qos}/{timeout}  a command
 *           {dev}/status/{uuid}       what the platform made of it (errno, status)
 *           {dev}/rsp/{uuid}          the device's answer
 *
 * Messages arrive on the broker thread inside the client's callback; each
 * is applied under the lock. Commands wait in the outbox until this
 * thread hands them to the client, without the lock held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_internal.h"

#define CONSOLE_MARK "{device-id}"
#define CONSOLE_TOPIC_MAX 512

static char *console_join(const char *a, const char *b, const char *c, const char *d)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 1;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s%s%s%s", a, b, c, d);
    return s;
}

bool console_broker_topics(struct console *c)
{
    static const char *mqtt[] = { "/status", "/state", "/cmd/response/+" };
    static const char *onenet[] = { "/online", "/dp", "/status/+", "/rsp/+" };
    bool is_mqtt = c->cfg->profile == CONSOLE_PROFILE_MQTT;

    if (is_mqtt) {
        const char *t = c->cfg->prefix ? c->cfg->prefix : "devices/" CONSOLE_MARK;
        const char *mark = strstr(t, CONSOLE_MARK);
        if (mark == NULL || strstr(mark + 1, CONSOLE_MARK) != NULL || strpbrk(t, "+#") != NULL) {
            console_logf(c, CONSOLE_LOG_ERROR, "--prefix '%s' must hold " CONSOLE_MARK
                         " once and no '+' or '#'", t);
            return false;
        }
        c->head = strndup(t, (size_t)(mark - t));
        c->tail = strdup(mark + strlen(CONSOLE_MARK));
    } else {
        c->head = console_join("$onenet/", c->cfg->product_id, "/", "");
        c->tail = strdup("");
    }
    if (c->head == NULL || c->tail == NULL)
        return false;
    c->filter_count = is_mqtt ? 3 : 4;
    for (size_t i = 0; i < c->filter_count; i++) {
        c->filters[i] = console_join(c->head, "+", c->tail, is_mqtt ? mqtt[i] : onenet[i]);
        if (c->filters[i] == NULL)
            return false;
    }
    return true;
}

bool console_broker_subscribe(struct console *c)
{
    midge_subscription subs[4];

    for (size_t i = 0; i < c->filter_count; i++)
        subs[i] = (midge_subscription){ .filter = c->filters[i], .qos = 1 };
    midge_status st = midge_client_subscribe_many(c->link->client, subs, c->filter_count, NULL);
    if (st != MIDGE_OK) {
        console_logf(c, CONSOLE_LOG_ERROR, "subscribing to %s failed: %s", c->filters[0],
                     midge_strerror(st));
        return false;
    }
    return true;
}

/* --- messages in (lock held) -------------------------------------------------------- */

/* "online" 1, "offline" 0, else -1. */
static int console_presence(const midge_publish *msg)
{
    if (msg->payload_len == 6 && memcmp(msg->payload, "online", 6) == 0)
        return 1;
    if (msg->payload_len == 7 && memcmp(msg->payload, "offline", 7) == 0)
        return 0;
    return -1;
}

static void console_device_remove(struct console *c, struct console_device *d)
{
    cJSON *gone = cJSON_CreateObject();

    if (gone != NULL)
        cJSON_AddStringToObject(gone, "id", d->id);
    cJSON_Delete(d->points);
    size_t i = (size_t)(d - c->devices);
    memmove(d, d + 1, (c->device_count - i - 1) * sizeof *d);
    c->device_count--;
    console_events_send(c, "gone", gone);
}

static void console_on_presence(struct console *c, const char *id, size_t len,
                                const midge_publish *msg)
{
    /* An empty retained presence: the device was forgotten (`midge devices
     * --forget`, the end of a bench run). */
    if (msg->payload_len == 0) {
        struct console_device *gone = console_device_find(c, id, len);
        if (gone != NULL)
            console_device_remove(c, gone);
        return;
    }
    struct console_device *d = console_device_get(c, id, len);
    if (d == NULL)
        return;
    int was = d->online;
    d->online = console_presence(msg);
    if (d->online == 1 && was != 1 && c->cfg->profile == CONSOLE_PROFILE_MQTT) {
        /* The broker hands a device the commands it kept as it comes back. */
        for (size_t i = 0; i < c->cmd_count; i++) {
            struct console_cmd *cmd = c->cmds[(c->cmd_head + i) % CONSOLE_COMMANDS_MAX];
            if (cmd->status == CONSOLE_CMD_CREATED && strcmp(cmd->device, d->id) == 0) {
                cmd->status = CONSOLE_CMD_SENT;
                console_cmd_changed(c, cmd);
            }
        }
    }
    if (was != d->online)
        console_logf(c, CONSOLE_LOG_INFO, "device %s %s", d->id,
                     d->online == 1 ? "online" : d->online == 0 ? "offline" : "presence unknown");
    console_device_changed(c, d);
}

/* The LED as a data point: {"id":"led","value":1|0}, the form both
 * profiles show (onenet: the device's own $dp). */
static void console_set_points(struct console_device *d, cJSON *points)
{
    cJSON_Delete(d->points);
    d->points = points;
    d->points_ms = console_wall_ms();
    d->led = -1;
    for (const cJSON *p = points ? points->child : NULL; p != NULL; p = p->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "id");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "value");
        if (cJSON_IsString(id) && strcmp(id->valuestring, "led") == 0)
            d->led = cJSON_IsNumber(v) ? v->valuedouble != 0 : cJSON_IsTrue(v) ? 1
                     : cJSON_IsFalse(v) ? 0 : -1;
    }
}

static void console_on_state(struct console *c, const char *id, size_t len,
                             const midge_publish *msg)
{
    cJSON *doc = msg->payload_len ? cJSON_ParseWithLength((const char *)msg->payload, msg->payload_len) : NULL;
    const cJSON *led = cJSON_GetObjectItemCaseSensitive(doc, "led");
    cJSON *points = NULL;
    struct console_device *d = msg->payload_len ? console_device_get(c, id, len)
                                                : console_device_find(c, id, len);

    if (d != NULL && cJSON_IsString(led) &&
        (strcmp(led->valuestring, "on") == 0 || strcmp(led->valuestring, "off") == 0)) {
        points = cJSON_CreateArray();
        cJSON *p = cJSON_CreateObject();
        if (points != NULL && p != NULL) {
            cJSON_AddStringToObject(p, "id", "led");
            cJSON_AddNumberToObject(p, "value", strcmp(led->valuestring, "on") == 0);
            cJSON_AddItemToArray(points, p);
        } else {
            cJSON_Delete(p);
        }
    }
    cJSON_Delete(doc);
    if (d == NULL) {
        cJSON_Delete(points);
        return;
    }
    console_set_points(d, points);
    console_device_changed(c, d);
}

/* onenet: the platform's decoded $dp, {"type":N,"points":[...]}. */
static void console_on_points(struct console *c, const char *id, size_t len,
                              const midge_publish *msg)
{
    cJSON *doc = msg->payload_len ? cJSON_ParseWithLength((const char *)msg->payload, msg->payload_len) : NULL;
    cJSON *points = cJSON_DetachItemFromObjectCaseSensitive(doc, "points");
    struct console_device *d = console_device_get(c, id, len);

    cJSON_Delete(doc);
    if (d == NULL || !cJSON_IsArray(points)) {
        cJSON_Delete(points);
        return;
    }
    console_set_points(d, points);
    console_device_changed(c, d);
}

/* The command of this device with this uuid, or NULL. */
static struct console_cmd *console_device_cmd(struct console *c, const char *id, size_t len,
                                              const char *uuid, size_t uuid_len)
{
    struct console_cmd *cmd = console_cmd_find(c, uuid, uuid_len);

    if (cmd == NULL || strlen(cmd->device) != len || memcmp(cmd->device, id, len) != 0)
        return NULL;
    return cmd;
}

static void console_on_answer(struct console *c, struct console_cmd *cmd,
                              const midge_publish *msg)
{
    /* One answer per command, and none after its timeout (OneNET drops it). */
    if (cmd == NULL || cmd->resp != NULL || cmd->status == CONSOLE_CMD_TIMEOUT)
        return;
    cmd->resp = malloc(msg->payload_len + 1);
    if (cmd->resp == NULL)
        return;
    if (msg->payload_len > 0)
        memcpy(cmd->resp, msg->payload, msg->payload_len);
    cmd->resp[msg->payload_len] = '\0';
    cmd->resp_len = msg->payload_len;
    console_cmd_count_bytes(c, cmd->resp_len);
    cmd->status = CONSOLE_CMD_ANSWERED;
    cmd->answered_ms = console_wall_ms();
    c->answers++;
    console_logf(c, CONSOLE_LOG_INFO, "command %s to %s: %.*s -> %.*s", cmd->uuid, cmd->device,
                 (int)(cmd->body_len < 64 ? cmd->body_len : 64), cmd->body,
                 (int)(cmd->resp_len < 64 ? cmd->resp_len : 64), cmd->resp);
    console_cmd_changed(c, cmd);
}

/* onenet: {"errno":E,"error":"...","data":{"cmd_uuid":U,"status":N,...}}. */
static void console_on_status(struct console *c, struct console_cmd *cmd,
                              const midge_publish *msg)
{
    if (cmd == NULL)
        return;
    cJSON *doc = cJSON_ParseWithLength((const char *)msg->payload, msg->payload_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "errno");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(data, "status");

    if (cJSON_IsNumber(e) && e->valueint != 0) {
        cmd->refused = e->valueint;
        free(cmd->refusal);
        cmd->refusal = cJSON_IsString(text) ? strdup(text->valuestring) : NULL;
        cmd->status = CONSOLE_CMD_FAILED;
        console_logf(c, CONSOLE_LOG_INFO, "command %s to %s refused by the platform: %s",
                     cmd->uuid, cmd->device, cmd->refusal ? cmd->refusal : "?");
    } else if (cJSON_IsNumber(status) && cmd->status != CONSOLE_CMD_ANSWERED) {
        cmd->status = status->valueint;
    }
    cJSON_Delete(doc);
    console_cmd_changed(c, cmd);
}

void console_broker_on_message(void *user, const midge_publish *msg)
{
    struct console *c = user;
    size_t head = strlen(c->head);
    size_t tail = strlen(c->tail);
    const char *t = msg->topic;

    if (msg->topic_len <= head || memcmp(t, c->head, head) != 0)
        return;
    const char *id = t + head;
    const char *end = memchr(id, '/', msg->topic_len - head);
    if (end == NULL || end == id || (size_t)(t + msg->topic_len - end) < tail ||
        memcmp(end, c->tail, tail) != 0)
        return;
    size_t len = (size_t)(end - id);
    const char *rest = end + tail;
    if (!console_id_valid(id, len) || rest[0] != '/')
        return;
    const char *last = strrchr(rest, '/') + 1;
    size_t last_len = strlen(last);
    bool mqtt = c->cfg->profile == CONSOLE_PROFILE_MQTT;

    pthread_mutex_lock(&c->lock);
    if (strcmp(rest, mqtt ? "/status" : "/online") == 0)
        console_on_presence(c, id, len, msg);
    else if (mqtt && strcmp(rest, "/state") == 0)
        console_on_state(c, id, len, msg);
    else if (!mqtt && strcmp(rest, "/dp") == 0)
        console_on_points(c, id, len, msg);
    else if (strncmp(rest, mqtt ? "/cmd/response/" : "/rsp/", mqtt ? 14 : 5) == 0)
        console_on_answer(c, console_device_cmd(c, id, len, last, last_len), msg);
    else if (!mqtt && strncmp(rest, "/status/", 8) == 0)
        console_on_status(c, console_device_cmd(c, id, len, last, last_len), msg);
    pthread_mutex_unlock(&c->lock);
}

/* --- commands out (broker thread, lock not held) ------------------------------------- */

static bool console_command_topic(const struct console *c, const struct console_cmd *cmd,
                                  char *topic, size_t cap)
{
    int n;

    if (c->cfg->profile == CONSOLE_PROFILE_MQTT)
        n = snprintf(topic, cap, "%s%s%s/cmd/request/%s", c->head, cmd->device, c->tail,
                     cmd->uuid);
    else
        n = snprintf(topic, cap, "%s%s/cmd/%s/%u/%lu", c->head, cmd->device, cmd->uuid,
                     (unsigned)cmd->qos, cmd->timeout_s);
    return n > 0 && (size_t)n < cap;
}

void console_broker_flush(struct console *c)
{
    char topic[CONSOLE_TOPIC_MAX];

    pthread_mutex_lock(&c->lock);
    struct console_cmd *list = c->out_head;
    c->out_head = c->out_tail = NULL;
    for (struct console_cmd *cmd = list; cmd != NULL; cmd = cmd->next_out) {
        cmd->queued = false;
        cmd->taking = true;
    }
    pthread_mutex_unlock(&c->lock);

    while (list != NULL) {
        struct console_cmd *cmd = list;
        list = cmd->next_out;
        cmd->next_out = NULL;
        /* The body and the topic's parts do not change once queued. */
        midge_status st = MIDGE_ERR_INVALID;
        if (console_command_topic(c, cmd, topic, sizeof topic))
            st = midge_client_publish(c->link->client, topic, cmd->body, cmd->body_len, 1,
                                      false, NULL);
        pthread_mutex_lock(&c->lock);
        cmd->taking = false;
        if (st != MIDGE_OK) {
            cmd->status = CONSOLE_CMD_FAILED;
            console_logf(c, CONSOLE_LOG_WARN, "command %s to %s not sent: %s", cmd->uuid,
                         cmd->device, midge_strerror(st));
            console_cmd_changed(c, cmd);
        } else if (c->cfg->profile == CONSOLE_PROFILE_MQTT && cmd->status == CONSOLE_CMD_QUEUED) {
            /* The answer may have come inside the publish already. */
            const struct console_device *d = console_device_find(c, cmd->device,
                                                                 strlen(cmd->device));
            cmd->status = d != NULL && d->online == 1 ? CONSOLE_CMD_SENT : CONSOLE_CMD_CREATED;
            console_cmd_changed(c, cmd);
        }
        pthread_mutex_unlock(&c->lock);
    }
}
