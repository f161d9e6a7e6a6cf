/*
 * OneNET token: the vectors of ../shared/reference/onenet.md section 2,
 * the binary-key trap, long names and exact buffer sizing. Output buffers
 * are heap blocks of the exact size asked for, so AddressSanitizer reports
 * a write even one byte past them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "midge/token.h"

#define PID "238322"
#define DEV "mqtts-test-device"
#define KEY "EnW4T71eIE55xOIQMN6pFMKuqel5T5HTzsGJRPiDhlM="
#define ET 7557387130u

/* Bytes 0x00..0x1f: the key starts with a zero byte. */
#define ZERO_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* Makes a token into a fresh exact-size heap buffer; the caller frees. */
static char *make_token(const char *pid, const char *dev, const char *key, const char *method,
                        uint64_t et)
{
    size_t len = 0;
    assert_int_equal(midge_token_make(NULL, 0, pid, dev, key, method, et, &len),
                     MIDGE_ERR_NO_SPACE);
    char *out = malloc(len + 1);
    assert_non_null(out);
    size_t len2 = 0;
    assert_int_equal(midge_token_make(out, len + 1, pid, dev, key, method, et, &len2), MIDGE_OK);
    assert_int_equal(len2, len);
    assert_int_equal(strlen(out), len);
    return out;
}

/* The URL-decoded value of the sign field, in sign[cap]. */
static void sign_of(const char *token, char *sign, size_t cap)
{
    const char *p = strstr(token, "&sign=");
    assert_non_null(p);
    p += strlen("&sign=");
    size_t n = 0;
    while (*p != '\0') {
        unsigned int c = (unsigned char)*p++;
        if (c == '%') {
            char hex[3] = {p[0], p[1], '\0'};
            c = (unsigned int)strtoul(hex, NULL, 16);
            p += 2;
        }
        assert_true(n + 1 < cap);
        sign[n++] = (char)c;
    }
    sign[n] = '\0';
}

static void assert_sign(const char *pid, const char *dev, const char *key, const char *method,
                        uint64_t et, const char *expected)
{
    char sign[128];
    char *token = make_token(pid, dev, key, method, et);
    sign_of(token, sign, sizeof sign);
    assert_string_equal(sign, expected);
    free(token);
}

static void test_official_vector_sha1_gives_exact_token(void **state)
{
    (void)state;
    char *token = make_token(PID, DEV, KEY, "sha1", ET);
    assert_string_equal(token, "version=2018-10-31&res=products%2F238322%2Fdevices%2Fmqtts-test-"
                               "device&et=7557387130&method=sha1&sign=Rs0u%2FKnyoK5%2FMuKo5xKa0tW"
                               "%2BWqY%3D");
    free(token);
}

static void test_official_inputs_with_md5_sign(void **state)
{
    (void)state;
    assert_sign(PID, DEV, KEY, "md5", ET, "9z6sXacZSD2aPEH8lbVPyA==");
}

static void test_official_inputs_with_sha256_sign(void **state)
{
    (void)state;
    assert_sign(PID, DEV, KEY, "sha256", ET, "hVAf8QEdu5v4O/vqQmyNzkkxVMzvZOpwtrXXmhyGu7M=");
}

static void test_key_with_zero_byte_uses_decoded_length(void **state)
{
    (void)state;
    char sign[128];
    char *token = make_token(PID, DEV, ZERO_KEY, "sha1", ET);
    sign_of(token, sign, sizeof sign);
    assert_string_equal(sign, "wuSjO6g2aymx5w0Cf7zxg6kY3ZQ=");
    /* What a strlen()-keyed HMAC (an empty key here) would give. */
    assert_string_not_equal(sign, "aVrPdtVjpsf6O3rSWredX46y6H4=");
    free(token);
}

static void test_long_device_name_sha256_keeps_whole_name(void **state)
{
    (void)state;
    char name[201];
    for (size_t i = 0; i < 200; i++)
        name[i] = (char)('a' + i % 10);
    name[200] = '\0';

    char *token = make_token(PID, name, KEY, "sha256", ET);
    char res[256];
    strcpy(res, "&res=products%2F238322%2Fdevices%2F");
    strcat(res, name);
    strcat(res, "&et=");
    assert_non_null(strstr(token, res));

    char sign[128];
    sign_of(token, sign, sizeof sign);
    assert_string_equal(sign, "ki9QTLpZXA1/4/056B8bRatLuIRqeS/iUid77BDcGrQ=");
    free(token);
}

static void test_key_longer_than_a_hash_block_is_not_truncated(void **state)
{
    (void)state;
    /* Bytes 0..99: longer than any stack fast path; HMAC hashes it first. */
    assert_sign(PID, DEV,
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo"
                "7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiYw==",
                "sha256", ET, "JMlVR8IRsOS3tQbjjig2MgvSv3LeRl2Nd28U3i6oQKA=");
}

static void test_reserved_characters_are_escaped_and_signed_raw(void **state)
{
    (void)state;
    /* space & ? # % + = / and a UTF-8 e-acute: escaped in the token, raw in
     * the signed message. */
    char *token = make_token(PID, "a b&c?d#e%f+g=h/i\xc3\xa9", KEY, "md5", ET);
    assert_non_null(strstr(token, "devices%2Fa%20b%26c%3Fd%23e%25f%2Bg%3Dh%2Fi%C3%A9&et="));
    free(token);
    assert_sign(PID, "a b&c?d#e%f+g=h/i\xc3\xa9", KEY, "md5", ET, "lnoOM7yYZicA6kzo1iscFw==");
}

