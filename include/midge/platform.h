/*
 * midge platform: what the blocking client needs from the system it runs
 * on, besides a transport opener (transport.h). The client references no
 * operating-system symbol: a POSIX program passes &midge_posix_platform
 * (port.h), a bare-metal board its own (a timer tick, and a wait that
 * drives its network stack), MicroPython the interpreter's.
 *
 * The contract:
 *
 *   clock_ms(ctx)   monotonic milliseconds. May wrap (every ~49 days for a
 *                   millisecond counter): every comparison is wrap-safe. A
 *                   test may fast-forward it to run keepalive and backoff
 *                   without sleeping.
 *   idle(ctx, ms)   let time pass where the client has no transport to wait
 *                   on (the reconnect backoff; an rx buffer full of held
 *                   messages): return after at most `ms` milliseconds, or
 *                   earlier (the client looks at the clock and calls again).
 *                   A platform whose network stack runs in the caller's
 *                   loop (lwIP with NO_SYS=1) does its work here: poll the
 *                   network interface, run the stack's timers. Its
 *                   transport's wait() does the same while it waits.
 *
 * Neither function may be NULL; `ctx` is the platform's own. The struct is
 * borrowed by pointer and must outlive every client given it (a static
 * const object, typically).
 */
#ifndef MIDGE_PLATFORM_H
#define MIDGE_PLATFORM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct midge_platform {
    uint32_t (*clock_ms)(void *ctx);
    void (*idle)(void *ctx, uint32_t ms);
    void *ctx;
} midge_platform;

#ifdef __cplusplus
}
#endif

#endif /* MIDGE_PLATFORM_H */
