/*
 * midge console: the devices and the commands it knows, and their JSON.
 * Every function here runs with the console's lock held.
 *
 * Devices are kept sorted by id (the page lists them so; a lookup is a
 * binary search). Commands are a ring of CONSOLE_COMMANDS_MAX: a new one
 * takes the slot of the oldest that nobody waits for and that is not in
 * the outbox; when every slot is busy the API refuses (errno 11).
 */
#include <stdlib.h>
#include <string.h>

#include "console_internal.h"

static const struct {
    int num;
    unsigned http;
    const char *text;
} console_errnos[] = {
#define CONSOLE_ERRNO_ROW(name, num, http, text) { num, http, text },
    CONSOLE_ERRNO_LIST(CONSOLE_ERRNO_ROW)
#undef CONSOLE_ERRNO_ROW
};

#define CONSOLE_ERRNO_COUNT (sizeof console_errnos / sizeof console_errnos[0])

unsigned console_errno_http(enum console_errno e)
{
    for (size_t i = 0; i < CONSOLE_ERRNO_COUNT; i++) {
        if (console_errnos[i].num == (int)e)
            return console_errnos[i].http;
    }
    return 500;
}

const char *console_errno_text(enum console_errno e)
{
    for (size_t i = 0; i < CONSOLE_ERRNO_COUNT; i++) {
        if (console_errnos[i].num == (int)e)
            return console_errnos[i].text;
    }
    return "error";
}

/* OneNET's descriptions; the platform plugin sends the same. */
const char *console_cmd_desc(int status)
{
    switch (status) {
    case CONSOLE_CMD_QUEUED: return "Command Queued";
    case CONSOLE_CMD_CREATED: return "Command Created";
    case CONSOLE_CMD_SENT: return "Command Sent";
    case CONSOLE_CMD_FAILED: return "Command Send Failed";
    case CONSOLE_CMD_ANSWERED: return "Command Response Received";
    case CONSOLE_CMD_TIMEOUT: return "Command Timeout";
    }
    return "Unknown";
}

/* --- devices ----------------------------------------------------------------------- */

