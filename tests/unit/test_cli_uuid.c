/*
 * The CLI's UUID helper (src/cli/uuid.c): version 4 text form and fresh
 * random ids. The CLI is an executable, not a library, so the helper is
 * compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "../../src/cli/uuid.c"

static void test_uuid_format_of_zero_bytes_sets_version_and_variant(void **state)
{
    uint8_t raw[16] = { 0 };
    char out[CLI_UUID_LEN + 1];
    (void)state;
    cli_uuid_format(raw, out);
    assert_string_equal(out, "00000000-0000-4000-8000-000000000000");
}

static void test_uuid_format_of_all_ones_clears_the_reserved_bits(void **state)
{
    uint8_t raw[16];
    char out[CLI_UUID_LEN + 1];
    (void)state;
    memset(raw, 0xff, sizeof raw);
    cli_uuid_format(raw, out);
    assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

static void test_uuid_format_keeps_byte_order_and_dashes(void **state)
{
    uint8_t raw[16];
    char out[CLI_UUID_LEN + 1];
    (void)state;
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)(i * 0x11);
    cli_uuid_format(raw, out);
    assert_string_equal(out, "00112233-4455-4677-8899-aabbccddeeff");
}

static void test_uuid_new_gives_different_v4_ids(void **state)
{
    char a[CLI_UUID_LEN + 1];
    char b[CLI_UUID_LEN + 1];
    (void)state;
    assert_true(cli_uuid_new(a));
    assert_true(cli_uuid_new(b));
    assert_int_equal(strlen(a), CLI_UUID_LEN);
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_format_of_zero_bytes_sets_version_and_variant),
        cmocka_unit_test(test_uuid_format_of_all_ones_clears_the_reserved_bits),
        cmocka_unit_test(test_uuid_format_keeps_byte_order_and_dashes),
        cmocka_unit_test(test_uuid_new_gives_different_v4_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
