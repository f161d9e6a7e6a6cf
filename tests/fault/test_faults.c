/*
 * `midge device` under faults, against a real mosquitto on loopback.
 *
 *   commands       N commands at QoS 1 (200; 1,000 with --long) from a
 *                  console written here with the library, one at a time,
 *                  while the fault proxy resets the device's link at random
 *                  every 50-200 ms. Each reply must be the state the
 *                  command sequence implies, every command must be acted on
 *                  exactly once (the device's log names each act by its
 *                  command id), and the final state must agree everywhere.
 *   broker-kill    mosquitto killed with SIGKILL and restarted on the same
 *                  port (3 times; 20 with --long): each time the device
 *                  must answer a command within its maximum backoff plus
 *                  one second (asserted with 2 s of slack).
 *   broker-freeze  mosquitto stopped with SIGSTOP: the device must declare
 *                  the link dead after 1.5 x keepalive, keep retrying
 *                  (a frozen broker still completes TCP handshakes, so
 *                  only the CONNACK time-out ends an attempt), and answer
 *                  again after SIGCONT, or after a restart.
 *
 * Usage: fault_test_faults [--long] commands|broker-kill|broker-freeze
 * --long runs only when MIDGE_FAULT_LONG=1 is set (exit 77 = skipped
 * otherwise). MIDGE_FAULT_SEED=N replays a given random sequence.
 *
 * The device runs with short timers: keepalive 2 s, backoff 50 ms..2 s
 * (reset to the minimum after each CONNACK). Figures are printed as lines
 * starting with "fault figures:".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../integration/proc.h"
#include "broker.h"
#include "device_proc.h"
#include "fault_proxy.h"
#include "midge/midge.h"

/* The device's timers (the command line below). */
#define KEEPALIVE_S 2
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* What the device does not let us set: the library default applies. */
#define DEVICE_CONNACK_TIMEOUT_MS MIDGE_CONNACK_TIMEOUT_MS

/* Generous margins: CI machines are slow and sanitizers slower. */
#define SLACK_MS 2000
#define START_TIMEOUT_MS 15000
/* The console resends the same command id after this long without reply. */
#define RESEND_MS 1500
/* A command with no reply after this long counts as lost. */
#define COMMAND_DEADLINE_MS 30000
/* Recovery probes resend more often: their time is what is measured. */
#define PROBE_RESEND_MS 250
#define PROBE_DEADLINE_MS 20000

#define CMDS_CI 200
#define CMDS_LONG 1000
#define KILLS_CI 3
#define KILLS_LONG 20
#define CHAOS_MIN_MS 50
#define CHAOS_MAX_MS 200
/* Before each reset the device's sending side is held for up to this
 * long: what it sent meanwhile (PUBACKs of commands it acted on, replies)
 * is lost, so the broker delivers those commands again and the device's
 * duplicate suppression is put to work, not only its reconnects. */
#define CHAOS_HOLD_MS 40

static bool long_mode;
static uint32_t seed;
static test_broker broker;
static fault_proxy *proxy;
static device_proc device;
static proc send_run;
static char device_port[8];
static unsigned next_index = 1; /* command ids: c00001, c00002, ... */

/* --- small helpers -------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint32_t rng_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static const char *led_text(bool on) { return on ? "on" : "off"; }

/* --- the console: a library client sending commands ----------------------- */

/* What the console saw per command index. */
typedef struct console {
    midge_client client;
    midge_tcp tcp;
    uint8_t tx[4096];
    uint8_t rx[16384];
    uint8_t store[32768];
    uint16_t qos2_ids[8];
    char id[48];
    char response_filter[96];
    char state_topic[96];
    char status_topic[96];
    char presence[16]; /* retained presence: "online", "offline", "" none */
    char request_prefix[96];
    unsigned short replies[DEVICE_PROC_MAX_CMDS];
    signed char first[DEVICE_PROC_MAX_CMDS]; /* 1 on, 0 off, 2 other; -1 none */
    unsigned long conflicting; /* a later reply unlike the first for the same id */
    unsigned long duplicates;  /* a later reply like the first */
    unsigned long stray;       /* replies to ids never sent */
    int state_led;             /* retained state: 1, 0, -1 none */
    unsigned long state_msgs;
} console;

