/*
 * `midge device` as a child process, its log parsed as it comes (see
 * device_proc.h). The log's line format is cli/log.c's:
 *   "<UTC stamp> <level padded to 5> <message>"
 * and the messages matched here are those of cli/cmd_device.c and the
 * device layer (src/device/handle.c).
 */
#include "device_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault_proxy.h"
#include "test_output.h"

#define ARGV_MAX 32
#define STOP_WAIT_MS 5000
/* The reader stops by itself after this long even if the pipe never
 * closes (it always does once the child is reaped). */
#define READER_MAX_MS (2LL * 60 * 60 * 1000)
#define READER_POLL_MS 100

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void add_event(device_proc *d, enum device_event kind, long long now)
{
    unsigned long n = d->event_count[kind]++;
    if (n < DEVICE_PROC_MAX_EVENTS)
        d->events[kind][n] = now;
}

/* The index of a test command id ("/cmd/request/c00042" -> 42), or -1. */
static long command_index(const char *msg)
{
    const char *at = strstr(msg, "/cmd/request/c");
    char *end;
    if (at == NULL)
        return -1;
    at += strlen("/cmd/request/c");
    long idx = strtol(at, &end, 10);
    if (end == at || idx < 0 || idx >= DEVICE_PROC_MAX_CMDS)
        return -1;
    return idx;
}

static void keep_tail(device_proc *d, const char *line, size_t len)
{
    for (size_t i = 0; i <= len; i++) {
        d->tail[d->tail_head] = i < len ? line[i] : '\n';
        d->tail_head = (d->tail_head + 1) % DEVICE_PROC_TAIL;
        if (d->tail_head == 0)
            d->tail_wrapped = true;
    }
}

/* One complete log line (NUL-terminated, no newline), under the lock. */
static void parse_line(device_proc *d, const char *line, long long now)
{
    const char *p = strchr(line, ' ');
    const char *msg;
    char level[8] = "";
    long idx;

    keep_tail(d, line, strlen(line));
    if (p == NULL)
        return;
    while (*p == ' ')
        p++;
    msg = strchr(p, ' ');
    if (msg == NULL)
        return;
    snprintf(level, sizeof level, "%.*s", (int)(msg - p < 7 ? msg - p : 7), p);
    while (*msg == ' ')
        msg++;

    if (starts_with(msg, "command \"")) {
        idx = command_index(msg);
        if (idx >= 0)
            d->acts[idx]++;
        else
            d->untracked_acts++;
        d->total_acts++;
    } else if (starts_with(msg, "repeated command \"")) {
        idx = command_index(msg);
        if (idx >= 0)
            d->repeats[idx]++;
        d->total_repeats++;
    } else if (starts_with(msg, "LED on")) {
        d->led = 1;
        d->led_changes++;
    } else if (starts_with(msg, "LED off")) {
        d->led = 0;
        d->led_changes++;
    } else if (starts_with(msg, "connecting to ")) {
        add_event(d, DEVICE_EV_ATTEMPT, now);
    } else if (starts_with(msg, "connected (session present: ")) {
        add_event(d, DEVICE_EV_CONNECTED, now);
        d->since_connack_quiet = true;
        if (strstr(msg, ": no)") != NULL)
            add_event(d, DEVICE_EV_SESSION_NEW, now);
    } else if (starts_with(msg, "reconnecting in ")) {
        add_event(d, DEVICE_EV_BACKOFF, now);
        if (d->since_connack_quiet)
            d->unexplained_drops++;
        d->since_connack_quiet = false;
    } else if (starts_with(msg, "connection lost: ")) {
        add_event(d, DEVICE_EV_LOST, now);
        d->since_connack_quiet = false;
        if (strstr(msg, "1.5 x keepalive") != NULL)
            add_event(d, DEVICE_EV_KEEPALIVE, now);
    } else if (strcmp(level, "error") == 0 && strstr(msg, "no CONNACK in time") != NULL) {
        add_event(d, DEVICE_EV_CONNACK_TIMEOUT, now);
    } else if (strcmp(level, "error") == 0) {
        add_event(d, DEVICE_EV_CONNECT_FAILED, now);
        d->since_connack_quiet = false;
    } else if (starts_with(msg, "inbox full (")) {
        const char *n = strstr(msg, "): ");
        d->inbox_full_lines++;
        if (n != NULL)
            d->inbox_dropped += strtoul(n + 3, NULL, 10);
    } else if (strcmp(level, "warn") == 0) {
        d->warnings++;
        d->since_connack_quiet = false;
    }
}

