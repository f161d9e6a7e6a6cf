/*
 * UTF-8 strings (MQTT 3.1.1 section 1.5.3), topic names and filters (4.7.1)
 * and topic matching (4.7, 4.7.2). Inputs go through the guard page so that
 * validation is also shown not to read past the string.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "midge/codec.h"

static guard_buf g_guard;

static int setup(void **state)
{
    (void)state;
    return guard_init(&g_guard, 70000);
}

static int teardown(void **state)
{
    (void)state;
    guard_release(&g_guard);
    return 0;
}

static bool utf8(const char *bytes, size_t len)
{
    return midge_utf8_valid(guard_place(&g_guard, bytes, len), len);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return midge_topic_name_valid((const char *)guard_place(&g_guard, s, n), n);
}

static bool filter_ok(const char *s)
{
    size_t n = strlen(s);
    return midge_topic_filter_valid((const char *)guard_place(&g_guard, s, n), n);
}

static bool matches(const char *filter, const char *topic)
{
    return midge_topic_matches(filter, strlen(filter), topic, strlen(topic));
}

/* --- UTF-8 ----------------------------------------------------------------- */

static void test_utf8_ascii_and_empty_are_valid(void **state)
{
    (void)state;
    assert_true(utf8("", 0));
    assert_true(utf8("a", 1));
    assert_true(utf8("sport/tennis/player1", 20));
    assert_true(utf8("0123456789abcdef0123456789abcdef", 32));
}

static void test_utf8_valid_multibyte_sequences_accepted(void **state)
{
    (void)state;
    assert_true(utf8("\xC2\xA9", 2));             /* U+00A9, 2 bytes */
    assert_true(utf8("\xE2\x82\xAC", 3));         /* U+20AC, 3 bytes */
    assert_true(utf8("\xEF\xBB\xBF", 3));         /* U+FEFF kept, 1.5.3-3 */
    assert_true(utf8("\xF0\x9F\x98\x80", 4));     /* U+1F600, 4 bytes */
    assert_true(utf8("A\xF0\xAA\x9B\x94", 5));    /* 1.5.3 example U+2A6D4 */
    assert_true(utf8("\xED\x9F\xBF", 3));         /* U+D7FF, below surrogates */
    assert_true(utf8("\xEE\x80\x80", 3));         /* U+E000, above surrogates */
    assert_true(utf8("abcdefgh\xC3\xA9ijklmnop", 18)); /* non-ASCII after a word */
}

static void test_utf8_max_code_point_u10ffff_accepted(void **state)
{
    (void)state;
    assert_true(utf8("\xF4\x8F\xBF\xBF", 4));
}

static void test_utf8_above_u10ffff_rejected(void **state)
{
    (void)state;
    assert_false(utf8("\xF4\x90\x80\x80", 4));
    assert_false(utf8("\xF5\x80\x80\x80", 4));
    assert_false(utf8("\xFF", 1));
}

static void test_utf8_null_character_rejected(void **state)
{
    (void)state;
    assert_false(utf8("\0", 1));
    assert_false(utf8("a\0b", 3));
    assert_false(utf8("abcdefg\0ijklmnop", 16)); /* inside a word */
}

static void test_utf8_surrogates_rejected(void **state)
{
    (void)state;
    assert_false(utf8("\xED\xA0\x80", 3)); /* U+D800 */
    assert_false(utf8("\xED\xBF\xBF", 3)); /* U+DFFF */
}

static void test_utf8_overlong_forms_rejected(void **state)
{
    (void)state;
    assert_false(utf8("\xC0\x80", 2));         /* U+0000 in 2 bytes */
    assert_false(utf8("\xC1\xBF", 2));         /* U+007F in 2 bytes */
    assert_false(utf8("\xE0\x80\xAF", 3));     /* '/' in 3 bytes */
    assert_false(utf8("\xE0\x9F\xBF", 3));     /* U+07FF in 3 bytes */
    assert_false(utf8("\xF0\x8F\xBF\xBF", 4)); /* U+FFFF in 4 bytes */
}

