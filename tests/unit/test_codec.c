/*
 * The client codec against golden byte vectors written by hand from the
 * MQTT 3.1.1 specification.
 *
 * Every decoder input is placed right before an unreadable page (guard.h),
 * so a single byte of over-read crashes the test; every encoder writes into
 * a buffer that ends at the same kind of page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "midge/codec.h"

#define BIG_PACKET (2097152u + 8u)

static guard_buf g_guard;

static int setup(void **state)
{
    (void)state;
    return guard_init(&g_guard, BIG_PACKET);
}

static int teardown(void **state)
{
    (void)state;
    guard_release(&g_guard);
    return 0;
}

/* --- Helpers ---------------------------------------------------------------- */

static midge_decode_result decode(const uint8_t *bytes, size_t len, midge_packet *out)
{
    return midge_codec_decode(guard_place(&g_guard, bytes, len), len, out);
}

static void expect_malformed(const uint8_t *bytes, size_t len, midge_malformed reason)
{
    midge_packet p;
    midge_decode_result r = decode(bytes, len, &p);
    if (r.outcome != MIDGE_DECODE_MALFORMED || r.reason != reason)
        fail_msg("expected MALFORMED %s, got outcome %d reason %s", midge_malformed_str(reason),
                 (int)r.outcome, midge_malformed_str(r.reason));
}

/* The whole vector decodes with `used` == its length; every shorter prefix
 * is NEED_MORE, with `needed` known once the length field is complete. */
static void expect_prefixes_need_more(const uint8_t *bytes, size_t len, size_t header_len)
{
    midge_packet p;
    for (size_t k = 0; k < len; k++) {
        midge_decode_result r = decode(bytes, k, &p);
        if (r.outcome != MIDGE_DECODE_NEED_MORE)
            fail_msg("prefix %zu of %zu: outcome %d reason %s", k, len, (int)r.outcome,
                     midge_malformed_str(r.reason));
        assert_int_equal(r.needed, k >= header_len ? len : 0);
    }
    midge_decode_result r = decode(bytes, len, &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_int_equal(r.used, len);
}

static midge_packet expect_decoded(const uint8_t *bytes, size_t len)
{
    midge_packet p;
    memset(&p, 0xA5, sizeof(p));
    midge_decode_result r = decode(bytes, len, &p);
    if (r.outcome != MIDGE_DECODE_COMPLETE)
        fail_msg("outcome %d reason %s", (int)r.outcome, midge_malformed_str(r.reason));
    assert_int_equal(r.used, len);
    expect_prefixes_need_more(bytes, len, 2);
    return p;
}

/* Compares an encoder's output with the golden bytes. */
static void expect_bytes(const uint8_t *got, size_t got_len, const midge_status *st,
                         const uint8_t *want, size_t want_len)
{
    /* `st` by pointer: it is read here, after the encoder call in the
     * argument list has run (argument evaluation order is unspecified). */
    assert_int_equal(*st, MIDGE_OK);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
}

/* --- Remaining length (section 2.2.3) --------------------------------------- */

typedef struct length_case {
    uint32_t value;
    uint8_t bytes[4];
    size_t n;
} length_case;

static const length_case length_cases[] = {
    {0u, {0x00}, 1},
    {127u, {0x7F}, 1},
    {128u, {0x80, 0x01}, 2},
    {16383u, {0xFF, 0x7F}, 2},
    {16384u, {0x80, 0x80, 0x01}, 3},
    {2097151u, {0xFF, 0xFF, 0x7F}, 3},
    {2097152u, {0x80, 0x80, 0x80, 0x01}, 4},
    {268435455u, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
};
#define LENGTH_CASES (sizeof(length_cases) / sizeof(length_cases[0]))

static void test_remaining_length_boundaries_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < LENGTH_CASES; i++) {
        uint8_t out[4] = {0};
        assert_int_equal(midge_codec_length_size(length_cases[i].value), length_cases[i].n);
        assert_int_equal(midge_codec_put_length(out, length_cases[i].value), length_cases[i].n);
        assert_memory_equal(out, length_cases[i].bytes, length_cases[i].n);
    }
}

static void test_remaining_length_boundaries_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < LENGTH_CASES; i++) {
        uint8_t in[5] = {0x30};
        size_t n = length_cases[i].n;
        memcpy(in + 1, length_cases[i].bytes, n);

        uint8_t type_flags = 0;
        uint32_t remaining = 0;
        size_t header_len = 0;
        midge_decode_result r = midge_codec_decode_header(guard_place(&g_guard, in, 1 + n),
                                                          1 + n, &type_flags, &remaining,
                                                          &header_len);
        assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
        assert_int_equal(r.used, 1 + n);
        assert_int_equal(type_flags, 0x30);
        assert_int_equal(remaining, length_cases[i].value);
        assert_int_equal(header_len, 1 + n);

        /* Until the last length byte arrives the total size is unknown. */
        for (size_t k = 0; k < 1 + n; k++) {
            r = midge_codec_decode_header(guard_place(&g_guard, in, k), k, &type_flags,
                                          &remaining, &header_len);
            assert_int_equal(r.outcome, MIDGE_DECODE_NEED_MORE);
            assert_int_equal(r.needed, 0);
        }
    }
}

static void test_remaining_length_268435456_not_encodable(void **state)
{
    uint8_t out[4] = {0};
    (void)state;
    assert_int_equal(midge_codec_length_size(268435456u), 0);
    assert_int_equal(midge_codec_put_length(out, 268435456u), 0);
    assert_int_equal(midge_codec_put_length(out, UINT32_MAX), 0);
}

