/*
 * The firmware on QEMU's mps2-an385 (see qemu_board.h).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qemu_board.h"

#define QEMU_POLL_MS 20

static void qemu_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static long long qemu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The whole file, NUL-terminated (caller frees); NULL when unreadable. */
static char *qemu_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

int qemu_board_start(qemu_board *b, uint16_t broker_port, const char *args)
{
    char nic[256];

    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/midge-board-XXXXXX");
    if (mkdtemp(b->dir) == NULL)
        return -1;
    snprintf(b->console, sizeof b->console, "%s/console.log", b->dir);
    snprintf(b->trace, sizeof b->trace, "%s/trace.log", b->dir);
    if (broker_port != 0)
        snprintf(nic, sizeof nic,
                 "user,model=lan9118,restrict=on,"
                 "guestfwd=tcp:10.0.2.100:1883-cmd:socat - TCP:127.0.0.1:%u",
                 (unsigned)broker_port);
    else
        snprintf(nic, sizeof nic, "user,model=lan9118,restrict=on");
    char trace_arg[QEMU_BOARD_PATH_MAX + 32];
    snprintf(trace_arg, sizeof trace_arg, "mps2_fpgaio_write,file=%s", b->trace);

    b->pid = fork();
    if (b->pid < 0)
        return -1;
    if (b->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int out = open(b->console, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_RDONLY);
        if (out < 0 || null < 0)
            _exit(126);
        dup2(null, 0);
        dup2(out, 1);
        dup2(out, 2);
        char *argv[] = {
            "qemu-system-arm", "-M", "mps2-an385", "-nographic", "-monitor", "none",
            "-serial", "none", "-semihosting-config", "enable=on,target=native",
            "-kernel", MIDGE_FIRMWARE_ELF, "-nic", nic, "-trace", trace_arg,
            "-append", (char *)args, NULL,
        };
        execvp(argv[0], argv);
        _exit(127);
    }
    return 0;
}

int qemu_board_console_count(const qemu_board *b, const char *needle)
{
    char *text = qemu_slurp(b->console);
    int n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(text);
    return n;
}

bool qemu_board_wait_console(qemu_board *b, const char *needle, int count, int timeout_ms)
{
    long long end = qemu_now_ms() + timeout_ms;
    do {
        if (qemu_board_console_count(b, needle) >= count)
            return true;
        qemu_sleep_ms(QEMU_POLL_MS);
    } while (qemu_now_ms() < end);
    return false;
}

int qemu_board_led_writes(const qemu_board *b, uint32_t *values, int cap)
{
    char *text = qemu_slurp(b->trace);
    int n = 0;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        unsigned long offset, data;
        const char *at = strstr(line, "offset ");
        /* "mps2_fpgaio_write MPS2 FPGAIO write: offset 0x0 data 0x1 size 4",
         * whole lines only (QEMU may be writing the last one). */
        if (next != NULL && at != NULL &&
            sscanf(at, "offset 0x%lx data 0x%lx", &offset, &data) == 2 && offset == 0 &&
            n < cap)
            values[n++] = (uint32_t)data;
        line = next != NULL ? next + 1 : NULL;
    }
    free(text);
    return n;
}

int qemu_board_wait_led_writes(const qemu_board *b, int count, int timeout_ms)
{
    uint32_t values[QEMU_BOARD_LED_WRITES_MAX];
    long long end = qemu_now_ms() + timeout_ms;
    int n;
    do {
        n = qemu_board_led_writes(b, values, QEMU_BOARD_LED_WRITES_MAX);
        if (n >= count)
            return n;
        qemu_sleep_ms(QEMU_POLL_MS);
    } while (qemu_now_ms() < end);
    return n;
}

bool qemu_board_running(qemu_board *b)
{
    if (b->pid <= 0)
        return false;
    if (waitpid(b->pid, &b->status, WNOHANG) == b->pid) {
        b->pid = 0;
        return false;
    }
    return true;
}

int qemu_board_wait_exit(qemu_board *b, int timeout_ms)
{
    long long end = qemu_now_ms() + timeout_ms;
    while (qemu_board_running(b) && qemu_now_ms() < end)
        qemu_sleep_ms(QEMU_POLL_MS);
    if (b->pid != 0 || !WIFEXITED(b->status))
        return -1;
    return WEXITSTATUS(b->status);
}

void qemu_board_kill(qemu_board *b)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGKILL);
    waitpid(b->pid, &b->status, 0);
    b->pid = 0;
}

void qemu_board_stop(qemu_board *b, bool show)
{
    qemu_board_kill(b);
    if (b->dir[0] == '\0')
        return;
    if (show) {
        char *text = qemu_slurp(b->console);
        fprintf(stderr, "---- board console\n%s---- end of board console\n",
                text ? text : "(none)\n");
        free(text);
    }
    unlink(b->console);
    unlink(b->trace);
    rmdir(b->dir);
    b->dir[0] = '\0';
}
