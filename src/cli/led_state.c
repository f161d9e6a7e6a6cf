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
#include <sys/stat.h>
#include <unistd.h>

#include "file_kind.h"

/* The first line with its line ending: "off\n" and a little slack for a
 * hand-written file ("on\r\n", "off  \n"). */
#define LED_STATE_LINE_MAX 16
/* A record as written: a space and 16 hex digits. */
#define LED_STATE_RECORD_LEN 17
/* The second line as written: "ids", the records, '\n'. */
#define LED_STATE_IDS_LINE_MAX (3 + LED_STATE_RECORD_LEN * CLI_LED_STATE_IDS + 1)
/* The whole file, with the same slack again. */
#define LED_STATE_MAX (LED_STATE_LINE_MAX + LED_STATE_IDS_LINE_MAX + LED_STATE_LINE_MAX)

static const char hex_digits[] = "0123456789abcdef";

/* Exactly 16 lower-case hex digits at p: the form written, nothing else. */
static bool parse_record(const char *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;

    if (len != LED_STATE_RECORD_LEN - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        const char *d = memchr(hex_digits, p[i], 16);
        if (d == NULL)
            return false;
        x = x << 4 | (uint64_t)(d - hex_digits);
    }
    *v = x;
    return true;
}

static bool is_blank(char c)
{
    return c == '\n' || c == '\r' || c == ' ';
}

enum ids_line {
    IDS_OK,
    IDS_MALFORMED,
    IDS_TOO_MANY,
    IDS_EXTRA_LINE
};

/* The part after the first line, its trailing blanks already cut: empty,
 * or "ids" and records each after one or more spaces. */
static enum ids_line parse_ids(const char *p, size_t len, struct cli_led_saved *saved)
{
    saved->id_count = 0;
    if (len == 0)
        return IDS_OK;
    if (memchr(p, '\n', len) != NULL)
        return IDS_EXTRA_LINE;
    if (len < 3 || memcmp(p, "ids", 3) != 0)
        return IDS_MALFORMED;
    size_t i = 3;
    while (i < len) {
        if (p[i] != ' ')
            return IDS_MALFORMED;
        while (i < len && p[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && p[i] != ' ')
            i++;
        if (saved->id_count == CLI_LED_STATE_IDS)
            return IDS_TOO_MANY;
        if (!parse_record(p + start, i - start, &saved->ids[saved->id_count]))
            return IDS_MALFORMED;
        saved->id_count++;
    }
    return IDS_OK;
}

/* Every byte up to cap: a state file is small, but a read may still
 * return less than asked. -1 with errno on failure. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;

    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

enum cli_led_state cli_led_state_load(const char *path, struct cli_led_saved *saved, char *err,
                                      size_t errcap)
{
    char buf[LED_STATE_MAX + 1];
    struct cli_led_saved got;
    struct stat st;
    /* Never through a link, and never blocked on a FIFO put in its place
     * since the start-up check: only a regular file is read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd < 0) {
        if (errno == ENOENT)
            return CLI_LED_STATE_ABSENT;
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return CLI_LED_STATE_BAD;
    }
    const char *bad = fstat(fd, &st) != 0 ? strerror(errno)
                      : S_ISDIR(st.st_mode) ? strerror(EISDIR)
                      : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
    if (bad != NULL) {
        close(fd);
        snprintf(err, errcap, "%s: %s", path, bad);
        return CLI_LED_STATE_BAD;
    }
    /* One byte more than the longest valid file tells a file that is too
     * long from one that fits. */
    ssize_t n = read_all(fd, buf, sizeof buf);
    int saved_errno = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errcap, "%s: %s", path, strerror(saved_errno));
        return CLI_LED_STATE_BAD;
    }
    if ((size_t)n > LED_STATE_MAX) {
        snprintf(err, errcap, "%s: longer than %d bytes", path, (int)LED_STATE_MAX);
        return CLI_LED_STATE_BAD;
    }

    /* The first line, as a file of one word always was. */
    size_t len = (size_t)n;
    const char *nl = memchr(buf, '\n', len);
    size_t line = nl != NULL ? (size_t)(nl - buf) + 1 : len;
    size_t word = line;
    while (word > 0 && is_blank(buf[word - 1]))
        word--;
    if (line > LED_STATE_LINE_MAX || !midge_device_led_parse(buf, word, &got.on)) {
        snprintf(err, errcap, "%s: expected \"on\" or \"off\"", path);
        return CLI_LED_STATE_BAD;
    }
    while (len > line && is_blank(buf[len - 1]))
        len--;
    /* The first line is whole on its own: a bad ids line costs the ids,
     * never the state. */
    char why[96] = "";
    switch (parse_ids(buf + line, len - line, &got)) {
    case IDS_OK:
        break;
    case IDS_MALFORMED:
        snprintf(why, sizeof why, "expected \"ids\" and 16-digit lower-case hex records on "
                 "the second line");
        break;
    case IDS_TOO_MANY:
        snprintf(why, sizeof why, "more than %d command ids", (int)CLI_LED_STATE_IDS);
        break;
    case IDS_EXTRA_LINE:
        snprintf(why, sizeof why, "more than two lines");
        break;
    }
    if (why[0] != '\0') {
        got.id_count = 0;
        snprintf(err, errcap, "%s: %s; its command ids are ignored", path, why);
    }
    *saved = got;
    return CLI_LED_STATE_READ;
}

