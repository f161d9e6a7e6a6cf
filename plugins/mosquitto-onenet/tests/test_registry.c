/*
 * The device registry parser (registry.h) on its own: what it accepts,
 * and the one line naming file and line for each way a file is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

static onenet_registry reg;
static char err[512];

static bool parse(const char *text)
{
    return onenet_registry_parse(&reg, text, strlen(text), "reg.ini", err, sizeof err);
}

static void expect_error(const char *text, const char *want)
{
    assert_false(parse(text));
    if (strcmp(err, want) != 0)
        fail_msg("error \"%s\", wanted \"%s\"", err, want);
    assert_int_equal(reg.device_count + reg.product_count, 0);
}

static void test_registry_resolves_devices_to_their_products(void **state)
{
    (void)state;
    assert_true(parse("# a comment\n[device 2]\nproduct = p1\napi-key = k;#not a comment\n"
                      "[product p1]\nmaster-key = m\n[device 1]\nproduct = p1\n"));
    assert_int_equal(reg.device_count, 2);
    const onenet_device *d = onenet_registry_device(&reg, "2");
    assert_non_null(d);
    assert_string_equal(d->api_key, "k;#not a comment");
    assert_null(d->auth_info);
    assert_ptr_equal(d->product, onenet_registry_product(&reg, "p1"));
    assert_null(onenet_registry_device(&reg, "3"));
    onenet_registry_free(&reg);
}

static void test_empty_registry_is_a_registry_of_nobody(void **state)
{
    (void)state;
    assert_true(parse(""));
    assert_null(onenet_registry_device(&reg, "1"));
    assert_true(parse("# nothing yet\n"));
    onenet_registry_free(&reg);
}

static void test_each_mistake_names_its_line(void **state)
{
    (void)state;
    expect_error("[product 1]\nmaster-key = a\n[device 2]\nproduct = 1\nserial = 7\n",
                 "reg.ini:5: unknown key 'serial' in a device (product, api-key, auth-info)");
    expect_error("[product 1]\nmaster-key = a\n[device 2]\nproduct = 9\n",
                 "reg.ini:4: device 2 names product 9, not in the file");
    expect_error("[product 1]\n[device 2]\nproduct = 1\n", "reg.ini:1: section has no keys");
    expect_error("[product 1]\nmaster-key = a\n[product 1]\nmaster-key = b\n",
                 "reg.ini:3: product 1 is already defined on line 1");
    expect_error("[device 2]\napi-key = x\n", "reg.ini:1: device 2 has no product");
    expect_error("key = v\n", "reg.ini:1: 'key' is outside any section");
    expect_error("[thing 1]\nx = y\n",
                 "reg.ini:1: section is neither [product ID] nor [device ID]");
    expect_error("[device a/b]\nproduct = 1\n",
                 "reg.ini:1: id is not 1 to 40 letters, digits, '-', '_' or '.'");
    expect_error("[product 1]\nmaster-key = a\nmaster-key = b\n",
                 "reg.ini:3: 'master-key' given twice");
    expect_error("[product 1]\nmaster-key = a\nnot a key line\n",
                 "reg.ini:3: not a [section] line, a comment or a key = value line");
    char longline[1100];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "[product 1]\nmaster-key = ", 25);
    longline[sizeof longline - 1] = '\0';
    expect_error(longline, "reg.ini:2: line longer than 1024 bytes");
}

static void test_errors_never_show_a_secret(void **state)
{
    (void)state;
    expect_error("[product 1]\nmaster-key = Secret-Value-1\nmaster-key = Secret-Value-2\n",
                 "reg.ini:3: 'master-key' given twice");
    assert_null(strstr(err, "Secret"));
}

static void test_secret_comparison(void **state)
{
    (void)state;
    assert_true(onenet_secret_equal("abc", "abc"));
    assert_false(onenet_secret_equal("abc", "abd"));
    assert_false(onenet_secret_equal("abc", "abcd"));
    assert_false(onenet_secret_equal("", "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_resolves_devices_to_their_products),
        cmocka_unit_test(test_empty_registry_is_a_registry_of_nobody),
        cmocka_unit_test(test_each_mistake_names_its_line),
        cmocka_unit_test(test_errors_never_show_a_secret),
        cmocka_unit_test(test_secret_comparison),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
