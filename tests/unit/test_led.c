/*
 * LED drivers: spec parsing, the simulated LED and its log lines, and the
 * GPIO error paths. The GPIO success path needs a gpio-sim chip (the
 * kernel's GPIO simulator); where none exists those tests are skipped with
 * a notice, never failed.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <gpiod.h>

#include "midge/led.h"

/* ---- log capture ---------------------------------------------------------- */

typedef struct log_capture {
    int count;
    char last[128];
} log_capture;

static void capture_log(void *user, const char *line)
{
    log_capture *cap = user;
    cap->count++;
    snprintf(cap->last, sizeof cap->last, "%s", line);
}

/* Opening must fail with `status` and an error line containing `needle`. */
static void assert_open_fails(const char *spec, midge_status status, const char *needle)
{
    midge_led led;
    char err[256];
    memset(err, 'x', sizeof err);
    assert_int_equal(midge_led_open(&led, spec, err, sizeof err), status);
    assert_non_null(strstr(err, needle));
    assert_null(strchr(err, '\n')); /* one line */
    assert_int_equal(midge_led_set(&led, true), MIDGE_ERR_STATE);
    midge_led_close(&led); /* safe after a failed open */
}

/* ---- sim ----------------------------------------------------------------- */

static void test_sim_starts_off_and_follows_set(void **state)
{
    (void)state;
    midge_led led;
    char err[128];
    assert_int_equal(midge_led_open(&led, "sim", err, sizeof err), MIDGE_OK);
    assert_false(midge_led_get(&led));
    assert_int_equal(midge_led_set(&led, true), MIDGE_OK);
    assert_true(midge_led_get(&led));
    assert_int_equal(midge_led_set(&led, false), MIDGE_OK);
    assert_false(midge_led_get(&led));
    midge_led_close(&led);
}

static void test_sim_toggle_flips_state(void **state)
{
    (void)state;
    midge_led led;
    assert_int_equal(midge_led_open(&led, "sim", NULL, 0), MIDGE_OK);
    assert_int_equal(midge_led_toggle(&led), MIDGE_OK);
    assert_true(midge_led_get(&led));
    assert_int_equal(midge_led_toggle(&led), MIDGE_OK);
    assert_false(midge_led_get(&led));
    midge_led_close(&led);
}

static void test_sim_logs_every_set(void **state)
{
    (void)state;
    midge_led led;
    log_capture cap = {0};
    assert_int_equal(midge_led_open(&led, "sim", NULL, 0), MIDGE_OK);
    midge_led_set_log(&led, capture_log, &cap);

    assert_int_equal(midge_led_set(&led, true), MIDGE_OK);
    assert_int_equal(cap.count, 1);
    assert_string_equal(cap.last, "LED on (sim)");
    assert_int_equal(midge_led_toggle(&led), MIDGE_OK);
    assert_int_equal(cap.count, 2);
    assert_string_equal(cap.last, "LED off (sim)");
    /* A repeated command is still reported: the user sees it obeyed. */
    assert_int_equal(midge_led_set(&led, false), MIDGE_OK);
    assert_int_equal(cap.count, 3);

    midge_led_set_log(&led, NULL, NULL);
    assert_int_equal(midge_led_set(&led, true), MIDGE_OK);
    assert_int_equal(cap.count, 3);
    midge_led_close(&led);
}

static void test_sim_survives_copy_of_struct(void **state)
{
    (void)state;
    midge_led a;
    assert_int_equal(midge_led_open(&a, "sim", NULL, 0), MIDGE_OK);
    midge_led b = a;
    assert_int_equal(midge_led_set(&b, true), MIDGE_OK);
    assert_true(midge_led_get(&b));
    midge_led_close(&b);
}

static void test_close_twice_and_use_after_close_are_harmless(void **state)
{
    (void)state;
    midge_led led;
    assert_int_equal(midge_led_open(&led, "sim", NULL, 0), MIDGE_OK);
    midge_led_close(&led);
    midge_led_close(&led);
    assert_int_equal(midge_led_set(&led, true), MIDGE_ERR_STATE);
    assert_false(midge_led_get(&led));
}

