/*
 * mosquitto launcher for the tests (see broker.h). Linux only: it relies on
 * prctl(PR_SET_PDEATHSIG) so that a crashed test never leaves a broker behind.
 */
#include "broker.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MOSQUITTO "/usr/sbin/mosquitto"
#define DEFAULT_MOSQUITTO_PASSWD "/usr/bin/mosquitto_passwd"

/* How long mosquitto may take to accept connections after exec. It usually
 * needs ~0.1 s; a loaded CI machine running sanitizer builds can be slow. */
#define READY_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 5000
#define KILL_TIMEOUT_MS 3000
#define START_ATTEMPTS 5
/* Restart on the same port: the old socket may linger for a moment. */
#define RESTART_ATTEMPTS 20
#define RESTART_RETRY_DELAY_MS 250
/* Upper bound for closing inherited descriptors when close_range is missing. */
#define FD_CLOSE_LIMIT 4096
#define DIR_ENTRY_LIMIT 4096

static void fail_line(const char *fmt, ...)
{
    va_list ap;
    fputs("test_broker: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    /* An interrupted sleep only shortens one step of an already bounded loop. */
    nanosleep(&ts, NULL);
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : fallback;
}

/* Reap `pid` within timeout_ms. Returns 1 when it exited (status in *st),
 * 0 when it still runs. */
static int reap_within(pid_t pid, int timeout_ms, int *st)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 1;
        if (now_ms() >= deadline)
            return 0;
        sleep_ms(10);
    }
}

uint16_t test_broker_free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    uint16_t port = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* the kernel picks an unused ephemeral port */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool test_broker_port_accepts(uint16_t port, int timeout_ms)
{
    struct sockaddr_in a;
    struct pollfd p;
    int err = 0;
    socklen_t elen = sizeof err;
    bool ok = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        p.fd = fd;
        p.events = POLLOUT;
        p.revents = 0;
        if (poll(&p, 1, timeout_ms) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
            ok = true;
    }
    close(fd);
    return ok;
}

static int path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, TEST_BROKER_PATH_MAX, "%s/%s", dir, name);
    return (n > 0 && n < TEST_BROKER_PATH_MAX) ? 0 : -1;
}

/* A root-started mosquitto drops privileges to the `mosquitto` user, which
 * must read the config and password file and may write persistence data. */
static void hand_to_broker_user(const char *path, mode_t mode)
{
    struct passwd *pw;
    chmod(path, mode);
    if (geteuid() != 0)
        return;
    pw = getpwnam("mosquitto");
    if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) != 0)
        fail_line("chown %s: %s (continuing)", path, strerror(errno));
}

static int run_passwd(const test_broker *b, const char *file, const char *user,
                      const char *password)
{
    const char *exe = env_or("MIDGE_TEST_MOSQUITTO_PASSWD", DEFAULT_MOSQUITTO_PASSWD);
    int st = 0;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int log = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        execl(exe, "mosquitto_passwd", "-b", "-c", file, user, password, (char *)NULL);
        _exit(127);
    }
    if (!reap_within(pid, 10000, &st)) {
        kill(pid, SIGKILL);
        reap_within(pid, KILL_TIMEOUT_MS, &st);
        fail_line("%s did not finish", exe);
        return -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail_line("%s -b -c %s failed (status %d)", exe, file, st);
        return -1;
    }
    return 0;
}

static int write_config(test_broker *b, const test_broker_opts *opts)
{
    char passwd_path[TEST_BROKER_PATH_MAX];
    bool auth = opts != NULL && opts->user != NULL;
    FILE *f;

    if (path_join(passwd_path, b->dir, "passwd") != 0)
        return -1;
    if (auth && run_passwd(b, passwd_path, opts->user,
                           opts->password != NULL ? opts->password : "") != 0)
        return -1;
    if (auth)
        hand_to_broker_user(passwd_path, 0644);

    f = fopen(b->conf_path, "w");
    if (f == NULL) {
        fail_line("cannot write %s: %s", b->conf_path, strerror(errno));
        return -1;
    }
    fprintf(f, "listener %u 127.0.0.1\n", (unsigned)b->port);
    fprintf(f, "allow_anonymous %s\n", auth ? "false" : "true");
    if (auth)
        fprintf(f, "password_file %s\n", passwd_path);
    /* Only used when the caller adds "persistence true". */
    fprintf(f, "persistence_location %s/\n", b->dir);
    fprintf(f, "log_dest stderr\nlog_type all\n");
    /* The broker user creates the socket in the directory it owns. */
    if (opts != NULL && opts->unix_socket) {
        if (path_join(b->unix_path, b->dir, "mqtt.sock") != 0) {
            fclose(f);
            return -1;
        }
        fprintf(f, "listener 0 %s\n", b->unix_path);
    }
    if (opts != NULL && opts->extra_conf != NULL)
        fprintf(f, "%s\n", opts->extra_conf);
    if (fclose(f) != 0)
        return -1;
    hand_to_broker_user(b->conf_path, 0644);
    return 0;
}

