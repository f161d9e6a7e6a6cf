/*
 * `midge device` on the mqtt profile against a real mosquitto: commands and
 * replies, retained state and presence, the will after a crash, a clean
 * exit on SIGTERM, reconnection after the broker restarts, duplicate and
 * unknown commands, and the LED and command ids kept across a restart by
 * --state-file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "peer.h"
#include "proc.h"
#include "secrets.h"

#define REPLY_TIMEOUT_MS 8000
#define RECONNECT_TIMEOUT_MS 15000
#define MIDGE_ARGV(...) ((char *[]){MIDGE_BINARY, __VA_ARGS__, NULL})

static test_broker broker;
static char port[8];
static proc device;

static int start_broker(void **state)
{
    (void)state;
    if (test_broker_start(&broker, NULL) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    return 0;
}

static int stop_broker(void **state)
{
    (void)state;
    return test_broker_stop(&broker);
}

static int device_teardown(void **state)
{
    if (device.pid > 0 && !device.exited)
        proc_stop(&device);
    memset(&device, 0, sizeof device);
    return peer_teardown(state);
}

/* A device with short reconnect delays, so a test never waits long. */
static void start_device(const char *id)
{
    assert_int_equal(proc_start(&device,
                                MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", port, "--device-id",
                                           (char *)id, "--backoff-min", "100", "--backoff-max",
                                           "400", "-k", "5"),
                                NULL),
                     0);
}

/* The same, keeping its LED state in `state_file`. */
static void start_device_with_state(const char *id, const char *state_file)
{
    assert_int_equal(proc_start(&device,
                                MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", port, "--device-id",
                                           (char *)id, "--backoff-min", "100", "--backoff-max",
                                           "400", "-k", "5", "--state-file", (char *)state_file),
                                NULL),
                     0);
}

/* SIGTERM, a clean exit, and `device` ready to be started again. */
static void stop_device(void)
{
    proc_stop(&device);
    assert_int_equal(proc_exit_code(&device), 0);
    memset(&device, 0, sizeof device);
}

/* A fresh directory `dir` (a mkdtemp template) and `path` = dir/led in it. */
static void state_path(char *dir, char *path, size_t cap)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, cap, "%s/led", dir);
}

