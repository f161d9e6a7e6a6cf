/*
 * Soak: `midge device` for ten minutes under every fault at once, its
 * resident memory and open descriptors sampled every second.
 *
 * The faults, together and for the whole run:
 *   commands         a console (written here with the library, connected
 *                    straight to the broker) sends on/off/toggle/status at
 *                    QoS 1, one at a time, resending the same id until it
 *                    is answered, and checks each answer
 *   link resets      the fault proxy between the device and the broker
 *                    resets the device's link every 2-10 s, holding what
 *                    the device sends for up to 40 ms first, so acted-on
 *                    commands come back to it as repeats
 *   broker restarts  the broker killed (SIGKILL) and restarted on the same
 *                    port every minute
 *   a QoS 0 flood    a second client publishes toggle/status commands with
 *                    fresh ids to the device as fast as it can, 5 s of
 *                    every 30
 *
 * The device's RSS and descriptor count after the first minute (the
 * warm-up) are the start; after the faults have stopped and the device has
 * been quiet for a moment, the end. Asserted: the end RSS at most
 * max(1 MiB, 10%) above the start (not under AddressSanitizer, whose shadow
 * memory and quarantine say nothing about the device's own: printed only);
 * the same descriptor count, the device connected at both samples; every
 * console command the broker acknowledged answered, and every answer
 * right. QoS 0 flood commands carry no guarantee and are only counted; so
 * are console commands acted on twice: thousands of fresh flood ids push a
 * command out of the device's command memory (MIDGE_DEVICE_DEDUPE_SLOTS)
 * before its redelivery, which it then takes for a new one.
 *
 * Opt-in: runs only with MIDGE_SOAK=1 (else exit 77, reported as skipped).
 * MIDGE_SOAK_SECONDS sets the length (default 600; a short run scales the
 * warm-up and the restart period down with it), MIDGE_SOAK_SEED replays a
 * random sequence. Figures are printed as lines starting "soak figures:".
 */
#define _GNU_SOURCE 1 /* RTLD_DEFAULT */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "device_proc.h"
#include "fault_proxy.h"
#include "midge/midge.h"

#define DEVICE_ID "soak-device"
#define SECONDS_DEFAULT 600
#define SECONDS_MIN 30 /* past the warm-up */
#define SECONDS_MAX (2 * 60 * 60)

/* Link resets: the proxy's chaos, min..max apart, holding up to HOLD ms. */
#define RESET_MIN_MS 2000
#define RESET_MAX_MS 10000
#define RESET_HOLD_MS 40
/* Broker restarts and the warm-up: a minute each in a full run, a tenth of
 * a shorter one within these bounds; the warm-up always takes in the first
 * flood burst and its backlog. */
#define RESTART_PERIOD_MAX_MS 60000
#define RESTART_PERIOD_MIN_MS 10000
#define BROKER_DOWN_MIN_MS 200
#define BROKER_DOWN_MAX_MS 2000
#define WARMUP_MAX_MS 60000
#define WARMUP_MIN_MS 20000
/* The flood: FLOOD_ON_MS of every FLOOD_PERIOD_MS, the first at FLOOD_FIRST_MS. */
#define FLOOD_FIRST_MS 10000
#define FLOOD_PERIOD_MS 30000
#define FLOOD_ON_MS 5000

/* The console: one command at a time, at most one per CONSOLE_GAP_MS,
 * resent under the same id after RESEND_MS without an answer; lost after
 * COMMAND_DEADLINE_MS (generous: behind a flood the device may have a
 * backlog to answer first, slowly under a sanitizer). */
#define CONSOLE_GAP_MS 50
#define RESEND_MS 1500
#define COMMAND_DEADLINE_MS 60000
/* The LED's state is predictable only with no flood command acted on
 * since the last answer: no flood publish for this long before the
 * command was sent, and the device's count of flood acts unchanged. */
#define FLOOD_SETTLE_MS 3000

