/*
 * Who may log in and what each client may touch (platform.h): options,
 * the registry and its reload, BASIC_AUTH, ACL_CHECK, DISCONNECT.
 *
 * Roles are decided at login and kept with the connection: a device is
 * the connection its device record points at, an operator one in the
 * operator tree. A registry reload therefore never turns a device's
 * connection into an operator's; it disconnects those it no longer admits.
 */
#include "platform.h"

#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datapoint.h"
#include "platform_internal.h"

/* --- options and the registry ---------------------------------------------------- */

static bool parse_uint_opt(const char *key, const char *value, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "onenet: plugin_opt_%s must be %ld..%ld", key, min,
                             max);
        return false;
    }
    *out = v;
    return true;
}

static bool read_options(onenet_platform *p, struct mosquitto_opt *options, int count)
{
    long v;
    for (int i = 0; i < count; i++) {
        const char *k = options[i].key, *val = options[i].value;
        if (strcmp(k, "registry") == 0) {
            free(p->registry_path);
            if ((p->registry_path = strdup(val)) == NULL)
                return false;
        } else if (strcmp(k, "max_commands") == 0) {
            if (!parse_uint_opt(k, val, 1, 4096, &v))
                return false;
            p->max_commands = (unsigned)v;
        } else if (strcmp(k, "max_pushes") == 0) {
            if (!parse_uint_opt(k, val, 1, 1000, &v))
                return false;
            p->max_pushes = (unsigned)v;
        } else if (strcmp(k, "command_ttl") == 0) {
            if (!parse_uint_opt(k, val, 1, ONENET_TIMEOUT_MAX, &v))
                return false;
            p->command_ttl = v;
        } else {
            mosquitto_log_printf(MOSQ_LOG_ERR,
                                 "onenet: unknown option plugin_opt_%s (registry, max_commands, "
                                 "max_pushes, command_ttl)",
                                 k);
            return false;
        }
    }
    if (p->registry_path == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "onenet: plugin_opt_registry is required");
        return false;
    }
    return true;
}

onenet_platform *onenet_platform_new(struct mosquitto_opt *options, int option_count)
{
    char err[512];
    onenet_platform *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->max_commands = 16;
    p->max_pushes = 8;
    p->command_ttl = 86400;
    p->dp_work = malloc(ONENET_DP_WORK_BYTES);
    if (p->dp_work == NULL || !read_options(p, options, option_count))
        goto fail;
    if (!onenet_registry_load(&p->reg, p->registry_path, err, sizeof err)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "onenet: registry %s", err);
        goto fail;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "onenet: registry %s: %zu products, %zu devices",
                         p->registry_path, p->reg.product_count, p->reg.device_count);
    p->last_sweep = onenet_now_s();
    return p;
fail:
    onenet_platform_free(p);
    return NULL;
}

void onenet_platform_free(onenet_platform *p)
{
    if (p == NULL)
        return;
    onenet_registry_free(&p->reg);
    onenet_state_free(&p->state);
    free(p->registry_path);
    free(p->dp_work);
    free(p->dp_out);
    free(p);
}

/* --- reload ------------------------------------------------------------------ */

/* Client ids to disconnect after a reload, gathered first: a kick runs the
 * DISCONNECT callback at once, which must not change a tree being walked. */
typedef struct kick_list {
    onenet_platform *p;
    char **ids;
    size_t count;
    size_t cap;
} kick_list;

static void kick_add(kick_list *k, const char *id)
{
    if (id == NULL)
        return;
    if (k->count == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        char **v = realloc(k->ids, cap * sizeof *v);
        if (v == NULL)
            return;
        k->ids = v;
        k->cap = cap;
    }
    if ((k->ids[k->count] = strdup(id)) != NULL)
        k->count++;
}

