/*
 * midge sub: how a message is printed. The default and -v lines, and -F,
 * mosquitto_sub 2.0.11's format strings (man mosquitto_sub, "OUTPUT
 * FORMAT"), byte for byte:
 *
 *   %t topic  %p payload  %q QoS  %r retain  %l payload length
 *   %m message id  %x %X payload in hex  %I ISO 8601 time  %U Unix time
 *   with nanoseconds  %j %J the message as JSON (payload as a string, or
 *   as the JSON it is)  %% a '%'
 *   flags, width and precision: %-10t, %05l, %.3t, as in printf
 *   @X the time through strftime's %X, @N nanoseconds, @@ a '@'
 *   \n \t \r \v \a \e \0 \\ escapes
 *
 * MQTT 5 properties (%A %C %D %E %F %P %R %S) are never present on an
 * MQTT 3.1.1 connection: they print as mosquitto prints an absent one.
 */
#ifndef MIDGE_CLI_SUB_FORMAT_H
#define MIDGE_CLI_SUB_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "midge/codec.h"

/* How to print: the options that shape a line. */
struct sub_print {
    const char *format; /* -F; NULL = payload, or "topic payload" with -v */
    bool verbose;       /* -v */
    bool eol;           /* a newline after each message (not -N) */
    bool pretty;        /* --pretty: %j and %J indented */
    const char *prog;   /* prefix of the one error line %J may print */
};

/* Check a -F string as mosquitto_sub does before connecting. false with
 * the reason in why ("invalid format specifier 'k'"). */
bool sub_format_check(const char *format, char *why, size_t cap);

/* Print one message to `out`. A %J whose payload is not JSON prints one
 * line on stderr and nothing in its place, as mosquitto_sub does. */
void sub_print_message(FILE *out, const struct sub_print *p, const midge_publish *msg);

/* %J's half: the payload re-printed as cJSON 1.7.15 would (mosquitto_sub
 * links it): minified, or indented with tabs from `depth` on. Appends to
 * *buf (heap, grown; *len and *cap follow). false when the payload is not
 * one JSON value (or out of memory); *buf is then left as it was. */
bool sub_json_reprint(char **buf, size_t *len, size_t *cap, const uint8_t *json, size_t json_len,
                      bool pretty, unsigned depth);

/* A JSON string's contents as cJSON prints them (escapes for '"', '\\'
 * and control bytes; other bytes as they are), up to the first NUL. */
bool sub_json_put_string(char **buf, size_t *len, size_t *cap, const uint8_t *s, size_t n);

/* Text appended as it is (JSON punctuation, numbers). */
bool sub_json_put_raw(char **buf, size_t *len, size_t *cap, const char *text);

#endif /* MIDGE_CLI_SUB_FORMAT_H */
