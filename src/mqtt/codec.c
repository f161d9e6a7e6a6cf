/*
 * midge codec, client side: MQTT 3.1.1 packets <-> bytes.
 *
 * Pure C11 over caller buffers: no heap, no globals, no I/O. Every decoder
 * reads only inside [buf, buf + len), checking lengths before each read, so
 * it is safe on untrusted network input.
 *
 * Written for code size as much as for speed: this file is most of the
 * client core of a microcontroller build. Validation rules live in tables
 * or in one function shared by the sizing and the writing of a packet, so
 * that each rule is written (and compiled) once.
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

/* CONNECT flag bits, section 3.1.2.3. */
#define CONNECT_USERNAME 0x80u
#define CONNECT_PASSWORD 0x40u
#define CONNECT_WILL_RETAIN 0x20u
#define CONNECT_WILL_FLAG 0x04u
#define CONNECT_CLEAN_SESSION 0x02u
#define CONNECT_WILL_QOS_SHIFT 3

/* PUBLISH fixed-header flags, section 3.3.1. */
#define PUBLISH_DUP 0x08u
#define PUBLISH_RETAIN 0x01u

/* Every encoder ends here: the status out-parameter may be NULL, and one
 * out-of-line copy of that test is smaller than one per return. */
MIDGE_CODEC__COLD static size_t finish(midge_status *st, midge_status value, size_t n)
{
    if (st != NULL)
        *st = value;
    return n;
}

/* --- Variable byte integer (section 2.2.3) ------------------------------- */

