/*
 * midge codec, server half: decoding what a client sends and encoding what a
 * broker answers (MQTT 3.1.1). Used by test brokers, never by a device.
 *
 * It shares framing, PUBLISH and acknowledgement decoding with the client
 * codec through codec_internal.h, so both directions apply the same rules.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec_internal.h"
#include "midge/codec_server.h"

/* CONNECT flag bits, section 3.1.2.3. */
#define CONNECT_USERNAME 0x80u
#define CONNECT_PASSWORD 0x40u
#define CONNECT_WILL_RETAIN 0x20u
#define CONNECT_WILL_QOS_MASK 0x18u
#define CONNECT_WILL_FLAG 0x04u
#define CONNECT_CLEAN_SESSION 0x02u
#define CONNECT_RESERVED 0x01u

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

/* A bounded reader over one packet body: every take checks what is left, so
 * a length field can never lead past the body. */
typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
} reader;

static bool take_u16(reader *r, uint16_t *v)
{
    if (r->end - r->p < 2)
        return false;
    *v = midge_codec__read_u16(r->p);
    r->p += 2;
    return true;
}

/* A length-prefixed field (1.5.3 string or 3.1.3.5 binary data). */
static bool take_field(reader *r, const uint8_t **ptr, uint16_t *len)
{
    if (!take_u16(r, len))
        return false;
    if (r->end - r->p < *len)
        return false;
    *ptr = r->p;
    r->p += *len;
    return true;
}

/* A UTF-8 string field: MALFORMED_LENGTH when it overruns the body,
 * MALFORMED_UTF8 when its bytes break 1.5.3. */
static midge_malformed take_string(reader *r, midge_str *s)
{
    const uint8_t *ptr;
    uint16_t len;

    if (!take_field(r, &ptr, &len))
        return MIDGE_MALFORMED_LENGTH;
    if (!midge_utf8_valid(ptr, len))
        return MIDGE_MALFORMED_UTF8;
    s->ptr = (const char *)ptr;
    s->len = len;
    return MIDGE_MALFORMED_NONE;
}

/* --- CONNECT (section 3.1) ------------------------------------------------ */

static midge_malformed connect_header(reader *r, midge_connect_packet *c, uint8_t *flags)
{
    const uint8_t *name;
    uint16_t name_len;

    /* 3.1.2.1: the protocol name is the string "MQTT". */
    if (!take_field(r, &name, &name_len))
        return MIDGE_MALFORMED_LENGTH;
    if (name_len != 4 || name[0] != 'M' || name[1] != 'Q' || name[2] != 'T' || name[3] != 'T')
        return MIDGE_MALFORMED_PROTOCOL;
    if (r->end - r->p < 4)
        return MIDGE_MALFORMED_LENGTH;
    /* 3.1.2.2: level 4 is 3.1.1. The level is stored first so that a broker
     * can still answer CONNACK 0x01 (unacceptable protocol version). */
    c->protocol_level = r->p[0];
    if (c->protocol_level != 4)
        return MIDGE_MALFORMED_PROTOCOL;
    *flags = r->p[1];
    r->p += 2;
    take_u16(r, &c->keepalive_s);

    uint8_t f = *flags;
    /* 3.1.2-3: the reserved flag is 0. */
    if ((f & CONNECT_RESERVED) != 0)
        return MIDGE_MALFORMED_CONNECT_FLAGS;
    if ((f & CONNECT_WILL_FLAG) == 0) {
        /* 3.1.2-11, -13, -15: no will means will QoS 0 and will retain 0. */
        if ((f & (CONNECT_WILL_QOS_MASK | CONNECT_WILL_RETAIN)) != 0)
            return MIDGE_MALFORMED_CONNECT_FLAGS;
    } else if ((f & CONNECT_WILL_QOS_MASK) == CONNECT_WILL_QOS_MASK) {
        return MIDGE_MALFORMED_CONNECT_FLAGS; /* 3.1.2-14: will QoS 3 */
    }
    /* 3.1.2-22: a password needs a user name. */
    if ((f & CONNECT_PASSWORD) != 0 && (f & CONNECT_USERNAME) == 0)
        return MIDGE_MALFORMED_CONNECT_FLAGS;
    c->clean_session = (f & CONNECT_CLEAN_SESSION) != 0;
    return MIDGE_MALFORMED_NONE;
}

