/*
 * `midge device` flooded with commands: its inbox (--inbox-max,
 * --inbox-bytes) keeps it small, and nothing it acknowledged is lost.
 *
 *   qos0   a fake broker accepts the device, never acknowledges its
 *          answers (so its in-flight window fills and every command waits
 *          in the inbox) and floods QoS 0 commands for a few seconds: the
 *          device stays under MAX_RSS_KB, says how many it dropped in a
 *          line at most every few seconds, and is still running.
 *   qos1   through a real mosquitto, a peer floods QoS 1 commands whose
 *          ids are 500 bytes long: the device stays under MAX_RSS_KB, and
 *          every command is answered (the broker drops nothing here, so a
 *          command the device acknowledged and then lost would show).
 *
 * The resident size is read from /proc/PID/status (VmRSS) while the
 * flood runs. A sanitizer build runs the same floods without that figure
 * (its shadow memory is not the device's), and a smaller one.
 *
 * Usage: fault_test_flood qos0|qos1
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "device_proc.h"
#include "loopback.h"
#include "midge/codec_server.h"
#include "midge/midge.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* The device's resident size must stay below this during a flood. */
#define MAX_RSS_KB (32 * 1024)
#define RSS_SAMPLE_MS 50
#define START_TIMEOUT_MS 15000

/* qos0: how long the fake broker floods: past DROP_LINE_MS, for a second
 * line about the drops. */
#define FLOOD0_MS 6500
/* The device's line about dropped messages: at most one this often. */
#define DROP_LINE_MS 5000

/* qos1: commands sent (fewer under the sanitizers), each id this long. */
#define FLOOD1_COMMANDS 70000u
#define FLOOD1_COMMANDS_SANITIZED 6000u
#define FLOOD1_ID_LEN 500
#define FLOOD1_SEND_MS 20000
#define FLOOD1_ANSWER_MS 45000

static device_proc device;
static long max_rss_kb;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* VmRSS of `pid` in KiB, or -1 when it cannot be read (gone). */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static void sample_rss(void)
{
    long kb = rss_kb(device.pid);
    if (kb > max_rss_kb)
        max_rss_kb = kb;
}

static bool device_running(void)
{
    return device.pid > 0 && waitpid(device.pid, NULL, WNOHANG) == 0;
}

static void check_rss(const char *flood)
{
    printf("flood figures: %s: device VmRSS at most %ld KiB\n", flood, max_rss_kb);
    if (SANITIZED) {
        printf("flood figures: sanitizer build: resident size not checked\n");
        return;
    }
    if (max_rss_kb >= MAX_RSS_KB)
        device_proc_dump(&device, "resident size over the bound");
    assert_true(max_rss_kb > 0);
    assert_true(max_rss_kb < MAX_RSS_KB);
}

/* --- qos0: a fake broker that floods and acknowledges nothing ------------- */

#define FAKE_IN_MAX 65536
#define FAKE_OUT_MAX (256 * 1024)
#define FAKE_CHUNK 16384 /* flood bytes queued at a time */

typedef struct flood_broker {
    int listener;
    uint16_t port;
    char request_prefix[96]; /* devices/<id>/cmd/request/ */
    pthread_t thread;
    atomic_bool stop;
    atomic_llong flood_from; /* loopback_now_ms() of the first SUBACK; 0 before */
    atomic_ulong flooded;    /* commands sent */
    atomic_ulong withheld;   /* QoS 1 PUBLISHes of the device left unacknowledged */
    uint8_t in[FAKE_IN_MAX];
    size_t in_len;
    uint8_t out[FAKE_OUT_MAX];
    size_t out_len, out_off;
} flood_broker;

static void fake_queue(flood_broker *b, const uint8_t *bytes, size_t n)
{
    if (b->out_off == b->out_len)
        b->out_off = b->out_len = 0;
    if (b->out_len + n <= sizeof b->out) {
        memcpy(b->out + b->out_len, bytes, n);
        b->out_len += n;
    }
}

