/*
 * The server half of the codec: decoding what a client sends (MQTT 3.1.1
 * sections 3.1 - 3.14) and encoding a broker's answers. Decoder inputs sit
 * before an unreadable page (guard.h) to catch over-reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "midge/codec.h"
#include "midge/codec_server.h"

static guard_buf g_guard;

static int setup(void **state)
{
    (void)state;
    return guard_init(&g_guard, 4096);
}

static int teardown(void **state)
{
    (void)state;
    guard_release(&g_guard);
    return 0;
}

static midge_decode_result decode(const uint8_t *bytes, size_t len, midge_client_packet *out)
{
    return midge_codec_decode_from_client(guard_place(&g_guard, bytes, len), len, out);
}

/* Decodes a whole vector and checks that every prefix is NEED_MORE. The
 * packet is left in the guard buffer, so pointers in `out` stay valid until
 * the next decode. */
static void expect_decoded(const uint8_t *bytes, size_t len, midge_client_packet *out)
{
    for (size_t k = 0; k < len; k++) {
        midge_decode_result r = decode(bytes, k, out);
        if (r.outcome != MIDGE_DECODE_NEED_MORE)
            fail_msg("prefix %zu of %zu: outcome %d reason %s", k, len, (int)r.outcome,
                     midge_malformed_str(r.reason));
        assert_int_equal(r.needed, k >= 2 ? len : 0);
    }
    memset(out, 0xA5, sizeof(*out));
    midge_decode_result r = decode(bytes, len, out);
    if (r.outcome != MIDGE_DECODE_COMPLETE)
        fail_msg("outcome %d reason %s", (int)r.outcome, midge_malformed_str(r.reason));
    assert_int_equal(r.used, len);
}

static void expect_malformed(const uint8_t *bytes, size_t len, midge_malformed reason)
{
    midge_client_packet p;
    midge_decode_result r = decode(bytes, len, &p);
    if (r.outcome != MIDGE_DECODE_MALFORMED || r.reason != reason)
        fail_msg("expected MALFORMED %s, got outcome %d reason %s", midge_malformed_str(reason),
                 (int)r.outcome, midge_malformed_str(r.reason));
}