#define SAMPLE_MS 1000
#define TICK_MS 100
/* A sample counts as "connected" when the device's last CONNACK is this
 * old and nothing about its link changed while the sample was read. */
#define SETTLE_MS 1000
/* How long a connected sample may take to come (the warm-up's falls
 * among resets 2-10 s apart; the end's after the faults stopped). */
#define STABLE_WAIT_MS 60000
/* After the faults: the flood's backlog drained (no act for DRAIN_QUIET_MS,
 * within DRAIN_MAX_MS), then QUIET_MS more before the end sample. */
#define DRAIN_QUIET_MS 3000
#define DRAIN_MAX_MS 120000
#define QUIET_MS 5000

#define RSS_TOLERANCE_KIB 1024L
#define RSS_TOLERANCE_PERCENT 10L

/* --- the run's shared state ------------------------------------------------ */

typedef struct soak_sample {
    long rss_kib;
    long fds;
} soak_sample;

typedef struct soak_run {
    uint32_t seed;
    long long length_ms;
    long long t0, end_ms; /* the faults' start and end */
    long long warmup_ms, restart_period_ms;
    /* The conductor's (sampling, broker restarts), read by main after the
     * join or under `lock`. */
    pthread_mutex_t lock;
    soak_sample warm, min, max;
    unsigned long samples, sample_failures;
    long rss_by_minute[SECONDS_MAX / 60 + 2];
    bool warm_taken, warm_failed;
    unsigned long restarts, restart_failures;
    atomic_bool faults_over; /* no restart after this, none under way */
    atomic_bool stop_conductor;
    /* The flood's. */
    atomic_bool stop_flood;
    atomic_llong flood_last_ms; /* time of the last flood publish, 0 = none */
    atomic_ulong flood_sent;
    atomic_ulong flood_bursts;
    atomic_ulong flood_failed; /* publishes not taken (no connection) */
} soak_run;

static soak_run run;
static test_broker broker;
static fault_proxy *proxy;
static device_proc device;
static bool under_asan;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static long long clamp_ll(long long v, long long lo, long long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* --- sampling ------------------------------------------------------------- */

/* VmRSS (kB in /proc's units) and the number of open descriptors. */
static bool sample_read(pid_t pid, soak_sample *out)
{
    char path[64];
    char line[256];
    long rss = -1;
    long fds = 0;

    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    while (rss < 0 && fgets(line, sizeof line, f) != NULL)
        (void)sscanf(line, "VmRSS: %ld", &rss);
    fclose(f);

    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return false;
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir))
        fds += e->d_name[0] != '.';
    closedir(dir);
    out->rss_kib = rss;
    out->fds = fds;
    return rss >= 0;
}

/* What says whether the device's link changed while a sample was read. */
typedef struct link_mark {
    unsigned long attempts, backoffs, resets, accepted;
    bool connected; /* per the log: the last attempt got its CONNACK, SETTLE_MS ago */
    bool one_link;  /* per the proxy: exactly one connection open */
} link_mark;

static long long last_event_locked(enum device_event kind)
{
    unsigned long n = device.event_count[kind];
    return n == 0 || n > DEVICE_PROC_MAX_EVENTS ? -1 : device.events[kind][n - 1];
}

static void link_mark_take(link_mark *m)
{
    fault_proxy_stats ps;

    fault_proxy_get_stats(proxy, &ps);
    pthread_mutex_lock(&device.lock);
    m->attempts = device.event_count[DEVICE_EV_ATTEMPT];
    m->backoffs = device.event_count[DEVICE_EV_BACKOFF];
    long long connack = last_event_locked(DEVICE_EV_CONNECTED);
    long long attempt = last_event_locked(DEVICE_EV_ATTEMPT);
    pthread_mutex_unlock(&device.lock);
    /* Every attempt ends in exactly one backoff line (a failure or a loss
     * after its CONNACK), and at least 25 ms pass between a backoff and
     * the next attempt: one attempt open and its CONNACK logged after it
     * is a connection up. */
    m->connected = m->attempts == m->backoffs + 1 && connack >= 0 && connack >= attempt &&
                   fault_proxy_now_ms() - connack >= SETTLE_MS;
    m->resets = ps.resets;
    m->accepted = ps.accepted;
    m->one_link = ps.live == 1;
}

