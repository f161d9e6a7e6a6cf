/*
 * The LED state file: see led_state.h. Written only when the LED changes,
 * so the cost of fsync (milliseconds on flash) is paid per change of the
 * lamp, never per command that leaves it as it was.
 */
#include "led_state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "midge/device.h"

/* "off\n" and a little slack for a hand-written file ("on\r\n", "off  \n"). */
#define LED_STATE_MAX 16

enum cli_led_state cli_led_state_load(const char *path, bool *on, char *err, size_t errcap)
{
    char buf[LED_STATE_MAX + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return CLI_LED_STATE_ABSENT;
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CLI_LED_STATE_BAD;
    }
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(saved));
        return CLI_LED_STATE_BAD;
    }
    /* One read of one byte more than the longest valid file tells a file
     * that is too long from one that fits. */
    size_t len = (size_t)n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    if ((size_t)n > LED_STATE_MAX || !midge_device_led_parse(buf, len, on)) {
        snprintf(err, errcap, "%s: expected \"on\" or \"off\"", path);
        return CLI_LED_STATE_BAD;
    }
    return CLI_LED_STATE_READ;
}

/* fsync the directory holding path, so the rename itself survives a power
 * cut (the file's own fsync does not cover its directory entry). */
static void sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t len = (size_t)(slash - path);
        if (len >= sizeof dir)
            return;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    fsync(fd);
    close(fd);
}

bool cli_led_state_save(const char *path, bool on, char *err, size_t errcap)
{
    char tmp[PATH_MAX];
    const char *text = on ? "on\n" : "off\n";
    size_t len = strlen(text);

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errcap, "%s: path too long", path);
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    ssize_t n;
    do
        n = write(fd, text, len);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len || fsync(fd) != 0) {
        int saved = n >= 0 && n != (ssize_t)len ? ENOSPC : errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        goto fail;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        goto fail;
    }
    /* The new state is in place; making its directory entry durable is
     * the best that can be done, and a failure there loses nothing now. */
    sync_parent(path);
    return true;

fail:
    snprintf(err, errcap, "cannot save the LED state to %s: %s", path, strerror(errno));
    return false;
}
