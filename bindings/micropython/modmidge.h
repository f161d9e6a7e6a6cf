/*
 * midge for MicroPython: what the module's files share.
 *
 * The client runs unchanged (src/mqtt/); this binding supplies what a
 * platform supplies (include/midge/platform.h): a transport opener over a
 * MicroPython stream, the interpreter's millisecond clock and an idle hook
 * that lets the interpreter run its pending events.
 *
 * Python may raise anywhere a Python object is called (a stream written in
 * Python, a callback, Ctrl-C in a wait). Such an exception never unwinds
 * through the client: every call into Python from inside a client call is
 * made under nlr_push, and what it raised is kept in the link until the
 * client call has returned, then raised from there. An OSError from the
 * stream is a failure of the connection (the client closes it, or rides
 * it out with reconnect on); anything else (KeyboardInterrupt, an error in
 * a callback) interrupts the call and is raised as it is.
 */
#ifndef MIDGE_MP_MODMIDGE_H
#define MIDGE_MP_MODMIDGE_H

#include "py/obj.h"
#include "py/runtime.h"
#include "py/stream.h"

#include "midge/client.h"

/* In-flight incoming QoS 2 ids each connection tracks (2 bytes each). */
#define MP_MIDGE_QOS2_IDS 16

/* Default sizes of the fixed buffers: rx and tx each, and the QoS 1/2 store. */
#define MP_MIDGE_BUFFER_SIZE 1024
#define MP_MIDGE_INFLIGHT_SIZE 2048

/* One connection's link to the interpreter. Lives inside the Python object
 * that owns the client, so the garbage collector sees every object in it. */
typedef struct mp_midge_link {
    mp_obj_t server;     /* str, as given */
    mp_obj_t ssl;        /* None, True, or an object with wrap_socket() */
    mp_obj_t ssl_params; /* dict, for ssl=True */
    mp_obj_t stream;     /* the open stream, MP_OBJ_NULL while closed */
    mp_obj_t poller;     /* a select.poll() holding `stream` */
    const mp_stream_p_t *proto;
    mp_obj_t pending; /* raise once the client call returns (not an OSError) */
    mp_obj_t error;   /* the OSError that ended the last open, MP_OBJ_NULL = none */
    int oserr;        /* errno of the last stream failure, 0 = none */
    bool nonblocking; /* setblocking(False) was accepted */
    uint8_t poll_events;
    midge_platform platform; /* ctx = this link */
} mp_midge_link;

/* What MQTTClient and Device objects start with. */
typedef struct mp_midge_obj {
    mp_obj_base_t base;
    mp_midge_link link;
    midge_client client;
} mp_midge_obj_t;

/* isconnected(), for either type. */
MP_DECLARE_CONST_FUN_OBJ_1(mp_midge_isconnected_obj);

/* The buffers of one client, allocated once at construction. */
typedef struct mp_midge_buffers {
    midge_session_buffers session;
    size_t size; /* tx and rx each */
} mp_midge_buffers;

extern const mp_obj_type_t mp_type_midge_MQTTException;
extern const mp_obj_type_t mp_type_midge_MQTTClient;
extern const mp_obj_type_t mp_type_midge_Device;

/* A new MQTTClient or Device of `size` bytes, zeroed, its link set up:
 * port 0 is 8883 with ssl and 1883 without, as in umqtt.simple (*port
 * gets the port to use); ssl_params None is {}. */
void *mp_midge_new(const mp_obj_type_t *type, size_t size, mp_obj_t server, mp_int_t port,
                   mp_obj_t ssl, mp_obj_t ssl_params, uint16_t *port_out);

/* The client configuration every object starts from: the link's opener and
 * platform, keepalive, reconnect. */
void mp_midge_client_config(mp_midge_link *l, midge_client_config *cfg, uint16_t port,
                            uint16_t keepalive, bool reconnect);

/* Allocate tx, rx (buffer_size each), the store and the QoS 2 table. */
void mp_midge_buffers_alloc(mp_midge_buffers *b, mp_int_t buffer_size, mp_int_t inflight_size);

/* Before a client call: forget what the previous one left. */
void mp_midge_begin(mp_midge_link *l);

/* After a client call: raise what Python raised meanwhile, else the error
 * for `st` (nothing for MIDGE_OK). */
void mp_midge_check(mp_midge_link *l, midge_status st);

/* Call fn(args...) from inside a client call; an exception is kept as
 * pending. Returns the result, or MP_OBJ_NULL after an exception. */
mp_obj_t mp_midge_call(mp_midge_link *l, mp_obj_t fn, size_t n_args, const mp_obj_t *args);

/* Whether an exception waits to be raised (the client's `interrupted`). */
bool mp_midge_interrupted(void *link);

/* A bytes copy of a str or bytes-like argument, NUL-terminated and
 * without NUL inside (MQTT strings), or None for None when allow_none. */
mp_obj_t mp_midge_cstr(mp_obj_t arg, bool allow_none);
const char *mp_midge_cstr_ptr(mp_obj_t copy);

/* The data of a str or bytes-like object. */
const byte *mp_midge_data(mp_obj_t arg, size_t *len);

/* Time in the interpreter's own clock (ticks_ms). */
uint32_t mp_midge_ticks(void);

#endif /* MIDGE_MP_MODMIDGE_H */
