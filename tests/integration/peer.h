/*
 * A midge_client with its buffers and a record of the messages it received,
 * for the integration tests. Header-only: each test executable includes it
 * once.
 */
#ifndef MIDGE_TEST_PEER_H
#define MIDGE_TEST_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "midge/midge.h"

#define PEER_MAX_MESSAGES 16
#define PEER_TOPIC_MAX 128
#define PEER_PAYLOAD_MAX 4096

typedef struct peer_message {
    char topic[PEER_TOPIC_MAX];
    uint8_t payload[PEER_PAYLOAD_MAX];
    size_t len;
    uint8_t qos;
    bool retain;
    bool dup;
} peer_message;

typedef struct peer {
    midge_client client;
    midge_client_config cfg;
    midge_session_buffers bufs;
    midge_tcp tcp;
    char id[64];
    uint8_t tx[8192];
    uint8_t rx[8192];
    uint8_t store[16384];
    uint16_t qos2_ids[16];
    int count; /* messages received, including those beyond the record */
    peer_message got[PEER_MAX_MESSAGES];
} peer;

/* Peers not yet freed, so that a test failing half-way leaks nothing: its
 * teardown (peer_teardown) frees them. */
#define PEER_LIVE_MAX 16
static peer *peer_live[PEER_LIVE_MAX];

static inline long long peer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void peer_on_message(void *user, const midge_publish *msg)
{
    peer *p = user;
    if (p->count < PEER_MAX_MESSAGES) {
        peer_message *m = &p->got[p->count];
        size_t tlen = msg->topic_len < PEER_TOPIC_MAX - 1 ? msg->topic_len : PEER_TOPIC_MAX - 1;
        memcpy(m->topic, msg->topic, tlen);
        m->topic[tlen] = '\0';
        m->len = msg->payload_len < PEER_PAYLOAD_MAX ? msg->payload_len : PEER_PAYLOAD_MAX;
        if (m->len > 0)
            memcpy(m->payload, msg->payload, m->len);
        m->qos = msg->qos;
        m->retain = msg->retain;
        m->dup = msg->dup;
    }
    p->count++;
}

/* A heap-allocated peer set up for 127.0.0.1:port; connect with peer_connect. */
static inline peer *peer_new(uint16_t port, const char *id, bool clean_session)
{
    peer *p = calloc(1, sizeof *p);
    int slot = 0;
    while (slot < PEER_LIVE_MAX && peer_live[slot] != NULL)
        slot++;
    if (p == NULL || slot == PEER_LIVE_MAX) {
        free(p);
        return NULL;
    }
    peer_live[slot] = p;
    snprintf(p->id, sizeof p->id, "%s", id);
    p->cfg.host = "127.0.0.1";
    p->cfg.port = port;
    p->cfg.open = midge_tcp_opener;
    p->cfg.opener = &p->tcp;
    p->cfg.platform = &midge_posix_platform;
    p->cfg.connect.client_id = p->id;
    p->cfg.connect.keepalive_s = 30;
    p->cfg.connect.clean_session = clean_session;
    p->cfg.connect_timeout_ms = 5000;
    p->cfg.connack_timeout_ms = 10000;
    p->bufs.tx = p->tx;
    p->bufs.tx_size = sizeof p->tx;
    p->bufs.rx = p->rx;
    p->bufs.rx_size = sizeof p->rx;
    p->bufs.store = p->store;
    p->bufs.store_size = sizeof p->store;
    p->bufs.rx_qos2_ids = p->qos2_ids;
    p->bufs.rx_qos2_cap = 16;
    return p;
}

/* Init the client (after any change to p->cfg) and install the recorder. */
static inline midge_status peer_init(peer *p)
{
    midge_status st = midge_client_init(&p->client, &p->cfg, &p->bufs);
    if (st == MIDGE_OK)
        midge_client_set_callback(&p->client, peer_on_message, p);
    return st;
}

static inline midge_status peer_connect(peer *p, bool *session_present)
{
    midge_status st = peer_init(p);
    if (st != MIDGE_OK)
        return st;
    return midge_client_connect(&p->client, session_present);
}

/* Poll until `n` messages were received or timeout_ms passed. Returns the
 * first failure status of the client, else MIDGE_OK (check p->count). */
static inline midge_status peer_wait_count(peer *p, int n, int timeout_ms)
{
    long long deadline = peer_now_ms() + timeout_ms;
    while (p->count < n && peer_now_ms() < deadline) {
        midge_status st = midge_client_poll(&p->client, 100);
        if (st < 0)
            return st;
    }
    return MIDGE_OK;
}

/* Poll for `ms` whatever happens (to see that nothing more arrives). */
static inline midge_status peer_idle(peer *p, int ms)
{
    long long deadline = peer_now_ms() + ms;
    while (peer_now_ms() < deadline) {
        midge_status st = midge_client_poll(&p->client, 50);
        if (st < 0)
            return st;
    }
    return MIDGE_OK;
}

static inline void peer_free(peer *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < PEER_LIVE_MAX; i++) {
        if (peer_live[i] == p)
            peer_live[i] = NULL;
    }
    if (midge_client_is_connected(&p->client))
        midge_client_disconnect(&p->client);
    free(p);
}

/* cmocka teardown: free whatever a (failed) test left behind. */
static inline int peer_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < PEER_LIVE_MAX; i++)
        peer_free(peer_live[i]);
    return 0;
}

#endif /* MIDGE_TEST_PEER_H */