/* The listener line is the config's first line; rewrite only the port. */
static int set_config_port(test_broker *b, uint16_t port)
{
    char rest[8192];
    size_t n;
    FILE *f = fopen(b->conf_path, "r");
    if (f == NULL)
        return -1;
    /* Skip the first line, keep everything else. */
    if (fgets(rest, sizeof rest, f) == NULL) {
        fclose(f);
        return -1;
    }
    n = fread(rest, 1, sizeof rest - 1, f);
    fclose(f);
    rest[n] = '\0';
    f = fopen(b->conf_path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "listener %u 127.0.0.1\n%s", (unsigned)port, rest);
    if (fclose(f) != 0)
        return -1;
    b->port = port;
    return 0;
}

static void close_inherited_fds(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    for (int fd = 3; fd < FD_CLOSE_LIMIT; fd++)
        close(fd);
}

/* Run the broker as the `mosquitto` user from the start when we are root.
 * mosquitto would drop to that user by itself, but the kernel clears the
 * parent-death signal on any change of credentials: dropping them here,
 * before setting that signal, keeps a crashed test from leaving its broker
 * running. */
static void drop_to_broker_user(uid_t uid, gid_t gid)
{
    if (uid == 0)
        return;
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        _exit(125);
}

static int spawn(test_broker *b)
{
    const char *exe = env_or("MIDGE_TEST_MOSQUITTO", DEFAULT_MOSQUITTO);
    pid_t parent = getpid();
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid;
    if (geteuid() == 0) {
        /* Looked up before fork: no name service calls in the child. */
        struct passwd *pw = getpwnam("mosquitto");
        if (pw != NULL) {
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        }
    }
    pid = fork();
    if (pid < 0) {
        fail_line("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int log = open(b->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        drop_to_broker_user(uid, gid);
        /* A test that dies must not leave its broker running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        if (null >= 0)
            dup2(null, 0);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        /* Client sockets of the test must not live on in the broker. */
        close_inherited_fds();
        signal(SIGPIPE, SIG_DFL);
        setpgid(0, 0);
        execl(exe, "mosquitto", "-c", b->conf_path, (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    b->paused = false;
    return 0;
}

/* 0: accepting; 1: the process exited (port taken?); -1: timed out. */
static int wait_ready(test_broker *b)
{
    long long deadline = now_ms() + READY_TIMEOUT_MS;
    int st;
    while (now_ms() < deadline) {
        if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
            b->pid = 0;
            return 1;
        }
        if (test_broker_port_accepts(b->port, 200)) {
            /* Make sure it is our broker that answered, not a squatter. */
            sleep_ms(20);
            if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
                b->pid = 0;
                return 1;
            }
            return 0;
        }
        sleep_ms(20);
    }
    return -1;
}

static void kill_and_reap(test_broker *b)
{
    int st;
    if (b->pid <= 0)
        return;
    kill(b->pid, SIGKILL);
    if (!reap_within(b->pid, KILL_TIMEOUT_MS, &st))
        fail_line("pid %d survived SIGKILL for %d ms", (int)b->pid, KILL_TIMEOUT_MS);
    b->pid = 0;
    b->paused = false;
}

static void remove_dir(const char *dir)
{
    char path[TEST_BROKER_PATH_MAX];
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && n++ < DIR_ENTRY_LIMIT) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (path_join(path, dir, e->d_name) == 0)
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

int test_broker_start(test_broker *b, const test_broker_opts *opts)
{
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "%s/midge-broker-XXXXXX", env_or("TMPDIR", "/tmp"));
    if (mkdtemp(b->dir) == NULL) {
        fail_line("mkdtemp %s: %s", b->dir, strerror(errno));
        b->dir[0] = '\0';
        return -1;
    }
    hand_to_broker_user(b->dir, 0755);
    if (path_join(b->conf_path, b->dir, "mosquitto.conf") != 0 ||
        path_join(b->log_path, b->dir, "mosquitto.log") != 0)
        goto fail;
    b->port = test_broker_free_port();
    if (b->port == 0 || write_config(b, opts) != 0)
        goto fail;

    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        int r;
        if (attempt > 0) {
            /* The port was taken between our probe and mosquitto's bind. */
            uint16_t port = test_broker_free_port();
            if (port == 0 || set_config_port(b, port) != 0)
                goto fail;
        }
        if (spawn(b) != 0)
            goto fail;
        r = wait_ready(b);
        if (r == 0)
            return 0;
        if (r < 0) {
            fail_line("mosquitto did not accept on port %u within %d ms", (unsigned)b->port,
                      READY_TIMEOUT_MS);
            kill_and_reap(b);
            goto fail;
        }
    }
    fail_line("mosquitto exited %d times at start; log follows", START_ATTEMPTS);
fail:
    test_broker_print_log(b, stderr);
    kill_and_reap(b);
    if (b->dir[0] != '\0')
        remove_dir(b->dir);
    b->dir[0] = '\0';
    return -1;
}