static console *consoles[2];

static long reply_index(const console *c, const midge_publish *msg)
{
    size_t plen = strlen(c->response_filter) - 1; /* without the '+' */
    char num[16];
    char *end;
    if (msg->topic_len <= plen + 1 || memcmp(msg->topic, c->response_filter, plen) != 0 ||
        msg->topic[plen] != 'c' || msg->topic_len - plen - 1 >= sizeof num)
        return -1;
    memcpy(num, msg->topic + plen + 1, msg->topic_len - plen - 1);
    num[msg->topic_len - plen - 1] = '\0';
    long idx = strtol(num, &end, 10);
    return (*end != '\0' || idx < 0 || idx >= DEVICE_PROC_MAX_CMDS) ? -1 : idx;
}

static int payload_led(const midge_publish *msg)
{
    if (msg->payload_len == 2 && memcmp(msg->payload, "on", 2) == 0)
        return 1;
    if (msg->payload_len == 3 && memcmp(msg->payload, "off", 3) == 0)
        return 0;
    return 2;
}

static void console_on_message(void *user, const midge_publish *msg)
{
    console *c = user;
    if (msg->topic_len == strlen(c->status_topic) &&
        memcmp(msg->topic, c->status_topic, msg->topic_len) == 0) {
        size_t n = msg->payload_len < sizeof c->presence - 1 ? msg->payload_len
                                                              : sizeof c->presence - 1;
        memcpy(c->presence, msg->payload, n);
        c->presence[n] = '\0';
        return;
    }
    if (msg->topic_len == strlen(c->state_topic) &&
        memcmp(msg->topic, c->state_topic, msg->topic_len) == 0) {
        c->state_msgs++;
        if (msg->payload_len == 12 && memcmp(msg->payload, "{\"led\":\"on\"}", 12) == 0)
            c->state_led = 1;
        else if (msg->payload_len == 13 && memcmp(msg->payload, "{\"led\":\"off\"}", 13) == 0)
            c->state_led = 0;
        else
            c->state_led = 2;
        return;
    }
    long idx = reply_index(c, msg);
    if (idx < 0) {
        c->stray++;
        return;
    }
    int led = payload_led(msg);
    if (c->replies[idx]++ == 0)
        c->first[idx] = (signed char)led;
    else if (c->first[idx] == led)
        c->duplicates++;
    else
        c->conflicting++;
}

/* A console on 127.0.0.1:port with a clean session, subscribed to the
 * device's replies (and its retained state when watch_state). Clean,
 * because the console's own link is never faulted here, and a session
 * carried over from an earlier run could replay old replies; after a
 * broker restart (no persistence) there is no session to keep anyway. */
static console *console_open(uint16_t port, const char *device_id, const char *name,
                             bool watch_state)
{
    console *c = calloc(1, sizeof *c);
    midge_client_config cfg;
    midge_session_buffers bufs;
    assert_non_null(c);
    for (size_t i = 0; i < 2; i++) {
        if (consoles[i] == NULL) {
            consoles[i] = c;
            break;
        }
    }
    memset(c->first, -1, sizeof c->first);
    c->state_led = -1;
    snprintf(c->id, sizeof c->id, "fault-%s-%ld", name, (long)getpid());
    snprintf(c->response_filter, sizeof c->response_filter, "devices/%s/cmd/response/+",
             device_id);
    snprintf(c->state_topic, sizeof c->state_topic, "devices/%s/state", device_id);
    snprintf(c->status_topic, sizeof c->status_topic, "devices/%s/status", device_id);
    snprintf(c->request_prefix, sizeof c->request_prefix, "devices/%s/cmd/request/", device_id);

    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.open = midge_tcp_opener;
    cfg.opener = &c->tcp;
    cfg.platform = &midge_posix_platform;
    cfg.connect.client_id = c->id;
    cfg.connect.keepalive_s = 60;
    cfg.connect.clean_session = true;
    cfg.connect_timeout_ms = 3000;
    cfg.connack_timeout_ms = 5000;
    cfg.auto_reconnect = true;
    cfg.backoff_min_ms = 50;
    cfg.backoff_max_ms = 500;
    memset(&bufs, 0, sizeof bufs);
    bufs.tx = c->tx;
    bufs.tx_size = sizeof c->tx;
    bufs.rx = c->rx;
    bufs.rx_size = sizeof c->rx;
    bufs.store = c->store;
    bufs.store_size = sizeof c->store;
    bufs.rx_qos2_ids = c->qos2_ids;
    bufs.rx_qos2_cap = 8;
    assert_int_equal(midge_client_init(&c->client, &cfg, &bufs), MIDGE_OK);
    midge_client_set_callback(&c->client, console_on_message, c);
    assert_int_equal(midge_client_connect(&c->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&c->client, c->response_filter, 1), MIDGE_OK);
    if (watch_state) {
        assert_int_equal(midge_client_subscribe(&c->client, c->state_topic, 1), MIDGE_OK);
        assert_int_equal(midge_client_subscribe(&c->client, c->status_topic, 1), MIDGE_OK);
    }
    return c;
}