/* ---- specs --------------------------------------------------------------- */

static void test_unknown_driver_is_rejected(void **state)
{
    (void)state;
    assert_open_fails("", MIDGE_ERR_INVALID, "unknown LED");
    assert_open_fails("simulator", MIDGE_ERR_INVALID, "unknown LED \"simulator\"");
    assert_open_fails("SIM", MIDGE_ERR_INVALID, "expected sim or gpio:CHIP:LINE");
    assert_open_fails("gpio", MIDGE_ERR_INVALID, "unknown LED");
    assert_open_fails(NULL, MIDGE_ERR_INVALID, "no spec");
}

static void test_malformed_gpio_specs_are_rejected(void **state)
{
    (void)state;
    assert_open_fails("gpio:", MIDGE_ERR_INVALID, "malformed spec \"gpio:\"");
    assert_open_fails("gpio:gpiochip0", MIDGE_ERR_INVALID, "malformed spec");
    assert_open_fails("gpio::4", MIDGE_ERR_INVALID, "malformed spec");
    assert_open_fails("gpio:gpiochip0:", MIDGE_ERR_INVALID, "bad line number \"\"");
    assert_open_fails("gpio:gpiochip0:x", MIDGE_ERR_INVALID, "bad line number \"x\"");
    assert_open_fails("gpio:gpiochip0:-1", MIDGE_ERR_INVALID, "bad line number \"-1\"");
    assert_open_fails("gpio:gpiochip0: 4", MIDGE_ERR_INVALID, "bad line number \" 4\"");
    assert_open_fails("gpio:gpiochip0:0x4", MIDGE_ERR_INVALID, "bad line number");
    assert_open_fails("gpio:gpiochip0:99999999999999999999", MIDGE_ERR_INVALID,
                      "bad line number");
    assert_open_fails("gpio:gpiochip0:4:active-high", MIDGE_ERR_INVALID,
                      "unknown option \"active-high\"");
    assert_open_fails("gpio:gpiochip0:4:", MIDGE_ERR_INVALID, "unknown option \"\"");
    assert_open_fails("gpio:gpiochip0:4:active-low:x", MIDGE_ERR_INVALID, "unknown option");
}

static void test_error_line_is_truncated_not_overflowed(void **state)
{
    (void)state;
    midge_led led;
    char err[8];
    assert_int_equal(midge_led_open(&led, "gpio:gpiochip0:x", err, sizeof err),
                     MIDGE_ERR_INVALID);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(midge_led_open(&led, "gpio:gpiochip0:x", NULL, 0), MIDGE_ERR_INVALID);
}

/* ---- gpio errors (no chip needed) --------------------------------------- */

static void test_missing_chip_reports_name_and_reason(void **state)
{
    (void)state;
    /* A chip number far beyond any machine's, so the test holds where
     * real chips exist too. */
    assert_open_fails("gpio:gpiochip999:4", MIDGE_ERR_IO,
                      "gpio: cannot open chip \"gpiochip999\": No such file or directory");
    assert_open_fails("gpio:/dev/gpiochip999:4:active-low", MIDGE_ERR_IO,
                      "cannot open chip \"/dev/gpiochip999\"");
    assert_open_fails("gpio:999:4", MIDGE_ERR_IO, "cannot open chip \"999\"");
}

static void test_non_gpio_device_is_refused(void **state)
{
    (void)state;
    assert_open_fails("gpio:/dev/null:0", MIDGE_ERR_IO, "cannot open chip \"/dev/null\"");
}

/* ---- gpio success path (needs gpio-sim) ---------------------------------- */

/* Finds a /dev/gpiochip* whose label starts with "gpio-sim"; 0 if found. */
static int find_sim_chip(char *name, size_t cap)
{
    DIR *dir = opendir("/dev");
    if (dir == NULL)
        return -1;
    int rc = -1;
    struct dirent *e;
    while (rc != 0 && (e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, "gpiochip", 8) != 0 || strlen(e->d_name) >= cap)
            continue;
        struct gpiod_chip *chip = gpiod_chip_open_by_name(e->d_name);
        if (chip == NULL)
            continue;
        if (strncmp(gpiod_chip_label(chip), "gpio-sim", 8) == 0) {
            memcpy(name, e->d_name, strlen(e->d_name) + 1);
            rc = 0;
        }
        gpiod_chip_close(chip);
    }
    closedir(dir);
    return rc;
}

