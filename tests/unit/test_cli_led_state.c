/*
 * The LED state file of `midge device --state-file` (src/cli/led_state.c):
 * what is saved (the LED and the command ids) is read back, a file of the
 * LED alone still reads, a replaced file never shows a half-written state,
 * and every kind of bad file is a reason, not a guess. The CLI is an
 * executable, so the file is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/cli/led_state.c"

struct dir {
    char path[64];
    char file[96];
};

static int dir_setup(void **state)
{
    struct dir *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -1;
    strcpy(d->path, "/tmp/midge-led-state-XXXXXX");
    if (mkdtemp(d->path) == NULL) {
        free(d);
        return -1;
    }
    snprintf(d->file, sizeof d->file, "%s/led", d->path);
    *state = d;
    return 0;
}

static int dir_teardown(void **state)
{
    struct dir *d = *state;
    char tmp[128];
    unlink(d->file);
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    unlink(tmp);
    rmdir(d->path);
    free(d);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The LED alone, as a file without ids. */
static struct cli_led_saved led_only(bool on)
{
    struct cli_led_saved saved = {.on = on};
    return saved;
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Save `saved`, find exactly `text` in the file, and read it back. */
static void save_and_read_back(const struct dir *d, const struct cli_led_saved *saved,
                               const char *text, struct cli_led_saved *got)
{
    char err[128], now[2048];

    assert_true(cli_led_state_save(d->file, saved, err, sizeof err));
    read_file(d->file, now, sizeof now);
    assert_string_equal(now, text);
    assert_int_equal(cli_led_state_load(d->file, got, err, sizeof err), CLI_LED_STATE_READ);
    assert_int_equal(got->on, saved->on);
    assert_int_equal(got->id_count, saved->id_count);
    if (saved->id_count != 0)
        assert_memory_equal(got->ids, saved->ids, saved->id_count * sizeof saved->ids[0]);
}

static void test_missing_file_is_absent_not_an_error(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved saved;
    char err[128] = "";

    assert_int_equal(cli_led_state_load(d->file, &saved, err, sizeof err), CLI_LED_STATE_ABSENT);
    assert_string_equal(err, "");
}

static void test_saved_states_read_back_and_replace_each_other(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved on = led_only(true), off = led_only(false), got;
    char tmp[128];

    save_and_read_back(d, &on, "on\n", &got);
    save_and_read_back(d, &off, "off\n", &got);

    /* Replaced by rename: no temporary is left beside it. */
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void test_hand_written_files_with_line_endings_are_accepted(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved got;
    char err[128];

    write_file(d->file, "on\r\n");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(got.on);
    write_file(d->file, "off  \n");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_false(got.on);
    write_file(d->file, "on");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(got.on);
    write_file(d->file, "off\r\nids 00000000000000ff  0123456789abcdef \r\n");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_false(got.on);
    assert_int_equal(got.id_count, 2);
    assert_true(got.ids[0] == 0xff);
    assert_true(got.ids[1] == 0x0123456789abcdefu);
}

static void test_other_contents_are_bad_with_the_path_in_the_reason(void **state)
{
    struct dir *d = *state;
    const char *bad[] = {"", "\n", "ON\n", "toggle\n", "1\n", "on off\n",
                         "on                                   \n"};
    char err[128], want[128];

    snprintf(want, sizeof want, "%s: expected \"on\" or \"off\"", d->file);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cli_led_saved got = led_only(true);
        err[0] = '\0';
        write_file(d->file, bad[i]);
        assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_BAD);
        assert_string_equal(err, want);
        assert_true(got.on); /* untouched */
    }
}

/* A full ring's worth of distinct records, every hex digit in use. */
static struct cli_led_saved full_ring(bool on)
{
    struct cli_led_saved saved = {.on = on, .id_count = CLI_LED_STATE_IDS};
    for (size_t i = 0; i < CLI_LED_STATE_IDS; i++)
        saved.ids[i] = (0x0123456789abcdefu * (i + 1)) ^ ((uint64_t)i << 56);
    return saved;
}

static void test_saved_ids_read_back_oldest_first_with_the_led(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved two = {.on = true, .id_count = 2, .ids = {1, 0xfedcba9876543210u}};
    struct cli_led_saved full = full_ring(false), got;
    char text[2048] = "off\nids";

    save_and_read_back(d, &two, "on\nids 0000000000000001 fedcba9876543210\n", &got);

    /* The whole ring: every record back, in its place. */
    for (size_t i = 0; i < CLI_LED_STATE_IDS; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), " %016" PRIx64, full.ids[i]);
    strcat(text, "\n");
    save_and_read_back(d, &full, text, &got);
}