/* Answer what the device sent: CONNACK, SUBACK, PINGRESP; nothing for
 * its PUBLISHes. False once it disconnected or sent garbage. */
static bool fake_on_packets(flood_broker *b)
{
    size_t off = 0;
    bool open = true;

    while (open) {
        midge_client_packet p;
        midge_decode_result r = midge_codec_decode_from_client(b->in + off, b->in_len - off, &p);
        if (r.outcome == MIDGE_DECODE_NEED_MORE)
            break;
        if (r.outcome != MIDGE_DECODE_COMPLETE)
            return false;
        uint8_t reply[64];
        uint8_t granted[4] = {1, 1, 1, 1};
        size_t n = 0;
        midge_status st;
        switch (p.type) {
        case MIDGE_CONNECT:
            n = midge_codec_encode_connack(reply, sizeof reply, false, 0, &st);
            break;
        case MIDGE_SUBSCRIBE: {
            /* Every filter granted QoS 1. */
            const uint8_t *cur = p.filters.list;
            midge_str filter;
            uint8_t qos, count = 0;
            while (count < sizeof granted &&
                   midge_codec_next_filter(&cur, p.filters.list + p.filters.list_len, &filter,
                                           &qos))
                count++;
            n = midge_codec_encode_suback(reply, sizeof reply, p.packet_id, granted, count, &st);
            if (atomic_load(&b->flood_from) == 0)
                atomic_store(&b->flood_from, loopback_now_ms());
            break;
        }
        case MIDGE_PINGREQ:
            n = midge_codec_encode_pingresp(reply, sizeof reply, &st);
            break;
        case MIDGE_PUBLISH:
            if (p.publish.qos != 0)
                atomic_fetch_add(&b->withheld, 1);
            break;
        case MIDGE_DISCONNECT:
            open = false;
            break;
        default:
            break;
        }
        fake_queue(b, reply, n);
        off += r.used;
    }
    memmove(b->in, b->in + off, b->in_len - off);
    b->in_len -= off;
    return open;
}

/* Queue a chunk of QoS 0 commands ("status") behind what waits. */
static void fake_queue_flood(flood_broker *b)
{
    uint8_t pkt[256];
    char topic[160];

    for (size_t queued = 0; queued < FAKE_CHUNK;) {
        unsigned long k = atomic_fetch_add(&b->flooded, 1);
        int tl = snprintf(topic, sizeof topic, "%sq%lu", b->request_prefix, k % 100000u);
        midge_publish m = {.topic = topic, .topic_len = (uint16_t)tl, .qos = 0,
                           .payload = (const uint8_t *)"status", .payload_len = 6};
        size_t n = midge_codec_encode_publish(pkt, sizeof pkt, &m, NULL);
        assert_true(n > 0);
        fake_queue(b, pkt, n);
        queued += n;
    }
}

static bool fake_flooding(flood_broker *b)
{
    long long from = atomic_load(&b->flood_from);
    return from != 0 && loopback_now_ms() < from + FLOOD0_MS;
}

