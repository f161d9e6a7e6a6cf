/*
 * midge_led_open(): the spec string picks and configures a driver.
 *
 *   sim
 *   gpio:CHIP:LINE[:active-low]
 *
 * CHIP cannot contain ':' (no GPIO chip name, path or label in practice
 * does), which keeps the grammar a plain split on ':'.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "led_internal.h"

#define LED_SPEC_HELP "expected sim or gpio:CHIP:LINE[:active-low]"

/* Line offsets are small; the cap only keeps the arithmetic exact. */
#define LED_LINE_MAX 65535u

void midge_led__errorf(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errcap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* Decimal digits only: no sign, no spaces, no "0x"; strtoul would accept
 * all three and make "gpio:chip: 4" mean line 4. */
static bool led_parse_line(const char *s, size_t len, unsigned int *line)
{
    unsigned long v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > LED_LINE_MAX)
            return false;
    }
    *line = (unsigned int)v;
    return true;
}

/* The fields of "CHIP:LINE[:active-low]", as pointers into the spec. */
typedef struct led_gpio_spec {
    const char *chip;
    size_t chip_len;
    unsigned int line;
    bool active_low;
} led_gpio_spec;

static midge_status led_parse_gpio(const char *spec, const char *rest, led_gpio_spec *out,
                                   char *err, size_t errcap)
{
    const char *colon = strchr(rest, ':');
    if (colon == NULL || colon == rest) {
        midge_led__errorf(err, errcap, "gpio: malformed spec \"%s\" (%s)", spec, LED_SPEC_HELP);
        return MIDGE_ERR_INVALID;
    }
    out->chip = rest;
    out->chip_len = (size_t)(colon - rest);

    const char *line = colon + 1;
    const char *opt = strchr(line, ':');
    size_t line_len = opt != NULL ? (size_t)(opt - line) : strlen(line);
    if (!led_parse_line(line, line_len, &out->line)) {
        midge_led__errorf(err, errcap, "gpio: bad line number \"%.*s\" in \"%s\" (%s)",
                          (int)line_len, line, spec, LED_SPEC_HELP);
        return MIDGE_ERR_INVALID;
    }

    out->active_low = false;
    if (opt == NULL)
        return MIDGE_OK;
    if (strcmp(opt + 1, "active-low") != 0) {
        midge_led__errorf(err, errcap, "gpio: unknown option \"%s\" in \"%s\" (%s)", opt + 1,
                          spec, LED_SPEC_HELP);
        return MIDGE_ERR_INVALID;
    }
    out->active_low = true;
    return MIDGE_OK;
}

static midge_status led_open_gpio_spec(midge_led *led, const char *spec, const char *rest,
                                       char *err, size_t errcap)
{
    led_gpio_spec gs;
    midge_status st = led_parse_gpio(spec, rest, &gs, err, errcap);
    if (st != MIDGE_OK)
        return st;

    /* libgpiod wants the chip as its own string; sized from the spec. */
    char *chip = malloc(gs.chip_len + 1);
    if (chip == NULL) {
        midge_led__errorf(err, errcap, "gpio: out of memory");
        return MIDGE_ERR_IO;
    }
    memcpy(chip, gs.chip, gs.chip_len);
    chip[gs.chip_len] = '\0';
    st = midge_led__open_gpio(led, chip, gs.line, gs.active_low, err, errcap);
    free(chip);
    return st;
}

midge_status midge_led_open(midge_led *led, const char *spec, char *err, size_t errcap)
{
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (led == NULL) {
        midge_led__errorf(err, errcap, "led: no LED to open");
        return MIDGE_ERR_INVALID;
    }
    /* Closed until a driver succeeds, so midge_led_close() is always safe. */
    memset(led, 0, sizeof *led);
    if (spec == NULL) {
        midge_led__errorf(err, errcap, "led: no spec (%s)", LED_SPEC_HELP);
        return MIDGE_ERR_INVALID;
    }
    if (strcmp(spec, "sim") == 0)
        return midge_led__open_sim(led, err, errcap);
    if (strncmp(spec, "gpio:", 5) == 0)
        return led_open_gpio_spec(led, spec, spec + 5, err, errcap);
    midge_led__errorf(err, errcap, "led: unknown LED \"%s\" (%s)", spec, LED_SPEC_HELP);
    return MIDGE_ERR_INVALID;
}
