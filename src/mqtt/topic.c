/*
 * midge: MQTT UTF-8 strings (MQTT 3.1.1 section 1.5.3), topic names and
 * filters (section 4.7). Matching a topic against a filter is not needed by
 * the codec or the session and lives in topic_match.c.
 *
 * Topics are checked on every PUBLISH in and out, so the common case (short
 * ASCII) takes a word-at-a-time path and multibyte input falls back to a
 * full UTF-8 decoder.
 */
#ifndef MIDGE_CORE_UNIT
#error "a part of the client core: compile src/mqtt/core.c, which includes it"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec_internal.h"
#include "midge/codec.h"

/* The word-at-a-time fast paths for topic names trade code size for speed.
 * A size-optimised build (-Os, what microcontroller SDKs use) keeps only
 * the byte loops, which accept exactly the same names (MIDGE_TOPIC_WORDS
 * and MIDGE_FAST_PATHS in config.h). */

/* The word-at-a-time checks use the native register width: 8 bytes on a
 * 64-bit host, 4 on the 32-bit microcontrollers, where 64-bit arithmetic
 * would cost register pairs and code space for no gain. */
#if UINTPTR_MAX > 0xFFFFFFFFu
typedef uint64_t topic_word;
#else
typedef uint32_t topic_word;
#endif
#define WORD_BYTES sizeof(topic_word)
#define ONES ((topic_word)-1 / 0xFFu)
#define HIGHS (ONES * 0x80u)

/* One word from possibly unaligned bytes. Built from shifts rather than a
 * cast so that it is alignment- and aliasing-safe and needs no memcpy (a
 * freestanding build may not inline it); compilers merge it into a single
 * load where the target allows one. Byte order does not matter to the
 * per-byte tests below. */
static inline topic_word load_word(const uint8_t *p)
{
    topic_word w = (topic_word)p[0] | (topic_word)p[1] << 8 | (topic_word)p[2] << 16 |
                   (topic_word)p[3] << 24;
#if UINTPTR_MAX > 0xFFFFFFFFu
    w |= (topic_word)p[4] << 32 | (topic_word)p[5] << 40 | (topic_word)p[6] << 48 |
         (topic_word)p[7] << 56;
#endif
    return w;
}

/* The mirror of load_word: byte stores that compilers merge into one. */
static inline void store_word(uint8_t *p, topic_word w)
{
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
#if UINTPTR_MAX > 0xFFFFFFFFu
    p[4] = (uint8_t)(w >> 32);
    p[5] = (uint8_t)(w >> 40);
    p[6] = (uint8_t)(w >> 48);
    p[7] = (uint8_t)(w >> 56);
#endif
}

/* Whether all bytes of w are in 0x01..0x7F. Adding 0x7F to a byte below
 * 0x80 sets its high bit exactly when the byte is not zero, without a carry
 * into the next byte; a byte of 0x80 or more fails through ~w (its carry
 * may disturb its neighbour, but the word fails either way). */
static inline bool word_ascii(topic_word w)
{
    return ((w + ONES * 0x7Fu) & ~w & HIGHS) == HIGHS;
}

/* High bit set in each byte of w that is neither U+0000 nor '+' nor '#',
 * for bytes below 0x80 (the caller rejects the others through the high
 * bits of the word itself). '+' (0x2B) and '#' (0x23) differ only in bit
 * 3: clearing it and XORing with 0x23 turns both, and nothing else, into a
 * zero byte, which the add-0x7F test of word_ascii then catches. */
static inline topic_word word_name_bits(topic_word w)
{
    topic_word wild = (w & (ONES * 0xF7u)) ^ (ONES * 0x23u);
    return (w + ONES * 0x7Fu) & (wild + ONES * 0x7Fu);
}

/* Length of the leading run of ASCII bytes that are not U+0000, a word at a
 * time (only in builds with MIDGE_TOPIC_WORDS). */
static size_t ascii_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (len - i >= WORD_BYTES) {
        if (!word_ascii(load_word(s + i)))
            break;
        i += WORD_BYTES;
    }
    while (i < len && s[i] != 0 && s[i] < 0x80)
        i++;
    return i;
}

/* One character starting at s[0]: returns its length in bytes, or 0 when it
 * is U+0000 (forbidden by 1.5.3) or ill-formed (RFC 3629 section 4). The
 * code point is assembled and then judged, which is less code than a range
 * table per lead byte: overlong forms, the surrogates U+D800..U+DFFF that
 * 1.5.3 forbids and anything above U+10FFFF all fail. Forced inline into
 * its one caller: GCC does it at -Os anyway, but on Cortex-M4 the loop
 * comes out smaller when told to. */
MIDGE_CODEC__ALWAYS_INLINE static inline size_t utf8_sequence(const uint8_t *s, size_t avail)
{
    uint32_t c = s[0];

    if (c < 0x80)
        return c != 0;
    /* Continuation bytes, C0/C1 (always overlong) and F5..FF never lead. */
    if (c < 0xC2 || c > 0xF4)
        return 0;
    uint32_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (avail < n)
        return 0; /* truncated */
    c &= 0x7Fu >> n;
    for (uint32_t k = 1; k < n; k++) {
        uint32_t b = s[k];
        if ((b & 0xC0u) != 0x80u)
            return 0;
        c = c << 6 | (b & 0x3Fu);
    }
    /* The smallest code point of each length is 1 << (5n - 4): 3 bytes from
     * U+0800, 4 from U+10000 (2 bytes: 0x40, below what C2 already
     * ensures). One shift is less code than a test per length. */
    if (c < (1u << (5 * n - 4)))
        return 0;
    if ((c >> 11) == 0x1Bu || c > 0x10FFFFu)
        return 0;
    return n;
}