/* A sample taken with the device connected throughout: false when its
 * link was down or changed meanwhile (try again later). */
static bool sample_connected(soak_sample *out)
{
    link_mark before, after;

    link_mark_take(&before);
    if (!before.connected || !before.one_link)
        return false;
    if (!sample_read(device.pid, out))
        return false;
    link_mark_take(&after);
    return after.connected && after.one_link && before.attempts == after.attempts &&
           before.resets == after.resets && before.accepted == after.accepted;
}

static void sample_record(const soak_sample *s, long long now)
{
    pthread_mutex_lock(&run.lock);
    if (run.samples == 0 || s->rss_kib < run.min.rss_kib)
        run.min.rss_kib = s->rss_kib;
    if (run.samples == 0 || s->rss_kib > run.max.rss_kib)
        run.max.rss_kib = s->rss_kib;
    if (run.samples == 0 || s->fds < run.min.fds)
        run.min.fds = s->fds;
    if (run.samples == 0 || s->fds > run.max.fds)
        run.max.fds = s->fds;
    long long minute = (now - run.t0) / 60000;
    if (minute >= 0 && minute < (long long)(sizeof run.rss_by_minute / sizeof run.rss_by_minute[0]))
        run.rss_by_minute[minute] = s->rss_kib; /* the minute's last sample */
    run.samples++;
    pthread_mutex_unlock(&run.lock);
}

/* --- the conductor: samples, the warm-up mark, broker restarts ------------- */

static void *conductor_main(void *arg)
{
    uint32_t rs = run.seed ^ 0x9e3779b9u;
    long long next_sample = run.t0;
    long long next_restart = run.t0 + run.restart_period_ms;
    long long restart_at = -1; /* broker down: when to start it again */
    (void)arg;

    while (!atomic_load(&run.stop_conductor)) {
        long long now = fault_proxy_now_ms();
        soak_sample s;

        if (now >= next_sample) {
            if (sample_read(device.pid, &s))
                sample_record(&s, now);
            else
                run.sample_failures++;
            next_sample += SAMPLE_MS;
        }
        if (!run.warm_taken && !run.warm_failed && now >= run.t0 + run.warmup_ms) {
            pthread_mutex_lock(&run.lock);
            run.warm_taken = sample_connected(&run.warm);
            run.warm_failed = !run.warm_taken && now >= run.t0 + run.warmup_ms + STABLE_WAIT_MS;
            pthread_mutex_unlock(&run.lock);
        }
        if (restart_at >= 0 && now >= restart_at) {
            if (test_broker_restart(&broker) != 0)
                run.restart_failures++;
            restart_at = -1;
            run.restarts++;
        }
        if (restart_at < 0 && now >= run.end_ms)
            atomic_store(&run.faults_over, true);
        if (restart_at < 0 && now < run.end_ms && now >= next_restart) {
            if (test_broker_kill(&broker) != 0)
                run.restart_failures++;
            restart_at = now + BROKER_DOWN_MIN_MS +
                         xorshift(&rs) % (BROKER_DOWN_MAX_MS - BROKER_DOWN_MIN_MS + 1);
            next_restart += run.restart_period_ms;
        }
        sleep_ms(TICK_MS);
    }
    return NULL;
}

/* --- the flood: a second client, QoS 0, as fast as it goes ----------------- */

typedef struct soak_client_mem {
    uint8_t tx[4096];
    uint8_t rx[16384];
    uint8_t store[32768];
    uint16_t qos2_ids[8];
    midge_tcp tcp; /* the default transport's socket */
} soak_client_mem;

static bool flood_window(long long now)
{
    long long t = now - run.t0 - FLOOD_FIRST_MS;
    return t >= 0 && now < run.end_ms && t % FLOOD_PERIOD_MS < FLOOD_ON_MS;
}

