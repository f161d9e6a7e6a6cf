/*
 * fuzz_decode: both packet decoders over arbitrary bytes.
 *
 * The input is read twice as a stream of packets: once as what a server
 * sends (midge_codec_decode, the client's receive path) and once as what a
 * client sends (midge_codec_decode_from_client, the fake brokers' path).
 * Beyond "no crash, no over-read", each decoded packet must satisfy:
 *
 *  - the three outcomes keep their promises: COMPLETE uses header + body
 *    bytes and never more than given; NEED_MORE asks for more than given;
 *    MALFORMED names a reason; every strict prefix of a COMPLETE packet is
 *    NEED_MORE (valid so far), and validating without an output agrees;
 *  - every pointer in the result lies inside the packet;
 *  - re-encoding what was decoded gives the same bytes back: PUBLISH both
 *    ways, acknowledgements, SUBSCRIBE/UNSUBSCRIBE (through
 *    midge_codec_next_filter) and CONNECT where the client encoder can
 *    express it. The codec holds two independent halves (decode and
 *    encode), so a disagreement is a bug in one of them.
 *
 * The bytes are copied into an exact-size heap block so that AddressSanitizer
 * flags a read even one byte past the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "midge/codec.h"
#include "midge/codec_server.h"

/* Strict-prefix checks cost one decode per byte; past this size only a few
 * prefixes are tried, which keeps large inputs fast. */
#define PREFIX_ALL_MAX 96

static bool inside(const void *p, size_t n, const uint8_t *pkt, size_t pkt_len)
{
    const uint8_t *b = p;
    return n == 0 || (b >= pkt && b <= pkt + pkt_len && n <= (size_t)(pkt + pkt_len - b));
}

/* Same packet, allowing a non-minimal remaining length in the original
 * (2.2.3 obliges only the sender to be minimal, and the decoder accepts
 * "80 00"); the encoder always writes the minimal form. */
static void check_same_packet(const uint8_t *orig, size_t orig_len, const uint8_t *re,
                              size_t re_len)
{
    uint8_t f1 = 0, f2 = 0;
    uint32_t rem1 = 0, rem2 = 0;
    size_t h1 = 0, h2 = 0;

    FUZZ_CHECK(midge_codec_decode_header(orig, orig_len, &f1, &rem1, &h1).outcome ==
               MIDGE_DECODE_COMPLETE);
    FUZZ_CHECK(midge_codec_decode_header(re, re_len, &f2, &rem2, &h2).outcome ==
               MIDGE_DECODE_COMPLETE);
    FUZZ_CHECK(f1 == f2);
    FUZZ_CHECK(rem1 == rem2);
    FUZZ_CHECK(h2 == 1 + midge_codec_length_size(rem2));
    FUZZ_CHECK(re_len == h2 + rem2 && orig_len == h1 + rem1);
    FUZZ_CHECK(memcmp(orig + h1, re + h2, rem1) == 0);
}

/* A decoded PUBLISH encodes back to itself. The one exception the decoder
 * documents: DUP on QoS 0 is delivered (3.3.1-2 broken by the sender, the
 * message intact) but the encoder refuses to produce it. */
static void check_publish_round_trip(const midge_publish *m, const uint8_t *pkt, size_t len)
{
    midge_status st = MIDGE_OK;

    FUZZ_CHECK(m->qos <= 2);
    FUZZ_CHECK((m->qos == 0) == (m->packet_id == 0));
    FUZZ_CHECK(inside(m->topic, m->topic_len, pkt, len));
    FUZZ_CHECK(inside(m->payload, m->payload_len, pkt, len));
    FUZZ_CHECK(midge_topic_name_valid(m->topic, m->topic_len));

    size_t size = midge_codec_size_publish(m);
    if (m->qos == 0 && m->dup) {
        FUZZ_CHECK(size == 0);
        return;
    }
    FUZZ_CHECK(size != 0 && size <= len);
    uint8_t *re = malloc(size);
    FUZZ_CHECK(re != NULL);
    /* One byte short must be refused without writing past the end. */
    FUZZ_CHECK(midge_codec_encode_publish(re, size - 1, m, &st) == 0 && st == MIDGE_ERR_NO_SPACE);
    FUZZ_CHECK(midge_codec_encode_publish(re, size, m, &st) == size && st == MIDGE_OK);
    check_same_packet(pkt, len, re, size);
    free(re);
}

