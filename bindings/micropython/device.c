/*
 * midge.Device: the LED device of `midge device`, for MicroPython.
 *
 * The device layer (include/midge/device.h) decides everything: identity,
 * topics, how a command becomes an LED level and an answer, which command
 * ids were seen already. This file only moves its decisions: CONNECT
 * options into the client, messages into midge_device_handle, the level
 * into the `led` callable (a machine.Pin's value method on a board), the
 * answers out through the client.
 *
 * Answers are queued from inside the message callback, so the command's
 * PUBACK, its answer and the state report leave in one write. When there
 * is no room to queue them, the client holds further QoS 1/2 messages
 * (unacknowledged, at the broker) and the answers go out, waiting for
 * room, once the call has returned.
 *
 * After every CONNACK the device announces itself (presence, state): the
 * first time after subscribing, later after the client has renewed the
 * subscriptions by itself (reconnect), in the call that reconnected.
 */
#include <string.h>

#include "midge/device.h"
#include "modmidge.h"

/* Bytes for the device's topics and payloads per call, and for the
 * CONNECT options (kept for every reconnect): 512 suits the default
 * topics with ids up to 64 bytes (device.h); long prefixes need more. */
#define DEVICE_OUT_SIZE 1024
#define DEVICE_CONN_SIZE 512

/* The poll slice of wait_msg: how soon an exception raised meanwhile is
 * looked at when nothing arrives. */
#define DEVICE_POLL_MS 200u
#define DEVICE_SHUTDOWN_FLUSH_MS 2000u

typedef struct mp_midge_device_obj {
    mp_midge_obj_t m;
    mp_obj_t led; /* callable or None */
    mp_obj_t log; /* callable or None */
    mp_obj_t strings[6]; /* bytes copies the configuration borrows */
    mp_obj_t topics[MIDGE_DEVICE_MAX_EXTRA_TOPICS];
    const char *topic_ptrs[MIDGE_DEVICE_MAX_EXTRA_TOPICS];
    mp_obj_t filters[MIDGE_DEVICE_MAX_SUBS]; /* stable copies the client keeps */
    size_t filter_count;
    uint32_t handled;   /* messages the device decided on in this call */
    size_t deferred;    /* out.msgs[deferred..] still to publish */
    bool has_deferred;
    bool announce;      /* a CONNACK came: presence and state are due */
    bool subscribed;    /* the client renews the subscriptions from here on */
    midge_device dev;
    midge_device_out conn; /* CONNECT options, kept for reconnects */
    midge_device_out out;  /* answers to messages */
    midge_device_out ann;  /* presence and state after a CONNACK */
    uint8_t *conn_buf;
    uint8_t *out_buf;
    uint8_t *ann_buf;
    mp_midge_buffers bufs;
} mp_midge_device_obj_t;

/* --- what the device decided ---------------------------------------------- */

static void device_log(mp_midge_device_obj_t *self, const midge_device_out *out)
{
    if (out->log_level == MIDGE_DEVICE_LOG_NONE || self->log == mp_const_none)
        return;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t line = mp_obj_new_str_from_cstr(out->log);
        mp_call_function_1(self->log, line);
        nlr_pop();
    } else if (self->m.link.pending == MP_OBJ_NULL) {
        self->m.link.pending = MP_OBJ_FROM_PTR(nlr.ret_val);
    }
}

static void device_drive(mp_midge_device_obj_t *self, bool on)
{
    if (self->led == mp_const_none)
        return;
    mp_obj_t level = MP_OBJ_NEW_SMALL_INT(on ? 1 : 0);
    mp_midge_call(&self->m.link, self->led, 1, &level);
}

/* From the callback: queue out.msgs from `from`; where there is no room,
 * hold further messages and leave the rest for after the call. */