static void test_remaining_length_fifth_byte_is_malformed(void **state)
{
    /* 268435456 needs a fifth byte: 80 80 80 80 01. */
    static const uint8_t in[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x01};
    (void)state;
    expect_malformed(in, sizeof(in), MIDGE_MALFORMED_REMAINING_LENGTH);
    uint32_t remaining;
    size_t header_len;
    uint8_t tf;
    midge_decode_result r = midge_codec_decode_header(guard_place(&g_guard, in, sizeof(in)),
                                                      sizeof(in), &tf, &remaining, &header_len);
    assert_int_equal(r.outcome, MIDGE_DECODE_MALFORMED);
    assert_int_equal(r.reason, MIDGE_MALFORMED_REMAINING_LENGTH);
}

static void test_remaining_length_fourth_continuation_malformed_before_fifth_arrives(void **state)
{
    static const uint8_t in[] = {0x20, 0xFF, 0xFF, 0xFF, 0xFF};
    (void)state;
    expect_malformed(in, sizeof(in), MIDGE_MALFORMED_REMAINING_LENGTH);
}

static void test_remaining_length_non_minimal_encoding_is_accepted(void **state)
{
    /* 2 written as 82 00: 2.2.3 asks senders for the minimal form but a
     * longer one is still unambiguous. */
    static const uint8_t in[] = {0x20, 0x82, 0x00, 0x00, 0x00};
    midge_packet p;
    (void)state;
    midge_decode_result r = decode(in, sizeof(in), &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_int_equal(r.used, 5);
    assert_int_equal(p.type, MIDGE_CONNACK);
}

/* A QoS 0 PUBLISH on topic "t" whose remaining length is `rem`. */
static uint8_t *make_publish(uint32_t rem, size_t *total)
{
    size_t hl = 1 + midge_codec_length_size(rem);
    uint8_t *pkt = calloc(1, hl + rem);
    assert_non_null(pkt);
    pkt[0] = 0x30;
    midge_codec_put_length(pkt + 1, rem);
    pkt[hl] = 0x00;
    pkt[hl + 1] = 0x01;
    pkt[hl + 2] = 't';
    memset(pkt + hl + 3, 'x', rem - 3);
    *total = hl + rem;
    return pkt;
}

static void test_publish_at_remaining_length_boundaries_round_trips(void **state)
{
    static const uint32_t rems[] = {127u, 128u, 16383u, 16384u, 2097151u, 2097152u};
    (void)state;
    for (size_t i = 0; i < sizeof(rems) / sizeof(rems[0]); i++) {
        size_t total;
        uint8_t *want = make_publish(rems[i], &total);

        /* Encode: same bytes, and NO_SPACE one byte short. */
        midge_publish m = {"t", 1, 0, false, false, 0, want + total - (rems[i] - 3), rems[i] - 3};
        assert_int_equal(midge_codec_size_publish(&m), total);
        uint8_t *out = guard_tail(&g_guard, total);
        midge_status st = MIDGE_ERR_IO;
        expect_bytes(out, midge_codec_encode_publish(out, total, &m, &st), &st, want, total);
        out = guard_tail(&g_guard, total - 1);
        assert_int_equal(midge_codec_encode_publish(out, total - 1, &m, &st), 0);
        assert_int_equal(st, MIDGE_ERR_NO_SPACE);

        /* Decode: the whole packet, then one byte short. */
        midge_packet p;
        midge_decode_result r = decode(want, total, &p);
        assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
        assert_int_equal(r.used, total);
        assert_int_equal(p.publish.payload_len, rems[i] - 3);
        r = decode(want, total - 1, &p);
        assert_int_equal(r.outcome, MIDGE_DECODE_NEED_MORE);
        assert_int_equal(r.needed, total);
        free(want);
    }
}

static void test_publish_size_at_maximum_remaining_length(void **state)
{
    static const uint8_t dummy = 0;
    (void)state;
    /* Only the size is computed, so the payload is never read. */
    midge_publish m = {"t", 1, 0, false, false, 0, &dummy, MIDGE_MAX_REMAINING_LENGTH - 3};
    assert_int_equal(midge_codec_size_publish(&m), 1 + 4 + (size_t)MIDGE_MAX_REMAINING_LENGTH);
    m.payload_len++;
    assert_int_equal(midge_codec_size_publish(&m), 0);
    midge_status st = MIDGE_OK;
    uint8_t buf[16];
    assert_int_equal(midge_codec_encode_publish(buf, sizeof(buf), &m, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

/* --- Encoding CONNECT (section 3.1) ----------------------------------------- */

static void check_connect(const midge_connect_opts *o, const uint8_t *want, size_t want_len)
{
    midge_status st = MIDGE_ERR_IO;
    assert_int_equal(midge_codec_size_connect(o), want_len);
    uint8_t *out = guard_tail(&g_guard, want_len);
    expect_bytes(out, midge_codec_encode_connect(out, want_len, o, &st), &st, want, want_len);
    out = guard_tail(&g_guard, want_len - 1);
    assert_int_equal(midge_codec_encode_connect(out, want_len - 1, o, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

static void test_connect_minimal_encodes_golden(void **state)
{
    static const uint8_t want[] = {
        0x10, 0x0F,                         /* CONNECT, remaining 15 */
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, /* "MQTT", level 4 */
        0x02,                               /* clean session */
        0x00, 0x3C,                         /* keepalive 60 */
        0x00, 0x03, 'a', 'b', 'c',          /* client id */
    };
    midge_connect_opts o = {.client_id = "abc", .keepalive_s = 60, .clean_session = true};
    (void)state;
    check_connect(&o, want, sizeof(want));
}

static void test_connect_with_will_user_password_encodes_golden(void **state)
{
    static const uint8_t want[] = {
        0x10, 0x1F,
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
        0xEC,       /* user, password, will retain, will QoS 1, will; no clean */
        0x00, 0x0A, /* keepalive 10 */
        0x00, 0x02, 'c', '1',
        0x00, 0x03, 'w', '/', 't',
        0x00, 0x03, 'b', 'y', 'e',
        0x00, 0x01, 'u',
        0x00, 0x02, 'p', 'w',
    };
    midge_will w = {"w/t", "bye", 3, 1, true};
    midge_connect_opts o = {"c1", "u", "pw", &w, 10, false};
    (void)state;
    check_connect(&o, want, sizeof(want));
}

static void test_connect_username_without_password_encodes_golden(void **state)
{
    static const uint8_t want[] = {
        0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x00,
        0x00, 0x01, 'x', 0x00, 0x01, 'u',
    };
    midge_connect_opts o = {.client_id = "x", .username = "u", .clean_session = true};
    (void)state;
    check_connect(&o, want, sizeof(want));
}

static void test_connect_will_qos2_empty_payload_encodes_golden(void **state)
{
    static const uint8_t want[] = {
        0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x16, 0xFF, 0xFF,
        0x00, 0x00,             /* empty client id with clean session */
        0x00, 0x02, 'l', 'w',   /* will topic */
        0x00, 0x00,             /* empty will message */
    };
    midge_will w = {"lw", NULL, 0, 2, false};
    midge_connect_opts o = {"", NULL, NULL, &w, 65535, true};
    (void)state;
    check_connect(&o, want, sizeof(want));
}

static void expect_connect_invalid(const midge_connect_opts *o)
{
    uint8_t buf[256];
    midge_status st = MIDGE_OK;
    assert_int_equal(midge_codec_size_connect(o), 0);
    assert_int_equal(midge_codec_encode_connect(buf, sizeof(buf), o, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_connect_password_without_username_invalid(void **state)
{
    midge_connect_opts o = {.client_id = "c", .password = "pw", .clean_session = true};
    (void)state;
    expect_connect_invalid(&o);
}

static void test_connect_will_qos3_invalid(void **state)
{
    midge_will w = {"w", "x", 1, 3, false};
    midge_connect_opts o = {.client_id = "c", .will = &w, .clean_session = true};
    (void)state;
    expect_connect_invalid(&o);
}

static void test_connect_will_topic_with_wildcard_invalid(void **state)
{
    midge_will w = {"w/#", "x", 1, 0, false};
    midge_connect_opts o = {.client_id = "c", .will = &w, .clean_session = true};
    (void)state;
    expect_connect_invalid(&o);
    w.topic = "";
    expect_connect_invalid(&o);
}

static void test_connect_empty_client_id_needs_clean_session(void **state)
{
    midge_connect_opts o = {.client_id = "", .clean_session = false};
    (void)state;
    expect_connect_invalid(&o);
    o.client_id = NULL;
    o.clean_session = true;
    expect_connect_invalid(&o);
}

static void test_connect_invalid_utf8_strings_invalid(void **state)
{
    midge_connect_opts o = {.client_id = "\xC0\x80", .clean_session = true};
    (void)state;
    expect_connect_invalid(&o);
    o.client_id = "ok";
    o.username = "\xED\xA0\x80";
    expect_connect_invalid(&o);
}

/* --- Encoding PUBLISH (section 3.3) ------------------------------------------ */

static void check_publish(const midge_publish *m, const uint8_t *want, size_t want_len)
{
    midge_status st = MIDGE_ERR_IO;
    assert_int_equal(midge_codec_size_publish(m), want_len);
    uint8_t *out = guard_tail(&g_guard, want_len);
    expect_bytes(out, midge_codec_encode_publish(out, want_len, m, &st), &st, want, want_len);
    out = guard_tail(&g_guard, want_len - 1);
    assert_int_equal(midge_codec_encode_publish(out, want_len - 1, m, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

static void test_publish_qos0_encodes_golden(void **state)
{
    static const uint8_t want[] = {0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'};
    midge_publish m = {"a/b", 3, 0, false, false, 0, (const uint8_t *)"hi", 2};
    (void)state;
    check_publish(&m, want, sizeof(want));
}

static void test_publish_qos1_retain_encodes_golden(void **state)
{
    static const uint8_t want[] = {0x33, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'};
    midge_publish m = {"a/b", 3, 1, true, false, 10, (const uint8_t *)"hi", 2};
    (void)state;
    check_publish(&m, want, sizeof(want));
}

static void test_publish_qos2_dup_encodes_golden(void **state)
{
    static const uint8_t want[] = {0x3C, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x12, 0x34, 'h', 'i'};
    midge_publish m = {"a/b", 3, 2, false, true, 0x1234, (const uint8_t *)"hi", 2};
    (void)state;
    check_publish(&m, want, sizeof(want));
}

static void test_publish_empty_payload_encodes_golden(void **state)
{
    static const uint8_t want[] = {0x30, 0x05, 0x00, 0x03, 'a', '/', 'b'};
    midge_publish m = {"a/b", 3, 0, false, false, 0, NULL, 0};
    (void)state;
    check_publish(&m, want, sizeof(want));
}

static void expect_publish_invalid(const midge_publish *m)
{
    uint8_t buf[64];
    midge_status st = MIDGE_OK;
    assert_int_equal(midge_codec_size_publish(m), 0);
    assert_int_equal(midge_codec_encode_publish(buf, sizeof(buf), m, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_publish_qos1_packet_id_zero_invalid(void **state)
{
    midge_publish m = {"a", 1, 1, false, false, 0, NULL, 0};
    (void)state;
    expect_publish_invalid(&m);
    m.qos = 2;
    expect_publish_invalid(&m);
}

static void test_publish_qos3_invalid(void **state)
{
    midge_publish m = {"a", 1, 3, false, false, 1, NULL, 0};
    (void)state;
    expect_publish_invalid(&m);
}

static void test_publish_invalid_topic_name_invalid(void **state)
{
    midge_publish m = {"a/+", 3, 0, false, false, 0, NULL, 0};
    (void)state;
    expect_publish_invalid(&m);
    m.topic = "#";
    m.topic_len = 1;
    expect_publish_invalid(&m);
    m.topic = "";
    m.topic_len = 0;
    expect_publish_invalid(&m);
    m.topic = "\xC0\x80";
    m.topic_len = 2;
    expect_publish_invalid(&m);
}

static void test_publish_dup_on_qos0_invalid(void **state)
{
    /* 3.3.1-2: DUP must be 0 for QoS 0. */
    midge_publish m = {"a", 1, 0, false, true, 0, NULL, 0};
    (void)state;
    expect_publish_invalid(&m);
}

static void test_publish_null_payload_with_length_invalid(void **state)
{
    midge_publish m = {"a", 1, 0, false, false, 0, NULL, 4};
    (void)state;
    expect_publish_invalid(&m);
}

/* --- Encoding acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PING, DISCONNECT ---- */

static void test_ack_packets_encode_golden(void **state)
{
    static const struct {
        uint8_t type;
        uint8_t want[4];
    } cases[] = {
        {MIDGE_PUBACK, {0x40, 0x02, 0x00, 0x07}},
        {MIDGE_PUBREC, {0x50, 0x02, 0x00, 0x07}},
        {MIDGE_PUBREL, {0x62, 0x02, 0x00, 0x07}}, /* 3.6.1: flags 0010 */
        {MIDGE_PUBCOMP, {0x70, 0x02, 0x00, 0x07}},
    };
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        midge_status st = MIDGE_ERR_IO;
        uint8_t *out = guard_tail(&g_guard, 4);
        expect_bytes(out, midge_codec_encode_ack(out, 4, cases[i].type, 7, &st), &st,
                     cases[i].want, 4);
        out = guard_tail(&g_guard, 3);
        assert_int_equal(midge_codec_encode_ack(out, 3, cases[i].type, 7, &st), 0);
        assert_int_equal(st, MIDGE_ERR_NO_SPACE);
    }
}

static void test_ack_wrong_type_or_zero_id_invalid(void **state)
{
    uint8_t buf[4];
    midge_status st = MIDGE_OK;
    (void)state;
    assert_int_equal(midge_codec_encode_ack(buf, 4, MIDGE_PUBLISH, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    assert_int_equal(midge_codec_encode_ack(buf, 4, MIDGE_SUBACK, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    assert_int_equal(midge_codec_encode_ack(buf, 4, MIDGE_PUBACK, 0, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_subscribe_encodes_golden(void **state)
{
    static const uint8_t want[] = {
        0x82, 0x0E, 0x00, 0x01,                 /* flags 0010, id 1 */
        0x00, 0x03, 'a', '/', '#', 0x01,
        0x00, 0x03, '+', '/', 'b', 0x00,
    };
    static const midge_subscription subs[] = {{"a/#", 1}, {"+/b", 0}};
    midge_status st = MIDGE_ERR_IO;
    (void)state;
    assert_int_equal(midge_codec_size_subscribe(subs, 2), sizeof(want));
    uint8_t *out = guard_tail(&g_guard, sizeof(want));
    expect_bytes(out, midge_codec_encode_subscribe(out, sizeof(want), 1, subs, 2, &st), &st, want,
                 sizeof(want));
    out = guard_tail(&g_guard, sizeof(want) - 1);
    assert_int_equal(midge_codec_encode_subscribe(out, sizeof(want) - 1, 1, subs, 2, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

static void test_subscribe_invalid_inputs_rejected(void **state)
{
    static const midge_subscription bad_filter[] = {{"a#", 0}};
    static const midge_subscription bad_qos[] = {{"a", 3}};
    static const midge_subscription good[] = {{"a", 2}};
    uint8_t buf[64];
    midge_status st = MIDGE_OK;
    (void)state;
    assert_int_equal(midge_codec_size_subscribe(good, 0), 0); /* 3.8.3-3 */
    assert_int_equal(midge_codec_encode_subscribe(buf, sizeof(buf), 1, good, 0, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    assert_int_equal(midge_codec_size_subscribe(bad_filter, 1), 0);
    assert_int_equal(midge_codec_encode_subscribe(buf, sizeof(buf), 1, bad_filter, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    assert_int_equal(midge_codec_size_subscribe(bad_qos, 1), 0);
    assert_int_equal(midge_codec_encode_subscribe(buf, sizeof(buf), 1, bad_qos, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    st = MIDGE_OK;
    assert_int_equal(midge_codec_encode_subscribe(buf, sizeof(buf), 0, good, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_unsubscribe_encodes_golden(void **state)
{
    static const uint8_t want[] = {
        0xA2, 0x0C, 0x00, 0x02,
        0x00, 0x03, 'a', '/', '#',
        0x00, 0x03, '+', '/', 'b',
    };
    static const char *const filters[] = {"a/#", "+/b"};
    midge_status st = MIDGE_ERR_IO;
    (void)state;
    assert_int_equal(midge_codec_size_unsubscribe(filters, 2), sizeof(want));
    uint8_t *out = guard_tail(&g_guard, sizeof(want));
    expect_bytes(out, midge_codec_encode_unsubscribe(out, sizeof(want), 2, filters, 2, &st), &st,
                 want, sizeof(want));
    out = guard_tail(&g_guard, sizeof(want) - 1);
    assert_int_equal(midge_codec_encode_unsubscribe(out, sizeof(want) - 1, 2, filters, 2, &st),
                     0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

static void test_unsubscribe_invalid_inputs_rejected(void **state)
{
    static const char *const bad[] = {"a/b+"};
    static const char *const good[] = {"a"};
    uint8_t buf[64];
    midge_status st = MIDGE_OK;
    (void)state;
    assert_int_equal(midge_codec_size_unsubscribe(good, 0), 0);
    assert_int_equal(midge_codec_size_unsubscribe(bad, 1), 0);
    assert_int_equal(midge_codec_encode_unsubscribe(buf, sizeof(buf), 1, bad, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
    st = MIDGE_OK;
    assert_int_equal(midge_codec_encode_unsubscribe(buf, sizeof(buf), 0, good, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_INVALID);
}

static void test_pingreq_and_disconnect_encode_golden(void **state)
{
    static const uint8_t ping[] = {0xC0, 0x00};
    static const uint8_t disc[] = {0xE0, 0x00};
    midge_status st = MIDGE_ERR_IO;
    (void)state;
    uint8_t *out = guard_tail(&g_guard, 2);
    expect_bytes(out, midge_codec_encode_pingreq(out, 2, &st), &st, ping, 2);
    expect_bytes(out, midge_codec_encode_disconnect(out, 2, &st), &st, disc, 2);
    out = guard_tail(&g_guard, 1);
    assert_int_equal(midge_codec_encode_pingreq(out, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
    assert_int_equal(midge_codec_encode_disconnect(out, 1, &st), 0);
    assert_int_equal(st, MIDGE_ERR_NO_SPACE);
}

/* --- Decoding what a server sends: golden vectors --------------------------- */

static void test_connack_accepted_decoded(void **state)
{
    static const uint8_t in[] = {0x20, 0x02, 0x00, 0x00};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.type, MIDGE_CONNACK);
    assert_false(p.connack.session_present);
    assert_int_equal(p.connack.return_code, 0);
}

static void test_connack_session_present_decoded(void **state)
{
    static const uint8_t in[] = {0x20, 0x02, 0x01, 0x00};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_true(p.connack.session_present);
    assert_int_equal(p.connack.return_code, 0);
}

static void test_connack_refusal_codes_decoded(void **state)
{
    (void)state;
    for (uint8_t code = 1; code <= 5; code++) {
        const uint8_t in[] = {0x20, 0x02, 0x00, code};
        midge_packet p = expect_decoded(in, sizeof(in));
        assert_false(p.connack.session_present);
        assert_int_equal(p.connack.return_code, code);
    }
}

static void test_publish_qos0_decoded(void **state)
{
    static const uint8_t in[] = {0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.type, MIDGE_PUBLISH);
    assert_int_equal(p.packet_id, 0);
    assert_int_equal(p.publish.topic_len, 3);
    assert_memory_equal(p.publish.topic, "a/b", 3);
    assert_int_equal(p.publish.qos, 0);
    assert_false(p.publish.retain);
    assert_false(p.publish.dup);
    assert_int_equal(p.publish.packet_id, 0);
    assert_int_equal(p.publish.payload_len, 2);
    assert_memory_equal(p.publish.payload, "hi", 2);
}

static void test_publish_qos1_decoded(void **state)
{
    static const uint8_t in[] = {0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.packet_id, 10);
    assert_int_equal(p.publish.packet_id, 10);
    assert_int_equal(p.publish.qos, 1);
    assert_int_equal(p.publish.payload_len, 2);
    assert_memory_equal(p.publish.payload, "hi", 2);
}

static void test_publish_qos2_dup_retain_decoded(void **state)
{
    static const uint8_t in[] = {0x3D, 0x07, 0x00, 0x01, 'z', 0xBE, 0xEF, 'h', 'i'};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.flags, 0x0D);
    assert_int_equal(p.publish.qos, 2);
    assert_true(p.publish.dup);
    assert_true(p.publish.retain);
    assert_int_equal(p.packet_id, 0xBEEF);
}

static void test_publish_empty_payload_decoded(void **state)
{
    static const uint8_t in[] = {0x32, 0x05, 0x00, 0x01, 'z', 0x00, 0x01};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.publish.payload_len, 0);
}

static void test_publish_qos0_with_dup_tolerated(void **state)
{
    /* 3.3.1-2 forbids DUP on QoS 0, but the message is intact: deliver it. */
    static const uint8_t in[] = {0x38, 0x04, 0x00, 0x01, 'z', 'p'};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_true(p.publish.dup);
    assert_int_equal(p.publish.qos, 0);
    assert_int_equal(p.publish.payload_len, 1);
}

static void test_publish_multibyte_topic_decoded(void **state)
{
    static const uint8_t in[] = {0x30, 0x07, 0x00, 0x05, 'c', 'a', 'f', 0xC3, 0xA9};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.publish.topic_len, 5);
    assert_int_equal(p.publish.payload_len, 0);
}

static void test_publish_with_two_byte_length_decoded(void **state)
{
    size_t total;
    uint8_t *in = make_publish(200, &total);
    (void)state;
    assert_int_equal(total, 203);
    expect_prefixes_need_more(in, total, 3);
    free(in);
}

static void test_ack_packets_decoded(void **state)
{
    static const uint8_t in[][4] = {
        {0x40, 0x02, 0x00, 0x07},
        {0x50, 0x02, 0x00, 0x08},
        {0x62, 0x02, 0x00, 0x09},
        {0x70, 0x02, 0x01, 0x00},
        {0xB0, 0x02, 0xFF, 0xFF},
    };
    static const uint8_t types[] = {MIDGE_PUBACK, MIDGE_PUBREC, MIDGE_PUBREL, MIDGE_PUBCOMP,
                                    MIDGE_UNSUBACK};
    static const uint16_t ids[] = {7, 8, 9, 256, 65535};
    (void)state;
    for (size_t i = 0; i < 5; i++) {
        midge_packet p = expect_decoded(in[i], 4);
        assert_int_equal(p.type, types[i]);
        assert_int_equal(p.packet_id, ids[i]);
    }
}

static void test_suback_failure_code_decoded(void **state)
{
    static const uint8_t in[] = {0x90, 0x06, 0x00, 0x01, 0x00, 0x01, 0x02, 0x80};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.type, MIDGE_SUBACK);
    assert_int_equal(p.packet_id, 1);
    assert_int_equal(p.suback.count, 4);
    assert_int_equal(p.suback.codes[0], 0);
    assert_int_equal(p.suback.codes[2], 2);
    assert_int_equal(p.suback.codes[3], MIDGE_SUBACK_FAILURE);
}

static void test_pingresp_decoded(void **state)
{
    static const uint8_t in[] = {0xD0, 0x00};
    (void)state;
    midge_packet p = expect_decoded(in, sizeof(in));
    assert_int_equal(p.type, MIDGE_PINGRESP);
}

static void test_decode_consumes_only_the_first_of_two_packets(void **state)
{
    static const uint8_t in[] = {0x40, 0x02, 0x00, 0x01, 0xD0, 0x00};
    midge_packet p;
    (void)state;
    midge_decode_result r = decode(in, sizeof(in), &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_int_equal(r.used, 4);
    assert_int_equal(p.type, MIDGE_PUBACK);
}

static void test_encoded_publish_decodes_back(void **state)
{
    midge_publish m = {"sensors/t1", 10, 1, true, false, 42, (const uint8_t *)"21.5", 4};
    uint8_t buf[64];
    midge_status st;
    midge_packet p;
    (void)state;
    size_t n = midge_codec_encode_publish(buf, sizeof(buf), &m, &st);
    assert_int_equal(st, MIDGE_OK);
    midge_decode_result r = decode(buf, n, &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_int_equal(p.publish.topic_len, 10);
    assert_memory_equal(p.publish.topic, "sensors/t1", 10);
    assert_int_equal(p.publish.packet_id, 42);
    assert_true(p.publish.retain);
    assert_memory_equal(p.publish.payload, "21.5", 4);
}

/* --- Decoding: malformed input, one reason per test ------------------------ */

#define MALFORMED_TEST(name, reason, ...)                         \
    static void name(void **state)                                \
    {                                                             \
        static const uint8_t in[] = {__VA_ARGS__};                \
        (void)state;                                              \
        expect_malformed(in, sizeof(in), reason);                 \
    }

/* Types a server never sends (2.2.1): decided from the first byte alone. */
MALFORMED_TEST(test_type_0_is_malformed, MIDGE_MALFORMED_TYPE, 0x00)
MALFORMED_TEST(test_connect_from_server_is_malformed, MIDGE_MALFORMED_TYPE, 0x10, 0x00)
MALFORMED_TEST(test_subscribe_from_server_is_malformed, MIDGE_MALFORMED_TYPE, 0x82)
MALFORMED_TEST(test_unsubscribe_from_server_is_malformed, MIDGE_MALFORMED_TYPE, 0xA2, 0x02, 0x00,
               0x01)
MALFORMED_TEST(test_pingreq_from_server_is_malformed, MIDGE_MALFORMED_TYPE, 0xC0, 0x00)
MALFORMED_TEST(test_disconnect_from_server_is_malformed, MIDGE_MALFORMED_TYPE, 0xE0, 0x00)
MALFORMED_TEST(test_type_15_is_malformed, MIDGE_MALFORMED_TYPE, 0xF0, 0x00)

/* Reserved fixed-header flags (2.2.2). */
MALFORMED_TEST(test_connack_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x21, 0x02,
               0x00, 0x00)
MALFORMED_TEST(test_puback_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x42, 0x02,
               0x00, 0x01)
MALFORMED_TEST(test_pubrec_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x58)
MALFORMED_TEST(test_pubrel_flags_not_0010_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x60, 0x02,
               0x00, 0x01)
MALFORMED_TEST(test_pubrel_flags_0011_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x63, 0x02, 0x00,
               0x01)
MALFORMED_TEST(test_pubcomp_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x71, 0x02,
               0x00, 0x01)
MALFORMED_TEST(test_suback_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0x92, 0x03,
               0x00, 0x01, 0x00)
MALFORMED_TEST(test_unsuback_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0xB8, 0x02,
               0x00, 0x01)
MALFORMED_TEST(test_pingresp_reserved_flags_malformed, MIDGE_MALFORMED_RESERVED_FLAGS, 0xD1, 0x00)

/* CONNACK (3.2). */
MALFORMED_TEST(test_connack_length_3_malformed, MIDGE_MALFORMED_LENGTH, 0x20, 0x03, 0x00, 0x00,
               0x00)
MALFORMED_TEST(test_connack_length_1_malformed, MIDGE_MALFORMED_LENGTH, 0x20, 0x01, 0x00)
MALFORMED_TEST(test_connack_length_0_malformed, MIDGE_MALFORMED_LENGTH, 0x20, 0x00)
MALFORMED_TEST(test_connack_wrong_length_rejected_before_body, MIDGE_MALFORMED_LENGTH, 0x20, 0x03)
MALFORMED_TEST(test_connack_reserved_ack_flag_bits_malformed, MIDGE_MALFORMED_CONNACK, 0x20, 0x02,
               0x02, 0x00)
MALFORMED_TEST(test_connack_ack_flags_0x80_malformed, MIDGE_MALFORMED_CONNACK, 0x20, 0x02, 0x80,
               0x00)
MALFORMED_TEST(test_connack_return_code_6_malformed, MIDGE_MALFORMED_CONNACK, 0x20, 0x02, 0x00,
               0x06)
MALFORMED_TEST(test_connack_refusal_with_session_present_malformed, MIDGE_MALFORMED_CONNACK, 0x20,
               0x02, 0x01, 0x05)

/* PUBLISH (3.3). */
MALFORMED_TEST(test_publish_qos3_malformed, MIDGE_MALFORMED_QOS, 0x36)
MALFORMED_TEST(test_publish_qos1_packet_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0x32, 0x05,
               0x00, 0x01, 'a', 0x00, 0x00)
MALFORMED_TEST(test_publish_empty_topic_malformed, MIDGE_MALFORMED_TOPIC, 0x30, 0x03, 0x00, 0x00,
               'x')
MALFORMED_TEST(test_publish_topic_with_plus_malformed, MIDGE_MALFORMED_TOPIC, 0x30, 0x05, 0x00,
               0x03, 'a', '/', '+')
MALFORMED_TEST(test_publish_topic_with_hash_malformed, MIDGE_MALFORMED_TOPIC, 0x30, 0x03, 0x00,
               0x01, '#')
MALFORMED_TEST(test_publish_topic_with_null_character_malformed, MIDGE_MALFORMED_UTF8, 0x30, 0x05,
               0x00, 0x03, 'a', 0x00, 'b')
MALFORMED_TEST(test_publish_topic_overlong_utf8_malformed, MIDGE_MALFORMED_UTF8, 0x30, 0x04, 0x00,
               0x02, 0xC0, 0x80)
MALFORMED_TEST(test_publish_topic_surrogate_malformed, MIDGE_MALFORMED_UTF8, 0x30, 0x05, 0x00,
               0x03, 0xED, 0xA0, 0x80)
MALFORMED_TEST(test_publish_topic_longer_than_packet_malformed, MIDGE_MALFORMED_LENGTH, 0x30, 0x04,
               0x00, 0x05, 'a', 'b')
MALFORMED_TEST(test_publish_qos1_packet_id_missing_malformed, MIDGE_MALFORMED_LENGTH, 0x32, 0x04,
               0x00, 0x01, 'a', 0x00)
MALFORMED_TEST(test_publish_shorter_than_topic_length_field_malformed, MIDGE_MALFORMED_LENGTH,
               0x30, 0x01, 0x00)
MALFORMED_TEST(test_publish_zero_length_malformed, MIDGE_MALFORMED_LENGTH, 0x30, 0x00)

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK (3.4 - 3.7, 3.11). */
MALFORMED_TEST(test_puback_length_3_malformed, MIDGE_MALFORMED_LENGTH, 0x40, 0x03, 0x00, 0x01,
               0x00)
MALFORMED_TEST(test_pubrec_length_1_malformed, MIDGE_MALFORMED_LENGTH, 0x50, 0x01, 0x01)
MALFORMED_TEST(test_puback_packet_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0x40, 0x02, 0x00,
               0x00)
MALFORMED_TEST(test_pubrel_packet_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0x62, 0x02, 0x00,
               0x00)
MALFORMED_TEST(test_unsuback_length_3_malformed, MIDGE_MALFORMED_LENGTH, 0xB0, 0x03, 0x00, 0x01,
               0x00)
MALFORMED_TEST(test_unsuback_packet_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0xB0, 0x02, 0x00,
               0x00)

/* SUBACK (3.9). */
MALFORMED_TEST(test_suback_without_codes_malformed, MIDGE_MALFORMED_LENGTH, 0x90, 0x02, 0x00, 0x01)
MALFORMED_TEST(test_suback_code_3_malformed, MIDGE_MALFORMED_SUBACK_CODE, 0x90, 0x04, 0x00, 0x01,
               0x00, 0x03)
MALFORMED_TEST(test_suback_code_0x81_malformed, MIDGE_MALFORMED_SUBACK_CODE, 0x90, 0x03, 0x00,
               0x01, 0x81)
MALFORMED_TEST(test_suback_packet_id_zero_malformed, MIDGE_MALFORMED_PACKET_ID, 0x90, 0x03, 0x00,
               0x00, 0x00)

/* PINGRESP (3.13). */
MALFORMED_TEST(test_pingresp_with_body_malformed, MIDGE_MALFORMED_LENGTH, 0xD0, 0x01, 0x00)

static void test_malformed_reasons_have_distinct_descriptions(void **state)
{
    (void)state;
    assert_string_equal(midge_malformed_str(MIDGE_MALFORMED_NONE), "no error");
    assert_string_equal(midge_malformed_str(MIDGE_MALFORMED_REMAINING_LENGTH),
                        "remaining length uses more than 4 bytes");
    for (int a = MIDGE_MALFORMED_NONE; a <= MIDGE_MALFORMED_EMPTY; a++) {
        for (int b = a + 1; b <= MIDGE_MALFORMED_EMPTY; b++)
            assert_string_not_equal(midge_malformed_str((midge_malformed)a),
                                    midge_malformed_str((midge_malformed)b));
    }
    assert_string_equal(midge_malformed_str((midge_malformed)999), "unknown reason");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remaining_length_boundaries_encode),
        cmocka_unit_test(test_remaining_length_boundaries_decode),
        cmocka_unit_test(test_remaining_length_268435456_not_encodable),
        cmocka_unit_test(test_remaining_length_fifth_byte_is_malformed),
        cmocka_unit_test(test_remaining_length_fourth_continuation_malformed_before_fifth_arrives),
        cmocka_unit_test(test_remaining_length_non_minimal_encoding_is_accepted),
        cmocka_unit_test(test_publish_at_remaining_length_boundaries_round_trips),
        cmocka_unit_test(test_publish_size_at_maximum_remaining_length),

        cmocka_unit_test(test_connect_minimal_encodes_golden),
        cmocka_unit_test(test_connect_with_will_user_password_encodes_golden),
        cmocka_unit_test(test_connect_username_without_password_encodes_golden),
        cmocka_unit_test(test_connect_will_qos2_empty_payload_encodes_golden),
        cmocka_unit_test(test_connect_password_without_username_invalid),
        cmocka_unit_test(test_connect_will_qos3_invalid),
        cmocka_unit_test(test_connect_will_topic_with_wildcard_invalid),
        cmocka_unit_test(test_connect_empty_client_id_needs_clean_session),
        cmocka_unit_test(test_connect_invalid_utf8_strings_invalid),

        cmocka_unit_test(test_publish_qos0_encodes_golden),
        cmocka_unit_test(test_publish_qos1_retain_encodes_golden),
        cmocka_unit_test(test_publish_qos2_dup_encodes_golden),
        cmocka_unit_test(test_publish_empty_payload_encodes_golden),
        cmocka_unit_test(test_publish_qos1_packet_id_zero_invalid),
        cmocka_unit_test(test_publish_qos3_invalid),
        cmocka_unit_test(test_publish_invalid_topic_name_invalid),
        cmocka_unit_test(test_publish_dup_on_qos0_invalid),
        cmocka_unit_test(test_publish_null_payload_with_length_invalid),

        cmocka_unit_test(test_ack_packets_encode_golden),
        cmocka_unit_test(test_ack_wrong_type_or_zero_id_invalid),
        cmocka_unit_test(test_subscribe_encodes_golden),
        cmocka_unit_test(test_subscribe_invalid_inputs_rejected),
        cmocka_unit_test(test_unsubscribe_encodes_golden),
        cmocka_unit_test(test_unsubscribe_invalid_inputs_rejected),
        cmocka_unit_test(test_pingreq_and_disconnect_encode_golden),

        cmocka_unit_test(test_connack_accepted_decoded),
        cmocka_unit_test(test_connack_session_present_decoded),
        cmocka_unit_test(test_connack_refusal_codes_decoded),
        cmocka_unit_test(test_publish_qos0_decoded),
        cmocka_unit_test(test_publish_qos1_decoded),
        cmocka_unit_test(test_publish_qos2_dup_retain_decoded),
        cmocka_unit_test(test_publish_empty_payload_decoded),
        cmocka_unit_test(test_publish_qos0_with_dup_tolerated),
        cmocka_unit_test(test_publish_multibyte_topic_decoded),
        cmocka_unit_test(test_publish_with_two_byte_length_decoded),
        cmocka_unit_test(test_ack_packets_decoded),
        cmocka_unit_test(test_suback_failure_code_decoded),
        cmocka_unit_test(test_pingresp_decoded),
        cmocka_unit_test(test_decode_consumes_only_the_first_of_two_packets),
        cmocka_unit_test(test_encoded_publish_decodes_back),

        cmocka_unit_test(test_type_0_is_malformed),
        cmocka_unit_test(test_connect_from_server_is_malformed),
        cmocka_unit_test(test_subscribe_from_server_is_malformed),
        cmocka_unit_test(test_unsubscribe_from_server_is_malformed),
        cmocka_unit_test(test_pingreq_from_server_is_malformed),
        cmocka_unit_test(test_disconnect_from_server_is_malformed),
        cmocka_unit_test(test_type_15_is_malformed),
        cmocka_unit_test(test_connack_reserved_flags_malformed),
        cmocka_unit_test(test_puback_reserved_flags_malformed),
        cmocka_unit_test(test_pubrec_reserved_flags_malformed),
        cmocka_unit_test(test_pubrel_flags_not_0010_malformed),
        cmocka_unit_test(test_pubrel_flags_0011_malformed),
        cmocka_unit_test(test_pubcomp_reserved_flags_malformed),
        cmocka_unit_test(test_suback_reserved_flags_malformed),
        cmocka_unit_test(test_unsuback_reserved_flags_malformed),
        cmocka_unit_test(test_pingresp_reserved_flags_malformed),
        cmocka_unit_test(test_connack_length_3_malformed),
        cmocka_unit_test(test_connack_length_1_malformed),
        cmocka_unit_test(test_connack_length_0_malformed),
        cmocka_unit_test(test_connack_wrong_length_rejected_before_body),
        cmocka_unit_test(test_connack_reserved_ack_flag_bits_malformed),
        cmocka_unit_test(test_connack_ack_flags_0x80_malformed),
        cmocka_unit_test(test_connack_return_code_6_malformed),
        cmocka_unit_test(test_connack_refusal_with_session_present_malformed),
        cmocka_unit_test(test_publish_qos3_malformed),
        cmocka_unit_test(test_publish_qos1_packet_id_zero_malformed),
        cmocka_unit_test(test_publish_empty_topic_malformed),
        cmocka_unit_test(test_publish_topic_with_plus_malformed),
        cmocka_unit_test(test_publish_topic_with_hash_malformed),
        cmocka_unit_test(test_publish_topic_with_null_character_malformed),
        cmocka_unit_test(test_publish_topic_overlong_utf8_malformed),
        cmocka_unit_test(test_publish_topic_surrogate_malformed),
        cmocka_unit_test(test_publish_topic_longer_than_packet_malformed),
        cmocka_unit_test(test_publish_qos1_packet_id_missing_malformed),
        cmocka_unit_test(test_publish_shorter_than_topic_length_field_malformed),
        cmocka_unit_test(test_publish_zero_length_malformed),
        cmocka_unit_test(test_puback_length_3_malformed),
        cmocka_unit_test(test_pubrec_length_1_malformed),
        cmocka_unit_test(test_puback_packet_id_zero_malformed),
        cmocka_unit_test(test_pubrel_packet_id_zero_malformed),
        cmocka_unit_test(test_unsuback_length_3_malformed),
        cmocka_unit_test(test_unsuback_packet_id_zero_malformed),
        cmocka_unit_test(test_suback_without_codes_malformed),
        cmocka_unit_test(test_suback_code_3_malformed),
        cmocka_unit_test(test_suback_code_0x81_malformed),
        cmocka_unit_test(test_suback_packet_id_zero_malformed),
        cmocka_unit_test(test_pingresp_with_body_malformed),
        cmocka_unit_test(test_malformed_reasons_have_distinct_descriptions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
