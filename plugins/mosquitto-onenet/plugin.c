/*
 * mosquitto-onenet: a OneNET-compatible platform as a mosquitto 2.0 plugin
 * (plugin API version 5). Devices speak OneNET's legacy MQTT protocol
 * (onenet.md section 1); operators talk to the platform over the topic
 * tree under $onenet/ that README.md beside this file describes.
 *
 * mosquitto runs every callback on its one thread, so the plugin's state
 * needs no lock. Messages the plugin publishes (mosquitto_broker_publish*)
 * are queued by the broker and sent at the start of its next loop turn,
 * after the CONNACK of a login being handled, so a command pushed at login
 * reaches the device right after its CONNACK.
 */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

static const int onenet_events[] = {
    MOSQ_EVT_RELOAD,  MOSQ_EVT_BASIC_AUTH, MOSQ_EVT_ACL_CHECK,
    MOSQ_EVT_MESSAGE, MOSQ_EVT_TICK,       MOSQ_EVT_DISCONNECT,
};

static mosquitto_plugin_id_t *the_id;

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

static MOSQ_FUNC_generic_callback onenet_callback_of(int event)
{
    switch (event) {
    case MOSQ_EVT_RELOAD:
        return onenet_on_reload;
    case MOSQ_EVT_BASIC_AUTH:
        return onenet_on_basic_auth;
    case MOSQ_EVT_ACL_CHECK:
        return onenet_on_acl_check;
    case MOSQ_EVT_MESSAGE:
        return onenet_on_message;
    case MOSQ_EVT_TICK:
        return onenet_on_tick;
    default:
        return onenet_on_disconnect;
    }
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    onenet_platform *p = onenet_platform_new(options, option_count);
    if (p == NULL)
        return MOSQ_ERR_INVAL;
    for (size_t i = 0; i < sizeof onenet_events / sizeof onenet_events[0]; i++) {
        int rc = mosquitto_callback_register(identifier, onenet_events[i],
                                             onenet_callback_of(onenet_events[i]), NULL, p);
        if (rc != MOSQ_ERR_SUCCESS) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "onenet: could not register a callback (%d)", rc);
            for (size_t k = 0; k < i; k++)
                mosquitto_callback_unregister(identifier, onenet_events[k],
                                              onenet_callback_of(onenet_events[k]), NULL);
            onenet_platform_free(p);
            return rc;
        }
    }
    the_id = identifier;
    *userdata = p;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)options;
    (void)option_count;
    if (the_id != NULL)
        for (size_t i = 0; i < sizeof onenet_events / sizeof onenet_events[0]; i++)
            mosquitto_callback_unregister(the_id, onenet_events[i],
                                          onenet_callback_of(onenet_events[i]), NULL);
    onenet_platform_free(userdata);
    the_id = NULL;
    return MOSQ_ERR_SUCCESS;
}