static midge_status device_queue(mp_midge_device_obj_t *self, size_t from)
{
    for (size_t i = from; i < self->out.msg_count; i++) {
        const midge_publish *m = &self->out.msgs[i];
        midge_status st = midge_client_publish(&self->m.client, m->topic, m->payload,
                                               m->payload_len, m->qos, m->retain, NULL);
        if (st == MIDGE_AGAIN) {
            self->deferred = i;
            self->has_deferred = true;
            midge_client_hold(&self->m.client, true);
            return MIDGE_OK;
        }
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

static void device_on_message(void *user, const midge_publish *msg)
{
    mp_midge_device_obj_t *self = user;

    /* Answers of an earlier command still wait for room: a QoS 0
     * message arriving now (QoS 1/2 are held) is dropped, at most once
     * (MQTT 3.1.1 section 4.3.1). */
    if (self->has_deferred)
        return;
    midge_status st = midge_device_handle(&self->dev, msg, &self->out);
    self->handled++;
    if (st != MIDGE_OK) {
        device_log(self, &self->out);
        return;
    }
    (void)device_queue(self, 0);
    device_log(self, &self->out);
    if (self->out.led_changed)
        device_drive(self, self->out.led);
}

static void device_on_event(void *user, const midge_event *ev)
{
    mp_midge_device_obj_t *self = user;

    if (ev->type == MIDGE_EV_CONNACK && ev->status == MIDGE_OK)
        self->announce = true;
}

/* --- outside the callbacks --------------------------------------------------- */

static midge_status device_publish_all(mp_midge_device_obj_t *self, const midge_device_out *out,
                                       size_t from)
{
    for (size_t i = from; i < out->msg_count; i++) {
        const midge_publish *m = &out->msgs[i];
        midge_status st = midge_client_publish(&self->m.client, m->topic, m->payload,
                                               m->payload_len, m->qos, m->retain, NULL);
        if (st != MIDGE_OK)
            return st;
    }
    return MIDGE_OK;
}

static const char *device_stable_filter(mp_midge_device_obj_t *self, const char *filter)
{
    for (size_t i = 0; i < self->filter_count; i++) {
        if (strcmp(mp_midge_cstr_ptr(self->filters[i]), filter) == 0)
            return mp_midge_cstr_ptr(self->filters[i]);
    }
    if (self->filter_count == MIDGE_DEVICE_MAX_SUBS)
        return NULL;
    self->filters[self->filter_count] = mp_obj_new_bytes((const byte *)filter, strlen(filter));
    return mp_midge_cstr_ptr(self->filters[self->filter_count++]);
}

/* After a CONNACK: subscribe (the first time; the client renews them on
 * every reconnect), then presence and state. */
static midge_status device_announce(mp_midge_device_obj_t *self)
{
    midge_status st = midge_device_on_connack(&self->dev, &self->ann);

    self->announce = false;
    if (st != MIDGE_OK)
        return st;
    if (!self->subscribed && self->ann.sub_count > 0) {
        midge_subscription subs[MIDGE_DEVICE_MAX_SUBS];
        for (size_t i = 0; i < self->ann.sub_count; i++) {
            subs[i].filter = device_stable_filter(self, self->ann.subs[i].filter);
            subs[i].qos = self->ann.subs[i].qos;
            if (subs[i].filter == NULL)
                return MIDGE_ERR_NO_SPACE;
        }
        st = midge_client_subscribe_many(&self->m.client, subs, self->ann.sub_count, NULL);
        if (st != MIDGE_OK)
            return st;
        self->subscribed = true;
    }
    return device_publish_all(self, &self->ann, 0);
}

/* What a call leaves to do once the client has returned. */
static midge_status device_settle(mp_midge_device_obj_t *self, midge_status st)
{
    if (st != MIDGE_OK && st != MIDGE_TIMEOUT)
        return st;
    if (self->m.link.pending != MP_OBJ_NULL)
        return MIDGE_OK;
    if (self->has_deferred) {
        midge_status p = device_publish_all(self, &self->out, self->deferred);
        self->has_deferred = false;
        midge_client_hold(&self->m.client, false);
        if (p != MIDGE_OK)
            return p;
    }
    if (self->announce && midge_client_is_connected(&self->m.client))
        return device_announce(self);
    return st;
}

/* --- construction ----------------------------------------------------------- */

enum {
    ARG_device_id,
    ARG_server,
    ARG_port,
    ARG_profile,
    ARG_led,
    ARG_log,
    ARG_user,
    ARG_password,
    ARG_product_id,
    ARG_prefix,
    ARG_property,
    ARG_topics,
    ARG_keepalive,
    ARG_clean_session,
    ARG_subscribe_commands,
    ARG_ssl,
    ARG_ssl_params,
    ARG_reconnect,
    ARG_buffer_size,
    ARG_inflight_size,
    ARG_COUNT
};

static const mp_arg_t device_args[ARG_COUNT] = {
    { MP_QSTR_device_id, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
    { MP_QSTR_server, MP_ARG_REQUIRED | MP_ARG_OBJ, { .u_obj = MP_OBJ_NULL } },
    { MP_QSTR_port, MP_ARG_INT, { .u_int = 0 } },
    { MP_QSTR_profile, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_QSTR(MP_QSTR_mqtt) } },
    { MP_QSTR_led, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_log, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_user, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_password, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_product_id, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_prefix, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_property, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_topics, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_keepalive, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = 0 } },
    { MP_QSTR_clean_session, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = true } },
    { MP_QSTR_subscribe_commands, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = false } },
    { MP_QSTR_ssl, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_ssl_params, MP_ARG_KW_ONLY | MP_ARG_OBJ, { .u_rom_obj = MP_ROM_NONE } },
    { MP_QSTR_reconnect, MP_ARG_KW_ONLY | MP_ARG_BOOL, { .u_bool = true } },
    { MP_QSTR_buffer_size, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = MP_MIDGE_BUFFER_SIZE } },
    { MP_QSTR_inflight_size, MP_ARG_KW_ONLY | MP_ARG_INT, { .u_int = MP_MIDGE_INFLIGHT_SIZE } },
};

