/*
 * The simulated LED: remembers its state and nothing else. What the user
 * sees is the log line midge_led_set() sends to the observer.
 */
#include <stdlib.h>
#include <string.h>

#include "led_internal.h"

typedef struct led_sim {
    bool on;
} led_sim;

static midge_status led_sim_set(void *ctx, bool on)
{
    ((led_sim *)ctx)->on = on;
    return MIDGE_OK;
}

static bool led_sim_get(void *ctx)
{
    return ((const led_sim *)ctx)->on;
}

static void led_sim_close(void *ctx)
{
    free(ctx);
}

midge_status midge_led__open_sim(midge_led *led, char *err, size_t errcap)
{
    /* On the heap rather than inside *led so the struct may be copied. */
    led_sim *sim = calloc(1, sizeof *sim);
    if (sim == NULL) {
        midge_led__errorf(err, errcap, "sim: out of memory");
        return MIDGE_ERR_IO;
    }
    led->set = led_sim_set;
    led->get = led_sim_get;
    led->close = led_sim_close;
    led->ctx = sim;
    strcpy(led->where, "sim");
    led->show_level = false;
    led->active_low = false;
    return MIDGE_OK;
}
