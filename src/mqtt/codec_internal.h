/*
 * midge codec internals shared by codec.c, topic.c and codec_server.c.
 *
 * Not a public header: names here may change at any time. Cross-file names
 * carry the module__verb double underscore so they never collide with the
 * public API.
 */
#ifndef MIDGE_CODEC_INTERNAL_H
#define MIDGE_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "midge/codec.h"
#include "midge/config.h"

/* Helpers shared by the parts of the client core (core.c) and by nothing
 * outside it: static there, so each is inlined into a single caller or
 * dropped when nothing calls it. The declarations below that use it exist
 * only inside core.c. */
#ifdef MIDGE_CORE_UNIT
#define MIDGE_CORE__FN static
#endif

/* For the rare branch of a hot function: kept out of line so the hot path
 * stays a leaf with no stack frame (GCC and clang inline a static function
 * called once, slow path included, unless told otherwise). */
#if defined(__GNUC__) || defined(__clang__)
#define MIDGE_CODEC__COLD __attribute__((noinline))
#else
#define MIDGE_CODEC__COLD
#endif

/* For the body of a hot function copied into its one hot caller. */
#if defined(__GNUC__) || defined(__clang__)
#define MIDGE_CODEC__ALWAYS_INLINE __attribute__((always_inline))
#else
#define MIDGE_CODEC__ALWAYS_INLINE
#endif

/* The same for a rare branch whose only caller is hot in the fast build
 * (config.h): a size build inlines it instead, which is smaller there. */
#if MIDGE_FAST_PATHS
#define MIDGE_CODEC__COLD_IF_FAST MIDGE_CODEC__COLD
#else
#define MIDGE_CODEC__COLD_IF_FAST
#endif

/* Longest string any MQTT length prefix can describe (section 1.5.3). */
#define MIDGE_CODEC__MAX_STRING 65535u

/* Fixed-header first bytes of the packets whose flags are fixed (2.2.2). */
#define MIDGE_CODEC__FLAGS_PUBREL 0x02u
#define MIDGE_CODEC__FLAGS_SUBSCRIBE 0x02u

/* Big-endian 16-bit integer (section 1.5.2). The caller has checked bounds.
 * GCC turns the shift-and-OR form into a 16-bit load and a byte swap,
 * which is two instructions on Arm and x86; the Xtensa of the ESP8266 has
 * neither unaligned loads nor a swap instruction, and the emulated swap is
 * three times the size of the plain sum, which GCC leaves alone. */
static inline uint16_t midge_codec__read_u16(const uint8_t *p)
{
#if defined(__XTENSA__) || defined(__xtensa__)
    unsigned hi = p[0], lo = p[1];
    return (uint16_t)(hi * 256u + lo);
#else
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
#endif
}

static inline uint8_t *midge_codec__put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

/* A variable byte integer (2.2.3): seven bits a byte, least significant
 * first, high bit = "more". Returns the position after it. `value` has been
 * checked against the maximum. */
static inline uint8_t *midge_codec__put_vbi(uint8_t *p, uint32_t value)
{
    do {
        uint8_t digit = (uint8_t)(value & 0x7Fu);
        value >>= 7;
        *p++ = value != 0 ? (uint8_t)(digit | 0x80u) : digit;
    } while (value != 0);
    return p;
}

/* The fixed header: first byte then the remaining length (2.2). Returns the
 * position after it. `remaining` has been checked against the maximum. */
static inline uint8_t *midge_codec__put_header(uint8_t *p, uint8_t first, uint32_t remaining)
{
#if MIDGE_FAST_PATHS
    /* The same loop as midge_codec__put_vbi, written out: on the publish
     * path compilers schedule it better next to the first byte's store. */
    *p++ = first;
    do {
        uint8_t digit = (uint8_t)(remaining & 0x7Fu);
        remaining >>= 7;
        *p++ = remaining != 0 ? (uint8_t)(digit | 0x80u) : digit;
    } while (remaining != 0);
    return p;
#else
    /* One copy of the loop in a small build (config.h). */
    *p = first;
    return midge_codec__put_vbi(p + 1, remaining);
#endif
}

/* PUBACK, PUBREC, PUBREL and PUBCOMP are 4 bytes each (sections 3.4 to 3.7). */
#define MIDGE_CODEC__ACK_LEN 4u

/* One of them, unchecked: `type` is one of the four, `id` non-zero. Inline,
 * so the session writes its acknowledgements without a call into the codec
 * (a long call on the ESP8266 costs as much as the stores). */
static inline void midge_codec__put_ack(uint8_t *p, uint8_t type, uint16_t id)
{
    /* 3.6.1: PUBREL alone carries flags 0010. */
    p[0] = (uint8_t)(type << 4 | (type == MIDGE_PUBREL ? MIDGE_CODEC__FLAGS_PUBREL : 0u));
    p[1] = 2;
    midge_codec__put_u16(p + 2, id);
}

