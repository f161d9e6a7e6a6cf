/*
 * A new option is its table row: built over a copy of the option machinery
 * to which option_rows.cmake added a "demo" subcommand's three options (a
 * group bit, a field each, a row each, and nothing else), these tests find
 * the options in --help, on the command line, in the environment and in
 * the INI file, shown by --print-config with the secret masked. Then every
 * row of the real table: each has a way to store its value, each is in the
 * --help of a command that takes it, and each stored as given is layered
 * from its environment variable and printed under its own name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "options.h"

#define OUT_MAX 16384

/* The subcommand made of rows only: no run function is needed to parse. */
static const struct cli_command demo = {
    "demo", "Light the demo lamp.", CLI_GROUP_DEMO | CLI_GROUP_CONFIG, 0, NULL,
};

static char out[OUT_MAX]; /* stdout of the last parse */
static char err[OUT_MAX]; /* its stderr */
static struct cli_options opts;

/* What a stream caught in a temporary file received, into buf. */
static void read_back(FILE *tmp, char *buf)
{
    size_t n;

    rewind(tmp);
    n = fread(buf, 1, OUT_MAX - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
}

/* cli_parse on argv (NULL-terminated, argv[0] the command's name), with
 * stdout and stderr caught in out and err. */
static enum cli_parse_result parse(const struct cli_command *cmd, char **argv)
{
    FILE *o = tmpfile();
    FILE *e = tmpfile();
    int argc = 0;

    assert_non_null(o);
    assert_non_null(e);
    while (argv[argc] != NULL)
        argc++;
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO);
    int saved_err = dup(STDERR_FILENO);
    dup2(fileno(o), STDOUT_FILENO);
    dup2(fileno(e), STDERR_FILENO);
    enum cli_parse_result r = cli_parse(cmd, argc, argv, &opts);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    read_back(o, out);
    read_back(e, err);
    return r;
}

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

static void expect_line(const char *text, const char *line)
{
    if (strstr(text, line) == NULL)
        fail_msg("no line '%s' in:\n%s", line, text);
}

/* The variable of an option, as README.md and config.h state the rule. */
static void env_name(const char *long_name, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "MIDGE_");

    for (const char *p = long_name; *p != '\0' && n + 1 < cap; p++)
        buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

static int clear_env(void **state)
{
    (void)state;
    unsetenv("MIDGE_COLOUR");
    unsetenv("MIDGE_PASSPHRASE");
    unsetenv("MIDGE_BLINK");
    unsetenv("MIDGE_CONFIG");
    return 0;
}

/* --- the demo's rows, added to a copy of the sources -------------------- */

static void test_new_rows_are_listed_in_help(void **state)
{
    (void)state;
    assert_int_equal(parse(&demo, ARGV("demo", "--help")), CLI_PARSE_EXIT_OK);
    expect_line(out, "Usage: midge demo [options]\nLight the demo lamp.\n");
    expect_line(out, "      --colour name                  the lamp's colour\n");
    expect_line(out, "      --passphrase words             what unlocks the lamp\n");
    expect_line(out, "      --blink                        blink the lamp\n");
}

static void test_new_rows_take_their_flags(void **state)
{
    (void)state;
    assert_int_equal(parse(&demo, ARGV("demo", "--colour", "red", "--blink")), CLI_PARSE_RUN);
    assert_string_equal(opts.colour, "red");
    assert_true(opts.blink);
    assert_null(opts.passphrase);
    /* Another command does not take them. */
    static const struct cli_command other = { "other", "", CLI_GROUP_CONFIG, 0, NULL };
    assert_int_equal(parse(&other, ARGV("other", "--colour", "red")), CLI_PARSE_EXIT_USAGE);
    expect_line(err, "midge other: unknown option '--colour'");
}

static void test_new_rows_read_their_variables_below_the_flags(void **state)
{
    (void)state;
    setenv("MIDGE_COLOUR", "blue", 1);
    setenv("MIDGE_BLINK", "yes", 1);
    assert_int_equal(parse(&demo, ARGV("demo", "--print-config")), CLI_PARSE_EXIT_OK);
    expect_line(out, "colour = blue  # from env MIDGE_COLOUR\n");
    expect_line(out, "blink = true  # from env MIDGE_BLINK\n");
    expect_line(out, "# passphrase =\n");
    assert_int_equal(parse(&demo, ARGV("demo", "--colour", "red")), CLI_PARSE_RUN);
    assert_string_equal(opts.colour, "red");
    assert_true(opts.blink);
    /* A bad value is named with its variable. */
    setenv("MIDGE_BLINK", "maybe", 1);
    assert_int_equal(parse(&demo, ARGV("demo")), CLI_PARSE_EXIT_USAGE);
    expect_line(err, "midge demo: MIDGE_BLINK: invalid value 'maybe' for blink (true or false)\n");
}

static void test_new_secret_is_masked_wherever_it_comes_from(void **state)
{
    (void)state;
    setenv("MIDGE_PASSPHRASE", "open sesame", 1);
    assert_int_equal(parse(&demo, ARGV("demo", "--print-config")), CLI_PARSE_EXIT_OK);
    expect_line(out, "passphrase = ********  # from env MIDGE_PASSPHRASE\n");
    assert_null(strstr(out, "sesame"));
    unsetenv("MIDGE_PASSPHRASE");
    assert_int_equal(parse(&demo, ARGV("demo", "--passphrase", "open sesame", "--print-config")),
                     CLI_PARSE_EXIT_OK);
    expect_line(out, "passphrase = ********  # from flag\n");
    assert_null(strstr(out, "sesame"));
    assert_string_equal(opts.passphrase, "open sesame");
}