static int console_id_cmp(const char *a, const char *b, size_t blen)
{
    size_t alen = strlen(a);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* The index of id, or where it would go (*found false). */
static size_t console_device_slot(const struct console *c, const char *id, size_t len,
                                  bool *found)
{
    size_t lo = 0;
    size_t hi = c->device_count;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = console_id_cmp(c->devices[mid].id, id, len);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct console_device *console_device_find(struct console *c, const char *id, size_t len)
{
    bool found;
    size_t i = console_device_slot(c, id, len, &found);

    return found ? &c->devices[i] : NULL;
}

struct console_device *console_device_get(struct console *c, const char *id, size_t len)
{
    bool found;
    size_t i = console_device_slot(c, id, len, &found);

    if (found)
        return &c->devices[i];
    if (len > CONSOLE_ID_MAX)
        return NULL;
    if (c->device_count == c->device_cap) {
        size_t cap = c->device_cap ? 2 * c->device_cap : 16;
        struct console_device *v = realloc(c->devices, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        c->devices = v;
        c->device_cap = cap;
    }
    memmove(&c->devices[i + 1], &c->devices[i], (c->device_count - i) * sizeof *c->devices);
    c->device_count++;
    struct console_device *d = &c->devices[i];
    memset(d, 0, sizeof *d);
    memcpy(d->id, id, len);
    d->online = -1;
    d->led = -1;
    return d;
}

void console_devices_free(struct console *c)
{
    for (size_t i = 0; i < c->device_count; i++)
        cJSON_Delete(c->devices[i].points);
    free(c->devices);
    c->devices = NULL;
    c->device_count = c->device_cap = 0;
}

cJSON *console_device_json(const struct console_device *d)
{
    cJSON *j = cJSON_CreateObject();

    if (j == NULL)
        return NULL;
    cJSON_AddStringToObject(j, "id", d->id);
    cJSON_AddBoolToObject(j, "online", d->online == 1);
    if (d->led < 0)
        cJSON_AddNullToObject(j, "led");
    else
        cJSON_AddStringToObject(j, "led", d->led ? "on" : "off");
    if (d->points != NULL) {
        cJSON_AddItemToObject(j, "datapoints", cJSON_Duplicate(d->points, true));
        cJSON_AddNumberToObject(j, "datapoints_at", (double)d->points_ms);
    }
    return j;
}

void console_device_changed(struct console *c, const struct console_device *d)
{
    console_events_send(c, "device", console_device_json(d));
}

/* --- commands ---------------------------------------------------------------------- */

static void console_cmd_free(struct console_cmd *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->body);
    free(cmd->resp);
    free(cmd->refusal);
    free(cmd);
}

void console_cmds_free(struct console *c)
{
    for (size_t i = 0; i < c->cmd_count; i++)
        console_cmd_free(c->cmds[(c->cmd_head + i) % CONSOLE_COMMANDS_MAX]);
    c->cmd_count = 0;
    c->cmd_bytes = 0;
}

/* Newest first: an answer is almost always for a recent command. */
struct console_cmd *console_cmd_find(struct console *c, const char *uuid, size_t len)
{
    if (len != CONSOLE_UUID_LEN)
        return NULL;
    for (size_t i = c->cmd_count; i-- > 0;) {
        struct console_cmd *cmd = c->cmds[(c->cmd_head + i) % CONSOLE_COMMANDS_MAX];
        if (memcmp(cmd->uuid, uuid, CONSOLE_UUID_LEN) == 0)
            return cmd;
    }
    return NULL;
}

static bool console_cmd_busy(const struct console_cmd *cmd)
{
    return cmd->waiter != NULL || cmd->queued || cmd->taking;
}

/* Make room: drop the oldest command nobody needs. The ring keeps its
 * order by moving the ones skipped over one step up. */
static bool console_cmd_evict(struct console *c)
{
    for (size_t i = 0; i < c->cmd_count; i++) {
        size_t at = (c->cmd_head + i) % CONSOLE_COMMANDS_MAX;
        if (console_cmd_busy(c->cmds[at]))
            continue;
        c->cmd_bytes -= c->cmds[at]->body_len + c->cmds[at]->resp_len;
        console_cmd_free(c->cmds[at]);
        for (size_t j = i; j > 0; j--) {
            size_t to = (c->cmd_head + j) % CONSOLE_COMMANDS_MAX;
            size_t from = (c->cmd_head + j - 1) % CONSOLE_COMMANDS_MAX;
            c->cmds[to] = c->cmds[from];
        }
        c->cmd_head = (c->cmd_head + 1) % CONSOLE_COMMANDS_MAX;
        c->cmd_count--;
        return true;
    }
    return false;
}

struct console_cmd *console_cmd_add(struct console *c, size_t bytes, enum console_errno *e)
{
    while (c->cmd_count == CONSOLE_COMMANDS_MAX ||
           (c->cmd_count > 0 && c->cmd_bytes + bytes > CONSOLE_COMMANDS_BYTES)) {
        if (!console_cmd_evict(c)) {
            *e = CONSOLE_E_TOO_MANY;
            return NULL;
        }
    }
    struct console_cmd *cmd = calloc(1, sizeof *cmd);
    if (cmd == NULL) {
        *e = CONSOLE_E_NO_MEMORY;
        return NULL;
    }
    c->cmds[(c->cmd_head + c->cmd_count) % CONSOLE_COMMANDS_MAX] = cmd;
    c->cmd_count++;
    c->cmd_bytes += bytes;
    return cmd;
}

void console_cmd_count_bytes(struct console *c, size_t bytes)
{
    c->cmd_bytes += bytes;
}

static void console_add_text(cJSON *j, const char *name, const char *bytes, size_t len,
                             size_t shown)
{
    char *text = console_utf8(bytes, len < shown ? len : shown);

    if (text != NULL)
        cJSON_AddStringToObject(j, name, text);
    free(text);
}

cJSON *console_cmd_json(const struct console_cmd *cmd, size_t shown)
{
    cJSON *j = cJSON_CreateObject();

    if (j == NULL)
        return NULL;
    cJSON_AddStringToObject(j, "cmd_uuid", cmd->uuid);
    cJSON_AddStringToObject(j, "device_id", cmd->device);
    console_add_text(j, "cmd", cmd->body, cmd->body_len, shown);
    cJSON_AddNumberToObject(j, "status", cmd->status);
    cJSON_AddStringToObject(j, "desc", console_cmd_desc(cmd->status));
    cJSON_AddNumberToObject(j, "at", (double)cmd->created_ms);
    if (cmd->resp != NULL) {
        console_add_text(j, "resp", cmd->resp, cmd->resp_len, shown);
        cJSON_AddNumberToObject(j, "answered_at", (double)cmd->answered_ms);
    }
    if (cmd->refused != 0) {
        cJSON_AddNumberToObject(j, "errno", cmd->refused);
        cJSON_AddStringToObject(j, "error", cmd->refusal ? cmd->refusal : "");
    }
    return j;
}

/* A POST waits for its command to be taken, and with a timeout for its
 * answer too; a refusal or a failure ends either wait. */
static bool console_cmd_settled(const struct console_cmd *cmd, bool want_answer)
{
    if (cmd->refused != 0 || cmd->status == CONSOLE_CMD_FAILED ||
        cmd->status == CONSOLE_CMD_TIMEOUT || cmd->resp != NULL)
        return true;
    if (cmd->status == CONSOLE_CMD_QUEUED)
        return false;
    return !want_answer;
}

void console_req_resume(struct console *c, struct console_req *r)
{
    if (!r->waiting)
        return;
    r->waiting = false;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->waiting = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    MHD_resume_connection(r->conn);
}

void console_cmd_changed(struct console *c, struct console_cmd *cmd)
{
    struct console_req *r = cmd->waiter;

    if (r != NULL && console_cmd_settled(cmd, r->wait_answer))
        console_req_resume(c, r);
    console_events_send(c, "command", console_cmd_json(cmd, CONSOLE_EVENT_TEXT));
}

void console_state_tick(struct console *c, int64_t now)
{
    /* Commands whose timeout passed unanswered: OneNET drops an answer
     * that comes later, and so does the console. */
    for (size_t i = 0; i < c->cmd_count; i++) {
        struct console_cmd *cmd = c->cmds[(c->cmd_head + i) % CONSOLE_COMMANDS_MAX];
        bool open = cmd->status == CONSOLE_CMD_CREATED || cmd->status == CONSOLE_CMD_SENT;
        /* onenet: the platform expires its commands and says so itself. */
        if (c->cfg->profile == CONSOLE_PROFILE_MQTT && cmd->timeout_s > 0 && open &&
            now >= cmd->expires) {
            cmd->status = CONSOLE_CMD_TIMEOUT;
            console_cmd_changed(c, cmd);
        }
    }
    struct console_req *r = c->waiting;
    while (r != NULL) {
        struct console_req *next = r->next;
        if (now >= r->deadline)
            console_req_resume(c, r);
        r = next;
    }
}
