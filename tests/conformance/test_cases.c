/*
 * Case-file loading: the test-over-group-over-default rule of
 * ../shared/conformance/README.md and the payloads' conversion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases.h"

static const char sample[] =
    "[\n"
    " {\"group\": \"v3.1.1 G\", \"ver\": 4, \"connack\": false, \"command\": \"publish-1\",\n"
    "  \"group_msgs\": [{\"type\": \"recv\", \"payload\": \"32 r2 m1\"}],\n"
    "  \"tests\": [\n"
    "   {\"name\": \"plain\", \"msgs\": [{\"type\": \"send\", \"payload\": \"40 r2 m1\"}]},\n"
    "   {\"name\": \"override \", \"connack\": true, \"expect_disconnect\": false,\n"
    "    \"connect\": false, \"ver\": 3, \"comment\": {\"nested\": [1, 2]}}\n"
    "  ]},\n"
    " {\"tests\": [{\"name\": \"defaults\"}], \"group\": \"v5.0 H\", \"ver\": 5}\n"
    "]\n";

/* `path` must hold "/tmp/midge-cases-XXXXXX". */
static char *write_temp(const char *text, char *path)
{
    strcpy(path, "/tmp/midge-cases-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_test_keys_override_group_keys_and_defaults(void **state)
{
    (void)state;
    case_file file;
    char err[128] = "";
    char buf[32];
    char *path = write_temp(sample, buf);
    bool ok = cases_load(path, &file, err, sizeof err);
    unlink(path);
    assert_true(ok);
    assert_int_equal(file.count, 3);

    const conf_case *plain = &file.cases[0];
    assert_string_equal(plain->group, "v3.1.1 G");
    assert_int_equal(plain->index, 1);
    assert_int_equal(plain->ver, 4);
    assert_true(plain->connect);
    assert_false(plain->connack);
    assert_true(plain->expect_disconnect);
    assert_true(plain->clean_session);
    assert_string_equal(plain->command, "publish-1");
    assert_int_equal(plain->group_msgs.count, 1);
    assert_int_equal(plain->group_msgs.items[0].dir, CASE_RECV);
    assert_int_equal(plain->msgs.count, 1);
    assert_int_equal(plain->msgs.items[0].dir, CASE_SEND);
    assert_int_equal(plain->msgs.items[0].len, 4);

    const conf_case *over = &file.cases[1];
    assert_string_equal(over->name, "override ");
    assert_int_equal(over->index, 2);
    assert_int_equal(over->ver, 3);
    assert_int_equal(over->group_ver, 4);
    assert_false(over->connect);
    assert_true(over->connack);
    assert_false(over->expect_disconnect);
    assert_int_equal(over->msgs.count, 0);

    /* Group keys written after "tests" still apply. */
    const conf_case *defaults = &file.cases[2];
    assert_int_equal(defaults->ver, 5);
    assert_true(defaults->connect && defaults->connack && defaults->expect_disconnect);
    assert_null(defaults->command);
    cases_free(&file);
}

static void test_bad_payload_fails_the_load_with_a_reason(void **state)
{
    (void)state;
    case_file file;
    char err[128] = "";
    char buf[32];
    char *path = write_temp("[{\"group\": \"g\", \"tests\": [{\"name\": \"n\", \"msgs\": "
                            "[{\"type\": \"send\", \"payload\": \"i300\"}]}]}]",
                            buf);
    bool ok = cases_load(path, &file, err, sizeof err);
    unlink(path);
    assert_false(ok);
    assert_non_null(strstr(err, "i300"));
    assert_int_equal(file.count, 0);
}

static void test_invalid_json_is_refused(void **state)
{
    (void)state;
    case_file file;
    char err[128] = "";
    char buf[32];
    char *path = write_temp("[{\"group\": \"g\", \"tests\": [}", buf);
    bool ok = cases_load(path, &file, err, sizeof err);
    unlink(path);
    assert_false(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_test_keys_override_group_keys_and_defaults),
        cmocka_unit_test(test_bad_payload_fails_the_load_with_a_reason),
        cmocka_unit_test(test_invalid_json_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
