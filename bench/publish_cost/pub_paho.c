/*
 * Publish cost, Paho MQTT C: the synchronous MQTTClient API
 * (libpaho-mqtt3c), MQTTClient_publish at QoS 0, no persistence.
 */
#include <MQTTClient.h>

#include "bench_common.h"

int main(int argc, char **argv)
{
    unsigned char payload[BENCH_PAYLOAD_LEN];
    char uri[64];
    int port;
    long count;
    MQTTClient client;

    bench_args(argc, argv, &port, &count);
    bench_payload(payload);
    snprintf(uri, sizeof uri, "tcp://%s:%d", BENCH_HOST, port);

    if (MQTTClient_create(&client, uri, "bench-paho", MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS)
        return 1;
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    opts.keepAliveInterval = 60;
    opts.cleansession = 1;
    /* MQTTClient_connect returns after CONNACK. */
    if (MQTTClient_connect(client, &opts) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "pub_paho: connect failed\n");
        return 1;
    }
    for (long i = 0; i < count; i++) {
        int rc = MQTTClient_publish(client, BENCH_TOPIC, BENCH_PAYLOAD_LEN, payload, 0, 0, NULL);
        if (rc != MQTTCLIENT_SUCCESS) {
            fprintf(stderr, "pub_paho: publish %ld: %d\n", i, rc);
            return 1;
        }
    }
    MQTTClient_disconnect(client, 1000);
    MQTTClient_destroy(&client);
    return 0;
}
