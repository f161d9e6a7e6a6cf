/*
 * midge codec: MQTT 3.1.1 packets <-> bytes, client side.
 *
 * Pure functions over caller buffers: no I/O, no clock, no heap, no globals.
 *
 * Encoding: every packet a client sends has a size function (0 = the input is
 * invalid) and an encode function that writes into a caller buffer.
 *
 * Decoding: midge_codec_decode() takes the bytes a client receives from a
 * server and has exactly three outcomes (see midge_decode_outcome). On
 * COMPLETE, pointers in the decoded packet point INTO the caller's input
 * buffer: they stay valid as long as those bytes are neither moved nor
 * overwritten. The codec never copies payloads.
 *
 * The server half (decoding CONNECT/SUBSCRIBE/UNSUBSCRIBE/PINGREQ/DISCONNECT,
 * encoding CONNACK/SUBACK/UNSUBACK/PINGRESP) lives in codec_server.h, outside
 * the client core.
 */
#ifndef MIDGE_CODEC_H
#define MIDGE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Control packet types, MQTT 3.1.1 section 2.2.1. */
enum midge_packet_type {
    MIDGE_CONNECT = 1,
    MIDGE_CONNACK = 2,
    MIDGE_PUBLISH = 3,
    MIDGE_PUBACK = 4,
    MIDGE_PUBREC = 5,
    MIDGE_PUBREL = 6,
    MIDGE_PUBCOMP = 7,
    MIDGE_SUBSCRIBE = 8,
    MIDGE_SUBACK = 9,
    MIDGE_UNSUBSCRIBE = 10,
    MIDGE_UNSUBACK = 11,
    MIDGE_PINGREQ = 12,
    MIDGE_PINGRESP = 13,
    MIDGE_DISCONNECT = 14
};

/* Largest value the remaining-length field can carry (section 2.2.3). */
#define MIDGE_MAX_REMAINING_LENGTH 268435455u

/* SUBACK return code for a refused filter (section 3.9.3). */
#define MIDGE_SUBACK_FAILURE 0x80

/* Why bytes were rejected. Generated list: enum + midge_malformed_str(). */
#define MIDGE_MALFORMED_LIST(X)                                                     \
    X(MIDGE_MALFORMED_NONE, "no error")                                              \
    X(MIDGE_MALFORMED_REMAINING_LENGTH, "remaining length uses more than 4 bytes")   \
    X(MIDGE_MALFORMED_RESERVED_FLAGS, "reserved flag bits set")                      \
    X(MIDGE_MALFORMED_QOS, "QoS 3 is not allowed")                                   \
    X(MIDGE_MALFORMED_PACKET_ID, "packet id 0 where one is required")                \
    X(MIDGE_MALFORMED_LENGTH, "length does not fit the packet type")                 \
    X(MIDGE_MALFORMED_UTF8, "string is not valid MQTT UTF-8")                        \
    X(MIDGE_MALFORMED_TOPIC, "invalid topic name")                                   \
    X(MIDGE_MALFORMED_FILTER, "invalid topic filter")                                \
    X(MIDGE_MALFORMED_TYPE, "packet type not allowed in this direction")             \
    X(MIDGE_MALFORMED_CONNACK, "invalid CONNACK flags or return code")               \
    X(MIDGE_MALFORMED_SUBACK_CODE, "invalid SUBACK return code")                     \
    X(MIDGE_MALFORMED_PROTOCOL, "invalid protocol name or level")                    \
    X(MIDGE_MALFORMED_CONNECT_FLAGS, "invalid CONNECT flags")                        \
    X(MIDGE_MALFORMED_EMPTY, "no topic filter in SUBSCRIBE or UNSUBSCRIBE")

typedef enum midge_malformed {
#define MIDGE_MALFORMED_ENUM(name, text) name,
    MIDGE_MALFORMED_LIST(MIDGE_MALFORMED_ENUM)
#undef MIDGE_MALFORMED_ENUM
} midge_malformed;

const char *midge_malformed_str(midge_malformed reason);

typedef enum midge_decode_outcome {
    MIDGE_DECODE_COMPLETE = 0, /* a whole packet: `used` bytes consumed */
    MIDGE_DECODE_NEED_MORE,    /* valid so far; call again with more bytes */
    MIDGE_DECODE_MALFORMED     /* never valid: `reason` says why; close the connection */
} midge_decode_outcome;

typedef struct midge_decode_result {
    midge_decode_outcome outcome;
    midge_malformed reason; /* MALFORMED only */
    size_t used;            /* COMPLETE: bytes of the packet (header + remaining length) */
    size_t needed;          /* NEED_MORE: total packet size once the length is known, else 0 */
} midge_decode_result;

/* An application message (PUBLISH), in either direction. */
typedef struct midge_publish {
    const char *topic; /* not NUL-terminated when decoded */
    uint16_t topic_len;
    uint8_t qos;
    bool retain;
    bool dup;
    uint16_t packet_id; /* 0 for QoS 0 */
    const uint8_t *payload;
    size_t payload_len;
} midge_publish;

/* What a CONNACK carries (section 3.2.2). Named, as is midge_suback, so
 * that a decoded packet and a session event (session.h) hold the same
 * types and one can be assigned to the other. */
typedef struct midge_connack {
    bool session_present;
    uint8_t return_code; /* 0..5 */
} midge_connack;

