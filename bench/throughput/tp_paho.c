/*
 * Throughput publisher, Paho MQTT C, synchronous API (libpaho-mqtt3c 1.3).
 *
 *   tp_paho PORT TOPIC QOS COUNT
 *
 * Every MQTTClient_publish() writes from the caller's thread, as midge's
 * blocking client does.
 *
 * QoS 0: no callbacks, so the library starts no thread at all.
 *
 * QoS 1 window: reliable = 0 (the default, 1, allows a single message in
 * flight) and maxInflightMessages = TP_WINDOW. Callbacks are set, so the
 * library's receive thread reads PUBACKs and calls deliveryComplete(); the
 * caller waits on a condition variable that callback signals whenever
 * TP_WINDOW messages are unacknowledged. The two other ways to wait both
 * end in MQTTClient_yield(), which runs for a fixed 100 ms in Paho 1.3:
 * publishing into a full window, or MQTTClient_waitForCompletion() on the
 * oldest token without callbacks, manage about 200 messages a second.
 *
 * The asynchronous API is tp_paho_async.c; the scripts run both and report
 * Paho's better figure. (The two libraries share internal symbol names, so
 * they cannot be linked into one program.)
 */
#include <MQTTClient.h>
#include <pthread.h>
#include <stdbool.h>

#include "tp_common.h"

typedef struct tp_state {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    long completed; /* deliveryComplete calls: QoS 1 PUBACKs */
    bool lost;
} tp_state;

static void on_delivered(void *ctx, MQTTClient_deliveryToken token)
{
    tp_state *s = ctx;
    (void)token;
    pthread_mutex_lock(&s->lock);
    s->completed++;
    pthread_cond_signal(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void on_lost(void *ctx, char *cause)
{
    tp_state *s = ctx;
    (void)cause;
    pthread_mutex_lock(&s->lock);
    s->lost = true;
    pthread_cond_signal(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

/* Paho requires a message callback; this publisher subscribes to nothing. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTClient_message *msg)
{
    (void)ctx;
    (void)topic_len;
    MQTTClient_freeMessage(&msg);
    MQTTClient_free(topic);
    return 1;
}

/* Wait until fewer than `limit` messages of the first `sent` are
 * unacknowledged, or the deadline passed. False on loss or deadline. */
static bool tp_wait_window(tp_state *s, long sent, long limit, int64_t start)
{
    bool ok = true;

    pthread_mutex_lock(&s->lock);
    while (sent - s->completed >= limit && !s->lost) {
        if (tp_expired(start)) {
            ok = false;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->changed, &s->lock, &ts);
    }
    ok = ok && !s->lost;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned char payload[TP_PAYLOAD_LEN];
    char uri[64];
    MQTTClient client;
    tp_state s = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    tp_args a;

    tp_parse(argc, argv, &a);
    tp_payload(payload);
    snprintf(uri, sizeof uri, "tcp://%s:%d", TP_HOST, a.port);

    if (MQTTClient_create(&client, uri, "tp-paho", MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS)
        return 1;
    if (a.qos > 0 && MQTTClient_setCallbacks(client, &s, on_lost, on_message, on_delivered) !=
                         MQTTCLIENT_SUCCESS)
        return 1;
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    opts.keepAliveInterval = 60;
    opts.cleansession = 1;
    opts.reliable = 0;
    opts.maxInflightMessages = TP_WINDOW;
    /* Returns after CONNACK. */
    if (MQTTClient_connect(client, &opts) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "tp_paho: connect failed\n");
        return 1;
    }

    int64_t start = tp_now_ns();
    long i;
    for (i = 0; i < a.count; i++) {
        if (a.qos > 0 && !tp_wait_window(&s, i, TP_WINDOW, start)) {
            fprintf(stderr, "tp_paho: window not acknowledged in time\n");
            return 1;
        }
        int rc = MQTTClient_publish(client, a.topic, TP_PAYLOAD_LEN, payload, a.qos, 0, NULL);
        if (rc != MQTTCLIENT_SUCCESS) {
            fprintf(stderr, "tp_paho: publish %ld: %d\n", i, rc);
            return 1;
        }
        if ((i & 4095) == 0 && tp_expired(start))
            return 1;
    }
    /* QoS 1: every PUBACK in (a window of 1 left unacknowledged is none). */
    if (a.qos > 0 && !tp_wait_window(&s, i, 1, start)) {
        fprintf(stderr, "tp_paho: not every message acknowledged\n");
        return 1;
    }
    tp_report(i, start);

    MQTTClient_disconnect(client, 1000);
    MQTTClient_destroy(&client);
    return 0;
}
