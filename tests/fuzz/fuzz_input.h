/*
 * Helpers shared by the libFuzzer targets: a cursor that hands out the
 * fuzzer's bytes as small integers and byte runs, and an abort that says
 * which invariant broke.
 *
 * Every read succeeds: past the end of the input the cursor yields zeros and
 * empty runs, so a target never needs a length check before deciding what
 * to do next. libFuzzer mutates inputs byte by byte, and a format where a
 * short input is still a meaningful (if boring) one keeps most mutations
 * useful instead of rejected.
 */
#ifndef MIDGE_FUZZ_INPUT_H
#define MIDGE_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry point libFuzzer calls; declared here because the project
 * builds with -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_input {
    const uint8_t *p;
    size_t left;
} fuzz_input;

static inline fuzz_input fuzz_input_make(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    return in;
}

static inline uint8_t fuzz_u8(fuzz_input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_input *in)
{
    uint16_t hi = fuzz_u8(in);
    return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(fuzz_input *in)
{
    uint32_t hi = fuzz_u16(in);
    return hi << 16 | fuzz_u16(in);
}

/* Up to `want` bytes; *n receives how many there really were. The pointer
 * is into the fuzzer's input, which is read-only. */
static inline const uint8_t *fuzz_bytes(fuzz_input *in, size_t want, size_t *n)
{
    const uint8_t *p = in->p;

    *n = want < in->left ? want : in->left;
    in->p += *n;
    in->left -= *n;
    return p;
}

/* A run whose length is the next byte (so 0..255 bytes). */
static inline const uint8_t *fuzz_run8(fuzz_input *in, size_t *n)
{
    return fuzz_bytes(in, fuzz_u8(in), n);
}

/* A broken invariant is a finding: print it where libFuzzer's log shows it
 * and abort, which libFuzzer records as a crash with the input saved. */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#endif /* MIDGE_FUZZ_INPUT_H */