static midge_malformed decode_connect(const uint8_t *body, uint32_t remaining,
                                      midge_connect_packet *c)
{
    reader r = {body, body + remaining};
    uint8_t flags = 0;
    midge_malformed why;

    *c = (midge_connect_packet){0};
    why = connect_header(&r, c, &flags);
    if (why != MIDGE_MALFORMED_NONE)
        return why;

    /* 3.1.3: client id, will topic, will message, user name, password, each
     * present exactly when its flag says so, in that order. An empty client
     * id is well-formed; whether to accept it is the broker's call (3.1.3-7). */
    why = take_string(&r, &c->client_id);
    if (why != MIDGE_MALFORMED_NONE)
        return why;
    if ((flags & CONNECT_WILL_FLAG) != 0) {
        c->has_will = true;
        c->will_qos = (uint8_t)((flags & CONNECT_WILL_QOS_MASK) >> 3);
        c->will_retain = (flags & CONNECT_WILL_RETAIN) != 0;
        const uint8_t *topic;
        uint16_t topic_len;
        if (!take_field(&r, &topic, &topic_len))
            return MIDGE_MALFORMED_LENGTH;
        why = midge_topic__check_name(topic, topic_len);
        if (why != MIDGE_MALFORMED_NONE)
            return why;
        c->will_topic.ptr = (const char *)topic;
        c->will_topic.len = topic_len;
        if (!take_field(&r, &c->will_payload, &c->will_payload_len))
            return MIDGE_MALFORMED_LENGTH;
    }
    if ((flags & CONNECT_USERNAME) != 0) {
        why = take_string(&r, &c->username);
        if (why != MIDGE_MALFORMED_NONE)
            return why;
    }
    if ((flags & CONNECT_PASSWORD) != 0) {
        if (!take_field(&r, &c->password, &c->password_len))
            return MIDGE_MALFORMED_LENGTH;
    }
    /* Bytes after the last announced field belong to nothing. */
    if (r.p != r.end)
        return MIDGE_MALFORMED_LENGTH;
    return MIDGE_MALFORMED_NONE;
}

/* --- SUBSCRIBE / UNSUBSCRIBE (sections 3.8, 3.10) -------------------------- */

static midge_malformed decode_filters(const uint8_t *body, uint32_t remaining, bool with_qos,
                                      midge_client_packet *out)
{
    reader r = {body, body + remaining};
    uint16_t id = 0;

    if (!take_u16(&r, &id))
        return MIDGE_MALFORMED_LENGTH;
    if (id == 0)
        return MIDGE_MALFORMED_PACKET_ID; /* 2.3.1-1 */
    /* 3.8.3-3 / 3.10.3-2: at least one filter. */
    if (r.p == r.end)
        return MIDGE_MALFORMED_EMPTY;

    const uint8_t *list = r.p;
    while (r.p != r.end) {
        const uint8_t *f;
        uint16_t f_len;
        if (!take_field(&r, &f, &f_len))
            return MIDGE_MALFORMED_LENGTH;
        midge_malformed why = midge_topic__check_filter(f, f_len);
        if (why != MIDGE_MALFORMED_NONE)
            return why;
        if (!with_qos)
            continue;
        if (r.p == r.end)
            return MIDGE_MALFORMED_LENGTH;
        uint8_t qos = *r.p++;
        /* 3.8.3-4: the upper six bits are reserved and QoS is 0..2. */
        if ((qos & 0xFCu) != 0)
            return MIDGE_MALFORMED_RESERVED_FLAGS;
        if (qos > 2)
            return MIDGE_MALFORMED_QOS;
    }
    out->packet_id = id;
    out->filters.list = list;
    out->filters.list_len = (size_t)(r.end - list);
    return MIDGE_MALFORMED_NONE;
}

bool midge_codec_next_filter(const uint8_t **cursor, const uint8_t *end, midge_str *filter,
                             uint8_t *qos)
{
    if (cursor == NULL || *cursor == NULL || end == NULL || filter == NULL)
        return false;
    /* The list was validated, but a wrong `end` or `qos` argument must still
     * not lead outside it. */
    reader r = {*cursor, end};
    const uint8_t *f;
    uint16_t f_len;
    if (r.p >= r.end || !take_field(&r, &f, &f_len))
        return false;
    if (qos != NULL) {
        if (r.p == r.end)
            return false;
        *qos = *r.p++;
    }
    filter->ptr = (const char *)f;
    filter->len = f_len;
    *cursor = r.p;
    return true;
}

/* --- Decoding what a client sends ------------------------------------------ */

/* Type and fixed-header flags (2.2.2), checked on the first byte alone. */
static midge_malformed check_first_byte(uint8_t first)
{
    uint8_t flags = first & 0x0Fu;

    switch (first >> 4) {
    case MIDGE_PUBLISH:
        return ((flags >> 1) & 3u) == 3u ? MIDGE_MALFORMED_QOS : MIDGE_MALFORMED_NONE;
    case MIDGE_PUBREL:
    case MIDGE_SUBSCRIBE:
    case MIDGE_UNSUBSCRIBE:
        return flags == 0x02u ? MIDGE_MALFORMED_NONE : MIDGE_MALFORMED_RESERVED_FLAGS;
    case MIDGE_CONNECT:
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBCOMP:
    case MIDGE_PINGREQ:
    case MIDGE_DISCONNECT:
        return flags == 0 ? MIDGE_MALFORMED_NONE : MIDGE_MALFORMED_RESERVED_FLAGS;
    default:
        return MIDGE_MALFORMED_TYPE; /* 0, 15 and what only a server sends */
    }
}