static void test_utf8_truncated_sequences_rejected(void **state)
{
    (void)state;
    assert_false(utf8("\xC3", 1));
    assert_false(utf8("\xE2\x82", 2));
    assert_false(utf8("\xF0\x9F\x98", 3));
    assert_false(utf8("abc\xF0", 4));
}

static void test_utf8_bad_continuation_bytes_rejected(void **state)
{
    (void)state;
    assert_false(utf8("\x80", 1));             /* lone continuation */
    assert_false(utf8("\xC3\x28", 2));         /* second byte not 10xxxxxx */
    assert_false(utf8("\xE2\x28\xA1", 3));
    assert_false(utf8("\xE2\x82\x28", 3));
    assert_false(utf8("\xF0\x9F\x28\x80", 4));
    assert_false(utf8("\xF0\x9F\x98\x28", 4));
}

static void test_utf8_longer_than_65535_bytes_rejected(void **state)
{
    static char big[65536];
    (void)state;
    memset(big, 'a', sizeof(big));
    assert_true(utf8(big, 65535));
    assert_false(utf8(big, 65536));
}

/* --- Topic names ------------------------------------------------------------ */

static void test_topic_name_plain_levels_valid(void **state)
{
    (void)state;
    assert_true(name_ok("a"));
    assert_true(name_ok("sport/tennis/player1"));
    assert_true(name_ok("/"));
    assert_true(name_ok("/finance"));
    assert_true(name_ok("a//b"));
    assert_true(name_ok("$SYS/broker/uptime"));
    assert_true(name_ok("caf\xC3\xA9/m\xC3\xA9nu"));
    assert_true(name_ok("with space"));
}

static void test_topic_name_empty_rejected(void **state)
{
    (void)state;
    assert_false(midge_topic_name_valid("", 0));
}

static void test_topic_name_wildcards_rejected(void **state)
{
    (void)state;
    assert_false(name_ok("+"));
    assert_false(name_ok("#"));
    assert_false(name_ok("sport/+/player1"));
    assert_false(name_ok("sport/#"));
    assert_false(name_ok("abcdefghijklmn+p"));       /* found by the word path */
    assert_false(name_ok("abcdefghijklmno#"));
    assert_false(name_ok("caf\xC3\xA9/+"));         /* found by the slow path */
}

static void test_topic_name_bad_utf8_rejected(void **state)
{
    (void)state;
    assert_false(midge_topic_name_valid((const char *)guard_place(&g_guard, "a\0b", 3), 3));
    assert_false(name_ok("a/\xC0\x80"));
    assert_false(name_ok("a/\xED\xA0\x80"));
}

/* --- Topic filters ---------------------------------------------------------- */

static void test_topic_filter_wildcards_in_whole_levels_valid(void **state)
{
    (void)state;
    assert_true(filter_ok("#"));
    assert_true(filter_ok("+"));
    assert_true(filter_ok("sport/#"));
    assert_true(filter_ok("sport/tennis/#"));
    assert_true(filter_ok("sport/+/player1"));
    assert_true(filter_ok("+/+"));
    assert_true(filter_ok("/+"));
    assert_true(filter_ok("+/tennis/#"));
    assert_true(filter_ok("sport/"));
    assert_true(filter_ok("$SYS/#"));
}

static void test_topic_filter_hash_not_last_or_not_whole_level_rejected(void **state)
{
    (void)state;
    assert_false(filter_ok("sport/tennis#"));
    assert_false(filter_ok("sport/tennis/#/ranking"));
    assert_false(filter_ok("#/"));
    assert_false(filter_ok("##"));
}

static void test_topic_filter_plus_not_whole_level_rejected(void **state)
{
    (void)state;
    assert_false(filter_ok("sport+"));
    assert_false(filter_ok("+sport"));
    assert_false(filter_ok("sport/+tennis"));
    assert_false(filter_ok("++"));
}