/* The whole content of a small file, "" when it cannot be read. */
static const char *file_text(const char *path)
{
    static char text[2048];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f != NULL) {
        n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The state file holds the LED `led` and `ids` command ids (saved with
 * every change of the LED, so never none). */
static void expect_state_file(const char *path, const char *led, int ids)
{
    const char *text = file_text(path);
    size_t n = strlen(led);
    if (strncmp(text, led, n) != 0 || text[n] != '\n' || strncmp(text + n + 1, "ids", 3) != 0)
        fail_msg("state file %s holds \"%s\", not %s and ids", path, text, led);
    const char *records = text + n + 1 + 3;
    assert_int_equal(strlen(records), 17u * (size_t)ids + 1u);
    for (int i = 0; i < ids; i++)
        assert_int_equal(records[17 * i], ' ');
    assert_int_equal(records[17 * ids], '\n');
}

/* A peer watching every topic of device `id`. */
static peer *watcher(const char *id)
{
    char filter[96];
    char name[64];
    snprintf(filter, sizeof filter, "devices/%s/#", id);
    snprintf(name, sizeof name, "watch-%s-%d", id, rand());
    peer *p = peer_new(broker.port, name, true);
    assert_non_null(p);
    assert_int_equal(peer_connect(p, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&p->client, filter, 1), MIDGE_OK);
    return p;
}

/* Poll until a message on `topic` with `payload` (NULL = any) is among the
 * recorded ones; its index, or -1. */
static int await_message(peer *p, const char *topic, const char *payload, int timeout_ms)
{
    long long deadline = peer_now_ms() + timeout_ms;
    for (;;) {
        int n = p->count < PEER_MAX_MESSAGES ? p->count : PEER_MAX_MESSAGES;
        for (int i = 0; i < n; i++) {
            const peer_message *m = &p->got[i];
            if (strcmp(m->topic, topic) != 0)
                continue;
            if (payload == NULL ||
                (m->len == strlen(payload) && memcmp(m->payload, payload, m->len) == 0))
                return i;
        }
        if (peer_now_ms() >= deadline)
            return -1;
        midge_client_poll(&p->client, 50);
    }
}

/* Send `command` with request id `cmdid`; the reply's payload. */
static const char *command(peer *p, const char *id, const char *cmdid, const char *command_text)
{
    static char reply[PEER_PAYLOAD_MAX + 1];
    char request[160];
    char response[160];
    snprintf(request, sizeof request, "devices/%s/cmd/request/%s", id, cmdid);
    snprintf(response, sizeof response, "devices/%s/cmd/response/%s", id, cmdid);
    p->count = 0;
    assert_int_equal(midge_client_publish(&p->client, request, command_text,
                                          strlen(command_text), 1, false, NULL),
                     MIDGE_OK);
    int i = await_message(p, response, NULL, REPLY_TIMEOUT_MS);
    if (i < 0) {
        proc_pump(&device, 100);
        fprintf(stderr, "no reply to %s; device said:\n%s\n", command_text, device.err);
        return NULL;
    }
    memcpy(reply, p->got[i].payload, p->got[i].len);
    reply[p->got[i].len] = '\0';
    return reply;
}

static void expect_reply(peer *p, const char *id, const char *cmdid, const char *cmd,
                         const char *want)
{
    const char *got = command(p, id, cmdid, cmd);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void wait_online(peer *p, const char *id)
{
    char status[96];
    snprintf(status, sizeof status, "devices/%s/status", id);
    assert_true(await_message(p, status, "online", RECONNECT_TIMEOUT_MS) >= 0);
}

/* Places in `text` holding `needle` (one a line, as used here). */
static int log_lines_in(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Lines of the device's log holding `needle`. */
static int log_lines_with(const char *needle) { return log_lines_in(device.err, needle); }

/* Ask `status` once the device is back: its "online", published after
 * every CONNACK once it has subscribed, says when; a command may still be
 * lost if it comes around a reconnect, so ask again until answered. */
static const char *status_when_back(peer *p, const char *id)
{
    char status[96];
    const char *got = NULL;
    long long deadline = peer_now_ms() + RECONNECT_TIMEOUT_MS;
    snprintf(status, sizeof status, "devices/%s/status", id);
    p->count = 0;
    await_message(p, status, "online", RECONNECT_TIMEOUT_MS);
    for (int n = 0; got == NULL && peer_now_ms() < deadline; n++) {
        char cmdid[32];
        snprintf(cmdid, sizeof cmdid, "back-%d", n);
        got = command(p, id, cmdid, "status");
    }
    return got;
}

/* Publish a command of `len` bytes (too big for the device below). */
static void send_oversized(peer *p, const char *id, size_t len, uint8_t qos)
{
    static char payload[PEER_PAYLOAD_MAX];
    char request[160];
    assert_true(len <= sizeof payload);
    memset(payload, 'x', len);
    snprintf(request, sizeof request, "devices/%s/cmd/request/big", id);
    assert_int_equal(midge_client_publish(&p->client, request, payload, len, qos, false, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, REPLY_TIMEOUT_MS), MIDGE_OK);
}

/* The first run of device `id` with its state in `path`: `cmd` as command
 * `cmdid` is answered `want` (the LED it leaves, saved with that one id),
 * then the device stops. The watcher stays, emptied for the next run. */
static peer *first_run_with_state(const char *id, const char *path, const char *cmdid,
                                  const char *cmd, const char *want)
{
    start_device_with_state(id, path);
    peer *p = watcher(id);
    wait_online(p, id);
    expect_reply(p, id, cmdid, cmd, want);
    expect_state_file(path, want, 1);
    stop_device();
    p->count = 0;
    return p;
}

/* --- tests ----------------------------------------------------------------- */

static void test_commands_are_answered_in_order(void **state)
{
    (void)state;
    start_device("lamp1");
    peer *p = watcher("lamp1");
    wait_online(p, "lamp1");
    expect_reply(p, "lamp1", "c1", "on", "on");
    expect_reply(p, "lamp1", "c2", "off", "off");
    expect_reply(p, "lamp1", "c3", "toggle", "on");
    expect_reply(p, "lamp1", "c4", "toggle", "off");
    expect_reply(p, "lamp1", "c5", "status", "off");
    proc_pump(&device, 100);
    /* The console shows each command and LED change. */
    assert_non_null(strstr(device.err, " info  command \"toggle\""));
    assert_non_null(strstr(device.err, "LED on"));
}

static void test_retained_state_and_presence_then_offline_on_sigterm(void **state)
{
    (void)state;
    start_device("lamp2");
    peer *p = watcher("lamp2");
    wait_online(p, "lamp2");
    expect_reply(p, "lamp2", "r1", "on", "on");

    /* A newcomer learns state and presence from the retained messages. */
    peer *late = watcher("lamp2");
    assert_true(await_message(late, "devices/lamp2/state", "{\"led\":\"on\"}", 5000) >= 0);
    assert_true(await_message(late, "devices/lamp2/status", "online", 5000) >= 0);
    assert_true(late->got[await_message(late, "devices/lamp2/status", "online", 0)].retain);

    proc_stop(&device);
    assert_false(device.timed_out);
    assert_int_equal(proc_exit_code(&device), 0);
    peer *after = watcher("lamp2");
    assert_true(await_message(after, "devices/lamp2/status", "offline", 5000) >= 0);
}

static void test_kill_9_leaves_the_retained_will_offline(void **state)
{
    (void)state;
    start_device("lamp3");
    peer *p = watcher("lamp3");
    wait_online(p, "lamp3");
    kill(device.pid, SIGKILL);
    proc_wait(&device, 5000);
    /* mosquitto publishes the will as soon as the socket closes. */
    peer *after = watcher("lamp3");
    int i = await_message(after, "devices/lamp3/status", "offline", 8000);
    assert_true(i >= 0);
    assert_true(after->got[i].retain);
}

static void test_duplicate_command_id_does_not_act_twice(void **state)
{
    (void)state;
    start_device("lamp4");
    peer *p = watcher("lamp4");
    wait_online(p, "lamp4");
    expect_reply(p, "lamp4", "same-id", "toggle", "on");
    expect_reply(p, "lamp4", "same-id", "toggle", "on");
    expect_reply(p, "lamp4", "s2", "status", "on");
}

static void test_unknown_command_gets_an_error_reply_and_device_runs_on(void **state)
{
    (void)state;
    start_device("lamp5");
    peer *p = watcher("lamp5");
    wait_online(p, "lamp5");
    const char *got = command(p, "lamp5", "u1", "explode");
    assert_non_null(got);
    assert_string_not_equal(got, "on");
    assert_string_not_equal(got, "off");
    expect_reply(p, "lamp5", "u2", "on", "on");
    proc_pump(&device, 100);
    assert_false(device.exited);
    assert_non_null(strstr(device.err, " warn  "));
}

static void test_device_reconnects_after_broker_restart(void **state)
{
    (void)state;
    start_device("lamp6");
    peer *p = watcher("lamp6");
    wait_online(p, "lamp6");
    expect_reply(p, "lamp6", "b1", "on", "on");
    peer_free(p);

    assert_int_equal(test_broker_restart(&broker), 0);
    peer *q = watcher("lamp6");
    /* The device finds the broker again by itself and serves commands. */
    const char *got = NULL;
    long long deadline = peer_now_ms() + RECONNECT_TIMEOUT_MS;
    for (int n = 0; got == NULL && peer_now_ms() < deadline; n++) {
        char id[32];
        snprintf(id, sizeof id, "after-%d", n);
        got = command(q, "lamp6", id, "status");
    }
    assert_non_null(got);
    assert_string_equal(got, "on");
    proc_pump(&device, 100);
    assert_false(device.exited);
    assert_non_null(strstr(device.err, "reconnecting in"));
}

/* 1500 bytes of payload on devices/<5-char id>/cmd/request/big: 2 + 29
 * bytes of topic, 2 of packet id at QoS 1, and a 3-byte fixed header. */
#define OVERSIZED_PAYLOAD 1500
#define OVERSIZED_PACKET_QOS1 "1536"
#define OVERSIZED_PACKET_QOS0 "1534"

/* A command over --max-packet-size costs one connection and one line of
 * log, which names the size and the limit; the next command is answered. */
static void test_oversized_command_costs_one_connection_and_one_line(void **state)
{
    (void)state;
    assert_int_equal(proc_start(&device,
                                MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", port, "--device-id",
                                           "lamp7", "--backoff-min", "100", "--backoff-max",
                                           "400", "-k", "5", "--max-packet-size", "1024"),
                                NULL),
                     0);
    peer *p = watcher("lamp7");
    wait_online(p, "lamp7");
    expect_reply(p, "lamp7", "m1", "on", "on");
    send_oversized(p, "lamp7", OVERSIZED_PAYLOAD, 0);
    const char *got = status_when_back(p, "lamp7");
    assert_non_null(got);
    assert_string_equal(got, "on");
    proc_pump(&device, 200);
    assert_false(device.exited);
    if (log_lines_with("larger than --max-packet-size") != 1)
        proc_dump(&device, "midge device --max-packet-size 1024");
    assert_int_equal(log_lines_with("incoming packet of " OVERSIZED_PACKET_QOS0
                                    " bytes is larger than --max-packet-size 1024"),
                     1);
    assert_int_equal(log_lines_with("larger than --max-packet-size"), 1);
    assert_int_equal(log_lines_with("clean session"), 0);
}

/* With a persistent session (-c) the broker sends an unacknowledged QoS 1
 * command again after every reconnect, and an oversized one can never be
 * acknowledged: the device must neither loop on it nor go deaf. At the
 * second loss in a row it connects once with a clean session, which drops
 * the command, and then serves normally. */
static void test_oversized_command_on_a_persistent_session_is_dropped(void **state)
{
    (void)state;
    assert_int_equal(proc_start(&device,
                                MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", port, "--device-id",
                                           "lamp8", "-i", "lamp8", "-c", "--backoff-min", "100",
                                           "--backoff-max", "400", "-k", "5",
                                           "--max-packet-size", "1024"),
                                NULL),
                     0);
    peer *p = watcher("lamp8");
    wait_online(p, "lamp8");
    expect_reply(p, "lamp8", "m1", "on", "on");
    send_oversized(p, "lamp8", OVERSIZED_PAYLOAD, 1);
    const char *got = status_when_back(p, "lamp8");
    assert_non_null(got);
    assert_string_equal(got, "on");
    /* Quiet from here on: no more losses, no reconnect loop. */
    proc_pump(&device, 1500);
    assert_false(device.exited);
    int lost = log_lines_with("incoming packet of " OVERSIZED_PACKET_QOS1
                              " bytes is larger than --max-packet-size 1024");
    if (lost != 2 || log_lines_with("connecting to ") != 3)
        proc_dump(&device, "midge device -c --max-packet-size 1024");
    assert_int_equal(lost, 2);
    assert_int_equal(log_lines_with("again: reconnecting with a clean session"), 1);
    assert_int_equal(log_lines_with("connecting to "), 3);
    expect_reply(p, "lamp8", "m2", "off", "off");
}

static void test_state_file_restores_the_led_after_a_restart(void **state)
{
    char dir[] = "/tmp/midge-state-XXXXXX";
    char path[64];
    (void)state;
    state_path(dir, path, sizeof path);

    peer *p = first_run_with_state("lamp9", path, "s1", "on", "on");

    /* A stale retained state: the restarted device must replace it with
     * the state it restored, not leave it or report "off". */
    assert_int_equal(midge_client_publish(&p->client, "devices/lamp9/state",
                                          "{\"led\":\"off\"}", 13, 1, true, NULL),
                     MIDGE_OK);
    assert_int_equal(midge_client_flush(&p->client, REPLY_TIMEOUT_MS), MIDGE_OK);
    start_device_with_state("lamp9", path);
    const char *got = status_when_back(p, "lamp9");
    assert_non_null(got);
    assert_string_equal(got, "on");
    peer *late = watcher("lamp9");
    assert_true(await_message(late, "devices/lamp9/state", "{\"led\":\"on\"}", 5000) >= 0);
    proc_pump(&device, 100);
    assert_int_equal(log_lines_with("restored from "), 1);

    expect_reply(p, "lamp9", "s2", "toggle", "off");
    assert_int_equal(strncmp(file_text(path), "off\nids ", 8), 0);
    /* "status" changes nothing, so nothing is written. */
    assert_int_equal(unlink(path), 0);
    expect_reply(p, "lamp9", "s3", "status", "off");
    assert_int_equal(access(path, F_OK), -1);
    rmdir(dir);
}

static void test_corrupt_state_file_is_one_warning_and_the_led_starts_off(void **state)
{
    char dir[] = "/tmp/midge-state-XXXXXX";
    char path[64];
    (void)state;
    state_path(dir, path, sizeof path);
    write_text(path, "\x01garbage");

    start_device_with_state("lamp10", path);
    peer *p = watcher("lamp10");
    wait_online(p, "lamp10");
    expect_reply(p, "lamp10", "b1", "status", "off");
    proc_pump(&device, 100);
    assert_int_equal(log_lines_with("expected \"on\" or \"off\"; the LED starts off"), 1);
    expect_reply(p, "lamp10", "b2", "on", "on");
    expect_state_file(path, "on", 2); /* b1 and b2 */
    unlink(path);
    rmdir(dir);
}

static void test_command_acted_on_before_a_restart_is_answered_without_acting(void **state)
{
    char dir[] = "/tmp/midge-state-XXXXXX";
    char path[64];
    (void)state;
    state_path(dir, path, sizeof path);

    peer *p = first_run_with_state("lamp11", path, "x1", "toggle", "on");

    /* The same command delivered again to the restarted device: it was
     * acted on, so it is answered as before and the LED does not flip. */
    start_device_with_state("lamp11", path);
    wait_online(p, "lamp11");
    expect_reply(p, "lamp11", "x1", "toggle", "on");
    expect_reply(p, "lamp11", "x2", "status", "on");
    proc_pump(&device, 100);
    if (log_lines_with("LED on (sim)") != 1 || log_lines_with("repeated command") != 1)
        proc_dump(&device, "midge device --state-file (second run)");
    assert_int_equal(log_lines_with("restored from "), 1);
    assert_int_equal(log_lines_with("with 1 command id\n"), 1);
    /* The only LED line of this run is the restore's. */
    assert_int_equal(log_lines_with("LED on (sim)"), 1);
    assert_int_equal(log_lines_with("LED off (sim)"), 0);
    assert_int_equal(log_lines_with("repeated command"), 1);

    /* A new id acts. */
    expect_reply(p, "lamp11", "x3", "toggle", "off");
    expect_state_file(path, "off", 3);
    unlink(path);
    rmdir(dir);
}

static void test_without_a_state_file_a_restart_forgets_the_ids(void **state)
{
    (void)state;
    start_device("lamp12");
    peer *p = watcher("lamp12");
    wait_online(p, "lamp12");
    expect_reply(p, "lamp12", "y1", "toggle", "on");
    expect_reply(p, "lamp12", "y2", "toggle", "off");
    stop_device();

    /* Remembered, y1 would be answered "on" and leave the LED off. */
    p->count = 0;
    start_device("lamp12");
    wait_online(p, "lamp12");
    expect_reply(p, "lamp12", "y1", "toggle", "on");
    expect_reply(p, "lamp12", "y3", "status", "on");
    proc_pump(&device, 100);
    assert_int_equal(log_lines_with("repeated command"), 0);
}

/* The device at `path` must stop at start with one line naming the flag,
 * before it reads or writes anything there. It is given no command, so
 * even a device that failed to refuse would not write the path: it is
 * only stopped. */
static void expect_state_file_refused(const char *path, const char *kind)
{
    proc run;
    proc_run(&run,
             MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp13",
                        "--state-file", (char *)path),
             NULL, 5000);
    if (proc_exit_code(&run) != 1 || count_lines(run.err) != 1 ||
        strstr(run.err, kind) == NULL)
        proc_dump(&run, path);
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(count_lines(run.err), 1);
    assert_non_null(strstr(run.err, "--state-file"));
    assert_non_null(strstr(run.err, kind));
    assert_null(strstr(run.err, "connecting"));
}

