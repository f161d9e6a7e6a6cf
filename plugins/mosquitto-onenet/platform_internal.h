/*
 * Between platform.c (logins, roles, ACLs) and commands.c (the messages:
 * commands, answers, data points, presence).
 */
#ifndef ONENET_PLATFORM_INTERNAL_H
#define ONENET_PLATFORM_INTERNAL_H

#include <stdbool.h>

#include "platform.h"

/* An operator's command topic, $onenet/<product>/<device>/cmd/<uuid>[/<qos>/<timeout>],
 * split; pointers into the caller's copy. */
typedef struct onenet_cmd_topic {
    char device[ONENET_ID_MAX + 1];
    char uuid[ONENET_UUID_MAX + 1];
    bool await_answer; /* qos 1 */
    long timeout_s;
} onenet_cmd_topic;

/* True if topic is a well-formed command topic of product's tree. */
bool onenet_parse_cmd_topic(const char *topic, const char *product, onenet_cmd_topic *out);

/* An accepted login of device d on conn: online, presence published, kept
 * commands pushed. False when out of memory. */
bool onenet_device_login(onenet_platform *p, const onenet_device *d, void *conn);

/* The DISCONNECT of the device's current connection. */
void onenet_device_logout(onenet_platform *p, onenet_dev *d);

/* Drop the kept commands whose time is up. */
void onenet_sweep_expired(onenet_platform *p, time_t now);

#endif /* ONENET_PLATFORM_INTERNAL_H */