static void test_topic_filter_empty_or_bad_utf8_rejected(void **state)
{
    (void)state;
    assert_false(midge_topic_filter_valid("", 0));
    assert_false(filter_ok("a/\xC0\x80"));
}

/* --- Matching (4.7) --------------------------------------------------------- */

typedef struct match_case {
    const char *filter;
    const char *topic;
    bool expected;
} match_case;

static void test_topic_matching_table(void **state)
{
    static const match_case cases[] = {
        {"sport/tennis/player1", "sport/tennis/player1", true},
        {"sport/tennis/player1", "sport/tennis/player2", false},
        {"sport/tennis/player1", "sport/tennis/player1/x", false},
        {"sport/tennis/player1", "sport/tennis", false},
        /* 4.7.1.2 '#' */
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/#", "sport", true},
        {"sport/tennis/#", "sport/tennis", true},
        {"sport/tennis/#", "sport/tennisx", false},
        {"#", "sport/tennis/player1", true},
        {"#", "/", true},
        /* 4.7.1.3 '+' */
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+", "sport", true},
        {"+", "/finance", false},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+/+/+", "a//c", true},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/tennis/player1", true},
        {"+/tennis/#", "sport/golf/player1", false},
        /* levels compare exactly */
        {"a/b", "a/bc", false},
        {"a/bc", "a/b", false},
        {"a", "A", false},
        /* 4.7.2 topics beginning with '$' */
        {"#", "$SYS/broker", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"+", "$SYS", false},
        {"$SYS/#", "$SYS/broker", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"$SYS", "$SYS", true},
        {"a/#", "a/$b", true},
        {"a/+", "a/$b", true},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = matches(cases[i].filter, cases[i].topic);
        if (got != cases[i].expected)
            fail_msg("filter \"%s\" topic \"%s\": expected %d, got %d", cases[i].filter,
                     cases[i].topic, cases[i].expected, got);
    }
}

static void test_topic_matches_reads_only_given_lengths(void **state)
{
    (void)state;
    /* Neither string is NUL-terminated in a decoded PUBLISH. */
    assert_true(midge_topic_matches("a/+xyz", 3, "a/bXYZ", 3));
    assert_false(midge_topic_matches("a/b", 3, "a/bc", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_ascii_and_empty_are_valid),
        cmocka_unit_test(test_utf8_valid_multibyte_sequences_accepted),
        cmocka_unit_test(test_utf8_max_code_point_u10ffff_accepted),
        cmocka_unit_test(test_utf8_above_u10ffff_rejected),
        cmocka_unit_test(test_utf8_null_character_rejected),
        cmocka_unit_test(test_utf8_surrogates_rejected),
        cmocka_unit_test(test_utf8_overlong_forms_rejected),
        cmocka_unit_test(test_utf8_truncated_sequences_rejected),
        cmocka_unit_test(test_utf8_bad_continuation_bytes_rejected),
        cmocka_unit_test(test_utf8_longer_than_65535_bytes_rejected),
        cmocka_unit_test(test_topic_name_plain_levels_valid),
        cmocka_unit_test(test_topic_name_empty_rejected),
        cmocka_unit_test(test_topic_name_wildcards_rejected),
        cmocka_unit_test(test_topic_name_bad_utf8_rejected),
        cmocka_unit_test(test_topic_filter_wildcards_in_whole_levels_valid),
        cmocka_unit_test(test_topic_filter_hash_not_last_or_not_whole_level_rejected),
        cmocka_unit_test(test_topic_filter_plus_not_whole_level_rejected),
        cmocka_unit_test(test_topic_filter_empty_or_bad_utf8_rejected),
        cmocka_unit_test(test_topic_matching_table),
        cmocka_unit_test(test_topic_matches_reads_only_given_lengths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