static void test_expiry_extremes_are_written_in_full(void **state)
{
    (void)state;
    char *token = make_token("1", "d", KEY, "sha1", 0);
    assert_non_null(strstr(token, "&et=0&"));
    free(token);
    token = make_token("1", "d", KEY, "sha1", UINT64_MAX);
    assert_non_null(strstr(token, "&et=18446744073709551615&"));
    free(token);
    assert_sign("1", "d", KEY, "sha1", 0, "qVq0Y+nvw9q+RBss9tbIh7Rcgho=");
    assert_sign("1", "d", KEY, "sha1", UINT64_MAX, "axHVuBRdu41eEkfXzFEkNomFNuQ=");
}

static void test_buffer_one_byte_short_reports_exact_size(void **state)
{
    (void)state;
    char *token = make_token(PID, DEV, KEY, "sha1", ET);
    size_t len = strlen(token);

    /* len bytes hold everything but the NUL: not enough. */
    char *out = malloc(len);
    assert_non_null(out);
    size_t reported = 0;
    assert_int_equal(midge_token_make(out, len, PID, DEV, KEY, "sha1", ET, &reported),
                     MIDGE_ERR_NO_SPACE);
    assert_int_equal(reported, len);
    assert_string_equal(out, ""); /* no half token left behind */
    free(out);

    out = malloc(len + 1);
    assert_non_null(out);
    assert_int_equal(midge_token_make(out, len + 1, PID, DEV, KEY, "sha1", ET, &reported),
                     MIDGE_OK);
    assert_string_equal(out, token);
    free(out);
    free(token);
}

static void test_bad_base64_key_fails(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "EnW4T71eIE55xOIQMN6pFMKuqel5T5HTzsGJRPiDhlM",   /* not a whole group */
        "EnW4T71eIE55xOIQMN6pFMKuqel5T5HTzsGJRPiDhl*=",  /* bad character */
        "EnW4T71eIE55xOIQMN6pFMKu=el5T5HTzsGJRPiDhlM=",  /* '=' in the middle */
        "EnW4T71eIE55xOIQMN6pFMKuqel5T5HTzsGJRPiDhlM=\n", /* trailing newline */
        "====",
    };
    char out[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = 12345;
        memset(out, 'x', sizeof out);
        assert_int_equal(midge_token_make(out, sizeof out, PID, DEV, bad[i], "sha1", ET, &len),
                         MIDGE_ERR_INVALID);
        assert_string_equal(out, "");
        assert_int_equal(len, 12345); /* not touched on a failure */
        assert_int_equal(midge_token_check_key(bad[i], NULL), MIDGE_ERR_INVALID);
    }
}

static void test_check_key_reports_decoded_length(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(midge_token_check_key(KEY, &n), MIDGE_OK);
    assert_int_equal(n, 32);
    assert_int_equal(midge_token_check_key("AAE=", &n), MIDGE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(midge_token_check_key(NULL, &n), MIDGE_ERR_INVALID);
}

static void test_unknown_method_fails(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "SHA1", "sha512", "sha", "md5 ", "hmacsha1"};
    char out[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(midge_token_make(out, sizeof out, PID, DEV, KEY, bad[i], ET, NULL),
                         MIDGE_ERR_INVALID);
        assert_string_equal(out, "");
    }
    assert_int_equal(midge_token_make(out, sizeof out, PID, DEV, KEY, NULL, ET, NULL),
                     MIDGE_ERR_INVALID);
}

static void test_missing_inputs_fail(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(midge_token_make(out, sizeof out, NULL, DEV, KEY, "sha1", ET, NULL),
                     MIDGE_ERR_INVALID);
    assert_int_equal(midge_token_make(out, sizeof out, "", DEV, KEY, "sha1", ET, NULL),
                     MIDGE_ERR_INVALID);
    assert_int_equal(midge_token_make(out, sizeof out, PID, "", KEY, "sha1", ET, NULL),
                     MIDGE_ERR_INVALID);
    assert_int_equal(midge_token_make(out, sizeof out, PID, DEV, NULL, "sha1", ET, NULL),
                     MIDGE_ERR_INVALID);
    assert_int_equal(midge_token_make(NULL, 10, PID, DEV, KEY, "sha1", ET, NULL),
                     MIDGE_ERR_INVALID);
}

static void test_method_names_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"md5", "sha1", "sha256"};
    for (size_t i = 0; i < 3; i++) {
        midge_token_method m;
        assert_int_equal(midge_token_method_parse(names[i], &m), MIDGE_OK);
        assert_string_equal(midge_token_method_name(m), names[i]);
    }
    assert_int_equal(midge_token_method_parse("sha384", &(midge_token_method){0}),
                     MIDGE_ERR_INVALID);
    assert_null(midge_token_method_name((midge_token_method)42));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_vector_sha1_gives_exact_token),
        cmocka_unit_test(test_official_inputs_with_md5_sign),
        cmocka_unit_test(test_official_inputs_with_sha256_sign),
        cmocka_unit_test(test_key_with_zero_byte_uses_decoded_length),
        cmocka_unit_test(test_long_device_name_sha256_keeps_whole_name),
        cmocka_unit_test(test_key_longer_than_a_hash_block_is_not_truncated),
        cmocka_unit_test(test_reserved_characters_are_escaped_and_signed_raw),
        cmocka_unit_test(test_expiry_extremes_are_written_in_full),
        cmocka_unit_test(test_buffer_one_byte_short_reports_exact_size),
        cmocka_unit_test(test_bad_base64_key_fails),
        cmocka_unit_test(test_check_key_reports_decoded_length),
        cmocka_unit_test(test_unknown_method_fails),
        cmocka_unit_test(test_missing_inputs_fail),
        cmocka_unit_test(test_method_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
