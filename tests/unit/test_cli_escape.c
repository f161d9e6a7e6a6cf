/*
 * Escaping for log and error lines (src/cli/escape.c): printable ASCII
 * passes, every other byte becomes \xNN, a cut is marked with "..." and
 * never splits an escape, and a line already escaped is not escaped twice.
 * The CLI is an executable, so the file is compiled into this test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "../../src/cli/escape.c"

static void test_printable_ascii_passes_and_other_bytes_show_as_hex(void **state)
{
    char buf[64];
    (void)state;
    assert_string_equal(cli_escape(buf, sizeof buf, "a/b c", 5, 64), "a/b c");
    assert_string_equal(cli_escape(buf, sizeof buf, "\x1b[2J\n\x7f\xff", 7, 64),
                        "\\x1b[2J\\x0a\\x7f\\xff");
    /* A backslash is doubled: "\x1b" typed by someone stays told apart. */
    assert_string_equal(cli_escape(buf, sizeof buf, "\\x1b", 4, 64), "\\\\x1b");
    /* A NUL inside the bytes is a byte like another. */
    assert_string_equal(cli_escape(buf, sizeof buf, "a\0b", 3, 64), "a\\x00b");
}

static void test_a_cut_is_marked_and_never_splits_an_escape(void **state)
{
    char buf[64];
    (void)state;
    /* At the limit. */
    assert_string_equal(cli_escape(buf, sizeof buf, "abcdef", 6, 4), "abcd...");
    assert_string_equal(cli_escape(buf, sizeof buf, "abcd", 4, 4), "abcd");
    /* At the end of the buffer: 9 bytes hold "ab" and "...", not half of
     * the escape that would follow; 10 hold one escape more. */
    assert_string_equal(cli_escape(buf, 9, "ab\x1b\x1b", 4, 64), "ab...");
    assert_string_equal(cli_escape(buf, 10, "ab\x1b\x1b", 4, 64), "ab\\x1b...");
    assert_string_equal(cli_escape(buf, 4, "abc", 3, 64), "...");
    /* 4 * limit + 4 bytes always hold the whole limit. */
    char big[4 * 8 + 4];
    assert_string_equal(cli_escape(big, sizeof big, "\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9, 8),
                        "\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08...");
}

static void test_a_line_keeps_its_backslashes(void **state)
{
    char buf[64];
    (void)state;
    /* The device layer's lines come escaped already. */
    assert_string_equal(cli_escape_line(buf, sizeof buf, "command \"\\x1b\" on a\tb\n"),
                        "command \"\\x1b\" on a\\x09b\\x0a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_ascii_passes_and_other_bytes_show_as_hex),
        cmocka_unit_test(test_a_cut_is_marked_and_never_splits_an_escape),
        cmocka_unit_test(test_a_line_keeps_its_backslashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