/* A client of the broker (not the proxy) that rides out its restarts. */
static void soak_client_init(midge_client *c, soak_client_mem *mem, const char *id,
                             uint32_t call_timeout_ms)
{
    /* Reconnects quickly: the broker's restarts are short. */
    midge_client_config cfg = {.host = "127.0.0.1",
                               .port = broker.port,
                               .connect = {.client_id = id,
                                           .keepalive_s = 60,
                                           .clean_session = true},
                               .connect_timeout_ms = 3000,
                               .connack_timeout_ms = 5000,
                               .auto_reconnect = true,
                               .backoff_min_ms = 50,
                               .backoff_max_ms = 500,
                               .call_timeout_ms = call_timeout_ms,
                               .open = midge_tcp_opener,
                               .opener = &mem->tcp,
                               .platform = &midge_posix_platform};
    midge_session_buffers bufs = {.tx = mem->tx,
                                  .tx_size = sizeof mem->tx,
                                  .rx = mem->rx,
                                  .rx_size = sizeof mem->rx,
                                  .store = mem->store,
                                  .store_size = sizeof mem->store,
                                  .rx_qos2_ids = mem->qos2_ids,
                                  .rx_qos2_cap = 8};

    assert_int_equal(midge_client_init(c, &cfg, &bufs), MIDGE_OK);
}

typedef struct soak_flood {
    midge_client client;
    soak_client_mem mem;
    char id[48];
} soak_flood;

static void *flood_main(void *arg)
{
    soak_flood *f = arg;
    uint32_t rs = run.seed ^ 0x85ebca6bu;
    unsigned long n = 0;
    bool in_burst = false;
    char topic[96];

    while (!atomic_load(&run.stop_flood)) {
        long long now = fault_proxy_now_ms();
        bool window = flood_window(now);
        if (window && !in_burst)
            atomic_fetch_add(&run.flood_bursts, 1);
        in_burst = window;
        /* Out of a burst, or with the broker away: keep the link (the poll
         * reconnects) and look at the clock again soon. */
        if (!window || !midge_client_is_connected(&f->client)) {
            (void)midge_client_poll(&f->client, 50);
            continue;
        }
        const char *cmd = xorshift(&rs) & 1 ? "toggle" : "status";
        snprintf(topic, sizeof topic, "devices/" DEVICE_ID "/cmd/request/f%lu", n++);
        if (midge_client_publish(&f->client, topic, cmd, strlen(cmd), 0, false, NULL) == MIDGE_OK) {
            atomic_fetch_add(&run.flood_sent, 1);
            atomic_store(&run.flood_last_ms, now);
        } else {
            atomic_fetch_add(&run.flood_failed, 1);
        }
    }
    return NULL;
}

/* --- the console ----------------------------------------------------------- */

enum { LED_OFF = 0, LED_ON = 1, LED_OTHER = 2, LED_NONE = -1 };

typedef struct soak_console {
    midge_client client;
    soak_client_mem mem;
    char id[48];
    /* Which command index a packet id was last used for (0 = none): its
     * PUBACK marks the command acknowledged by the broker. */
    uint16_t by_packet[65536];
    bool acked[DEVICE_PROC_MAX_CMDS];
    unsigned short replies[DEVICE_PROC_MAX_CMDS];
    signed char answer[DEVICE_PROC_MAX_CMDS]; /* the first reply: LED_* */
    unsigned long flood_replies; /* answers to the flood's commands */
    unsigned long sends;         /* publishes, resends included */
} soak_console;

static const char response_prefix[] = "devices/" DEVICE_ID "/cmd/response/";

