/*
 * The output of every `midge` process the tests start, kept for the final
 * secrets scan (tests/secrets/): whatever a test did with the output, a
 * copy lands in one file per child and stream set under
 * MIDGE_TEST_OUTPUT_DIR (the build tree's test-output/, emptied at the
 * start of every ctest run).
 *
 * A file starts with a header the scanner reads and never scans:
 *
 *   midge-test-output 1
 *   program: integration_test_cli (pid 4242)
 *   subcommand: pub
 *   streams: stderr
 *   command: /path/midge pub -u rabbit -P ******** -t t -m m
 *   secret: 5768317465...
 *   ----
 *   <the child's bytes, exactly as written>
 *
 * `secret` lines carry, hex-encoded, every credential the child was given
 * (the values of -P, --password and --device-key, MIDGE_PASSWORD and
 * MIDGE_DEVICE_KEY from the environment, and password / device-key lines
 * of its --config file), so that a credential a test passes is looked for
 * even when it is missing from tests/support/secrets.h. Hex, so the
 * header itself never holds one in clear; the command line shows them
 * masked.
 *
 * Capturing never fails a test: without the directory, or when a write
 * fails, the output is simply not kept (and the scan finds fewer files).
 * The functions are safe to call from any thread, each file from one.
 */
#ifndef MIDGE_TEST_OUTPUT_H
#define MIDGE_TEST_OUTPUT_H

#include <stddef.h>

#define TEST_OUTPUT_MAGIC "midge-test-output 1\n"
#define TEST_OUTPUT_END "----\n"

/* A new capture file for a child started with argv (NULL-terminated;
 * argv[1], when present, names the subcommand). `streams` says what the
 * file receives: "stdout", "stderr" or "stdout+stderr". Returns a
 * descriptor (close-on-exec) or -1. */
int test_output_open(char *const argv[], const char *streams);

/* Append bytes to a file from test_output_open (fd < 0: nothing). */
void test_output_write(int fd, const void *data, size_t len);

/* Append everything `src` holds from offset 0 on (an unlinked log file a
 * child wrote), then close `fd`. */
void test_output_copy_and_close(int fd, int src);

/* Close a file from test_output_open (fd < 0: nothing). */
void test_output_close(int fd);

#endif /* MIDGE_TEST_OUTPUT_H */
