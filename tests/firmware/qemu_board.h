/*
 * The firmware image on an emulated board, for tests: QEMU's mps2-an385
 * with the image, semihosting for its console (a file) and exit status,
 * QEMU's trace of the FPGA I/O writes (the LED register) in another file,
 * and user networking restricted to one forwarding rule: 10.0.2.100:1883
 * in the guest reaches 127.0.0.1:port on the host, through a fresh socat
 * for every guest connection (so that the firmware can reconnect).
 *
 * Every wait is bounded; QEMU dies with the test process.
 */
#ifndef MIDGE_TEST_QEMU_BOARD_H
#define MIDGE_TEST_QEMU_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QEMU_BOARD_PATH_MAX 256
#define QEMU_BOARD_LED_WRITES_MAX 64

typedef struct qemu_board {
    pid_t pid;    /* 0 once reaped */
    int status;   /* waitpid status, once reaped */
    char dir[64];
    char console[QEMU_BOARD_PATH_MAX]; /* the firmware's output and QEMU's */
    char trace[QEMU_BOARD_PATH_MAX];   /* mps2_fpgaio_write lines */
} qemu_board;

/* Start the image with the firmware's options `args` (one string, as
 * -append takes it); broker_port 0 = no forwarding rule. */
int qemu_board_start(qemu_board *b, uint16_t broker_port, const char *args);

/* Wait until the console holds `needle` at least `count` times. */
bool qemu_board_wait_console(qemu_board *b, const char *needle, int count, int timeout_ms);

/* How many times the console holds `needle`. */
int qemu_board_console_count(const qemu_board *b, const char *needle);

/* The values written to the LED register (offset 0 of the FPGA I/O
 * block), in order; returns how many (at most `cap`). */
int qemu_board_led_writes(const qemu_board *b, uint32_t *values, int cap);

/* Wait until there are at least `count` LED writes; returns how many. */
int qemu_board_wait_led_writes(const qemu_board *b, int count, int timeout_ms);

/* Wait for QEMU to exit by itself: its exit status (the firmware's), or
 * -1 when it was still running at the deadline or died of a signal. */
int qemu_board_wait_exit(qemu_board *b, int timeout_ms);

/* True while QEMU runs. */
bool qemu_board_running(qemu_board *b);

/* SIGKILL, as pulling the plug would; reaped. */
void qemu_board_kill(qemu_board *b);

/* Kill if running, print the console on failure (`show`), remove files. */
void qemu_board_stop(qemu_board *b, bool show);

#endif /* MIDGE_TEST_QEMU_BOARD_H */