static void console_close(console *c)
{
    for (size_t i = 0; i < 2; i++) {
        if (consoles[i] == c)
            consoles[i] = NULL;
    }
    if (c != NULL && midge_client_is_connected(&c->client))
        midge_client_disconnect(&c->client);
    free(c);
}

/* Publish the request for `idx` once (QoS 1). Only while connected: a
 * publish that has to reconnect first would wait for as long as the broker
 * is away. Returns true when it went out. */
static bool console_request(console *c, unsigned idx, const char *cmd)
{
    char topic[128];
    if (!midge_client_is_connected(&c->client))
        return false;
    snprintf(topic, sizeof topic, "%sc%05u", c->request_prefix, idx);
    return midge_client_publish(&c->client, topic, cmd, strlen(cmd), 1, false, NULL) == MIDGE_OK;
}

/* Send command `idx` and wait for its reply, resending the same id every
 * resend_ms. Returns the milliseconds until the first reply, or -1 if none
 * came within deadline_ms. *resends counts the extra sends. */
static long long console_command(console *c, unsigned idx, const char *cmd, int resend_ms,
                                 int deadline_ms, unsigned long *resends)
{
    long long start = fault_proxy_now_ms();
    long long deadline = start + deadline_ms;
    long long next_send = start;
    bool sent_once = false;

    while (c->replies[idx] == 0) {
        long long now = fault_proxy_now_ms();
        if (now >= deadline)
            return -1;
        if (now >= next_send) {
            if (console_request(c, idx, cmd)) {
                if (sent_once && resends)
                    (*resends)++;
                sent_once = true;
                next_send = now + resend_ms;
            } else {
                next_send = now + 50; /* not connected: the poll reconnects */
            }
        }
        /* Errors are ridden out: auto_reconnect brings the link back. */
        (void)midge_client_poll(&c->client, 20);
    }
    return fault_proxy_now_ms() - start;
}

/* Poll for `ms` to collect late replies. */
static void console_idle(console *c, int ms)
{
    long long deadline = fault_proxy_now_ms() + ms;
    while (fault_proxy_now_ms() < deadline)
        (void)midge_client_poll(&c->client, 20);
}

/* --- the device ------------------------------------------------------------ */

static void start_device(const char *device_id, uint16_t port)
{
    snprintf(device_port, sizeof device_port, "%u", (unsigned)port);
    const char *argv[] = {"device", "--device-id", device_id, "-c", "-h", "127.0.0.1", "-p",
                          device_port, "-k", "2", "--backoff-min", "50", "--backoff-max",
                          "2000", "--led", "sim", NULL};
    assert_int_equal(device_proc_start(&device, argv), 0);
    if (device_proc_wait_event(&device, DEVICE_EV_CONNECTED, 0, START_TIMEOUT_MS) < 0) {
        device_proc_dump(&device, "no CONNACK at start");
        fail_msg("midge device did not connect");
    }
}

