/*
 * Command latency, the console side: how long a command takes from the
 * moment it is published to the moment the device's reply arrives, set
 * against the broker's own round trip measured by the same process with
 * the same clock in the same run.
 *
 *   lat_console PORT DEVICE_ID COUNT WARMUP [COMMAND [PACING]]
 *
 * Two kinds of round, each timed from just before the publish to the
 * arrival of its answer, WARMUP + COUNT of each:
 *   command  publish COMMAND (default "toggle") at QoS 1 to
 *            devices/ID/cmd/request/N; the answer is the device's reply on
 *            devices/ID/cmd/response/N;
 *   echo     publish N at QoS 1 to a topic this client itself subscribes
 *            to; the answer is that message coming back.
 * A command crosses the broker twice (console -> device, device -> console)
 * and an echo once, so twice the echo is the floor of a command.
 *
 * PACING says how rounds follow each other:
 *   blocks   (default) LAT_BLOCK commands one after the other, each sent as
 *            soon as the previous reply arrived, then LAT_BLOCK echoes the
 *            same way, and so on: the two kinds alternate block by block,
 *            so drift on a shared machine hits both alike. Whatever a round
 *            leaves behind on the broker (the acknowledgements of both QoS
 *            1 legs; after a toggle, the device's retained state report) is
 *            paid by the next round of the same kind, as in real use; the
 *            LAT_SETTLE_MS pause at each switch keeps it from spilling into
 *            the other kind.
 *   settled  a command and an echo alternate, each after LAT_SETTLE_MS of
 *            quiet: every round starts from an idle system. On a virtual
 *            machine that also lets the CPUs halt between rounds, and waking
 *            a halted virtual CPU can cost tens of microseconds per hop,
 *            which weighs on the four-hop command (console, broker, device,
 *            broker, console) more than on the two-hop echo.
 *
 * Prints, in microseconds over the COUNT measured rounds,
 *   cmd_p50=... cmd_p99=... echo_p50=... echo_p99=... (and min/mean/max)
 * Every wait is bounded: a reply missing for LAT_REPLY_TIMEOUT_MS ends the
 * run with an error.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "midge/client.h"
#include "midge/port.h"

#define LAT_REPLY_TIMEOUT_MS 5000
#define LAT_DEVICE_ONLINE_TIMEOUT_MS 10000
#define LAT_TOPIC_MAX 160
#define LAT_MAX_ROUNDS 1000000
#define LAT_SETTLE_MS 1
#define LAT_BLOCK 50

typedef struct lat_console {
    midge_client client;
    char response_prefix[LAT_TOPIC_MAX]; /* devices/ID/cmd/response/ */
    size_t response_prefix_len;
    char status_topic[LAT_TOPIC_MAX];    /* devices/ID/status */
    char echo_topic[LAT_TOPIC_MAX];
    long want;          /* round whose reply or echo is awaited */
    bool want_echo;     /* awaiting the echo (else the command reply) */
    bool got;           /* the awaited message arrived */
    int64_t arrived_ns; /* when it arrived */
    bool online;        /* the device said "online" */
} lat_console;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The decimal number a topic or payload ends with, or -1. */
static long lat_parse_id(const char *p, size_t len)
{
    long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static void on_message(void *user, const midge_publish *msg)
{
    lat_console *k = user;
    /* The clock stops first: nothing below is part of the round trip. */
    int64_t t = now_ns();
    long id = -1;

    if (strcmp(msg->topic, k->status_topic) == 0) {
        k->online = msg->payload_len == 6 && memcmp(msg->payload, "online", 6) == 0;
        return;
    }
    if (k->want_echo && strcmp(msg->topic, k->echo_topic) == 0) {
        id = lat_parse_id((const char *)msg->payload, msg->payload_len);
    } else if (!k->want_echo && msg->topic_len > k->response_prefix_len &&
               memcmp(msg->topic, k->response_prefix, k->response_prefix_len) == 0) {
        id = lat_parse_id(msg->topic + k->response_prefix_len,
                          msg->topic_len - k->response_prefix_len);
    }
    if (id == k->want && !k->got) {
        k->got = true;
        k->arrived_ns = t;
    }
}

/* Poll until the awaited message arrived; false after the timeout. */
static bool lat_await(lat_console *k, uint32_t timeout_ms)
{
    uint32_t start = midge_clock_ms();

    while (!k->got) {
        uint32_t spent = midge_clock_ms() - start;
        if (spent >= timeout_ms)
            return false;
        midge_status st = midge_client_poll(&k->client, timeout_ms - spent);
        if (st != MIDGE_OK && st != MIDGE_TIMEOUT) {
            fprintf(stderr, "lat_console: %s\n", midge_strerror(st));
            return false;
        }
    }
    return true;
}

/* Poll for LAT_SETTLE_MS, taking in whatever trails the last round (the
 * want of -2 matches no message). False if the connection is gone. */
static bool lat_settle(lat_console *k)
{
    k->want = -2;
    k->got = false;
    return lat_await(k, LAT_SETTLE_MS) || midge_client_is_connected(&k->client);
}

/* One timed round trip: publish `payload` to `topic`, wait for round n's
 * answer. Returns nanoseconds, or -1. */
static int64_t lat_round(lat_console *k, const char *topic, const char *payload, long n,
                         bool echo)
{
    k->want = n;
    k->want_echo = echo;
    k->got = false;
    int64_t t0 = now_ns();
    midge_status st =
        midge_client_publish(&k->client, topic, payload, strlen(payload), 1, false, NULL);
    if (st != MIDGE_OK) {
        fprintf(stderr, "lat_console: publish: %s\n", midge_strerror(st));
        return -1;
    }
    if (!lat_await(k, LAT_REPLY_TIMEOUT_MS)) {
        fprintf(stderr, "lat_console: no %s for round %ld\n", echo ? "echo" : "reply", n);
        return -1;
    }
    return k->arrived_ns - t0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double lat_pct_us(const int64_t *v, long n, double pct)
{
    long rank = (long)((pct / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

static void lat_print(const char *name, int64_t *v, long n)
{
    double sum = 0;
    qsort(v, (size_t)n, sizeof v[0], cmp_i64);
    for (long i = 0; i < n; i++)
        sum += (double)v[i];
    printf("%s_p50=%.1f %s_p99=%.1f %s_min=%.1f %s_mean=%.1f %s_max=%.1f ", name,
           lat_pct_us(v, n, 50), name, lat_pct_us(v, n, 99), name, (double)v[0] / 1000.0, name,
           sum / (double)n / 1000.0, name, (double)v[n - 1] / 1000.0);
}

int main(int argc, char **argv)
{
    static uint8_t tx[4096], rx[8192], store[4096];
    static uint16_t qos2_ids[16];
    static lat_console k;
    char request_prefix[LAT_TOPIC_MAX], response_filter[LAT_TOPIC_MAX];
    char topic[LAT_TOPIC_MAX + 16], number[16];

    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: %s PORT DEVICE_ID COUNT WARMUP [COMMAND [blocks|settled]]\n",
                argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *id = argv[2];
    long count = atol(argv[3]), warmup = atol(argv[4]);
    const char *command = argc >= 6 ? argv[5] : "toggle";
    const char *pacing = argc == 7 ? argv[6] : "blocks";
    bool settled = strcmp(pacing, "settled") == 0;
    if (!settled && strcmp(pacing, "blocks") != 0) {
        fprintf(stderr, "lat_console: PACING is blocks or settled\n");
        return 2;
    }
    if (port <= 0 || port > 65535 || count <= 0 || warmup < 0 ||
        count + warmup > LAT_MAX_ROUNDS || strlen(id) > 64) {
        fprintf(stderr, "lat_console: bad PORT, DEVICE_ID, COUNT or WARMUP\n");
        return 2;
    }
    snprintf(request_prefix, sizeof request_prefix, "devices/%s/cmd/request/", id);
    snprintf(response_filter, sizeof response_filter, "devices/%s/cmd/response/+", id);
    k.response_prefix_len = (size_t)snprintf(k.response_prefix, sizeof k.response_prefix,
                                             "devices/%s/cmd/response/", id);
    snprintf(k.status_topic, sizeof k.status_topic, "devices/%s/status", id);
    snprintf(k.echo_topic, sizeof k.echo_topic, "bench/echo/%ld", (long)getpid());

    midge_session_buffers bufs = {
        .tx = tx, .tx_size = sizeof tx, .rx = rx, .rx_size = sizeof rx,
        .store = store, .store_size = sizeof store,
        .rx_qos2_ids = qos2_ids, .rx_qos2_cap = 16,
    };
    static midge_tcp tcp;
    midge_client_config cfg = {
        .host = "127.0.0.1",
        .port = (uint16_t)port,
        .open = midge_tcp_opener,
        .opener = &tcp,
        .platform = &midge_posix_platform,
        .connect = {.client_id = "lat-console", .keepalive_s = 60, .clean_session = true},
    };
    midge_status st = midge_client_init(&k.client, &cfg, &bufs);
    if (st == MIDGE_OK)
        st = midge_client_connect(&k.client, NULL);
    midge_client_set_callback(&k.client, on_message, &k);
    midge_subscription subs[3] = {
        {response_filter, 1}, {k.echo_topic, 1}, {k.status_topic, 1}};
    if (st == MIDGE_OK)
        st = midge_client_subscribe_many(&k.client, subs, 3, NULL);
    if (st != MIDGE_OK) {
        fprintf(stderr, "lat_console: %s\n", midge_strerror(st));
        return 1;
    }
    /* The device's retained presence says it is subscribed and serving. */
    uint32_t t_online = midge_clock_ms();
    while (!k.online && midge_clock_ms() - t_online < LAT_DEVICE_ONLINE_TIMEOUT_MS)
        midge_client_poll(&k.client, 100);
    if (!k.online) {
        fprintf(stderr, "lat_console: device %s is not online\n", id);
        return 1;
    }

    int64_t *cmd = calloc((size_t)count, sizeof *cmd);
    int64_t *echo = calloc((size_t)count, sizeof *echo);
    if (cmd == NULL || echo == NULL)
        return 1;
    /* Rounds go in runs of `block` of one kind (1 when settled), the kinds
     * alternating; the runs of both kinds cover rounds first..last-1. */
    long block = settled ? 1 : LAT_BLOCK;
    long total = warmup + count;
    for (long first = 0; first < total; first += block) {
        long last = first + block < total ? first + block : total;
        for (int kind = 0; kind < 2; kind++) {
            bool is_echo = kind == 1;
            if (!lat_settle(&k))
                return 1;
            for (long n = first; n < last; n++) {
                int64_t t;
                if (is_echo) {
                    snprintf(number, sizeof number, "%ld", n);
                    t = lat_round(&k, k.echo_topic, number, n, true);
                } else {
                    snprintf(topic, sizeof topic, "%s%ld", request_prefix, n);
                    t = lat_round(&k, topic, command, n, false);
                }
                if (t < 0)
                    return 1;
                if (n >= warmup)
                    (is_echo ? echo : cmd)[n - warmup] = t;
            }
        }
    }
    midge_client_disconnect(&k.client);

    printf("pacing=%s rounds=%ld ", settled ? "settled" : "blocks", count);
    lat_print("cmd", cmd, count);
    lat_print("echo", echo, count);
    printf("\n");
    free(cmd);
    free(echo);
    return 0;
}