static int terminate(test_broker *b)
{
    int st;
    if (b->pid <= 0)
        return 0;
    kill(b->pid, SIGTERM);
    if (b->paused)
        kill(b->pid, SIGCONT); /* a stopped process handles SIGTERM only once resumed */
    if (reap_within(b->pid, STOP_TIMEOUT_MS, &st)) {
        b->pid = 0;
        b->paused = false;
        return 0;
    }
    fail_line("mosquitto ignored SIGTERM for %d ms; killing it", STOP_TIMEOUT_MS);
    kill_and_reap(b);
    return -1;
}

int test_broker_stop(test_broker *b)
{
    int r = terminate(b);
    if (b->dir[0] != '\0' && getenv("MIDGE_TEST_KEEP_BROKER_DIR") == NULL)
        remove_dir(b->dir);
    b->dir[0] = '\0';
    return r;
}

int test_broker_kill(test_broker *b)
{
    if (b->pid <= 0) {
        fail_line("kill: broker not running");
        return -1;
    }
    kill_and_reap(b);
    return 0;
}

int test_broker_halt(test_broker *b)
{
    if (b->pid <= 0) {
        fail_line("halt: broker not running");
        return -1;
    }
    return terminate(b);
}

int test_broker_pause(test_broker *b)
{
    if (b->pid <= 0 || kill(b->pid, SIGSTOP) != 0)
        return -1;
    b->paused = true;
    return 0;
}

int test_broker_resume(test_broker *b)
{
    if (b->pid <= 0 || kill(b->pid, SIGCONT) != 0)
        return -1;
    b->paused = false;
    return 0;
}

int test_broker_restart(test_broker *b)
{
    if (b->dir[0] == '\0') {
        fail_line("restart: broker was never started");
        return -1;
    }
    terminate(b);
    for (int attempt = 0; attempt < RESTART_ATTEMPTS; attempt++) {
        int r;
        if (attempt > 0)
            sleep_ms(RESTART_RETRY_DELAY_MS);
        if (spawn(b) != 0)
            return -1;
        r = wait_ready(b);
        if (r == 0)
            return 0;
        if (r < 0) {
            kill_and_reap(b);
            break;
        }
    }
    fail_line("could not restart mosquitto on port %u; log follows", (unsigned)b->port);
    test_broker_print_log(b, stderr);
    return -1;
}

bool test_broker_running(test_broker *b)
{
    int st;
    if (b->pid <= 0)
        return false;
    if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
        b->pid = 0;
        return false;
    }
    return true;
}

void test_broker_print_log(const test_broker *b, FILE *out)
{
    char buf[1024];
    size_t n;
    int chunks = 0;
    FILE *f;
    if (b->log_path[0] == '\0')
        return;
    f = fopen(b->log_path, "r");
    if (f == NULL)
        return;
    fprintf(out, "---- %s ----\n", b->log_path);
    /* Bounded: a runaway log is cut at 256 KiB. */
    while (chunks++ < 256 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, out);
    fprintf(out, "---- end of log ----\n");
    fclose(f);
}
