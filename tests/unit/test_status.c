/*
 * Status strings: generated from MIDGE_STATUS_LIST, so every code has a
 * description and a name, and unknown values never yield NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "midge/status.h"

static void test_every_listed_status_has_its_text_and_name(void **state)
{
    (void)state;
#define CHECK_STATUS(name, value, text)                    \
    assert_string_equal(midge_strerror(value), text);      \
    assert_string_equal(midge_status_name(value), #name);
    MIDGE_STATUS_LIST(CHECK_STATUS)
#undef CHECK_STATUS
}

static void test_unknown_status_has_fallback_strings(void **state)
{
    (void)state;
    assert_string_equal(midge_strerror(12345), "unknown status");
    assert_string_equal(midge_strerror(-9), "unknown status");
    assert_string_equal(midge_status_name(-9), "MIDGE_UNKNOWN");
}

static void test_status_families_are_disjoint(void **state)
{
    (void)state;
    assert_true(midge_status_is_refusal(MIDGE_REFUSED_PROTOCOL));
    assert_true(midge_status_is_refusal(MIDGE_REFUSED_NOT_AUTHORIZED));
    assert_false(midge_status_is_refusal(MIDGE_ERR_INVALID));
    assert_false(midge_status_is_refusal(MIDGE_OK));
    assert_true(midge_status_is_pending(MIDGE_AGAIN));
    assert_false(midge_status_is_pending(MIDGE_OK));
    assert_false(midge_status_is_pending(MIDGE_ERR_IO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_listed_status_has_its_text_and_name),
        cmocka_unit_test(test_unknown_status_has_fallback_strings),
        cmocka_unit_test(test_status_families_are_disjoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
