/*
 * midge console: small text helpers: listen addresses, JSON-safe strings,
 * the API key's comparison, times, device ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>

#include "console_internal.h"

bool console_listen_split(const char *listen, char *host, size_t host_cap, uint16_t *port,
                          char *why, size_t cap)
{
    const char *colon;
    const char *h = listen;
    size_t hlen;

    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(why, cap, "an IPv6 address is written [addr]:port");
            return false;
        }
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || memchr(listen, ':', (size_t)(colon - listen)) != NULL) {
            snprintf(why, cap, "expected host:port (an IPv6 address as [addr]:port)");
            return false;
        }
        hlen = (size_t)(colon - listen);
    }
    if (hlen >= host_cap) {
        snprintf(why, cap, "the host is longer than %zu bytes", host_cap - 1);
        return false;
    }
    char *end = NULL;
    const char *p = colon + 1;
    unsigned long v = *p >= '0' && *p <= '9' ? strtoul(p, &end, 10) : 70000ul;
    if (end == NULL || *end != '\0' || v > 65535ul) {
        snprintf(why, cap, "the port must be 0..65535");
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return true;
}

bool console_listen_valid(const char *listen, char *why, size_t cap)
{
    char host[64];
    uint16_t port;

    return console_listen_split(listen, host, sizeof host, &port, why, cap);
}

/* Hashing both sides first makes the comparison's time independent of
 * where they differ and of the length of either. */
void console_key_hash(const char *key, size_t len, uint8_t out[32])
{
    mbedtls_sha256_ret((const unsigned char *)key, len, out, 0);
}

bool console_key_equal(const uint8_t a[32], const uint8_t b[32])
{
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < 32; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

/* The length of the UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t console_utf8_seq(const uint8_t *s, size_t left)
{
    uint8_t b = s[0];
    size_t n = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3
             : (b & 0xf8) == 0xf0 ? 4 : 0;

    if (n == 0 || n > left || b == 0 || b == 0xc0 || b == 0xc1 || b > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    if ((b == 0xe0 && s[1] < 0xa0) || (b == 0xed && s[1] > 0x9f) ||
        (b == 0xf0 && s[1] < 0x90) || (b == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

char *console_utf8(const void *bytes, size_t len)
{
    const uint8_t *s = bytes;
    /* Each bad byte grows to the three of U+FFFD. */
    char *out = malloc(3 * len + 1);
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = console_utf8_seq(s + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

void console_time_text(int64_t wall_ms, char out[20])
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL || strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, 20, "1970-01-01 00:00:00");
}

bool console_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > CONSOLE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '+' || ch == '#')
            return false;
    }
    return true;
}