/* `midge send` once (the tool a user would run), expecting `want`. */
static void send_tool_expect(const char *device_id, uint16_t port, const char *cmd,
                             const char *want)
{
    char p[8];
    char expected[8];
    snprintf(p, sizeof p, "%u", (unsigned)port);
    snprintf(expected, sizeof expected, "%s\n", want);
    char *argv[] = {MIDGE_BINARY, "send", "--device-id", (char *)device_id, "-h", "127.0.0.1",
                    "-p", p, "-W", "10", (char *)cmd, NULL};
    proc_run(&send_run, argv, NULL, 20000);
    if (proc_exit_code(&send_run) != 0 || strcmp(send_run.out, expected) != 0) {
        proc_dump(&send_run, "midge send");
        device_proc_dump(&device, "midge send failed");
    }
    assert_int_equal(proc_exit_code(&send_run), 0);
    assert_string_equal(send_run.out, expected);
}

/* --- fixtures ---------------------------------------------------------------- */

static int scenario_setup(void **state)
{
    (void)state;
    memset(&device, 0, sizeof device);
    proxy = NULL;
    return test_broker_start(&broker, NULL);
}

static int scenario_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++)
        console_close(consoles[i]);
    device_proc_stop(&device);
    fault_proxy_stop(proxy);
    proxy = NULL;
    return test_broker_stop(&broker);
}

/* --- (a) commands through random resets ------------------------------------ */

