/*
 * midge codec, client side: MQTT 3.1.1 packets <-> bytes.
 *
 * Pure C11 over caller buffers: no heap, no globals, no I/O. Every decoder
 * reads only inside [buf, buf + len), checking lengths before each read, so
 * it is safe on untrusted network input.
 */
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

/* Protocol name and level plus flags and keepalive: section 3.1.2. */
#define CONNECT_VARIABLE_HEADER 10u

/* PUBLISH fixed-header flags, section 3.3.1. */
#define PUBLISH_DUP 0x08u
#define PUBLISH_RETAIN 0x01u

static inline void set_status(midge_status *st, midge_status value)
{
    if (st != NULL)
        *st = value;
}

static inline midge_decode_result decode_fail(midge_malformed reason)
{
    midge_decode_result r = {MIDGE_DECODE_MALFORMED, reason, 0, 0};
    return r;
}

/* --- Variable byte integer (section 2.2.3) ------------------------------- */

size_t midge_codec_length_size(uint32_t value)
{
    if (value < 128u)
        return 1;
    if (value < 16384u)
        return 2;
    if (value < 2097152u)
        return 3;
    if (value <= MIDGE_MAX_REMAINING_LENGTH)
        return 4;
    return 0;
}

size_t midge_codec_put_length(uint8_t *out, uint32_t value)
{
    size_t n = midge_codec_length_size(value);

    if (n == 0 || out == NULL)
        return 0;
    /* Seven bits a byte, least significant first, high bit = "more". */
    for (size_t i = 0; i < n; i++) {
        uint8_t digit = (uint8_t)(value & 0x7Fu);
        value >>= 7;
        out[i] = (i + 1 < n) ? (uint8_t)(digit | 0x80u) : digit;
    }
    return n;
}

