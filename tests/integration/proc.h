/*
 * Run a program with its stdin fed from a string and its stdout and stderr
 * captured through pipes, every wait bounded. Header-only, for the CLI tests.
 * A copy of everything read also goes to the secrets scan's capture files
 * (test_output.h), beyond PROC_OUT_MAX too.
 */
#ifndef MIDGE_TEST_PROC_H
#define MIDGE_TEST_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_output.h"

#define PROC_OUT_MAX 65536

typedef struct proc {
    pid_t pid;
    int out_fd; /* -1 once at EOF */
    int err_fd;
    char out[PROC_OUT_MAX + 1]; /* always NUL-terminated */
    size_t out_len;
    char err[PROC_OUT_MAX + 1];
    size_t err_len;
    bool exited;
    bool timed_out; /* killed by proc_wait */
    int status;     /* from waitpid, valid once exited */
    int log_out;    /* capture files of stdout and stderr, -1 = none */
    int log_err;
} proc;

static inline long long proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start argv[0] (a path) with argv. stdin_data NULL = /dev/null. Returns 0. */
static inline int proc_start(proc *p, char *const argv[], const char *stdin_data)
{
    int in[2], out[2], err[2];
    memset(p, 0, sizeof *p);
    p->out_fd = p->err_fd = -1;
    p->log_out = p->log_err = -1;
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0)
        return -1;
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        /* A test that fails half-way must not leave its subscriber running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (stdin_data == NULL) {
            int null = open("/dev/null", O_RDONLY);
            dup2(null, 0);
        } else {
            dup2(in[0], 0);
        }
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(126);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    /* Apart, so that the scan can tell `midge token`'s stdout (a token, on
     * purpose) from its stderr. */
    p->log_out = test_output_open(argv, "stdout");
    p->log_err = test_output_open(argv, "stderr");
    if (stdin_data != NULL) {
        /* Test inputs are far below the pipe's capacity: this never blocks. */
        size_t len = strlen(stdin_data);
        if (write(in[1], stdin_data, len) != (ssize_t)len)
            fprintf(stderr, "proc: short write to stdin\n");
    }
    close(in[1]);
    p->out_fd = out[0];
    p->err_fd = err[0];
    return 0;
}

static inline void proc_read_into(int *fd, char *buf, size_t *len, int log_fd)
{
    char scratch[4096];
    ssize_t n;
    bool kept = *len < PROC_OUT_MAX;
    if (kept)
        n = read(*fd, buf + *len, PROC_OUT_MAX - *len);
    else
        n = read(*fd, scratch, sizeof scratch); /* output beyond the cap is dropped */
    if (n > 0)
        test_output_write(log_fd, kept ? buf + *len : scratch, (size_t)n);
    if (n > 0 && kept) {
        *len += (size_t)n;
        buf[*len] = '\0';
    } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
}

static inline void proc_check_exit(proc *p)
{
    if (!p->exited && waitpid(p->pid, &p->status, WNOHANG) == p->pid)
        p->exited = true;
}

/* Collect output for up to ms milliseconds (less when everything is done). */
static inline void proc_pump(proc *p, int ms)
{
    long long deadline = proc_now_ms() + ms;
    for (;;) {
        struct pollfd f[2];
        nfds_t n = 0;
        long long left = deadline - proc_now_ms();
        if (p->out_fd >= 0) {
            f[n].fd = p->out_fd;
            f[n].events = POLLIN;
            f[n].revents = 0;
            n++;
        }
        if (p->err_fd >= 0) {
            f[n].fd = p->err_fd;
            f[n].events = POLLIN;
            f[n].revents = 0;
            n++;
        }
        proc_check_exit(p);
        if ((n == 0 && p->exited) || left <= 0)
            return;
        if (n == 0) {
            poll(NULL, 0, left < 10 ? (int)left : 10);
            continue;
        }
        if (poll(f, n, left < 50 ? (int)left : 50) <= 0)
            continue;
        for (nfds_t i = 0; i < n; i++) {
            if (f[i].revents == 0)
                continue;
            if (f[i].fd == p->out_fd)
                proc_read_into(&p->out_fd, p->out, &p->out_len, p->log_out);
            else
                proc_read_into(&p->err_fd, p->err, &p->err_len, p->log_err);
        }
    }
}

static inline void proc_close_fds(proc *p)
{
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    test_output_close(p->log_out);
    test_output_close(p->log_err);
    p->log_out = p->log_err = -1;
}

/* Wait for exit and EOF on both pipes; SIGKILL after timeout_ms. */
static inline void proc_wait(proc *p, int timeout_ms)
{
    proc_pump(p, timeout_ms);
    if (!p->exited) {
        p->timed_out = true;
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &p->status, 0); /* SIGKILL cannot be ignored */
        p->exited = true;
    }
    proc_pump(p, 200); /* what is left in the pipes */
    proc_close_fds(p);
}

/* SIGTERM, then SIGKILL if it does not exit within 3 s. */
static inline void proc_stop(proc *p)
{
    proc_check_exit(p);
    if (!p->exited)
        kill(p->pid, SIGTERM);
    proc_wait(p, 3000);
}

static inline void proc_run(proc *p, char *const argv[], const char *stdin_data, int timeout_ms)
{
    if (proc_start(p, argv, stdin_data) != 0) {
        p->exited = true;
        p->status = -1;
        return;
    }
    proc_wait(p, timeout_ms);
}

/* Exit code, or -1 when killed by a signal (or not started). */
static inline int proc_exit_code(const proc *p)
{
    if (!p->exited || p->status == -1 || !WIFEXITED(p->status))
        return -1;
    return WEXITSTATUS(p->status);
}

static inline int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Print what a finished process said, for a failing test's diagnosis. */
static inline void proc_dump(const proc *p, const char *what)
{
    fprintf(stderr, "---- %s: exit %d%s ----\nstdout:\n%s\nstderr:\n%s\n----\n", what,
            proc_exit_code(p), p->timed_out ? " (timed out)" : "", p->out, p->err);
}

#endif /* MIDGE_TEST_PROC_H */
