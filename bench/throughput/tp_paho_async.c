/*
 * Throughput publisher, Paho MQTT C, asynchronous API (libpaho-mqtt3a 1.3).
 *
 *   tp_paho_async PORT TOPIC QOS COUNT
 *
 * MQTTAsync_send() queues a command; the library's own threads write and
 * read, and report each message through onSuccess (after the write at
 * QoS 0, after PUBACK at QoS 1). QoS 1 window: maxInflight = TP_WINDOW in
 * the connect options, and the caller keeps at most TP_WINDOW messages
 * outstanding, waiting on a condition variable the callback signals.
 * Handing Paho 1.3 more than that (letting its command queue hold the rest)
 * stalls its send thread, which is woken by new commands but not by PUBACKs,
 * on a timer: a couple of hundred messages a second. At QoS 0 the caller
 * keeps up to TP_PAHO_BUFFERED commands queued, within maxBufferedMessages
 * (a cap that applies while connected too).
 */
#include <MQTTAsync.h>
#include <pthread.h>
#include <stdbool.h>

#include "tp_common.h"

/* Commands queued ahead of the wire: enough to keep the library busy
 * without holding the whole run in memory. */
#define TP_PAHO_BUFFERED 1000

typedef struct tp_state {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int connected; /* 0 waiting, 1 accepted, -1 failed */
    long done;     /* onSuccess per message: written (QoS 0) or acknowledged (QoS 1) */
    long failed;
} tp_state;

static void tp_signal(tp_state *s, int *field, int value, long *counter)
{
    pthread_mutex_lock(&s->lock);
    if (field)
        *field = value;
    if (counter)
        (*counter)++;
    pthread_cond_signal(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void on_connected(void *ctx, MQTTAsync_successData *resp)
{
    tp_state *s = ctx;
    (void)resp;
    tp_signal(s, &s->connected, 1, NULL);
}

static void on_connect_failed(void *ctx, MQTTAsync_failureData *resp)
{
    tp_state *s = ctx;
    (void)resp;
    tp_signal(s, &s->connected, -1, NULL);
}

static void on_sent(void *ctx, MQTTAsync_successData *resp)
{
    tp_state *s = ctx;
    (void)resp;
    tp_signal(s, NULL, 0, &s->done);
}

static void on_send_failed(void *ctx, MQTTAsync_failureData *resp)
{
    tp_state *s = ctx;
    (void)resp;
    tp_signal(s, NULL, 0, &s->failed);
}

/* Wait (at most 100 ms) for the next callback; the caller holds s->lock. */
static void tp_wait_locked(tp_state *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->changed, &s->lock, &ts);
}

int main(int argc, char **argv)
{
    unsigned char payload[TP_PAYLOAD_LEN];
    char uri[64];
    MQTTAsync client;
    tp_state s = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    tp_args a;

    tp_parse(argc, argv, &a);
    tp_payload(payload);
    snprintf(uri, sizeof uri, "tcp://%s:%d", TP_HOST, a.port);

    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    create.maxBufferedMessages = TP_PAHO_BUFFERED;
    if (MQTTAsync_createWithOptions(&client, uri, "tp-paho-async", MQTTCLIENT_PERSISTENCE_NONE,
                                    NULL, &create) != MQTTASYNC_SUCCESS)
        return 1;
    MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
    opts.keepAliveInterval = 60;
    opts.cleansession = 1;
    opts.maxInflight = TP_WINDOW;
    opts.onSuccess = on_connected;
    opts.onFailure = on_connect_failed;
    opts.context = &s;
    if (MQTTAsync_connect(client, &opts) != MQTTASYNC_SUCCESS)
        return 1;

    int64_t t0 = tp_now_ns();
    pthread_mutex_lock(&s.lock);
    while (s.connected == 0 && !tp_expired(t0))
        tp_wait_locked(&s);
    pthread_mutex_unlock(&s.lock);
    if (s.connected != 1) {
        fprintf(stderr, "tp_paho_async: not connected\n");
        return 1;
    }

    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_sent;
    ro.onFailure = on_send_failed;
    ro.context = &s;

    int64_t start = tp_now_ns();
    long window = a.qos > 0 ? TP_WINDOW : TP_PAHO_BUFFERED;
    long i = 0;
    while (i < a.count && !tp_expired(start)) {
        pthread_mutex_lock(&s.lock);
        while (i - (s.done + s.failed) >= window && !tp_expired(start))
            tp_wait_locked(&s);
        pthread_mutex_unlock(&s.lock);
        int rc = MQTTAsync_send(client, a.topic, TP_PAYLOAD_LEN, payload, a.qos, 0, &ro);
        if (rc == MQTTASYNC_SUCCESS) {
            i++;
            continue;
        }
        if (rc != MQTTASYNC_MAX_BUFFERED_MESSAGES) {
            fprintf(stderr, "tp_paho_async: send %ld: %d\n", i, rc);
            return 1;
        }
        /* Queue full: let one completion free a slot. */
        pthread_mutex_lock(&s.lock);
        long seen = s.done + s.failed;
        while (s.done + s.failed == seen && !tp_expired(start))
            tp_wait_locked(&s);
        pthread_mutex_unlock(&s.lock);
    }
    pthread_mutex_lock(&s.lock);
    while (s.done + s.failed < i && !tp_expired(start))
        tp_wait_locked(&s);
    long done = s.done, failed = s.failed;
    pthread_mutex_unlock(&s.lock);
    tp_report(done, start);

    MQTTAsync_disconnectOptions dopts = MQTTAsync_disconnectOptions_initializer;
    dopts.timeout = 1000;
    MQTTAsync_disconnect(client, &dopts);
    /* The disconnect completes on the library's thread; give it a moment
     * (bounded) before the client is destroyed under it. */
    for (int k = 0; k < 100 && MQTTAsync_isConnected(client); k++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MQTTAsync_destroy(&client);
    if (failed)
        fprintf(stderr, "tp_paho_async: %ld sends failed\n", failed);
    return done == a.count && failed == 0 ? 0 : 1;
}
