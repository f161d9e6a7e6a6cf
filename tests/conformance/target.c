/*
 * Starting and ending the client under test (see target.h).
 */
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loopback.h"
#include "test_output.h"

extern char **environ;

/* How long a client may take to exit by itself once the broker has closed
 * the connection (and, for the CLI, its stdin): the library child has
 * nothing left to do; the CLI may flush and disconnect first. */
#define LIB_EXIT_MS 2000
#define CLI_EXIT_MS 1000
#define CLI_TERM_MS 1000

#define CLI_TOPIC_PUBLISH "test/publish"
#define CLI_TOPIC_SUBSCRIBE "test/subscribe"

static void append_option(const char *var, const char *extra)
{
    const char *old = getenv(var);
    char value[512];
    /* Later options win in the sanitizers' parsers, so appending overrides
     * only what this runner needs and keeps the rest of the user's setting. */
    snprintf(value, sizeof value, "%s%s%s", old != NULL ? old : "",
             old != NULL && old[0] != '\0' ? ":" : "", extra);
    setenv(var, value, 1);
}

void target_setup_environment(void)
{
    append_option("ASAN_OPTIONS", "exitcode=86");
    append_option("LSAN_OPTIONS", "exitcode=86");
    append_option("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=86");
}

const char *target_unsupported(target_mode mode, const conf_case *c)
{
    if (mode != TARGET_CLI) {
        return NULL;
    }
    if (c->command != NULL && strcmp(c->command, "unsubscribe") == 0) {
        return "unsubscribe has no CLI equivalent";
    }
    if (!c->clean_session) {
        return "the CLI cases use a clean session only";
    }
    return NULL;
}

static void set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) {
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

static bool make_pipe(int fds[2])
{
    if (pipe(fds) != 0) {
        return false;
    }
    set_cloexec(fds[0]);
    set_cloexec(fds[1]);
    return true;
}

static bool start_lib(target *t, const conf_case *c, uint16_t port, char *why, size_t why_cap)
{
    int report[2];
    int stop[2];
    if (!make_pipe(report)) {
        snprintf(why, why_cap, "pipe: %s", strerror(errno));
        return false;
    }
    if (!make_pipe(stop)) {
        snprintf(why, why_cap, "pipe: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return false;
    }
    /* The child would otherwise flush a copy of the runner's buffered
     * output when it exits. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        close(stop[1]);
        /* The child blocks on `stop` after its client is done, so the broker
         * sees the library close the socket, not the process exit. */
        dup2(stop[0], STDIN_FILENO);
        close(stop[0]);
        client_child_run(c, port, report[1]);
    }
    close(report[1]);
    close(stop[0]);
    if (pid < 0) {
        snprintf(why, why_cap, "fork: %s", strerror(errno));
        close(report[0]);
        close(stop[1]);
        return false;
    }
    t->pid = pid;
    t->report_fd = report[0];
    t->stdin_fd = stop[1];
    return true;
}

/* argv of `midge pub -l` or `midge sub` for this case. */
static void cli_argv(const conf_case *c, const char *port, const char *argv[16])
{
    static const char *qos_digits[] = {"0", "1", "2"};
    bool subscribe = c->command != NULL && strcmp(c->command, "subscribe") == 0;
    int qos = 0;
    if (c->command != NULL && strncmp(c->command, "publish-", 8) == 0) {
        qos = c->command[8] - '0';
        qos = qos >= 0 && qos <= 2 ? qos : 0;
    }
    int n = 0;
    argv[n++] = MIDGE_BINARY;
    argv[n++] = subscribe ? "sub" : "pub";
    argv[n++] = "-h";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = port;
    argv[n++] = "-i";
    argv[n++] = "fuzzish";
    argv[n++] = "-k";
    argv[n++] = "60";
    argv[n++] = "-q";
    argv[n++] = qos_digits[qos];
    argv[n++] = "-t";
    argv[n++] = subscribe ? CLI_TOPIC_SUBSCRIBE : CLI_TOPIC_PUBLISH;
    if (!subscribe) {
        /* -l: one message per stdin line, connection held open until EOF,
         * which is what lets a case run after the command. */
        argv[n++] = "-l";
    }
    argv[n] = NULL;
}

static int make_log_file(void)
{
    char path[] = "/tmp/midge-conformance-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        set_cloexec(fd);
    }
    return fd;
}

static bool spawn_cli(target *t, const char *argv[], int stdin_read, char *why, size_t why_cap)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdin_read, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, t->log_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, t->log_fd, STDERR_FILENO);
    int rc = posix_spawn(&t->pid, MIDGE_BINARY, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        snprintf(why, why_cap, "cannot start %s: %s", MIDGE_BINARY, strerror(rc));
        return false;
    }
    return true;
}

