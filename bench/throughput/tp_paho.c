/*
 * Throughput publisher, Paho MQTT C, synchronous API (libpaho-mqtt3c 1.3).
 *
 *   tp_paho PORT TOPIC QOS COUNT
 *
 * No callbacks are set, so the library starts no receive thread: every
 * MQTTClient_publish() writes from the caller's thread, as midge's blocking
 * client does. QoS 1 window: reliable = 0 (the default, 1, allows a single
 * message in flight) and maxInflightMessages = TP_WINDOW, and before the
 * (n + TP_WINDOW)th publish the caller waits for message n's token with
 * MQTTClient_waitForCompletion(). Leaving the wait to the library instead
 * (publish into a full window) costs Paho 1.3 a 100 ms MQTTClient_yield()
 * per window: about 200 messages a second, not a fair showing.
 *
 * The asynchronous API is tp_paho_async.c; the scripts run both and report
 * Paho's better figure. (The two libraries share internal symbol names, so
 * they cannot be linked into one program.)
 */
#include <MQTTClient.h>
#include <stdbool.h>

#include "tp_common.h"

int main(int argc, char **argv)
{
    unsigned char payload[TP_PAYLOAD_LEN];
    char uri[64];
    MQTTClient client;
    tp_args a;

    tp_parse(argc, argv, &a);
    tp_payload(payload);
    snprintf(uri, sizeof uri, "tcp://%s:%d", TP_HOST, a.port);

    if (MQTTClient_create(&client, uri, "tp-paho", MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
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
    MQTTClient_deliveryToken token = 0;
    MQTTClient_deliveryToken window[TP_WINDOW];
    long i;
    for (i = 0; i < a.count; i++) {
        if (a.qos > 0 && i >= TP_WINDOW &&
            MQTTClient_waitForCompletion(client, window[i % TP_WINDOW], TP_DEADLINE_S * 1000UL) !=
                MQTTCLIENT_SUCCESS) {
            fprintf(stderr, "tp_paho: message %ld not acknowledged\n", i - TP_WINDOW);
            return 1;
        }
        int rc = MQTTClient_publish(client, a.topic, TP_PAYLOAD_LEN, payload, a.qos, 0, &token);
        if (rc != MQTTCLIENT_SUCCESS) {
            fprintf(stderr, "tp_paho: publish %ld: %d\n", i, rc);
            return 1;
        }
        window[i % TP_WINDOW] = token;
        if ((i & 4095) == 0 && tp_expired(start))
            return 1;
    }
    /* PUBACKs come in order: the last one completing leaves nothing else
     * pending, which the token list confirms. */
    if (a.qos > 0 &&
        MQTTClient_waitForCompletion(client, token, TP_DEADLINE_S * 1000UL) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "tp_paho: last message not acknowledged\n");
        return 1;
    }
    MQTTClient_deliveryToken *pending = NULL;
    MQTTClient_getPendingDeliveryTokens(client, &pending);
    bool all_done = pending == NULL;
    MQTTClient_free(pending);
    tp_report(i, start);

    MQTTClient_disconnect(client, 1000);
    MQTTClient_destroy(&client);
    return all_done ? 0 : 1;
}
