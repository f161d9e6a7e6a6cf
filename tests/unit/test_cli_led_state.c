/*
 * The LED state file of `midge device --state-file` (src/cli/led_state.c):
 * what is saved is read back, a replaced file never shows a half-written
 * state, and every kind of bad file is a reason, not a guess. The CLI is an
 * executable, so the file is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_missing_file_is_absent_not_an_error(void **state)
{
    struct dir *d = *state;
    bool on = true;
    char err[128] = "";

    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_ABSENT);
    assert_string_equal(err, "");
}

static void test_saved_states_read_back_and_replace_each_other(void **state)
{
    struct dir *d = *state;
    bool on = false;
    char err[128], text[16], tmp[128];

    assert_true(cli_led_state_save(d->file, true, err, sizeof err));
    read_file(d->file, text, sizeof text);
    assert_string_equal(text, "on\n");
    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(on);

    assert_true(cli_led_state_save(d->file, false, err, sizeof err));
    read_file(d->file, text, sizeof text);
    assert_string_equal(text, "off\n");
    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_READ);
    assert_false(on);

    /* Replaced by rename: no temporary is left beside it. */
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void test_hand_written_files_with_line_endings_are_accepted(void **state)
{
    struct dir *d = *state;
    bool on = false;
    char err[128];

    write_file(d->file, "on\r\n");
    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(on);
    write_file(d->file, "off  \n");
    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_READ);
    assert_false(on);
    write_file(d->file, "on");
    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(on);
}

static void test_other_contents_are_bad_with_the_path_in_the_reason(void **state)
{
    struct dir *d = *state;
    const char *bad[] = {"", "\n", "ON\n", "toggle\n", "1\n", "on off\n",
                         "on                                   \n"};
    char err[128], want[128];

    snprintf(want, sizeof want, "%s: expected \"on\" or \"off\"", d->file);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool on = true;
        err[0] = '\0';
        write_file(d->file, bad[i]);
        assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_BAD);
        assert_string_equal(err, want);
        assert_true(on); /* untouched */
    }
}

static void test_a_directory_is_bad_with_the_system_reason(void **state)
{
    struct dir *d = *state;
    bool on = false;
    char err[128];

    assert_int_equal(cli_led_state_load(d->path, &on, err, sizeof err), CLI_LED_STATE_BAD);
    assert_non_null(strstr(err, d->path));
    assert_non_null(strstr(err, "Is a directory"));
}

static void test_save_into_a_missing_directory_fails_with_a_reason(void **state)
{
    struct dir *d = *state;
    char path[128], err[192];

    snprintf(path, sizeof path, "%s/no/such/dir/led", d->path);
    assert_false(cli_led_state_save(path, true, err, sizeof err));
    assert_non_null(strstr(err, "cannot save the LED state to "));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_null(strchr(err, '\n'));
}

static void test_a_failed_save_keeps_the_previous_state(void **state)
{
    struct dir *d = *state;
    char err[192], tmp[128];
    bool on = false;

    assert_true(cli_led_state_save(d->file, true, err, sizeof err));
    /* A directory where the temporary must go makes the save fail. */
    snprintf(tmp, sizeof tmp, "%s.tmp", d->file);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_false(cli_led_state_save(d->file, false, err, sizeof err));
    assert_int_equal(rmdir(tmp), 0);
    assert_int_equal(cli_led_state_load(d->file, &on, err, sizeof err), CLI_LED_STATE_READ);
    assert_true(on);
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
        cmocka_unit_test_setup_teardown(test_a_directory_is_bad_with_the_system_reason, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_save_into_a_missing_directory_fails_with_a_reason,
                                        dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_save_keeps_the_previous_state, dir_setup,
                                        dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
