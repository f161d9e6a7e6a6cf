/*
 * midge CLI: random bytes and version 4 UUIDs (see uuid.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include "uuid.h"

/* /dev/urandom for kernels older than getrandom() (Linux 3.17). */
static bool cli_random_file(uint8_t *p, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            close(fd);
            return false;
        }
        p += got;
        n -= (size_t)got;
    }
    close(fd);
    return true;
}

bool cli_random(void *buf, size_t n)
{
    uint8_t *p = buf;

    /* Requests up to 256 bytes are never cut short once the pool is
     * ready, but a signal may still interrupt the wait for it. */
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno == ENOSYS && cli_random_file(p, n);
        p += got;
        n -= (size_t)got;
    }
    return true;
}

void cli_uuid_format(uint8_t raw[16], char out[CLI_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    /* RFC 4122 section 4.4: the high nibble of byte 6 is the version (4),
     * the top two bits of byte 8 the variant (binary 10). */
    raw[6] = (uint8_t)((raw[6] & 0x0f) | 0x40);
    raw[8] = (uint8_t)((raw[8] & 0x3f) | 0x80);
    for (size_t i = 0; i < 16; i++) {
        /* Dashes after the 4th, 6th, 8th and 10th byte: 8-4-4-4-12. */
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[raw[i] >> 4];
        out[o++] = hex[raw[i] & 0x0f];
    }
    out[o] = '\0';
}

bool cli_uuid_new(char out[CLI_UUID_LEN + 1])
{
    uint8_t raw[16];

    if (!cli_random(raw, sizeof raw))
        return false;
    cli_uuid_format(raw, out);
    return true;
}