static void *reader_main(void *arg)
{
    device_proc *d = arg;
    long long start = fault_proxy_now_ms();
    char buf[4096];

    while (fault_proxy_now_ms() - start < READER_MAX_MS) {
        struct pollfd pf = {.fd = d->fd, .events = POLLIN};
        if (poll(&pf, 1, READER_POLL_MS) <= 0)
            continue;
        ssize_t n = read(d->fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        test_output_write(d->log_fd, buf, (size_t)n);
        long long now = fault_proxy_now_ms();
        pthread_mutex_lock(&d->lock);
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                d->line[d->line_len] = '\0';
                parse_line(d, d->line, now);
                d->line_len = 0;
            } else if (d->line_len < sizeof d->line - 1) {
                d->line[d->line_len++] = buf[i];
            }
        }
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_lock(&d->lock);
    d->eof = true;
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int device_proc_start(device_proc *d, const char *const *argv)
{
    char *args[ARGV_MAX + 1];
    int pipefd[2];
    size_t n = 0;

    memset(d, 0, sizeof *d);
    d->fd = -1;
    d->log_fd = -1;
    d->led = -1;
    /* MIDGE_FAULT_MIDGE names another build of the tool (to check that
     * these tests catch a device that misbehaves on purpose). */
    const char *bin = getenv("MIDGE_FAULT_MIDGE");
    args[n++] = (char *)(bin != NULL && bin[0] != '\0' ? bin : MIDGE_BINARY);
    while (argv[n - 1] != NULL && n < ARGV_MAX) {
        args[n] = (char *)argv[n - 1];
        n++;
    }
    args[n] = NULL;
    if (pipe(pipefd) != 0) {
        perror("device_proc: pipe");
        return -1;
    }
    d->pid = fork();
    if (d->pid < 0) {
        perror("device_proc: fork");
        close(pipefd[0]);
        close(pipefd[1]);
        d->pid = 0;
        return -1;
    }
    if (d->pid == 0) {
        /* A test that dies half-way must not leave its device running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(args[0], args);
        _exit(126);
    }
    close(pipefd[1]);
    d->fd = pipefd[0];
    fcntl(d->fd, F_SETFD, FD_CLOEXEC);
    d->log_fd = test_output_open(args, "stdout+stderr");
    pthread_mutex_init(&d->lock, NULL);
    if (pthread_create(&d->reader, NULL, reader_main, d) != 0) {
        fprintf(stderr, "device_proc: cannot start the log reader\n");
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
        close(d->fd);
        test_output_close(d->log_fd);
        d->log_fd = -1;
        pthread_mutex_destroy(&d->lock);
        return -1;
    }
    d->reader_started = true;
    return 0;
}

int device_proc_stop(device_proc *d)
{
    int status = 0;
    int rc = -1;
    bool exited = false;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    for (long long deadline = fault_proxy_now_ms() + STOP_WAIT_MS;
         fault_proxy_now_ms() < deadline;) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            exited = true;
            break;
        }
        sleep_ms(20);
    }
    if (!exited) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0); /* SIGKILL cannot be ignored */
    } else if (WIFEXITED(status)) {
        rc = WEXITSTATUS(status);
    }
    d->pid = 0;
    if (d->reader_started) {
        pthread_join(d->reader, NULL);
        d->reader_started = false;
        pthread_mutex_destroy(&d->lock);
    }
    close(d->fd);
    d->fd = -1;
    test_output_close(d->log_fd);
    d->log_fd = -1;
    return rc;
}

unsigned long device_proc_count(device_proc *d, enum device_event kind)
{
    pthread_mutex_lock(&d->lock);
    unsigned long n = d->event_count[kind];
    pthread_mutex_unlock(&d->lock);
    return n;
}

static long long first_event_locked(const device_proc *d, enum device_event kind,
                                    long long since_ms)
{
    unsigned long n = d->event_count[kind];
    if (n > DEVICE_PROC_MAX_EVENTS)
        n = DEVICE_PROC_MAX_EVENTS;
    for (unsigned long i = 0; i < n; i++) {
        if (d->events[kind][i] >= since_ms)
            return d->events[kind][i];
    }
    return -1;
}

long long device_proc_wait_event(device_proc *d, enum device_event kind, long long since_ms,
                                 int timeout_ms)
{
    long long deadline = fault_proxy_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        long long t = first_event_locked(d, kind, since_ms);
        bool eof = d->eof;
        pthread_mutex_unlock(&d->lock);
        if (t >= 0 || eof || fault_proxy_now_ms() >= deadline)
            return t;
        sleep_ms(10);
    }
}

