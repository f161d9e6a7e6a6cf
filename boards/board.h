/*
 * What a board gives the firmware application (boards/app/): time, the
 * network, the LED, a console and a way to stop. One implementation per
 * board folder (boards/mps2-an385/board.c); the application never touches
 * a register.
 *
 * Everything runs in one context, the main loop: the board's idle hook
 * (in board_platform()) polls the network interface and runs lwIP's timers,
 * and interrupts only count time or wake the processor.
 */
#ifndef MIDGE_BOARD_H
#define MIDGE_BOARD_H

#include <stdbool.h>
#include <stdint.h>

#include "midge/platform.h"

/* Exit statuses the firmware stops with (through semihosting on QEMU).
 * Usage and refused logins share `midge device`'s 1; the rest say which
 * trap stopped the board, so a test tells a crash from a clean stop. */
#define BOARD_EXIT_OK 0
#define BOARD_EXIT_USAGE 1
#define BOARD_EXIT_NO_NETWORK 3
#define BOARD_EXIT_HEAP 90   /* malloc, calloc or realloc was called */
#define BOARD_EXIT_FAULT 91  /* HardFault, MemManage, BusFault or UsageFault */
#define BOARD_EXIT_ASSERT 92 /* an lwIP assertion failed */

/* Clock, LED (LED0 off: the boot write), console. First thing in main. */
void board_init(void);

/* The clock and the idle hook for midge's client and lwIP transport. */
const midge_platform *board_platform(void);

/* lwIP and the network interface with the board's address; false with a
 * reason when there is no interface. */
bool board_net_start(const char **why);

/* The board's address and its gateway, for the log ("10.0.2.15"). */
const char *board_net_address(void);

/* Drive the LED: one register write. */
void board_led_set(bool on);

/* Stop the board with `status` (QEMU exits with it). */
void board_exit(int status) __attribute__((noreturn));

/* A few bits of entropy (timer jitter) for lwIP and the backoff. */
uint32_t board_random(void);

/* The board's name, for the log. */
extern const char board_name[];

/* Where the board reaches a broker when -h is not given (QEMU: the
 * forwarding rule's guest address). */
extern const char board_broker_host[];

#endif /* MIDGE_BOARD_H */
