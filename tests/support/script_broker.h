/*
 * A scripted fake broker on loopback, in a thread of the test process: it
 * serves up to SCRIPT_BROKER_CONNS client connections at once, reads each
 * client packet whole, and hands it to the test's script, which answers
 * with any bytes it likes (nothing is routed between clients). An answer leaves in one write, so several packets written together
 * (a PUBACK and a PUBLISH) reach the client in the same segment, as a busy
 * broker's would.
 *
 * Every wait is bounded: the thread polls in short slices, gives up on a
 * connection that stays silent for SCRIPT_BROKER_IDLE_MS, and ends at
 * script_broker_stop() or after SCRIPT_BROKER_LIFE_MS at the latest.
 */
#ifndef MIDGE_TEST_SCRIPT_BROKER_H
#define MIDGE_TEST_SCRIPT_BROKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "midge/codec_server.h"

#define SCRIPT_BROKER_IDLE_MS 20000
#define SCRIPT_BROKER_LIFE_MS 120000
#define SCRIPT_BROKER_OUT_MAX 1024
#define SCRIPT_BROKER_CONNS 32

/* The answer to one client packet: up to `cap` bytes into `out`, returning
 * how many (0 = no answer). `conn` numbers the connections from 0 in the
 * order they were accepted. Runs in the broker's thread. */
typedef size_t (*script_broker_fn)(void *user, unsigned conn, const midge_client_packet *pkt,
                                   uint8_t *out, size_t cap);

typedef struct script_broker {
    uint16_t port;
    script_broker_fn script;
    void *user;
    int listener;
    pthread_t thread;
    bool running;
    volatile bool stop;
    /* script_broker_push: bytes for the thread to write unasked. */
    uint8_t push[SCRIPT_BROKER_OUT_MAX];
    size_t push_len; /* accessed atomically */
    int last;        /* the newest connection's slot, -1 = none */
    /* What the clients sent, over every connection (updated atomically). */
    unsigned connections;
    unsigned packets[16]; /* by packet type */
} script_broker;

/* Listen on a free 127.0.0.1 port (b->port) and start the thread. 0 on
 * success, -1 after one line on stderr. */
int script_broker_start(script_broker *b, script_broker_fn script, void *user);

/* Have the thread write `len` bytes on the newest connection at once, as
 * a broker delivering a message nobody asked for in that moment; waits (at
 * most 2 s) until they are written. 0 on success, -1 when no connection
 * took them. */
int script_broker_push(script_broker *b, const uint8_t *bytes, size_t len);

/* End the thread (closing any connection) and the listener. Safe twice. */
void script_broker_stop(script_broker *b);

/* A ready script: CONNACK, SUBACK (as asked), and a PUBACK for every
 * PUBLISH with a packet id, QoS 2 included, as RabbitMQ answers it: a QoS 2
 * sender gets the wrong acknowledgement. Nothing is routed. */
size_t script_puback_everything(void *user, unsigned conn, const midge_client_packet *pkt,
                                uint8_t *out, size_t cap);

/* A ready script: CONNACK, and nothing else ever (no SUBACK, no PUBACK). */
size_t script_connack_only(void *user, unsigned conn, const midge_client_packet *pkt,
                           uint8_t *out, size_t cap);

/* Encoders for answers: each appends to out[*len], within cap. */
void script_put_connack(uint8_t *out, size_t cap, size_t *len);
/* The SUBACK of `pkt` (a SUBSCRIBE): every filter granted the QoS asked for. */
void script_put_suback(uint8_t *out, size_t cap, size_t *len, const midge_client_packet *pkt);
void script_put_ack(uint8_t *out, size_t cap, size_t *len, uint8_t type, uint16_t id);
void script_put_publish(uint8_t *out, size_t cap, size_t *len, const char *topic, size_t topic_len,
                        const char *payload, uint8_t qos, uint16_t id);

/* The first filter of a SUBSCRIBE (NUL-terminated into buf; "" if none). */
const char *script_first_filter(const midge_client_packet *pkt, char *buf, size_t cap);

#endif /* MIDGE_TEST_SCRIPT_BROKER_H */
