/*
 * Case files -> resolved cases, with jsmn for the JSON.
 *
 * jsmn only tokenises: it hands back a flat array of tokens in document
 * order, where an object's `size` counts its keys and each key's `size` is 1
 * (its value). Everything below walks that array by index.
 */
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

#include "notation.h"

/* Keys as found on a group or on a test; -1 / NULL = absent, so that the
 * test-over-group-over-default rule can be applied afterwards. */
typedef struct case_keys {
    int ver;
    int connect;
    int connack;
    int expect_disconnect;
    int clean_start;
    int command_tok;    /* token index of the string, -1 = absent */
    int group_msgs_tok; /* token index of the array, -1 = absent */
} case_keys;

typedef struct json_doc {
    const char *text;
    jsmntok_t *toks;
    int count;
    char *err;
    size_t err_cap;
} json_doc;

static bool doc_fail(json_doc *doc, int tok, const char *what)
{
    int offset = (tok >= 0 && tok < doc->count) ? doc->toks[tok].start : 0;
    snprintf(doc->err, doc->err_cap, "%s (at byte %d)", what, offset);
    return false;
}

/* Index just past the value starting at `i`, children included. */
static int json_skip(const json_doc *doc, int i)
{
    int pending = 1;
    while (pending > 0 && i < doc->count) {
        pending += doc->toks[i].size;
        pending--;
        i++;
    }
    return i;
}

static bool json_is_key(const json_doc *doc, int i, const char *key)
{
    const jsmntok_t *t = &doc->toks[i];
    size_t len = (size_t)(t->end - t->start);
    return t->type == JSMN_STRING && strlen(key) == len &&
           memcmp(doc->text + t->start, key, len) == 0;
}

static bool json_bool(json_doc *doc, int i, int *out)
{
    const jsmntok_t *t = &doc->toks[i];
    const char *s = doc->text + t->start;
    size_t len = (size_t)(t->end - t->start);
    if (t->type == JSMN_PRIMITIVE && len == 4 && memcmp(s, "true", 4) == 0) {
        *out = 1;
        return true;
    }
    if (t->type == JSMN_PRIMITIVE && len == 5 && memcmp(s, "false", 5) == 0) {
        *out = 0;
        return true;
    }
    return doc_fail(doc, i, "expected true or false");
}

static bool json_int(json_doc *doc, int i, int *out)
{
    const jsmntok_t *t = &doc->toks[i];
    char digits[16];
    size_t len = (size_t)(t->end - t->start);
    if (t->type != JSMN_PRIMITIVE || len == 0 || len >= sizeof digits) {
        return doc_fail(doc, i, "expected a small integer");
    }
    memcpy(digits, doc->text + t->start, len);
    digits[len] = '\0';
    char *end;
    long v = strtol(digits, &end, 10);
    if (*end != '\0' || v < 0 || v > 255) {
        return doc_fail(doc, i, "expected a small integer");
    }
    *out = (int)v;
    return true;
}

/* A copy of a string token. The case files use no escapes; refusing them
 * keeps a name or payload from silently meaning something else. */
static char *json_strdup(json_doc *doc, int i)
{
    const jsmntok_t *t = &doc->toks[i];
    size_t len = (size_t)(t->end - t->start);
    if (t->type != JSMN_STRING) {
        doc_fail(doc, i, "expected a string");
        return NULL;
    }
    if (memchr(doc->text + t->start, '\\', len) != NULL) {
        doc_fail(doc, i, "escape sequences are not supported");
        return NULL;
    }
    char *s = malloc(len + 1);
    if (s == NULL) {
        doc_fail(doc, i, "out of memory");
        return NULL;
    }
    memcpy(s, doc->text + t->start, len);
    s[len] = '\0';
    return s;
}

static void msgs_free(case_msgs *msgs)
{
    for (size_t i = 0; i < msgs->count; i++) {
        free(msgs->items[i].bytes);
    }
    free(msgs->items);
    msgs->items = NULL;
    msgs->count = 0;
}

/* One {"type": "send"|"recv", "payload": "..."} object. */
static bool parse_msg(json_doc *doc, int i, case_msg *msg)
{
    int type_tok = -1;
    int payload_tok = -1;
    int keys = doc->toks[i].size;
    if (doc->toks[i].type != JSMN_OBJECT) {
        return doc_fail(doc, i, "a message must be an object");
    }
    int k = i + 1;
    for (int n = 0; n < keys; n++, k = json_skip(doc, k + 1)) {
        if (json_is_key(doc, k, "type")) {
            type_tok = k + 1;
        } else if (json_is_key(doc, k, "payload")) {
            payload_tok = k + 1;
        }
    }
    if (type_tok < 0 || payload_tok < 0 || doc->toks[payload_tok].type != JSMN_STRING) {
        return doc_fail(doc, i, "a message needs a type and a string payload");
    }
    if (json_is_key(doc, type_tok, "send")) {
        msg->dir = CASE_SEND;
    } else if (json_is_key(doc, type_tok, "recv")) {
        msg->dir = CASE_RECV;
    } else {
        return doc_fail(doc, type_tok, "message type must be send or recv");
    }
    const jsmntok_t *p = &doc->toks[payload_tok];
    size_t len = (size_t)(p->end - p->start);
    size_t cap = NOTATION_OUTPUT_BOUND(len);
    msg->bytes = malloc(cap);
    if (msg->bytes == NULL) {
        return doc_fail(doc, i, "out of memory");
    }
    char why[128];
    if (!notation_parse(doc->text + p->start, len, msg->bytes, cap, &msg->len, why, sizeof why)) {
        return doc_fail(doc, payload_tok, why);
    }
    return true;
}

