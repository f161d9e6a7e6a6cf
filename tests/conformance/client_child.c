/*
 * The library side of a conformance case, run in a forked child: a blocking
 * midge client connects to the fake broker, does the case's command, then
 * polls until the connection fails. It writes what each call returned to the
 * report pipe, waits on stdin (the runner's stop pipe) so that only the
 * library can have closed the socket, and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "midge/client.h"
#include "midge/port.h"
#include "target.h"

/* Last-resort bound on the child's life, should the runner die and never
 * close the stop pipe. */
#define CHILD_LIFETIME_S 30

/* One poll's wait: short enough that a closed connection is noticed at once
 * anyway (the wait returns on readability), long enough not to spin. */
#define POLL_MS 1000

typedef struct child_report {
    char text[512];
    size_t len;
} child_report;

static void note(child_report *r, const char *call, int status)
{
    if (r->len >= sizeof r->text - 1) {
        return;
    }
    int n = snprintf(r->text + r->len, sizeof r->text - r->len, "%s%s %s", r->len > 0 ? ", " : "",
                     call, midge_status_name(status));
    if (n > 0) {
        r->len += (size_t)n;
        r->len = r->len < sizeof r->text ? r->len : sizeof r->text - 1;
    }
}

static void send_report(int fd, const child_report *r)
{
    size_t done = 0;
    while (done < r->len) {
        ssize_t n = write(fd, r->text + done, r->len - done);
        if (n <= 0) {
            return;
        }
        done += (size_t)n;
    }
}

/* Incoming messages are not what these cases check; the session's own
 * acknowledgements are. */
static void on_message(void *user, const midge_publish *msg)
{
    (void)user;
    (void)msg;
}

/* README step 3: the commands, with packet id 1 as the session's first. */
static midge_status run_command(midge_client *client, const char *command, bool *known)
{
    static const char topic_publish[] = "test/publish";
    static const char topic_subscribe[] = "test/subscribe";
    static const char message[] = "message";
    *known = true;
    if (strncmp(command, "publish-", 8) == 0 && command[8] >= '0' && command[8] <= '2' &&
        command[9] == '\0') {
        uint8_t qos = (uint8_t)(command[8] - '0');
        return midge_client_publish(client, topic_publish, message, sizeof message - 1, qos,
                                    false, NULL);
    }
    if (strcmp(command, "subscribe") == 0) {
        return midge_client_subscribe(client, topic_subscribe, 0);
    }
    if (strcmp(command, "unsubscribe") == 0) {
        return midge_client_unsubscribe(client, topic_subscribe);
    }
    *known = false;
    return MIDGE_ERR_INVALID;
}

/* Wait for the runner to close the stop pipe (our stdin). */
static void wait_for_stop(void)
{
    char sink[16];
    while (read(STDIN_FILENO, sink, sizeof sink) > 0) {
    }
}

static void finish(int report_fd, const child_report *r, int code)
{
    send_report(report_fd, r);
    close(report_fd);
    wait_for_stop();
    _exit(code);
}

void client_child_run(const conf_case *c, uint16_t port, int report_fd)
{
    /* Static: big buffers stay off the stack, and the child is one client. */
    static uint8_t tx[2048];
    static uint8_t rx[4096];
    static uint8_t store[2048];
    static uint16_t qos2_ids[8];
    static midge_client client;
    static midge_tcp tcp;
    child_report r = {{0}, 0};
    alarm(CHILD_LIFETIME_S);

    midge_client_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.open = midge_tcp_opener;
    cfg.opener = &tcp;
    cfg.platform = &midge_posix_platform;
    cfg.connect.client_id = "fuzzish";
    cfg.connect.keepalive_s = 60;
    cfg.connect.clean_session = c->clean_session;
    cfg.connect_timeout_ms = 3000;
    cfg.connack_timeout_ms = 5000;
    cfg.auto_reconnect = false;
    midge_session_buffers bufs = {tx, sizeof tx, rx, sizeof rx, store, sizeof store, qos2_ids, 8};

    midge_status st = midge_client_init(&client, &cfg, &bufs);
    if (st != MIDGE_OK) {
        note(&r, "init", st);
        finish(report_fd, &r, TARGET_SETUP_EXIT);
    }
    midge_client_set_callback(&client, on_message, NULL);
    st = midge_client_connect(&client, NULL);
    note(&r, "connect", st);
    if (st == MIDGE_OK && c->command != NULL) {
        bool known;
        st = run_command(&client, c->command, &known);
        if (!known) {
            snprintf(r.text, sizeof r.text, "unknown command '%s'", c->command);
            r.len = strlen(r.text);
            finish(report_fd, &r, TARGET_SETUP_EXIT);
        }
        note(&r, c->command, st);
    }
    /* Poll until the connection fails: a malformed packet, the broker
     * closing, or the runner stopping us. Timeouts and "got something" are
     * both just reasons to poll again. */
    if (st == MIDGE_OK) {
        while (st == MIDGE_OK || midge_status_is_pending(st)) {
            st = midge_client_poll(&client, POLL_MS);
        }
        note(&r, "poll", st);
    }
    finish(report_fd, &r, 0);
}