static void check_ack_round_trip(uint8_t type, uint16_t id, const uint8_t *pkt, size_t len)
{
    uint8_t re[4];
    midge_status st = MIDGE_OK;

    FUZZ_CHECK(id != 0);
    FUZZ_CHECK(midge_codec_encode_ack(re, sizeof re, type, id, &st) == 4);
    check_same_packet(pkt, len, re, sizeof re);
}

/* Every strict prefix of a complete packet is "valid so far". */
static void check_prefixes(const uint8_t *buf, size_t used, bool from_client)
{
    size_t step = used <= PREFIX_ALL_MAX ? 1 : used / 16;

    for (size_t k = 0; k < used; k += step) {
        uint8_t *copy = malloc(k != 0 ? k : 1);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, buf, k);
        midge_decode_result r;
        if (from_client) {
            midge_client_packet cp;
            r = midge_codec_decode_from_client(copy, k, &cp);
        } else {
            midge_packet p;
            r = midge_codec_decode(copy, k, &p);
        }
        FUZZ_CHECK(r.outcome == MIDGE_DECODE_NEED_MORE);
        FUZZ_CHECK(r.needed == 0 || r.needed == used);
        free(copy);
    }
}

static void check_outcome(midge_decode_result r, size_t len)
{
    switch (r.outcome) {
    case MIDGE_DECODE_COMPLETE:
        FUZZ_CHECK(r.used >= 2 && r.used <= len);
        break;
    case MIDGE_DECODE_NEED_MORE:
        FUZZ_CHECK(r.needed == 0 || r.needed > len);
        break;
    case MIDGE_DECODE_MALFORMED:
        FUZZ_CHECK(r.reason != MIDGE_MALFORMED_NONE);
        FUZZ_CHECK(midge_malformed_str(r.reason) != NULL);
        break;
    default:
        FUZZ_CHECK(!"unknown outcome");
    }
}

/* --- What a server sends ---------------------------------------------------- */

static void check_server_packet(const midge_packet *p, const uint8_t *pkt, size_t len)
{
    switch (p->type) {
    case MIDGE_CONNACK:
        FUZZ_CHECK(len >= 4 && p->connack.return_code <= 5); /* 4 unless the length is not minimal */
        FUZZ_CHECK(!(p->connack.session_present && p->connack.return_code != 0));
        break;
    case MIDGE_PUBLISH:
        FUZZ_CHECK(p->packet_id == p->publish.packet_id);
        check_publish_round_trip(&p->publish, pkt, len);
        break;
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBREL:
    case MIDGE_PUBCOMP:
        check_ack_round_trip(p->type, p->packet_id, pkt, len);
        break;
    case MIDGE_SUBACK:
        FUZZ_CHECK(p->packet_id != 0 && p->suback.count >= 1);
        FUZZ_CHECK(inside(p->suback.codes, p->suback.count, pkt, len));
        for (size_t i = 0; i < p->suback.count; i++) {
            uint8_t c = p->suback.codes[i];
            FUZZ_CHECK(c <= 2 || c == MIDGE_SUBACK_FAILURE);
        }
        break;
    case MIDGE_UNSUBACK:
        FUZZ_CHECK(p->packet_id != 0);
        break;
    case MIDGE_PINGRESP:
        break;
    default:
        FUZZ_CHECK(!"a client decoded a packet type a server never sends");
    }
}