static bool parse_msgs(json_doc *doc, int i, case_msgs *out)
{
    const jsmntok_t *t = &doc->toks[i];
    if (t->type != JSMN_ARRAY) {
        return doc_fail(doc, i, "messages must be an array");
    }
    out->items = calloc((size_t)t->size + 1, sizeof *out->items);
    if (out->items == NULL) {
        return doc_fail(doc, i, "out of memory");
    }
    int count = t->size;
    int k = i + 1;
    for (int n = 0; n < count; n++, k = json_skip(doc, k)) {
        /* Counted before parsing so a half-built message is freed too. */
        out->count++;
        if (!parse_msg(doc, k, &out->items[n])) {
            return false;
        }
    }
    return true;
}

/* The keys shared by groups and tests. Unknown keys (comment, ...) are
 * skipped; "tests", "name" and "msgs" are the caller's. */
static bool parse_keys(json_doc *doc, int key, case_keys *keys)
{
    int value = key + 1;
    if (json_is_key(doc, key, "ver")) {
        return json_int(doc, value, &keys->ver);
    }
    if (json_is_key(doc, key, "connect")) {
        return json_bool(doc, value, &keys->connect);
    }
    if (json_is_key(doc, key, "connack")) {
        return json_bool(doc, value, &keys->connack);
    }
    if (json_is_key(doc, key, "expect_disconnect")) {
        return json_bool(doc, value, &keys->expect_disconnect);
    }
    if (json_is_key(doc, key, "clean_start")) {
        return json_bool(doc, value, &keys->clean_start);
    }
    if (json_is_key(doc, key, "command")) {
        keys->command_tok = value;
    } else if (json_is_key(doc, key, "group_msgs")) {
        keys->group_msgs_tok = value;
    }
    return true;
}

static int pick(int test_value, int group_value, int fallback)
{
    if (test_value >= 0) {
        return test_value;
    }
    return group_value >= 0 ? group_value : fallback;
}

static const case_keys no_keys = {-1, -1, -1, -1, -1, -1, -1};

/* Apply the override rule and build the case's byte sequences. */
static bool resolve_case(json_doc *doc, const case_keys *g, const case_keys *t, conf_case *c)
{
    c->ver = pick(t->ver, g->ver, 0);
    c->group_ver = pick(g->ver, -1, 0);
    c->connect = pick(t->connect, g->connect, 1);
    c->connack = pick(t->connack, g->connack, 1);
    c->expect_disconnect = pick(t->expect_disconnect, g->expect_disconnect, 1);
    c->clean_session = pick(t->clean_start, g->clean_start, 1);
    int command_tok = pick(t->command_tok, g->command_tok, -1);
    if (command_tok >= 0) {
        c->command = json_strdup(doc, command_tok);
        if (c->command == NULL) {
            return false;
        }
    }
    int group_msgs_tok = pick(t->group_msgs_tok, g->group_msgs_tok, -1);
    if (group_msgs_tok >= 0 && !parse_msgs(doc, group_msgs_tok, &c->group_msgs)) {
        return false;
    }
    return true;
}

static bool parse_test(json_doc *doc, int i, const case_keys *group_keys, conf_case *c)
{
    case_keys keys = no_keys;
    int name_tok = -1;
    int msgs_tok = -1;
    if (doc->toks[i].type != JSMN_OBJECT) {
        return doc_fail(doc, i, "a test must be an object");
    }
    int count = doc->toks[i].size;
    int k = i + 1;
    for (int n = 0; n < count; n++, k = json_skip(doc, k + 1)) {
        if (json_is_key(doc, k, "name")) {
            name_tok = k + 1;
        } else if (json_is_key(doc, k, "msgs")) {
            msgs_tok = k + 1;
        } else if (!parse_keys(doc, k, &keys)) {
            return false;
        }
    }
    if (name_tok < 0) {
        return doc_fail(doc, i, "a test needs a name");
    }
    c->name = json_strdup(doc, name_tok);
    if (c->name == NULL || !resolve_case(doc, group_keys, &keys, c)) {
        return false;
    }
    return msgs_tok < 0 || parse_msgs(doc, msgs_tok, &c->msgs);
}

