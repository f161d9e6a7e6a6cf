/*
 * A bounded JSON writer: text appended to a caller-owned buffer. Nothing is
 * ever written past cap; a write that does not fit sets `full` and every
 * later write does nothing, so a caller checks once at the end.
 */
#ifndef ONENET_JSON_OUT_H
#define ONENET_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct onenet_json {
    char *buf;  /* the caller's; NUL-terminated while !full and cap > 0 */
    size_t cap; /* bytes in buf, the NUL included */
    size_t len; /* bytes written so far, the NUL excluded */
    bool full;  /* a write did not fit: the text is cut short */
} onenet_json;

void onenet_json_init(onenet_json *j, char *buf, size_t cap);

/* Raw bytes, as they are. */
void onenet_json_raw(onenet_json *j, const char *s, size_t n);
void onenet_json_lit(onenet_json *j, const char *s); /* NUL-terminated */

/* A JSON string: quotes around n bytes of s, with '"', '\\' and control
 * bytes escaped. Bytes of 0x80 and above are copied as they are. */
void onenet_json_str(onenet_json *j, const char *s, size_t n);

/* An unsigned decimal number. */
void onenet_json_uint(onenet_json *j, unsigned long long v);

/* True if s[0..n) is a JSON number (RFC 8259 section 6). */
bool onenet_json_is_number(const char *s, size_t n);

/* Printable ASCII only: every other byte of s[0..n) as \xNN, at most max
 * input bytes (then "..."). For log lines about bytes from the network. */
void onenet_json_escape_log(onenet_json *j, const void *s, size_t n, size_t max);

#endif /* ONENET_JSON_OUT_H */
