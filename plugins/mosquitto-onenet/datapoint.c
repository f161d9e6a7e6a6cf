/*
 * `$dp` payloads to the operators' JSON (datapoint.h). Layouts from
 * onenet.md section 1: byte 0 is the type in bits 0..5, bit 7 (types 6 and
 * 7 only) announces 6 bytes of UTC time; lengths are big-endian, type 7's
 * floats little-endian.
 *
 * JSON input goes through jsmn and is written out again token by token, so
 * what an operator reads is well-formed JSON whatever the device sent:
 * strings are re-escaped, primitives must be JSON numbers or literals.
 */
#include "datapoint.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

_Static_assert(sizeof(jsmntok_t) * ONENET_DP_TOKENS_MAX <= ONENET_DP_WORK_BYTES,
               "ONENET_DP_WORK_BYTES too small for jsmn's tokens");

/* JSON nested deeper than this in a value is refused (the writer recurses). */
#define DP_DEPTH_MAX 32

#define DP_TIME_FLAG 0x80u
#define DP_TYPE_MASK 0x3fu

typedef struct dp_doc {
    const char *js;
    const jsmntok_t *t;
    int n;
    onenet_json *out;
    const char *why;
} dp_doc;

static bool dp_fail(dp_doc *d, const char *why)
{
    if (d->why == NULL)
        d->why = why;
    return false;
}

static bool tok_is(const dp_doc *d, int i, jsmntype_t type)
{
    return i < d->n && d->t[i].type == type;
}

static const char *tok_ptr(const dp_doc *d, int i)
{
    return d->js + d->t[i].start;
}

static size_t tok_len(const dp_doc *d, int i)
{
    return (size_t)(d->t[i].end - d->t[i].start);
}

static bool tok_eq(const dp_doc *d, int i, const char *s)
{
    return tok_is(d, i, JSMN_STRING) && tok_len(d, i) == strlen(s) &&
           memcmp(tok_ptr(d, i), s, tok_len(d, i)) == 0;
}

/* The index after token i and everything nested in it. */
static int tok_skip(const dp_doc *d, int i)
{
    int pending = 1;
    while (pending > 0 && i < d->n) {
        pending += d->t[i].size;
        pending--;
        i++;
    }
    return i;
}

/* jsmn keeps a string's escapes as they were: copy it through the writer's
 * escaping, except that a backslash sequence jsmn accepted is kept. */
static void put_json_string(dp_doc *d, int i)
{
    const char *s = tok_ptr(d, i);
    size_t n = tok_len(d, i);
    onenet_json_raw(d->out, "\"", 1);
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '\\' && k + 1 < n) {
            onenet_json_raw(d->out, s + k, 2);
            k++;
            continue;
        }
        /* One byte through the string escaper, without its quotes. */
        onenet_json one;
        char tmp[16];
        onenet_json_init(&one, tmp, sizeof tmp);
        onenet_json_str(&one, s + k, 1);
        onenet_json_raw(d->out, tmp + 1, one.len - 2);
    }
    onenet_json_raw(d->out, "\"", 1);
}