static void test_a_file_of_the_led_alone_reads_with_no_ids(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved got = full_ring(false);
    char err[128];

    /* The format before ids existed, and an ids line with none. */
    write_file(d->file, "on\n");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(got.on);
    assert_int_equal(got.id_count, 0);
    write_file(d->file, "off\nids\n");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_false(got.on);
    assert_int_equal(got.id_count, 0);
}

/* `text` is bad with exactly "<path>: <reason>", and `got` is untouched. */
static void expect_bad(const struct dir *d, const char *text, const char *reason)
{
    struct cli_led_saved got = {.on = true, .id_count = 1, .ids = {42}};
    char err[256], want[256];

    snprintf(want, sizeof want, "%s: %s", d->file, reason);
    write_file(d->file, text);
    err[0] = '\0';
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_BAD);
    assert_string_equal(err, want);
    assert_true(got.on);
    assert_int_equal(got.id_count, 1);
    assert_true(got.ids[0] == 42);
}

/* `text` restores its LED state (on) but none of its ids, with exactly
 * "<path>: <reason>; its command ids are ignored" in err. */
static void expect_ids_ignored(const struct dir *d, const char *text, const char *reason)
{
    struct cli_led_saved got = {.on = false, .id_count = 1, .ids = {42}};
    char err[256], want[256];

    snprintf(want, sizeof want, "%s: %s; its command ids are ignored", d->file, reason);
    write_file(d->file, text);
    err[0] = '\0';
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_string_equal(err, want);
    assert_true(got.on);
    assert_int_equal(got.id_count, 0);
}