/* One INI file only in this process: the layers keep the entries of the
 * last file read until exit, and a second file would drop the first's. */
static void test_new_rows_are_keys_of_the_file(void **state)
{
    char dir[] = "/tmp/midge-rows-XXXXXX";
    char path[64];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/demo.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[midge]\ncolour = green\npassphrase = swordfish\nblink = on\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    setenv("MIDGE_COLOUR", "blue", 1);
    assert_int_equal(parse(&demo, ARGV("demo", "--config", path, "--print-config")),
                     CLI_PARSE_EXIT_OK);
    unlink(path);
    rmdir(dir);
    char line[128];
    expect_line(out, "colour = blue  # from env MIDGE_COLOUR\n"); /* the variable wins */
    snprintf(line, sizeof line, "passphrase = ********  # from config %s\n", path);
    expect_line(out, line);
    snprintf(line, sizeof line, "blink = true  # from config %s\n", path);
    expect_line(out, line);
    assert_null(strstr(out, "swordfish"));
    assert_true(opts.blink);
    assert_string_equal(opts.passphrase, "swordfish");
    /* A file others may read that holds the new secret is warned about. */
    expect_line(err, "holds a secret (passphrase) and is readable by others");
    assert_null(strstr(err, "swordfish"));
}

/* --- every row of the table ------------------------------------------- */

/* A command that takes exactly this row's groups (and --config). */
static struct cli_command command_for(const struct cli_option *opt)
{
    return (struct cli_command){ "row", "", opt->group | CLI_GROUP_CONFIG, CLI_MAX_TOPICS, NULL };
}

static void test_every_row_has_a_way_to_store_its_value(void **state)
{
    (void)state;
    for (size_t i = 0; i < cli_option_count(); i++) {
        const struct cli_option *opt = cli_option_at(i);
        bool parser_own = opt->key == CLI_KEY_HELP || opt->key == CLI_KEY_VERSION;
        bool stored_as_given = opt->kind == CLI_FIELD_STR || opt->kind == CLI_FIELD_BOOL ||
                               opt->kind == CLI_FIELD_NOT_BOOL;
        if (opt->apply == NULL && !stored_as_given && !parser_own)
            fail_msg("--%s: a number or an option without a field needs an apply function",
                     opt->long_name);
        if (opt->kind == CLI_FIELD_STR && opt->has_arg == no_argument)
            fail_msg("--%s: a string field for an option without a value", opt->long_name);
    }
}

static void test_every_row_is_in_the_help_of_a_command_taking_it(void **state)
{
    char want[64];

    (void)state;
    for (size_t i = 0; i < cli_option_count(); i++) {
        const struct cli_option *opt = cli_option_at(i);
        struct cli_command cmd = command_for(opt);
        assert_int_equal(parse(&cmd, ARGV("row", "--help")), CLI_PARSE_EXIT_OK);
        snprintf(want, sizeof want, "--%s%s", opt->long_name, opt->arg ? " " : "  ");
        expect_line(out, want);
        expect_line(out, opt->help);
    }
}

/* Each row stored as given takes its variable, under the documented name,
 * and --print-config shows it from there, masked when secret. */
static void test_every_row_stored_as_given_is_layered_and_printed(void **state)
{
    char name[80];
    char value[96];
    char want[256];
    size_t checked = 0;

    (void)state;
    for (size_t i = 0; i < cli_option_count(); i++) {
        const struct cli_option *opt = cli_option_at(i);
        if (opt->apply != NULL || (opt->flags & (CLI_OPT_FLAG_ONLY | CLI_OPT_CONFIG_FILE)))
            continue;
        struct cli_command cmd = command_for(opt);
        env_name(opt->long_name, name, sizeof name);
        snprintf(value, sizeof value, "%s", opt->kind == CLI_FIELD_STR ? "row-value" : "true");
        setenv(name, value, 1);
        enum cli_parse_result r = parse(&cmd, ARGV("row", "--print-config"));
        unsetenv(name);
        assert_int_equal(r, CLI_PARSE_EXIT_OK);
        snprintf(want, sizeof want, "\n%s = %s  # from env %s\n", opt->long_name,
                 (opt->flags & CLI_OPT_SECRET) ? "********" : value, name);
        expect_line(out, want);
        const char *field = (const char *)&opts + opt->offset;
        if (opt->kind == CLI_FIELD_STR) {
            const char *s;
            memcpy(&s, field, sizeof s);
            assert_non_null(s);
            assert_string_equal(s, value);
        } else {
            bool b;
            memcpy(&b, field, sizeof b);
            assert_int_equal(b, opt->kind == CLI_FIELD_BOOL);
        }
        checked++;
    }
    /* The demo's three, and the table's own. */
    assert_true(checked > 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_new_rows_are_listed_in_help, clear_env),
        cmocka_unit_test_teardown(test_new_rows_take_their_flags, clear_env),
        cmocka_unit_test_teardown(test_new_rows_read_their_variables_below_the_flags, clear_env),
        cmocka_unit_test_teardown(test_new_secret_is_masked_wherever_it_comes_from, clear_env),
        cmocka_unit_test(test_every_row_has_a_way_to_store_its_value),
        cmocka_unit_test(test_every_row_is_in_the_help_of_a_command_taking_it),
        cmocka_unit_test(test_every_row_stored_as_given_is_layered_and_printed),
        /* Last: no parse after it drops the file's entries (see there). */
        cmocka_unit_test_teardown(test_new_rows_are_keys_of_the_file, clear_env),
    };
    return cmocka_run_group_tests(tests, clear_env, NULL);
}