midge_decode_result midge_codec_decode_header(const uint8_t *buf, size_t len, uint8_t *type_flags,
                                              uint32_t *remaining, size_t *header_len)
{
    midge_decode_result r = {MIDGE_DECODE_NEED_MORE, MIDGE_MALFORMED_NONE, 0, 0};
    uint32_t value = 0;
    size_t n = 0; /* length bytes */

    if (buf == NULL || len < 2)
        return r;
    /* At most four length bytes follow the first byte. A continuation bit on
     * the fourth is malformed whether or not a fifth byte has arrived: no
     * valid packet can follow. A non-minimal encoding (80 00) is accepted,
     * 2.2.3 only obliges the sender to be minimal. */
    for (;;) {
        uint8_t digit = buf[1 + n];
        value |= (uint32_t)(digit & 0x7Fu) << (7 * n);
        n++;
        if ((digit & 0x80u) == 0)
            break;
        if (n == 4)
            return decode_fail(MIDGE_MALFORMED_REMAINING_LENGTH);
        if (1 + n >= len)
            return r;
    }
    if (type_flags != NULL)
        *type_flags = buf[0];
    if (remaining != NULL)
        *remaining = value;
    if (header_len != NULL)
        *header_len = 1 + n;
    r.outcome = MIDGE_DECODE_COMPLETE;
    r.used = 1 + n;
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

/* Checks that need only the first byte, so garbage is refused before its
 * length field or body arrives. Section 2.2.2 fixes the flags of every type
 * but PUBLISH; the other types a server never sends. */
static midge_malformed check_first_byte(uint8_t first)
{
    uint8_t flags = first & 0x0Fu;

    switch (first >> 4) {
    case MIDGE_PUBLISH:
        return ((flags >> 1) & 3u) == 3u ? MIDGE_MALFORMED_QOS : MIDGE_MALFORMED_NONE;
    case MIDGE_PUBREL:
        return flags == MIDGE_CODEC__FLAGS_PUBREL ? MIDGE_MALFORMED_NONE
                                                  : MIDGE_MALFORMED_RESERVED_FLAGS;
    case MIDGE_CONNACK:
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBCOMP:
    case MIDGE_SUBACK:
    case MIDGE_UNSUBACK:
    case MIDGE_PINGRESP:
        return flags == 0 ? MIDGE_MALFORMED_NONE : MIDGE_MALFORMED_RESERVED_FLAGS;
    default:
        return MIDGE_MALFORMED_TYPE;
    }
}

/* Checks on the remaining length alone, done before waiting for the body so
 * that a bogus length cannot make the caller buffer bytes it will refuse. */
static bool length_fits(uint8_t type, uint32_t remaining)
{
    switch (type) {
    case MIDGE_CONNACK:
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBREL:
    case MIDGE_PUBCOMP:
    case MIDGE_UNSUBACK:
        return remaining == 2; /* 3.2.1, 3.4.1 - 3.7.1, 3.11.1 */
    case MIDGE_SUBACK:
        return remaining >= 3; /* id plus at least one code, 3.9.3 */
    case MIDGE_PINGRESP:
        return remaining == 0; /* 3.13.1 */
    default:
        return true; /* PUBLISH: checked against its fields */
    }
}

static midge_malformed decode_connack(const uint8_t *body, midge_packet *out)
{
    uint8_t ack_flags = body[0];
    uint8_t code = body[1];

    /* 3.2.2.1: bits 7..1 of the acknowledge flags are reserved, 0. */
    if ((ack_flags & 0xFEu) != 0)
        return MIDGE_MALFORMED_CONNACK;
    /* 3.2.2.3: return codes 6..255 are reserved. */
    if (code > 5)
        return MIDGE_MALFORMED_CONNACK;
    /* 3.2.2-4: a refusal must carry session present 0. */
    if (code != 0 && ack_flags != 0)
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
    size_t header_len = 0;

    if (buf == NULL || len == 0)
        return r;
    midge_malformed why = check_first_byte(buf[0]);
    if (why != MIDGE_MALFORMED_NONE)
        return decode_fail(why);
    uint8_t type = buf[0] >> 4;
    r = midge_codec_decode_header(buf, len, NULL, &remaining, &header_len);
    if (r.outcome != MIDGE_DECODE_COMPLETE)
        return r;
    if (!length_fits(type, remaining))
        return decode_fail(MIDGE_MALFORMED_LENGTH);
    r = midge_codec__need_body(len, header_len, remaining);
    if (r.outcome != MIDGE_DECODE_COMPLETE)
        return r;
    if (out == NULL)
        out = &scratch; /* validate only */

    /* Past this point the whole packet is in [buf, buf + r.used). */
    const uint8_t *body = buf + header_len;
    out->type = type;
    out->flags = buf[0] & 0x0Fu;
    out->packet_id = 0;
    switch (type) {
    case MIDGE_CONNACK:
        why = decode_connack(body, out);
        break;
    case MIDGE_PUBLISH:
        why = midge_codec__decode_publish(body, remaining, out->flags, &out->publish,
                                          &out->packet_id);
        break;
    case MIDGE_SUBACK:
        why = decode_suback(body, remaining, out);
        break;
    case MIDGE_PINGRESP:
        why = MIDGE_MALFORMED_NONE;
        break;
    default: /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
        why = midge_codec__decode_id_only(body, remaining, &out->packet_id);
        break;
    }
    if (why != MIDGE_MALFORMED_NONE)
        return decode_fail(why);
    return r;
}

/* --- Encoding what a client sends ---------------------------------------- */

size_t midge_codec__strlen(const char *s, size_t limit)
{
    size_t n = 0;

    while (n <= limit && s[n] != '\0')
        n++;
    return n;
}

/* A UTF-8 string field of CONNECT: present and valid, with its length. */
static bool string_field(const char *s, size_t *len)
{
    if (s == NULL)
        return false;
    *len = midge_codec__strlen(s, MIDGE_CODEC__MAX_STRING);
    return midge_utf8_valid((const uint8_t *)s, *len);
}

/* Lengths of every CONNECT field, computed once and shared by the size and
 * encode functions. */
typedef struct connect_layout {
    size_t client_id_len;
    size_t will_topic_len;
    size_t username_len;
    size_t password_len;
    uint8_t flags;
    uint32_t remaining;
} connect_layout;

static bool layout_connect(const midge_connect_opts *o, connect_layout *l)
{
    size_t rem = CONNECT_VARIABLE_HEADER;

    if (o == NULL)
        return false;
    l->flags = o->clean_session ? CONNECT_CLEAN_SESSION : 0;

    /* 3.1.3.1: the client id is a UTF-8 string; 3.1.3-7: an empty one needs
     * a clean session. */
    if (!string_field(o->client_id, &l->client_id_len))
        return false;
    if (l->client_id_len == 0 && !o->clean_session)
        return false;
    rem += 2 + l->client_id_len;

    l->will_topic_len = 0;
    if (o->will != NULL) {
        const midge_will *w = o->will;
        /* 3.1.2-14: QoS 3 is not a will QoS. 3.1.3.2: the will topic is a
         * topic name, so no wildcards. */
        if (w->qos > 2 || w->topic == NULL)
            return false;
        l->will_topic_len = midge_codec__strlen(w->topic, MIDGE_CODEC__MAX_STRING);
        if (!midge_topic_name_valid(w->topic, l->will_topic_len))
            return false;
        if (w->payload == NULL && w->payload_len != 0)
            return false;
        l->flags |= CONNECT_WILL_FLAG | (uint8_t)(w->qos << CONNECT_WILL_QOS_SHIFT);
        if (w->retain)
            l->flags |= CONNECT_WILL_RETAIN;
        rem += 2 + l->will_topic_len + 2 + w->payload_len;
    }

    l->username_len = 0;
    if (o->username != NULL) {
        if (!string_field(o->username, &l->username_len))
            return false;
        l->flags |= CONNECT_USERNAME;
        rem += 2 + l->username_len;
    }

    /* 3.1.2-22: no password without a user name. The password is binary
     * data (3.1.3.5), so only its length is checked. */
    l->password_len = 0;
    if (o->password != NULL) {
        if (o->username == NULL)
            return false;
        l->password_len = midge_codec__strlen(o->password, MIDGE_CODEC__MAX_STRING);
        if (l->password_len > MIDGE_CODEC__MAX_STRING)
            return false;
        l->flags |= CONNECT_PASSWORD;
        rem += 2 + l->password_len;
    }

    /* At most five 64 KiB fields: far below the remaining-length limit, so
     * no overflow check is needed here. */
    l->remaining = (uint32_t)rem;
    return true;
}

size_t midge_codec_size_connect(const midge_connect_opts *opts)
{
    connect_layout l;

    if (!layout_connect(opts, &l))
        return 0;
    return midge_codec__packet_size(l.remaining);
}

size_t midge_codec_encode_connect(uint8_t *buf, size_t cap, const midge_connect_opts *opts,
                                  midge_status *st)
{
    connect_layout l;

    if (!layout_connect(opts, &l)) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    size_t total = midge_codec__packet_size(l.remaining);
    if (buf == NULL || cap < total) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }

    /* 3.1.2.1 - 3.1.2.2: protocol name "MQTT", level 4 for 3.1.1. */
    uint8_t *p = midge_codec__put_header(buf, (uint8_t)(MIDGE_CONNECT << 4), l.remaining);
    p = midge_codec__put_field(p, "MQTT", 4);
    *p++ = 4;
    *p++ = l.flags;
    p = midge_codec__put_u16(p, opts->keepalive_s);

    /* 3.1.3: payload fields in this fixed order, each present iff its flag. */
    p = midge_codec__put_field(p, opts->client_id, (uint16_t)l.client_id_len);
    if (opts->will != NULL) {
        p = midge_codec__put_field(p, opts->will->topic, (uint16_t)l.will_topic_len);
        p = midge_codec__put_field(p, opts->will->payload, opts->will->payload_len);
    }
    if (opts->username != NULL)
        p = midge_codec__put_field(p, opts->username, (uint16_t)l.username_len);
    if (opts->password != NULL)
        p = midge_codec__put_field(p, opts->password, (uint16_t)l.password_len);

    set_status(st, MIDGE_OK);
    return (size_t)(p - buf);
}

