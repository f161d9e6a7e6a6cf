/*
 * midge CLI: the LED's last state on disk (`midge device --state-file`), so
 * a device that restarts (power cut, upgrade, systemd restart) lights up as
 * it was rather than dark. The file holds one word, "on" or "off", and a
 * newline; it is replaced whole (write a temporary beside it, fsync,
 * rename), so a crash leaves either the old state or the new one.
 */
#ifndef MIDGE_CLI_LED_STATE_H
#define MIDGE_CLI_LED_STATE_H

#include <stdbool.h>
#include <stddef.h>

enum cli_led_state {
    CLI_LED_STATE_ABSENT, /* no file yet: the first start */
    CLI_LED_STATE_READ,   /* *on holds the saved state */
    CLI_LED_STATE_BAD     /* unreadable or not "on"/"off": err says why */
};

/* Read the state saved at path. err (errcap > 0) gets one line without a
 * newline when the result is CLI_LED_STATE_BAD. */
enum cli_led_state cli_led_state_load(const char *path, bool *on, char *err, size_t errcap);

/* Save `on` at path, durably. False with one line in err on failure; the
 * file then still holds the previous state. */
bool cli_led_state_save(const char *path, bool on, char *err, size_t errcap);

#endif /* MIDGE_CLI_LED_STATE_H */
