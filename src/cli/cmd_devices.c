/*
 * midge devices: the devices a broker knows of, from the retained presence
 * and state every `midge device` of the mqtt profile keeps under its
 * default prefix (include/midge/device.h):
 *
 *   devices/{id}/status  "online" / "offline" (the will says offline)
 *   devices/{id}/state   {"led":"on"} / {"led":"off"}
 *
 * With --profile onenet it asks the OneNET platform plugin instead
 * (plugins/mosquitto-onenet/), as an operator of --product-id P:
 *
 *   $onenet/P/{id}/online  "online" / "offline"
 *   $onenet/P/{id}/dp      the latest data points, decoded: the point "led", 1 / 0
 *
 * One line per device, sorted by id: "ID online|offline on|off", with "?"
 * for what the broker holds nothing (or nothing readable) about. The list
 * is printed once the retained messages stopped arriving (DEVICES_QUIET_MS
 * after the last one, DEVICES_COLLECT_MS at most); --watch then keeps
 * running and prints a device's line again each time it changes, until
 * SIGINT or SIGTERM (exit 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "cli.h"
#include "midge/device.h"

/* Retained messages follow the SUBACK at once; a quiet half second means
 * the broker has sent them all, even over a slow link. */
#define DEVICES_QUIET_MS 500u
/* Never wait longer than this for the first table, however busy the
 * broker: live updates could otherwise postpone it for ever. */
#define DEVICES_COLLECT_MS 5000u

#define DEVICES_ROOT "devices/"
#define DEVICES_JSON_TOKENS 128

/* -1: unknown; 0: offline / off; 1: online / on. */
struct devices_entry {
    char *id; /* heap */
    int online;
    int led;
};

struct devices_table {
    char *root;            /* heap: "devices/" or "$onenet/{product}/" */
    const char *presence;  /* the presence leaf: "status" or "online" */
    const char *state;     /* the LED's leaf: "state" or "dp" */
    bool onenet;           /* the state is the platform's decoded data points */
    struct devices_entry *v; /* heap, grown by doubling */
    size_t count;
    size_t cap;
    bool collecting; /* before the first table: print nothing */
    bool failed;     /* out of memory: the table is incomplete */
    uint32_t last_ms; /* when the last message came */
};

static struct devices_entry *devices_find(struct devices_table *t, const char *id, size_t len)
{
    for (size_t i = 0; i < t->count; i++) {
        if (strlen(t->v[i].id) == len && memcmp(t->v[i].id, id, len) == 0)
            return &t->v[i];
    }
    return NULL;
}

static struct devices_entry *devices_add(struct devices_table *t, const char *id, size_t len)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct devices_entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, id, len);
    copy[len] = '\0';
    t->v[t->count] = (struct devices_entry){ .id = copy, .online = -1, .led = -1 };
    return &t->v[t->count++];
}

static const char *devices_word(int v, const char *yes, const char *no)
{
    return v < 0 ? "?" : v ? yes : no;
}

static void devices_print(const struct devices_entry *e)
{
    printf("%s %s %s\n", e->id, devices_word(e->online, "online", "offline"),
           devices_word(e->led, "on", "off"));
}

static int devices_compare(const void *a, const void *b)
{
    const struct devices_entry *x = a;
    const struct devices_entry *y = b;
    return strcmp(x->id, y->id);
}

static bool devices_tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = strlen(s);
    return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
           memcmp(js + t->start, s, n) == 0;
}

/* The "led" member of a state object: "on" -> 1, "off" -> 0, else -1. jsmn
 * tokens come in document order, so a member's next sibling is the first
 * token starting after the member's value ends. */
static int devices_parse_state(const void *payload, size_t len)
{
    jsmn_parser parser;
    jsmntok_t tok[DEVICES_JSON_TOKENS];
    const char *js = payload;

    jsmn_init(&parser);
    int n = jsmn_parse(&parser, js, len, tok, DEVICES_JSON_TOKENS);
    if (n < 1 || tok[0].type != JSMN_OBJECT)
        return -1;
    int i = 1;
    while (i + 1 < n && tok[i].start < tok[0].end) {
        const jsmntok_t *key = &tok[i];
        const jsmntok_t *val = &tok[i + 1];
        bool on = false;
        if (key->type == JSMN_STRING && key->end - key->start == 3 &&
            memcmp(js + key->start, "led", 3) == 0)
            return val->type == JSMN_STRING &&
                           midge_device_led_parse(js + val->start, (size_t)(val->end - val->start),
                                                  &on)
                       ? on
                       : -1;
        for (i += 2; i < n && tok[i].start < val->end; i++)
            ;
    }
    return -1;
}