unsigned long device_proc_count_between(device_proc *d, enum device_event kind,
                                        long long from_ms, long long to_ms)
{
    unsigned long hits = 0;
    pthread_mutex_lock(&d->lock);
    unsigned long n = d->event_count[kind];
    if (n > DEVICE_PROC_MAX_EVENTS)
        n = DEVICE_PROC_MAX_EVENTS;
    for (unsigned long i = 0; i < n; i++)
        hits += d->events[kind][i] >= from_ms && d->events[kind][i] < to_ms;
    pthread_mutex_unlock(&d->lock);
    return hits;
}

long long device_proc_worst_reconnect(device_proc *d)
{
    long long worst = -1;
    pthread_mutex_lock(&d->lock);
    unsigned long nb = d->event_count[DEVICE_EV_BACKOFF];
    unsigned long nc = d->event_count[DEVICE_EV_CONNECTED];
    if (nb > DEVICE_PROC_MAX_EVENTS)
        nb = DEVICE_PROC_MAX_EVENTS;
    if (nc > DEVICE_PROC_MAX_EVENTS)
        nc = DEVICE_PROC_MAX_EVENTS;
    /* Both lists are in time order: walk them together. The first backoff
     * after a CONNACK starts an outage; the next CONNACK ends it. */
    unsigned long c = 0;
    for (unsigned long b = 0; b < nb; b++) {
        long long from = d->events[DEVICE_EV_BACKOFF][b];
        while (c < nc && d->events[DEVICE_EV_CONNECTED][c] < from)
            c++;
        if (c == nc)
            break;
        long long gap = d->events[DEVICE_EV_CONNECTED][c] - from;
        if (gap > worst)
            worst = gap;
        /* Skip the other backoffs of the same outage. */
        while (b + 1 < nb && d->events[DEVICE_EV_BACKOFF][b + 1] <= d->events[DEVICE_EV_CONNECTED][c])
            b++;
    }
    pthread_mutex_unlock(&d->lock);
    return worst;
}

void device_proc_dump(device_proc *d, const char *why)
{
    pthread_mutex_lock(&d->lock);
    fprintf(stderr, "---- midge device log (last %d bytes at most): %s ----\n", DEVICE_PROC_TAIL,
            why);
    if (d->tail_wrapped)
        fwrite(d->tail + d->tail_head, 1, DEVICE_PROC_TAIL - d->tail_head, stderr);
    fwrite(d->tail, 1, d->tail_head, stderr);
    fprintf(stderr, "---- end of device log ----\n");
    pthread_mutex_unlock(&d->lock);
}
