/*
 * Throughput publisher, libmosquitto (Debian's libmosquitto 2.0).
 *
 *   tp_mosquitto PORT TOPIC QOS COUNT [MODE]
 *
 * MODE is a comma-separated list of:
 *   loop     (default) no background thread: mosquitto_publish() writes from
 *            the caller's thread and mosquitto_loop() is called only to read
 *            PUBACKs when the window is full, or to push out what a full
 *            socket left queued. The single-threaded use, like midge's.
 *   thread   mosquitto_loop_start(): the library's network thread reads and
 *            writes; the caller publishes everything and the library holds
 *            messages beyond the window in its own queue.
 *   nodelay  MOSQ_OPT_TCP_NODELAY = 1 (the library's default keeps Nagle).
 * The scripts run several modes and report libmosquitto's best, so the
 * comparison is against libmosquitto at its fastest, not at a bad setting.
 *
 * QoS 1 window: MOSQ_OPT_SEND_MAXIMUM = TP_WINDOW (the library's in-flight
 * limit, the replacement of mosquitto_max_inflight_messages_set); in loop
 * mode the caller also waits when TP_WINDOW are unacknowledged, so that
 * nothing piles up in the library's queue.
 */
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "tp_common.h"

typedef struct tp_state {
    atomic_int connected; /* 0 waiting, 1 accepted, -1 refused */
    atomic_long acked;    /* on_publish calls: QoS 1 PUBACKs, QoS 0 writes */
} tp_state;

static void on_connect(struct mosquitto *mosq, void *user, int rc)
{
    tp_state *s = user;
    (void)mosq;
    atomic_store(&s->connected, rc == 0 ? 1 : -1);
}

static void on_publish(struct mosquitto *mosq, void *user, int mid)
{
    tp_state *s = user;
    (void)mosq;
    (void)mid;
    atomic_fetch_add(&s->acked, 1);
}

static bool mode_has(const char *mode, const char *word)
{
    if (mode == NULL)
        return false;
    size_t n = strlen(word);
    for (const char *p = mode; (p = strstr(p, word)) != NULL; p += n) {
        bool starts = p == mode || p[-1] == ',';
        bool ends = p[n] == '\0' || p[n] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

static void tp_sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* One step of the caller-driven loop; false on a failure. */
static bool tp_loop(struct mosquitto *mosq, int timeout_ms)
{
    int rc = mosquitto_loop(mosq, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "tp_mosquitto: loop: %s\n", mosquitto_strerror(rc));
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    unsigned char payload[TP_PAYLOAD_LEN];
    tp_state s;
    tp_args a;

    tp_parse(argc, argv, &a);
    tp_payload(payload);
    atomic_init(&s.connected, 0);
    atomic_init(&s.acked, 0);
    bool threaded = mode_has(a.mode, "thread");

    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new("tp-mosquitto", true, &s);
    if (mosq == NULL)
        return 1;
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_publish_callback_set(mosq, on_publish);
    mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, TP_WINDOW);
    if (mode_has(a.mode, "nodelay"))
        mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_connect(mosq, TP_HOST, a.port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "tp_mosquitto: connect failed\n");
        return 1;
    }
    int64_t t0 = tp_now_ns();
    if (threaded && mosquitto_loop_start(mosq) != MOSQ_ERR_SUCCESS)
        return 1;
    /* Publish only on an accepted session, as every library here does. */
    while (atomic_load(&s.connected) == 0 && !tp_expired(t0)) {
        if (threaded)
            tp_sleep_us(1000);
        else if (!tp_loop(mosq, 100))
            return 1;
    }
    if (atomic_load(&s.connected) != 1) {
        fprintf(stderr, "tp_mosquitto: not connected\n");
        return 1;
    }

    int64_t start = tp_now_ns();
    long i;
    for (i = 0; i < a.count; i++) {
        /* Caller-side window (loop mode): read acknowledgements first. */
        while (!threaded && a.qos > 0 && i - atomic_load(&s.acked) >= TP_WINDOW) {
            if (!tp_loop(mosq, 1000) || tp_expired(start))
                return 1;
        }
        int rc = mosquitto_publish(mosq, NULL, a.topic, TP_PAYLOAD_LEN, payload, a.qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "tp_mosquitto: publish %ld: %s\n", i, mosquitto_strerror(rc));
            return 1;
        }
        if ((i & 4095) == 0 && tp_expired(start))
            return 1;
    }
    /* Wait until every message is written (QoS 0) or acknowledged (QoS 1). */
    while ((atomic_load(&s.acked) < a.count || mosquitto_want_write(mosq)) && !tp_expired(start)) {
        if (threaded)
            tp_sleep_us(200);
        else if (!tp_loop(mosq, 100))
            return 1;
    }
    long acked = atomic_load(&s.acked);
    tp_report(acked, start);

    mosquitto_disconnect(mosq);
    if (threaded)
        mosquitto_loop_stop(mosq, false);
    else
        mosquitto_loop(mosq, 100, 1);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return acked == a.count ? 0 : 1;
}
