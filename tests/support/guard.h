/*
 * Over-read guard for decoder tests.
 *
 * A guard buffer is a run of readable pages followed by one PROT_NONE page.
 * guard_place() copies test input so that its last byte is the last readable
 * byte: reading even one byte past the input faults at once, under any
 * sanitizer or none (the technique picohttpparser's tests use).
 */
#ifndef MIDGE_TEST_GUARD_H
#define MIDGE_TEST_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct guard_buf {
    uint8_t *map;    /* start of the whole mapping */
    size_t map_len;  /* readable pages + the guard page */
    size_t capacity; /* bytes that fit before the guard page */
} guard_buf;

/* Map room for inputs up to `capacity` bytes. Returns 0, or -1 on failure. */
int guard_init(guard_buf *g, size_t capacity);

/* Copy `len` bytes (len <= capacity) to end right before the guard page and
 * return where they start. Valid until the next guard_place or guard_release.
 * With len 0 the returned pointer is the guard page itself: not readable. */
const uint8_t *guard_place(guard_buf *g, const void *src, size_t len);

/* A writable region of `len` bytes (len <= capacity) ending right before
 * the guard page, for checking that an encoder never writes past `cap`. */
uint8_t *guard_tail(guard_buf *g, size_t len);

/* Unmap. Safe to call on a zeroed or released guard_buf. */
void guard_release(guard_buf *g);

#endif /* MIDGE_TEST_GUARD_H */