static void console_on_message(void *user, const midge_publish *msg)
{
    soak_console *c = user;
    size_t plen = sizeof response_prefix - 1;
    char digits[16];
    char *end;

    if (msg->topic_len <= plen + 1 || memcmp(msg->topic, response_prefix, plen) != 0)
        return;
    if (msg->topic[plen] != 'c') {
        c->flood_replies++;
        return;
    }
    size_t dlen = msg->topic_len - plen - 1;
    if (dlen >= sizeof digits)
        return;
    memcpy(digits, msg->topic + plen + 1, dlen);
    digits[dlen] = '\0';
    unsigned long idx = strtoul(digits, &end, 10);
    if (*end != '\0' || idx == 0 || idx >= DEVICE_PROC_MAX_CMDS)
        return;
    if (c->replies[idx]++ > 0)
        return;
    if (msg->payload_len == 2 && memcmp(msg->payload, "on", 2) == 0)
        c->answer[idx] = LED_ON;
    else if (msg->payload_len == 3 && memcmp(msg->payload, "off", 3) == 0)
        c->answer[idx] = LED_OFF;
    else
        c->answer[idx] = LED_OTHER;
}

static void console_on_event(void *user, const midge_event *ev)
{
    soak_console *c = user;

    if (ev->type != MIDGE_EV_PUBLISHED || c->by_packet[ev->packet_id] == 0)
        return;
    c->acked[c->by_packet[ev->packet_id]] = true;
    c->by_packet[ev->packet_id] = 0;
}

/* One publish of command `idx`, only while connected (a publish that had
 * to reconnect first would wait out the broker's absence). */
static bool console_send(soak_console *c, unsigned idx, const char *cmd)
{
    char topic[96];
    uint16_t packet_id = 0;

    if (!midge_client_is_connected(&c->client))
        return false;
    snprintf(topic, sizeof topic, "devices/" DEVICE_ID "/cmd/request/c%05u", idx);
    if (midge_client_publish(&c->client, topic, cmd, strlen(cmd), 1, false, &packet_id) !=
        MIDGE_OK)
        return false;
    c->by_packet[packet_id] = (uint16_t)idx;
    c->sends++;
    return true;
}

/* Send `idx` until its first answer; false if none came in time. */
static bool console_ask(soak_console *c, unsigned idx, const char *cmd)
{
    long long deadline = fault_proxy_now_ms() + COMMAND_DEADLINE_MS;
    long long resend_at = 0;

    while (c->replies[idx] == 0) {
        long long now = fault_proxy_now_ms();
        if (now >= deadline)
            return false;
        if (now >= resend_at)
            resend_at = now + (console_send(c, idx, cmd) ? RESEND_MS : 50);
        (void)midge_client_poll(&c->client, 20);
    }
    return true;
}

static void console_idle(soak_console *c, long ms)
{
    for (long long until = fault_proxy_now_ms() + ms; fault_proxy_now_ms() < until;)
        (void)midge_client_poll(&c->client, 20);
}

static unsigned long device_flood_acts(void)
{
    pthread_mutex_lock(&device.lock);
    unsigned long n = device.untracked_acts;
    pthread_mutex_unlock(&device.lock);
    return n;
}

/* What the console counted over the run. */
typedef struct console_tally {
    unsigned first, last; /* command indexes used */
    unsigned long lost;   /* no answer in time */
    unsigned long wrong;  /* an answer other than the one expected */
    unsigned long checked_exactly; /* answers whose state was predictable */
} console_tally;

/* The LED state a command's answer must show: `led` is the state before
 * it, LED_NONE when not predictable. */
static int expected_answer(const char *cmd, int led)
{
    if (strcmp(cmd, "on") == 0)
        return LED_ON;
    if (strcmp(cmd, "off") == 0)
        return LED_OFF;
    if (led == LED_NONE)
        return LED_NONE;
    return strcmp(cmd, "toggle") == 0 ? !led : led;
}