static void test_state_file_that_is_not_a_regular_file_is_refused_at_start(void **state)
{
    char dir[] = "/tmp/midge-state-XXXXXX";
    char path[64], link[80], fifo[80];
    struct stat st;
    (void)state;
    state_path(dir, path, sizeof path);
    write_text(path, "on\n");

    expect_state_file_refused("/dev/null", "a character device");
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    expect_state_file_refused(link, "a symbolic link");
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_string_equal(file_text(path), "on\n");

    expect_state_file_refused(dir, "a directory");

    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_state_file_refused(fifo, "a FIFO");
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));

    unlink(fifo);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

/* A will of the user's own would replace "offline": after a crash the
 * device would show online forever. Each --will-* flag is refused alone,
 * at start, with one line. */
static void test_will_flags_are_refused_by_device(void **state)
{
    static const char *const flags[][2] = {
        {"--will-topic", "devices/lamp14/status"},
        {"--will-payload", "gone"},
        {"--will-qos", "1"},
        {"--will-retain", NULL},
    };
    proc run;
    (void)state;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        proc_run(&run,
                 MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", port, "--device-id", "lamp14",
                            (char *)flags[i][0], (char *)flags[i][1]),
                 NULL, 5000);
        if (proc_exit_code(&run) != 1 || count_lines(run.err) != 1)
            proc_dump(&run, flags[i][0]);
        assert_int_equal(proc_exit_code(&run), 1);
        assert_int_equal(count_lines(run.err), 1);
        assert_non_null(strstr(run.err, "--will-* options do not apply to device"));
    }
}

