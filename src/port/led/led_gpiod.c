/*
 * The Linux GPIO LED, through libgpiod's v1 API (1.6, as Debian 12 ships
 * it: gpiod_chip_* / gpiod_line_*, not v2's request configs). The character
 * device replaces the deprecated sysfs interface; the kernel releases the
 * line if the process dies, so a crash never leaves the pin claimed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpiod.h>

#include "led_internal.h"

/* Shown as the line's consumer by gpioinfo, so a user can tell who holds it. */
#define LED_GPIO_CONSUMER "midge"

typedef struct led_gpio {
    struct gpiod_chip *chip;
    struct gpiod_line *line;
    bool on;
} led_gpio;

static midge_status led_gpio_set(void *ctx, bool on)
{
    led_gpio *g = ctx;
    /* The logical value: with GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW the kernel
     * inverts it on the pin. */
    if (gpiod_line_set_value(g->line, on ? 1 : 0) != 0)
        return MIDGE_ERR_IO;
    g->on = on;
    return MIDGE_OK;
}

static bool led_gpio_get(void *ctx)
{
    return ((const led_gpio *)ctx)->on;
}

static void led_gpio_close(void *ctx)
{
    led_gpio *g = ctx;
    if (g->line != NULL)
        gpiod_line_release(g->line);
    if (g->chip != NULL)
        gpiod_chip_close(g->chip);
    free(g);
}

/* Requests the line as an output, logically off, under our consumer name. */
static midge_status led_gpio_request(led_gpio *g, const char *chip, unsigned int line,
                                     bool active_low, char *err, size_t errcap)
{
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;

    unsigned int count = gpiod_chip_num_lines(g->chip);
    if (line >= count) {
        midge_led__errorf(err, errcap, "gpio: chip \"%s\" has no line %u (it has %u lines)",
                          chip, line, count);
        return MIDGE_ERR_INVALID;
    }
    g->line = gpiod_chip_get_line(g->chip, line);
    if (g->line == NULL) {
        midge_led__errorf(err, errcap, "gpio: cannot get line %u of chip \"%s\": %s", line, chip,
                          strerror(errno));
        return MIDGE_ERR_IO;
    }
    if (gpiod_line_request_output_flags(g->line, LED_GPIO_CONSUMER, flags, 0) != 0) {
        int e = errno;
        g->line = NULL; /* never requested, so close must not release it */
        midge_led__errorf(err, errcap, "gpio: cannot request line %u of chip \"%s\": %s", line,
                          chip, strerror(e));
        return MIDGE_ERR_IO;
    }
    return MIDGE_OK;
}

midge_status midge_led__open_gpio(midge_led *led, const char *chip, unsigned int line,
                                  bool active_low, char *err, size_t errcap)
{
    midge_status st = MIDGE_ERR_IO;
    led_gpio *g = calloc(1, sizeof *g);
    if (g == NULL) {
        midge_led__errorf(err, errcap, "gpio: out of memory");
        return MIDGE_ERR_IO;
    }

    /* Tries a number, a label, a name under /dev and a path, in the order
     * libgpiod documents; errno tells why the last attempt failed. */
    errno = 0;
    g->chip = gpiod_chip_open_lookup(chip);
    if (g->chip == NULL) {
        int e = errno != 0 ? errno : ENOENT;
        midge_led__errorf(err, errcap, "gpio: cannot open chip \"%s\": %s", chip, strerror(e));
        goto fail;
    }
    st = led_gpio_request(g, chip, line, active_low, err, errcap);
    if (st != MIDGE_OK)
        goto fail;

    led->set = led_gpio_set;
    led->get = led_gpio_get;
    led->close = led_gpio_close;
    led->ctx = g;
    snprintf(led->where, sizeof led->where, "%s line %u", gpiod_chip_name(g->chip), line);
    led->show_level = true;
    led->active_low = active_low;
    return MIDGE_OK;
fail:
    led_gpio_close(g);
    return st;
}