static void server_stream(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    bool first = true;

    while (off < len) {
        midge_packet p;
        midge_decode_result r = midge_codec_decode(buf + off, len - off, &p);
        check_outcome(r, len - off);
        midge_decode_result again = midge_codec_decode(buf + off, len - off, NULL);
        FUZZ_CHECK(again.outcome == r.outcome && again.reason == r.reason &&
                   again.used == r.used && again.needed == r.needed);
        if (r.outcome != MIDGE_DECODE_COMPLETE)
            return;
        check_server_packet(&p, buf + off, r.used);
        if (first)
            check_prefixes(buf + off, r.used, false);
        first = false;
        off += r.used;
    }
}

/* --- What a client sends ---------------------------------------------------- */

/* NUL-terminated copy of a length-delimited string for the encoders. */
static char *dup_str(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    FUZZ_CHECK(c != NULL);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* Walks the filter list with midge_codec_next_filter() and encodes it back. */
static void check_filters(const midge_client_packet *p, const uint8_t *pkt, size_t len)
{
    bool sub = p->type == MIDGE_SUBSCRIBE;
    const uint8_t *cur = p->filters.list;
    const uint8_t *end = p->filters.list + p->filters.list_len;
    size_t count = 0;
    midge_str f;
    uint8_t qos = 0;

    FUZZ_CHECK(p->packet_id != 0);
    FUZZ_CHECK(inside(p->filters.list, p->filters.list_len, pkt, len));
    /* A filter takes at least 3 bytes (length + 1 char), so this bounds the count. */
    size_t max = p->filters.list_len / 3 + 1;
    midge_subscription *subs = calloc(max, sizeof *subs);
    const char **names = calloc(max, sizeof *names);
    FUZZ_CHECK(subs != NULL && names != NULL);
    while (midge_codec_next_filter(&cur, end, &f, sub ? &qos : NULL)) {
        FUZZ_CHECK(count < max);
        FUZZ_CHECK(inside(f.ptr, f.len, pkt, len));
        FUZZ_CHECK(midge_topic_filter_valid(f.ptr, f.len));
        FUZZ_CHECK(!sub || qos <= 2);
        names[count] = dup_str(f.ptr, f.len);
        subs[count].filter = names[count];
        subs[count].qos = qos;
        count++;
    }
    /* A validated list is walked to its exact end. */
    FUZZ_CHECK(count >= 1 && cur == end);

    midge_status st = MIDGE_OK;
    size_t size = sub ? midge_codec_size_subscribe(subs, count)
                      : midge_codec_size_unsubscribe(names, count);
    FUZZ_CHECK(size != 0 && size <= len);
    uint8_t *re = malloc(size);
    FUZZ_CHECK(re != NULL);
    size_t n = sub ? midge_codec_encode_subscribe(re, size, p->packet_id, subs, count, &st)
                   : midge_codec_encode_unsubscribe(re, size, p->packet_id, names, count, &st);
    FUZZ_CHECK(n == size && st == MIDGE_OK);
    check_same_packet(pkt, len, re, size);
    free(re);
    for (size_t i = 0; i < count; i++)
        free((void *)names[i]);
    free(names);
    free(subs);
}

static void check_connect(const midge_connect_packet *c, const uint8_t *pkt, size_t len)
{
    FUZZ_CHECK(c->protocol_level == 4);
    FUZZ_CHECK(inside(c->client_id.ptr, c->client_id.len, pkt, len));
    FUZZ_CHECK(midge_utf8_valid((const uint8_t *)c->client_id.ptr, c->client_id.len));
    FUZZ_CHECK(c->password == NULL || c->username.ptr != NULL);
    FUZZ_CHECK(inside(c->username.ptr, c->username.len, pkt, len));
    FUZZ_CHECK(inside(c->password, c->password_len, pkt, len));
    if (c->has_will) {
        FUZZ_CHECK(c->will_qos <= 2);
        FUZZ_CHECK(inside(c->will_topic.ptr, c->will_topic.len, pkt, len));
        FUZZ_CHECK(inside(c->will_payload, c->will_payload_len, pkt, len));
        FUZZ_CHECK(midge_topic_name_valid(c->will_topic.ptr, c->will_topic.len));
    }

    /* The client encoder takes NUL-terminated strings, so a password with a
     * zero byte cannot be expressed; and it refuses an empty client id
     * without a clean session (3.1.3-7), which a broker must accept as
     * well-formed and then refuse itself. */
    if (c->password != NULL && memchr(c->password, 0, c->password_len) != NULL)
        return;
    if (c->client_id.len == 0 && !c->clean_session)
        return;
    midge_will will = {0};
    midge_connect_opts o = {0};
    char *id = dup_str(c->client_id.ptr, c->client_id.len);
    char *user = c->username.ptr != NULL ? dup_str(c->username.ptr, c->username.len) : NULL;
    char *pass = c->password != NULL ? dup_str((const char *)c->password, c->password_len) : NULL;
    char *wt = c->has_will ? dup_str(c->will_topic.ptr, c->will_topic.len) : NULL;
    o.client_id = id;
    o.username = user;
    o.password = pass;
    o.keepalive_s = c->keepalive_s;
    o.clean_session = c->clean_session;
    if (c->has_will) {
        will.topic = wt;
        will.payload = c->will_payload;
        will.payload_len = c->will_payload_len;
        will.qos = c->will_qos;
        will.retain = c->will_retain;
        o.will = &will;
    }
    midge_status st = MIDGE_OK;
    size_t size = midge_codec_size_connect(&o);
    FUZZ_CHECK(size != 0 && size <= len);
    uint8_t *re = malloc(size);
    FUZZ_CHECK(re != NULL);
    FUZZ_CHECK(midge_codec_encode_connect(re, size, &o, &st) == size && st == MIDGE_OK);
    check_same_packet(pkt, len, re, size);
    free(re);
    free(id);
    free(user);
    free(pass);
    free(wt);
}

static void check_client_packet(const midge_client_packet *p, const uint8_t *pkt, size_t len)
{
    midge_status st = MIDGE_OK;
    uint8_t re[2];

    switch (p->type) {
    case MIDGE_CONNECT:
        check_connect(&p->connect, pkt, len);
        break;
    case MIDGE_PUBLISH:
        FUZZ_CHECK(p->packet_id == p->publish.packet_id);
        check_publish_round_trip(&p->publish, pkt, len);
        break;
    case MIDGE_PUBACK:
    case MIDGE_PUBREC:
    case MIDGE_PUBREL:
    case MIDGE_PUBCOMP:
        check_ack_round_trip(p->type, p->packet_id, pkt, len);
        break;
    case MIDGE_SUBSCRIBE:
    case MIDGE_UNSUBSCRIBE:
        check_filters(p, pkt, len);
        break;
    case MIDGE_PINGREQ:
        FUZZ_CHECK(midge_codec_encode_pingreq(re, sizeof re, &st) == 2);
        check_same_packet(pkt, len, re, sizeof re);
        break;
    case MIDGE_DISCONNECT:
        FUZZ_CHECK(midge_codec_encode_disconnect(re, sizeof re, &st) == 2);
        check_same_packet(pkt, len, re, sizeof re);
        break;
    default:
        FUZZ_CHECK(!"a server decoded a packet type a client never sends");
    }
}

static void client_stream(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    bool first = true;

    while (off < len) {
        midge_client_packet p;
        midge_decode_result r = midge_codec_decode_from_client(buf + off, len - off, &p);
        check_outcome(r, len - off);
        if (r.outcome != MIDGE_DECODE_COMPLETE)
            return;
        check_client_packet(&p, buf + off, r.used);
        if (first)
            check_prefixes(buf + off, r.used, true);
        first = false;
        off += r.used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size != 0 ? size : 1);

    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    server_stream(buf, size);
    client_stream(buf, size);
    free(buf);
    return 0;
}