/* Everything about a PUBLISH but its DUP bit and packet id, which the
 * session sets itself: so the session validates a message once, here, and
 * never through a second layout. 0 = invalid (no valid PUBLISH has a zero
 * remaining length: the topic field is at least 3 bytes). */
uint32_t midge_codec__publish_remaining(const midge_publish *m)
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

/* The hot path of every outgoing PUBLISH: sized once, topic checked and
 * copied in one pass, payload copied once. Whatever goes wrong returns 0
 * with buf[0, cap) holding scratch; the caller works out why on its own,
 * rare, path. */
size_t midge_codec__publish_into(uint8_t *buf, size_t cap, const midge_publish *m, bool dup,
                                 uint16_t id)
{
    size_t topic_len = m->topic_len;
    size_t payload_len = m->payload_len;

    if (m->qos > 2 || (m->payload == NULL && payload_len != 0))
        return 0;
    if (payload_len > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    size_t rem = 2u + topic_len + (m->qos != 0 ? 2u : 0u) + payload_len;
    if (rem > MIDGE_MAX_REMAINING_LENGTH)
        return 0;
    size_t total = midge_codec__packet_size(rem);
    if (cap < total)
        return 0;

    uint8_t first = (uint8_t)(MIDGE_PUBLISH << 4 | m->qos << 1 | (dup ? PUBLISH_DUP : 0u) |
                              (m->retain ? PUBLISH_RETAIN : 0u));
    uint8_t *p = midge_codec__put_header(buf, first, (uint32_t)rem);
    p = midge_codec__put_u16(p, (uint16_t)topic_len);
    /* The fields after the topic go in first and the topic last, so that
     * fewer values live across the calls (the regions are disjoint, order
     * does not matter to the bytes). */
    uint8_t *after = p + topic_len;
    if (m->qos != 0)
        after = midge_codec__put_u16(after, id);
    if (payload_len != 0)
        memcpy(after, m->payload, payload_len);
    if (midge_topic__copy_name(p, (const uint8_t *)m->topic, topic_len) != MIDGE_MALFORMED_NONE)
        return 0;
    return total;
}

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
    uint32_t rem = publish_flags_valid(msg) ? midge_codec__publish_remaining(msg) : 0;

    return rem == 0 ? 0 : midge_codec__packet_size(rem);
}