/* The platform's decoded data points,
 * {"type":3,"points":[{"id":"led","value":1}]}: the last point "led" (the
 * plugin writes "id" first in each point, "value" last). */
static int devices_parse_points(const void *payload, size_t len)
{
    jsmn_parser parser;
    jsmntok_t tok[DEVICES_JSON_TOKENS];
    const char *js = payload;
    int led = -1;

    jsmn_init(&parser);
    int n = jsmn_parse(&parser, js, len, tok, DEVICES_JSON_TOKENS);
    for (int i = 0; i + 1 < n; i++) {
        if (!devices_tok_is(js, &tok[i], "id") || !devices_tok_is(js, &tok[i + 1], "led"))
            continue;
        for (int j = i + 2; j + 1 < n && tok[j].type != JSMN_OBJECT; j++) {
            if (devices_tok_is(js, &tok[j], "value") && tok[j + 1].type == JSMN_PRIMITIVE) {
                char c = js[tok[j + 1].start];
                led = c == '1' ? 1 : c == '0' ? 0 : -1;
                break;
            }
        }
    }
    return led;
}

static int devices_parse_status(const void *payload, size_t len)
{
    if (len == 6 && memcmp(payload, "online", 6) == 0)
        return 1;
    if (len == 7 && memcmp(payload, "offline", 7) == 0)
        return 0;
    return -1;
}

/* {root}{id}/{presence} or {root}{id}/{state}: the id and which one. */
static bool devices_split(const struct devices_table *t, const midge_publish *msg,
                          const char **id, size_t *id_len, bool *is_status)
{
    const size_t root = strlen(t->root);
    const char *topic = msg->topic;

    if (msg->topic_len <= root || memcmp(topic, t->root, root) != 0)
        return false;
    const char *slash = memchr(topic + root, '/', msg->topic_len - root);
    if (slash == NULL || slash == topic + root)
        return false;
    size_t rest = msg->topic_len - (size_t)(slash + 1 - topic);
    size_t np = strlen(t->presence), ns = strlen(t->state);
    *is_status = rest == np && memcmp(slash + 1, t->presence, np) == 0;
    if (!*is_status && !(rest == ns && memcmp(slash + 1, t->state, ns) == 0))
        return false;
    *id = topic + root;
    *id_len = (size_t)(slash - *id);
    return true;
}

static void devices_on_message(void *user, const midge_publish *msg)
{
    struct devices_table *t = user;
    const char *id;
    size_t id_len;
    bool is_status;

    t->last_ms = midge_clock_ms();
    if (!devices_split(t, msg, &id, &id_len, &is_status))
        return;
    struct devices_entry *e = devices_find(t, id, id_len);
    if (e == NULL)
        e = devices_add(t, id, id_len);
    if (e == NULL) {
        t->failed = true;
        return;
    }
    int *field = is_status ? &e->online : &e->led;
    int value = is_status  ? devices_parse_status(msg->payload, msg->payload_len)
                : t->onenet ? devices_parse_points(msg->payload, msg->payload_len)
                            : devices_parse_state(msg->payload, msg->payload_len);
    if (*field == value)
        return;
    *field = value;
    if (!t->collecting) {
        devices_print(e);
        fflush(stdout);
    }
}

/* Collect until DEVICES_QUIET_MS passed without a message (or at most
 * DEVICES_COLLECT_MS). */
static bool devices_collect(struct cli_conn *k, struct devices_table *t)
{
    uint32_t start = midge_clock_ms();

    t->last_ms = start;
    for (;;) {
        uint32_t now = midge_clock_ms();
        uint32_t quiet = now - t->last_ms;
        if (quiet >= DEVICES_QUIET_MS || now - start >= DEVICES_COLLECT_MS ||
            cli_stop_requested())
            return true;
        midge_status st = cli_conn_serve(k, -1, DEVICES_QUIET_MS - quiet, NULL);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return false;
        }
    }
}

