/*
 * midge for MicroPython: the module, its exception and the helpers the
 * MQTTClient and Device types share.
 *
 *   import midge
 *   midge.MQTTClient   umqtt.simple's client, on midge's core (mqtt.c)
 *   midge.Device       the LED device of `midge device` (device.c)
 *   midge.MQTTException
 *
 * Errors are raised as umqtt.simple raises them: a refused CONNACK is
 * MQTTException(code) with the broker's return code (1..5), a refused
 * subscription MQTTException(0x80), a failure of the connection OSError
 * (OSError(-1) when the peer closed it, as umqtt says). What umqtt has no
 * word for (a malformed packet, a wrong acknowledgement) is
 * MQTTException(status, text) with midge's negative status.
 */
#include <string.h>

#include "py/objexcept.h"

#include "midge/status.h"
#include "modmidge.h"

MP_DEFINE_CONST_OBJ_TYPE(mp_type_midge_MQTTException, MP_QSTR_MQTTException, MP_TYPE_FLAG_NONE,
                         make_new, mp_obj_exception_make_new, print, mp_obj_exception_print, attr,
                         mp_obj_exception_attr, parent, &mp_type_Exception);

/* --- arguments -------------------------------------------------------------- */

const byte *mp_midge_data(mp_obj_t arg, size_t *len)
{
    if (mp_obj_is_str(arg))
        return (const byte *)mp_obj_str_get_data(arg, len);
    mp_buffer_info_t info;
    mp_get_buffer_raise(arg, &info, MP_BUFFER_READ);
    *len = info.len;
    return info.buf;
}

/* MicroPython ends every bytes object with a NUL it does not count, so
 * the copy's data is a C string for as long as the copy lives. */
mp_obj_t mp_midge_cstr(mp_obj_t arg, bool allow_none)
{
    size_t len;

    if (arg == mp_const_none && allow_none)
        return mp_const_none;
    const byte *data = mp_midge_data(arg, &len);
    if (memchr(data, 0, len) != NULL)
        mp_raise_ValueError(MP_ERROR_TEXT("NUL in an MQTT string"));
    return mp_obj_new_bytes(data, len);
}

const char *mp_midge_cstr_ptr(mp_obj_t copy)
{
    if (copy == mp_const_none)
        return NULL;
    size_t len;
    return (const char *)mp_midge_data(copy, &len);
}

void mp_midge_buffers_alloc(mp_midge_buffers *b, mp_int_t buffer_size, mp_int_t inflight_size)
{
    if (buffer_size < 64 || inflight_size < 0)
        mp_raise_ValueError(MP_ERROR_TEXT("buffer_size must be at least 64"));
    size_t size = (size_t)buffer_size;
    size_t store = (size_t)inflight_size;
    /* One block: tx, rx, the store, then the QoS 2 ids (aligned: the
     * sizes before them are rounded up to a multiple of 8). */
    size_t head = (2 * size + store + 7u) & ~(size_t)7u;
    uint8_t *mem = m_new(uint8_t, head + MP_MIDGE_QOS2_IDS * sizeof(uint16_t));

    memset(&b->session, 0, sizeof b->session);
    b->size = size;
    b->session.tx = mem;
    b->session.tx_size = size;
    b->session.rx = mem + size;
    b->session.rx_size = size;
    b->session.store = store ? mem + 2 * size : NULL;
    b->session.store_size = store;
    b->session.rx_qos2_ids = (uint16_t *)(void *)(mem + head);
    b->session.rx_qos2_cap = MP_MIDGE_QOS2_IDS;
}

/* --- errors ----------------------------------------------------------------- */

static MP_NORETURN void midge_raise_mqtt(mp_int_t code, midge_status st)
{
    mp_obj_t args[2] = { MP_OBJ_NEW_SMALL_INT(code), mp_obj_new_str_from_cstr(midge_strerror(st)) };
    /* umqtt.simple's MQTTException carries the code alone. */
    size_t n = code > 0 ? 1 : 2;
    nlr_raise(mp_obj_new_exception_args(&mp_type_midge_MQTTException, n, args));
}

static MP_NORETURN void midge_raise_os(mp_midge_link *l, int fallback)
{
    if (l->error != MP_OBJ_NULL)
        nlr_raise(l->error);
    mp_raise_OSError(l->oserr != 0 ? l->oserr : fallback);
}

void mp_midge_check(mp_midge_link *l, midge_status st)
{
    if (l->pending != MP_OBJ_NULL) {
        mp_obj_t exc = l->pending;
        l->pending = MP_OBJ_NULL;
        nlr_raise(exc);
    }
    if (st == MIDGE_OK)
        return;
    if (midge_status_is_refusal(st))
        midge_raise_mqtt(-(mp_int_t)st, st);
    switch (st) {
    case MIDGE_ERR_SUBSCRIBE:
        midge_raise_mqtt(0x80, st);
    case MIDGE_ERR_CONNECT:
    case MIDGE_ERR_RESOLVE:
        midge_raise_os(l, MP_ECONNREFUSED);
    case MIDGE_ERR_CLOSED:
        /* umqtt.simple's word for a connection the peer closed. */
        midge_raise_os(l, -1);
    case MIDGE_ERR_IO:
        midge_raise_os(l, MP_EIO);
    case MIDGE_ERR_NOT_CONNECTED:
        mp_raise_OSError(MP_ENOTCONN);
    case MIDGE_TIMEOUT:
    case MIDGE_ERR_KEEPALIVE:
    case MIDGE_ERR_CONNACK_TIMEOUT:
        mp_raise_OSError(MP_ETIMEDOUT);
    case MIDGE_ERR_INVALID:
        mp_raise_ValueError(MP_ERROR_TEXT("invalid topic, QoS or message"));
    default:
        midge_raise_mqtt(st, st);
    }
}

static mp_obj_t midge_isconnected(mp_obj_t self_in)
{
    mp_midge_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return mp_obj_new_bool(midge_client_is_connected(&self->client));
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_midge_isconnected_obj, midge_isconnected);

/* --- the module ------------------------------------------------------------- */

static const mp_rom_map_elem_t midge_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_midge) },
    { MP_ROM_QSTR(MP_QSTR_MQTTClient), MP_ROM_PTR(&mp_type_midge_MQTTClient) },
    { MP_ROM_QSTR(MP_QSTR_Device), MP_ROM_PTR(&mp_type_midge_Device) },
    { MP_ROM_QSTR(MP_QSTR_MQTTException), MP_ROM_PTR(&mp_type_midge_MQTTException) },
};
static MP_DEFINE_CONST_DICT(midge_module_globals, midge_module_globals_table);

const mp_obj_module_t midge_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&midge_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_midge, midge_user_cmodule);