static bool grow(case_file *out, size_t *cap)
{
    if (out->count < *cap) {
        return true;
    }
    size_t next = *cap == 0 ? 64 : *cap * 2;
    conf_case *more = realloc(out->cases, next * sizeof *more);
    if (more == NULL) {
        return false;
    }
    memset(more + *cap, 0, (next - *cap) * sizeof *more);
    out->cases = more;
    *cap = next;
    return true;
}

static bool parse_tests(json_doc *doc, int tests_tok, const char *group,
                        const case_keys *group_keys, case_file *out, size_t *cap)
{
    if (doc->toks[tests_tok].type != JSMN_ARRAY) {
        return doc_fail(doc, tests_tok, "tests must be an array");
    }
    int count = doc->toks[tests_tok].size;
    int k = tests_tok + 1;
    for (int n = 0; n < count; n++, k = json_skip(doc, k)) {
        if (!grow(out, cap)) {
            return doc_fail(doc, k, "out of memory");
        }
        conf_case *c = &out->cases[out->count++];
        c->index = n + 1;
        c->group = strdup(group);
        if (c->group == NULL) {
            return doc_fail(doc, k, "out of memory");
        }
        if (!parse_test(doc, k, group_keys, c)) {
            return false;
        }
    }
    return true;
}

static bool parse_group(json_doc *doc, int i, case_file *out, size_t *cap)
{
    case_keys keys = no_keys;
    int name_tok = -1;
    int tests_tok = -1;
    if (doc->toks[i].type != JSMN_OBJECT) {
        return doc_fail(doc, i, "a group must be an object");
    }
    int count = doc->toks[i].size;
    int k = i + 1;
    /* Keys first, tests after: a group's keys may follow its "tests". */
    for (int n = 0; n < count; n++, k = json_skip(doc, k + 1)) {
        if (json_is_key(doc, k, "group")) {
            name_tok = k + 1;
        } else if (json_is_key(doc, k, "tests")) {
            tests_tok = k + 1;
        } else if (!parse_keys(doc, k, &keys)) {
            return false;
        }
    }
    if (name_tok < 0 || tests_tok < 0) {
        return doc_fail(doc, i, "a group needs a name and tests");
    }
    char *group = json_strdup(doc, name_tok);
    if (group == NULL) {
        return false;
    }
    bool ok = parse_tests(doc, tests_tok, group, &keys, out, cap);
    free(group);
    return ok;
}

static char *read_file(const char *path, size_t *len, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot open %s", path);
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (cap - *len < 4096) {
            char *more = realloc(text, cap + 65536);
            if (more == NULL) {
                break;
            }
            text = more;
            cap += 65536;
        }
        size_t n = fread(text + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0) {
            break;
        }
    }
    bool failed = ferror(f) || text == NULL;
    fclose(f);
    if (failed) {
        free(text);
        snprintf(err, err_cap, "cannot read %s", path);
        return NULL;
    }
    return text;
}

static jsmntok_t *tokenize(const char *text, size_t len, int *count, char *err, size_t err_cap)
{
    jsmn_parser parser;
    jsmn_init(&parser);
    /* A first pass without tokens only counts them. */
    int n = jsmn_parse(&parser, text, len, NULL, 0);
    if (n <= 0) {
        snprintf(err, err_cap, "invalid JSON (jsmn error %d)", n);
        return NULL;
    }
    jsmntok_t *toks = calloc((size_t)n, sizeof *toks);
    if (toks == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    jsmn_init(&parser);
    *count = jsmn_parse(&parser, text, len, toks, (unsigned)n);
    if (*count != n) {
        free(toks);
        snprintf(err, err_cap, "invalid JSON (jsmn error %d)", *count);
        return NULL;
    }
    return toks;
}

bool cases_load(const char *path, case_file *out, char *err, size_t err_cap)
{
    size_t len;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    char *text = read_file(path, &len, err, err_cap);
    if (text == NULL) {
        return false;
    }
    json_doc doc = {text, NULL, 0, err, err_cap};
    doc.toks = tokenize(text, len, &doc.count, err, err_cap);
    bool ok = doc.toks != NULL;
    if (ok && doc.toks[0].type != JSMN_ARRAY) {
        ok = doc_fail(&doc, 0, "a case file must be an array of groups");
    }
    int groups = ok ? doc.toks[0].size : 0;
    int k = 1;
    for (int n = 0; ok && n < groups; n++, k = json_skip(&doc, k)) {
        ok = parse_group(&doc, k, out, &cap);
    }
    free(doc.toks);
    free(text);
    if (!ok) {
        cases_free(out);
    }
    return ok;
}

void cases_free(case_file *file)
{
    for (size_t i = 0; i < file->count; i++) {
        conf_case *c = &file->cases[i];
        free(c->group);
        free(c->name);
        free(c->command);
        msgs_free(&c->group_msgs);
        msgs_free(&c->msgs);
    }
    free(file->cases);
    file->cases = NULL;
    file->count = 0;
}