static int gpio_sim_setup(void **state)
{
    static char name[64];
    if (find_sim_chip(name, sizeof name) != 0) {
        *state = NULL;
        return 0;
    }
    *state = name;
    return 0;
}

#define REQUIRE_SIM_CHIP(state)                                                        \
    do {                                                                               \
        if (*(state) == NULL) {                                                        \
            print_message("no gpio-sim chip under /dev/gpiochip*: skipping GPIO test\n"); \
            skip();                                                                    \
        }                                                                              \
    } while (0)

static void test_gpio_sim_line_follows_set_and_logs_level(void **state)
{
    REQUIRE_SIM_CHIP(state);
    const char *chip = *state;
    char spec[96];
    char err[256];
    char where[80];
    midge_led led;
    log_capture cap = {0};

    snprintf(spec, sizeof spec, "gpio:%s:0", chip);
    assert_int_equal(midge_led_open(&led, spec, err, sizeof err), MIDGE_OK);
    midge_led_set_log(&led, capture_log, &cap);
    assert_int_equal(midge_led_set(&led, true), MIDGE_OK);
    assert_true(midge_led_get(&led));
    snprintf(where, sizeof where, "LED on (%s line 0 = 1)", chip);
    assert_string_equal(cap.last, where);
    assert_int_equal(midge_led_toggle(&led), MIDGE_OK);
    assert_false(midge_led_get(&led));
    midge_led_close(&led);
}

static void test_gpio_sim_active_low_inverts_level(void **state)
{
    REQUIRE_SIM_CHIP(state);
    const char *chip = *state;
    char spec[96];
    char where[96];
    midge_led led;
    log_capture cap = {0};

    snprintf(spec, sizeof spec, "gpio:/dev/%s:0:active-low", chip);
    assert_int_equal(midge_led_open(&led, spec, NULL, 0), MIDGE_OK);
    midge_led_set_log(&led, capture_log, &cap);
    assert_int_equal(midge_led_set(&led, true), MIDGE_OK);
    snprintf(where, sizeof where, "LED on (%s line 0 = 0, active-low)", chip);
    assert_string_equal(cap.last, where);
    midge_led_close(&led);
}

static void test_gpio_sim_line_in_use_and_missing_line_fail(void **state)
{
    REQUIRE_SIM_CHIP(state);
    const char *chip = *state;
    char spec[96];
    midge_led first;

    snprintf(spec, sizeof spec, "gpio:%s:0", chip);
    assert_int_equal(midge_led_open(&first, spec, NULL, 0), MIDGE_OK);
    assert_open_fails(spec, MIDGE_ERR_IO, "cannot request line 0");
    midge_led_close(&first);

    snprintf(spec, sizeof spec, "gpio:%s:65535", chip);
    assert_open_fails(spec, MIDGE_ERR_INVALID, "has no line 65535");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_starts_off_and_follows_set),
        cmocka_unit_test(test_sim_toggle_flips_state),
        cmocka_unit_test(test_sim_logs_every_set),
        cmocka_unit_test(test_sim_survives_copy_of_struct),
        cmocka_unit_test(test_close_twice_and_use_after_close_are_harmless),
        cmocka_unit_test(test_unknown_driver_is_rejected),
        cmocka_unit_test(test_malformed_gpio_specs_are_rejected),
        cmocka_unit_test(test_error_line_is_truncated_not_overflowed),
        cmocka_unit_test(test_missing_chip_reports_name_and_reason),
        cmocka_unit_test(test_non_gpio_device_is_refused),
        cmocka_unit_test_setup(test_gpio_sim_line_follows_set_and_logs_level, gpio_sim_setup),
        cmocka_unit_test_setup(test_gpio_sim_active_low_inverts_level, gpio_sim_setup),
        cmocka_unit_test_setup(test_gpio_sim_line_in_use_and_missing_line_fail, gpio_sim_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