/* One connection, until the device leaves or the test stops the broker. */
static void fake_serve(flood_broker *b, int fd)
{
    b->in_len = b->out_len = b->out_off = 0;
    while (!atomic_load(&b->stop)) {
        if (b->out_off == b->out_len && fake_flooding(b))
            fake_queue_flood(b);
        struct pollfd pfd = {fd, POLLIN | (b->out_off < b->out_len ? POLLOUT : 0), 0};
        if (poll(&pfd, 1, 50) < 0)
            return;
        if (pfd.revents & POLLIN) {
            ssize_t n = recv(fd, b->in + b->in_len, sizeof b->in - b->in_len, MSG_DONTWAIT);
            if (n <= 0)
                return;
            b->in_len += (size_t)n;
            if (!fake_on_packets(b))
                return;
        } else if (pfd.revents & (POLLERR | POLLHUP)) {
            return;
        }
        if (b->out_off < b->out_len) {
            ssize_t n = send(fd, b->out + b->out_off, b->out_len - b->out_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return;
            if (n > 0)
                b->out_off += (size_t)n;
        }
    }
}

static void *fake_main(void *arg)
{
    flood_broker *b = arg;

    while (!atomic_load(&b->stop)) {
        int fd = loopback_accept(b->listener, 100);
        if (fd < 0)
            continue;
        fake_serve(b, fd);
        close(fd);
    }
    return NULL;
}

static const char *const flood0_argv[] = {"device", "--device-id", "flood0", "-h", "127.0.0.1",
                                          "-p", NULL /* port */, "-k", "30", "--log-level", "warn",
                                          "--backoff-min", "50", "--backoff-max", "500", NULL};

static void test_qos0_flood_with_acks_withheld_stays_small_and_says_what_it_dropped(void **state)
{
    static flood_broker b;
    const char *argv[sizeof flood0_argv / sizeof flood0_argv[0]];
    char port[8];
    (void)state;

    memset(&b, 0, sizeof b);
    b.listener = loopback_listen(&b.port);
    assert_true(b.listener >= 0);
    snprintf(b.request_prefix, sizeof b.request_prefix, "devices/flood0/cmd/request/");
    assert_int_equal(pthread_create(&b.thread, NULL, fake_main, &b), 0);

    snprintf(port, sizeof port, "%u", (unsigned)b.port);
    memcpy(argv, flood0_argv, sizeof argv);
    argv[6] = port;
    assert_int_equal(device_proc_start(&device, argv), 0);

    long long deadline = loopback_now_ms() + START_TIMEOUT_MS;
    while (atomic_load(&b.flood_from) == 0 && loopback_now_ms() < deadline)
        sleep_ms(20);
    if (atomic_load(&b.flood_from) == 0)
        device_proc_dump(&device, "never subscribed");
    assert_true(atomic_load(&b.flood_from) != 0);

    /* The flood, and a moment after it. */
    long long from = atomic_load(&b.flood_from);
    while (loopback_now_ms() < from + FLOOD0_MS + 500) {
        sample_rss();
        sleep_ms(RSS_SAMPLE_MS);
    }
    assert_true(device_running());
    check_rss("qos0");
    /* One line at the first drop, the next with the count DROP_LINE_MS
     * later (the flood lasts longer than that). */
    pthread_mutex_lock(&device.lock);
    unsigned long lines = device.inbox_full_lines;
    unsigned long dropped = device.inbox_dropped;
    pthread_mutex_unlock(&device.lock);
    long long elapsed = loopback_now_ms() - from;
    printf("flood figures: qos0: %lu commands flooded, %lu answers never acknowledged, %lu "
           "drop lines saying %lu dropped in %lld ms\n",
           atomic_load(&b.flooded), atomic_load(&b.withheld), lines, dropped, elapsed);
    if (lines < 2)
        device_proc_dump(&device, "no second line about dropped messages");
    assert_true(lines >= 2);
    assert_true(dropped > lines);
    /* Rate-limited: one at once, then at most one per DROP_LINE_MS. */
    assert_true(lines <= 1 + (unsigned long)(elapsed / DROP_LINE_MS));
    assert_true(device_running());

    /* Its window full of answers the broker never acknowledges, the
     * device may take until its call bound to stop: not what is tested. */
    device_proc_stop(&device);
    atomic_store(&b.stop, true);
    pthread_join(b.thread, NULL);
    close(b.listener);
}

/* --- qos1: a peer floods through mosquitto --------------------------------- */

#define PEER_STORE_SIZE (2u * 1024u * 1024u)

typedef struct peer {
    midge_client client;
    midge_tcp tcp;
    uint8_t tx[8192];
    uint8_t rx[65536];
    uint16_t qos2_ids[8];
    uint8_t *store;
    size_t response_prefix_len;
    char response_prefix[96]; /* devices/<id>/cmd/response/c */
    bool online;              /* the device's retained status said so */
    uint8_t *answered;        /* per command index: answers seen */
    unsigned long answers;
    unsigned long duplicates;
    unsigned long stray;
} peer;

static void peer_on_message(void *user, const midge_publish *msg)
{
    peer *p = user;

    if (msg->topic_len >= 7 && memcmp(msg->topic + msg->topic_len - 7, "/status", 7) == 0) {
        p->online = msg->payload_len == 6 && memcmp(msg->payload, "online", 6) == 0;
        return;
    }
    if (msg->topic_len < p->response_prefix_len + 6 ||
        memcmp(msg->topic, p->response_prefix, p->response_prefix_len) != 0) {
        p->stray++;
        return;
    }
    unsigned long idx = 0;
    for (size_t i = 0; i < 6; i++)
        idx = idx * 10 + (unsigned long)(msg->topic[p->response_prefix_len + i] - '0');
    if (idx >= FLOOD1_COMMANDS) {
        p->stray++;
        return;
    }
    if (p->answered[idx]++ == 0)
        p->answers++;
    else
        p->duplicates++;
}

static void peer_open(peer *p, uint16_t port, const char *device_id)
{
    char status[96], responses[112];

    p->store = malloc(PEER_STORE_SIZE);
    p->answered = calloc(FLOOD1_COMMANDS, 1);
    assert_non_null(p->store);
    assert_non_null(p->answered);
    snprintf(p->response_prefix, sizeof p->response_prefix, "devices/%s/cmd/response/c",
             device_id);
    p->response_prefix_len = strlen(p->response_prefix);
    midge_client_config cfg = {
        .host = "127.0.0.1",
        .port = port,
        .open = midge_tcp_opener,
        .opener = &p->tcp,
        .platform = &midge_posix_platform,
        .connect = {.client_id = "flood-peer", .keepalive_s = 60, .clean_session = true},
        .connect_timeout_ms = 3000,
        .connack_timeout_ms = 5000,
        .call_timeout_ms = 10000,
    };
    midge_session_buffers bufs = {
        .tx = p->tx, .tx_size = sizeof p->tx,
        .rx = p->rx, .rx_size = sizeof p->rx,
        .store = p->store, .store_size = PEER_STORE_SIZE,
        .rx_qos2_ids = p->qos2_ids, .rx_qos2_cap = 8,
    };
    assert_int_equal(midge_client_init(&p->client, &cfg, &bufs), MIDGE_OK);
    midge_client_set_callback(&p->client, peer_on_message, p);
    assert_int_equal(midge_client_connect(&p->client, NULL), MIDGE_OK);
    snprintf(status, sizeof status, "devices/%s/status", device_id);
    snprintf(responses, sizeof responses, "devices/%s/cmd/response/+", device_id);
    midge_subscription subs[2] = {{status, 1}, {responses, 1}};
    assert_int_equal(midge_client_subscribe_many(&p->client, subs, 2, NULL), MIDGE_OK);
}

static void peer_close(peer *p)
{
    midge_client_disconnect(&p->client);
    free(p->store);
    free(p->answered);
}

static const char *const flood1_argv[] = {"device", "--device-id", "flood1", "-h", "127.0.0.1",
                                          "-p", NULL /* port */, "-k", "30", "--log-level", "warn",
                                          "--backoff-min", "50", "--backoff-max", "500", NULL};

static void test_qos1_flood_with_long_ids_stays_small_and_answers_every_command(void **state)
{
    static test_broker broker;
    static peer p;
    const char *argv[sizeof flood1_argv / sizeof flood1_argv[0]];
    char port[8], topic[FLOOD1_ID_LEN + 64];
    const unsigned commands = SANITIZED ? FLOOD1_COMMANDS_SANITIZED : FLOOD1_COMMANDS;
    (void)state;

    /* Nothing is dropped by the broker: every command sent reaches the
     * device in the end, so every one must be answered. */
    test_broker_opts opts = {.extra_conf = "max_queued_messages 1000000\n"};
    assert_int_equal(test_broker_start(&broker, &opts), 0);
    memset(&p, 0, sizeof p);
    peer_open(&p, broker.port, "flood1");

    snprintf(port, sizeof port, "%u", (unsigned)broker.port);
    memcpy(argv, flood1_argv, sizeof argv);
    argv[6] = port;
    assert_int_equal(device_proc_start(&device, argv), 0);
    long long deadline = loopback_now_ms() + START_TIMEOUT_MS;
    while (!p.online && loopback_now_ms() < deadline)
        (void)midge_client_poll(&p.client, 50);
    if (!p.online)
        device_proc_dump(&device, "never online");
    assert_true(p.online);

    /* The flood: ids "c000042xxxx...", FLOOD1_ID_LEN bytes each. */
    int prefix = snprintf(topic, sizeof topic, "devices/flood1/cmd/request/");
    long long start = loopback_now_ms(), sampled = 0;
    unsigned sent = 0;
    for (; sent < commands && loopback_now_ms() < start + FLOOD1_SEND_MS; sent++) {
        int n = snprintf(topic + prefix, sizeof topic - (size_t)prefix, "c%06u", sent);
        memset(topic + prefix + n, 'x', (size_t)(FLOOD1_ID_LEN - n));
        topic[prefix + FLOOD1_ID_LEN] = '\0';
        assert_int_equal(midge_client_publish(&p.client, topic, "status", 6, 1, false, NULL),
                         MIDGE_OK);
        if (loopback_now_ms() - sampled >= RSS_SAMPLE_MS) {
            sample_rss();
            sampled = loopback_now_ms();
        }
    }
    long long sent_ms = loopback_now_ms() - start;
    /* Every answer, while the device works through what waits for it. */
    deadline = loopback_now_ms() + FLOOD1_ANSWER_MS;
    while (p.answers < sent && loopback_now_ms() < deadline && device_running()) {
        (void)midge_client_poll(&p.client, RSS_SAMPLE_MS);
        sample_rss();
    }
    printf("flood figures: qos1: %u commands with %d-byte ids sent in %lld ms, %lu answered "
           "in %lld ms (%lu duplicates, %lu stray)\n",
           sent, FLOOD1_ID_LEN, sent_ms, p.answers, loopback_now_ms() - start, p.duplicates,
           p.stray);
    if (p.answers != sent) {
        for (unsigned i = 0, shown = 0; i < sent && shown < 5; i++) {
            if (p.answered[i] == 0) {
                printf("flood figures: qos1: command c%06u not answered\n", i);
                shown++;
            }
        }
        device_proc_dump(&device, "commands not answered");
    }
    assert_true(device_running());
    assert_int_equal(p.answers, sent);
    assert_int_equal(p.stray, 0);
    check_rss("qos1");

    assert_int_equal(device_proc_stop(&device), 0);
    peer_close(&p);
    test_broker_stop(&broker);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest qos0[] = {
        cmocka_unit_test(test_qos0_flood_with_acks_withheld_stays_small_and_says_what_it_dropped)};
    const struct CMUnitTest qos1[] = {
        cmocka_unit_test(test_qos1_flood_with_long_ids_stays_small_and_answers_every_command)};

    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && strcmp(argv[1], "qos0") == 0)
        return cmocka_run_group_tests_name("device: QoS 0 flood", qos0, NULL, NULL);
    if (argc == 2 && strcmp(argv[1], "qos1") == 0)
        return cmocka_run_group_tests_name("device: QoS 1 flood", qos1, NULL, NULL);
    fprintf(stderr, "usage: %s qos0|qos1\n", argv[0]);
    return 2;
}