/* The strings of the configuration, copied and borrowed from the copies. */
static const char *device_keep(mp_midge_device_obj_t *self, size_t slot, mp_obj_t arg)
{
    self->strings[slot] = mp_midge_cstr(arg, true);
    return mp_midge_cstr_ptr(self->strings[slot]);
}

static void device_configure(mp_midge_device_obj_t *self, const mp_arg_val_t *a,
                             midge_device_config *cfg)
{
    midge_device_config_init(cfg);
    const char *profile = mp_obj_str_get_str(a[ARG_profile].u_obj);
    if (!midge_device_profile_parse(profile, &cfg->profile))
        mp_raise_ValueError(MP_ERROR_TEXT("profile must be mqtt, onenet or onenet-studio"));
    cfg->device_id = device_keep(self, 0, a[ARG_device_id].u_obj);
    cfg->username = device_keep(self, 1, a[ARG_user].u_obj);
    cfg->secret = device_keep(self, 2, a[ARG_password].u_obj);
    cfg->product_id = device_keep(self, 3, a[ARG_product_id].u_obj);
    cfg->prefix = device_keep(self, 4, a[ARG_prefix].u_obj);
    cfg->property = device_keep(self, 5, a[ARG_property].u_obj);

    mp_obj_t topics = a[ARG_topics].u_obj;
    if (topics != mp_const_none) {
        size_t n;
        mp_obj_t *items;
        mp_obj_get_array(topics, &n, &items);
        if (n > MIDGE_DEVICE_MAX_EXTRA_TOPICS)
            mp_raise_ValueError(MP_ERROR_TEXT("too many topics"));
        for (size_t i = 0; i < n; i++) {
            self->topics[i] = mp_midge_cstr(items[i], false);
            self->topic_ptrs[i] = mp_midge_cstr_ptr(self->topics[i]);
        }
        cfg->extra_topics = self->topic_ptrs;
        cfg->extra_topic_count = n;
    }
    mp_int_t keepalive = a[ARG_keepalive].u_int;
    if (keepalive < 0 || keepalive > 65535)
        mp_raise_ValueError(MP_ERROR_TEXT("keepalive must be 0..65535"));
    cfg->keepalive_s = (uint16_t)keepalive;
    cfg->clean_session = a[ARG_clean_session].u_bool;
    cfg->subscribe_commands = a[ARG_subscribe_commands].u_bool;
}

