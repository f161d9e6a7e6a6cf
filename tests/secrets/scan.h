/*
 * The secrets scan: reads the capture files of every `midge` process a
 * test run started (tests/support/test_output.h) and reports each place
 * where a credential shows up in what such a process printed:
 *
 *  - any secret of tests/support/secrets.h;
 *  - any credential the process itself was given (the header's `secret`
 *    lines: -P, --password, --device-key, MIDGE_PASSWORD,
 *    MIDGE_DEVICE_KEY, its config file's password and device-key);
 *  - anything shaped like a OneNET token: "version=2018-10-31" or a
 *    "&sign=" parameter. Only `midge token`'s stdout may hold one: that
 *    is what the command is for.
 *
 * The header is never scanned. A file without one is scanned whole. A
 * report line names the file, the line, what was found and the secret
 * masked (its first two characters and its length), never the secret.
 */
#ifndef MIDGE_SECRETS_SCAN_H
#define MIDGE_SECRETS_SCAN_H

#include <stddef.h>
#include <stdio.h>

/* Credentials shorter than this, from a header, are not looked for: they
 * would match ordinary text (no test uses one). */
#define SCAN_SECRET_MIN 6

typedef struct scan_totals {
    size_t files;
    size_t bytes;    /* scanned, headers excluded */
    size_t findings; /* distinct (file, secret) pairs */
} scan_totals;

/* Scan one capture file: one line on `report` per finding. Adds to *t.
 * Returns 0, or -1 when the file cannot be read (reported too). */
int scan_file(const char *path, FILE *report, scan_totals *t);

/* Every regular file of `dir` (not its subdirectories), in name order.
 * Returns 0; 1 when the directory does not exist (nothing to scan); -1
 * when it or one of its files cannot be read. */
int scan_dir(const char *dir, FILE *report, scan_totals *t);

/* The mask shown for a secret: its first two characters, then stars, then
 * its length, e.g. "Wh** (19 bytes)". */
void scan_mask(const char *secret, size_t len, char *buf, size_t cap);

#endif /* MIDGE_SECRETS_SCAN_H */
