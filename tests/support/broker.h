/*
 * A real mosquitto for tests: started on a free 127.0.0.1 port with a config
 * written into a fresh temporary directory, and stopped, killed, paused,
 * resumed and restarted (on the same port) on request.
 *
 * Every wait is bounded. The broker binary is /usr/sbin/mosquitto unless the
 * environment variable MIDGE_TEST_MOSQUITTO names another one.
 *
 * When the test runs as root, the broker runs as the `mosquitto` user (as a
 * root-started mosquitto would by itself); the directory is handed to that
 * user so that it can read the config and password file and write its
 * persistence file there. A broker is killed when the process that started
 * it dies, so a crashed test leaves none behind.
 *
 * Functions returning int return 0 on success and -1 on failure, after
 * printing one line about the failure on stderr.
 */
#ifndef MIDGE_TEST_BROKER_H
#define MIDGE_TEST_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define TEST_BROKER_PATH_MAX 256
#define TEST_BROKER_EXTRA_MAX 1024

typedef struct test_broker_opts {
    /* Extra mosquitto.conf lines, e.g. "max_inflight_messages 1\n"; may be NULL. */
    const char *extra_conf;
    /* Non-NULL: anonymous clients are refused and this user/password pair
     * (written with mosquitto_passwd) is the only accepted login. */
    const char *user;
    const char *password;
    /* true: a second listener on the Unix-domain socket b->unix_path. */
    bool unix_socket;
} test_broker_opts;

typedef struct test_broker {
    pid_t pid;      /* 0 when not running */
    uint16_t port;  /* kept across restarts */
    bool paused;
    char dir[TEST_BROKER_PATH_MAX];       /* temporary directory, "" before start */
    char conf_path[TEST_BROKER_PATH_MAX]; /* dir/mosquitto.conf */
    char log_path[TEST_BROKER_PATH_MAX];  /* dir/mosquitto.log: the broker's stdout+stderr */
    char unix_path[TEST_BROKER_PATH_MAX]; /* dir/mqtt.sock with opts.unix_socket, else "" */
} test_broker;

/* Write the config and start mosquitto on a free port; returns once the port
 * accepts TCP connections (within about 5 s). opts may be NULL. */
int test_broker_start(test_broker *b, const test_broker_opts *opts);

/* SIGTERM (plus SIGCONT if paused), wait up to about 5 s, then SIGKILL; the
 * temporary directory is removed unless MIDGE_TEST_KEEP_BROKER_DIR is set in
 * the environment (to read the log afterwards). Safe on a broker that is not
 * running. */
int test_broker_stop(test_broker *b);

/* SIGKILL and reap, as a crash would. The directory and port are kept for
 * test_broker_restart(). */
int test_broker_kill(test_broker *b);

/* SIGTERM and reap, as a clean shutdown would: with "persistence true" the
 * broker writes its database first, so its sessions come back with
 * test_broker_restart(). The directory and port are kept. */
int test_broker_halt(test_broker *b);

/* SIGSTOP / SIGCONT: the broker stops answering but its sockets stay open. */
int test_broker_pause(test_broker *b);
int test_broker_resume(test_broker *b);

/* Start again on the same port with the same config (stopping it first with
 * SIGTERM if it still runs). Retries for a few seconds if the port is busy. */
int test_broker_restart(test_broker *b);

/* True while the broker process exists (it may be paused). */
bool test_broker_running(test_broker *b);

/* True if a TCP connection to 127.0.0.1:port succeeds within timeout_ms. */
bool test_broker_port_accepts(uint16_t port, int timeout_ms);

/* Copy the broker's log to `out` (for a failing test's diagnosis). */
void test_broker_print_log(const test_broker *b, FILE *out);

/* A port that was free on 127.0.0.1 a moment ago (0 on failure). */
uint16_t test_broker_free_port(void);

#endif /* MIDGE_TEST_BROKER_H */