/* Packet size for a body of `remaining` bytes, 0 when the body is too large. */
static inline size_t midge_codec__packet_size(size_t remaining)
{
    if (remaining > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
#if MIDGE_FAST_PATHS
    /* Inline rather than midge_codec_length_size(): this sits on the
     * publish path, where a call costs more than the comparisons. */
    size_t header = remaining < 128u ? 2 : remaining < 16384u ? 3 : remaining < 2097152u ? 4 : 5;
    return header + remaining;
#else
    /* A small build (config.h) counts the length bytes with the loop the
     * public function already has, rather than a second copy of the rule. */
    return 1u + midge_codec_length_size((uint32_t)remaining) + remaining;
#endif
}

/* Once the fixed header is parsed: NEED_MORE (with `needed` = the total
 * size) until the whole packet is in the `len` bytes, then COMPLETE with
 * `used` = the total size. */
static inline midge_decode_result midge_codec__need_body(size_t len, size_t header_len,
                                                         uint32_t remaining)
{
    midge_decode_result r = {MIDGE_DECODE_COMPLETE, MIDGE_MALFORMED_NONE, 0, 0};
    size_t total = header_len + remaining;

    if (len < total) {
        r.outcome = MIDGE_DECODE_NEED_MORE;
        r.needed = total;
        return r;
    }
    r.used = total;
    return r;
}

/* The body of a PUBLISH (3.3.2, 3.3.3), either direction. `body` holds
 * `remaining` bytes; flags are the low nibble of the first byte and have
 * already been checked for QoS 3. Fills `out` and `*packet_id`. */
midge_malformed midge_codec__decode_publish(const uint8_t *body, uint32_t remaining,
                                            uint8_t flags, midge_publish *out,
                                            uint16_t *packet_id);

/* The body of PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK: exactly a non-zero
 * packet id (3.4 - 3.7, 3.11). */
midge_malformed midge_codec__decode_id_only(const uint8_t *body, uint32_t remaining,
                                            uint16_t *packet_id);

/* Topic checks returning why they failed: MIDGE_MALFORMED_NONE, _UTF8, or
 * _TOPIC / _FILTER. */
midge_malformed midge_topic__check_name(const uint8_t *topic, size_t len);
midge_malformed midge_topic__check_filter(const uint8_t *filter, size_t len);

/* --- Inside the client core only (core.c) ------------------------------- */
#ifdef MIDGE_CORE_UNIT

/* PUBLISH encoding for callers that choose DUP and the packet id
 * themselves (the session): `dup_id` is the packet id, plus
 * MIDGE_CODEC__DUP for a resend; m->dup and m->packet_id are ignored. (One
 * argument for both keeps every call within the four argument registers
 * of Arm.) Returns the packet size, or 0 when the message is invalid (QoS
 * > 2, NULL payload with a length, bad topic name, too long), and writes
 * buf[0, size) only when size <= cap: a cap of 0 sizes without writing, and
 * one call tells "invalid" from "no room". */
#define MIDGE_CODEC__DUP 0x10000u
MIDGE_CORE__FN
size_t midge_codec__publish_into(uint8_t *buf, size_t cap, const midge_publish *m, uint32_t dup_id);

#if MIDGE_FAST_PATHS
/* The fast half of midge_codec__publish_into alone, for the session's QoS
 * 0 path (m->qos is 0; DUP and the id are written as 0) and inlined there:
 * the call, a second stack frame and the argument moves are about a tenth
 * of a publish. Returns the packet size, written into buf; or 0 when the
 * fast path does not take the message (invalid, unusual or no room), and
 * the caller must then ask midge_codec__publish_into. Only in builds with
 * MIDGE_FAST_PATHS. */
MIDGE_CODEC__ALWAYS_INLINE static inline
size_t midge_codec__publish_qos0(uint8_t *buf, size_t cap, const midge_publish *m);
#endif

/* SUBSCRIBE when `subs` is given, else UNSUBSCRIBE with `filters`. */
typedef struct midge_codec__filters {
    uint16_t id; /* any non-zero id sizes the packet the same */
    const char *const *filters;
    const midge_subscription *subs;
    size_t count;
} midge_codec__filters;

/* The packet size (0 = invalid) and the encoder, for the session, which
 * picks the packet id itself between the two calls. */
MIDGE_CORE__FN size_t midge_codec__size_filters(const midge_codec__filters *l);
MIDGE_CORE__FN
size_t midge_codec__encode_filters(uint8_t *buf, size_t cap, const midge_codec__filters *l,
                                   midge_status *st);

/* Every check of a topic name or, with `filter`, a topic filter, byte by
 * byte: what midge_topic__check_name and midge_topic__check_filter return,
 * without the former's fast path. */
MIDGE_CORE__FN midge_malformed midge_topic__check(const uint8_t *t, size_t len, bool filter);

/* Length of a NUL-terminated string, or `limit + 1` when it is longer than
 * `limit` (so a missing terminator cannot run away further than needed).
 * Written here because a freestanding C11 target need not provide strlen. */
MIDGE_CORE__FN size_t midge_codec__strlen(const char *s, size_t limit);

#if MIDGE_FAST_PATHS
/* The word-at-a-time fast path of midge_topic__check_name, copying the
 * name to dst (len bytes) on the way: true when the name is valid and
 * copied; false means only "not by this path" (short, long, NULL,
 * multibyte or invalid), with dst holding scratch: the caller then checks
 * byte by byte. The two must not overlap. Only in builds with
 * MIDGE_FAST_PATHS. Always inlined: as a call it would cost the publish
 * path its registers. */
MIDGE_CORE__FN MIDGE_CODEC__ALWAYS_INLINE inline
bool midge_topic__copy_words(uint8_t *restrict dst, const uint8_t *restrict topic, size_t len);
#endif

#endif /* MIDGE_CORE_UNIT */

#endif /* MIDGE_CODEC_INTERNAL_H */