size_t midge_codec_length_size(uint32_t value)
{
    size_t n = 1;

    if (value > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    while (value >= 128u) {
        value >>= 7;
        n++;
    }
    return n;
}

size_t midge_codec_put_length(uint8_t *out, uint32_t value)
{
    if (out == NULL || value > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    return (size_t)(midge_codec__put_vbi(out, value) - out);
}

/* The remaining length that follows the first byte: returns the size of
 * the fixed header (2..5) with *remaining set, 0 while more bytes are
 * needed, or -1 when it is malformed. At most four length bytes follow the
 * first byte; a continuation bit on the fourth is malformed whether or not
 * a fifth byte has arrived, as no valid packet can follow. A non-minimal
 * encoding (80 00) is accepted: 2.2.3 only obliges the sender to be
 * minimal. */
static int read_header(const uint8_t *buf, size_t len, uint32_t *remaining)
{
    uint32_t value = 0;

    for (size_t n = 1; n < len; n++) {
        uint8_t digit = buf[n];
        value |= (uint32_t)(digit & 0x7Fu) << (7 * (n - 1));
        if ((digit & 0x80u) == 0) {
            *remaining = value;
            return (int)n + 1;
        }
        if (n == 4)
            return -1;
    }
    return 0;
}

midge_decode_result midge_codec_decode_header(const uint8_t *buf, size_t len, uint8_t *type_flags,
                                              uint32_t *remaining, size_t *header_len)
{
    midge_decode_result r = {MIDGE_DECODE_NEED_MORE, MIDGE_MALFORMED_NONE, 0, 0};
    uint32_t value = 0;
    int n = buf == NULL ? 0 : read_header(buf, len, &value);

    if (n < 0) {
        r.outcome = MIDGE_DECODE_MALFORMED;
        r.reason = MIDGE_MALFORMED_REMAINING_LENGTH;
    } else if (n > 0) {
        if (type_flags != NULL)
            *type_flags = buf[0];
        if (remaining != NULL)
            *remaining = value;
        if (header_len != NULL)
            *header_len = (size_t)n;
        r.outcome = MIDGE_DECODE_COMPLETE;
        r.used = (size_t)n;
    }
    return r;
}

/* --- Shared body decoders ------------------------------------------------ */

midge_malformed midge_codec__decode_publish(const uint8_t *body, uint32_t remaining,
                                            uint8_t flags, midge_publish *out,
                                            uint16_t *packet_id)
{
    uint8_t qos = (uint8_t)((flags >> 1) & 3u);
    uint32_t id_len = qos != 0 ? 2u : 0u;

    /* 3.3.2: topic length, topic, then the packet id when QoS > 0. */
    if (remaining < 2u + id_len)
        return MIDGE_MALFORMED_LENGTH;
    uint16_t topic_len = midge_codec__read_u16(body);
    if ((uint32_t)topic_len + 2u + id_len > remaining)
        return MIDGE_MALFORMED_LENGTH;
    const uint8_t *topic = body + 2;
    midge_malformed why = midge_topic__check_name(topic, topic_len);
    if (why != MIDGE_MALFORMED_NONE)
        return why;
    uint16_t id = 0;
    if (qos != 0) {
        id = midge_codec__read_u16(topic + topic_len);
        if (id == 0)
            return MIDGE_MALFORMED_PACKET_ID; /* 2.3.1-1 */
    }

    /* DUP on a QoS 0 message breaks 3.3.1-2, but the message itself is
     * intact, so it is delivered rather than tearing the connection down. */
    size_t head = 2u + topic_len + id_len;
    out->topic = (const char *)topic;
    out->topic_len = topic_len;
    out->qos = qos;
    out->retain = (flags & PUBLISH_RETAIN) != 0;
    out->dup = (flags & PUBLISH_DUP) != 0;
    out->packet_id = id;
    out->payload = body + head;
    out->payload_len = remaining - head;
    *packet_id = id;
    return MIDGE_MALFORMED_NONE;
}

midge_malformed midge_codec__decode_id_only(const uint8_t *body, uint32_t remaining,
                                            uint16_t *packet_id)
{
    if (remaining != 2)
        return MIDGE_MALFORMED_LENGTH;
    uint16_t id = midge_codec__read_u16(body);
    if (id == 0)
        return MIDGE_MALFORMED_PACKET_ID; /* 2.3.1-1 */
    *packet_id = id;
    return MIDGE_MALFORMED_NONE;
}

/* --- Decoding what a server sends ---------------------------------------- */

/* What the fixed header of each packet type a server may send must carry,
 * one byte per type: 0 = the type never comes from a server in 3.1.1
 * (section 2.2.1), else RULE_SENT plus the fixed flags of section 2.2.2
 * (PUBLISH: its flags are checked for QoS 3 instead) plus the rule on the
 * remaining length. A table is smaller than the two switches it replaces,
 * and the length is judged before the body arrives, so that a bogus length
 * cannot make the caller buffer bytes it will refuse. */
enum {
    LEN_ANY = 0,  /* PUBLISH: checked against its fields */
    LEN_ZERO = 1, /* 3.13.1 */
    LEN_TWO = 2,  /* 3.2.1, 3.4.1 - 3.7.1, 3.11.1 */
    LEN_MIN3 = 3, /* SUBACK: id plus at least one code, 3.9.3 */
    RULE_SENT = 0x80
};
#define RULE(flags, len) (uint8_t)(RULE_SENT | (flags) << 2 | (len))
#define RULE_FLAGS(rule) (((rule) >> 2) & 0x0Fu)
#define RULE_LEN(rule) ((rule) & 3u)

static const uint8_t server_rules[16] = {
    [MIDGE_CONNACK] = RULE(0, LEN_TWO),
    [MIDGE_PUBLISH] = RULE(0, LEN_ANY),
    [MIDGE_PUBACK] = RULE(0, LEN_TWO),
    [MIDGE_PUBREC] = RULE(0, LEN_TWO),
    [MIDGE_PUBREL] = RULE(MIDGE_CODEC__FLAGS_PUBREL, LEN_TWO),
    [MIDGE_PUBCOMP] = RULE(0, LEN_TWO),
    [MIDGE_SUBACK] = RULE(0, LEN_MIN3),
    [MIDGE_UNSUBACK] = RULE(0, LEN_TWO),
    [MIDGE_PINGRESP] = RULE(0, LEN_ZERO),
};

/* The checks that need only the first byte, so garbage is refused before
 * its length field or body arrives. */
static midge_malformed check_first_byte(uint8_t first)
{
    uint8_t type = first >> 4, flags = first & 0x0Fu;
    uint8_t rule = server_rules[type];

    if (rule == 0)
        return MIDGE_MALFORMED_TYPE;
    if (type == MIDGE_PUBLISH)
        return (flags & 6u) == 6u ? MIDGE_MALFORMED_QOS : MIDGE_MALFORMED_NONE;
    return flags == RULE_FLAGS(rule) ? MIDGE_MALFORMED_NONE : MIDGE_MALFORMED_RESERVED_FLAGS;
}

static bool length_fits(uint8_t type, uint32_t remaining)
{
    unsigned len = RULE_LEN(server_rules[type]);

    if (len == LEN_ANY)
        return true;
    if (len == LEN_MIN3)
        return remaining >= 3;
    return remaining == (len - 1u) * 2u; /* LEN_ZERO: 0, LEN_TWO: 2 */
}

static midge_malformed decode_connack(const uint8_t *body, midge_packet *out)
{
    uint8_t ack_flags = body[0];
    uint8_t code = body[1];

    /* 3.2.2.1: bits 7..1 of the acknowledge flags are reserved, 0.
     * 3.2.2.3: return codes 6..255 are reserved.
     * 3.2.2-4: a refusal must carry session present 0. */
    if ((ack_flags & 0xFEu) != 0 || code > 5 || (code != 0 && ack_flags != 0))
        return MIDGE_MALFORMED_CONNACK;
    out->connack.session_present = ack_flags != 0;
    out->connack.return_code = code;
    return MIDGE_MALFORMED_NONE;
}

static midge_malformed decode_suback(const uint8_t *body, uint32_t remaining, midge_packet *out)
{
    uint16_t id = midge_codec__read_u16(body);

    if (id == 0)
        return MIDGE_MALFORMED_PACKET_ID;
    /* 3.9.3: each code is a granted QoS or the failure code 0x80. */
    for (uint32_t i = 2; i < remaining; i++) {
        uint8_t code = body[i];
        if (code > 2 && code != MIDGE_SUBACK_FAILURE)
            return MIDGE_MALFORMED_SUBACK_CODE;
    }
    out->packet_id = id;
    out->suback.codes = body + 2;
    out->suback.count = remaining - 2;
    return MIDGE_MALFORMED_NONE;
}

midge_decode_result midge_codec_decode(const uint8_t *buf, size_t len, midge_packet *out)
{
    midge_decode_result r = {MIDGE_DECODE_NEED_MORE, MIDGE_MALFORMED_NONE, 0, 0};
    midge_packet scratch;
    uint32_t remaining = 0;

    if (buf == NULL || len == 0)
        return r;
    midge_malformed why = check_first_byte(buf[0]);
    if (why != MIDGE_MALFORMED_NONE)
        goto fail;
    uint8_t type = buf[0] >> 4;
    int header_len = read_header(buf, len, &remaining);
    why = MIDGE_MALFORMED_REMAINING_LENGTH;
    if (header_len < 0)
        goto fail;
    if (header_len == 0)
        return r;
    why = MIDGE_MALFORMED_LENGTH;
    if (!length_fits(type, remaining))
        goto fail;
    size_t total = (size_t)header_len + remaining;
    if (len < total) {
        r.needed = total;
        return r;
    }
    if (out == NULL)
        out = &scratch; /* validate only */

    /* Past this point the whole packet is in [buf, buf + total). */
    const uint8_t *body = buf + header_len;
    out->type = type;
    out->flags = buf[0] & 0x0Fu;
    out->packet_id = 0;
    if (type == MIDGE_CONNACK)
        why = decode_connack(body, out);
    else if (type == MIDGE_PUBLISH)
        why = midge_codec__decode_publish(body, remaining, out->flags, &out->publish,
                                          &out->packet_id);
    else if (type == MIDGE_SUBACK)
        why = decode_suback(body, remaining, out);
    else if (type == MIDGE_PINGRESP)
        why = MIDGE_MALFORMED_NONE;
    else /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
        why = midge_codec__decode_id_only(body, remaining, &out->packet_id);
    if (why == MIDGE_MALFORMED_NONE) {
        r.outcome = MIDGE_DECODE_COMPLETE;
        r.used = total;
        return r;
    }
fail:
    r.outcome = MIDGE_DECODE_MALFORMED;
    r.reason = why;
    return r;
}

/* --- Encoding what a client sends ---------------------------------------- */

MIDGE_CORE__FN size_t midge_codec__strlen(const char *s, size_t limit)
{
    size_t n = 0;

    while (n <= limit && s[n] != '\0')
        n++;
    return n;
}

/* CONNECT, SUBSCRIBE and UNSUBSCRIBE run their body writer twice: first
 * with no buffer, which validates the input and measures the remaining
 * length, then into the buffer after the fixed header. One writer for both
 * passes keeps the size and the bytes from drifting apart, in half the code
 * of a layout function beside an encoder. */
typedef struct body_out {
    uint8_t *p; /* NULL while measuring */
    size_t n;   /* body bytes so far */
} body_out;

typedef bool (*body_fn)(body_out *o, const void *arg);

static void out_bytes(body_out *o, const void *src, size_t n)
{
    /* n == 0 may come with src == NULL, which memcpy does not allow. */
    if (o->p != NULL && n != 0)
        memcpy(o->p + o->n, src, n);
    o->n += n;
}

/* A length-prefixed field: UTF-8 string (1.5.3) or binary data (3.1.3.5). */
static void out_field(body_out *o, const void *src, size_t n)
{
    uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};

    out_bytes(o, len, 2);
    out_bytes(o, src, n);
}

/* What a NUL-terminated string field must be. A name and a filter are
 * midge_topic__check()'s `filter` argument, false and true. */
enum { FIELD_NAME, FIELD_FILTER, FIELD_TEXT, FIELD_BINARY };

/* A NUL-terminated field, validated as `kind`; false when absent or invalid.
 * Every check refuses more than 65535 bytes (1.5.3). */
static bool out_string(body_out *o, const char *s, int kind)
{
    if (s == NULL)
        return false;
    size_t n = midge_codec__strlen(s, MIDGE_CODEC__MAX_STRING);
    bool ok = n <= MIDGE_CODEC__MAX_STRING;
    if (kind <= FIELD_FILTER) /* 3.1.3.2: the will topic; 4.7.1 */
        ok = midge_topic__check((const uint8_t *)s, n, kind) == MIDGE_MALFORMED_NONE;
    else if (kind == FIELD_TEXT)
        ok = midge_utf8_valid((const uint8_t *)s, n);
    out_field(o, s, n);
    return ok;
}

/* Encode a packet whose body `fill` writes: both passes and the status. */
static size_t encode_body(uint8_t *buf, size_t cap, uint8_t first, body_fn fill, const void *arg,
                          midge_status *st)
{
    body_out o = {NULL, 0};

    if (!fill(&o, arg))
        return finish(st, MIDGE_ERR_INVALID, 0);
    size_t total = midge_codec__packet_size(o.n);
    if (buf == NULL || cap < total)
        return finish(st, MIDGE_ERR_NO_SPACE, 0);
    o.p = midge_codec__put_header(buf, first, (uint32_t)o.n);
    o.n = 0;
    (void)fill(&o, arg);
    return finish(st, MIDGE_OK, total);
}

/* The measuring pass alone: the packet size, 0 when the input is invalid. */
static size_t size_body(body_fn fill, const void *arg)
{
    body_out o = {NULL, 0};

    return fill(&o, arg) ? midge_codec__packet_size(o.n) : 0;
}

static bool connect_body(body_out *o, const void *arg)
{
    const midge_connect_opts *c = arg;

    if (c == NULL)
        return false;
    const midge_will *w = c->will;
    uint8_t flags = c->clean_session ? CONNECT_CLEAN_SESSION : 0;
    if (w != NULL) {
        /* 3.1.2-14: QoS 3 is not a will QoS. */
        if (w->qos > 2 || (w->payload == NULL && w->payload_len != 0))
            return false;
        flags |= CONNECT_WILL_FLAG | (uint8_t)(w->qos << CONNECT_WILL_QOS_SHIFT) |
                 (uint8_t)(w->retain ? CONNECT_WILL_RETAIN : 0u);
    }
    if (c->username != NULL)
        flags |= CONNECT_USERNAME;
    if (c->password != NULL) {
        /* 3.1.2-22: no password without a user name. */
        if (c->username == NULL)
            return false;
        flags |= CONNECT_PASSWORD;
    }

    /* 3.1.2.1 - 3.1.2.3, 3.1.2.10: protocol name "MQTT", level 4 for 3.1.1,
     * the flags and the keepalive. */
    uint8_t head[10] = {0, 4, 'M', 'Q', 'T', 'T', 4, flags, (uint8_t)(c->keepalive_s >> 8),
                        (uint8_t)c->keepalive_s};
    out_bytes(o, head, sizeof head);

    /* 3.1.3: payload fields in this fixed order, each present iff its flag.
     * 3.1.3-7: an empty client id needs a clean session. At most five
     * 64 KiB fields: far below the remaining-length limit. */
    if (!out_string(o, c->client_id, FIELD_TEXT))
        return false;
    if (o->n == sizeof head + 2 && !c->clean_session)
        return false;
    if (w != NULL) {
        if (!out_string(o, w->topic, FIELD_NAME))
            return false;
        out_field(o, w->payload, w->payload_len);
    }
    if (c->username != NULL && !out_string(o, c->username, FIELD_TEXT))
        return false;
    /* The password is binary data (3.1.3.5): only its length is checked. */
    return c->password == NULL || out_string(o, c->password, FIELD_BINARY);
}

size_t midge_codec_size_connect(const midge_connect_opts *opts)
{
    return size_body(connect_body, opts);
}

size_t midge_codec_encode_connect(uint8_t *buf, size_t cap, const midge_connect_opts *opts,
                                  midge_status *st)
{
    return encode_body(buf, cap, (uint8_t)(MIDGE_CONNECT << 4), connect_body, opts, st);
}

/* Everything about a PUBLISH but its DUP bit and packet id, which the
 * session sets itself: so the session validates a message once, here, and
 * never through a second layout. 0 = invalid (no valid PUBLISH has a zero
 * remaining length: the topic field is at least 3 bytes). */
static uint32_t publish_remaining(const midge_publish *m)
{
    if (m->qos > 2)
        return 0;
    if (m->payload == NULL && m->payload_len != 0)
        return 0;
    /* The payload bound first, so the sum below cannot wrap a 32-bit size_t. */
    if (m->payload_len > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    if (midge_topic__check_name((const uint8_t *)m->topic, m->topic_len) != MIDGE_MALFORMED_NONE)
        return 0;
    size_t rem = 2u + m->topic_len + (m->qos != 0 ? 2u : 0u) + m->payload_len;
    if (rem > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    return (uint32_t)rem;
}

static uint8_t publish_first_byte(const midge_publish *m, uint32_t dup_id)
{
    return (uint8_t)(MIDGE_PUBLISH << 4 | m->qos << 1 |
                     (dup_id & MIDGE_CODEC__DUP ? PUBLISH_DUP : 0u) |
                     (m->retain ? PUBLISH_RETAIN : 0u));
}

/* The reference encoder, and the whole of it in the small build (config.h):
 * validate and size, then copy, which is the least code. The fast build
 * falls back to it for anything its hot path does not take. */
MIDGE_CODEC__COLD_IF_FAST static size_t publish_checked(uint8_t *buf, size_t cap,
                                                        const midge_publish *m, uint32_t dup_id)
{
    uint32_t rem = publish_remaining(m);

    if (rem == 0)
        return 0;
    size_t total = midge_codec__packet_size(rem);
    if (cap < total)
        return total;
    uint8_t *p = midge_codec__put_header(buf, publish_first_byte(m, dup_id), rem);
    p = midge_codec__put_u16(p, m->topic_len);
    /* A valid topic name is at least one byte: topic is not NULL. */
    memcpy(p, m->topic, m->topic_len);
    p += m->topic_len;
    if (m->qos != 0)
        p = midge_codec__put_u16(p, (uint16_t)dup_id);
    if (m->payload_len != 0)
        memcpy(p, m->payload, m->payload_len);
    return total;
}

#if MIDGE_FAST_PATHS
/* The hot path of every outgoing PUBLISH: sized once, topic checked and
 * copied in one pass, payload copied once. It returns 0 for whatever it
 * does not take (an invalid, short or non-ASCII topic, no room, anything
 * out of range), and the caller then goes to publish_checked, which
 * decides alone and writes everything again, so the two cannot disagree on
 * what is valid. Leaving that call to the caller, and copying the payload
 * before the topic, means nothing but the message and the size is live
 * once the topic loop runs (it calls nothing), so its word constants stay
 * in registers. A topic that then fails has cost a wasted payload copy into
 * room that is not committed. `qos` is m->qos, or 0 from a caller that
 * knows it. */
MIDGE_CODEC__ALWAYS_INLINE static inline size_t publish_fast(uint8_t *buf, size_t cap,
                                                             const midge_publish *m,
                                                             unsigned qos, uint32_t dup_id)
{
    size_t topic_len = m->topic_len;
    size_t payload_len = m->payload_len;
    size_t id_len = qos != 0 ? 2u : 0u;

    /* The payload bound first, so the sum below cannot wrap a 32-bit size_t. */
    if (qos > 2 || (m->payload == NULL && payload_len != 0) ||
        payload_len > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    size_t rem = 2u + topic_len + id_len + payload_len;
    size_t total = midge_codec__packet_size(rem);
    if (total == 0 || cap < total)
        return 0;

    uint8_t first = (uint8_t)(MIDGE_PUBLISH << 4 | qos << 1 |
                              (dup_id & MIDGE_CODEC__DUP ? PUBLISH_DUP : 0u) |
                              (m->retain ? PUBLISH_RETAIN : 0u));
    uint8_t *p = midge_codec__put_header(buf, first, (uint32_t)rem);
    p = midge_codec__put_u16(p, (uint16_t)topic_len);
    uint8_t *tail = p + topic_len;
    if (id_len != 0)
        tail = midge_codec__put_u16(tail, (uint16_t)dup_id);
    if (payload_len != 0)
        memcpy(tail, m->payload, payload_len);
    if (!midge_topic__copy_words(p, (const uint8_t *)m->topic, topic_len))
        return 0;
    return total;
}

MIDGE_CORE__FN
size_t midge_codec__publish_into(uint8_t *buf, size_t cap, const midge_publish *m, uint32_t dup_id)
{
    size_t n = publish_fast(buf, cap, m, m->qos, dup_id);

    return n != 0 ? n : publish_checked(buf, cap, m, dup_id);
}

MIDGE_CORE__FN size_t midge_codec__publish_qos0(uint8_t *buf, size_t cap, const midge_publish *m)
{
    return publish_fast(buf, cap, m, 0, 0);
}
#else
MIDGE_CORE__FN
size_t midge_codec__publish_into(uint8_t *buf, size_t cap, const midge_publish *m, uint32_t dup_id)
{
    return publish_checked(buf, cap, m, dup_id);
}
#endif

/* The public encoder adds the checks on what the caller chose itself. */
static bool publish_flags_valid(const midge_publish *m)
{
    if (m == NULL)
        return false;
    /* 2.3.1-1: QoS > 0 needs a non-zero id; 3.3.1-2: no DUP on QoS 0. */
    return m->qos != 0 ? m->packet_id != 0 : !m->dup;
}

size_t midge_codec_size_publish(const midge_publish *msg)
{
    /* A capacity of 0 sizes without writing. */
    return publish_flags_valid(msg) ? midge_codec__publish_into(NULL, 0, msg, 0) : 0;
}

size_t midge_codec_encode_publish(uint8_t *buf, size_t cap, const midge_publish *msg,
                                  midge_status *st)
{
    if (!publish_flags_valid(msg))
        return finish(st, MIDGE_ERR_INVALID, 0);
    size_t room = buf != NULL ? cap : 0;
    size_t n = midge_codec__publish_into(buf, room, msg,
                                         (msg->dup ? MIDGE_CODEC__DUP : 0u) | msg->packet_id);
    if (n == 0)
        return finish(st, MIDGE_ERR_INVALID, 0);
    if (n > room)
        return finish(st, MIDGE_ERR_NO_SPACE, 0);
    return finish(st, MIDGE_OK, n);
}

size_t midge_codec_encode_ack(uint8_t *buf, size_t cap, uint8_t type, uint16_t packet_id,
                              midge_status *st)
{
    if (type < MIDGE_PUBACK || type > MIDGE_PUBCOMP || packet_id == 0)
        return finish(st, MIDGE_ERR_INVALID, 0);
    if (buf == NULL || cap < MIDGE_CODEC__ACK_LEN)
        return finish(st, MIDGE_ERR_NO_SPACE, 0);
    midge_codec__put_ack(buf, type, packet_id);
    return finish(st, MIDGE_OK, MIDGE_CODEC__ACK_LEN);
}

/* SUBSCRIBE (subs given) or UNSUBSCRIBE (filters given). 3.8.3-3 /
 * 3.10.3-2: at least one filter; every filter valid (4.7.1); 3.8.3-4: a
 * requested QoS is 0..2; 2.3.1-1: a non-zero packet id. */
static bool filters_body(body_out *o, const void *arg)
{
    const midge_codec__filters *l = arg;

    if (l->count == 0 || (l->filters == NULL && l->subs == NULL) || l->id == 0)
        return false;
    uint8_t id[2] = {(uint8_t)(l->id >> 8), (uint8_t)l->id};
    out_bytes(o, id, 2);
    for (size_t i = 0; i < l->count; i++) {
        if (!out_string(o, l->subs != NULL ? l->subs[i].filter : l->filters[i], FIELD_FILTER))
            return false;
        if (l->subs != NULL) {
            /* 3.8.3.1: the upper six bits of the requested QoS stay 0. */
            if (l->subs[i].qos > 2)
                return false;
            out_bytes(o, &l->subs[i].qos, 1);
        }
        if (o->n > MIDGE_MAX_REMAINING_LENGTH)
            return false;
    }
    return true;
}

/* Out of line: its three callers then build the list and make one call. */
MIDGE_CODEC__COLD MIDGE_CORE__FN size_t midge_codec__size_filters(const midge_codec__filters *l)
{
    return size_body(filters_body, l);
}

MIDGE_CORE__FN
size_t midge_codec__encode_filters(uint8_t *buf, size_t cap, const midge_codec__filters *l,
                                   midge_status *st)
{
    /* 3.8.1 / 3.10.1: both carry fixed flags 0010. */
    uint8_t type = l->subs != NULL ? MIDGE_SUBSCRIBE : MIDGE_UNSUBSCRIBE;

    return encode_body(buf, cap, (uint8_t)(type << 4 | MIDGE_CODEC__FLAGS_SUBSCRIBE),
                       filters_body, l, st);
}

/* The public four: a NULL list reaches filters_body as "neither given",
 * which it refuses, so they need no checks of their own. Every non-zero id
 * takes two bytes: to size, 1 stands for whichever is used. */
size_t midge_codec_size_subscribe(const midge_subscription *subs, size_t count)
{
    midge_codec__filters l = {1, NULL, subs, count};

    return midge_codec__size_filters(&l);
}

size_t midge_codec_encode_subscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
                                    const midge_subscription *subs, size_t count,
                                    midge_status *st)
{
    midge_codec__filters l = {packet_id, NULL, subs, count};

    return midge_codec__encode_filters(buf, cap, &l, st);
}

size_t midge_codec_size_unsubscribe(const char *const *filters, size_t count)
{
    midge_codec__filters l = {1, filters, NULL, count};

    return midge_codec__size_filters(&l);
}

size_t midge_codec_encode_unsubscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
                                      const char *const *filters, size_t count,
                                      midge_status *st)
{
    midge_codec__filters l = {packet_id, filters, NULL, count};

    return midge_codec__encode_filters(buf, cap, &l, st);
}

/* PINGREQ and DISCONNECT: a fixed header with flags 0 and an empty body,
 * through the body writer's checks rather than a copy of them. */
static bool empty_body(body_out *o, const void *arg)
{
    (void)o;
    (void)arg;
    return true;
}

/* Out of line: the two callers then pass four arguments, not six. */
MIDGE_CODEC__COLD static size_t encode_empty(uint8_t *buf, size_t cap, uint8_t type,
                                             midge_status *st)
{
    return encode_body(buf, cap, (uint8_t)(type << 4), empty_body, NULL, st);
}

size_t midge_codec_encode_pingreq(uint8_t *buf, size_t cap, midge_status *st)
{
    return encode_empty(buf, cap, MIDGE_PINGREQ, st); /* 3.12 */
}

size_t midge_codec_encode_disconnect(uint8_t *buf, size_t cap, midge_status *st)
{
    return encode_empty(buf, cap, MIDGE_DISCONNECT, st); /* 3.14 */
}
