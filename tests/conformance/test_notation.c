/*
 * The conformance payload notation, pinned with byte vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_broker.h"
#include "notation.h"

static size_t parse_ok(const char *text, uint8_t *out, size_t cap)
{
    size_t len = 0;
    char err[128] = "";
    bool ok = notation_parse(text, strlen(text), out, cap, &len, err, sizeof err);
    if (!ok) {
        fail_msg("'%s' did not parse: %s", text, err);
    }
    return len;
}

static void assert_bytes(const char *text, const uint8_t *want, size_t want_len)
{
    uint8_t out[128];
    size_t len = parse_ok(text, out, sizeof out);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, want_len);
}

static void assert_rejected(const char *text)
{
    uint8_t out[128];
    size_t len = 0;
    char err[128] = "";
    assert_false(notation_parse(text, strlen(text), out, sizeof out, &len, err, sizeof err));
    assert_true(err[0] != '\0');
}

static void test_plain_hex_of_any_case_concatenates(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x40, 0x00, 0x01, 0xff, 0xff, 0xab};
    assert_bytes("40 00 01 FFFF aB", want, sizeof want);
}

static void test_remaining_length_boundaries_match_section_2_2_3(void **state)
{
    (void)state;
    static const uint8_t r0[] = {0x00};
    static const uint8_t r127[] = {0x7f};
    static const uint8_t r128[] = {0x80, 0x01};
    static const uint8_t r16383[] = {0xff, 0x7f};
    static const uint8_t r16384[] = {0x80, 0x80, 0x01};
    static const uint8_t r2097151[] = {0xff, 0xff, 0x7f};
    static const uint8_t r2097152[] = {0x80, 0x80, 0x80, 0x01};
    static const uint8_t r268435455[] = {0xff, 0xff, 0xff, 0x7f};
    assert_bytes("r0", r0, sizeof r0);
    assert_bytes("r127", r127, sizeof r127);
    assert_bytes("r128", r128, sizeof r128);
    assert_bytes("r16383", r16383, sizeof r16383);
    assert_bytes("r16384", r16384, sizeof r16384);
    assert_bytes("r2097151", r2097151, sizeof r2097151);
    assert_bytes("v2097152", r2097152, sizeof r2097152);
    assert_bytes("r268435455", r268435455, sizeof r268435455);
}

static void test_remaining_length_from_2_pow_28_takes_five_bytes(void **state)
{
    (void)state;
    static const uint8_t first_invalid[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t v_max32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_bytes("30 r268435456", first_invalid, sizeof first_invalid);
    assert_bytes("v4294967295", v_max32, sizeof v_max32);
}

static void test_fixed_width_numbers_are_big_endian(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x07, 0x04, 0xd2, 0x00, 0x05, 0x00, 0x3c,
                                   0xff, 0xff, 0x01, 0x02, 0x03, 0x04};
    assert_bytes("i7 m1234 s5 k60 H65535 L16909060", want, sizeof want);
}

static void test_text_keeps_spaces_and_ends_at_quote(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x00, 0x0b, 'a', 'l', 'i', 'v', 'e', ' ',
                                   'c', 'h', 'e', 'c', 'k', 'p'};
    assert_bytes("s11 'alive check' 'p'", want, sizeof want);
    assert_bytes("''", want, 0);
}

static void test_readme_example_is_a_qos1_publish(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x32, 23,  0x00, 12,  't', 'e', 's', 't', '/', 'p',
                                   'u',  'b', 'l',  'i', 's', 'h', 0x00, 0x01, 'm', 'e',
                                   's',  's', 'a',  'g', 'e'};
    assert_bytes("32 r23 s12 'test/publish' m1 'message'", want, sizeof want);
}

static void test_alive_check_is_a_well_formed_qos1_publish(void **state)
{
    (void)state;
    static const uint8_t publish[] = {0x32, 22,  0x00, 11,  'a',  'l',  'i', 'v',
                                      'e',  ' ', 'c',  'h', 'e',  'c',  'k', 0xff,
                                      0xff, 'p', 'a',  'y', 'l',  'o',  'a', 'd'};
    static const uint8_t puback[] = {0x40, 0x02, 0xff, 0xff};
    assert_bytes(FAKE_BROKER_ALIVE_PUBLISH, publish, sizeof publish);
    assert_bytes(FAKE_BROKER_ALIVE_PUBACK, puback, sizeof puback);
}

static void test_malformed_notation_is_rejected(void **state)
{
    (void)state;
    assert_rejected("123");          /* odd hex */
    assert_rejected("4G");           /* not hex */
    assert_rejected("x1");           /* unknown prefix */
    assert_rejected("i256");         /* one byte */
    assert_rejected("m65536");       /* 16 bits */
    assert_rejected("L4294967296");  /* 32 bits */
    assert_rejected("mFFFF");        /* numbers are decimal */
    assert_rejected("r");            /* no digits */
    assert_rejected("'open");        /* unterminated text */
    assert_rejected("'a'b");         /* text glued to a token */
    assert_rejected("r99999999999999999999999"); /* overflows 64 bits */
}

static void test_output_never_exceeds_capacity(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t len = 0;
    char err[64];
    memset(out, 0xee, sizeof out);
    assert_false(notation_parse("L1 L2 i3", 8, out, 5, &len, err, sizeof err));
    assert_int_equal(out[5], 0xee);
    assert_false(notation_parse("'abcdef'", 8, out, 5, &len, err, sizeof err));
    assert_int_equal(out[5], 0xee);
}

static void test_output_bound_covers_the_densest_tokens(void **state)
{
    (void)state;
    static const char text[] = "L0 L0 L0 r268435456 i0";
    uint8_t out[NOTATION_OUTPUT_BOUND(sizeof text - 1)];
    assert_int_equal(parse_ok(text, out, sizeof out), 18);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_hex_of_any_case_concatenates),
        cmocka_unit_test(test_remaining_length_boundaries_match_section_2_2_3),
        cmocka_unit_test(test_remaining_length_from_2_pow_28_takes_five_bytes),
        cmocka_unit_test(test_fixed_width_numbers_are_big_endian),
        cmocka_unit_test(test_text_keeps_spaces_and_ends_at_quote),
        cmocka_unit_test(test_readme_example_is_a_qos1_publish),
        cmocka_unit_test(test_alive_check_is_a_well_formed_qos1_publish),
        cmocka_unit_test(test_malformed_notation_is_rejected),
        cmocka_unit_test(test_output_never_exceeds_capacity),
        cmocka_unit_test(test_output_bound_covers_the_densest_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