static void console_run(soak_console *c, console_tally *t)
{
    static const char *const cmds[] = {"toggle", "toggle", "on", "off", "status"};
    uint32_t rs = run.seed;
    int led = LED_NONE;
    unsigned long flood_acts_seen = device_flood_acts();

    t->first = 1;
    for (unsigned idx = 1; fault_proxy_now_ms() < run.end_ms && idx < DEVICE_PROC_MAX_CMDS;
         idx++) {
        const char *cmd = cmds[xorshift(&rs) % 5];
        long long sent = fault_proxy_now_ms();
        bool settled = sent - atomic_load(&run.flood_last_ms) >= FLOOD_SETTLE_MS;
        t->last = idx;
        if (!console_ask(c, idx, cmd)) {
            t->lost++;
            led = LED_NONE;
            fprintf(stderr, "command c%05u (%s) got no answer\n", idx, cmd);
            continue;
        }
        /* Still predictable when no flood command was published meanwhile
         * and the device acted on none since the last answer. */
        unsigned long acts = device_flood_acts();
        settled = settled && sent - atomic_load(&run.flood_last_ms) >= FLOOD_SETTLE_MS &&
                  acts == flood_acts_seen;
        flood_acts_seen = acts;
        int want = expected_answer(cmd, settled ? led : LED_NONE);
        int got = c->answer[idx];
        if (want != LED_NONE)
            t->checked_exactly++;
        if (got == LED_OTHER || (want != LED_NONE && got != want)) {
            t->wrong++;
            fprintf(stderr, "command c%05u (%s): answer %d, expected %d\n", idx, cmd, got, want);
        }
        led = got == LED_OTHER ? LED_NONE : got;
        console_idle(c, CONSOLE_GAP_MS);
    }
}

/* --- the test --------------------------------------------------------------- */

static void start_device(uint16_t port)
{
    char p[8];
    snprintf(p, sizeof p, "%u", (unsigned)port);
    const char *argv[] = {"device", "--device-id", DEVICE_ID, "-c", "-h", "127.0.0.1", "-p", p,
                          "-k", "5", "--backoff-min", "50", "--backoff-max", "2000", "--led",
                          "sim", NULL};
    assert_int_equal(device_proc_start(&device, argv), 0);
    if (device_proc_wait_event(&device, DEVICE_EV_CONNECTED, 0, 15000) < 0) {
        device_proc_dump(&device, "no CONNACK at start");
        fail_msg("midge device did not connect");
    }
}

/* After the faults: the device reconnected, the flood's backlog answered,
 * a moment of quiet, then a sample with the device connected. */
static bool settle_and_sample(soak_console *c, unsigned idx, soak_sample *end)
{
    if (!console_ask(c, idx, "status")) {
        fprintf(stderr, "no answer to a status command after the faults\n");
        return false;
    }
    long long until = fault_proxy_now_ms() + DRAIN_MAX_MS;
    unsigned long acts = device_flood_acts();
    long long still_since = fault_proxy_now_ms();
    while (fault_proxy_now_ms() - still_since < DRAIN_QUIET_MS && fault_proxy_now_ms() < until) {
        console_idle(c, 200);
        unsigned long now_acts = device_flood_acts();
        if (now_acts != acts) {
            acts = now_acts;
            still_since = fault_proxy_now_ms();
        }
    }
    console_idle(c, QUIET_MS);
    for (long long limit = fault_proxy_now_ms() + STABLE_WAIT_MS; fault_proxy_now_ms() < limit;) {
        if (sample_connected(end))
            return true;
        console_idle(c, TICK_MS);
    }
    return false;
}

static void print_rss_trail(void)
{
    long long minutes = (run.end_ms - run.t0) / 60000 + 1;
    printf("soak figures: RSS (KiB) at the end of each minute:");
    for (long long m = 0; m < minutes && m < (long long)(sizeof run.rss_by_minute /
                                                         sizeof run.rss_by_minute[0]);
         m++)
        printf(" %ld", run.rss_by_minute[m]);
    printf("\n");
}

