/*
 * Shared between the LED port files: each driver's opener and the error
 * line helper. Not installed; the public contract is include/midge/led.h.
 */
#ifndef MIDGE_LED_INTERNAL_H
#define MIDGE_LED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "midge/led.h"

/* Fills *led with the simulated driver (off). MIDGE_ERR_IO only when
 * memory runs out. */
midge_status midge_led__open_sim(midge_led *led, char *err, size_t errcap);

/* Fills *led with GPIO line `line` of chip `chip` (name, path, number or
 * label), requested as an output that starts off. */
midge_status midge_led__open_gpio(midge_led *led, const char *chip, unsigned int line,
                                  bool active_low, char *err, size_t errcap);

/* printf into err when errcap > 0; always NUL-terminates. */
void midge_led__errorf(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* MIDGE_LED_INTERNAL_H */