size_t midge_codec_encode_publish(uint8_t *buf, size_t cap, const midge_publish *msg,
                                  midge_status *st)
{
    if (!publish_flags_valid(msg)) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    size_t n = midge_codec__publish_into(buf, buf != NULL ? cap : 0, msg, msg->dup,
                                         msg->packet_id);
    if (n == 0) {
        /* Failures only: telling "invalid" from "no room" costs a second
         * validation, which the success path never pays. */
        set_status(st, midge_codec__publish_remaining(msg) == 0 ? MIDGE_ERR_INVALID
                                                                : MIDGE_ERR_NO_SPACE);
        return 0;
    }
    set_status(st, MIDGE_OK);
    return n;
}

size_t midge_codec_encode_ack(uint8_t *buf, size_t cap, uint8_t type, uint16_t packet_id,
                              midge_status *st)
{
    if (type < MIDGE_PUBACK || type > MIDGE_PUBCOMP || packet_id == 0) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    if (buf == NULL || cap < 4) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    /* 3.6.1: PUBREL alone carries flags 0010. */
    uint8_t flags = type == MIDGE_PUBREL ? MIDGE_CODEC__FLAGS_PUBREL : 0;
    buf[0] = (uint8_t)(type << 4 | flags);
    buf[1] = 2;
    midge_codec__put_u16(buf + 2, packet_id);
    set_status(st, MIDGE_OK);
    return 4;
}

/* Remaining length of a SUBSCRIBE (with_qos) or UNSUBSCRIBE, 0 if invalid.
 * 3.8.3-3 / 3.10.3-2: at least one filter; every filter valid (4.7.1). */