static void test_device_resources_end_where_they_started_under_every_fault(void **state)
{
    static soak_console console_mem;
    static soak_flood flood;
    soak_console *c = &console_mem;
    console_tally t = {0};
    soak_sample end;
    pthread_t conductor_thread, flood_thread;
    (void)state;

    assert_int_equal(test_broker_start(&broker, NULL), 0);
    proxy = fault_proxy_start(broker.port);
    assert_non_null(proxy);
    start_device(fault_proxy_port(proxy));

    snprintf(c->id, sizeof c->id, "soak-console-%ld", (long)getpid());
    soak_client_init(&c->client, &c->mem, c->id, 5000);
    midge_client_set_callback(&c->client, console_on_message, c);
    midge_client_set_event_callback(&c->client, console_on_event, c);
    assert_int_equal(midge_client_connect(&c->client, NULL), MIDGE_OK);
    assert_int_equal(midge_client_subscribe(&c->client, "devices/" DEVICE_ID "/cmd/response/+", 1),
                     MIDGE_OK);
    snprintf(flood.id, sizeof flood.id, "soak-flood-%ld", (long)getpid());
    soak_client_init(&flood.client, &flood.mem, flood.id, 1000);
    assert_int_equal(midge_client_connect(&flood.client, NULL), MIDGE_OK);

    run.t0 = fault_proxy_now_ms();
    run.end_ms = run.t0 + run.length_ms;
    fault_proxy_chaos_hold(proxy, RESET_MIN_MS, RESET_MAX_MS, RESET_HOLD_MS, run.seed);
    assert_int_equal(pthread_create(&conductor_thread, NULL, conductor_main, NULL), 0);
    assert_int_equal(pthread_create(&flood_thread, NULL, flood_main, &flood), 0);

    console_run(c, &t);

    /* The faults stop: no more resets, flood or restarts. */
    fault_proxy_pass(proxy);
    atomic_store(&run.stop_flood, true);
    pthread_join(flood_thread, NULL);
    while (!atomic_load(&run.faults_over))
        console_idle(c, TICK_MS);
    long long faults_ms = fault_proxy_now_ms() - run.t0;
    fault_proxy_stats ps;
    fault_proxy_get_stats(proxy, &ps);
    bool end_taken = settle_and_sample(c, t.last + 1, &end);
    atomic_store(&run.stop_conductor, true);
    pthread_join(conductor_thread, NULL);
    if (end_taken)
        sample_record(&end, fault_proxy_now_ms());

    /* The device's word on every console command. */
    unsigned long answered = 0, acked = 0, acked_lost = 0, unseen = 0, acted_twice = 0;
    pthread_mutex_lock(&device.lock);
    for (unsigned i = t.first; i <= t.last; i++) {
        answered += c->replies[i] > 0;
        acked += c->acked[i];
        acked_lost += c->acked[i] && c->replies[i] == 0;
        unseen += c->replies[i] > 0 && device.acts[i] == 0 && device.repeats[i] == 0;
        acted_twice += device.acts[i] > 1 ? device.acts[i] - 1u : 0;
    }
    unsigned long repeats = device.total_repeats;
    unsigned long flood_acts = device.untracked_acts;
    pthread_mutex_unlock(&device.lock);

    long tolerance = run.warm.rss_kib * RSS_TOLERANCE_PERCENT / 100;
    if (tolerance < RSS_TOLERANCE_KIB)
        tolerance = RSS_TOLERANCE_KIB;
    printf("soak figures: %lld s of faults (seed %u%s): commands %u sent (%lu publishes with "
           "resends), %lu answered, %lu acknowledged by the broker, %lu lost, %lu acknowledged "
           "and lost, %lu wrong answers (%lu checked against a predicted LED state), %lu acted "
           "on twice, %lu repeats answered by the device\n",
           faults_ms / 1000, (unsigned)run.seed, under_asan ? ", AddressSanitizer" : "",
           t.last - t.first + 1, c->sends, answered, acked, t.lost, acked_lost, t.wrong,
           t.checked_exactly, acted_twice, repeats);
    printf("soak figures: link resets %lu (proxy connections accepted %lu), broker restarts %lu "
           "(%lu failed), flood bursts %lu with %lu QoS 0 commands sent (%lu not taken), "
           "%lu acted on by the device, %lu of their answers seen by the console\n",
           ps.resets, ps.accepted, run.restarts, run.restart_failures,
           atomic_load(&run.flood_bursts), atomic_load(&run.flood_sent),
           atomic_load(&run.flood_failed), flood_acts, c->flood_replies);
    printf("soak figures: RSS KiB min %ld max %ld start %ld (after %lld s warm-up) end %ld "
           "(tolerance %ld%s); fds start %ld end %ld (min %ld max %ld); %lu samples, %lu "
           "unreadable\n",
           run.min.rss_kib, run.max.rss_kib, run.warm.rss_kib, run.warmup_ms / 1000,
           end.rss_kib, tolerance, under_asan ? ", not asserted under AddressSanitizer" : "",
           run.warm.fds, end.fds, run.min.fds, run.max.fds, run.samples, run.sample_failures);
    print_rss_trail();
    fflush(stdout);

    if (acked_lost || unseen || t.wrong || !run.warm_taken || !end_taken ||
        run.warm.fds != end.fds)
        device_proc_dump(&device, "soak");
    assert_true(run.warm_taken);
    assert_true(end_taken);
    assert_int_equal(run.restart_failures, 0);
    /* The faults happened. */
    assert_true(ps.resets > 0);
    assert_true(acked > 0);
    assert_true(run.length_ms < run.restart_period_ms || run.restarts > 0);
    assert_true(atomic_load(&run.flood_sent) > 0);
    /* Nothing the broker took from the console went unanswered. */
    assert_int_equal(acked_lost, 0);
    assert_int_equal(unseen, 0);
    assert_int_equal(t.wrong, 0);
    /* Resources end where they started. */
    assert_int_equal(end.fds, run.warm.fds);
    if (!under_asan)
        assert_true(end.rss_kib <= run.warm.rss_kib + tolerance);
}

