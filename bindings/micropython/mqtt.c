/*
 * midge.MQTTClient: umqtt.simple's MQTTClient on midge's client.
 *
 * Same constructor, methods, argument names and defaults as umqtt.simple
 * (micropython-lib, umqtt/simple.py), so that a script changes only its
 * import. Beyond it: QoS 2, PINGREQs sent by every call that waits (keepalive
 * runs by itself), and with reconnect=True a lost connection is opened again
 * inside the next call, its subscriptions renewed and unacknowledged QoS 1/2
 * messages resent.
 *
 * Memory: every buffer is allocated by the constructor (buffer_size bytes
 * for rx and for tx, inflight_size for the QoS 1/2 store, a topic scratch);
 * publish allocates nothing. A received message allocates the two bytes
 * objects the callback gets. Strings the client keeps (client id,
 * credentials, the will, subscribed filters) are copied once into bytes
 * objects held here, so their C pointers stay valid for the client.
 */
#include <string.h>

#include "modmidge.h"

/* publish at QoS 1/2 waits for the acknowledgement this long, as the
 * client's own calls wait (client.h, call_timeout_ms). */
#define MQTT_ACK_TIMEOUT_MS 30000u
/* The slice of that wait, after which an exception raised meanwhile
 * (Ctrl-C, the callback) is looked at. */
#define MQTT_ACK_SLICE_MS 100u

typedef struct mp_midge_mqtt_obj {
    mp_midge_obj_t m;
    mp_obj_t client_id;
    mp_obj_t user;
    mp_obj_t password;
    mp_obj_t cb;
    mp_obj_t lw_topic; /* None until set_last_will */
    mp_obj_t lw_msg;
    mp_obj_t subs[MIDGE_CLIENT_MAX_SUBS]; /* filters the client keeps by pointer */
    mp_obj_t last_op;                     /* what wait_msg and check_msg return */
    uint8_t lw_qos;
    bool lw_retain;
    bool in_callback;
    uint16_t await_id; /* the QoS 1/2 publish being waited for */
    bool await_done;   /* its PUBACK or PUBCOMP came */
    bool await_lost;   /* a new session discarded it unacknowledged */
    mp_midge_buffers bufs;
    char *topic; /* publish's NUL-terminated topic: buffer_size + 1 bytes */
} mp_midge_mqtt_obj_t;

/* --- messages ----------------------------------------------------------------- */

static void mqtt_deliver(mp_midge_mqtt_obj_t *self, const midge_publish *msg)
{
    mp_obj_t args[2];
    args[0] = mp_obj_new_bytes((const byte *)msg->topic, msg->topic_len);
    args[1] = mp_obj_new_bytes(msg->payload, msg->payload_len);
    mp_call_function_n_kw(self->cb, 2, 0, args);
}

static void mqtt_on_message(void *user, const midge_publish *msg)
{
    mp_midge_mqtt_obj_t *self = user;
    nlr_buf_t nlr;

    /* umqtt.simple's wait_msg returns the PUBLISH's first byte. */
    self->last_op = MP_OBJ_NEW_SMALL_INT(0x30 | (msg->dup ? 0x08 : 0) | (msg->qos << 1) |
                                         (msg->retain ? 0x01 : 0));
    if (self->m.link.pending != MP_OBJ_NULL)
        return;
    self->in_callback = true;
    if (nlr_push(&nlr) == 0) {
        mqtt_deliver(self, msg);
        nlr_pop();
    } else {
        self->m.link.pending = MP_OBJ_FROM_PTR(nlr.ret_val);
    }
    self->in_callback = false;
}

/* The fate of the publish being waited for. A reconnect onto a fresh
 * session (the broker kept none: clean_session, or a broker restarted
 * without persistence) discards it unacknowledged (MQTT 3.1.1 section
 * 3.1.2.4); publish then sends it again, as umqtt.robust would. */
static void mqtt_on_event(void *user, const midge_event *ev)
{
    mp_midge_mqtt_obj_t *self = user;

    if (self->await_id == 0)
        return;
    if (ev->type == MIDGE_EV_PUBLISHED && ev->packet_id == self->await_id)
        self->await_done = true;
    else if (ev->type == MIDGE_EV_SESSION_LOST && !self->await_done)
        self->await_lost = true;
}

