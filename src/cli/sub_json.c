/*
 * midge sub: -F %J's payload, re-printed as mosquitto_sub prints it.
 *
 * mosquitto_sub 2.0.11 (Debian's) parses the payload with cJSON 1.7.15
 * and prints the tree again, so its output is cJSON's, not the payload's:
 * numbers go through "%1.15g" (or "%1.17g" when that loses the value:
 * 27.0 is 27, 1e400 is null), strings are decoded and escaped again
 * ("\u00e9" is printed as the UTF-8 bytes, "\/" as '/'), and --pretty
 * indents objects with tabs but keeps arrays on one line. This is a
 * reader of the same grammar and a writer of the same text in one pass,
 * into a buffer thrown away when the payload turns out not to be JSON.
 * The grammar is cJSON's, leniencies included: leading zeros ("007"),
 * a trailing '.' ("1."), control bytes inside strings, a UTF-8 BOM.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sub_format.h"

/* cJSON's limits: nesting depth, and the characters of a number it hands
 * to strtod (the rest is left to fail as the next token). */
#define JSON_NESTING_MAX 1000u
#define JSON_NUMBER_MAX 63u

struct json_out {
    char **buf;
    size_t *len;
    size_t *cap;
    bool failed; /* out of memory */
};

struct json_in {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static void json_put(struct json_out *o, const void *s, size_t n)
{
    if (o->failed)
        return;
    if (*o->len + n + 1 > *o->cap) {
        size_t cap = *o->cap ? *o->cap : 256;
        while (cap < *o->len + n + 1)
            cap *= 2;
        char *b = realloc(*o->buf, cap);
        if (b == NULL) {
            o->failed = true;
            return;
        }
        *o->buf = b;
        *o->cap = cap;
    }
    memcpy(*o->buf + *o->len, s, n);
    *o->len += n;
}

static void json_puts(struct json_out *o, const char *s) { json_put(o, s, strlen(s)); }

static void json_tabs(struct json_out *o, unsigned n)
{
    while (n-- > 0)
        json_put(o, "\t", 1);
}

/* One decoded byte of a string, escaped as cJSON's print_string_ptr does. */
static void json_put_char(struct json_out *o, uint8_t c)
{
    char esc[8];

    switch (c) {
    case '"': json_puts(o, "\\\""); return;
    case '\\': json_puts(o, "\\\\"); return;
    case '\b': json_puts(o, "\\b"); return;
    case '\f': json_puts(o, "\\f"); return;
    case '\n': json_puts(o, "\\n"); return;
    case '\r': json_puts(o, "\\r"); return;
    case '\t': json_puts(o, "\\t"); return;
    }
    if (c < 32) {
        snprintf(esc, sizeof esc, "\\u%04x", c);
        json_puts(o, esc);
        return;
    }
    json_put(o, &c, 1);
}

bool sub_json_put_raw(char **buf, size_t *len, size_t *cap, const char *text)
{
    struct json_out o = { buf, len, cap, false };

    json_puts(&o, text);
    return !o.failed;
}

bool sub_json_put_string(char **buf, size_t *len, size_t *cap, const uint8_t *s, size_t n)
{
    struct json_out o = { buf, len, cap, false };

    for (size_t i = 0; i < n && s[i] != 0; i++)
        json_put_char(&o, s[i]);
    return !o.failed;
}

/* Whitespace is every byte up to ' ' (NUL never reaches here). */
static void json_skip(struct json_in *in)
{
    while (in->pos < in->len && in->p[in->pos] <= 32)
        in->pos++;
}

static bool json_at(const struct json_in *in, char c)
{
    return in->pos < in->len && in->p[in->pos] == (uint8_t)c;
}

/* cJSON's compare_double: equal within the precision of the larger. */
static bool json_same(double a, double b)
{
    double big = fabs(a) > fabs(b) ? fabs(a) : fabs(b);

    return fabs(a - b) <= big * DBL_EPSILON;
}

/* 1.7.15's number printing: 15 significant digits when they give the
 * value back, else 17; NaN and infinities as null. */
static void json_put_number(struct json_out *o, double d)
{
    char text[32];
    double back = 0.0;

    if (isnan(d) || isinf(d)) {
        json_puts(o, "null");
        return;
    }
    snprintf(text, sizeof text, "%1.15g", d);
    if (sscanf(text, "%lg", &back) != 1 || !json_same(back, d))
        snprintf(text, sizeof text, "%1.17g", d);
    json_puts(o, text);
}

static bool json_number(struct json_in *in, struct json_out *o)
{
    char text[JSON_NUMBER_MAX + 1];
    size_t n = 0;

    while (n < JSON_NUMBER_MAX && in->pos + n < in->len &&
           strchr("0123456789+-eE.", in->p[in->pos + n]) != NULL && in->p[in->pos + n] != 0) {
        text[n] = (char)in->p[in->pos + n];
        n++;
    }
    text[n] = '\0';
    char *end = NULL;
    double d = strtod(text, &end);
    if (end == text)
        return false;
    in->pos += (size_t)(end - text);
    json_put_number(o, d);
    return true;
}

static int json_hex(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits; cJSON reads a bad digit as 0 for the whole group. */
static unsigned json_hex4(const uint8_t *s)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        int h = json_hex(s[i]);
        if (h < 0)
            return 0;
        v = v << 4 | (unsigned)h;
    }
    return v;
}