static int soak_teardown(void **state)
{
    (void)state;
    device_proc_stop(&device);
    fault_proxy_stop(proxy);
    proxy = NULL;
    return test_broker_stop(&broker);
}

int main(void)
{
    const char *on = getenv("MIDGE_SOAK");
    const char *secs = getenv("MIDGE_SOAK_SECONDS");
    const char *env_seed = getenv("MIDGE_SOAK_SEED");

    if (on == NULL || strcmp(on, "1") != 0) {
        printf("soak skipped: set MIDGE_SOAK=1 to run it\n");
        return 77;
    }
    long long seconds = secs != NULL ? strtoll(secs, NULL, 10) : SECONDS_DEFAULT;
    if (seconds < SECONDS_MIN || seconds > SECONDS_MAX) {
        fprintf(stderr, "MIDGE_SOAK_SECONDS: %d to %d, not %s\n", SECONDS_MIN, SECONDS_MAX,
                secs);
        return 2;
    }
    run.seed = env_seed != NULL ? (uint32_t)strtoul(env_seed, NULL, 10)
                                : (uint32_t)time(NULL) ^ (uint32_t)getpid();
    if (run.seed == 0)
        run.seed = 1;
    run.length_ms = seconds * 1000;
    run.warmup_ms = clamp_ll(seconds * 100, WARMUP_MIN_MS, WARMUP_MAX_MS);
    run.restart_period_ms = clamp_ll(seconds * 100, RESTART_PERIOD_MIN_MS, RESTART_PERIOD_MAX_MS);
    pthread_mutex_init(&run.lock, NULL);
    /* The sanitizer's allocator answers this only in a sanitizer build,
     * which the device (built alike) is then too. */
    under_asan = dlsym(RTLD_DEFAULT, "__sanitizer_get_current_allocated_bytes") != NULL;

    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(
        test_device_resources_end_where_they_started_under_every_fault, soak_teardown)};
    return cmocka_run_group_tests_name("device: soak", tests, NULL, NULL);
}
