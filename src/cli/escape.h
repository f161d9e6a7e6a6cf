/*
 * midge CLI: untrusted bytes made safe for a log line or an error line.
 *
 * Topics and payloads come from the broker, and from whoever published to
 * it: printed as they came, an ESC would drive the reader's terminal and a
 * newline would forge a log line of its own. Every line midge writes to
 * stderr (log.c, the -d trace, cli_error) therefore shows only printable
 * ASCII, each other byte as \xNN, as the device layer's own log lines do.
 * The messages `midge sub` prints on stdout are data, and stay raw.
 */
#ifndef MIDGE_CLI_ESCAPE_H
#define MIDGE_CLI_ESCAPE_H

#include <stddef.h>

/* How much of a topic an error line echoes: enough to recognise it. */
#define CLI_ESCAPE_SHOWN 64

/* The first `limit` bytes of src[0, len) into buf as printable ASCII: a
 * byte outside 0x20..0x7e becomes \xNN, a backslash "\\", so the text says
 * exactly which bytes came. "..." ends it when bytes were left out (past
 * `limit`, or past what buf holds: 4 * limit + 4 bytes hold everything).
 * Always NUL-terminated; cap must be at least 4. Returns buf. */
const char *cli_escape(char *buf, size_t cap, const void *src, size_t len, size_t limit);

/* A whole line (NUL-terminated) into buf the same way, except that a
 * backslash stays as it is: the line may hold text escaped already (the
 * device layer's log lines), which must not be escaped twice. */
const char *cli_escape_line(char *buf, size_t cap, const char *line);

#endif /* MIDGE_CLI_ESCAPE_H */