/* Length checks possible before the body arrives. */
static bool length_fits(uint8_t type, uint32_t remaining)
{
    switch (type) {
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBREL:
    case MIDGE_PUBCOMP:
        return remaining == 2;
    case MIDGE_PINGREQ:
    case MIDGE_DISCONNECT:
        return remaining == 0; /* 3.12.1, 3.14.1 */
    case MIDGE_CONNECT:
        return remaining >= 12; /* variable header 10 + client id length 2 */
    default:
        return true;
    }
}

midge_decode_result midge_codec_decode_from_client(const uint8_t *buf, size_t len,
                                                   midge_client_packet *out)
{
    midge_decode_result r = {MIDGE_DECODE_NEED_MORE, MIDGE_MALFORMED_NONE, 0, 0};
    midge_client_packet scratch;
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
    case MIDGE_CONNECT:
        why = decode_connect(body, remaining, &out->connect);
        break;
    case MIDGE_PUBLISH:
        why = midge_codec__decode_publish(body, remaining, out->flags, &out->publish,
                                          &out->packet_id);
        break;
    case MIDGE_SUBSCRIBE:
        why = decode_filters(body, remaining, true, out);
        break;
    case MIDGE_UNSUBSCRIBE:
        why = decode_filters(body, remaining, false, out);
        break;
    case MIDGE_PINGREQ:
    case MIDGE_DISCONNECT:
        why = MIDGE_MALFORMED_NONE;
        break;
    default: /* PUBACK, PUBREC, PUBREL, PUBCOMP */
        why = midge_codec__decode_id_only(body, remaining, &out->packet_id);
        break;
    }
    if (why != MIDGE_MALFORMED_NONE)
        return decode_fail(why);
    return r;
}

/* --- Encoding what a broker sends ------------------------------------------- */

size_t midge_codec_encode_connack(uint8_t *buf, size_t cap, bool session_present,
                                  uint8_t return_code, midge_status *st)
{
    /* 3.2.2.3: codes 0..5; 3.2.2-4: a refusal has session present 0. */
    if (return_code > 5 || (return_code != 0 && session_present)) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    if (buf == NULL || cap < 4) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    buf[0] = (uint8_t)(MIDGE_CONNACK << 4);
    buf[1] = 2;
    buf[2] = session_present ? 1 : 0;
    buf[3] = return_code;
    set_status(st, MIDGE_OK);
    return 4;
}

size_t midge_codec_encode_suback(uint8_t *buf, size_t cap, uint16_t packet_id,
                                 const uint8_t *codes, size_t count, midge_status *st)
{
    /* 3.9.3: one code per filter, each 0, 1, 2 or 0x80. */
    if (packet_id == 0 || codes == NULL || count == 0 ||
        count > MIDGE_MAX_REMAINING_LENGTH - 2) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (codes[i] > 2 && codes[i] != MIDGE_SUBACK_FAILURE) {
            set_status(st, MIDGE_ERR_INVALID);
            return 0;
        }
    }
    uint32_t rem = (uint32_t)(2 + count);
    size_t total = midge_codec__packet_size(rem);
    if (buf == NULL || cap < total) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    uint8_t *p = midge_codec__put_header(buf, (uint8_t)(MIDGE_SUBACK << 4), rem);
    p = midge_codec__put_u16(p, packet_id);
    memcpy(p, codes, count);
    set_status(st, MIDGE_OK);
    return total;
}

size_t midge_codec_encode_unsuback(uint8_t *buf, size_t cap, uint16_t packet_id,
                                   midge_status *st)
{
    if (packet_id == 0) {
        set_status(st, MIDGE_ERR_INVALID);
        return 0;
    }
    if (buf == NULL || cap < 4) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    buf[0] = (uint8_t)(MIDGE_UNSUBACK << 4);
    buf[1] = 2;
    midge_codec__put_u16(buf + 2, packet_id);
    set_status(st, MIDGE_OK);
    return 4;
}

size_t midge_codec_encode_pingresp(uint8_t *buf, size_t cap, midge_status *st)
{
    if (buf == NULL || cap < 2) {
        set_status(st, MIDGE_ERR_NO_SPACE);
        return 0;
    }
    buf[0] = (uint8_t)(MIDGE_PINGRESP << 4);
    buf[1] = 0;
    set_status(st, MIDGE_OK);
    return 2;
}
