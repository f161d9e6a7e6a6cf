/*
 * midge codec, server half: what a broker decodes and encodes.
 *
 * Not part of the client core (a device never links it). The tests' fake
 * brokers and fake OneNET servers use it. Same rules as codec.h: pure
 * functions, caller buffers, pointers into the input buffer.
 */
#ifndef MIDGE_CODEC_SERVER_H
#define MIDGE_CODEC_SERVER_H

#include "midge/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A length-delimited, not NUL-terminated string inside the input buffer. */
typedef struct midge_str {
    const char *ptr; /* NULL when the field is absent */
    uint16_t len;
} midge_str;

typedef struct midge_connect_packet {
    uint8_t protocol_level; /* 4 for MQTT 3.1.1 */
    bool clean_session;
    uint16_t keepalive_s;
    midge_str client_id;
    bool has_will;
    uint8_t will_qos;
    bool will_retain;
    midge_str will_topic;
    const uint8_t *will_payload;
    uint16_t will_payload_len;
    midge_str username; /* ptr NULL when the flag is off */
    const uint8_t *password; /* NULL when the flag is off */
    uint16_t password_len;
} midge_connect_packet;

/* A packet a server receives, decoded. */
typedef struct midge_client_packet {
    uint8_t type;
    uint8_t flags;
    uint16_t packet_id;
    union {
        midge_connect_packet connect;
        midge_publish publish;
        struct {
            /* The raw topic-filter list; walk it with midge_codec_next_filter(). */
            const uint8_t *list;
            size_t list_len;
        } filters; /* SUBSCRIBE and UNSUBSCRIBE */
    };
} midge_client_packet;

/* Decode one packet a client sent: CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL,
 * PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT. Every filter of a
 * SUBSCRIBE/UNSUBSCRIBE is validated before COMPLETE is returned. */
midge_decode_result midge_codec_decode_from_client(const uint8_t *buf, size_t len,
                                                   midge_client_packet *out);

/* Walk a validated filter list. `*cursor` starts at filters.list. For a
 * SUBSCRIBE pass `qos` (receives the requested QoS); for an UNSUBSCRIBE pass
 * NULL. Returns false when the list is exhausted. */
bool midge_codec_next_filter(const uint8_t **cursor, const uint8_t *end, midge_str *filter,
                             uint8_t *qos);

/* 4 bytes. return_code 0..5. */
size_t midge_codec_encode_connack(uint8_t *buf, size_t cap, bool session_present,
                                  uint8_t return_code, midge_status *st);
size_t midge_codec_encode_suback(uint8_t *buf, size_t cap, uint16_t packet_id,
                                 const uint8_t *codes, size_t count, midge_status *st);
size_t midge_codec_encode_unsuback(uint8_t *buf, size_t cap, uint16_t packet_id,
                                   midge_status *st);
size_t midge_codec_encode_pingresp(uint8_t *buf, size_t cap, midge_status *st);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_CODEC_SERVER_H */