/* --- construction --------------------------------------------------------- */

enum {
    ARG_client_id,
    ARG_server,
    ARG_port,
    ARG_user,
    ARG_password,
    ARG_keepalive,
    ARG_ssl,
    ARG_ssl_params,
    ARG_reconnect,
    ARG_buffer_size,
    ARG_inflight_size
};

static mp_obj_t mqtt_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
                              const mp_obj_t *all_args)
{
    static const mp_arg_t allowed[] = {
        { MP_QSTR_client_id, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_server, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_port, MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_user, MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
        { MP_QSTR_password, MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
        { MP_QSTR_keepalive, MP_ARG_INT, { .u_int = 0 } },
        { MP_QSTR_ssl, MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
        { MP_QSTR_ssl_params, MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
        { MP_QSTR_reconnect, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = false } },
        { MP_QSTR_buffer_size, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = MP_MIDGE_BUFFER_SIZE } },
        { MP_QSTR_inflight_size, MP_ARG_KW_ONLY | MP_ARG_INT,
          { .u_int = MP_MIDGE_INFLIGHT_SIZE } },
    };
    mp_arg_val_t a[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed), allowed, a);

    mp_int_t keepalive = a[ARG_keepalive].u_int;
    if (keepalive < 0 || keepalive > 65535)
        mp_raise_ValueError(MP_ERROR_TEXT("keepalive must be 0..65535"));
    uint16_t port;
    mp_midge_mqtt_obj_t *self = mp_midge_new(type, sizeof *self, a[ARG_server].u_obj,
                                             a[ARG_port].u_int, a[ARG_ssl].u_obj,
                                             a[ARG_ssl_params].u_obj, &port);
    self->client_id = mp_midge_cstr(a[ARG_client_id].u_obj, false);
    /* umqtt.simple sends credentials only with a user name. */
    mp_obj_t user = a[ARG_user].u_obj;
    bool with_user = user != mp_const_none && mp_obj_is_true(user);
    self->user = with_user ? mp_midge_cstr(user, false) : mp_const_none;
    self->password = with_user ? mp_midge_cstr(a[ARG_password].u_obj, true) : mp_const_none;
    self->cb = mp_const_none;
    self->lw_topic = mp_const_none;
    self->lw_msg = mp_const_none;
    self->last_op = mp_const_none;
    for (size_t i = 0; i < MIDGE_CLIENT_MAX_SUBS; i++)
        self->subs[i] = MP_OBJ_NULL;

    mp_midge_buffers_alloc(&self->bufs, a[ARG_buffer_size].u_int, a[ARG_inflight_size].u_int);
    self->topic = m_new(char, self->bufs.size + 1);

    midge_client_config cfg;
    mp_midge_client_config(&self->m.link, &cfg, port, (uint16_t)keepalive,
                           a[ARG_reconnect].u_bool);
    cfg.connect.client_id = mp_midge_cstr_ptr(self->client_id);
    cfg.connect.username = mp_midge_cstr_ptr(self->user);
    cfg.connect.password = mp_midge_cstr_ptr(self->password);
    if (midge_client_init(&self->m.client, &cfg, &self->bufs.session) != MIDGE_OK)
        mp_raise_ValueError(NULL);
    midge_client_set_event_callback(&self->m.client, mqtt_on_event, self);
    return MP_OBJ_FROM_PTR(self);
}

/* --- calls ------------------------------------------------------------------- */

static mp_obj_t mqtt_set_callback(mp_obj_t self_in, mp_obj_t f)
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);

    self->cb = f;
    /* Without a callback the client holds QoS 1/2 messages unacknowledged. */
    midge_client_set_callback(&self->m.client, f == mp_const_none ? NULL : mqtt_on_message, self);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mqtt_set_callback_obj, mqtt_set_callback);