static void test_a_malformed_ids_line_costs_the_ids_not_the_state(void **state)
{
    const struct dir *d = *state;
    const char *reason = "expected \"ids\" and 16-digit lower-case hex records on the second line";
    const char *bad[] = {
        "on\nids 0123456789abcde\n",                  /* 15 digits */
        "on\nids 0123456789abcdef0\n",                /* 17 digits */
        "on\nids 0123456789ABCDEF\n",                 /* upper case */
        "on\nids 0123456789abcdeg\n",                 /* not hex */
        "on\nids -123456789abcdef\n",                 /* a sign */
        "on\nids 0123456789abcdef\t0123456789abcdef\n", /* a tab */
        "on\nids0123456789abcdef\n",                  /* no space */
        "on\nid 0123456789abcdef\n",                  /* not "ids" */
        "on\n0123456789abcdef\n",                     /* no "ids" */
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_ids_ignored(d, bad[i], reason);
    expect_ids_ignored(d, "on\nids 0123456789abcdef\nids 0123456789abcdef\n",
                       "more than two lines");
}

/* `text` reads, with as many ids as the file may hold. */
static void expect_full_ring(const struct dir *d, const char *text)
{
    struct cli_led_saved got;
    char err[128];

    write_file(d->file, text);
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_int_equal(got.id_count, CLI_LED_STATE_IDS);
}

static void test_more_ids_than_the_ring_holds_are_ignored(void **state)
{
    const struct dir *d = *state;
    char text[2048] = "on\nids", reason[64];

    for (size_t i = 0; i < CLI_LED_STATE_IDS; i++)
        strcat(text, " 00000000000000aa");
    expect_full_ring(d, text);

    strcat(text, " 00000000000000bb\n");
    snprintf(reason, sizeof reason, "more than %d command ids", CLI_LED_STATE_IDS);
    expect_ids_ignored(d, text, reason);
}

static void test_an_overlong_file_is_bad(void **state)
{
    const struct dir *d = *state;
    struct cli_led_saved full = full_ring(true);
    char text[LED_STATE_MAX + 2], err[128], reason[64];

    /* The longest file written, padded with blanks to the limit, reads. */
    assert_true(cli_led_state_save(d->file, &full, err, sizeof err));
    read_file(d->file, text, sizeof text);
    size_t len = strlen(text);
    assert_true(len < LED_STATE_MAX);
    memset(text + len, ' ', LED_STATE_MAX - len);
    text[LED_STATE_MAX] = '\0';
    expect_full_ring(d, text);

    /* One byte more is too long, whatever it holds. */
    strcat(text, " ");
    snprintf(reason, sizeof reason, "longer than %d bytes", LED_STATE_MAX);
    expect_bad(d, text, reason);
}

static void test_a_directory_is_bad_with_the_system_reason(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved got;
    char err[128];

    assert_int_equal(cli_led_state_load(d->path, &got, err, sizeof err), CLI_LED_STATE_BAD);
    assert_non_null(strstr(err, d->path));
    assert_non_null(strstr(err, "Is a directory"));
}

static void test_save_into_a_missing_directory_fails_with_a_reason(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved on = led_only(true);
    char path[128], err[192];

    snprintf(path, sizeof path, "%s/no/such/dir/led", d->path);
    assert_false(cli_led_state_save(path, &on, err, sizeof err));
    assert_non_null(strstr(err, "cannot save the LED state to "));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_null(strchr(err, '\n'));
}

static void test_a_failed_save_keeps_the_previous_state(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved on = led_only(true), off = led_only(false), got;
    char err[192], tmp[128];

    assert_true(cli_led_state_save(d->file, &on, err, sizeof err));
    /* A directory where the temporary must go makes the save fail. */
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_false(cli_led_state_save(d->file, &off, err, sizeof err));
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(got.on);
}

/* A link planted where the temporary goes, pointing at another file: the
 * save neither truncates nor writes that file, and the state file stays
 * as it was. */
static void test_a_link_planted_at_the_temporary_never_writes_its_target(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved on = led_only(true), off = led_only(false), got;
    char err[256], tmp[128], victim[128], text[64];

    assert_true(cli_led_state_save(d->file, &on, err, sizeof err));
    snprintf(victim, sizeof victim, "%s/victim", d->path);
    write_file(victim, "precious\n");
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    assert_int_equal(symlink(victim, tmp), 0);

    assert_false(cli_led_state_save(d->file, &off, err, sizeof err));
    assert_non_null(strstr(err, tmp));
    assert_null(strchr(err, '\n'));
    read_file(victim, text, sizeof text);
    assert_string_equal(text, "precious\n");
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(got.on);
    assert_int_equal(unlink(tmp), 0);
    assert_int_equal(unlink(victim), 0);
}

/* A temporary left by a crash in the middle of a save is a regular file:
 * it is replaced, and the save goes through. */
static void test_a_temporary_left_by_a_crash_is_replaced(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved on = led_only(true), got;
    char err[256], tmp[128];
    struct stat st;

    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    write_file(tmp, "of");
    assert_true(cli_led_state_save(d->file, &on, err, sizeof err));
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(cli_led_state_load(d->file, &got, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(got.on);
    /* Created for the device alone. */
    assert_int_equal(stat(d->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* Only a regular file, or nothing, may stand at the state file's path. */
static void test_the_check_refuses_anything_but_a_regular_file(void **state)
{
    struct dir *d = *state;
    struct cli_led_saved on = led_only(true);
    char err[256], path[128];
    struct stat st;

    assert_true(cli_led_state_check(d->file, err, sizeof err)); /* nothing there */
    assert_true(cli_led_state_save(d->file, &on, err, sizeof err));
    assert_true(cli_led_state_check(d->file, err, sizeof err)); /* a regular file */

    assert_false(cli_led_state_check(d->path, err, sizeof err));
    assert_non_null(strstr(err, "is a directory, not a regular file"));
    assert_false(cli_led_state_check("/dev/null", err, sizeof err));
    assert_non_null(strstr(err, "/dev/null is a character device"));
    snprintf(path, sizeof path, "%s/link", d->path);
    assert_int_equal(symlink(d->file, path), 0); /* even to a regular file */
    assert_false(cli_led_state_check(path, err, sizeof err));
    assert_non_null(strstr(err, "is a symbolic link"));
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/fifo", d->path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_false(cli_led_state_check(path, err, sizeof err));
    assert_non_null(strstr(err, "is a FIFO"));
    /* Read past the check, a FIFO neither blocks the load nor reads. */
    struct cli_led_saved got;
    assert_int_equal(cli_led_state_load(path, &got, err, sizeof err), CLI_LED_STATE_BAD);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_file_is_absent_not_an_error, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_saved_states_read_back_and_replace_each_other,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_hand_written_files_with_line_endings_are_accepted,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_other_contents_are_bad_with_the_path_in_the_reason,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_saved_ids_read_back_oldest_first_with_the_led,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_a_file_of_the_led_alone_reads_with_no_ids, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_a_malformed_ids_line_costs_the_ids_not_the_state,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_more_ids_than_the_ring_holds_are_ignored, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_an_overlong_file_is_bad, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_a_directory_is_bad_with_the_system_reason, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_save_into_a_missing_directory_fails_with_a_reason,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_save_keeps_the_previous_state, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_link_planted_at_the_temporary_never_writes_its_target, dir_setup,
            dir_teardown),
        cmocka_unit_test_setup_teardown(test_a_temporary_left_by_a_crash_is_replaced, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_the_check_refuses_anything_but_a_regular_file,
                                        dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
