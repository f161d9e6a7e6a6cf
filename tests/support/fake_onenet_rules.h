/*
 * The platform's rules the fake OneNET servers enforce, as pure functions
 * (no sockets, no locks): which CONNECT gets which answer, which filters
 * are granted, which publishes are allowed. Internal to fake_onenet.c; the
 * rules themselves are listed in fake_onenet.h.
 */
#ifndef MIDGE_TEST_FAKE_ONENET_RULES_H
#define MIDGE_TEST_FAKE_ONENET_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_onenet.h"
#include "midge/codec_server.h"

/* Who the server expects. Strings borrowed. */
typedef struct fake_onenet_identity {
    fake_onenet_kind kind;
    const char *product_id;
    const char *device_id; /* legacy device ID, Studio device name */
    const char *secret;    /* legacy API key, Studio base64 device key */
} fake_onenet_identity;

/* What a Studio token said, for the record (zero / "" when unreadable). */
typedef struct fake_onenet_login {
    uint64_t token_et;
    char token_method[8];
} fake_onenet_login;

/* The CONNECT checks whose failure gets no CONNACK at all: NULL when they
 * pass, else why (a static string). */
const char *fake_onenet_rule_connect(const fake_onenet_identity *id,
                                     const midge_connect_packet *con);

/* The password (legacy API key, Studio token): 0 when right, else the
 * CONNACK return code to refuse with and *why. *login is filled for Studio
 * as far as the token could be read. */
uint8_t fake_onenet_rule_password(const fake_onenet_identity *id,
                                  const midge_connect_packet *con, fake_onenet_login *login,
                                  const char **why);

/* SUBACK return code for one filter when `held` filters are already kept:
 * 0 (QoS 0, the most either service grants) or MIDGE_SUBACK_FAILURE. */
uint8_t fake_onenet_rule_filter(const fake_onenet_identity *id, midge_str filter, size_t held);

/* Most filters one SUBSCRIBE may carry before the connection is closed. */
size_t fake_onenet_rule_filters_per_packet(const fake_onenet_identity *id);

/* NULL when the device may publish `m`; else why (a static string). */
const char *fake_onenet_rule_publish(const fake_onenet_identity *id, const midge_publish *m);

/* Whether the platform sends `topic` to the device without a subscription
 * (legacy $creq/...). */
bool fake_onenet_rule_unasked(const fake_onenet_identity *id, const char *topic);

#endif /* MIDGE_TEST_FAKE_ONENET_RULES_H */
