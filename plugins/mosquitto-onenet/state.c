/*
 * The platform's runtime state (state.h): two binary trees from the C
 * library (tsearch), one of devices by id and one of operator connections
 * by pointer, and a short list of kept commands per device.
 */
#include "state.h"

#include <mosquitto_broker.h>
#include <search.h>
#include <string.h>

static int cmp_dev(const void *a, const void *b)
{
    return strcmp(((const onenet_dev *)a)->id, ((const onenet_dev *)b)->id);
}

static int cmp_op(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const onenet_op *)a)->conn;
    uintptr_t y = (uintptr_t)((const onenet_op *)b)->conn;
    return (x > y) - (x < y);
}

onenet_dev *onenet_state_dev(onenet_state *s, const char *id, bool create)
{
    onenet_dev key;
    if (strlen(id) > ONENET_ID_MAX)
        return NULL;
    strcpy(key.id, id);
    void **found = tfind(&key, &s->devs, cmp_dev);
    if (found != NULL)
        return *found;
    if (!create)
        return NULL;
    onenet_dev *d = mosquitto_calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    strcpy(d->id, id);
    found = tsearch(d, &s->devs, cmp_dev);
    if (found == NULL) {
        mosquitto_free(d);
        return NULL;
    }
    return d;
}

onenet_dev *onenet_state_dev_by_conn(onenet_state *s, const char *id, const void *conn)
{
    if (id == NULL || conn == NULL)
        return NULL;
    onenet_dev *d = onenet_state_dev(s, id, false);
    return d != NULL && d->conn == conn ? d : NULL;
}

bool onenet_state_op_add(onenet_state *s, void *conn, const char *product)
{
    onenet_op *o = mosquitto_calloc(1, sizeof *o);
    if (o == NULL || strlen(product) > ONENET_ID_MAX) {
        mosquitto_free(o);
        return false;
    }
    o->conn = conn;
    strcpy(o->product, product);
    void **found = tsearch(o, &s->ops, cmp_op);
    if (found == NULL) {
        mosquitto_free(o);
        return false;
    }
    if (*found != o) {
        /* The same connection again (cannot happen in MQTT 3.1.1): keep
         * the newer product. */
        strcpy(((onenet_op *)*found)->product, product);
        mosquitto_free(o);
    }
    return true;
}

const onenet_op *onenet_state_op(onenet_state *s, const void *conn)
{
    onenet_op key = {.conn = (void *)conn};
    void **found = tfind(&key, &s->ops, cmp_op);
    return found != NULL ? *found : NULL;
}

void onenet_state_op_remove(onenet_state *s, const void *conn)
{
    onenet_op key = {.conn = (void *)conn};
    void **found = tfind(&key, &s->ops, cmp_op);
    if (found == NULL)
        return;
    onenet_op *o = *found;
    tdelete(&key, &s->ops, cmp_op);
    mosquitto_free(o);
}

onenet_cmd *onenet_state_cmd(onenet_dev *d, const char *uuid)
{
    for (onenet_cmd *c = d->cmds; c != NULL; c = c->next)
        if (strcmp(c->uuid, uuid) == 0)
            return c;
    return NULL;
}

onenet_cmd *onenet_state_cmd_add(onenet_state *s, onenet_dev *d, const char *uuid,
                                 const void *payload, size_t len, bool await_answer,
                                 time_t expires)
{
    if (strlen(uuid) > ONENET_UUID_MAX)
        return NULL;
    onenet_cmd *c = mosquitto_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->payload = mosquitto_malloc(len > 0 ? len : 1);
    if (c->payload == NULL) {
        mosquitto_free(c);
        return NULL;
    }
    if (len > 0) /* an empty command may come with no buffer at all */
        memcpy(c->payload, payload, len);
    c->len = len;
    strcpy(c->uuid, uuid);
    c->await_answer = await_answer;
    c->expires = expires;
    onenet_cmd **tail = &d->cmds;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = c;
    d->cmd_count++;
    s->kept++;
    return c;
}

void onenet_state_cmd_remove(onenet_state *s, onenet_dev *d, onenet_cmd *c)
{
    for (onenet_cmd **p = &d->cmds; *p != NULL; p = &(*p)->next) {
        if (*p != c)
            continue;
        *p = c->next;
        d->cmd_count--;
        s->kept--;
        mosquitto_free(c->payload);
        mosquitto_free(c);
        return;
    }
}

/* twalk has no user pointer: the walk's callback and its argument. */
static struct {
    void (*dev_fn)(onenet_dev *, void *);
    void (*op_fn)(onenet_op *, void *);
    void *user;
} walk;

static void walk_dev(const void *node, VISIT v, int depth)
{
    (void)depth;
    if (v == postorder || v == leaf)
        walk.dev_fn(*(onenet_dev *const *)node, walk.user);
}

static void walk_op(const void *node, VISIT v, int depth)
{
    (void)depth;
    if (v == postorder || v == leaf)
        walk.op_fn(*(onenet_op *const *)node, walk.user);
}

void onenet_state_each_dev(onenet_state *s, void (*fn)(onenet_dev *d, void *user), void *user)
{
    walk.dev_fn = fn;
    walk.user = user;
    twalk(s->devs, walk_dev);
}

void onenet_state_each_op(onenet_state *s, void (*fn)(onenet_op *o, void *user), void *user)
{
    walk.op_fn = fn;
    walk.user = user;
    twalk(s->ops, walk_op);
}

static void free_dev(void *p)
{
    onenet_dev *d = p;
    while (d->cmds != NULL) {
        onenet_cmd *c = d->cmds;
        d->cmds = c->next;
        mosquitto_free(c->payload);
        mosquitto_free(c);
    }
    mosquitto_free(d);
}

static void free_op(void *p)
{
    mosquitto_free(p);
}

void onenet_state_free(onenet_state *s)
{
    tdestroy(s->devs, free_dev);
    tdestroy(s->ops, free_op);
    memset(s, 0, sizeof *s);
}

time_t onenet_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}
