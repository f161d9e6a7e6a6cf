/*
 * JSON for OneNET Studio's OneJSON payloads, tokenized by jsmn (no heap, no
 * hand-written parser). This is the one file that compiles jsmn's code.
 *
 * Strict mode: primitives are only numbers, true, false and null, and may
 * not be object keys.
 */
#define JSMN_STATIC
#define JSMN_STRICT

#include <string.h>

#include "device_internal.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* jsmn accepts several values in a row; a payload must be exactly one
 * object, so the first token must span the payload up to trailing spaces. */
static bool spans_payload(const midge_device__json *doc, size_t len)
{
    const jsmntok_t *root = &doc->tok[0];

    if (doc->count < 1 || root->type != JSMN_OBJECT || root->end < 0)
        return false;
    for (size_t i = (size_t)root->end; i < len; i++) {
        if (!is_space(doc->js[i]))
            return false;
    }
    return true;
}

enum midge_device__json_outcome midge_device__json_parse(midge_device__json *doc,
                                                         const void *payload, size_t len)
{
    jsmn_parser parser;
    bool too_big = len > MIDGE_DEVICE_JSON_MAX;
    size_t scan = too_big ? MIDGE_DEVICE_JSON_MAX : len;

    doc->js = payload;
    /* jsmn stops at a NUL byte as if the text ended there; a payload with
     * one is not JSON, but the part before it may still hold the id. */
    const char *nul = scan != 0 ? memchr(doc->js, '\0', scan) : NULL;
    bool has_nul = nul != NULL;
    if (has_nul)
        scan = (size_t)(nul - doc->js);

    jsmn_init(&parser);
    int r = jsmn_parse(&parser, doc->js, scan, doc->tok, MIDGE_DEVICE_JSON_TOKENS);
    /* Whatever the outcome, the tokens jsmn allocated so far are usable. */
    doc->count = (int)parser.toknext;
    if (too_big || r == JSMN_ERROR_NOMEM)
        return MIDGE_DEVICE__JSON_TOO_BIG;
    if (r < 0 || has_nul || !spans_payload(doc, len))
        return MIDGE_DEVICE__JSON_MALFORMED;
    return MIDGE_DEVICE__JSON_OK;
}

int midge_device__json_next(const midge_device__json *doc, int i)
{
    /* Tokens are in document order, so everything nested in token i starts
     * before it ends. An unclosed token (end -1, after a partial parse)
     * swallows the rest. */
    int end = doc->tok[i].end;

    if (end < 0)
        return doc->count;
    int j = i + 1;
    while (j < doc->count && doc->tok[j].start < end)
        j++;
    return j;
}

bool midge_device__json_is(const midge_device__json *doc, int i, jsmntype_t type)
{
    return i >= 0 && i < doc->count && doc->tok[i].type == type;
}

const char *midge_device__json_text(const midge_device__json *doc, int i, size_t *len)
{
    const jsmntok_t *t = &doc->tok[i];

    *len = t->end > t->start ? (size_t)(t->end - t->start) : 0;
    return doc->js + t->start;
}

bool midge_device__json_eq(const midge_device__json *doc, int i, const char *s)
{
    size_t len;

    if (!midge_device__json_is(doc, i, JSMN_STRING))
        return false;
    const char *text = midge_device__json_text(doc, i, &len);
    return len == strlen(s) && memcmp(text, s, len) == 0;
}

bool midge_device__json_bool(const midge_device__json *doc, int i, bool *value)
{
    size_t len;

    if (!midge_device__json_is(doc, i, JSMN_PRIMITIVE))
        return false;
    /* jsmn's strict mode only checks the first letter: "tru" is a primitive
     * too, so compare the whole literal. */
    const char *text = midge_device__json_text(doc, i, &len);
    if (len == 4 && memcmp(text, "true", 4) == 0) {
        *value = true;
        return true;
    }
    if (len == 5 && memcmp(text, "false", 5) == 0) {
        *value = false;
        return true;
    }
    return false;
}

int midge_device__json_member(const midge_device__json *doc, int obj, const char *key)
{
    if (!midge_device__json_is(doc, obj, JSMN_OBJECT))
        return -1;
    /* In jsmn a key is a string token whose one child is its value. A key
     * without a value (size 0) means the object was not read whole. */
    int i = obj + 1;
    for (int k = 0; k < doc->tok[obj].size && i < doc->count; k++) {
        if (doc->tok[i].type != JSMN_STRING || doc->tok[i].size != 1 || i + 1 >= doc->count)
            return -1;
        if (midge_device__json_eq(doc, i, key))
            return i + 1;
        i = midge_device__json_next(doc, i + 1);
    }
    return -1;
}
