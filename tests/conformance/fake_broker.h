/*
 * The broker side of one conformance case, over an accepted connection:
 * check the client's CONNECT, answer CONNACK, check the command's packet,
 * replay the case's messages, then check that the client closed the
 * connection or is still alive, as the case expects.
 */
#ifndef CONFORMANCE_FAKE_BROKER_H
#define CONFORMANCE_FAKE_BROKER_H

#include <stdbool.h>
#include <stddef.h>

#include "cases.h"

/* Bounds of every wait, in milliseconds. */
#define FAKE_BROKER_CONNECT_MS 3000    /* client's CONNECT after accept */
#define FAKE_BROKER_RECV_MS 2000       /* each expected packet */
#define FAKE_BROKER_DISCONNECT_MS 3000 /* client closing after the last step */

/* What the client must have done once the messages are replayed. */
typedef enum broker_expect {
    EXPECT_DISCONNECT, /* closed the connection */
    EXPECT_ALIVE       /* answers the alive check's PUBLISH with its PUBACK */
} broker_expect;

/* Run the case on `fd` (which the caller closes). Returns true when the
 * client behaved as expected; otherwise `why` says what happened. */
bool fake_broker_run(int fd, const conf_case *c, broker_expect expect, char *why, size_t why_cap);

/* The alive check: a QoS 1 PUBLISH of "payload" on "alive check" with packet
 * id 65535, and the PUBACK it needs, in the case files' notation. Remaining
 * length 22 = topic (2 + 11) + packet id (2) + payload (7). */
#define FAKE_BROKER_ALIVE_PUBLISH "32 r22 s11 'alive check' m65535 'payload'"
#define FAKE_BROKER_ALIVE_PUBACK "40 r2 m65535"

#endif /* CONFORMANCE_FAKE_BROKER_H */