static void kick_stale_dev(onenet_dev *d, void *user)
{
    kick_list *k = user;
    if (d->conn == NULL)
        return;
    const onenet_device *rd = onenet_registry_device(&k->p->reg, d->id);
    if (rd == NULL || strcmp(rd->product_id, d->product) != 0)
        kick_add(k, d->id);
}

static void kick_stale_op(onenet_op *o, void *user)
{
    kick_list *k = user;
    if (onenet_registry_product(&k->p->reg, o->product) == NULL)
        kick_add(k, mosquitto_client_id(o->conn));
}

int onenet_on_reload(int event, void *event_data, void *userdata)
{
    onenet_platform *p = userdata;
    onenet_registry fresh;
    char err[512];
    (void)event;
    (void)event_data;

    if (!onenet_registry_load(&fresh, p->registry_path, err, sizeof err)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "onenet: registry %s; keeping the previous one", err);
        return MOSQ_ERR_SUCCESS;
    }
    onenet_registry_free(&p->reg);
    p->reg = fresh;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "onenet: registry %s reloaded: %zu products, %zu devices",
                         p->registry_path, p->reg.product_count, p->reg.device_count);

    kick_list k = {.p = p};
    onenet_state_each_dev(&p->state, kick_stale_dev, &k);
    onenet_state_each_op(&p->state, kick_stale_op, &k);
    for (size_t i = 0; i < k.count; i++) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "onenet: %s disconnected: not in the registry now",
                             k.ids[i]);
        mosquitto_kick_client_by_clientid(k.ids[i], false);
        free(k.ids[i]);
    }
    free(k.ids);
    return MOSQ_ERR_SUCCESS;
}

/* --- BASIC_AUTH ---------------------------------------------------------------- */

static bool device_password_ok(const onenet_device *d, const char *pw)
{
    /* Every candidate is compared, so the time taken does not tell which
     * one matched. */
    bool ok = onenet_secret_equal(pw, d->product->master_key);
    if (d->api_key != NULL)
        ok |= onenet_secret_equal(pw, d->api_key);
    if (d->auth_info != NULL)
        ok |= onenet_secret_equal(pw, d->auth_info);
    return ok;
}

static int refuse(const char *id, const char *why)
{
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "onenet: login of %s refused: %s", id, why);
    return MOSQ_ERR_AUTH;
}

int onenet_on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ev = event_data;
    onenet_platform *p = userdata;
    const char *id = mosquitto_client_id(ev->client);
    (void)event;

    if (id == NULL)
        return MOSQ_ERR_AUTH;
    /* onenet.md: user name and password are required; a CONNECT without
     * them is malformed and gets no CONNACK. Any answer but MOSQ_ERR_AUTH
     * makes mosquitto close the connection without one. */
    if (ev->username == NULL || ev->password == NULL) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "onenet: login of %s closed: no user name or no password", id);
        return MOSQ_ERR_UNKNOWN;
    }
    const onenet_device *d = onenet_registry_device(&p->reg, id);
    if (d != NULL) {
        if (strcmp(ev->username, d->product_id) != 0)
            return refuse(id, "user name is not the device's product id");
        if (!device_password_ok(d, ev->password))
            return refuse(id, "password is not the device's API key, auth info or its "
                              "product's master key");
        return onenet_device_login(p, d, ev->client) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_NOMEM;
    }
    const onenet_product *prod = onenet_registry_product(&p->reg, ev->username);
    if (prod == NULL)
        return refuse(id, "not a registered device, and the user name is no product id");
    if (!onenet_secret_equal(ev->password, prod->master_key))
        return refuse(id, "not a registered device, and the password is not the product's "
                          "master key");
    if (!onenet_state_op_add(&p->state, ev->client, prod->id))
        return MOSQ_ERR_NOMEM;
    mosquitto_log_printf(MOSQ_LOG_INFO, "onenet: operator %s of product %s logged in", id,
                         prod->id);
    return MOSQ_ERR_SUCCESS;
}

/* --- ACL_CHECK ----------------------------------------------------------------- */