/* What a SUBACK carries beyond its packet id (section 3.9.3). Points into
 * the decoded bytes. */
typedef struct midge_suback {
    const uint8_t *codes; /* one per filter: 0, 1, 2 or 0x80 */
    size_t count;
} midge_suback;

/* A packet a client receives, decoded. */
typedef struct midge_packet {
    uint8_t type;       /* enum midge_packet_type */
    uint8_t flags;      /* low nibble of the fixed header */
    uint16_t packet_id; /* PUBACK/PUBREC/PUBREL/PUBCOMP/SUBACK/UNSUBACK, and PUBLISH QoS > 0 */
    union {
        midge_connack connack;
        midge_publish publish;
        midge_suback suback;
    };
} midge_packet;

/* Decode one packet a server sent. Packets a server never sends in 3.1.1
 * (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, types 0 and 15) are
 * MALFORMED with MIDGE_MALFORMED_TYPE. */
midge_decode_result midge_codec_decode(const uint8_t *buf, size_t len, midge_packet *out);

/* Decode only the fixed header. COMPLETE sets *type_flags (first byte),
 * *remaining and *header_len (2..5); `used` is header_len. */
midge_decode_result midge_codec_decode_header(const uint8_t *buf, size_t len, uint8_t *type_flags,
                                              uint32_t *remaining, size_t *header_len);

/* Write `value` as a variable byte integer; returns 1..4, or 0 when value >
 * MIDGE_MAX_REMAINING_LENGTH. `out` must hold 4 bytes. */
size_t midge_codec_put_length(uint8_t *out, uint32_t value);

/* Bytes a variable byte integer of `value` takes: 1..4, 0 if too large. */
size_t midge_codec_length_size(uint32_t value);

/* --- Encoding what a client sends ---------------------------------------- */

typedef struct midge_will {
    const char *topic; /* NUL-terminated; must be a valid topic name */
    const void *payload;
    uint16_t payload_len;
    uint8_t qos;
    bool retain;
} midge_will;

typedef struct midge_connect_opts {
    const char *client_id; /* NUL-terminated; "" allowed only with clean_session */
    const char *username;  /* NULL = no user name flag */
    const char *password;  /* NULL = no password flag; requires a username (3.1.2.9) */
    const midge_will *will; /* NULL = no will */
    uint16_t keepalive_s;  /* 0 disables keepalive */
    bool clean_session;
} midge_connect_opts;

typedef struct midge_subscription {
    const char *filter; /* NUL-terminated topic filter */
    uint8_t qos;        /* requested maximum QoS, 0..2 */
} midge_subscription;

/* Each size function returns the whole packet size in bytes, or 0 when the
 * input is invalid (bad UTF-8, wildcard in a topic name, QoS > 2, too long).
 * Each encode function writes the packet and returns its size, MIDGE_OK in
 * *st; or returns 0 with *st = MIDGE_ERR_INVALID / MIDGE_ERR_NO_SPACE. */

size_t midge_codec_size_connect(const midge_connect_opts *opts);
size_t midge_codec_encode_connect(uint8_t *buf, size_t cap, const midge_connect_opts *opts,
                                  midge_status *st);

/* msg->packet_id must be non-zero for QoS 1 and 2. */
size_t midge_codec_size_publish(const midge_publish *msg);
size_t midge_codec_encode_publish(uint8_t *buf, size_t cap, const midge_publish *msg,
                                  midge_status *st);

/* PUBACK, PUBREC, PUBREL or PUBCOMP: always 4 bytes (PUBREL carries flags 0x2). */
size_t midge_codec_encode_ack(uint8_t *buf, size_t cap, uint8_t type, uint16_t packet_id,
                              midge_status *st);

size_t midge_codec_size_subscribe(const midge_subscription *subs, size_t count);
size_t midge_codec_encode_subscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
                                    const midge_subscription *subs, size_t count,
                                    midge_status *st);

size_t midge_codec_size_unsubscribe(const char *const *filters, size_t count);
size_t midge_codec_encode_unsubscribe(uint8_t *buf, size_t cap, uint16_t packet_id,
                                      const char *const *filters, size_t count,
                                      midge_status *st);

/* PINGREQ and DISCONNECT: 2 bytes each. */
size_t midge_codec_encode_pingreq(uint8_t *buf, size_t cap, midge_status *st);
size_t midge_codec_encode_disconnect(uint8_t *buf, size_t cap, midge_status *st);

/* --- Strings and topics (section 1.5.3, section 4.7) ---------------------- */

/* Well-formed UTF-8, no U+0000, no surrogates (U+D800..U+DFFF), no overlong
 * forms, at most 65535 bytes. */
bool midge_utf8_valid(const uint8_t *s, size_t len);

/* A topic name: 1..65535 bytes of valid UTF-8 without '+' or '#'. */
bool midge_topic_name_valid(const char *topic, size_t len);

/* A topic filter: non-empty valid UTF-8; '#' only as the last level on its
 * own; '+' only as a whole level. */
bool midge_topic_filter_valid(const char *filter, size_t len);

/* Whether `topic` matches `filter` (both assumed valid). A filter starting
 * with a wildcard does not match a topic starting with '$' (4.7.2). */
bool midge_topic_matches(const char *filter, size_t filter_len, const char *topic,
                         size_t topic_len);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_CODEC_H */