/* set_last_will and publish: (topic, msg, retain=False, qos=0). */
static const mp_arg_t mqtt_message_args[] = {
    { MP_QSTR_topic, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
    { MP_QSTR_msg, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
    { MP_QSTR_retain, MP_ARG_BOOL, { .u_bool = false } },
    { MP_QSTR_qos, MP_ARG_INT, { .u_int = 0 } },
};

static mp_obj_t mqtt_set_last_will(size_t n_args, const mp_obj_t *pos, mp_map_t *kw)
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(pos[0]);
    mp_arg_val_t a[MP_ARRAY_SIZE(mqtt_message_args)];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, MP_ARRAY_SIZE(mqtt_message_args),
                     mqtt_message_args, a);

    /* umqtt.simple asserts both. */
    mp_int_t qos = a[3].u_int;
    if (qos < 0 || qos > 2 || !mp_obj_is_true(a[0].u_obj))
        mp_raise_type(&mp_type_AssertionError);
    size_t len;
    mp_midge_data(a[1].u_obj, &len);
    if (len > UINT16_MAX)
        mp_raise_ValueError(MP_ERROR_TEXT("will message too long"));
    /* Takes effect at the next connect, as in umqtt.simple. */
    self->lw_topic = mp_midge_cstr(a[0].u_obj, false);
    self->lw_msg = mp_obj_new_bytes(mp_midge_data(a[1].u_obj, &len), len);
    self->lw_qos = (uint8_t)qos;
    self->lw_retain = a[2].u_bool;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(mqtt_set_last_will_obj, 1, mqtt_set_last_will);

static mp_obj_t mqtt_connect(size_t n_args, const mp_obj_t *pos, mp_map_t *kw)
{
    static const mp_arg_t allowed[] = {
        { MP_QSTR_clean_session, MP_ARG_BOOL, { .u_bool = true } },
        { MP_QSTR_timeout, MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    };
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(pos[0]);
    midge_client *c = &self->m.client;
    mp_arg_val_t a[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, MP_ARRAY_SIZE(allowed), allowed, a);

    /* connect's own arguments change what every later (re)connect sends;
     * the client keeps them in its configuration. */
    c->cfg.connect.clean_session = a[0].u_bool;
    if (a[1].u_obj != mp_const_none) {
#if MICROPY_PY_BUILTINS_FLOAT
        mp_float_t s = mp_obj_get_float(a[1].u_obj);
        uint32_t ms = s <= 0 ? 1u : s >= 86400 ? 86400000u : (uint32_t)(s * 1000);
#else
        mp_int_t s = mp_obj_get_int(a[1].u_obj);
        uint32_t ms = s <= 0 ? 1u : s >= 86400 ? 86400000u : (uint32_t)s * 1000u;
#endif
        c->cfg.connect_timeout_ms = ms;
        midge_session_set_connack_timeout(&c->session, ms);
    }
    mp_midge_begin(&self->m.link);
    /* A second connect replaces the first connection, cleanly. */
    if (midge_client_is_connected(c))
        (void)midge_client_disconnect(c);
    if (self->lw_topic != mp_const_none) {
        size_t len;
        const byte *msg = mp_midge_data(self->lw_msg, &len);
        midge_status st = midge_client_set_last_will(c, mp_midge_cstr_ptr(self->lw_topic), msg,
                                                     (uint16_t)len, self->lw_qos,
                                                     self->lw_retain);
        mp_midge_check(&self->m.link, st);
    }
    bool present = false;
    midge_status st = midge_client_connect(c, &present);
    mp_midge_check(&self->m.link, st);
    return MP_OBJ_NEW_SMALL_INT(present ? 1 : 0);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(mqtt_connect_obj, 1, mqtt_connect);

static mp_obj_t mqtt_disconnect(mp_obj_t self_in)
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);

    mp_midge_begin(&self->m.link);
    /* A connection already gone has nothing left to say goodbye on. */
    (void)midge_client_disconnect(&self->m.client);
    mp_midge_check(&self->m.link, MIDGE_OK);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(mqtt_disconnect_obj, mqtt_disconnect);

static mp_obj_t mqtt_ping(mp_obj_t self_in)
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);

    mp_midge_begin(&self->m.link);
    mp_midge_check(&self->m.link, midge_client_ping(&self->m.client));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(mqtt_ping_obj, mqtt_ping);

/* Until the QoS 1/2 publish just made is acknowledged, or discarded by a
 * new session, within `start` + MQTT_ACK_TIMEOUT_MS; in slices, so that
 * an exception raised meanwhile ends the wait. Its acknowledgement may
 * have come already, inside publish (before its id was known here): a
 * flush that finds nothing in flight, and no session lost, means done. */
static midge_status mqtt_await_ack(mp_midge_mqtt_obj_t *self, uint32_t start)
{
    for (;;) {
        midge_status st = midge_client_flush(&self->m.client, MQTT_ACK_SLICE_MS);
        if (self->await_done || self->await_lost || self->m.link.pending != MP_OBJ_NULL)
            return MIDGE_OK;
        if (st != MIDGE_TIMEOUT)
            return st;
        if (mp_midge_ticks() - start >= MQTT_ACK_TIMEOUT_MS)
            return MIDGE_TIMEOUT;
    }
}

/* Publish and, for QoS 1/2 outside the callback, wait for the
 * acknowledgement as umqtt.simple does, sending again what a new session
 * discarded. */
static midge_status mqtt_send(mp_midge_mqtt_obj_t *self, const byte *msg, size_t len, uint8_t qos,
                              bool retain)
{
    uint32_t start = mp_midge_ticks();

    for (;;) {
        uint16_t id = 0;
        midge_status st = midge_client_publish(&self->m.client, self->topic, msg, len, qos, retain,
                                               &id);
        if (st != MIDGE_OK || qos == 0 || self->in_callback)
            return st;
        /* A session lost before this point was lost before the message
         * was stored. */
        self->await_id = id;
        self->await_done = midge_session_inflight(&self->m.client.session) == 0;
        self->await_lost = false;
        st = mqtt_await_ack(self, start);
        self->await_id = 0;
        if (st != MIDGE_OK || !self->await_lost || self->await_done ||
            self->m.link.pending != MP_OBJ_NULL)
            return st;
    }
}

static mp_obj_t mqtt_publish(size_t n_args, const mp_obj_t *pos, mp_map_t *kw)
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(pos[0]);
    mp_arg_val_t a[MP_ARRAY_SIZE(mqtt_message_args)];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, MP_ARRAY_SIZE(mqtt_message_args),
                     mqtt_message_args, a);

    size_t topic_len, len;
    const byte *topic = mp_midge_data(a[0].u_obj, &topic_len);
    const byte *msg = mp_midge_data(a[1].u_obj, &len);
    mp_int_t qos = a[3].u_int;
    if (topic_len > self->bufs.size || memchr(topic, 0, topic_len) != NULL || qos < 0 || qos > 2)
        mp_raise_ValueError(MP_ERROR_TEXT("invalid topic or QoS"));
    /* The client wants a C string; the copy costs no allocation. */
    memcpy(self->topic, topic, topic_len);
    self->topic[topic_len] = '\0';

    mp_midge_begin(&self->m.link);
    /* From inside the callback a publish is only queued (client.h). */
    midge_status st = mqtt_send(self, msg, len, (uint8_t)qos, a[2].u_bool);
    if (st == MIDGE_AGAIN)
        mp_raise_OSError(MP_ENOBUFS);
    mp_midge_check(&self->m.link, st);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(mqtt_publish_obj, 3, mqtt_publish);

