/*
 * The payload notation of the conformance case files (see
 * ../shared/conformance/README.md): space-separated tokens turned into the
 * bytes a fake broker sends or expects.
 *
 *   40 00FF      plain hex, an even number of digits
 *   rN vN        N as a variable byte integer, NOT limited to 4 bytes
 *   iN           N as one byte
 *   mN sN kN HN  N as a big-endian 16-bit number
 *   LN           N as a big-endian 32-bit number
 *   'text'       the bytes between the quotes (spaces allowed)
 *
 * N is decimal. Pure functions over caller buffers.
 */
#ifndef CONFORMANCE_NOTATION_H
#define CONFORMANCE_NOTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest encoding notation_put_varint() writes (a 64-bit value). */
#define NOTATION_VARINT_MAX 10

/* Output room that always suffices for `len` characters of notation: the
 * densest token is "L0" (4 bytes from 3 characters with its separator). */
#define NOTATION_OUTPUT_BOUND(len) (2 * (len) + 8)

/* Parse `len` characters of `text` into `out` (room for `cap` bytes).
 * Returns true and sets *out_len; or false with a message in `err` naming
 * the offending token. */
bool notation_parse(const char *text, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                    char *err, size_t err_cap);

/* Write `value` as a variable byte integer with no 4-byte limit: values of
 * 2^28 and above take 5 or more bytes, which is how the cases build
 * deliberately malformed remaining lengths. Returns the byte count. */
size_t notation_put_varint(uint8_t *out, uint64_t value);

#endif /* CONFORMANCE_NOTATION_H */