static void test_every_command_acts_once_while_the_link_is_reset_at_random(void **state)
{
    static const char device_id[] = "fault-cmd";
    unsigned n = long_mode ? CMDS_LONG : CMDS_CI;
    bool led = false; /* the device starts with the LED off */
    uint32_t rs = seed;
    unsigned long resends = 0, lost = 0, wrong = 0;
    long long worst_latency = 0;
    unsigned first, last;
    (void)state;

    proxy = fault_proxy_start(broker.port);
    assert_non_null(proxy);
    start_device(device_id, fault_proxy_port(proxy));
    console *c = console_open(broker.port, device_id, "console", false);

    /* One answered command before the faults: the device's subscription
     * is in place, so the broker queues for it from now on. */
    first = next_index;
    assert_true(console_command(c, next_index++, "status", RESEND_MS, COMMAND_DEADLINE_MS,
                                &resends) >= 0);

    fault_proxy_clear_stats(proxy);
    fault_proxy_chaos_hold(proxy, CHAOS_MIN_MS, CHAOS_MAX_MS, CHAOS_HOLD_MS, seed);
    long long t_start = fault_proxy_now_ms();
    for (unsigned i = 0; i < n; i++) {
        static const char *const cmds[] = {"toggle", "toggle", "toggle", "on", "off", "status"};
        const char *cmd = cmds[rng_next(&rs) % 6];
        unsigned idx = next_index++;
        if (strcmp(cmd, "toggle") == 0)
            led = !led;
        else if (strcmp(cmd, "on") == 0)
            led = true;
        else if (strcmp(cmd, "off") == 0)
            led = false;
        long long ms = console_command(c, idx, cmd, RESEND_MS, COMMAND_DEADLINE_MS, &resends);
        if (ms < 0) {
            lost++;
            /* Unknown outcome: take the device's word for the state. */
            fprintf(stderr, "command c%05u (%s) got no reply\n", idx, cmd);
            continue;
        }
        if (ms > worst_latency)
            worst_latency = ms;
        if (c->first[idx] != (signed char)led) {
            wrong++;
            fprintf(stderr, "command c%05u (%s): reply %d, expected %s\n", idx, cmd,
                    c->first[idx], led_text(led));
            if (c->first[idx] == 0 || c->first[idx] == 1)
                led = c->first[idx] == 1; /* follow the device to count further errors */
        }
    }
    long long t_faults = fault_proxy_now_ms() - t_start;
    fault_proxy_pass(proxy);
    fault_proxy_stats ps;
    fault_proxy_get_stats(proxy, &ps);

    /* The final state, three ways: a status reply, the retained state, the
     * LED driver's last word in the log. */
    unsigned final_idx = next_index++;
    assert_true(console_command(c, final_idx, "status", RESEND_MS, COMMAND_DEADLINE_MS,
                                &resends) >= 0);
    last = final_idx;
    console_idle(c, 1000);
    console *w = console_open(broker.port, device_id, "state", true);
    long long deadline = fault_proxy_now_ms() + 10000;
    while (w->state_led < 0 && fault_proxy_now_ms() < deadline)
        (void)midge_client_poll(&w->client, 50);

    unsigned long acted_twice = 0, never_acted = 0, unanswered = 0;
    pthread_mutex_lock(&device.lock);
    for (unsigned i = first; i <= last; i++) {
        if (device.acts[i] > 1)
            acted_twice += device.acts[i] - 1u;
        if (device.acts[i] == 0)
            never_acted++;
        if (c->replies[i] == 0)
            unanswered++;
    }
    int log_led = device.led;
    unsigned long repeats = device.total_repeats;
    unsigned long unexplained = device.unexplained_drops;
    unsigned long outages = device.event_count[DEVICE_EV_BACKOFF];
    pthread_mutex_unlock(&device.lock);

    print_message("fault figures: commands %u in %lld ms, resets %lu (connections accepted %lu), "
                  "lost %lu, duplicated acts %lu, wrong replies %lu, conflicting replies %lu, "
                  "duplicate replies %lu, repeats answered by the device %lu, console resends "
                  "%lu, worst reply latency %lld ms, worst reconnect %lld ms (proxy: reset to "
                  "CONNACK), %lld ms (device log: loss to CONNACK); device backoffs %lu, of which %lu "
                  "right after a CONNACK with no reason logged; seed %u\n",
                  n, t_faults, ps.resets, ps.accepted, lost, acted_twice, wrong, c->conflicting,
                  c->duplicates, repeats, resends, worst_latency, ps.worst_recovery_ms,
                  device_proc_worst_reconnect(&device), outages, unexplained, (unsigned)seed);
    if (lost || acted_twice || never_acted || wrong || c->conflicting)
        device_proc_dump(&device, "commands under resets");

    assert_true(ps.resets > 0);
    /* The holds before resets make the broker deliver acted-on commands
     * again: without any, duplicate suppression went untested. */
    assert_true(repeats > 0);
    assert_int_equal(lost, 0);
    assert_int_equal(unanswered, 0);
    assert_int_equal(never_acted, 0);
    assert_int_equal(acted_twice, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(c->conflicting, 0);
    assert_int_equal(c->first[final_idx], led ? 1 : 0);
    assert_int_equal(w->state_led, led ? 1 : 0);
    assert_int_equal(log_led, led ? 1 : 0);
}

/* --- (b) broker crash and restart ------------------------------------------- */

/* A probe: a fresh console (as `midge send` would be) asks "status",
 * resending often, until the device answers. Returns the time from
 * `since` to the reply, or -1. */
static long long probe_device(const char *device_id, long long since, bool want_led)
{
    console *c = console_open(broker.port, device_id, "probe", false);
    unsigned idx = next_index++;
    long long ms = console_command(c, idx, "status", PROBE_RESEND_MS, PROBE_DEADLINE_MS, NULL);
    long long t = ms < 0 ? -1 : fault_proxy_now_ms() - since;
    if (ms >= 0)
        assert_int_equal(c->first[idx], want_led ? 1 : 0);
    console_close(c);
    return t;
}

static void test_device_answers_again_after_each_broker_kill_and_restart(void **state)
{
    static const char device_id[] = "fault-kill";
    int cycles = long_mode ? KILLS_LONG : KILLS_CI;
    uint32_t rs = seed ^ 0x5bd1e995u;
    long long worst = -1, worst_reconnect = -1, total = 0;
    bool led = false;
    (void)state;

    start_device(device_id, broker.port);
    assert_true(probe_device(device_id, fault_proxy_now_ms(), led) >= 0);

    for (int k = 0; k < cycles; k++) {
        /* Down long enough, some of the time, for the backoff to reach its
         * maximum (50 ms doubling reaches 2 s after about 3 s). */
        long down_ms = 200 + (long)(rng_next(&rs) % 4000u);
        assert_int_equal(test_broker_kill(&broker), 0);
        sleep_ms(down_ms);
        /* Times count from the restart request: they include mosquitto's
         * own start-up (the device may connect before the launcher has
         * seen the port open). */
        long long up = fault_proxy_now_ms();
        assert_int_equal(test_broker_restart(&broker), 0);

        long long answer = probe_device(device_id, up, led);
        long long connack = device_proc_wait_event(&device, DEVICE_EV_CONNECTED, up, 1);
        long long reconnect = connack < 0 ? -1 : connack - up;
        print_message("fault figures: kill %d: down %ld ms, device CONNACK %lld ms and answer "
                      "%lld ms after the restart\n",
                      k + 1, down_ms, reconnect, answer);
        if (answer < 0 || answer > BACKOFF_MAX_MS + 1000 + SLACK_MS) {
            device_proc_dump(&device, "no timely answer after a broker restart");
            test_broker_print_log(&broker, stderr);
        }
        assert_true(answer >= 0);
        assert_true(answer <= BACKOFF_MAX_MS + 1000 + SLACK_MS);
        if (answer > worst)
            worst = answer;
        if (reconnect > worst_reconnect)
            worst_reconnect = reconnect;
        total += answer;

        /* And the user's tool works too: one toggle through `midge send`. */
        led = !led;
        send_tool_expect(device_id, broker.port, "toggle", led_text(led));
    }
    print_message("fault figures: broker killed %d times: worst answer %lld ms after restart "
                  "(mean %lld ms), worst device reconnect %lld ms; target %d ms "
                  "(max backoff + 1 s)\n",
                  cycles, worst, total / cycles, worst_reconnect, BACKOFF_MAX_MS + 1000);
}

/* --- (c) frozen broker -------------------------------------------------------- */

/* The device's retained presence as a new subscriber sees it (after a
 * moment for wills of stale connections to land). Reported, not asserted:
 * an old connection's will racing the new "online" is the broker's doing. */
static void retained_presence(const char *device_id, char *out, size_t cap)
{
    console *w = console_open(broker.port, device_id, "presence", true);
    console_idle(w, 500);
    snprintf(out, cap, "%s", w->presence);
    console_close(w);
}

/* Freeze the broker and wait for the device to notice. Returns the
 * detection time (ms after SIGSTOP). */
static long long freeze_and_detect(long long *t_stop)
{
    long long limit = KEEPALIVE_S * 1500 + SLACK_MS;
    assert_int_equal(test_broker_pause(&broker), 0);
    *t_stop = fault_proxy_now_ms();
    long long seen = device_proc_wait_event(&device, DEVICE_EV_KEEPALIVE, *t_stop,
                                            (int)limit + 5000);
    if (seen < 0 || seen - *t_stop > limit)
        device_proc_dump(&device, "keepalive loss not detected in time");
    assert_true(seen >= 0);
    assert_true(seen - *t_stop <= limit);
    return seen - *t_stop;
}

static void test_device_detects_a_frozen_broker_and_comes_back(void **state)
{
    static const char device_id[] = "fault-freeze";
    long long t_stop;
    (void)state;

    /* Through the proxy (passing everything): it counts the device's
     * connection attempts while the broker is frozen. */
    proxy = fault_proxy_start(broker.port);
    assert_non_null(proxy);
    start_device(device_id, fault_proxy_port(proxy));
    assert_true(probe_device(device_id, fault_proxy_now_ms(), false) >= 0);

    /* Case 1: frozen, then thawed with SIGCONT. */
    fault_proxy_clear_stats(proxy);
    long long detect1 = freeze_and_detect(&t_stop);
    /* A new attempt follows; its TCP handshake succeeds (the kernel
     * completes it for the stopped broker), so only the CONNACK time-out
     * can end it. Wait for that time-out and the attempt after it. */
    long long attempt = device_proc_wait_event(&device, DEVICE_EV_ATTEMPT, t_stop + detect1,
                                               BACKOFF_MAX_MS + SLACK_MS);
    assert_true(attempt >= 0);
    long long timeout = device_proc_wait_event(&device, DEVICE_EV_CONNACK_TIMEOUT, attempt,
                                               DEVICE_CONNACK_TIMEOUT_MS + SLACK_MS);
    if (timeout < 0)
        device_proc_dump(&device, "no CONNACK time-out while frozen");
    assert_true(timeout >= 0);
    long long retry = device_proc_wait_event(&device, DEVICE_EV_ATTEMPT, timeout,
                                             BACKOFF_MAX_MS + SLACK_MS);
    assert_true(retry >= 0);
    long long t_cont = fault_proxy_now_ms();
    /* Up to and including t_cont: the retry may share its millisecond. */
    unsigned long attempts =
        device_proc_count_between(&device, DEVICE_EV_ATTEMPT, t_stop, t_cont + 1);
    fault_proxy_stats ps;
    fault_proxy_get_stats(proxy, &ps);
    assert_int_equal(test_broker_resume(&broker), 0);
    long long back1 = probe_device(device_id, t_cont, false);
    char presence1[16];
    retained_presence(device_id, presence1, sizeof presence1);
    print_message("fault figures: freeze 1: keepalive loss declared %lld ms after SIGSTOP "
                  "(1.5 x keepalive = %d ms); %lu attempts while frozen (proxy accepted %lu), "
                  "CONNACK time-out fired %lld ms into an attempt (device has no option for "
                  "it: library default %u ms vs backoff max %d ms); answered %lld ms after "
                  "SIGCONT; retained presence then \"%s\"\n",
                  detect1, KEEPALIVE_S * 1500, attempts, ps.accepted, timeout - attempt,
                  (unsigned)DEVICE_CONNACK_TIMEOUT_MS, BACKOFF_MAX_MS, back1, presence1);
    assert_true(attempts >= 2);
    assert_true(ps.accepted >= 2);
    if (back1 < 0 || back1 > BACKOFF_MAX_MS + 1000 + SLACK_MS)
        device_proc_dump(&device, "no timely answer after SIGCONT");
    assert_true(back1 >= 0);
    assert_true(back1 <= BACKOFF_MAX_MS + 1000 + SLACK_MS);

    /* Case 2: frozen, then killed and restarted on the same port. */
    long long detect2 = freeze_and_detect(&t_stop);
    assert_int_equal(test_broker_kill(&broker), 0);
    long long up = fault_proxy_now_ms();
    assert_int_equal(test_broker_restart(&broker), 0);
    long long back2 = probe_device(device_id, up, false);
    print_message("fault figures: freeze 2: keepalive loss declared %lld ms after SIGSTOP; "
                  "answered %lld ms after the restart\n",
                  detect2, back2);
    if (back2 < 0 || back2 > BACKOFF_MAX_MS + 1000 + SLACK_MS)
        device_proc_dump(&device, "no timely answer after restarting a frozen broker");
    assert_true(back2 >= 0);
    assert_true(back2 <= BACKOFF_MAX_MS + 1000 + SLACK_MS);
}

/* --- main ------------------------------------------------------------------- */

/* --- (d) stopped while nothing it sends gets through ------------------------ */

/* Whether the device's kept log tail holds `needle`. */
static bool log_tail_has(device_proc *d, const char *needle)
{
    static char text[DEVICE_PROC_TAIL + 1];
    size_t n = 0;
    pthread_mutex_lock(&d->lock);
    if (d->tail_wrapped) {
        memcpy(text, d->tail + d->tail_head, DEVICE_PROC_TAIL - d->tail_head);
        n = DEVICE_PROC_TAIL - d->tail_head;
    }
    memcpy(text + n, d->tail, d->tail_head);
    n += d->tail_head;
    pthread_mutex_unlock(&d->lock);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

/*
 * The device's path to the broker stalls (what it sends is held), so no
 * acknowledgement ever comes back and the answers to a stream of commands
 * fill its in-flight window. Stopped then, it cannot queue its "offline"
 * notice; a DISCONNECT would leave the retained presence saying "online"
 * for good. It must close without one, so the broker's will says "offline".
 */
static void test_device_stopped_with_a_full_window_leaves_the_will_to_say_offline(void **state)
{
    static const char device_id[] = "fault-full";
    char presence[16];
    (void)state;

    proxy = fault_proxy_start(broker.port);
    assert_non_null(proxy);
    start_device(device_id, fault_proxy_port(proxy));
    console *c = console_open(broker.port, device_id, "full", false);
    fault_proxy_stall(proxy, FAULT_UP);

    /* Commands at QoS 0, so the broker's own in-flight limit towards the
     * device (20 unacknowledged QoS 1 messages) does not hold them back;
     * the answers, QoS 1 and about 60 bytes each, overfill the device's
     * 64 KB store long before 2,000. */
    for (unsigned idx = 1; idx < 2000; idx++) {
        char topic[128];
        snprintf(topic, sizeof topic, "%sc%05u", c->request_prefix, idx);
        assert_int_equal(midge_client_publish(&c->client, topic, "status", 6, 0, false, NULL),
                         MIDGE_OK);
        if (idx % 50 == 0)
            (void)midge_client_poll(&c->client, 5);
    }
    console_idle(c, 1500);

    int code = device_proc_stop(&device);
    if (code != 0 || !log_tail_has(&device, "offline notice not sent"))
        device_proc_dump(&device, "stopped with a full window");
    assert_int_equal(code, 0);
    assert_true(log_tail_has(&device, "offline notice not sent"));

    fault_proxy_stall(proxy, FAULT_NONE);
    long long deadline = fault_proxy_now_ms() + 10000;
    do {
        retained_presence(device_id, presence, sizeof presence);
    } while (strcmp(presence, "offline") != 0 && fault_proxy_now_ms() < deadline);
    assert_string_equal(presence, "offline");
}

int main(int argc, char **argv)
{
    const char *scenario = NULL;
    const char *env_seed = getenv("MIDGE_FAULT_SEED");

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--long") == 0)
            long_mode = true;
        else
            scenario = argv[i];
    }
    if (long_mode) {
        const char *on = getenv("MIDGE_FAULT_LONG");
        if (on == NULL || strcmp(on, "1") != 0) {
            printf("long fault run skipped: set MIDGE_FAULT_LONG=1 to run it\n");
            return 77;
        }
    }
    seed = env_seed != NULL ? (uint32_t)strtoul(env_seed, NULL, 10)
                            : (uint32_t)time(NULL) ^ (uint32_t)getpid();
    if (seed == 0)
        seed = 1;

    const struct CMUnitTest commands[] = {cmocka_unit_test_setup_teardown(
        test_every_command_acts_once_while_the_link_is_reset_at_random, scenario_setup,
        scenario_teardown)};
    const struct CMUnitTest kills[] = {cmocka_unit_test_setup_teardown(
        test_device_answers_again_after_each_broker_kill_and_restart, scenario_setup,
        scenario_teardown)};
    const struct CMUnitTest freezes[] = {cmocka_unit_test_setup_teardown(
        test_device_detects_a_frozen_broker_and_comes_back, scenario_setup, scenario_teardown)};

    if (scenario != NULL && strcmp(scenario, "commands") == 0)
        return cmocka_run_group_tests_name("device: commands under resets", commands, NULL, NULL);
    if (scenario != NULL && strcmp(scenario, "broker-kill") == 0)
        return cmocka_run_group_tests_name("device: broker killed", kills, NULL, NULL);
    const struct CMUnitTest full[] = {cmocka_unit_test_setup_teardown(
        test_device_stopped_with_a_full_window_leaves_the_will_to_say_offline, scenario_setup,
        scenario_teardown)};
    if (scenario != NULL && strcmp(scenario, "full-window") == 0)
        return cmocka_run_group_tests_name("device: stopped with a full window", full, NULL, NULL);
    if (scenario != NULL && strcmp(scenario, "broker-freeze") == 0)
        return cmocka_run_group_tests_name("device: broker frozen", freezes, NULL, NULL);
    fprintf(stderr, "usage: %s [--long] commands|broker-kill|broker-freeze|full-window\n",
            argv[0]);
    return 2;
}
