/*
 * midge CLI: the LED's last state on disk (`midge device --state-file`), so
 * a device that restarts (power cut, upgrade, systemd restart) lights up as
 * it was rather than dark, and still knows the command ids it acted on. The
 * file is replaced whole (write a temporary beside it, fsync, rename), so a
 * crash leaves either the old state or the new one. The temporary,
 * path.tmp, is created afresh for every save (never opened if something
 * is already there but a file left by a crash), so a link planted under
 * its name in a shared directory cannot make the device write elsewhere.
 *
 * The file is text, one or two lines:
 *
 *   on
 *   ids 3f0c9a1b22d4e5f6 91ab00c4d2e3f780
 *
 * The first line is "on" or "off" (a file of that line alone is complete).
 * The optional second line is "ids" and up to CLI_LED_STATE_IDS records of
 * the device's dedupe ring (midge_device_export_ids), oldest first, each 16
 * lower-case hex digits after a space.
 */
#ifndef MIDGE_CLI_LED_STATE_H
#define MIDGE_CLI_LED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/device.h"

/* Records a file holds at most: the whole dedupe ring. */
#define CLI_LED_STATE_IDS MIDGE_DEVICE_DEDUPE_SLOTS

/* What the file holds. */
struct cli_led_saved {
    bool on;
    size_t id_count;                 /* records in ids[] */
    uint64_t ids[CLI_LED_STATE_IDS]; /* oldest first */
};

enum cli_led_state {
    CLI_LED_STATE_ABSENT, /* no file yet: the first start */
    CLI_LED_STATE_READ,   /* *saved holds the saved state */
    CLI_LED_STATE_BAD     /* unreadable or malformed: err says why */
};

/* Read the state saved at path into *saved (left as it was unless the
 * result is CLI_LED_STATE_READ; a file without ids reads as id_count 0).
 * err (errcap > 0) gets one line naming the path, without a newline, when
 * the result is CLI_LED_STATE_BAD, and also with CLI_LED_STATE_READ when
 * the ids line was malformed: the state is read, the ids are not (the
 * caller clears err[0] first to tell). */
enum cli_led_state cli_led_state_load(const char *path, struct cli_led_saved *saved, char *err,
                                      size_t errcap);

/* Whether path may serve as the state file: true when nothing is there
 * yet or a regular file is; false, with one line in err, for anything
 * else (a symbolic link, a directory, a device, a FIFO, a socket), which
 * a save would replace or write through. Called once at start-up. */
bool cli_led_state_check(const char *path, char *err, size_t errcap);

/* Save *saved at path, durably; no ids line when id_count is 0. False with
 * one line in err on failure; the file then still holds the previous
 * state. */
bool cli_led_state_save(const char *path, const struct cli_led_saved *saved, char *err,
                        size_t errcap);

#endif /* MIDGE_CLI_LED_STATE_H */
