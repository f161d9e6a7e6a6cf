/*
 * midge devices: the devices a broker knows of, from the retained presence
 * and state every `midge device` of the mqtt profile keeps under its
 * prefix (include/midge/device.h), --prefix's template with {device-id}
 * standing for each id (default devices/{device-id}):
 *
 *   {prefix}/status  "online" / "offline" (the will says offline)
 *   {prefix}/state   {"led":"on"} / {"led":"off"}
 *
 * One line per device, sorted by id with numbers in ids compared as
 * numbers (bench-0-2 before bench-0-10): "ID online|offline on|off", with
 * "?" for what the broker holds nothing (or nothing readable) about. The
 * list is printed once the retained messages stopped arriving
 * (DEVICES_QUIET_MS after the last one, DEVICES_COLLECT_MS at most);
 * --watch then keeps running and prints a device's line again each time
 * it changes, until SIGINT or SIGTERM (exit 0). --forget ID removes the
 * retained presence and state of a device that is not online.
 *
 * With --profile onenet it asks the OneNET platform plugin instead
 * (plugins/mosquitto-onenet/), as an operator of --product-id P: the
 * template is the plugin's $onenet/P/{device-id}, with other leaves:
 *
 *   $onenet/P/{device-id}/online  "online" / "offline"
 *   $onenet/P/{device-id}/dp      the latest data points, decoded: the point "led", 1 / 0
 *
 * The platform owns that tree: --prefix does not apply, and --forget is
 * refused (a device leaves the platform by leaving its registry).
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

#define DEVICES_TEMPLATE "devices/{device-id}"
#define DEVICES_MARK "{device-id}"
#define DEVICES_ONENET_TEMPLATE "$onenet/%s/" DEVICES_MARK
/* Enough for a data point document of a few points. */
#define DEVICES_JSON_TOKENS 128
/* --forget: how long the broker may take to acknowledge the removal. */
#define DEVICES_ACK_TIMEOUT_MS 10000u

/* -1: unknown; 0: offline / off; 1: online / on. */
struct devices_entry {
    char *id; /* heap */
    int online;
    int led;
};

/* The template cut around its {device-id}: a device's topics are
 * head + id + tail + "/" + a leaf (presence or state); filters[] find them
 * all. */
struct devices_topics {
    const char *head;
    size_t head_len;
    const char *tail;
    const char *presence; /* the presence leaf: "status" or "online" */
    const char *state;    /* the LED's leaf: "state" or "dp" */
    bool onenet;          /* the state is the platform's decoded data points */
    char *filters[2]; /* heap: .../status and .../state, '+' or the one id */
    char *shown;      /* heap: where the devices are looked for, for messages */
};