/* "$crsp/<one non-empty level>" */
static bool is_crsp(const char *topic)
{
    if (strncmp(topic, "$crsp/", 6) != 0)
        return false;
    const char *uuid = topic + 6;
    return uuid[0] != '\0' && strchr(uuid, '/') == NULL;
}

static int device_acl(const char *topic, int access)
{
    switch (access) {
    case MOSQ_ACL_UNSUBSCRIBE:
        return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_SUBSCRIBE:
        /* onenet.md: '$' topics cannot be subscribed, nor wildcards (which
         * would also read other devices' custom traffic wholesale). */
        if (topic[0] == '$' || strpbrk(topic, "+#") != NULL)
            return MOSQ_ERR_ACL_DENIED;
        return MOSQ_ERR_SUCCESS;
    case MOSQ_ACL_WRITE:
        if (strcmp(topic, "$dp") == 0 || is_crsp(topic))
            return MOSQ_ERR_SUCCESS;
        return topic[0] == '$' ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_SUCCESS;
    default: /* READ: a delivery by subscription; $creq pushes bypass it */
        return topic[0] == '$' ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_SUCCESS;
    }
}

/* True if topic is "$onenet/<product>/..." */
static bool in_product_tree(const char *topic, const char *product)
{
    size_t pre = strlen(ONENET_TOPIC_PREFIX), n = strlen(product);
    return strncmp(topic, ONENET_TOPIC_PREFIX, pre) == 0 &&
           strncmp(topic + pre, product, n) == 0 && topic[pre + n] == '/';
}

static int operator_acl(const onenet_op *o, const char *topic, int access)
{
    if (access == MOSQ_ACL_UNSUBSCRIBE)
        return MOSQ_ERR_SUCCESS;
    if (topic[0] != '$')
        return MOSQ_ERR_SUCCESS; /* custom topics, as the HTTP API posts to them */
    if (!in_product_tree(topic, o->product))
        return MOSQ_ERR_ACL_DENIED;
    if (access != MOSQ_ACL_WRITE)
        return MOSQ_ERR_SUCCESS;
    /* Operators write commands only; the rest of the tree is the platform's. */
    onenet_cmd_topic t;
    return onenet_parse_cmd_topic(topic, o->product, &t) ? MOSQ_ERR_SUCCESS
                                                         : MOSQ_ERR_ACL_DENIED;
}

int onenet_on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ev = event_data;
    onenet_platform *p = userdata;
    (void)event;

    const char *id = mosquitto_client_id(ev->client);
    if (onenet_state_dev_by_conn(&p->state, id, ev->client) != NULL)
        return device_acl(ev->topic, ev->access);
    const onenet_op *o = onenet_state_op(&p->state, ev->client);
    if (o != NULL)
        return operator_acl(o, ev->topic, ev->access);
    return MOSQ_ERR_ACL_DENIED;
}

/* --- DISCONNECT and TICK ------------------------------------------------------------ */

int onenet_on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ev = event_data;
    onenet_platform *p = userdata;
    (void)event;

    /* Only the connection the device record points at takes it offline:
     * the DISCONNECT of a connection a newer login replaced comes late. */
    onenet_dev *d = onenet_state_dev_by_conn(&p->state, mosquitto_client_id(ev->client),
                                             ev->client);
    if (d != NULL)
        onenet_device_logout(p, d);
    onenet_state_op_remove(&p->state, ev->client);
    return MOSQ_ERR_SUCCESS;
}

int onenet_on_tick(int event, void *event_data, void *userdata)
{
    onenet_platform *p = userdata;
    (void)event;
    (void)event_data;
    time_t now = onenet_now_s();
    if (now == p->last_sweep)
        return MOSQ_ERR_SUCCESS;
    p->last_sweep = now;
    if (p->state.kept > 0)
        onenet_sweep_expired(p, now);
    return MOSQ_ERR_SUCCESS;
}