static bool primitive_ok(const char *s, size_t n)
{
    return (n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
           (n == 4 && memcmp(s, "null", 4) == 0) || onenet_json_is_number(s, n);
}

/* Write the value at token i again; returns the index after it, or -1. */
static int put_value(dp_doc *d, int i, int depth)
{
    if (i >= d->n)
        return dp_fail(d, "JSON ends early"), -1;
    if (depth > DP_DEPTH_MAX)
        return dp_fail(d, "JSON nested too deep"), -1;
    const jsmntok_t *t = &d->t[i];
    switch (t->type) {
    case JSMN_STRING:
        put_json_string(d, i);
        return i + 1;
    case JSMN_PRIMITIVE:
        if (!primitive_ok(tok_ptr(d, i), tok_len(d, i)))
            return dp_fail(d, "JSON value is not a number, true, false or null"), -1;
        onenet_json_raw(d->out, tok_ptr(d, i), tok_len(d, i));
        return i + 1;
    case JSMN_OBJECT:
    case JSMN_ARRAY: {
        bool obj = t->type == JSMN_OBJECT;
        int next = i + 1;
        onenet_json_lit(d->out, obj ? "{" : "[");
        for (int k = 0; k < t->size; k++) {
            if (k > 0)
                onenet_json_lit(d->out, ",");
            if (obj) {
                if (!tok_is(d, next, JSMN_STRING))
                    return dp_fail(d, "JSON object key is not a string"), -1;
                put_json_string(d, next);
                onenet_json_lit(d->out, ":");
                next++;
            }
            next = put_value(d, next, depth + 1);
            if (next < 0)
                return -1;
        }
        onenet_json_lit(d->out, obj ? "}" : "]");
        return next;
    }
    default:
        return dp_fail(d, "JSON token of no type"), -1;
    }
}

/* {"id":..., ["at":...,] "value":...}; the id and at are tokens (strings)
 * or, with id_tok < 0, the given text. */
static bool put_point_tokens(dp_doc *d, bool *first, int id_tok, int at_tok, int value_tok)
{
    onenet_json_lit(d->out, *first ? "{\"id\":" : ",{\"id\":");
    *first = false;
    put_json_string(d, id_tok);
    if (at_tok >= 0) {
        if (!tok_is(d, at_tok, JSMN_STRING))
            return dp_fail(d, "\"at\" is not a string");
        onenet_json_lit(d->out, ",\"at\":");
        put_json_string(d, at_tok);
    }
    onenet_json_lit(d->out, ",\"value\":");
    if (put_value(d, value_tok, 0) < 0)
        return false;
    onenet_json_lit(d->out, "}");
    return true;
}

static int parse_json(dp_doc *d, const uint8_t *p, size_t n, void *work)
{
    jsmn_parser parser;
    jsmn_init(&parser);
    d->js = (const char *)p;
    d->t = work;
    int r = jsmn_parse(&parser, d->js, n, work, ONENET_DP_TOKENS_MAX);
    if (r == JSMN_ERROR_NOMEM)
        return dp_fail(d, "JSON has too many tokens"), -1;
    if (r < 1)
        return dp_fail(d, "not JSON"), -1;
    d->n = r;
    /* One document: nothing after the first value. */
    if (tok_skip(d, 0) != r)
        return dp_fail(d, "more than one JSON value"), -1;
    if (d->t[0].type != JSMN_OBJECT)
        return dp_fail(d, "JSON is not an object"), -1;
    return r;
}

/* The value of key in the object at token obj (the last one if repeated),
 * or -1. */
static int obj_get(const dp_doc *d, int obj, const char *key)
{
    int found = -1;
    for (int i = obj + 1, k = 0; k < d->t[obj].size; k++, i = tok_skip(d, i + 1))
        if (tok_eq(d, i, key))
            found = i + 1;
    return found;
}

/* Type 1: {"datastreams":[{"id":"led","datapoints":[{"at":"...","value":1}]}]} */
static bool dp_type1(dp_doc *d, bool *first)
{
    int streams = obj_get(d, 0, "datastreams");
    if (streams < 0 || !tok_is(d, streams, JSMN_ARRAY))
        return dp_fail(d, "type 1: no \"datastreams\" array");
    int s = streams + 1;
    for (int k = 0; k < d->t[streams].size; k++, s = tok_skip(d, s)) {
        if (!tok_is(d, s, JSMN_OBJECT))
            return dp_fail(d, "type 1: a datastream is not an object");
        int id = obj_get(d, s, "id"), points = obj_get(d, s, "datapoints");
        if (id < 0 || !tok_is(d, id, JSMN_STRING))
            return dp_fail(d, "type 1: a datastream has no string \"id\"");
        if (points < 0 || !tok_is(d, points, JSMN_ARRAY))
            return dp_fail(d, "type 1: a datastream has no \"datapoints\" array");
        int p = points + 1;
        for (int m = 0; m < d->t[points].size; m++, p = tok_skip(d, p)) {
            if (!tok_is(d, p, JSMN_OBJECT))
                return dp_fail(d, "type 1: a datapoint is not an object");
            int value = obj_get(d, p, "value");
            if (value < 0)
                return dp_fail(d, "type 1: a datapoint has no \"value\"");
            if (!put_point_tokens(d, first, id, obj_get(d, p, "at"), value))
                return false;
        }
    }
    return true;
}

/* Type 3: {"temperature":22.5,...}; type 4: {"temperature":{"2015-03-22 22:31:12":22.5}} */
static bool dp_type34(dp_doc *d, bool *first, bool timed)
{
    for (int i = 1, k = 0; k < d->t[0].size; k++, i = tok_skip(d, i + 1)) {
        if (!tok_is(d, i, JSMN_STRING))
            return dp_fail(d, "JSON object key is not a string");
        if (!timed) {
            if (!put_point_tokens(d, first, i, -1, i + 1))
                return false;
            continue;
        }
        int v = i + 1;
        if (!tok_is(d, v, JSMN_OBJECT))
            return dp_fail(d, "type 4: a stream's value is not an object of times");
        for (int a = v + 1, m = 0; m < d->t[v].size; m++, a = tok_skip(d, a + 1))
            if (!put_point_tokens(d, first, i, a, a + 1))
                return false;
    }
    return true;
}

static void put_text_value(onenet_json *out, const char *s, size_t n)
{
    if (onenet_json_is_number(s, n))
        onenet_json_raw(out, s, n);
    else
        onenet_json_str(out, s, n);
}

static void put_text_point(dp_doc *d, bool *first, const char *id, size_t id_len,
                           const char *at, size_t at_len, const char *v, size_t v_len)
{
    onenet_json_lit(d->out, *first ? "{\"id\":" : ",{\"id\":");
    *first = false;
    onenet_json_str(d->out, id, id_len);
    if (at != NULL) {
        onenet_json_lit(d->out, ",\"at\":");
        onenet_json_str(d->out, at, at_len);
    }
    onenet_json_lit(d->out, ",\"value\":");
    put_text_value(d->out, v, v_len);
    onenet_json_lit(d->out, "}");
}

/* Type 5 text: ",;temperature,2015-03-22 22:31:12,22.5;pm2.5,89": the
 * first two characters are the field and record separators; a record is
 * id,value or id,at,value. `at` (may be NULL) is the time of the whole
 * payload (type 6), used where a record gives none. */
static bool dp_text(dp_doc *d, bool *first, const char *s, size_t n, const char *at)
{
    if (n < 2)
        return dp_fail(d, "text: no separators");
    char fs = s[0], rs = s[1];
    if (fs == rs)
        return dp_fail(d, "text: the field and record separators are the same");
    size_t i = 2;
    while (i < n) {
        const char *rec = s + i;
        const char *end = memchr(rec, rs, n - i);
        size_t len = end != NULL ? (size_t)(end - rec) : n - i;
        i += len + 1;
        if (len == 0)
            continue; /* an empty record: "a;;b" or a trailing separator */
        const char *f1 = memchr(rec, fs, len);
        if (f1 == NULL)
            return dp_fail(d, "text: a record has no value");
        const char *rest = f1 + 1;
        size_t rest_len = len - (size_t)(rest - rec);
        const char *f2 = memchr(rest, fs, rest_len);
        if (f1 == rec)
            return dp_fail(d, "text: a record has an empty id");
        if (f2 == NULL) {
            put_text_point(d, first, rec, (size_t)(f1 - rec), at, at ? strlen(at) : 0, rest,
                           rest_len);
            continue;
        }
        const char *v = f2 + 1;
        size_t v_len = len - (size_t)(v - rec);
        if (memchr(v, fs, v_len) != NULL)
            return dp_fail(d, "text: a record has more than three fields");
        put_text_point(d, first, rec, (size_t)(f1 - rec), rest, (size_t)(f2 - rest), v, v_len);
    }
    return true;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Types 6 and 7 with bit 7: YY MM DD hh mm ss (UTC, year minus 2000). */
static bool dp_time(dp_doc *d, const uint8_t *p, char *at, size_t cap)
{
    if (p[1] > 12 || p[1] < 1 || p[2] < 1 || p[2] > 31 || p[3] > 23 || p[4] > 59 || p[5] > 60)
        return dp_fail(d, "time bytes out of range");
    snprintf(at, cap, "%04u-%02u-%02u %02u:%02u:%02u", 2000u + p[0], p[1], p[2], p[3], p[4],
             p[5]);
    return true;
}

/* Type 7: {u16 stream id, u16 count, count x float32 little-endian}... */
static bool dp_type7(dp_doc *d, bool *first, const uint8_t *p, size_t n, const char *at)
{
    size_t i = 0, streams = 0;
    if (n == 0)
        return dp_fail(d, "type 7: no stream");
    while (i < n) {
        if (n - i < 4)
            return dp_fail(d, "type 7: a stream header is cut short");
        if (++streams > ONENET_DP_TYPE7_STREAMS_MAX)
            return dp_fail(d, "type 7: more than 500 streams");
        unsigned id = be16(p + i);
        size_t count = be16(p + i + 2);
        i += 4;
        if ((n - i) / 4 < count)
            return dp_fail(d, "type 7: fewer values than the count says");
        char name[8];
        snprintf(name, sizeof name, "%u", id);
        for (size_t k = 0; k < count; k++, i += 4) {
            uint32_t bits = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
                            (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24;
            float f;
            memcpy(&f, &bits, sizeof f);
            if (!isfinite(f))
                return dp_fail(d, "type 7: a value is not a finite number");
            char num[32];
            int len = snprintf(num, sizeof num, "%.9g", (double)f);
            put_text_point(d, first, name, strlen(name), at, at ? strlen(at) : 0, num,
                           (size_t)len);
        }
    }
    return true;
}

/* u16 length, then exactly that many bytes to the end. */
static bool dp_len16(dp_doc *d, const uint8_t *p, size_t n, const uint8_t **body, size_t *len)
{
    if (n < 2)
        return dp_fail(d, "length is cut short");
    *len = be16(p);
    if (n - 2 != *len)
        return dp_fail(d, "length does not match the payload");
    *body = p + 2;
    return true;
}

static bool dp_body(dp_doc *d, unsigned type, const uint8_t *p, size_t n, void *work,
                    bool *first, const char *at)
{
    const uint8_t *body;
    size_t len;
    switch (type) {
    case 1:
    case 3:
    case 4:
        if (!dp_len16(d, p, n, &body, &len) || parse_json(d, body, len, work) < 0)
            return false;
        return type == 1 ? dp_type1(d, first) : dp_type34(d, first, type == 4);
    case 5:
    case 6:
        if (!dp_len16(d, p, n, &body, &len))
            return false;
        return dp_text(d, first, (const char *)body, len, at);
    case 7:
        return dp_type7(d, first, p, n, at);
    case 2:
        return dp_fail(d, "type 2 (binary) is not decoded");
    default:
        return dp_fail(d, "unknown type");
    }
}

bool onenet_dp_decode(const uint8_t *p, size_t n, void *work, onenet_json *out, const char **why)
{
    dp_doc d = {.out = out};
    char at[32];
    const char *at_p = NULL;
    bool first = true;

    *why = NULL;
    if (n < 1) {
        *why = "empty payload";
        return false;
    }
    unsigned type = p[0] & DP_TYPE_MASK;
    bool timed = (p[0] & DP_TIME_FLAG) != 0;
    if ((p[0] & 0x40u) != 0 || (timed && type != 6 && type != 7)) {
        *why = "type byte has flags its type does not allow";
        return false;
    }
    p++;
    n--;
    if (timed) {
        if (n < 6) {
            *why = "time bytes are cut short";
            return false;
        }
        if (!dp_time(&d, p, at, sizeof at)) {
            *why = d.why;
            return false;
        }
        at_p = at;
        p += 6;
        n -= 6;
    }
    onenet_json_lit(out, "{\"type\":");
    onenet_json_uint(out, type);
    onenet_json_lit(out, ",\"points\":[");
    if (!dp_body(&d, type, p, n, work, &first, at_p)) {
        *why = d.why != NULL ? d.why : "malformed";
        return false;
    }
    onenet_json_lit(out, "]}");
    if (out->full) {
        *why = "decoded JSON too large";
        return false;
    }
    return true;
}