/* The bytes copy of `filter` the client may keep by pointer: the one it
 * already has for an equal filter, or a new one in a free slot. */
static mp_obj_t mqtt_stable_filter(mp_midge_mqtt_obj_t *self, mp_obj_t filter, int *slot)
{
    size_t len, have;
    const byte *data = mp_midge_data(filter, &len);
    int free_slot = -1;

    for (int i = 0; i < MIDGE_CLIENT_MAX_SUBS; i++) {
        if (self->subs[i] == MP_OBJ_NULL) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        const byte *kept = mp_midge_data(self->subs[i], &have);
        if (have == len && memcmp(kept, data, len) == 0) {
            *slot = i;
            return self->subs[i];
        }
    }
    if (free_slot < 0)
        mp_raise_OSError(MP_ENOBUFS);
    self->subs[free_slot] = mp_midge_cstr(filter, false);
    *slot = free_slot;
    return self->subs[free_slot];
}

static mp_obj_t mqtt_subscribe(size_t n_args, const mp_obj_t *pos, mp_map_t *kw)
{
    static const mp_arg_t allowed[] = {
        { MP_QSTR_topic, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
        { MP_QSTR_qos, MP_ARG_INT, { .u_int = 0 } },
    };
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(pos[0]);
    mp_arg_val_t a[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all(n_args - 1, pos + 1, kw, MP_ARRAY_SIZE(allowed), allowed, a);

    if (self->cb == mp_const_none)
        mp_raise_msg(&mp_type_AssertionError, MP_ERROR_TEXT("Subscribe callback is not set"));
    mp_int_t qos = a[1].u_int;
    if (qos < 0 || qos > 2)
        mp_raise_ValueError(MP_ERROR_TEXT("invalid QoS"));
    int slot;
    mp_obj_t filter = mqtt_stable_filter(self, a[0].u_obj, &slot);
    mp_midge_begin(&self->m.link);
    midge_status st = midge_client_subscribe(&self->m.client, mp_midge_cstr_ptr(filter),
                                             (uint8_t)qos);
    /* A filter the broker did not grant is not kept by the client. */
    if (st == MIDGE_ERR_SUBSCRIBE || st == MIDGE_ERR_INVALID || st == MIDGE_ERR_NO_SPACE)
        self->subs[slot] = MP_OBJ_NULL;
    mp_midge_check(&self->m.link, st);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(mqtt_subscribe_obj, 2, mqtt_subscribe);

static mp_obj_t mqtt_unsubscribe(mp_obj_t self_in, mp_obj_t topic)
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);
    int slot;
    mp_obj_t filter = mqtt_stable_filter(self, topic, &slot);

    mp_midge_begin(&self->m.link);
    midge_status st = midge_client_unsubscribe(&self->m.client, mp_midge_cstr_ptr(filter));
    /* The client forgets the filter whatever the broker says. */
    self->subs[slot] = MP_OBJ_NULL;
    mp_midge_check(&self->m.link, st);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mqtt_unsubscribe_obj, mqtt_unsubscribe);

/* wait_msg and check_msg return what umqtt.simple's return for a
 * message: the PUBLISH's first byte; None when none came. */
static mp_obj_t mqtt_receive(mp_obj_t self_in, midge_status (*call)(midge_client *c))
{
    mp_midge_mqtt_obj_t *self = MP_OBJ_TO_PTR(self_in);

    self->last_op = mp_const_none;
    mp_midge_begin(&self->m.link);
    mp_midge_check(&self->m.link, call(&self->m.client));
    return self->last_op;
}

static mp_obj_t mqtt_wait_msg(mp_obj_t self_in)
{
    return mqtt_receive(self_in, midge_client_wait_msg);
}
static MP_DEFINE_CONST_FUN_OBJ_1(mqtt_wait_msg_obj, mqtt_wait_msg);

static mp_obj_t mqtt_check_msg(mp_obj_t self_in)
{
    return mqtt_receive(self_in, midge_client_check_msg);
}
static MP_DEFINE_CONST_FUN_OBJ_1(mqtt_check_msg_obj, mqtt_check_msg);

static const mp_rom_map_elem_t mqtt_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_set_callback), MP_ROM_PTR(&mqtt_set_callback_obj) },
    { MP_ROM_QSTR(MP_QSTR_set_last_will), MP_ROM_PTR(&mqtt_set_last_will_obj) },
    { MP_ROM_QSTR(MP_QSTR_connect), MP_ROM_PTR(&mqtt_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_disconnect), MP_ROM_PTR(&mqtt_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_ping), MP_ROM_PTR(&mqtt_ping_obj) },
    { MP_ROM_QSTR(MP_QSTR_publish), MP_ROM_PTR(&mqtt_publish_obj) },
    { MP_ROM_QSTR(MP_QSTR_subscribe), MP_ROM_PTR(&mqtt_subscribe_obj) },
    { MP_ROM_QSTR(MP_QSTR_unsubscribe), MP_ROM_PTR(&mqtt_unsubscribe_obj) },
    { MP_ROM_QSTR(MP_QSTR_wait_msg), MP_ROM_PTR(&mqtt_wait_msg_obj) },
    { MP_ROM_QSTR(MP_QSTR_check_msg), MP_ROM_PTR(&mqtt_check_msg_obj) },
    { MP_ROM_QSTR(MP_QSTR_isconnected), MP_ROM_PTR(&mp_midge_isconnected_obj) },
};
static MP_DEFINE_CONST_DICT(mqtt_locals, mqtt_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(mp_type_midge_MQTTClient, MP_QSTR_MQTTClient, MP_TYPE_FLAG_NONE, make_new,
                         mqtt_make_new, locals_dict, &mqtt_locals);