/* --watch: every change is printed by the message callback. */
static int devices_watch(struct cli_conn *k)
{
    while (!cli_stop_requested()) {
        midge_status st = cli_conn_serve(k, -1, UINT32_MAX, NULL);
        if (st != MIDGE_OK) {
            cli_conn_report_lost(k, st);
            return CLI_EXIT_ERROR;
        }
    }
    return CLI_EXIT_OK;
}

static bool devices_subscribe(struct cli_conn *k, const struct devices_table *t)
{
    char presence[160], state[160];
    snprintf(presence, sizeof presence, "%s+/%s", t->root, t->presence);
    snprintf(state, sizeof state, "%s+/%s", t->root, t->state);
    const midge_subscription subs[] = {
        { .filter = presence, .qos = 1 },
        { .filter = state, .qos = 1 },
    };
    midge_status st = midge_client_subscribe_many(&k->client, subs, 2, NULL);
    if (st != MIDGE_OK) {
        cli_error(k->opts->prog, "subscribe to %s and %s failed: %s", presence, state,
                  midge_strerror(st));
        return false;
    }
    return true;
}

static int devices_list(struct cli_conn *k, struct devices_table *t)
{
    if (!devices_subscribe(k, t) || !devices_collect(k, t))
        return CLI_EXIT_ERROR;
    if (t->failed) {
        cli_error(k->opts->prog, "out of memory");
        return CLI_EXIT_ERROR;
    }
    /* No device: t->v is still NULL, which qsort may not be given. */
    if (t->count > 1)
        qsort(t->v, t->count, sizeof t->v[0], devices_compare);
    for (size_t i = 0; i < t->count; i++)
        devices_print(&t->v[i]);
    fflush(stdout);
    if (t->count == 0)
        cli_error(k->opts->prog, "no device has reported under %s", t->root);
    t->collecting = false;
    return k->opts->watch ? devices_watch(k) : CLI_EXIT_OK;
}

int cli_devices_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct cli_conn k;
    struct devices_table t = { .collecting = true };

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    if (o.device_id != NULL || o.prefix != NULL) {
        cli_error(o.prog, "--device-id and --prefix do not apply to devices (it lists them all)");
        return CLI_EXIT_ERROR;
    }
    /* The topics of the profile: a plain broker's, or the platform's. */
    t.onenet = o.profile != NULL && strcmp(o.profile, "onenet") == 0;
    if (o.profile != NULL && !t.onenet && strcmp(o.profile, "mqtt") != 0) {
        cli_error(o.prog, "--profile %s: devices knows mqtt and onenet", o.profile);
        return CLI_EXIT_ERROR;
    }
    if (t.onenet && (o.product_id == NULL || !o.host_set || o.product_id[0] == '\0' ||
                     strpbrk(o.product_id, "+#/") != NULL)) {
        cli_error(o.prog, "--profile onenet needs --product-id, -P (the product's master key) "
                          "and -h (the broker running the platform plugin)");
        return CLI_EXIT_ERROR;
    }
    t.presence = t.onenet ? "online" : "status";
    t.state = t.onenet ? "dp" : "state";
    t.root = t.onenet ? malloc(strlen(o.product_id) + sizeof "$onenet//") : strdup(DEVICES_ROOT);
    if (t.root == NULL) {
        cli_error(o.prog, "out of memory");
        return CLI_EXIT_ERROR;
    }
    if (t.onenet)
        sprintf(t.root, "$onenet/%s/", o.product_id);
    struct cli_conn_sizes sizes = { .tx = 4096, .rx = 65536, .store = 0 };
    cli_signals_install();
    /* The callback before the connect: with -c a persistent session's
     * queued messages may come in the same read as the CONNACK. */
    int rc = cli_conn_open(&k, &o, &sizes, devices_on_message, &t);
    if (rc != CLI_EXIT_OK) {
        free(t.root);
        return rc;
    }
    rc = devices_list(&k, &t);
    cli_conn_close(&k);
    for (size_t i = 0; i < t.count; i++)
        free(t.v[i].id);
    free(t.v);
    free(t.root);
    return rc;
}
