/*
 * The firmware's command line (boards/app/fw_options.c) follows `midge
 * device`'s rules where they apply: every mistake below is refused by both
 * with the same words, and what is accepted gets the tool's defaults (the
 * onenet profile's host, port and keepalive, the connack timeout derived
 * from --backoff-max, the mqtt profile's kept session).
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
#include <unistd.h>

#include "fw_options.h"
#include "proc.h"

#define ARGS_MAX 16
#define RUN_TIMEOUT_MS 10000
#define DEFAULT_HOST "10.0.2.100"

/* Parse with the firmware's parser; its stderr line into `err`. */
static enum fw_parse_result fw_parse(const char *const *args, struct fw_options *o, char *err,
                                     size_t cap)
{
    char *argv[ARGS_MAX + 2] = { "midge-firmware" };
    int argc = 1;
    for (; args[argc - 1] != NULL; argc++) {
        assert_true(argc <= ARGS_MAX);
        argv[argc] = (char *)args[argc - 1];
    }
    argv[argc] = NULL;

    char path[] = "/tmp/midge-fw-options-XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(tmp, 2);
    enum fw_parse_result r = fw_options_parse(argc, argv, DEFAULT_HOST, o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(tmp, err, cap - 1, 0);
    err[n > 0 ? n : 0] = '\0';
    close(tmp);
    return r;
}

/* What follows "prog: " on the first line, up to " (see" when `cut`. */
static void message_of(const char *line, bool cut, char *out, size_t cap)
{
    const char *colon = strstr(line, ": ");
    const char *start = colon != NULL ? colon + 2 : line;
    size_t len = strcspn(start, "\n");
    if (cut) {
        const char *see = strstr(start, " (see");
        if (see != NULL && (size_t)(see - start) < len)
            len = (size_t)(see - start);
    }
    snprintf(out, cap, "%.*s", (int)len, start);
}

static const struct {
    const char *args[ARGS_MAX];
    bool cut; /* compare the message up to its "(see ...)" hint only */
} refused[] = {
    { { "--device-id", "a", "-p", "0" }, false },
    { { "--device-id", "a", "-p", "70000" }, false },
    { { "--device-id", "a", "-k", "-1" }, false },
    { { "--device-id", "a", "-k", "12x" }, false },
    { { "--device-id", "a", "--profile", "nope" }, false },
    { { "--device-id", "a", "--backoff-min", "0" }, false },
    { { "--device-id", "a", "--backoff-max", "3600001" }, false },
    { { "--device-id", "a", "--connack-timeout", "99" }, false },
    { { "--device-id", "a", "--log-level", "loud" }, false },
    { { "-k", "30" }, false },
    { { "-i", "x", "--device-id", "y" }, false },
    { { "--device-id", "a", "--product-id", "p" }, false },
    { { "--device-id", "a", "--backoff-min", "5000", "--backoff-max", "1000" }, false },
    { { "--device-id", "a", "-P", "secret" }, false },
    { { "--device-id", "a", "-t", "a/#/b" }, false },
    { { "--device-id", "a", "-t", "" }, false },
    { { "--profile", "onenet", "--device-id", "a", "-u", "x", "--product-id", "y" }, false },
    { { "--device-id", "a", "-q", "--log-level", "info" }, false },
    { { "--device-id", "a", "--bogus" }, true },
    { { "--device-id", "a", "-Z" }, true },
    { { "--device-id" }, true },
};

static void test_refused_like_midge_device(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct fw_options o;
        char fw_err[512], fw_msg[256], cli_msg[256];
        char *argv[ARGS_MAX + 3] = { MIDGE_BINARY, "device" };
        int argc = 2;
        for (; refused[i].args[argc - 2] != NULL; argc++)
            argv[argc] = (char *)refused[i].args[argc - 2];
        argv[argc] = NULL;

        assert_int_equal(fw_parse(refused[i].args, &o, fw_err, sizeof fw_err),
                         FW_PARSE_EXIT_USAGE);
        proc run;
        proc_run(&run, argv, NULL, RUN_TIMEOUT_MS);
        if (proc_exit_code(&run) != 1)
            fail_msg("case %zu: midge device exit %d, stderr '%s'", i, proc_exit_code(&run),
                     run.err);
        message_of(fw_err, refused[i].cut, fw_msg, sizeof fw_msg);
        message_of(run.err, refused[i].cut, cli_msg, sizeof cli_msg);
        if (strcmp(fw_msg, cli_msg) != 0)
            fail_msg("case %zu: firmware '%s' but midge device '%s'", i, fw_msg, cli_msg);
    }
}

static void test_accepted_with_the_tools_defaults(void **state)
{
    struct fw_options o;
    char err[512];
    (void)state;

    const char *plain[] = { "--device-id", "lamp", NULL };
    assert_int_equal(fw_parse(plain, &o, err, sizeof err), FW_PARSE_RUN);
    assert_string_equal(o.host, DEFAULT_HOST);
    assert_int_equal(o.port, 1883);
    assert_int_equal(o.keepalive_s, 60);
    assert_false(o.clean_session); /* a plain broker keeps the device's session */
    assert_string_equal(o.client_id, "lamp");
    assert_int_equal(o.backoff_min_ms, 500);
    assert_int_equal(o.backoff_max_ms, 30000);
    assert_int_equal(o.connack_timeout_ms, 10000);
    assert_int_equal(o.log_level, FW_LOG_INFO);

    const char *onenet[] = { "--profile", "onenet", "--device-id", "9377500", "--product-id",
                             "91025", "-P", "key", NULL };
    assert_int_equal(fw_parse(onenet, &o, err, sizeof err), FW_PARSE_RUN);
    assert_string_equal(o.host, "183.230.40.39");
    assert_int_equal(o.port, 6002);
    assert_int_equal(o.keepalive_s, 120);
    assert_string_equal(o.username, "91025");
    assert_true(o.clean_session);

    const char *given[] = { "--profile", "onenet", "-h", "10.0.2.100", "-p", "1883", "-k", "300",
                            "--device-id", "9", "-u", "91025", "-c", NULL };
    assert_int_equal(fw_parse(given, &o, err, sizeof err), FW_PARSE_RUN);
    assert_string_equal(o.host, "10.0.2.100");
    assert_int_equal(o.port, 1883);
    assert_int_equal(o.keepalive_s, 300);
    assert_string_equal(o.product_id, "91025");
    assert_false(o.clean_session);

    const char *fast[] = { "-i", "x", "--backoff-max", "1000", "-d", "-q", NULL };
    assert_int_equal(fw_parse(fast, &o, err, sizeof err), FW_PARSE_RUN);
    assert_string_equal(o.device_id, "x");
    assert_int_equal(o.connack_timeout_ms, 2000);
    assert_int_equal(o.log_level, FW_LOG_DEBUG);

    /* A value that looks like an option stays a value. */
    const char *dashes[] = { "--device-id", "a", "-u", "u", "-P", "--not-an-option", NULL };
    assert_int_equal(fw_parse(dashes, &o, err, sizeof err), FW_PARSE_RUN);
    assert_string_equal(o.password, "--not-an-option");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_like_midge_device),
        cmocka_unit_test(test_accepted_with_the_tools_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
