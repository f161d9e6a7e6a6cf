/*
 * Reading `midge bench --json` in tests: the whole file, and the number
 * after a key (its first occurrence). Header-only; needs cmocka.h first.
 */
#ifndef MIDGE_TEST_BENCH_JSON_H
#define MIDGE_TEST_BENCH_JSON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, NUL-terminated, in a static buffer. */
static inline const char *bench_json_read(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The number after "key": in the JSON text; fails the test without it. */
static inline double bench_json_number(const char *json, const char *key)
{
    char pattern[64];

    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    if (at == NULL)
        fprintf(stderr, "no \"%s\" in:\n%s\n", key, json);
    assert_non_null(at);
    return strtod(at + strlen(pattern), NULL);
}

#endif /* MIDGE_TEST_BENCH_JSON_H */
