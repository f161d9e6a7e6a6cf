/*
 * fuzz_topic: MQTT UTF-8 (section 1.5.3), topic names and filters (4.7.1,
 * 4.7.3) and matching (4.7.2), each compared with a plain reference written
 * here for clarity, not speed.
 *
 * The library takes word-at-a-time shortcuts on ASCII and decodes UTF-8 by
 * lead-byte ranges; the references below decode code points one by one and
 * split topics into levels, so the two share no structure and a difference
 * is a bug in one of them.
 *
 * Input: [mode][split u16][bytes...]. The bytes are cut at `split` into a
 * filter and a topic. With bit 0 of mode set, each byte is first mapped onto
 * a tiny alphabet of level separators, wildcards, '$' and two letters, so
 * that matching (which needs valid, related strings) is exercised densely
 * instead of waiting for the fuzzer to spell them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "midge/codec.h"

#define MAX_STRING 65535u

/* --- Reference implementations --------------------------------------------- */

static bool ref_utf8_valid(const uint8_t *s, size_t len)
{
    if (len > MAX_STRING)
        return false;
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        uint32_t cp;
        size_t n;
        uint32_t min;
        if (b < 0x80) {
            cp = b;
            n = 1;
            min = 0;
        } else if ((b & 0xE0) == 0xC0) {
            cp = b & 0x1Fu;
            n = 2;
            min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            cp = b & 0x0Fu;
            n = 3;
            min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            cp = b & 0x07u;
            n = 4;
            min = 0x10000;
        } else {
            return false; /* a continuation byte or 0xF8..0xFF as a lead */
        }
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF)
            return false; /* overlong, or beyond Unicode */
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
            return false; /* 1.5.3: no U+0000, no surrogates */
        i += n;
    }
    return true;
}

static bool ref_name_valid(const char *t, size_t len)
{
    if (len == 0 || !ref_utf8_valid((const uint8_t *)t, len))
        return false;
    return memchr(t, '+', len) == NULL && memchr(t, '#', len) == NULL;
}

/* Level i of s runs from starts[i] for lens[i] bytes; returns the count.
 * "" has one empty level and "a/" has two ("a" and ""). */
static size_t split_levels(const char *s, size_t len, size_t *starts, size_t *lens)
{
    size_t count = 0, begin = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            starts[count] = begin;
            lens[count] = i - begin;
            count++;
            begin = i + 1;
        }
    }
    return count;
}

static bool level_is(const char *s, size_t start, size_t len, char c)
{
    return len == 1 && s[start] == c;
}

static bool ref_filter_valid(const char *f, size_t len, size_t *starts, size_t *lens)
{
    if (len == 0 || !ref_utf8_valid((const uint8_t *)f, len))
        return false;
    size_t n = split_levels(f, len, starts, lens);
    for (size_t i = 0; i < n; i++) {
        bool wild = memchr(f + starts[i], '+', lens[i]) != NULL ||
                    memchr(f + starts[i], '#', lens[i]) != NULL;
        if (!wild)
            continue;
        if (level_is(f, starts[i], lens[i], '+'))
            continue;
        if (level_is(f, starts[i], lens[i], '#') && i + 1 == n)
            continue;
        return false;
    }
    return true;
}

static bool ref_matches(const char *f, size_t f_len, const char *t, size_t t_len, size_t *fs,
                        size_t *fl, size_t *ts, size_t *tl)
{
    /* 4.7.2: a leading wildcard does not match a '$' topic. */
    if (t_len > 0 && t[0] == '$' && (f[0] == '+' || f[0] == '#'))
        return false;
    size_t nf = split_levels(f, f_len, fs, fl);
    size_t nt = split_levels(t, t_len, ts, tl);
    for (size_t i = 0;; i++) {
        if (i < nf && level_is(f, fs[i], fl[i], '#'))
            return true; /* the rest, including the parent level itself */
        if (i == nf || i == nt)
            return i == nf && i == nt;
        if (level_is(f, fs[i], fl[i], '+'))
            continue;
        if (fl[i] != tl[i] || memcmp(f + fs[i], t + ts[i], fl[i]) != 0)
            return false;
    }
}

/* --- Target ------------------------------------------------------------------ */

static const char alphabet[8] = {'a', 'b', '/', '/', '+', '#', '$', 'x'};

static void check_pair(const char *f, size_t f_len, const char *t, size_t t_len)
{
    /* Scratch for the level tables: a string of n bytes has at most n + 1
     * levels. */
    size_t most = (f_len > t_len ? f_len : t_len) + 1;
    size_t *tables = malloc(4 * most * sizeof *tables);
    FUZZ_CHECK(tables != NULL);
    size_t *fs = tables, *fl = tables + most, *ts = tables + 2 * most, *tl = tables + 3 * most;

    FUZZ_CHECK(midge_utf8_valid((const uint8_t *)f, f_len) ==
               ref_utf8_valid((const uint8_t *)f, f_len));
    FUZZ_CHECK(midge_utf8_valid((const uint8_t *)t, t_len) ==
               ref_utf8_valid((const uint8_t *)t, t_len));
    bool name_ok = midge_topic_name_valid(t, t_len);
    FUZZ_CHECK(name_ok == ref_name_valid(t, t_len));
    FUZZ_CHECK(midge_topic_name_valid(f, f_len) == ref_name_valid(f, f_len));
    bool filter_ok = midge_topic_filter_valid(f, f_len);
    FUZZ_CHECK(filter_ok == ref_filter_valid(f, f_len, fs, fl));
    FUZZ_CHECK(midge_topic_filter_valid(t, t_len) == ref_filter_valid(t, t_len, ts, tl));

    /* Matching is defined for a valid filter and a valid name only. */
    if (filter_ok && name_ok) {
        bool got = midge_topic_matches(f, f_len, t, t_len);
        FUZZ_CHECK(got == ref_matches(f, f_len, t, t_len, fs, fl, ts, tl));
        /* A filter without wildcards is a name, and matches only itself. */
        if (ref_name_valid(f, f_len))
            FUZZ_CHECK(got == (f_len == t_len && memcmp(f, t, f_len) == 0));
    }
    /* Every valid name matches itself, used as a filter. */
    if (name_ok)
        FUZZ_CHECK(midge_topic_matches(t, t_len, t, t_len));
    free(tables);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = fuzz_input_make(data, size);
    uint8_t mode = fuzz_u8(&in);
    size_t split = fuzz_u16(&in);
    size_t n = in.left;
    if (split > n)
        split = n;

    /* Exact-size heap copies: AddressSanitizer sees the word-at-a-time
     * loads if they ever reach past the end. */
    char *f = malloc(split != 0 ? split : 1);
    char *t = malloc(n - split != 0 ? n - split : 1);
    FUZZ_CHECK(f != NULL && t != NULL);
    memcpy(f, in.p, split);
    memcpy(t, in.p + split, n - split);
    if (mode & 1) {
        for (size_t i = 0; i < split; i++)
            f[i] = alphabet[(uint8_t)f[i] % 8];
        for (size_t i = 0; i < n - split; i++)
            t[i] = alphabet[(uint8_t)t[i] % 8];
    }
    check_pair(f, split, t, n - split);
    free(f);
    free(t);
    return 0;
}
