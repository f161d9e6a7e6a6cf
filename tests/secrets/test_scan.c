/*
 * The secrets scan must fail when a secret was printed: capture files
 * written by the same code the tests use (test_output.c), with a secret
 * planted in their body, are scanned by the library and by the
 * secrets_scan executable that ctest runs last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scan.h"
#include "secrets.h"
#include "test_output.h"

/* A token as `midge token` prints it (the official vector). */
#define TOKEN                                                                                  \
    "version=2018-10-31&res=products%2F238322%2Fdevices%2Fmqtts-test-device&et=7557387130&"   \
    "method=sha1&sign=Rs0u%2FKnyoK5%2FMuKo5xKa0tW%2BWqY%3D\n"

#define ARGV(...) ((char *[]){"/build/midge", __VA_ARGS__, NULL})

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/midge-scan-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    /* test_output_open writes here instead of the build's directory. */
    setenv("MIDGE_TEST_OUTPUT_DIR", dir, 1);
    return 0;
}

static int remove_dir(void **state)
{
    char cmd[128];
    (void)state;
    unsetenv("MIDGE_TEST_OUTPUT_DIR");
    unsetenv("MIDGE_DEVICE_KEY");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A capture file of `argv` on `streams` holding `body`; its path in path. */
static void capture(char *const argv[], const char *streams, const char *body, char *path,
                    size_t cap)
{
    int fd = test_output_open(argv, streams);
    assert_true(fd >= 0);
    test_output_write(fd, body, strlen(body));
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    char real[512];
    ssize_t n = readlink(path, real, sizeof real - 1);
    assert_true(n > 0);
    real[n] = '\0';
    snprintf(path, cap, "%s", real);
    test_output_close(fd);
}

/* Scan one file; the report in report[] (NUL-terminated). */
static size_t scan_one(const char *path, char *report, size_t cap)
{
    scan_totals t = {0, 0, 0};
    FILE *f = fmemopen(report, cap, "w");
    assert_non_null(f);
    assert_int_equal(scan_file(path, f, &t), 0);
    fclose(f);
    assert_int_equal(t.files, 1);
    return t.findings;
}

static char *read_file(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_clean_output_passes_and_header_is_not_scanned(void **state)
{
    char path[512], report[4096];
    (void)state;
    capture(ARGV("pub", "-u", "alice", "-P", SECRET_BROKER_PASSWORD, "-t", "t", "-m", "m"),
            "stderr", "midge pub: connected\n", path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 0);
    /* The header names the credential in hex and masks it in the command. */
    const char *text = read_file(path);
    assert_null(strstr(text, SECRET_BROKER_PASSWORD));
    assert_non_null(strstr(text, "subcommand: pub\n"));
    assert_non_null(strstr(text, " -P ******** "));
    assert_non_null(strstr(text, "secret: 576831"));
}

static void test_registered_secret_in_output_is_found_and_masked(void **state)
{
    char path[512], report[4096];
    (void)state;
    capture(ARGV("pub", "-t", "t", "-m", "m"), "stderr",
            "line one\nline two\nlogin with " SECRET_BROKER_PASSWORD " refused\n", path,
            sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 1);
    assert_non_null(strstr(report, path));
    /* Line 3 of the output, after 6 lines of header. */
    assert_non_null(strstr(report, ":9: broker password (test_cli) Wh******** (19 bytes)"));
    assert_null(strstr(report, SECRET_BROKER_PASSWORD));
}

static void test_credential_given_on_the_command_line_is_found(void **state)
{
    char path[512], report[4096];
    (void)state;
    /* Not in secrets.h: found because the process was given it. */
    capture(ARGV("device", "-u", "u", "-P", "Argv-Only-Pw-5", "--device-key=Key-Only-99",
                 "--password", "Long-Form-Pw-1"),
            "stdout+stderr", "a Argv-Only-Pw-5 b Key-Only-99 c Long-Form-Pw-1\n", path,
            sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 3);
    assert_non_null(strstr(report, "a credential the process was given Ar"));
    assert_null(strstr(report, "Argv-Only"));

    capture(ARGV("pub", "-u", "u", "-PGlued-Pw-77", "-t", "t", "-n"), "stderr",
            "echo: Glued-Pw-77\n", path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 1);
}

static void test_credential_from_environment_or_config_file_is_found(void **state)
{
    char path[512], report[4096], ini[128];
    (void)state;
    snprintf(ini, sizeof ini, "%s/midge.ini", dir);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fputs("[midge]\nusername = u\n  password =  Ini-Only-Pw-8  ; a comment\n", f);
    fclose(f);
    setenv("MIDGE_DEVICE_KEY", "Env-Only-Key-3", 1);
    capture(ARGV("device", "--config", ini), "stderr",
            "key Env-Only-Key-3, password Ini-Only-Pw-8\n", path, sizeof path);
    unsetenv("MIDGE_DEVICE_KEY");
    unlink(ini);
    assert_int_equal(scan_one(path, report, sizeof report), 2);
}

static void test_token_is_allowed_on_token_stdout_only(void **state)
{
    char path[512], report[4096];
    (void)state;
    capture(ARGV("token", "--product-id", "238322", "--device-id", "mqtts-test-device",
                 "--device-key", SECRET_ONENET_DEVICE_KEY),
            "stdout", TOKEN, path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 0);
    /* The same token anywhere else: both of its shapes are reported. */
    capture(ARGV("token", "--product-id", "238322"), "stderr", TOKEN, path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 2);
    capture(ARGV("device", "--profile", "onenet-studio"), "stdout", TOKEN, path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 2);
    assert_non_null(strstr(report, "a OneNET token (its &sign= parameter)"));
    assert_null(strstr(report, "Rs0u"));
    /* The key itself is never allowed, not even on token's stdout. */
    capture(ARGV("token", "--device-key", SECRET_ONENET_DEVICE_KEY), "stdout",
            "key " SECRET_ONENET_DEVICE_KEY "\n", path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 1);
}

static void test_lookalike_text_is_not_reported(void **state)
{
    char path[512], report[4096];
    (void)state;
    capture(ARGV("sub", "-t", "#"), "stdout",
            "design=1&signal=2 version=2 sign in Wh1te Env-Secret\n", path, sizeof path);
    assert_int_equal(scan_one(path, report, sizeof report), 0);
}

static void test_file_without_header_is_scanned_whole(void **state)
{
    char path[512], report[4096];
    (void)state;
    snprintf(path, sizeof path, "%s/raw.log", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("no header\n" SECRET_ONENET_API_KEY "\n", f);
    fclose(f);
    assert_int_equal(scan_one(path, report, sizeof report), 1);
    assert_non_null(strstr(report, ":2: OneNET API key"));
}

/* What ctest runs last: its exit status is the verdict. */
static int run_scanner(char *out, size_t cap)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "'%s' '%s'", SECRETS_SCAN_BINARY, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_scanner_fails_on_a_planted_secret(void **state)
{
    char path[512], out[8192];
    (void)state;
    assert_int_equal(run_scanner(out, sizeof out), 77); /* nothing collected: skipped */

    capture(ARGV("device", "-P", SECRET_ONENET_API_KEY), "stderr", "connected\n", path,
            sizeof path);
    assert_int_equal(run_scanner(out, sizeof out), 0);
    assert_non_null(strstr(out, "1 files"));

    capture(ARGV("device", "--device-key", SECRET_ONENET_ZERO_KEY), "stdout+stderr",
            "debug: key " SECRET_ONENET_ZERO_KEY "\n", path, sizeof path);
    assert_int_equal(run_scanner(out, sizeof out), 1);
    assert_non_null(strstr(out, path));
    assert_non_null(strstr(out, "OneNET device key (bytes 0..31) AA******** (44 bytes)"));
    assert_non_null(strstr(out, "2 files"));
    assert_non_null(strstr(out, "FAILED"));
    assert_null(strstr(out, SECRET_ONENET_ZERO_KEY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)
        T(test_clean_output_passes_and_header_is_not_scanned),
        T(test_registered_secret_in_output_is_found_and_masked),
        T(test_credential_given_on_the_command_line_is_found),
        T(test_credential_from_environment_or_config_file_is_found),
        T(test_token_is_allowed_on_token_stdout_only),
        T(test_lookalike_text_is_not_reported),
        T(test_file_without_header_is_scanned_whole),
        T(test_scanner_fails_on_a_planted_secret),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
