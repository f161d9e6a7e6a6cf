/*
 * The bounded JSON writer (json_out.h).
 */
#include "json_out.h"

#include <stdio.h>
#include <string.h>

void onenet_json_init(onenet_json *j, char *buf, size_t cap)
{
    j->buf = buf;
    j->cap = cap;
    j->len = 0;
    j->full = cap == 0;
    if (cap > 0)
        buf[0] = '\0';
}

void onenet_json_raw(onenet_json *j, const char *s, size_t n)
{
    if (j->full)
        return;
    /* One byte always stays for the NUL. */
    if (n >= j->cap - j->len) {
        j->full = true;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

void onenet_json_lit(onenet_json *j, const char *s)
{
    onenet_json_raw(j, s, strlen(s));
}

void onenet_json_str(onenet_json *j, const char *s, size_t n)
{
    onenet_json_raw(j, "\"", 1);
    size_t run = 0; /* bytes of s copied as they are, not yet written */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
            run++;
            continue;
        }
        onenet_json_raw(j, s + i - run, run);
        run = 0;
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        onenet_json_lit(j, esc);
    }
    onenet_json_raw(j, s + n - run, run);
    onenet_json_raw(j, "\"", 1);
}

void onenet_json_uint(onenet_json *j, unsigned long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", v);
    onenet_json_raw(j, num, (size_t)n);
}

static size_t digits(const char *s, size_t i, size_t n)
{
    size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i - start;
}

/* number = [ "-" ] int [ frac ] [ exp ]; int = "0" / digit1-9 *DIGIT */
bool onenet_json_is_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t d = digits(s, i, n);
    if (d == 0 || (d > 1 && s[i] == '0'))
        return false;
    i += d;
    if (i < n && s[i] == '.') {
        d = digits(s, i + 1, n);
        if (d == 0)
            return false;
        i += 1 + d;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        d = digits(s, i, n);
        if (d == 0)
            return false;
        i += d;
    }
    return i == n;
}

void onenet_json_escape_log(onenet_json *j, const void *s, size_t n, size_t max)
{
    const unsigned char *p = s;
    size_t shown = n < max ? n : max;
    for (size_t i = 0; i < shown; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
            onenet_json_raw(j, (const char *)p + i, 1);
        } else {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", p[i]);
            onenet_json_lit(j, esc);
        }
    }
    if (shown < n)
        onenet_json_lit(j, "...");
}