static void expect_str(midge_str s, const char *want)
{
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* --- CONNECT --------------------------------------------------------------- */

static void test_connect_minimal_decoded(void **state)
{
    static const uint8_t in[] = {0x10, 0x0F, 0x00, 0x04, 'M', 'Q',  'T', 'T', 0x04,
                                 0x02, 0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c'};
    midge_client_packet p;
    (void)state;
    expect_decoded(in, sizeof(in), &p);
    assert_int_equal(p.type, MIDGE_CONNECT);
    assert_int_equal(p.connect.protocol_level, 4);
    assert_true(p.connect.clean_session);
    assert_int_equal(p.connect.keepalive_s, 60);
    expect_str(p.connect.client_id, "abc");
    assert_false(p.connect.has_will);
    assert_null(p.connect.will_topic.ptr);
    assert_null(p.connect.username.ptr);
    assert_null(p.connect.password);
}

static void test_connect_with_will_user_password_decoded(void **state)
{
    static const uint8_t in[] = {
        0x10, 0x1F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xEC, 0x00, 0x0A,
        0x00, 0x02, 'c', '1', 0x00, 0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e',
        0x00, 0x01, 'u', 0x00, 0x02, 'p', 'w',
    };
    midge_client_packet p;
    (void)state;
    expect_decoded(in, sizeof(in), &p);
    assert_false(p.connect.clean_session);
    assert_int_equal(p.connect.keepalive_s, 10);
    expect_str(p.connect.client_id, "c1");
    assert_true(p.connect.has_will);
    assert_int_equal(p.connect.will_qos, 1);
    assert_true(p.connect.will_retain);
    expect_str(p.connect.will_topic, "w/t");
    assert_int_equal(p.connect.will_payload_len, 3);
    assert_memory_equal(p.connect.will_payload, "bye", 3);
    expect_str(p.connect.username, "u");
    assert_int_equal(p.connect.password_len, 2);
    assert_memory_equal(p.connect.password, "pw", 2);
}

static void test_connect_from_client_encoder_round_trips(void **state)
{
    midge_will w = {"dev/1/status", "offline", 7, 2, false};
    midge_connect_opts o = {"dev-1", "user", "secret", &w, 120, true};
    uint8_t buf[128];
    midge_status st;
    midge_client_packet p;
    (void)state;
    size_t n = midge_codec_encode_connect(buf, sizeof(buf), &o, &st);
    assert_int_equal(st, MIDGE_OK);
    expect_decoded(buf, n, &p);
    expect_str(p.connect.client_id, "dev-1");
    expect_str(p.connect.will_topic, "dev/1/status");
    assert_int_equal(p.connect.will_qos, 2);
    expect_str(p.connect.username, "user");
    assert_int_equal(p.connect.password_len, 6);
}

static void test_connect_empty_client_id_is_well_formed(void **state)
{
    /* 3.1.3-7 leaves accepting it to the broker (CONNACK 0x02 if not). */
    static const uint8_t in[] = {0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T',
                                 0x04, 0x00, 0x00, 0x00, 0x00, 0x00};
    midge_client_packet p;
    (void)state;
    expect_decoded(in, sizeof(in), &p);
    assert_int_equal(p.connect.client_id.len, 0);
    assert_false(p.connect.clean_session);
}

#define MALFORMED_TEST(name, reason, ...)                         \
    static void name(void **state)                                \
    {                                                             \
        static const uint8_t in[] = {__VA_ARGS__};                \
        (void)state;                                              \
        expect_malformed(in, sizeof(in), reason);                 \
    }

/* CONNECT header: protocol name, level and flags (3.1.2). */
MALFORMED_TEST(test_connect_protocol_name_mqisdp_malformed, MIDGE_MALFORMED_PROTOCOL, 0x10, 0x0F,
               0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 'a')
MALFORMED_TEST(test_connect_protocol_name_lowercase_malformed, MIDGE_MALFORMED_PROTOCOL, 0x10, 0x0D,
               0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'a')
MALFORMED_TEST(test_connect_reserved_fixed_header_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS,
               0x11)
MALFORMED_TEST(test_connect_reserved_flag_bit_malformed, MIDGE_MALFORMED_CONNECT_FLAGS, 0x10, 0x0D,
               0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03, 0x00, 0x3C, 0x00, 0x01, 'a')
MALFORMED_TEST(test_connect_will_qos_without_will_flag_malformed, MIDGE_MALFORMED_CONNECT_FLAGS,
               0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0A, 0x00, 0x3C, 0x00, 0x01, 'a')
MALFORMED_TEST(test_connect_will_retain_without_will_flag_malformed, MIDGE_MALFORMED_CONNECT_FLAGS,
               0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x22, 0x00, 0x3C, 0x00, 0x01, 'a')
MALFORMED_TEST(test_connect_will_qos3_malformed, MIDGE_MALFORMED_CONNECT_FLAGS, 0x10, 0x12, 0x00,
               0x04, 'M', 'Q', 'T', 'T', 0x04, 0x1E, 0x00, 0x3C, 0x00, 0x01, 'a', 0x00, 0x01, 'w',
               0x00, 0x00)
MALFORMED_TEST(test_connect_password_without_username_malformed, MIDGE_MALFORMED_CONNECT_FLAGS,
               0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42, 0x00, 0x3C, 0x00, 0x01, 'a',
               0x00, 0x02, 'p', 'w')
MALFORMED_TEST(test_connect_shorter_than_variable_header_malformed, MIDGE_MALFORMED_LENGTH, 0x10,
               0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C)

/* CONNECT payload (3.1.3). */
MALFORMED_TEST(test_connect_client_id_past_end_malformed, MIDGE_MALFORMED_LENGTH, 0x10, 0x0D, 0x00,
               0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x05, 'a')
MALFORMED_TEST(test_connect_trailing_bytes_malformed, MIDGE_MALFORMED_LENGTH, 0x10, 0x0E, 0x00,
               0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'a', 'z')
MALFORMED_TEST(test_connect_missing_will_message_malformed, MIDGE_MALFORMED_LENGTH, 0x10, 0x10,
               0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3C, 0x00, 0x01, 'a', 0x00, 0x01,
               'w')
MALFORMED_TEST(test_connect_missing_username_malformed, MIDGE_MALFORMED_LENGTH, 0x10, 0x0D, 0x00,
               0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x3C, 0x00, 0x01, 'a')
MALFORMED_TEST(test_connect_client_id_invalid_utf8_malformed, MIDGE_MALFORMED_UTF8, 0x10, 0x0E,
               0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 0xC0, 0x80)
MALFORMED_TEST(test_connect_will_topic_with_wildcard_malformed, MIDGE_MALFORMED_TOPIC, 0x10, 0x12,
               0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3C, 0x00, 0x01, 'a', 0x00, 0x01,
               '#', 0x00, 0x00)
MALFORMED_TEST(test_connect_username_invalid_utf8_malformed, MIDGE_MALFORMED_UTF8, 0x10, 0x11,
               0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x3C, 0x00, 0x01, 'a', 0x00, 0x02,
               'u', 0x00)

static void test_connect_unsupported_level_reports_level(void **state)
{
    /* 3.1.2.2: the broker answers CONNACK 0x01, so it needs the level. */
    static const uint8_t in[] = {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
                                 0x02, 0x00, 0x3C, 0x00, 0x01, 'a'};
    midge_client_packet p;
    (void)state;
    midge_decode_result r = decode(in, sizeof(in), &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_MALFORMED);
    assert_int_equal(r.reason, MIDGE_MALFORMED_PROTOCOL);
    assert_int_equal(p.connect.protocol_level, 5);
}

/* --- PUBLISH and acknowledgements from a client ---------------------------- */

static void test_publish_from_client_decoded(void **state)
{
    static const uint8_t in[] = {0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'};
    midge_client_packet p;
    (void)state;
    expect_decoded(in, sizeof(in), &p);
    assert_int_equal(p.type, MIDGE_PUBLISH);
    assert_int_equal(p.packet_id, 10);
    assert_int_equal(p.publish.qos, 1);
    assert_memory_equal(p.publish.topic, "a/b", 3);
    assert_memory_equal(p.publish.payload, "hi", 2);
}

MALFORMED_TEST(test_publish_from_client_qos3_malformed, MIDGE_MALFORMED_QOS, 0x37)
MALFORMED_TEST(test_publish_from_client_wildcard_topic_malformed, MIDGE_MALFORMED_TOPIC, 0x30, 0x03,
               0x00, 0x01, '+')

static void test_acks_from_client_decoded(void **state)
{
    static const uint8_t in[][4] = {
        {0x40, 0x02, 0x00, 0x01},
        {0x50, 0x02, 0x00, 0x02},
        {0x62, 0x02, 0x00, 0x03},
        {0x70, 0x02, 0x00, 0x04},
    };
    midge_client_packet p;
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        expect_decoded(in[i], 4, &p);
        assert_int_equal(p.type, MIDGE_PUBACK + i);
        assert_int_equal(p.packet_id, i + 1);
    }
}

MALFORMED_TEST(test_pubrel_from_client_flags_0_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x60,
               0x02, 0x00, 0x01)
MALFORMED_TEST(test_puback_from_client_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0x40, 0x02,
               0x00, 0x00)

/* --- SUBSCRIBE and UNSUBSCRIBE ---------------------------------------------- */

static void test_subscribe_decoded_and_filters_walked(void **state)
{
    static const uint8_t in[] = {0x82, 0x0E, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01,
                                 0x00, 0x03, '+', '/', 'b', 0x02};
    midge_client_packet p;
    midge_str f;
    uint8_t qos = 9;
    (void)state;
    expect_decoded(in, sizeof(in), &p);
    assert_int_equal(p.type, MIDGE_SUBSCRIBE);
    assert_int_equal(p.flags, 0x02);
    assert_int_equal(p.packet_id, 1);
    assert_int_equal(p.filters.list_len, 12);

    const uint8_t *cur = p.filters.list;
    const uint8_t *end = p.filters.list + p.filters.list_len;
    assert_true(midge_codec_next_filter(&cur, end, &f, &qos));
    expect_str(f, "a/#");
    assert_int_equal(qos, 1);
    assert_true(midge_codec_next_filter(&cur, end, &f, &qos));
    expect_str(f, "+/b");
    assert_int_equal(qos, 2);
    assert_false(midge_codec_next_filter(&cur, end, &f, &qos));
}

static void test_subscribe_from_client_encoder_round_trips(void **state)
{
    static const midge_subscription subs[] = {{"x", 0}, {"y/+", 1}, {"#", 2}};
    uint8_t buf[64];
    midge_status st;
    midge_client_packet p;
    midge_str f;
    uint8_t qos;
    size_t count = 0;
    (void)state;
    size_t n = midge_codec_encode_subscribe(buf, sizeof(buf), 77, subs, 3, &st);
    assert_int_equal(st, MIDGE_OK);
    expect_decoded(buf, n, &p);
    assert_int_equal(p.packet_id, 77);
    const uint8_t *cur = p.filters.list;
    while (midge_codec_next_filter(&cur, p.filters.list + p.filters.list_len, &f, &qos)) {
        expect_str(f, subs[count].filter);
        assert_int_equal(qos, subs[count].qos);
        count++;
    }
    assert_int_equal(count, 3);
}

static void test_unsubscribe_decoded_and_filters_walked(void **state)
{
    static const uint8_t in[] = {0xA2, 0x0C, 0x00, 0x02, 0x00, 0x03, 'a', '/', '#',
                                 0x00, 0x03, '+', '/', 'b'};
    midge_client_packet p;
    midge_str f;
    (void)state;
    expect_decoded(in, sizeof(in), &p);
    assert_int_equal(p.type, MIDGE_UNSUBSCRIBE);
    assert_int_equal(p.packet_id, 2);
    const uint8_t *cur = p.filters.list;
    const uint8_t *end = p.filters.list + p.filters.list_len;
    assert_true(midge_codec_next_filter(&cur, end, &f, NULL));
    expect_str(f, "a/#");
    assert_true(midge_codec_next_filter(&cur, end, &f, NULL));
    expect_str(f, "+/b");
    assert_false(midge_codec_next_filter(&cur, end, &f, NULL));
}

static void test_next_filter_never_walks_past_end(void **state)
{
    /* A length field claiming more bytes than the list holds. */
    static const uint8_t list[] = {0x00, 0x09, 'a', 'b'};
    const uint8_t *in = guard_place(&g_guard, list, sizeof(list));
    const uint8_t *cur = in;
    midge_str f;
    uint8_t qos;
    (void)state;
    assert_false(midge_codec_next_filter(&cur, in + sizeof(list), &f, &qos));
    assert_ptr_equal(cur, in);
    /* A filter without its QoS byte. */
    static const uint8_t no_qos[] = {0x00, 0x01, 'a'};
    in = guard_place(&g_guard, no_qos, sizeof(no_qos));
    cur = in;
    assert_false(midge_codec_next_filter(&cur, in + sizeof(no_qos), &f, &qos));
    assert_true(midge_codec_next_filter(&cur, in + sizeof(no_qos), &f, NULL));
}

MALFORMED_TEST(test_subscribe_flags_not_0010_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x80, 0x06,
               0x00, 0x01, 0x00, 0x01, 'a', 0x00)
MALFORMED_TEST(test_subscribe_without_filters_malformed, MIDGE_MALFORMED_EMPTY, 0x82, 0x02, 0x00,
               0x01)
MALFORMED_TEST(test_subscribe_requested_qos3_malformed, MIDGE_MALFORMED_QOS, 0x82, 0x06, 0x00, 0x01,
               0x00, 0x01, 'a', 0x03)
MALFORMED_TEST(test_subscribe_qos_byte_upper_bits_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x82,
               0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04)
MALFORMED_TEST(test_subscribe_invalid_filter_malformed, MIDGE_MALFORMED_FILTER, 0x82, 0x07, 0x00,
               0x01, 0x00, 0x02, 'a', '#', 0x00)
MALFORMED_TEST(test_subscribe_empty_filter_malformed, MIDGE_MALFORMED_FILTER, 0x82, 0x05, 0x00,
               0x01, 0x00, 0x00, 0x00)
MALFORMED_TEST(test_subscribe_filter_invalid_utf8_malformed, MIDGE_MALFORMED_UTF8, 0x82, 0x07, 0x00,
               0x01, 0x00, 0x02, 0xC0, 0x80, 0x00)
MALFORMED_TEST(test_subscribe_missing_qos_byte_malformed, MIDGE_MALFORMED_LENGTH, 0x82, 0x05, 0x00,
               0x01, 0x00, 0x01, 'a')
MALFORMED_TEST(test_subscribe_filter_past_end_malformed, MIDGE_MALFORMED_LENGTH, 0x82, 0x06, 0x00,
               0x01, 0x00, 0x04, 'a', 0x00)
MALFORMED_TEST(test_subscribe_packet_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0x82, 0x06, 0x00,
               0x00, 0x00, 0x01, 'a', 0x00)
MALFORMED_TEST(test_unsubscribe_flags_not_0010_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0xA0)
MALFORMED_TEST(test_unsubscribe_without_filters_malformed, MIDGE_MALFORMED_EMPTY, 0xA2, 0x02, 0x00,
               0x01)
MALFORMED_TEST(test_unsubscribe_invalid_filter_malformed, MIDGE_MALFORMED_FILTER, 0xA2, 0x06, 0x00,
               0x01, 0x00, 0x02, 'a', '+')

/* --- PINGREQ, DISCONNECT and types a client never sends --------------------- */

static void test_pingreq_and_disconnect_decoded(void **state)
{
    static const uint8_t ping[] = {0xC0, 0x00};
    static const uint8_t disc[] = {0xE0, 0x00};
    midge_client_packet p;
    (void)state;
    expect_decoded(ping, 2, &p);
    assert_int_equal(p.type, MIDGE_PINGREQ);
    expect_decoded(disc, 2, &p);
    assert_int_equal(p.type, MIDGE_DISCONNECT);
}

MALFORMED_TEST(test_pingreq_with_body_malformed, MIDGE_MALFORMED_LENGTH, 0xC0, 0x01, 0x00)
MALFORMED_TEST(test_disconnect_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0xE1, 0x00)
MALFORMED_TEST(test_connack_from_client_malformed, MIDGE_MALFORMED_TYPE, 0x20, 0x02, 0x00, 0x00)
MALFORMED_TEST(test_suback_from_client_malformed, MIDGE_MALFORMED_TYPE, 0x90)
MALFORMED_TEST(test_unsuback_from_client_malformed, MIDGE_MALFORMED_TYPE, 0xB0)
MALFORMED_TEST(test_pingresp_from_client_malformed, MIDGE_MALFORMED_TYPE, 0xD0, 0x00)
MALFORMED_TEST(test_type_0_from_client_malformed, MIDGE_MALFORMED_TYPE, 0x00)
MALFORMED_TEST(test_type_15_from_client_malformed, MIDGE_MALFORMED_TYPE, 0xF0)
MALFORMED_TEST(test_client_remaining_length_fifth_byte_malformed, MIDGE_MALFORMED_REMAINING_LENGTH,
               0x30, 0x80, 0x80, 0x80, 0x80, 0x01)

/* --- Encoders -------------------------------------------------------------- */

/* Server encoders produce what the client decoder accepts. */
static void expect_client_decodes(const uint8_t *bytes, size_t len, midge_packet *out)
{
    midge_decode_result r = midge_codec_decode(guard_place(&g_guard, bytes, len), len, out);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_int_equal(r.used, len);
}

static void test_connack_encodes_golden(void **state)
{
    static const uint8_t ok[] = {0x20, 0x02, 0x00, 0x00};
    static const uint8_t present[] = {0x20, 0x02, 0x01, 0x00};
    static const uint8_t refused[] = {0x20, 0x02, 0x00, 0x05};
    uint8_t buf[4];
    midge_status st = MIDGE_ERR_IO;
    midge_packet p;
    (void)state;
    assert_int_equal(midge_codec_encode_connack(buf, 4, false, 0, &st), 4);
    assert_int_equal(st, MIDGE_OK);
    assert_memory_equal(buf, ok, 4);
    assert_int_equal(midge_codec_encode_connack(buf, 4, true, 0, &st), 4);
    assert_memory_equal(buf, present, 4);
    expect_client_decodes(buf, 4, &p);
    assert_true(p.connack.session_present);
    assert_int_equal(midge_codec_encode_connack(buf, 4, false, 5, &st), 4);
    assert_memory_equal(buf, refused, 4);
    assert_int_equal(midge_codec_encode_connack(buf, 3, false, 0, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

static void test_connack_invalid_code_or_refusal_with_session_rejected(void **state)
{
    uint8_t buf[4];
    midge_status st = MIDGE_OK;
    (void)state;
    assert_int_equal(midge_codec_encode_connack(buf, 4, false, 6, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    st = MIDGE_OK;
    assert_int_equal(midge_codec_encode_connack(buf, 4, true, 1, &st), 0); /* 3.2.2-4 */
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_suback_encodes_golden(void **state)
{
    static const uint8_t codes[] = {0x00, 0x01, 0x80};
    static const uint8_t want[] = {0x90, 0x05, 0x00, 0x07, 0x00, 0x01, 0x80};
    uint8_t buf[16];
    midge_status st = MIDGE_ERR_IO;
    midge_packet p;
    (void)state;
    assert_int_equal(midge_codec_encode_suback(buf, sizeof(want), 7, codes, 3, &st), sizeof(want));
    assert_int_equal(st, MIDGE_OK);
    assert_memory_equal(buf, want, sizeof(want));
    expect_client_decodes(buf, sizeof(want), &p);
    assert_int_equal(p.suback.count, 3);
    assert_int_equal(midge_codec_encode_suback(buf, sizeof(want) - 1, 7, codes, 3, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

static void test_suback_invalid_inputs_rejected(void **state)
{
    static const uint8_t bad[] = {0x03};
    static const uint8_t good[] = {0x00};
    uint8_t buf[16];
    midge_status st = MIDGE_OK;
    (void)state;
    assert_int_equal(midge_codec_encode_suback(buf, sizeof(buf), 1, bad, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    st = MIDGE_OK;
    assert_int_equal(midge_codec_encode_suback(buf, sizeof(buf), 0, good, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    st = MIDGE_OK;
    assert_int_equal(midge_codec_encode_suback(buf, sizeof(buf), 1, good, 0, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_unsuback_and_pingresp_encode_golden(void **state)
{
    static const uint8_t unsuback[] = {0xB0, 0x02, 0x01, 0x02};
    static const uint8_t pingresp[] = {0xD0, 0x00};
    uint8_t buf[4];
    midge_status st = MIDGE_ERR_IO;
    midge_packet p;
    (void)state;
    assert_int_equal(midge_codec_encode_unsuback(buf, 4, 0x0102, &st), 4);
    assert_int_equal(st, MIDGE_OK);
    assert_memory_equal(buf, unsuback, 4);
    expect_client_decodes(buf, 4, &p);
    assert_int_equal(p.packet_id, 0x0102);
    assert_int_equal(midge_codec_encode_unsuback(buf, 3, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
    assert_int_equal(midge_codec_encode_unsuback(buf, 4, 0, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);

    assert_int_equal(midge_codec_encode_pingresp(buf, 2, &st), 2);
    assert_int_equal(st, MIDGE_OK);
    assert_memory_equal(buf, pingresp, 2);
    assert_int_equal(midge_codec_encode_pingresp(buf, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_minimal_decoded),
        cmocka_unit_test(test_connect_with_will_user_password_decoded),
        cmocka_unit_test(test_connect_from_client_encoder_round_trips),
        cmocka_unit_test(test_connect_empty_client_id_is_well_formed),
        cmocka_unit_test(test_connect_protocol_name_mqisdp_malformed),
        cmocka_unit_test(test_connect_protocol_name_lowercase_malformed),
        cmocka_unit_test(test_connect_reserved_fixed_header_flags_malformed),
        cmocka_unit_test(test_connect_reserved_flag_bit_malformed),
        cmocka_unit_test(test_connect_will_qos_without_will_flag_malformed),
        cmocka_unit_test(test_connect_will_retain_without_will_flag_malformed),
        cmocka_unit_test(test_connect_will_qos3_malformed),
        cmocka_unit_test(test_connect_password_without_username_malformed),
        cmocka_unit_test(test_connect_shorter_than_variable_header_malformed),
        cmocka_unit_test(test_connect_client_id_past_end_malformed),
        cmocka_unit_test(test_connect_trailing_bytes_malformed),
        cmocka_unit_test(test_connect_missing_will_message_malformed),
        cmocka_unit_test(test_connect_missing_username_malformed),
        cmocka_unit_test(test_connect_client_id_invalid_utf8_malformed),
        cmocka_unit_test(test_connect_will_topic_with_wildcard_malformed),
        cmocka_unit_test(test_connect_username_invalid_utf8_malformed),
        cmocka_unit_test(test_connect_unsupported_level_reports_level),
        cmocka_unit_test(test_publish_from_client_decoded),
        cmocka_unit_test(test_publish_from_client_qos3_malformed),
        cmocka_unit_test(test_publish_from_client_wildcard_topic_malformed),
        cmocka_unit_test(test_acks_from_client_decoded),
        cmocka_unit_test(test_pubrel_from_client_flags_0_malformed),
        cmocka_unit_test(test_puback_from_client_id_zero_malformed),
        cmocka_unit_test(test_subscribe_decoded_and_filters_walked),
        cmocka_unit_test(test_subscribe_from_client_encoder_round_trips),
        cmocka_unit_test(test_unsubscribe_decoded_and_filters_walked),
        cmocka_unit_test(test_next_filter_never_walks_past_end),
        cmocka_unit_test(test_subscribe_flags_not_0010_malformed),
        cmocka_unit_test(test_subscribe_without_filters_malformed),
        cmocka_unit_test(test_subscribe_requested_qos3_malformed),
        cmocka_unit_test(test_subscribe_qos_byte_upper_bits_malformed),
        cmocka_unit_test(test_subscribe_invalid_filter_malformed),
        cmocka_unit_test(test_subscribe_empty_filter_malformed),
        cmocka_unit_test(test_subscribe_filter_invalid_utf8_malformed),
        cmocka_unit_test(test_subscribe_missing_qos_byte_malformed),
        cmocka_unit_test(test_subscribe_filter_past_end_malformed),
        cmocka_unit_test(test_subscribe_packet_id_zero_malformed),
        cmocka_unit_test(test_unsubscribe_flags_not_0010_malformed),
        cmocka_unit_test(test_unsubscribe_without_filters_malformed),
        cmocka_unit_test(test_unsubscribe_invalid_filter_malformed),
        cmocka_unit_test(test_pingreq_and_disconnect_decoded),
        cmocka_unit_test(test_pingreq_with_body_malformed),
        cmocka_unit_test(test_disconnect_reserved_flags_malformed),
        cmocka_unit_test(test_connack_from_client_malformed),
        cmocka_unit_test(test_suback_from_client_malformed),
        cmocka_unit_test(test_unsuback_from_client_malformed),
        cmocka_unit_test(test_pingresp_from_client_malformed),
        cmocka_unit_test(test_type_0_from_client_malformed),
        cmocka_unit_test(test_type_15_from_client_malformed),
        cmocka_unit_test(test_client_remaining_length_fifth_byte_malformed),
        cmocka_unit_test(test_connack_encodes_golden),
        cmocka_unit_test(test_connack_invalid_code_or_refusal_with_session_rejected),
        cmocka_unit_test(test_suback_encodes_golden),
        cmocka_unit_test(test_suback_invalid_inputs_rejected),
        cmocka_unit_test(test_unsuback_and_pingresp_encode_golden),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
