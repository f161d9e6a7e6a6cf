/*
 * What the platform knows beyond the registry: which connection is each
 * device's (online is "has a connection"), which connections are operators,
 * and the commands kept for each device. Keyed by device id and by
 * connection; it survives registry reloads.
 *
 * The connection pointers are mosquitto's `struct mosquitto *`, used as
 * opaque keys only: a device is online from its accepted login until the
 * DISCONNECT of that same connection, so the late DISCONNECT of a
 * connection a second login replaced changes nothing.
 *
 * Memory is the broker's (mosquitto_malloc) so that its heap figures
 * include the platform's.
 */
#ifndef ONENET_STATE_H
#define ONENET_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "registry.h"

/* A command id: 1 to 64 of [0-9A-Za-z-] (OneNET's are 36-character UUIDs). */
#define ONENET_UUID_MAX 64

typedef struct onenet_cmd {
    struct onenet_cmd *next;
    char uuid[ONENET_UUID_MAX + 1];
    uint8_t *payload;
    size_t len;
    bool await_answer; /* qos=1: pushed at every login until answered */
    unsigned pushes;   /* times pushed so far */
    time_t expires;    /* monotonic seconds */
} onenet_cmd;

typedef struct onenet_dev {
    char id[ONENET_ID_MAX + 1];
    char product[ONENET_ID_MAX + 1]; /* of its current login */
    void *conn;                      /* struct mosquitto *, NULL when offline */
    onenet_cmd *cmds;                /* oldest first */
    unsigned cmd_count;
} onenet_dev;

typedef struct onenet_op {
    void *conn;
    char product[ONENET_ID_MAX + 1];
} onenet_op;

typedef struct onenet_state {
    void *devs; /* tsearch tree of onenet_dev *, by id */
    void *ops;  /* tsearch tree of onenet_op *, by conn */
    size_t kept; /* commands kept, all devices */
} onenet_state;

/* The device's record, made when create is true; NULL if absent or out of
 * memory. */
onenet_dev *onenet_state_dev(onenet_state *s, const char *id, bool create);

/* The device whose current connection is conn (id is the connection's
 * client id), or NULL. */
onenet_dev *onenet_state_dev_by_conn(onenet_state *s, const char *id, const void *conn);

bool onenet_state_op_add(onenet_state *s, void *conn, const char *product);
const onenet_op *onenet_state_op(onenet_state *s, const void *conn);
void onenet_state_op_remove(onenet_state *s, const void *conn);

/* The kept command with this id, or NULL. */
onenet_cmd *onenet_state_cmd(onenet_dev *d, const char *uuid);

/* Keep a copy of a command; NULL when out of memory. */
onenet_cmd *onenet_state_cmd_add(onenet_state *s, onenet_dev *d, const char *uuid,
                                 const void *payload, size_t len, bool await_answer,
                                 time_t expires);
void onenet_state_cmd_remove(onenet_state *s, onenet_dev *d, onenet_cmd *c);

/* Call fn for every device (in id order); fn may not add or remove devices. */
void onenet_state_each_dev(onenet_state *s, void (*fn)(onenet_dev *d, void *user), void *user);
void onenet_state_each_op(onenet_state *s, void (*fn)(onenet_op *o, void *user), void *user);

void onenet_state_free(onenet_state *s);

/* Seconds from a monotonic clock. */
time_t onenet_now_s(void);

#endif /* ONENET_STATE_H */
