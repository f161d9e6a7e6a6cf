/*
 * Payload notation -> bytes. The grammar is in notation.h; the meaning of
 * each token in ../shared/conformance/README.md.
 */
#include "notation.h"

#include <stdio.h>
#include <string.h>

/* Output cursor: every writer checks room first so a bad case file can never
 * overrun the caller's buffer. */
typedef struct out_buf {
    uint8_t *data;
    size_t cap;
    size_t len;
} out_buf;

/* A token is the characters between two separators; quoted text is the
 * exception and may hold separators. */
typedef struct token {
    const char *start;
    size_t len;
} token;

static bool is_separator(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool fail(char *err, size_t err_cap, const char *what, token tok)
{
    if (err != NULL && err_cap > 0) {
        int shown = tok.len > 40 ? 40 : (int)tok.len;
        snprintf(err, err_cap, "%s: '%.*s'", what, shown, tok.start);
    }
    return false;
}

static bool put_bytes(out_buf *out, const uint8_t *bytes, size_t n)
{
    if (out->cap - out->len < n) {
        return false;
    }
    memcpy(out->data + out->len, bytes, n);
    out->len += n;
    return true;
}

/* Big-endian, `width` bytes: the byte order of every MQTT integer (1.5.2). */
static bool put_be(out_buf *out, uint64_t value, size_t width)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < width; i++) {
        bytes[width - 1 - i] = (uint8_t)(value >> (8 * i));
    }
    return put_bytes(out, bytes, width);
}

size_t notation_put_varint(uint8_t *out, uint64_t value)
{
    /* Section 2.2.3's algorithm without its 4-byte stop, on purpose. */
    size_t n = 0;
    do {
        uint8_t byte = (uint8_t)(value & 0x7f);
        value >>= 7;
        if (value > 0) {
            byte |= 0x80;
        }
        out[n++] = byte;
    } while (value > 0);
    return n;
}

/* Decimal digits only: "m1234" is packet id 1234, as "r268435456" can only
 * be decimal. */
static bool parse_decimal(const char *s, size_t len, uint64_t *value)
{
    uint64_t v = 0;
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            return false;
        }
        v = v * 10 + digit;
    }
    *value = v;
    return true;
}

static bool parse_hex(token tok, out_buf *out, char *err, size_t err_cap)
{
    if (tok.len % 2 != 0) {
        return fail(err, err_cap, "odd number of hex digits", tok);
    }
    for (size_t i = 0; i < tok.len; i += 2) {
        int hi = hex_value(tok.start[i]);
        int lo = hex_value(tok.start[i + 1]);
        if (hi < 0 || lo < 0) {
            return fail(err, err_cap, "unknown token", tok);
        }
        uint8_t byte = (uint8_t)(hi << 4 | lo);
        if (!put_bytes(out, &byte, 1)) {
            return fail(err, err_cap, "output buffer too small at", tok);
        }
    }
    return true;
}

/* Width in bytes of a fixed-size number prefix; 0 = variable byte integer;
 * -1 = not a number prefix. */
static int prefix_width(char c)
{
    switch (c) {
    case 'r':
    case 'v':
        return 0;
    case 'i':
        return 1;
    case 'm':
    case 's':
    case 'k':
    case 'H':
        return 2;
    case 'L':
        return 4;
    default:
        return -1;
    }
}

static bool parse_number(token tok, int width, out_buf *out, char *err, size_t err_cap)
{
    uint64_t value;
    if (!parse_decimal(tok.start + 1, tok.len - 1, &value)) {
        return fail(err, err_cap, "bad number", tok);
    }
    if (width == 0) {
        uint8_t bytes[NOTATION_VARINT_MAX];
        size_t n = notation_put_varint(bytes, value);
        if (!put_bytes(out, bytes, n)) {
            return fail(err, err_cap, "output buffer too small at", tok);
        }
        return true;
    }
    if (value >> (8 * width) != 0) {
        return fail(err, err_cap, "number too large for its width", tok);
    }
    if (!put_be(out, value, (size_t)width)) {
        return fail(err, err_cap, "output buffer too small at", tok);
    }
    return true;
}

static bool parse_token(token tok, out_buf *out, char *err, size_t err_cap)
{
    int width = prefix_width(tok.start[0]);
    /* The prefixes are all outside [0-9a-fA-F], so a token is either a
     * number with a prefix or hex, never both. */
    if (width >= 0) {
        return parse_number(tok, width, out, err, err_cap);
    }
    return parse_hex(tok, out, err, err_cap);
}

/* Quoted text: from the opening quote to the next quote, which must end the
 * token. Returns the characters consumed, 0 on error. */
static size_t parse_text(const char *text, size_t len, out_buf *out, char *err, size_t err_cap)
{
    const char *close = memchr(text + 1, '\'', len - 1);
    token whole = {text, len};
    if (close == NULL) {
        fail(err, err_cap, "unterminated text", whole);
        return 0;
    }
    size_t used = (size_t)(close - text) + 1;
    token tok = {text, used};
    if (used < len && !is_separator(text[used])) {
        fail(err, err_cap, "text must be followed by a space", tok);
        return 0;
    }
    if (!put_bytes(out, (const uint8_t *)text + 1, used - 2)) {
        fail(err, err_cap, "output buffer too small at", tok);
        return 0;
    }
    return used;
}

bool notation_parse(const char *text, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                    char *err, size_t err_cap)
{
    out_buf buf = {out, cap, 0};
    size_t i = 0;
    while (i < len) {
        if (is_separator(text[i])) {
            i++;
            continue;
        }
        if (text[i] == '\'') {
            size_t used = parse_text(text + i, len - i, &buf, err, err_cap);
            if (used == 0) {
                return false;
            }
            i += used;
            continue;
        }
        size_t end = i;
        while (end < len && !is_separator(text[end])) {
            end++;
        }
        token tok = {text + i, end - i};
        if (!parse_token(tok, &buf, err, err_cap)) {
            return false;
        }
        i = end;
    }
    *out_len = buf.len;
    return true;
}