/* The file's text into buf (LED_STATE_MAX bytes suffice); its length. */
static size_t format_state(const struct cli_led_saved *saved, char *buf)
{
    size_t count = saved->id_count < CLI_LED_STATE_IDS ? saved->id_count : CLI_LED_STATE_IDS;
    const char *word = saved->on ? "on\n" : "off\n";
    size_t len = strlen(word);

    memcpy(buf, word, len);
    if (count == 0)
        return len;
    memcpy(buf + len, "ids", 3);
    len += 3;
    for (size_t i = 0; i < count; i++) {
        buf[len++] = ' ';
        for (int shift = 60; shift >= 0; shift -= 4)
            buf[len++] = hex_digits[(saved->ids[i] >> shift) & 0xfu];
    }
    buf[len++] = '\n';
    return len;
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

bool cli_led_state_check(const char *path, char *err, size_t errcap)
{
    struct stat st;

    /* lstat: a link is refused as a link, whatever it points at. Any
     * other failure (no such file, no search permission) is the load's
     * to report. */
    if (lstat(path, &st) != 0 || S_ISREG(st.st_mode))
        return true;
    snprintf(err, errcap, "%s is %s, not a regular file", path, cli_file_kind(st.st_mode));
    return false;
}

/*
 * The temporary beside the state file, created for this save alone:
 * O_EXCL and O_NOFOLLOW, so that nothing planted under its name (a link
 * to another file, in a directory others may write) is ever opened. A
 * regular file left there by a crash during an earlier save is removed
 * and the name tried once more; anything else there fails the save.
 */
static int open_temporary(const char *tmp)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    struct stat st;
    int fd = open(tmp, flags, 0600);

    if (fd >= 0 || errno != EEXIST)
        return fd;
    if (lstat(tmp, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EEXIST;
        return -1;
    }
    /* unlink removes a name, never what a link names: should the file
     * have been swapped for a link since the lstat, only that link goes. */
    if (unlink(tmp) != 0)
        return -1;
    return open(tmp, flags, 0600);
}

bool cli_led_state_save(const char *path, const struct cli_led_saved *saved, char *err,
                        size_t errcap)
{
    char tmp[PATH_MAX];
    char text[LED_STATE_MAX];
    size_t len = format_state(saved, text);

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errcap, "%s: path too long", path);
        return false;
    }
    int fd = open_temporary(tmp);
    if (fd < 0 && errno == EEXIST) {
        snprintf(err, errcap, "cannot save the LED state to %s: %s is in the way (not a "
                 "regular file; remove it)", path, tmp);
        return false;
    }
    if (fd < 0)
        goto fail;
    ssize_t n;
    do
        n = write(fd, text, len);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len || fsync(fd) != 0) {
        int saved_errno = n >= 0 && n != (ssize_t)len ? ENOSPC : errno;
        close(fd);
        unlink(tmp);
        errno = saved_errno;
        goto fail;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int saved_errno = errno;
        unlink(tmp);
        errno = saved_errno;
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