/* A login the broker turns down cannot succeed by retrying: the device
 * exits 1 at the first refusal, with one error line naming the flags to
 * check and never the password: a wrong password and no login at all
 * (mosquitto 2 answers both with CONNACK 5, not authorized; the OneNET
 * tests cover 4). */
static void test_refused_login_exits_1_naming_the_flags(void **state)
{
    static test_broker auth;
    test_broker_opts opts = {.user = "alice", .password = SECRET_BROKER_PASSWORD};
    char auth_port[8];
    proc run;
    (void)state;
    assert_int_equal(test_broker_start(&auth, &opts), 0);
    snprintf(auth_port, sizeof auth_port, "%u", (unsigned)auth.port);

    proc_run(&run,
             MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", auth_port, "--device-id", "lamp15",
                        "-u", "alice", "-P", SECRET_WRONG_PASSWORD, "--backoff-min", "100",
                        "--backoff-max", "200"),
             NULL, 8000);
    if (proc_exit_code(&run) != 1 || log_lines_in(run.err, " error ") != 1)
        proc_dump(&run, "midge device -u alice -P wrong");
    assert_int_equal(proc_exit_code(&run), 1);
    assert_int_equal(log_lines_in(run.err, " error "), 1);
    assert_non_null(strstr(run.err, "connection refused: "));
    assert_non_null(strstr(run.err, "check -u and -P; not retrying"));
    assert_int_equal(log_lines_in(run.err, "connecting to "), 1);
    assert_null(strstr(run.err, SECRET_WRONG_PASSWORD));

    proc_run(&run,
             MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", auth_port, "--device-id", "lamp15",
                        "--backoff-min", "100", "--backoff-max", "200"),
             NULL, 8000);
    if (proc_exit_code(&run) != 1)
        proc_dump(&run, "midge device, anonymous");
    assert_int_equal(proc_exit_code(&run), 1);
    assert_non_null(strstr(run.err, "connection refused: not authorized: "));
    assert_non_null(strstr(run.err, "(-u, -P)"));
    assert_int_equal(log_lines_in(run.err, "connecting to "), 1);

    /* The right password gets the device in, and it stays. */
    assert_int_equal(proc_start(&device,
                                MIDGE_ARGV("device", "-h", "127.0.0.1", "-p", auth_port,
                                           "--device-id", "lamp15", "-u", "alice", "-P",
                                           SECRET_BROKER_PASSWORD),
                                NULL),
                     0);
    long long deadline = proc_now_ms() + RECONNECT_TIMEOUT_MS;
    while (strstr(device.err, "connected to ") == NULL && proc_now_ms() < deadline)
        proc_pump(&device, 100);
    assert_non_null(strstr(device.err, "connected to "));
    stop_device();
    test_broker_stop(&auth);
}