struct devices_table {
    struct devices_topics topics;
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

/* Compare two runs of digits by value: leading zeros aside, the longer
 * run is the larger number, and runs of one length compare as text. */
static int devices_compare_numbers(const char **a, const char **b)
{
    const char *x = *a;
    const char *y = *b;

    while (*x == '0')
        x++;
    while (*y == '0')
        y++;
    size_t nx = strspn(x, "0123456789");
    size_t ny = strspn(y, "0123456789");
    int c = nx != ny ? (nx < ny ? -1 : 1) : memcmp(x, y, nx);
    *a = x + nx;
    *b = y + ny;
    return c;
}

/* Natural order: bench-0-2 before bench-0-10; ties (007 and 7) by bytes,
 * so the order is total. */
static int devices_compare(const void *a, const void *b)
{
    const char *x = ((const struct devices_entry *)a)->id;
    const char *y = ((const struct devices_entry *)b)->id;
    const char *px = x;
    const char *py = y;

    while (*px != '\0' && *py != '\0') {
        bool dx = *px >= '0' && *px <= '9';
        bool dy = *py >= '0' && *py <= '9';
        int c = dx && dy ? devices_compare_numbers(&px, &py)
                         : (unsigned char)*px - (unsigned char)*py;
        if (c != 0)
            return c < 0 ? -1 : 1;
        if (!(dx && dy)) {
            px++;
            py++;
        }
    }
    if (*px != *py)
        return *px == '\0' ? -1 : 1;
    return strcmp(x, y);
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

static bool devices_tok_is(const char *js, const jsmntok_t *t, const char *s)
{
    size_t n = strlen(s);
    return t->type == JSMN_STRING && (size_t)(t->end - t->start) == n &&
           memcmp(js + t->start, s, n) == 0;
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

/* Whether topic[0..*len) ends in "/" + leaf; if so *len loses it. */
static bool devices_cut_leaf(const char *topic, size_t *len, const char *leaf)
{
    size_t n = strlen(leaf);

    if (*len <= n + 1 || topic[*len - n - 1] != '/' || memcmp(topic + *len - n, leaf, n) != 0)
        return false;
    *len -= n + 1;
    return true;
}

/* head + id + tail + "/" + the presence or the state leaf: the id and
 * which one. */
static bool devices_split(const struct devices_topics *d, const midge_publish *msg,
                          const char **id, size_t *id_len, bool *is_status)
{
    const char *topic = msg->topic;
    size_t len = msg->topic_len;
    size_t tail_len = strlen(d->tail);

    *is_status = devices_cut_leaf(topic, &len, d->presence);
    if (!*is_status && !devices_cut_leaf(topic, &len, d->state))
        return false;
    if (len <= d->head_len + tail_len || memcmp(topic, d->head, d->head_len) != 0 ||
        memcmp(topic + len - tail_len, d->tail, tail_len) != 0)
        return false;
    *id = topic + d->head_len;
    *id_len = len - tail_len - d->head_len;
    /* The id is part of one topic level, as '+' matched it. */
    return memchr(*id, '/', *id_len) == NULL;
}

static void devices_on_message(void *user, const midge_publish *msg)
{
    struct devices_table *t = user;
    const char *id;
    size_t id_len;
    bool is_status;

    t->last_ms = midge_clock_ms();
    if (!devices_split(&t->topics, msg, &id, &id_len, &is_status))
        return;
    struct devices_entry *e = devices_find(t, id, id_len);
    if (e == NULL)
        e = devices_add(t, id, id_len);
    if (e == NULL) {
        t->failed = true;
        return;
    }
    int *field = is_status ? &e->online : &e->led;
    int value = is_status          ? devices_parse_status(msg->payload, msg->payload_len)
                : t->topics.onenet ? devices_parse_points(msg->payload, msg->payload_len)
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

/* head + what + tail + "/" + leaf, on the heap (NULL when out of memory). */
static char *devices_join(const struct devices_topics *d, const char *what, const char *leaf)
{
    size_t n = d->head_len + strlen(what) + strlen(d->tail) + strlen(leaf) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%.*s%s%s/%s", (int)d->head_len, d->head, what, d->tail, leaf);
    return s;
}

/* Cut the template (checked by the parser: one {device-id}, no wildcard)
 * and make the filters: every id's topics, or only `id`'s. The level that
 * holds {device-id} becomes '+' whole, and devices_split checks the rest
 * of it ("dev-{device-id}" finds dev-1, not lamp1). */
static bool devices_topics_init(struct devices_topics *d, const char *template, const char *id)
{
    const char *mark = strstr(template, DEVICES_MARK);
    const char *level = mark;
    const char *level_end = strchr(mark, '/');

    while (level > template && level[-1] != '/')
        level--;
    d->head = template;
    d->head_len = (size_t)(mark - template);
    d->tail = mark + sizeof DEVICES_MARK - 1;
    if (level_end == NULL)
        level_end = mark + strlen(mark);
    struct devices_topics level_cut = {
        .head = template, .head_len = (size_t)(level - template), .tail = level_end,
    };
    const struct devices_topics *f = id != NULL ? d : &level_cut;
    const char *what = id != NULL ? id : "+";
    d->filters[0] = devices_join(f, what, d->presence);
    d->filters[1] = devices_join(f, what, d->state);
    d->shown = devices_join(f, what, "");
    return d->filters[0] != NULL && d->filters[1] != NULL && d->shown != NULL;
}

static void devices_topics_free(struct devices_topics *d)
{
    free(d->filters[0]);
    free(d->filters[1]);
    free(d->shown);
}

static bool devices_subscribe(struct cli_conn *k, const struct devices_topics *d)
{
    const midge_subscription subs[] = {
        { .filter = d->filters[0], .qos = 1 },
        { .filter = d->filters[1], .qos = 1 },
    };
    midge_status st = midge_client_subscribe_many(&k->client, subs, 2, NULL);
    if (st != MIDGE_OK) {
        cli_error(k->opts->prog, "subscribe to %s and %s failed: %s", d->filters[0],
                  d->filters[1], midge_strerror(st));
        return false;
    }
    return true;
}

/* --forget: empty retained messages clear the presence and the state, and
 * the broker's PUBACKs say they are gone. A device still online would
 * report itself again at its next connect: it is refused. */
static int devices_forget(struct cli_conn *k, struct devices_table *t)
{
    const struct cli_options *o = k->opts;
    const struct devices_entry *e = devices_find(t, o->forget, strlen(o->forget));

    if (e == NULL) {
        cli_error(o->prog, "no device %s: nothing retained under %s", o->forget,
                  t->topics.shown);
        return CLI_EXIT_ERROR;
    }
    if (e->online == 1) {
        cli_error(o->prog, "%s is online; stop it first (it would report itself again)",
                  o->forget);
        return CLI_EXIT_ERROR;
    }
    for (int i = 0; i < 2; i++) {
        midge_status st = midge_client_publish(&k->client, t->topics.filters[i], NULL, 0, 1,
                                               true, NULL);
        if (st == MIDGE_OK && i == 1)
            st = midge_client_flush(&k->client, DEVICES_ACK_TIMEOUT_MS);
        if (st != MIDGE_OK) {
            cli_error(o->prog, "forgetting %s failed: %s", o->forget, midge_strerror(st));
            return CLI_EXIT_ERROR;
        }
    }
    return CLI_EXIT_OK;
}

static int devices_list(struct cli_conn *k, struct devices_table *t)
{
    if (!devices_subscribe(k, &t->topics) || !devices_collect(k, t))
        return CLI_EXIT_ERROR;
    if (t->failed) {
        cli_error(k->opts->prog, "out of memory");
        return CLI_EXIT_ERROR;
    }
    if (k->opts->forget != NULL)
        return devices_forget(k, t);
    /* No device: t->v is still NULL, which qsort may not be given. */
    if (t->count > 1)
        qsort(t->v, t->count, sizeof t->v[0], devices_compare);
    for (size_t i = 0; i < t->count; i++)
        devices_print(&t->v[i]);
    fflush(stdout);
    if (t->count == 0)
        cli_error(k->opts->prog, "no device has reported under %s", t->topics.shown);
    t->collecting = false;
    return k->opts->watch ? devices_watch(k) : CLI_EXIT_OK;
}

/* The profile's template and leaves: a plain broker's (--prefix), or the
 * platform's tree of --product-id. On the heap; NULL after one line on
 * stderr. */
static char *devices_template(const struct cli_options *o, struct devices_topics *d)
{
    if (o->device_id != NULL) {
        cli_error(o->prog, "--device-id does not apply to devices (it lists them all)");
        return NULL;
    }
    d->onenet = o->profile != NULL && strcmp(o->profile, "onenet") == 0;
    if (o->profile != NULL && !d->onenet && strcmp(o->profile, "mqtt") != 0) {
        cli_error(o->prog, "--profile %s: devices knows mqtt and onenet", o->profile);
        return NULL;
    }
    d->presence = d->onenet ? "online" : "status";
    d->state = d->onenet ? "dp" : "state";
    if (!d->onenet) {
        char *s = strdup(o->prefix != NULL ? o->prefix : DEVICES_TEMPLATE);
        if (s == NULL)
            cli_error(o->prog, "out of memory");
        return s;
    }
    if (o->prefix != NULL || o->forget != NULL) {
        cli_error(o->prog, "--profile onenet: the platform owns its $onenet/ tree (%s does not "
                           "apply; a device leaves it by leaving the registry)",
                  o->prefix != NULL ? "--prefix" : "--forget");
        return NULL;
    }
    if (o->product_id == NULL || !o->host_set || o->product_id[0] == '\0' ||
        strpbrk(o->product_id, "+#/{") != NULL) {
        cli_error(o->prog, "--profile onenet needs --product-id, -P (the product's master key) "
                           "and -h (the broker running the platform plugin)");
        return NULL;
    }
    size_t n = strlen(o->product_id) + sizeof DEVICES_ONENET_TEMPLATE;
    char *s = malloc(n);
    if (s == NULL)
        cli_error(o->prog, "out of memory");
    else
        snprintf(s, n, DEVICES_ONENET_TEMPLATE, o->product_id);
    return s;
}

int cli_devices_run(const struct cli_command *cmd, int argc, char **argv)
{
    struct cli_options o;
    struct cli_conn k;
    struct devices_table t = { .collecting = true };

    enum cli_parse_result pr = cli_parse(cmd, argc, argv, &o);
    if (pr != CLI_PARSE_RUN)
        return pr == CLI_PARSE_EXIT_OK ? CLI_EXIT_OK : CLI_EXIT_ERROR;
    char *template = devices_template(&o, &t.topics);
    if (template == NULL)
        return CLI_EXIT_ERROR;
    if (!devices_topics_init(&t.topics, template, o.forget)) {
        cli_error(o.prog, "out of memory");
        devices_topics_free(&t.topics);
        free(template);
        return CLI_EXIT_ERROR;
    }
    /* --forget publishes its two removals at QoS 1. */
    size_t topic_max = strlen(t.topics.filters[0]) + 16;
    struct cli_conn_sizes sizes = {
        .tx = 4096 + topic_max, .rx = 65536,
        .store = o.forget != NULL ? 2 * (topic_max + MIDGE_STORE_RECORD_OVERHEAD) : 0,
    };
    cli_signals_install();
    /* The callback before the connect: with -c a persistent session's
     * queued messages may come in the same read as the CONNACK. */
    int rc = cli_conn_open(&k, &o, &sizes, devices_on_message, &t);
    if (rc == CLI_EXIT_OK) {
        rc = devices_list(&k, &t);
        cli_conn_close(&k);
    }
    devices_topics_free(&t.topics);
    free(template);
    for (size_t i = 0; i < t.count; i++)
        free(t.v[i].id);
    free(t.v);
    return rc;
}
