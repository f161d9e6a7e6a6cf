/*
 * midge console: OneNET's legacy HTTP command API, the subset scripts use
 * (../shared/reference/onenet.md section 3), and GET /events for the page.
 *
 *   POST /cmds?device_id=ID[&qos=0|1][&timeout=S]   body: the command
 *   GET  /cmds/{uuid}          {"status":N,"desc":"..."}
 *   GET  /cmds/{uuid}/resp     the device's answer, as it sent it
 *   GET  /devices              every device the console knows
 *   GET  /devices/{id}         with "online"
 *   GET  /devices/{id}/datapoints
 *
 * Every answer is {"errno":E,"error":"...","data":...}, errno 0 "succ"
 * on success (the answer bytes of /resp aside).
 *
 * POST /cmds waits (its connection suspended, never the daemon's thread):
 * until the broker took the command (mqtt) or the platform said what it
 * made of it (onenet), and with timeout > 0 for the device's answer too,
 * CONSOLE_WAIT_MAX_S at most. Its answer's data holds, besides OneNET's
 * cmd_uuid, the status, its desc and the answer ("resp") when one came.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_internal.h"

/* The success envelope around data (taken). */
static enum MHD_Result console_reply_data(struct MHD_Connection *conn, cJSON *data)
{
    cJSON *j = cJSON_CreateObject();

    if (j == NULL || data == NULL) {
        cJSON_Delete(j);
        cJSON_Delete(data);
        return console_reply_error(conn, CONSOLE_E_NO_MEMORY, NULL);
    }
    cJSON_AddNumberToObject(j, "errno", 0);
    cJSON_AddStringToObject(j, "error", "succ");
    cJSON_AddItemToObject(j, "data", data);
    return console_reply_json(conn, 200, j);
}

/* The path's {uuid} or {id}: the level after the collection's name. */
static const char *console_path_arg(const char *url, size_t *len)
{
    const char *arg = strchr(url + 1, '/') + 1;
    const char *slash = strchr(arg, '/');

    *len = slash ? (size_t)(slash - arg) : strlen(arg);
    return arg;
}

/* --- POST /cmds ---------------------------------------------------------------------- */

/* Whole-string decimal in 0..max. */
static bool console_number(const char *s, unsigned long max, unsigned long *out)
{
    char *end = NULL;

    if (s == NULL)
        return true; /* absent: the default stays */
    if (*s < '0' || *s > '9')
        return false;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

struct console_post {
    const char *device;
    unsigned long qos;
    unsigned long timeout_s;
};

/* The query's device_id, qos and timeout; false once a refusal is queued
 * (into *ret). */
static bool console_post_args(struct MHD_Connection *conn, struct console_post *p,
                              enum MHD_Result *ret)
{
    const char *bad = NULL;

    p->device = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "device_id");
    p->qos = 0;
    p->timeout_s = 0;
    if (p->device == NULL || !console_id_valid(p->device, strlen(p->device)))
        bad = "device_id";
    else if (!console_number(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "qos"), 1,
                             &p->qos))
        bad = "qos (0 or 1)";
    else if (!console_number(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "timeout"),
                             CONSOLE_TIMEOUT_MAX_S, &p->timeout_s))
        bad = "timeout (0..2678400 seconds)";
    if (bad == NULL)
        return true;
    *ret = console_reply_error(conn, CONSOLE_E_PARAM, bad);
    return false;
}

/* Why the command cannot be taken now, or CONSOLE_E_OK (lock held). */
static enum console_errno console_post_refusal(struct console *c, const struct console_post *p)
{
    if (!c->broker_up)
        return CONSOLE_E_BROKER;
    /* onenet: the platform knows its registry and who is online, and
     * answers for itself (errno 3, 10). */
    if (c->cfg->profile != CONSOLE_PROFILE_MQTT)
        return CONSOLE_E_OK;
    const struct console_device *d = console_device_find(c, p->device, strlen(p->device));
    if (d == NULL)
        return CONSOLE_E_NO_DEVICE;
    /* OneNET drops an online command (timeout 0) to an offline device;
     * with a timeout the broker keeps it (the device's persistent session). */
    if (d->online != 1 && p->timeout_s == 0)
        return CONSOLE_E_OFFLINE;
    return CONSOLE_E_OK;
}

static enum MHD_Result console_post(struct console_req *r)
{
    struct console *c = r->c;
    struct console_post p;
    enum console_errno e;
    enum MHD_Result ret = MHD_NO;

