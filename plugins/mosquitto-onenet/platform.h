/*
 * The platform behind the plugin's callbacks: options, the registry, the
 * runtime state, and one function per mosquitto event (each has the
 * signature of MOSQ_FUNC_generic_callback, userdata = the platform).
 *
 * Options (plugin_opt_NAME VALUE in mosquitto.conf):
 *   registry      path of the device registry (registry.h); required
 *   max_commands  commands kept per device (default 16)
 *   max_pushes    times a kept command is pushed before it is dropped (default 8)
 *   command_ttl   seconds a qos=1 command with timeout=0 is kept (default 86400)
 */
#ifndef ONENET_PLATFORM_H
#define ONENET_PLATFORM_H

#include <mosquitto_broker.h>

#include "registry.h"
#include "state.h"

#define ONENET_TOPIC_PREFIX "$onenet/"
#define ONENET_TIMEOUT_MAX 2678400 /* 31 days: onenet.md section 3 */
#define ONENET_COMMAND_MAX 65535   /* bytes: "under 64 KB" */
#define ONENET_DP_MAX (1024 * 1024)

typedef struct onenet_platform {
    char *registry_path;
    onenet_registry reg;
    onenet_state state;
    unsigned max_commands;
    unsigned max_pushes;
    long command_ttl;
    time_t last_sweep;
    void *dp_work;   /* ONENET_DP_WORK_BYTES */
    char *dp_out;    /* grown to fit the largest $dp so far */
    size_t dp_out_cap;
} onenet_platform;

/* Reads the options and the registry; NULL after one log line on error. */
onenet_platform *onenet_platform_new(struct mosquitto_opt *options, int option_count);
void onenet_platform_free(onenet_platform *p);

int onenet_on_reload(int event, void *event_data, void *userdata);
int onenet_on_basic_auth(int event, void *event_data, void *userdata);
int onenet_on_acl_check(int event, void *event_data, void *userdata);
int onenet_on_message(int event, void *event_data, void *userdata);
int onenet_on_tick(int event, void *event_data, void *userdata);
int onenet_on_disconnect(int event, void *event_data, void *userdata);

#endif /* ONENET_PLATFORM_H */