static uint32_t layout_filters(const char *const *filters, const midge_subscription *subs,
                               size_t count)
{
    size_t rem = 2; /* packet id */

    if (count == 0 || (filters == NULL && subs == NULL))
        return 0;
    for (size_t i = 0; i < count; i++) {
        const char *f = subs != NULL ? subs[i].filter : filters[i];
        if (f == NULL)
            return 0;
        size_t n = midge_codec__strlen(f, MIDGE_CODEC__MAX_STRING);
        if (!midge_topic_filter_valid(f, n))
            return 0;
        if (subs != NULL && subs[i].qos > 2)
            return 0; /* 3.8.3-4 */
        rem += 2 + n + (subs != NULL ? 1u : 0u);
        if (rem > MIDGE_MAX_REMAINING_LENGTH)
            return 0;
    }
    return (uint32_t)rem;
}

/* Writes the filter list after the fixed header and packet id. */
static uint8_t *put_filters(uint8_t *p, const char *const *filters,
                            const midge_subscription *subs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const char *f = subs != NULL ? subs[i].filter : filters[i];
        size_t n = midge_codec__strlen(f, MIDGE_CODEC__MAX_STRING);
        p = midge_codec__put_field(p, f, (uint16_t)n);
        if (subs != NULL)
            *p++ = subs[i].qos; /* 3.8.3.1: upper six bits stay 0 */
    }
    return p;
}

static size_t encode_filters(uint8_t *buf, size_t cap, uint8_t type, uint16_t packet_id,
                             const char *const *filters, const midge_subscription *subs,
                             size_t count, midge_status *st)
{
    uint32_t rem = packet_id == 0 ? 0 : layout_filters(filters, subs, count);

    if (rem == 0) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    size_t total = midge_codec__packet_size(rem);
    if (buf == NULL || cap < total) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    /* 3.8.1 / 3.10.1: both carry fixed flags 0010. */
    uint8_t *p = midge_codec__put_header(buf, (uint8_t)(type << 4 | MIDGE_CODEC__FLAGS_SUBSCRIBE),
                                         rem);
    p = midge_codec__put_u16(p, packet_id);
    p = put_filters(p, filters, subs, count);
    set_status(st, MIDGE_OK);
    return (size_t)(p - buf);
}

size_t midge_codec_size_subscribe(const midge_subscription *subs, size_t count)
{
    uint32_t rem = subs == NULL ? 0 : layout_filters(NULL, subs, count);

    return rem == 0 ? 0 : midge_codec__packet_size(rem);
}

size_t midge_codec_encode_subscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
                                    const midge_subscription *subs, size_t count,
                                    midge_status *st)
{
    if (subs == NULL) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    return encode_filters(buf, cap, MIDGE_SUBSCRIBE, packet_id, NULL, subs, count, st);
}

size_t midge_codec_size_unsubscribe(const char *const *filters, size_t count)
{
    uint32_t rem = filters == NULL ? 0 : layout_filters(filters, NULL, count);

    return rem == 0 ? 0 : midge_codec__packet_size(rem);
}

size_t midge_codec_encode_unsubscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
                                      const char *const *filters, size_t count,
                                      midge_status *st)
{
    if (filters == NULL) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    return encode_filters(buf, cap, MIDGE_UNSUBSCRIBE, packet_id, filters, NULL, count, st);
}

/* PINGREQ and DISCONNECT: a fixed header with flags 0 and nothing else. */
static size_t encode_empty(uint8_t *buf, size_t cap, uint8_t type, midge_status *st)
{
    if (buf == NULL || cap < 2) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    buf[0] = (uint8_t)(type << 4);
    buf[1] = 0;
    set_status(st, MIDGE_OK);
    return 2;
}

size_t midge_codec_encode_pingreq(uint8_t *buf, size_t cap, midge_status *st)
{
    return encode_empty(buf, cap, MIDGE_PINGREQ, st); /* 3.12 */
}

size_t midge_codec_encode_disconnect(uint8_t *buf, size_t cap, midge_status *st)
{
    return encode_empty(buf, cap, MIDGE_DISCONNECT, st); /* 3.14 */
}