    if (!console_post_args(r->conn, &p, &ret))
        return ret;
    pthread_mutex_lock(&c->lock);
    e = console_post_refusal(c, &p);
    struct console_cmd *cmd = e == CONSOLE_E_OK ? console_cmd_add(c, r->len, &e) : NULL;
    if (cmd == NULL) {
        pthread_mutex_unlock(&c->lock);
        return console_reply_error(r->conn, e, e == CONSOLE_E_NO_DEVICE || e == CONSOLE_E_OFFLINE
                                                  ? p.device : NULL);
    }
    if (!c->cfg->new_uuid(cmd->uuid))
        memset(cmd->uuid, '0', CONSOLE_UUID_LEN); /* never: getrandom does not fail */
    memcpy(cmd->device, p.device, strlen(p.device) + 1);
    cmd->body = r->body; /* taken: the request no longer owns it */
    cmd->body_len = r->len;
    r->body = NULL;
    r->len = r->cap = 0;
    cmd->qos = (uint8_t)p.qos;
    cmd->timeout_s = p.timeout_s;
    cmd->created_ms = console_wall_ms();
    int64_t now = console_now();
    cmd->expires = now + (int64_t)p.timeout_s * 1000;
    cmd->queued = true;
    if (c->out_tail)
        c->out_tail->next_out = cmd;
    else
        c->out_head = cmd;
    c->out_tail = cmd;
    c->commands++;

    r->cmd = cmd;
    cmd->waiter = r;
    r->wait_answer = p.timeout_s > 0;
    unsigned long wait_s = p.timeout_s < CONSOLE_WAIT_MAX_S ? p.timeout_s : CONSOLE_WAIT_MAX_S;
    r->deadline = now + (p.timeout_s > 0 ? (int64_t)wait_s * 1000 : CONSOLE_TAKE_WAIT_MS);
    r->waiting = true;
    r->prev = NULL;
    r->next = c->waiting;
    if (c->waiting)
        c->waiting->prev = r;
    c->waiting = r;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&c->lock);
    console_wake_broker(c);
    return MHD_YES;
}

/* Take a command that never left the outbox back out of it (lock held). */
static void console_outbox_remove(struct console *c, struct console_cmd *cmd)
{
    struct console_cmd **at = &c->out_head;
    struct console_cmd *prev = NULL;

    while (*at != NULL && *at != cmd) {
        prev = *at;
        at = &(*at)->next_out;
    }
    if (*at == NULL)
        return;
    *at = cmd->next_out;
    if (c->out_tail == cmd)
        c->out_tail = prev;
    cmd->next_out = NULL;
    cmd->queued = false;
}

enum MHD_Result console_api_resumed(struct console_req *r)
{
    struct console *c = r->c;
    struct console_cmd *cmd = r->cmd;
    enum MHD_Result ret;

    pthread_mutex_lock(&c->lock);
    cmd->waiter = NULL;
    r->cmd = NULL;
    r->replied = true;
    if (cmd->queued) {
        /* The broker never took it (the connection is down): it is not sent. */
        console_outbox_remove(c, cmd);
        cmd->status = CONSOLE_CMD_FAILED;
        console_cmd_changed(c, cmd);
        pthread_mutex_unlock(&c->lock);
        return console_reply_error(r->conn, CONSOLE_E_BROKER, "the broker did not take the "
                                                              "command");
    }
    if (cmd->refused != 0) {
        /* The platform's own refusal, passed on as it gave it. */
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "errno", cmd->refused);
        cJSON_AddStringToObject(j, "error", cmd->refusal ? cmd->refusal : "");
        unsigned http = console_errno_http((enum console_errno)cmd->refused);
        pthread_mutex_unlock(&c->lock);
        return console_reply_json(r->conn, http, j);
    }
    if (cmd->status == CONSOLE_CMD_FAILED) {
        pthread_mutex_unlock(&c->lock);
        return console_reply_error(r->conn, CONSOLE_E_BROKER, "sending the command failed");
    }
    cJSON *data = cJSON_CreateObject();
    if (data != NULL) {
        cJSON *full = console_cmd_json(cmd, SIZE_MAX);
        static const char *keep[] = { "cmd_uuid", "status", "desc", "resp" };
        for (size_t i = 0; full != NULL && i < sizeof keep / sizeof keep[0]; i++) {
            cJSON *item = cJSON_DetachItemFromObject(full, keep[i]);
            if (item != NULL)
                cJSON_AddItemToObject(data, keep[i], item);
        }
        cJSON_Delete(full);
    }
    pthread_mutex_unlock(&c->lock);
    ret = console_reply_data(r->conn, data);
    return ret;
}

/* --- GET ------------------------------------------------------------------------------ */

static enum MHD_Result console_get_cmd(struct console_req *r, const char *url, bool resp)
{
    struct console *c = r->c;
    size_t len;
    const char *uuid = console_path_arg(url, &len);
    char shown[CONSOLE_UUID_LEN + 1];