static mp_obj_t device_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
                                const mp_obj_t *all_args)
{
    mp_arg_val_t a[ARG_COUNT];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, ARG_COUNT, device_args, a);

    uint16_t port;
    mp_midge_device_obj_t *self = mp_midge_new(type, sizeof *self, a[ARG_server].u_obj,
                                               a[ARG_port].u_int, a[ARG_ssl].u_obj,
                                               a[ARG_ssl_params].u_obj, &port);
    self->led = a[ARG_led].u_obj;
    self->log = a[ARG_log].u_obj;

    midge_device_config cfg;
    device_configure(self, a, &cfg);
    const char *why = NULL;
    if (midge_device_init(&self->dev, &cfg, &why) != MIDGE_OK)
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%s"), why ? why : "invalid device");

    self->conn_buf = m_new(uint8_t, DEVICE_CONN_SIZE);
    self->out_buf = m_new(uint8_t, DEVICE_OUT_SIZE);
    self->ann_buf = m_new(uint8_t, DEVICE_OUT_SIZE);
    midge_device_out_init(&self->conn, self->conn_buf, DEVICE_CONN_SIZE);
    midge_device_out_init(&self->out, self->out_buf, DEVICE_OUT_SIZE);
    midge_device_out_init(&self->ann, self->ann_buf, DEVICE_OUT_SIZE);
    if (midge_device_connect(&self->dev, &self->conn) != MIDGE_OK)
        mp_raise_ValueError(MP_ERROR_TEXT("identity too long"));

    mp_midge_buffers_alloc(&self->bufs, a[ARG_buffer_size].u_int, a[ARG_inflight_size].u_int);
    midge_client_config ccfg;
    mp_midge_client_config(&self->m.link, &ccfg, port, 0, a[ARG_reconnect].u_bool);
    /* The device's CONNECT (identity, will, keepalive) replaces the default. */
    ccfg.connect = self->conn.connect;
    if (midge_client_init(&self->m.client, &ccfg, &self->bufs.session) != MIDGE_OK)
        mp_raise_ValueError(NULL);
    midge_client_set_callback(&self->m.client, device_on_message, self);
    midge_client_set_event_callback(&self->m.client, device_on_event, self);
    return MP_OBJ_FROM_PTR(self);
}

/* --- calls ------------------------------------------------------------------- */

static mp_obj_t device_connect(mp_obj_t self_in)
{
    mp_midge_device_obj_t *self = MP_OBJ_TO_PTR(self_in);
    bool present = false;

    mp_midge_begin(&self->m.link);
    midge_status st = midge_client_connect(&self->m.client, &present);
    if (st == MIDGE_OK)
        st = device_settle(self, st);
    mp_midge_check(&self->m.link, st);
    return MP_OBJ_NEW_SMALL_INT(present ? 1 : 0);
}
static MP_DEFINE_CONST_FUN_OBJ_1(device_connect_obj, device_connect);

static mp_obj_t device_check_msg(mp_obj_t self_in)
{
    mp_midge_device_obj_t *self = MP_OBJ_TO_PTR(self_in);

    self->handled = 0;
    mp_midge_begin(&self->m.link);
    midge_status st = midge_client_check_msg(&self->m.client);
    mp_midge_check(&self->m.link, device_settle(self, st));
    return mp_obj_new_bool(self->handled > 0);
}
static MP_DEFINE_CONST_FUN_OBJ_1(device_check_msg_obj, device_check_msg);

/* Until one message was decided on. */
static void device_wait(mp_midge_device_obj_t *self)
{
    self->handled = 0;
    mp_midge_begin(&self->m.link);
    while (self->handled == 0) {
        midge_status st = midge_client_poll(&self->m.client, DEVICE_POLL_MS);
        st = device_settle(self, st);
        if (st == MIDGE_TIMEOUT)
            st = MIDGE_OK;
        mp_midge_check(&self->m.link, st);
    }
}