/* A \u escape at s (end = the closing quote): the code point in UTF-8
 * into utf8, its length in *n; the escape's length, 0 when malformed. */
static size_t json_unicode(const uint8_t *s, const uint8_t *end, uint8_t utf8[4], size_t *n)
{
    if (end - s < 6)
        return 0;
    unsigned first = json_hex4(s + 2);
    unsigned long cp = first;
    size_t used = 6;
    if (first >= 0xDC00 && first <= 0xDFFF)
        return 0;
    if (first >= 0xD800 && first <= 0xDBFF) {
        /* UTF-16 surrogate pair: the low half must follow at once. */
        if (end - s < 12 || s[6] != '\\' || s[7] != 'u')
            return 0;
        unsigned second = json_hex4(s + 8);
        if (second < 0xDC00 || second > 0xDFFF)
            return 0;
        cp = 0x10000ul + (((first & 0x3FFul) << 10) | (second & 0x3FFul));
        used = 12;
    }
    if (cp < 0x80) {
        utf8[0] = (uint8_t)cp;
        *n = 1;
    } else if (cp < 0x800) {
        utf8[0] = (uint8_t)(0xC0 | cp >> 6);
        utf8[1] = (uint8_t)(0x80 | (cp & 0x3F));
        *n = 2;
    } else if (cp < 0x10000) {
        utf8[0] = (uint8_t)(0xE0 | cp >> 12);
        utf8[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        utf8[2] = (uint8_t)(0x80 | (cp & 0x3F));
        *n = 3;
    } else {
        utf8[0] = (uint8_t)(0xF0 | cp >> 18);
        utf8[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        utf8[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        utf8[3] = (uint8_t)(0x80 | (cp & 0x3F));
        *n = 4;
    }
    return used;
}

/* A string, decoded and printed again. cJSON keeps it NUL-terminated, so
 * a "\u0000" (or a bad \u group, read as 0) ends what is printed, though
 * the rest must still be well-formed. */
static bool json_string(struct json_in *in, struct json_out *o)
{
    const uint8_t *s = in->p + in->pos + 1;
    const uint8_t *limit = in->p + in->len;
    const uint8_t *end = s;
    bool cut = false;

    if (!json_at(in, '"'))
        return false;
    while (end < limit && *end != '"') {
        if (*end == '\\' && ++end >= limit)
            return false;
        end++;
    }
    if (end >= limit)
        return false;
    json_put(o, "\"", 1);
    while (s < end) {
        uint8_t utf8[4];
        size_t n = 1;
        size_t used = 2;
        if (*s != '\\') {
            utf8[0] = *s;
            used = 1;
        } else if (s[1] == 'u') {
            used = json_unicode(s, end, utf8, &n);
            if (used == 0)
                return false;
        } else {
            const char *from = "bfnrt\"\\/";
            const char *to = "\b\f\n\r\t\"\\/";
            const char *k = strchr(from, s[1]);
            if (k == NULL || s[1] == 0)
                return false;
            utf8[0] = (uint8_t)to[k - from];
        }
        for (size_t i = 0; i < n && !cut; i++) {
            cut = utf8[i] == 0;
            if (!cut)
                json_put_char(o, utf8[i]);
        }
        s += used;
    }
    json_put(o, "\"", 1);
    in->pos = (size_t)(end + 1 - in->p);
    return true;
}

static bool json_value(struct json_in *in, struct json_out *o, bool pretty, unsigned depth);

/* An object member's "key": (the value follows), `depth + 1` tabs in
 * under --pretty. */
static bool json_key(struct json_in *in, struct json_out *o, bool pretty, unsigned depth)
{
    if (pretty)
        json_tabs(o, depth + 1);
    if (!json_string(in, o))
        return false;
    json_skip(in);
    if (!json_at(in, ':'))
        return false;
    in->pos++;
    json_puts(o, pretty ? ":\t" : ":");
    json_skip(in);
    return true;
}

/* An array, or an object (one member a line under --pretty, its closing
 * brace `depth` tabs in; arrays stay on one line, ", " between items). */
static bool json_container(struct json_in *in, struct json_out *o, bool pretty, unsigned depth,
                           bool object)
{
    const char close = object ? '}' : ']';

    if (depth >= JSON_NESTING_MAX)
        return false;
    in->pos++;
    json_puts(o, !object ? "[" : pretty ? "{\n" : "{");
    json_skip(in);
    bool empty = json_at(in, close);
    while (!empty) {
        json_skip(in);
        if ((object && !json_key(in, o, pretty, depth)) || !json_value(in, o, pretty, depth + 1))
            return false;
        json_skip(in);
        if (!json_at(in, ','))
            break;
        in->pos++;
        json_puts(o, !pretty ? "," : object ? ",\n" : ", ");
    }
    if (!json_at(in, close))
        return false;
    in->pos++;
    if (object && pretty) {
        if (!empty)
            json_put(o, "\n", 1);
        json_tabs(o, depth);
    }
    json_put(o, &close, 1);
    return true;
}

static bool json_literal(struct json_in *in, struct json_out *o, const char *word)
{
    size_t n = strlen(word);

    if (in->len - in->pos < n || memcmp(in->p + in->pos, word, n) != 0)
        return false;
    in->pos += n;
    json_puts(o, word);
    return true;
}

/* `depth`: the nesting of the value's container (the indentation of the
 * container's closing brace under --pretty). */
static bool json_value(struct json_in *in, struct json_out *o, bool pretty, unsigned depth)
{
    if (in->pos >= in->len)
        return false;
    switch (in->p[in->pos]) {
    case 'n': return json_literal(in, o, "null");
    case 'f': return json_literal(in, o, "false");
    case 't': return json_literal(in, o, "true");
    case '"': return json_string(in, o);
    case '[': return json_container(in, o, pretty, depth, false);
    case '{': return json_container(in, o, pretty, depth, true);
    }
    if (in->p[in->pos] == '-' || (in->p[in->pos] >= '0' && in->p[in->pos] <= '9'))
        return json_number(in, o);
    return false;
}

bool sub_json_reprint(char **buf, size_t *len, size_t *cap, const uint8_t *json, size_t json_len,
                      bool pretty, unsigned depth)
{
    struct json_out o = { buf, len, cap, false };
    struct json_in in = { json, json_len, 0 };
    size_t start = *len;

    /* cJSON reads the payload as a C string: a NUL ends it before its
     * end, and mosquitto_sub then calls the payload not JSON. */
    bool ok = memchr(json, 0, json_len) == NULL;
    if (ok && json_len >= 3 && memcmp(json, "\xEF\xBB\xBF", 3) == 0)
        in.pos = 3;
    if (ok) {
        json_skip(&in);
        ok = json_value(&in, &o, pretty, depth);
        json_skip(&in);
    }
    ok = ok && in.pos == in.len && !o.failed;
    if (!ok)
        *len = start;
    return ok;
}
