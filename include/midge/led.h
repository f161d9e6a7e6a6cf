/*
 * midge LED: the output the device obeys (on / off / toggle), behind a small
 * driver interface so the device logic never knows what lights up.
 *
 * Drivers on this port (POSIX / Linux), chosen by a spec string:
 *
 *   sim                            keeps the state in memory; nothing lights
 *   gpio:CHIP:LINE[:active-low]    a Linux GPIO line through libgpiod (v1 API);
 *                                  CHIP is a name ("gpiochip0"), a path
 *                                  ("/dev/gpiochip0"), a number ("0") or a
 *                                  chip label; LINE is the line offset
 *                                  within the chip. With active-low, "on"
 *                                  drives the pin low.
 *
 * A microcontroller port fills a midge_led itself: only the four driver
 * members below are required.
 *
 * Ownership: the caller owns the midge_led struct; midge_led_open() fills
 * it and midge_led_close() releases what the driver allocated. The struct
 * may be moved or copied between open and close (ctx does not point into
 * it). A midge_led is not thread-safe; use it from one thread at a time.
 */
#ifndef MIDGE_LED_H
#define MIDGE_LED_H

#include <stdbool.h>
#include <stddef.h>

#include "midge/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives one human-readable line (no newline) per midge_led_set() call,
 * e.g. "LED on (sim)" or "LED on (gpiochip0 line 4 = 1)" (the number is the
 * pin's electrical level, 0 for "on" when the line is active-low).
 * `line` is valid only during the call. */
typedef void (*midge_led_log_fn)(void *user, const char *line);

typedef struct midge_led {
    /* The driver. set: drive the LED, MIDGE_OK or MIDGE_ERR_IO. get: the
     * last state set (logical: true = lit). close: release everything;
     * the LED is unusable afterwards. */
    midge_status (*set)(void *ctx, bool on);
    bool (*get)(void *ctx);
    void (*close)(void *ctx);
    void *ctx;

    /* Optional observer, NULL by default; see midge_led_set_log(). */
    midge_led_log_fn log;
    void *log_user;

    /* Where the LED is, for log lines: "sim" or "gpiochip0 line 4", and
     * whether to show the pin level (inverted when active-low). Filled by
     * midge_led_open(); private by convention. */
    char where[64];
    bool show_level;
    bool active_low;
} midge_led;

/*
 * Opens the driver named by spec (see the top of this file) into *led,
 * with the LED off. On failure, err (if errcap > 0) receives one line
 * without a newline, such as
 *   gpio: cannot open chip "gpiochip9": No such file or directory
 * and *led is left closed (safe to pass to midge_led_close()).
 *
 * Returns MIDGE_OK; MIDGE_ERR_INVALID for a malformed spec or a line number
 * the chip does not have; MIDGE_ERR_IO when the chip cannot be opened or
 * the line cannot be requested (for instance already in use).
 */
midge_status midge_led_open(midge_led *led, const char *spec, char *err, size_t errcap);

/* Sets (or with log == NULL removes) the observer that midge_led_set()
 * reports to. Call it after midge_led_open(), which starts with none. */
void midge_led_set_log(midge_led *led, midge_led_log_fn log, void *user);

/* Drives the LED through the driver and reports the new state to the
 * observer. Use this rather than led->set so every change is logged. */
midge_status midge_led_set(midge_led *led, bool on);

/* The current logical state (true = lit). */
bool midge_led_get(const midge_led *led);

/* midge_led_set(led, !midge_led_get(led)). */
midge_status midge_led_toggle(midge_led *led);

/* Releases the driver; idempotent, and safe on a led whose open failed. */
void midge_led_close(midge_led *led);

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_LED_H */