static bool start_cli(target *t, const conf_case *c, uint16_t port, char *why, size_t why_cap)
{
    char port_text[8];
    const char *argv[16];
    int in[2];
    snprintf(port_text, sizeof port_text, "%u", (unsigned)port);
    cli_argv(c, port_text, argv);
    if (access(MIDGE_BINARY, X_OK) != 0) {
        snprintf(why, why_cap, "%s is not built", MIDGE_BINARY);
        return false;
    }
    t->log_fd = make_log_file();
    if (t->log_fd < 0 || !make_pipe(in)) {
        snprintf(why, why_cap, "cannot set up the CLI's stdio: %s", strerror(errno));
        return false;
    }
    bool ok = spawn_cli(t, argv, in[0], why, why_cap);
    if (ok)
        t->capture_fd = test_output_open((char *const *)argv, "stdout+stderr");
    close(in[0]);
    t->stdin_fd = in[1];
    if (ok && c->command != NULL && strncmp(c->command, "publish-", 8) == 0) {
        /* The pipe buffer holds the line until the CLI reads it. */
        static const char line[] = "message\n";
        ok = write(t->stdin_fd, line, sizeof line - 1) == (ssize_t)(sizeof line - 1);
        if (!ok) {
            snprintf(why, why_cap, "cannot write the CLI's stdin: %s", strerror(errno));
        }
    }
    return ok;
}

bool target_start(target *t, target_mode mode, const conf_case *c, uint16_t port, char *why,
                  size_t why_cap)
{
    t->mode = mode;
    t->pid = -1;
    t->report_fd = -1;
    t->stdin_fd = -1;
    t->log_fd = -1;
    t->capture_fd = -1;
    return mode == TARGET_LIB ? start_lib(t, c, port, why, why_cap)
                              : start_cli(t, c, port, why, why_cap);
}

bool target_running(const target *t)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (t->pid <= 0) {
        return false;
    }
    /* WNOWAIT: only look; target_finish() collects the status. */
    if (waitid(P_PID, (id_t)t->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        return false;
    }
    return info.si_pid == 0;
}

/* waitpid with a deadline. Polled at a 2 ms step: there is no portable
 * waitpid timeout, and the step only bounds how late an exit is noticed. */
static bool wait_exit(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = loopback_now_ms() + timeout_ms;
    const struct timespec step = {0, 2 * 1000 * 1000};
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            return true;
        }
        if (r < 0 && errno != EINTR) {
            *status = 0;
            return true;
        }
        if (loopback_now_ms() >= deadline) {
            return false;
        }
        nanosleep(&step, NULL);
    }
}

static void read_detail(target *t, char *detail, size_t cap)
{
    size_t len = 0;
    detail[0] = '\0';
    if (cap < 2) {
        return;
    }
    if (t->mode == TARGET_LIB) {
        ssize_t n;
        while (len < cap - 1 && (n = read(t->report_fd, detail + len, cap - 1 - len)) > 0) {
            len += (size_t)n;
        }
    } else {
        ssize_t n = pread(t->log_fd, detail, cap - 1, 0);
        len = n > 0 ? (size_t)n : 0;
    }
    detail[len] = '\0';
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* The verdict from how the process ended. */
static bool judge_status(const target *t, int status, bool termed, bool killed, char *why,
                         size_t why_cap)
{
    if (killed) {
        snprintf(why, why_cap, "the client hung: still running after %s",
                 t->mode == TARGET_LIB ? "the connection closed (killed)"
                                       : "stdin EOF, connection close and SIGTERM (killed)");
        return false;
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (termed && sig == SIGTERM) {
            return true;
        }
        snprintf(why, why_cap, "the client crashed: signal %d (%s)", sig, strsignal(sig));
        return false;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    if (code == TARGET_SANITIZER_EXIT) {
        snprintf(why, why_cap, "sanitizer report (exit status %d)", code);
        return false;
    }
    if (t->mode == TARGET_LIB && code == TARGET_SETUP_EXIT) {
        snprintf(why, why_cap, "the client could not be set up");
        return false;
    }
    if (t->mode == TARGET_LIB && code != 0) {
        snprintf(why, why_cap, "the client process exited with status %d", code);
        return false;
    }
    return true;
}

bool target_finish(target *t, char *why, size_t why_cap, char *detail, size_t detail_cap)
{
    int status = 0;
    bool termed = false;
    bool killed = false;
    /* EOF on stdin: the CLI's cue to finish, the library child's to exit. */
    close_fd(&t->stdin_fd);
    if (t->pid > 0) {
        bool lib = t->mode == TARGET_LIB;
        bool exited = wait_exit(t->pid, lib ? LIB_EXIT_MS : CLI_EXIT_MS, &status);
        if (!exited && !lib) {
            kill(t->pid, SIGTERM);
            termed = true;
            exited = wait_exit(t->pid, CLI_TERM_MS, &status);
        }
        if (!exited) {
            kill(t->pid, SIGKILL);
            killed = true;
            waitpid(t->pid, &status, 0);
        }
    }
    read_detail(t, detail, detail_cap);
    /* The whole log, not the detail's first bytes. */
    test_output_copy_and_close(t->capture_fd, t->log_fd);
    t->capture_fd = -1;
    close_fd(&t->report_fd);
    close_fd(&t->log_fd);
    return judge_status(t, status, termed, killed, why, why_cap);
}
