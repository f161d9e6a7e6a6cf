/*
 * The driver-independent half of the LED: calls through the driver table
 * and the log line. Uses no OS header, so a microcontroller port can build
 * it beside its own driver.
 */
#include <stdio.h>
#include <string.h>

#include "midge/led.h"

void midge_led_set_log(midge_led *led, midge_led_log_fn log, void *user)
{
    led->log = log;
    led->log_user = user;
}

/* One line per set, even when the state does not change: a repeated "on"
 * command is still something the user wants to see obeyed. */
static void led_report(const midge_led *led, bool on)
{
    char line[128];
    const char *state = on ? "on" : "off";

    if (led->log == NULL)
        return;
    if (led->show_level) {
        int level = (on != led->active_low) ? 1 : 0;
        snprintf(line, sizeof line, "LED %s (%s = %d%s)", state, led->where, level,
                 led->active_low ? ", active-low" : "");
    } else {
        snprintf(line, sizeof line, "LED %s (%s)", state, led->where);
    }
    led->log(led->log_user, line);
}

midge_status midge_led_set(midge_led *led, bool on)
{
    if (led == NULL || led->set == NULL)
        return MIDGE_ERR_STATE;
    midge_status st = led->set(led->ctx, on);
    if (st != MIDGE_OK)
        return st;
    led_report(led, on);
    return MIDGE_OK;
}

bool midge_led_get(const midge_led *led)
{
    if (led == NULL || led->get == NULL)
        return false;
    return led->get(led->ctx);
}

midge_status midge_led_toggle(midge_led *led)
{
    return midge_led_set(led, !midge_led_get(led));
}

void midge_led_close(midge_led *led)
{
    if (led == NULL)
        return;
    if (led->close != NULL)
        led->close(led->ctx);
    /* Clearing the table makes a second close, or a set after close, a
     * harmless MIDGE_ERR_STATE instead of a use after free. */
    led->set = NULL;
    led->get = NULL;
    led->close = NULL;
    led->ctx = NULL;
}
