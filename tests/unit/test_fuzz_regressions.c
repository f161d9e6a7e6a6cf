/*
 * Inputs found by the fuzz targets (tests/fuzz/), replayed byte for byte so
 * that what they showed stays true in every ordinary test run, without
 * clang or libFuzzer. Each test names the target that found its input; the
 * same input sits in that target's seed corpus.
 *
 * A new finding goes here as the exact bytes of the crash file, with the
 * behaviour the fix pins in the test's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "midge/codec.h"
#include "midge/session.h"

/* --- fuzz_decode -------------------------------------------------------- */

/* 2.2.3 obliges only the sender to encode the remaining length minimally:
 * "82 00" is 2, and a CONNACK so encoded is 5 bytes long, not 4. */
static void test_connack_with_non_minimal_length_decodes(void **state)
{
    static const uint8_t in[] = {0x20, 0x82, 0x00, 0x01, 0x00};
    midge_packet p;

    (void)state;
    midge_decode_result r = midge_codec_decode(in, sizeof in, &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_int_equal(r.used, sizeof in);
    assert_int_equal(p.type, MIDGE_CONNACK);
    assert_true(p.connack.session_present);
    assert_int_equal(p.connack.return_code, 0);
}

/* DUP on QoS 0 breaks 3.3.1-2 but the message is intact: the decoder
 * delivers it, while the encoder refuses to produce such a packet. */
static void test_qos0_publish_with_dup_decodes_but_does_not_encode(void **state)
{
    static const uint8_t in[] = {0x38, 0x06, 0x00, 0x03, 't', '/', 'a', 'x'};
    midge_packet p;

    (void)state;
    midge_decode_result r = midge_codec_decode(in, sizeof in, &p);
    assert_int_equal(r.outcome, MIDGE_DECODE_COMPLETE);
    assert_true(p.publish.dup);
    assert_int_equal(p.publish.qos, 0);
    assert_int_equal(midge_codec_size_publish(&p.publish), 0);
}

/* --- fuzz_session ------------------------------------------------------- */

typedef struct session_fixture {
    midge_session s;
    uint8_t tx[64];
    uint8_t rx[64];
    uint8_t store[64];
    uint16_t qos2[2];
} session_fixture;

static void connect_session(session_fixture *f)
{
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    midge_session_buffers b = {f->tx, sizeof f->tx, f->rx, sizeof f->rx,
                               f->store, sizeof f->store, f->qos2, 2};
    midge_connect_opts o = {0};
    const uint8_t *data = NULL;

    o.client_id = "fuzz-client";
    o.clean_session = true;
    midge_session_init(&f->s, &b, NULL, NULL);
    assert_int_equal(midge_session_connect(&f->s, &o, 0xFFFF00F0u), MIDGE_OK);
    midge_session_sent(&f->s, midge_session_pending(&f->s, &data), 0xFFFF00F0u);
    assert_int_equal(midge_session_feed(&f->s, connack, sizeof connack, NULL, 0xFFFF00F0u),
                     MIDGE_OK);
    assert_true(midge_session_is_connected(&f->s));
}

/* A PUBREC for an id this session never used is still answered with
 * PUBREL (4.3.3), so a broker whose state outlived ours can finish. The
 * PUBREL then carries an id the session never handed out. */
static void test_pubrec_for_unknown_id_is_answered_with_pubrel(void **state)
{
    static const uint8_t pubrec[] = {0x50, 0x02, 0x00, 0x01};
    static const uint8_t pubrel[] = {0x62, 0x02, 0x00, 0x01};
    session_fixture f;
    const uint8_t *data = NULL;

    (void)state;
    connect_session(&f);
    assert_int_equal(midge_session_feed(&f.s, pubrec, sizeof pubrec, NULL, 0xFFFF00F0u),
                     MIDGE_OK);
    assert_int_equal(midge_session_pending(&f.s, &data), sizeof pubrel);
    assert_memory_equal(data, pubrel, sizeof pubrel);
    assert_int_equal(midge_session_inflight(&f.s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connack_with_non_minimal_length_decodes),
        cmocka_unit_test(test_qos0_publish_with_dup_decodes_but_does_not_encode),
        cmocka_unit_test(test_pubrec_for_unknown_id_is_answered_with_pubrel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
