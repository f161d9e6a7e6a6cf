/*
 * midge POSIX port: the monotonic millisecond clock, and the platform the
 * client gets on POSIX (platform.h).
 */
#include <stdint.h>
#include <time.h>

#include "midge/port.h"

uint32_t midge_clock_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC never jumps with wall-clock changes, so keepalive and
     * backoff deadlines stay honest. It cannot fail on a POSIX system with
     * monotonic clock support; a zeroed value would only delay timers. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;

    /* Truncation to 32 bits is intended: the session compares times with
     * wrap-safe subtraction, so a wrap every ~49 days is harmless. */
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return (uint32_t)ms;
}

static uint32_t posix_clock(void *ctx)
{
    (void)ctx;
    return midge_clock_ms();
}

/* Nothing to drive here: the kernel runs the network. A signal may end the
 * sleep early, which the contract allows (the client looks again). */
static void posix_idle(void *ctx, uint32_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };

    (void)ctx;
    nanosleep(&ts, NULL);
}

const midge_platform midge_posix_platform = { posix_clock, posix_idle, NULL };