static mp_obj_t device_wait_msg(mp_obj_t self_in)
{
    device_wait(MP_OBJ_TO_PTR(self_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(device_wait_msg_obj, device_wait_msg);

/* The tutorial's main loop: connect, then serve forever. */
static mp_obj_t device_run(mp_obj_t self_in)
{
    mp_midge_device_obj_t *self = MP_OBJ_TO_PTR(self_in);

    if (!midge_client_is_connected(&self->m.client))
        device_connect(self_in);
    for (;;)
        device_wait(self);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(device_run_obj, device_run);

/* Presence "offline" (mqtt profile), then a clean DISCONNECT. */
static mp_obj_t device_disconnect(mp_obj_t self_in)
{
    mp_midge_device_obj_t *self = MP_OBJ_TO_PTR(self_in);
    midge_client *c = &self->m.client;

    mp_midge_begin(&self->m.link);
    if (!midge_client_is_connected(c)) {
        (void)midge_client_abort(c);
        return mp_const_none;
    }
    midge_status st = midge_device_shutdown(&self->dev, &self->ann);
    if (st == MIDGE_OK)
        st = device_publish_all(self, &self->ann, 0);
    if (st == MIDGE_OK)
        st = midge_client_flush(c, DEVICE_SHUTDOWN_FLUSH_MS);
    if (st == MIDGE_OK) {
        (void)midge_client_disconnect(c);
    } else {
        /* Without the notice, the will (presence "offline") must say it. */
        (void)midge_client_abort(c);
    }
    mp_midge_check(&self->m.link, MIDGE_OK);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(device_disconnect_obj, device_disconnect);

/* led() -> 0 or 1; led(value): a local change (a button), reported. */
static mp_obj_t device_led(size_t n_args, const mp_obj_t *args)
{
    mp_midge_device_obj_t *self = MP_OBJ_TO_PTR(args[0]);

    if (n_args == 1)
        return MP_OBJ_NEW_SMALL_INT(midge_device_led(&self->dev) ? 1 : 0);
    bool on = mp_obj_is_true(args[1]);
    mp_midge_begin(&self->m.link);
    midge_status st = midge_device_set_led(&self->dev, on, &self->ann);
    if (st == MIDGE_OK && self->ann.led_changed) {
        device_drive(self, on);
        if (midge_client_is_connected(&self->m.client))
            st = device_publish_all(self, &self->ann, 0);
    }
    mp_midge_check(&self->m.link, st);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(device_led_obj, 1, 2, device_led);

/* (commands, duplicates, rejected, ignored) since construction. */
static mp_obj_t device_stats(mp_obj_t self_in)
{
    mp_midge_device_obj_t *self = MP_OBJ_TO_PTR(self_in);
    const midge_device_stats *s = midge_device_get_stats(&self->dev);
    mp_obj_t items[4] = {
        mp_obj_new_int_from_uint(s->commands),
        mp_obj_new_int_from_uint(s->duplicates),
        mp_obj_new_int_from_uint(s->rejected),
        mp_obj_new_int_from_uint(s->ignored),
    };
    return mp_obj_new_tuple(4, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(device_stats_obj, device_stats);

static const mp_rom_map_elem_t device_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_connect), MP_ROM_PTR(&device_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_check_msg), MP_ROM_PTR(&device_check_msg_obj) },
    { MP_ROM_QSTR(MP_QSTR_wait_msg), MP_ROM_PTR(&device_wait_msg_obj) },
    { MP_ROM_QSTR(MP_QSTR_run), MP_ROM_PTR(&device_run_obj) },
    { MP_ROM_QSTR(MP_QSTR_disconnect), MP_ROM_PTR(&device_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_led), MP_ROM_PTR(&device_led_obj) },
    { MP_ROM_QSTR(MP_QSTR_stats), MP_ROM_PTR(&device_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_isconnected), MP_ROM_PTR(&mp_midge_isconnected_obj) },
};
static MP_DEFINE_CONST_DICT(device_locals, device_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(mp_type_midge_Device, MP_QSTR_Device, MP_TYPE_FLAG_NONE, make_new,
                         device_make_new, locals_dict, &device_locals);