bool midge_utf8_valid(const uint8_t *s, size_t len)
{
    if (len > MIDGE_CODEC__MAX_STRING)
        return false;
    if (len != 0 && s == NULL)
        return false;

    size_t i = 0;
    while (i < len) {
        /* Runs of ASCII a word at a time where that is worth its code; the
         * byte loop below accepts exactly the same strings. */
        if (MIDGE_TOPIC_WORDS) {
            i += ascii_prefix(s + i, len - i);
            if (i == len)
                break;
        }
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Every check of a topic name or, with `filter`, a topic filter: the
 * reference for what the fast path below accepts, and the one that says
 * why a topic fails. One function for both kinds, as their rules differ
 * only in what a wildcard may do, is less code than two. Invalid UTF-8
 * (1.5.3, which covers U+0000 and the length limit too) is reported before
 * a misplaced wildcard. */
MIDGE_CODEC__COLD MIDGE_CORE__FN
midge_malformed midge_topic__check(const uint8_t *t, size_t len, bool filter)
{
    midge_malformed bad = filter ? MIDGE_MALFORMED_FILTER : MIDGE_MALFORMED_TOPIC;

    /* 4.7.3: a name or a filter is at least one character long. */
    if (len == 0 || t == NULL)
        return bad;
    if (!midge_utf8_valid(t, len))
        return MIDGE_MALFORMED_UTF8;
    /* ASCII bytes never occur inside a multibyte sequence, so a byte
     * search is safe on valid UTF-8. */
    for (size_t i = 0; i < len; i++) {
        uint8_t c = t[i];
        if (c != '+' && c != '#')
            continue;
        /* 4.7.1-1: no wildcard in a name. 4.7.1.2, 4.7.1.3: in a filter a
         * wildcard occupies an entire level, and '#' must be the last one. */
        if (!filter || (i != 0 && t[i - 1] != '/') ||
            (i + 1 != len && (c == '#' || t[i + 1] != '/')))
            return bad;
    }
    return MIDGE_MALFORMED_NONE;
}

midge_malformed midge_topic__check_name(const uint8_t *t, size_t len)
{
    /* Fast path, taken by every PUBLISH in and out: pure ASCII with no NUL
     * and no wildcard, a word at a time with one branch per word. The last
     * word overlaps the one before it instead of a byte loop for the tail.
     * It calls nothing, so it needs no stack frame; anything else (short,
     * empty, too long, multibyte or invalid) takes the byte loop. */
    if (MIDGE_TOPIC_WORDS && t != NULL && len >= WORD_BYTES && len <= MIDGE_CODEC__MAX_STRING) {
        /* `ok` keeps a byte's high bit while every word had it set there;
         * `any` collects the bytes' own high bits (non-ASCII). Two
         * accumulators and three constants leave enough registers that no
         * callee-saved one is needed. */
        topic_word ok = ~(topic_word)0, any = 0;
        const uint8_t *last = t + len - WORD_BYTES;
        for (const uint8_t *p = t; p < last; p += WORD_BYTES) {
            topic_word w = load_word(p);
            ok &= word_name_bits(w);
            any |= w;
        }
        topic_word w = load_word(last);
        ok &= word_name_bits(w);
        any |= w;
        if ((ok & ~any & HIGHS) == HIGHS)
            return MIDGE_MALFORMED_NONE;
    }
    return midge_topic__check(t, len, false);
}

#if MIDGE_FAST_PATHS
/* The fused check-and-copy serves the fast publish path only (config.h);
 * the small build checks with midge_topic__check_name, then copies. */
MIDGE_CORE__FN
bool midge_topic__copy_words(uint8_t *restrict dst, const uint8_t *restrict t, size_t len)
{
    /* The fast path of midge_topic__check_name, storing each word as soon
     * as it is checked: the topic is read once for both jobs. dst is
     * scratch until the caller commits it, so a word stored before a later
     * one fails does no harm. It calls nothing, so it needs no stack frame
     * of its own and none of its caller's registers. */
    if (!MIDGE_TOPIC_WORDS || t == NULL || len < WORD_BYTES || len > MIDGE_CODEC__MAX_STRING)
        return false;
    /* The last word, which overlaps the one before it, goes first: the
     * loop may run no turn at all, and a word after it would then load the
     * constants a second time. */
    size_t last = len - WORD_BYTES;
    topic_word any = load_word(t + last);
    topic_word ok = word_name_bits(any);
    store_word(dst + last, any);
    for (size_t at = 0; at < last; at += WORD_BYTES) {
        topic_word w = load_word(t + at);
        store_word(dst + at, w);
        ok &= word_name_bits(w);
        any |= w;
    }
    return (ok & ~any & HIGHS) == HIGHS;
}
#endif /* MIDGE_FAST_PATHS */

bool midge_topic_name_valid(const char *topic, size_t len)
{
    return midge_topic__check_name((const uint8_t *)topic, len) == MIDGE_MALFORMED_NONE;
}

midge_malformed midge_topic__check_filter(const uint8_t *f, size_t len)
{
    return midge_topic__check(f, len, true);
}

bool midge_topic_filter_valid(const char *filter, size_t len)
{
    return midge_topic__check_filter((const uint8_t *)filter, len) == MIDGE_MALFORMED_NONE;
}