    pthread_mutex_lock(&c->lock);
    struct console_cmd *cmd = console_cmd_find(c, uuid, len);
    if (cmd == NULL) {
        pthread_mutex_unlock(&c->lock);
        snprintf(shown, sizeof shown, "%.*s", (int)(len < CONSOLE_UUID_LEN ? len : CONSOLE_UUID_LEN),
                 uuid);
        return console_reply_error(r->conn, CONSOLE_E_NO_COMMAND, shown);
    }
    if (!resp) {
        cJSON *data = cJSON_CreateObject();
        if (data != NULL) {
            cJSON_AddNumberToObject(data, "status", cmd->status);
            cJSON_AddStringToObject(data, "desc", console_cmd_desc(cmd->status));
        }
        pthread_mutex_unlock(&c->lock);
        return console_reply_data(r->conn, data);
    }
    if (cmd->resp == NULL) {
        pthread_mutex_unlock(&c->lock);
        return console_reply_error(r->conn, CONSOLE_E_NO_RESPONSE, NULL);
    }
    /* The answer as the device sent it: bytes, never rendered as a page. */
    struct MHD_Response *out =
        MHD_create_response_from_buffer(cmd->resp_len, cmd->resp, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&c->lock);
    if (out == NULL)
        return MHD_NO;
    MHD_add_response_header(out, "Content-Type", "application/octet-stream");
    MHD_add_response_header(out, "Cache-Control", "no-store");
    MHD_add_response_header(out, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, out);
    MHD_destroy_response(out);
    return ret;
}

static enum MHD_Result console_get_devices(struct console_req *r)
{
    struct console *c = r->c;
    cJSON *data = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();

    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; list != NULL && i < c->device_count; i++)
        cJSON_AddItemToArray(list, console_device_json(&c->devices[i]));
    size_t n = c->device_count;
    pthread_mutex_unlock(&c->lock);
    if (data != NULL) {
        cJSON_AddNumberToObject(data, "total_count", (double)n);
        cJSON_AddNumberToObject(data, "per_page", (double)n);
        cJSON_AddNumberToObject(data, "page", 1);
        cJSON_AddItemToObject(data, "devices", list);
    } else {
        cJSON_Delete(list);
    }
    return console_reply_data(r->conn, data);
}

/* OneNET's datastream shape: one stream per point id, its latest point. */
static cJSON *console_datastreams(const struct console_device *d)
{
    cJSON *streams = cJSON_CreateArray();
    char at[20];

    console_time_text(d->points_ms, at);
    for (cJSON *p = d->points ? d->points->child : NULL; streams && p; p = p->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "id");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(p, "value");
        const cJSON *when = cJSON_GetObjectItemCaseSensitive(p, "at");
        if (!cJSON_IsString(id) || value == NULL)
            continue;
        cJSON *point = cJSON_CreateObject();
        cJSON *points = cJSON_CreateArray();
        cJSON *stream = cJSON_CreateObject();
        if (point == NULL || points == NULL || stream == NULL) {
            cJSON_Delete(point);
            cJSON_Delete(points);
            cJSON_Delete(stream);
            break;
        }
        cJSON_AddStringToObject(point, "at", cJSON_IsString(when) ? when->valuestring : at);
        cJSON_AddItemToObject(point, "value", cJSON_Duplicate(value, true));
        cJSON_AddItemToArray(points, point);
        cJSON_AddStringToObject(stream, "id", id->valuestring);
        cJSON_AddItemToObject(stream, "datapoints", points);
        cJSON_AddItemToArray(streams, stream);
    }
    return streams;
}

static enum MHD_Result console_get_device(struct console_req *r, const char *url,
                                          bool datapoints)
{
    struct console *c = r->c;
    size_t len;
    const char *id = console_path_arg(url, &len);
    char shown[CONSOLE_ID_MAX + 1];

    pthread_mutex_lock(&c->lock);
    const struct console_device *d = console_device_find(c, id, len);
    if (d == NULL) {
        pthread_mutex_unlock(&c->lock);
        snprintf(shown, sizeof shown, "%.*s", (int)(len < CONSOLE_ID_MAX ? len : CONSOLE_ID_MAX),
                 id);
        return console_reply_error(r->conn, CONSOLE_E_NO_DEVICE, shown);
    }
    cJSON *data;
    if (!datapoints) {
        data = console_device_json(d);
        if (data != NULL)
            cJSON_AddStringToObject(data, "protocol", "MQTT");
    } else {
        data = cJSON_CreateObject();
        cJSON *streams = console_datastreams(d);
        if (data != NULL && streams != NULL) {
            cJSON_AddNumberToObject(data, "count", cJSON_GetArraySize(streams));
            cJSON_AddItemToObject(data, "datastreams", streams);
        } else {
            cJSON_Delete(streams);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return console_reply_data(r->conn, data);
}

enum MHD_Result console_api(struct console_req *r, enum console_route route, const char *url)
{
    switch (route) {
    case CONSOLE_ROUTE_EVENTS: return console_events_open(r);
    case CONSOLE_ROUTE_CMDS: return console_post(r);
    case CONSOLE_ROUTE_CMD: return console_get_cmd(r, url, false);
    case CONSOLE_ROUTE_CMD_RESP: return console_get_cmd(r, url, true);
    case CONSOLE_ROUTE_DEVICES: return console_get_devices(r);
    case CONSOLE_ROUTE_DEVICE: return console_get_device(r, url, false);
    case CONSOLE_ROUTE_DATAPOINTS: return console_get_device(r, url, true);
    default: return console_reply_error(r->conn, CONSOLE_E_NOT_FOUND, NULL);
    }
}