#define T(f) cmocka_unit_test_teardown(f, device_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_commands_are_answered_in_order),
        T(test_retained_state_and_presence_then_offline_on_sigterm),
        T(test_kill_9_leaves_the_retained_will_offline),
        T(test_duplicate_command_id_does_not_act_twice),
        T(test_unknown_command_gets_an_error_reply_and_device_runs_on),
        T(test_device_reconnects_after_broker_restart),
        T(test_oversized_command_costs_one_connection_and_one_line),
        T(test_oversized_command_on_a_persistent_session_is_dropped),
        T(test_state_file_restores_the_led_after_a_restart),
        T(test_corrupt_state_file_is_one_warning_and_the_led_starts_off),
        T(test_command_acted_on_before_a_restart_is_answered_without_acting),
        T(test_without_a_state_file_a_restart_forgets_the_ids),
        T(test_state_file_that_is_not_a_regular_file_is_refused_at_start),
        T(test_will_flags_are_refused_by_device),
        T(test_refused_login_exits_1_naming_the_flags),
    };
    /* MIDGE_TEST_FILTER=pattern runs only the matching tests (cmocka wildcards). */
    if (getenv("MIDGE_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("MIDGE_TEST_FILTER"));
    return cmocka_run_group_tests(tests, start_broker, stop_broker);
}
