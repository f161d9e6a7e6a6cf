/*
 * midge CLI: escaping for log and error lines (see escape.h).
 */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The bytes of src into buf, each printable ASCII byte as itself (and,
 * with `backslash`, a backslash doubled), any other as \xNN. An escape is
 * written whole or not at all, and room for "..." and the NUL is kept
 * while bytes remain. */
static const char *escape_into(char *buf, size_t cap, const uint8_t *src, size_t len,
                               size_t limit, bool backslash)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    size_t i = 0;

    for (; i < len && i < limit; i++) {
        uint8_t c = src[i];
        char esc[4] = {'\\', (char)c, 0, 0};
        size_t k = 2;
        if (c >= 0x20 && c < 0x7f && (c != '\\' || !backslash)) {
            esc[0] = (char)c;
            k = 1;
        } else if (c != '\\') {
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 0x0f];
            k = 4;
        }
        if (n + k + 4 > cap)
            break;
        memcpy(buf + n, esc, k);
        n += k;
    }
    if (i < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

const char *cli_escape(char *buf, size_t cap, const void *src, size_t len, size_t limit)
{
    return escape_into(buf, cap, src, len, limit, true);
}

const char *cli_escape_line(char *buf, size_t cap, const char *line)
{
    size_t len = strlen(line);

    return escape_into(buf, cap, (const uint8_t *)line, len, len, false);
}
